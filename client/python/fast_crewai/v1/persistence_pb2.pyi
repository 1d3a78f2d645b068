from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AcquireLock(_message.Message):
    __slots__ = ["holder", "lease_ms", "name", "wait_timeout_ms"]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WAIT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    holder: str
    lease_ms: int
    name: str
    wait_timeout_ms: int
    def __init__(self, name: _Optional[str] = ..., wait_timeout_ms: _Optional[int] = ..., lease_ms: _Optional[int] = ..., holder: _Optional[str] = ...) -> None: ...

class AddTaskOutputRequest(_message.Message):
    __slots__ = ["kickoff_id", "namespace", "row"]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    kickoff_id: str
    namespace: str
    row: TaskOutputRow
    def __init__(self, kickoff_id: _Optional[str] = ..., row: _Optional[_Union[TaskOutputRow, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class AddTaskOutputResponse(_message.Message):
    __slots__ = ["row"]
    ROW_FIELD_NUMBER: _ClassVar[int]
    row: TaskOutputRow
    def __init__(self, row: _Optional[_Union[TaskOutputRow, _Mapping]] = ...) -> None: ...

class AddTaskOutputsRequest(_message.Message):
    __slots__ = ["kickoff_id", "namespace", "rows"]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    kickoff_id: str
    namespace: str
    rows: _containers.RepeatedCompositeFieldContainer[TaskOutputRow]
    def __init__(self, kickoff_id: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[TaskOutputRow, _Mapping]]] = ..., namespace: _Optional[str] = ...) -> None: ...

class AddTaskOutputsResponse(_message.Message):
    __slots__ = ["rows"]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[TaskOutputRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[TaskOutputRow, _Mapping]]] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ["dest_path", "overwrite"]
    DEST_PATH_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    dest_path: str
    overwrite: bool
    def __init__(self, dest_path: _Optional[str] = ..., overwrite: bool = ...) -> None: ...

class BackupResponse(_message.Message):
    __slots__ = ["bytes", "pages", "source_path"]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PATH_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    pages: int
    source_path: str
    def __init__(self, pages: _Optional[int] = ..., bytes: _Optional[int] = ..., source_path: _Optional[str] = ...) -> None: ...

class ClearPendingFeedbackRequest(_message.Message):
    __slots__ = ["flow_uuid"]
    FLOW_UUID_FIELD_NUMBER: _ClassVar[int]
    flow_uuid: str
    def __init__(self, flow_uuid: _Optional[str] = ...) -> None: ...

class ClearPendingFeedbackResponse(_message.Message):
    __slots__ = ["cleared"]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    cleared: bool
    def __init__(self, cleared: bool = ...) -> None: ...

class DeleteTaskOutputsRequest(_message.Message):
    __slots__ = ["kickoff_id", "namespace"]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    kickoff_id: str
    namespace: str
    def __init__(self, namespace: _Optional[str] = ..., kickoff_id: _Optional[str] = ...) -> None: ...

class DeleteTaskOutputsResponse(_message.Message):
    __slots__ = ["deleted_rows"]
    DELETED_ROWS_FIELD_NUMBER: _ClassVar[int]
    deleted_rows: int
    def __init__(self, deleted_rows: _Optional[int] = ...) -> None: ...

class FindKickoffForTaskRequest(_message.Message):
    __slots__ = ["task_id"]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class FindKickoffForTaskResponse(_message.Message):
    __slots__ = ["found", "kickoff_id", "namespace"]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    kickoff_id: str
    namespace: str
    def __init__(self, found: bool = ..., kickoff_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class KickoffSummary(_message.Message):
    __slots__ = ["created_at_micros", "kickoff_id", "last_task_id", "last_task_index", "namespace", "task_count"]
    CREATED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_TASK_INDEX_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TASK_COUNT_FIELD_NUMBER: _ClassVar[int]
    created_at_micros: int
    kickoff_id: str
    last_task_id: str
    last_task_index: int
    namespace: str
    task_count: int
    def __init__(self, kickoff_id: _Optional[str] = ..., namespace: _Optional[str] = ..., created_at_micros: _Optional[int] = ..., task_count: _Optional[int] = ..., last_task_index: _Optional[int] = ..., last_task_id: _Optional[str] = ...) -> None: ...

class ListKickoffsRequest(_message.Message):
    __slots__ = ["all_namespaces", "limit", "namespace"]
    ALL_NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    all_namespaces: bool
    limit: int
    namespace: str
    def __init__(self, namespace: _Optional[str] = ..., all_namespaces: bool = ..., limit: _Optional[int] = ...) -> None: ...

class ListKickoffsResponse(_message.Message):
    __slots__ = ["kickoffs"]
    KICKOFFS_FIELD_NUMBER: _ClassVar[int]
    kickoffs: _containers.RepeatedCompositeFieldContainer[KickoffSummary]
    def __init__(self, kickoffs: _Optional[_Iterable[_Union[KickoffSummary, _Mapping]]] = ...) -> None: ...

class LoadFlowStateRequest(_message.Message):
    __slots__ = ["flow_uuid"]
    FLOW_UUID_FIELD_NUMBER: _ClassVar[int]
    flow_uuid: str
    def __init__(self, flow_uuid: _Optional[str] = ...) -> None: ...

class LoadFlowStateResponse(_message.Message):
    __slots__ = ["found", "method_name", "state_json", "timestamp"]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    found: bool
    method_name: str
    state_json: str
    timestamp: str
    def __init__(self, found: bool = ..., state_json: _Optional[str] = ..., method_name: _Optional[str] = ..., timestamp: _Optional[str] = ...) -> None: ...

class LoadLongTermMemoryRequest(_message.Message):
    __slots__ = ["latest_n", "namespace", "task_description"]
    LATEST_N_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TASK_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    latest_n: int
    namespace: str
    task_description: str
    def __init__(self, namespace: _Optional[str] = ..., task_description: _Optional[str] = ..., latest_n: _Optional[int] = ...) -> None: ...

class LoadLongTermMemoryResponse(_message.Message):
    __slots__ = ["entries"]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LongTermMemoryEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LongTermMemoryEntry, _Mapping]]] = ...) -> None: ...

class LoadPendingFeedbackRequest(_message.Message):
    __slots__ = ["flow_uuid"]
    FLOW_UUID_FIELD_NUMBER: _ClassVar[int]
    flow_uuid: str
    def __init__(self, flow_uuid: _Optional[str] = ...) -> None: ...

class LoadPendingFeedbackResponse(_message.Message):
    __slots__ = ["context_json", "created_at", "found", "state_json"]
    CONTEXT_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    context_json: str
    created_at: str
    found: bool
    state_json: str
    def __init__(self, found: bool = ..., context_json: _Optional[str] = ..., state_json: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class LoadTaskOutputsRequest(_message.Message):
    __slots__ = ["kickoff_id", "namespace", "task_id"]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    kickoff_id: str
    namespace: str
    task_id: str
    def __init__(self, kickoff_id: _Optional[str] = ..., task_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class LoadTaskOutputsResponse(_message.Message):
    __slots__ = ["found", "kickoff_id", "namespace", "rows"]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    found: bool
    kickoff_id: str
    namespace: str
    rows: _containers.RepeatedCompositeFieldContainer[TaskOutputRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[TaskOutputRow, _Mapping]]] = ..., found: bool = ..., kickoff_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class LockAcquired(_message.Message):
    __slots__ = ["lease_ms", "waited_ms"]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    WAITED_MS_FIELD_NUMBER: _ClassVar[int]
    lease_ms: int
    waited_ms: int
    def __init__(self, lease_ms: _Optional[int] = ..., waited_ms: _Optional[int] = ...) -> None: ...

class LockHeartbeat(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class LockReleased(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class LockRequest(_message.Message):
    __slots__ = ["acquire", "heartbeat", "release"]
    ACQUIRE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    acquire: AcquireLock
    heartbeat: LockHeartbeat
    release: ReleaseLock
    def __init__(self, acquire: _Optional[_Union[AcquireLock, _Mapping]] = ..., heartbeat: _Optional[_Union[LockHeartbeat, _Mapping]] = ..., release: _Optional[_Union[ReleaseLock, _Mapping]] = ...) -> None: ...

class LockResponse(_message.Message):
    __slots__ = ["acquired", "released", "timed_out"]
    ACQUIRED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    acquired: LockAcquired
    released: LockReleased
    timed_out: LockTimedOut
    def __init__(self, acquired: _Optional[_Union[LockAcquired, _Mapping]] = ..., timed_out: _Optional[_Union[LockTimedOut, _Mapping]] = ..., released: _Optional[_Union[LockReleased, _Mapping]] = ...) -> None: ...

class LockTimedOut(_message.Message):
    __slots__ = ["holder", "waited_ms"]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    WAITED_MS_FIELD_NUMBER: _ClassVar[int]
    holder: str
    waited_ms: int
    def __init__(self, holder: _Optional[str] = ..., waited_ms: _Optional[int] = ...) -> None: ...

class LongTermMemoryEntry(_message.Message):
    __slots__ = ["datetime", "metadata_json", "score"]
    DATETIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    datetime: str
    metadata_json: str
    score: float
    def __init__(self, metadata_json: _Optional[str] = ..., datetime: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class ReleaseLock(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ResetLongTermMemoryRequest(_message.Message):
    __slots__ = ["namespace"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class ResetLongTermMemoryResponse(_message.Message):
    __slots__ = ["deleted"]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class SaveFlowStateRequest(_message.Message):
    __slots__ = ["flow_uuid", "method_name", "state_json", "timestamp"]
    FLOW_UUID_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    flow_uuid: str
    method_name: str
    state_json: str
    timestamp: str
    def __init__(self, flow_uuid: _Optional[str] = ..., method_name: _Optional[str] = ..., state_json: _Optional[str] = ..., timestamp: _Optional[str] = ...) -> None: ...

class SaveFlowStateResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class SaveLongTermMemoryRequest(_message.Message):
    __slots__ = ["datetime", "metadata_json", "namespace", "score", "task_description"]
    DATETIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TASK_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    datetime: str
    metadata_json: str
    namespace: str
    score: float
    task_description: str
    def __init__(self, namespace: _Optional[str] = ..., task_description: _Optional[str] = ..., metadata_json: _Optional[str] = ..., datetime: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class SaveLongTermMemoryResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class SavePendingFeedbackRequest(_message.Message):
    __slots__ = ["context_json", "created_at", "flow_uuid", "method_name", "state_json"]
    CONTEXT_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FLOW_UUID_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    context_json: str
    created_at: str
    flow_uuid: str
    method_name: str
    state_json: str
    def __init__(self, flow_uuid: _Optional[str] = ..., method_name: _Optional[str] = ..., context_json: _Optional[str] = ..., state_json: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class SavePendingFeedbackResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class TaskOutputRow(_message.Message):
    __slots__ = ["expected_output", "inputs_json", "output_json", "task_id", "task_index", "task_key", "timestamp", "was_replayed"]
    EXPECTED_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_INDEX_FIELD_NUMBER: _ClassVar[int]
    TASK_KEY_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    WAS_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    expected_output: str
    inputs_json: str
    output_json: str
    task_id: str
    task_index: int
    task_key: str
    timestamp: str
    was_replayed: bool
    def __init__(self, task_id: _Optional[str] = ..., expected_output: _Optional[str] = ..., output_json: _Optional[str] = ..., task_index: _Optional[int] = ..., inputs_json: _Optional[str] = ..., was_replayed: bool = ..., timestamp: _Optional[str] = ..., task_key: _Optional[str] = ...) -> None: ...

class UpdateTaskOutputRequest(_message.Message):
    __slots__ = ["expected_output", "inputs_json", "kickoff_id", "output_json", "task_id", "task_index", "task_key", "was_replayed"]
    EXPECTED_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_INDEX_FIELD_NUMBER: _ClassVar[int]
    TASK_KEY_FIELD_NUMBER: _ClassVar[int]
    WAS_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    expected_output: str
    inputs_json: str
    kickoff_id: str
    output_json: str
    task_id: str
    task_index: int
    task_key: str
    was_replayed: bool
    def __init__(self, kickoff_id: _Optional[str] = ..., task_index: _Optional[int] = ..., task_id: _Optional[str] = ..., task_key: _Optional[str] = ..., expected_output: _Optional[str] = ..., output_json: _Optional[str] = ..., inputs_json: _Optional[str] = ..., was_replayed: bool = ...) -> None: ...

class UpdateTaskOutputResponse(_message.Message):
    __slots__ = ["rows"]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[TaskOutputRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[TaskOutputRow, _Mapping]]] = ...) -> None: ...
