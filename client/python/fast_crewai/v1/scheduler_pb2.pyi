from fast_crewai.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
NODE_STATE_BLOCKED: NodeState
NODE_STATE_CANCELLED: NodeState
NODE_STATE_FAILED: NodeState
NODE_STATE_LEASED: NodeState
NODE_STATE_READY: NodeState
NODE_STATE_SUCCEEDED: NodeState
NODE_STATE_UNSPECIFIED: NodeState
RUN_STATE_CANCELLED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_SUCCEEDED: RunState
RUN_STATE_UNSPECIFIED: RunState

class AcquireRateLimitRequest(_message.Message):
    __slots__ = ["name", "per_minute", "permits"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERMITS_FIELD_NUMBER: _ClassVar[int]
    PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    name: str
    per_minute: int
    permits: int
    def __init__(self, name: _Optional[str] = ..., per_minute: _Optional[int] = ..., permits: _Optional[int] = ...) -> None: ...

class AcquireRateLimitResponse(_message.Message):
    __slots__ = ["wait_millis"]
    WAIT_MILLIS_FIELD_NUMBER: _ClassVar[int]
    wait_millis: int
    def __init__(self, wait_millis: _Optional[int] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ["reason", "run_id"]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    reason: str
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ["run"]
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class CompleteNodeRequest(_message.Message):
    __slots__ = ["lease_id", "output"]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    output: bytes
    def __init__(self, lease_id: _Optional[str] = ..., output: _Optional[bytes] = ...) -> None: ...

class CompleteNodeResponse(_message.Message):
    __slots__ = ["run"]
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ["labels", "lease_millis", "max_attempts", "name", "nodes", "queue"]
    class LabelsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LEASE_MILLIS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    lease_millis: int
    max_attempts: int
    name: str
    nodes: _containers.RepeatedCompositeFieldContainer[TaskNode]
    queue: str
    def __init__(self, nodes: _Optional[_Iterable[_Union[TaskNode, _Mapping]]] = ..., queue: _Optional[str] = ..., name: _Optional[str] = ..., lease_millis: _Optional[int] = ..., max_attempts: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreateRunResponse(_message.Message):
    __slots__ = ["run", "run_id"]
    RUN_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run: Run
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class FailNodeRequest(_message.Message):
    __slots__ = ["error", "lease_id", "retryable"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    error: str
    lease_id: str
    retryable: bool
    def __init__(self, lease_id: _Optional[str] = ..., error: _Optional[str] = ..., retryable: bool = ...) -> None: ...

class FailNodeResponse(_message.Message):
    __slots__ = ["run", "will_retry"]
    RUN_FIELD_NUMBER: _ClassVar[int]
    WILL_RETRY_FIELD_NUMBER: _ClassVar[int]
    run: Run
    will_retry: bool
    def __init__(self, will_retry: bool = ..., run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ["run_id"]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ["run"]
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class Lease(_message.Message):
    __slots__ = ["attempt", "dependency_outputs", "lease_id", "lease_millis", "node_id", "payload", "run_id"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCY_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_MILLIS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    dependency_outputs: _containers.RepeatedCompositeFieldContainer[NodeOutput]
    lease_id: str
    lease_millis: int
    node_id: str
    payload: bytes
    run_id: str
    def __init__(self, lease_id: _Optional[str] = ..., run_id: _Optional[str] = ..., node_id: _Optional[str] = ..., payload: _Optional[bytes] = ..., attempt: _Optional[int] = ..., lease_millis: _Optional[int] = ..., dependency_outputs: _Optional[_Iterable[_Union[NodeOutput, _Mapping]]] = ...) -> None: ...

class LeaseNodesRequest(_message.Message):
    __slots__ = ["max_nodes", "queue", "wait_millis", "worker_id"]
    MAX_NODES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WAIT_MILLIS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    max_nodes: int
    queue: str
    wait_millis: int
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ..., queue: _Optional[str] = ..., max_nodes: _Optional[int] = ..., wait_millis: _Optional[int] = ...) -> None: ...

class LeaseNodesResponse(_message.Message):
    __slots__ = ["leases"]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    def __init__(self, leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ["include_output", "include_payload", "page", "run_id", "states"]
    INCLUDE_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    include_output: bool
    include_payload: bool
    page: _common_pb2.PageRequest
    run_id: str
    states: _containers.RepeatedScalarFieldContainer[NodeState]
    def __init__(self, run_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., states: _Optional[_Iterable[_Union[NodeState, str]]] = ..., include_payload: bool = ..., include_output: bool = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ["nodes", "page"]
    NODES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    page: _common_pb2.PageInfo
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ["page", "states"]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    states: _containers.RepeatedScalarFieldContainer[RunState]
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., states: _Optional[_Iterable[_Union[RunState, str]]] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ["page", "runs"]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageInfo
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ["attempts", "depends_on", "error", "finished_at_micros", "max_attempts", "node_id", "output", "payload", "run_id", "started_at_micros", "state", "worker_id"]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    attempts: int
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    error: str
    finished_at_micros: int
    max_attempts: int
    node_id: str
    output: bytes
    payload: bytes
    run_id: str
    started_at_micros: int
    state: NodeState
    worker_id: str
    def __init__(self, run_id: _Optional[str] = ..., node_id: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[NodeState, str]] = ..., attempts: _Optional[int] = ..., max_attempts: _Optional[int] = ..., worker_id: _Optional[str] = ..., payload: _Optional[bytes] = ..., output: _Optional[bytes] = ..., error: _Optional[str] = ..., started_at_micros: _Optional[int] = ..., finished_at_micros: _Optional[int] = ...) -> None: ...

class NodeCounts(_message.Message):
    __slots__ = ["blocked", "cancelled", "failed", "leased", "ready", "succeeded", "total"]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    LEASED_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    blocked: int
    cancelled: int
    failed: int
    leased: int
    ready: int
    succeeded: int
    total: int
    def __init__(self, total: _Optional[int] = ..., blocked: _Optional[int] = ..., ready: _Optional[int] = ..., leased: _Optional[int] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., cancelled: _Optional[int] = ...) -> None: ...

class NodeOutput(_message.Message):
    __slots__ = ["node_id", "output"]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    output: bytes
    def __init__(self, node_id: _Optional[str] = ..., output: _Optional[bytes] = ...) -> None: ...

class RenewLeasesRequest(_message.Message):
    __slots__ = ["lease_ids", "worker_id"]
    LEASE_IDS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    lease_ids: _containers.RepeatedScalarFieldContainer[str]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ..., lease_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RenewLeasesResponse(_message.Message):
    __slots__ = ["lost_lease_ids"]
    LOST_LEASE_IDS_FIELD_NUMBER: _ClassVar[int]
    lost_lease_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, lost_lease_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ["counts", "created_at_micros", "finished_at_micros", "labels", "lease_millis", "max_attempts", "name", "queue", "run_id", "state"]
    class LabelsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LEASE_MILLIS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    counts: NodeCounts
    created_at_micros: int
    finished_at_micros: int
    labels: _containers.ScalarMap[str, str]
    lease_millis: int
    max_attempts: int
    name: str
    queue: str
    run_id: str
    state: RunState
    def __init__(self, run_id: _Optional[str] = ..., name: _Optional[str] = ..., queue: _Optional[str] = ..., state: _Optional[_Union[RunState, str]] = ..., counts: _Optional[_Union[NodeCounts, _Mapping]] = ..., created_at_micros: _Optional[int] = ..., finished_at_micros: _Optional[int] = ..., lease_millis: _Optional[int] = ..., max_attempts: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class StreamLeasesRequest(_message.Message):
    __slots__ = ["credits", "queue", "worker_id"]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    credits: int
    queue: str
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ..., queue: _Optional[str] = ..., credits: _Optional[int] = ...) -> None: ...

class StreamLeasesResponse(_message.Message):
    __slots__ = ["leases"]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    def __init__(self, leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ...) -> None: ...

class TaskNode(_message.Message):
    __slots__ = ["depends_on", "max_attempts", "node_id", "payload"]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    max_attempts: int
    node_id: str
    payload: bytes
    def __init__(self, node_id: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ..., payload: _Optional[bytes] = ..., max_attempts: _Optional[int] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ["include_output", "run_id"]
    INCLUDE_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    include_output: bool
    run_id: str
    def __init__(self, run_id: _Optional[str] = ..., include_output: bool = ...) -> None: ...

class WatchRunResponse(_message.Message):
    __slots__ = ["nodes", "run"]
    NODES_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class NodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
