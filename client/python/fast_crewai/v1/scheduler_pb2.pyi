from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AcquireRateLimitRequest(_message.Message):
    __slots__ = ["name", "per_minute"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    name: str
    per_minute: int
    def __init__(self, name: _Optional[str] = ..., per_minute: _Optional[int] = ...) -> None: ...

class AcquireRateLimitResponse(_message.Message):
    __slots__ = ["wait_millis"]
    WAIT_MILLIS_FIELD_NUMBER: _ClassVar[int]
    wait_millis: int
    def __init__(self, wait_millis: _Optional[int] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ["nodes"]
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[TaskNode]
    def __init__(self, nodes: _Optional[_Iterable[_Union[TaskNode, _Mapping]]] = ...) -> None: ...

class CreateRunResponse(_message.Message):
    __slots__ = ["run_id"]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class TaskNode(_message.Message):
    __slots__ = ["depends_on", "node_id", "payload"]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    node_id: str
    payload: bytes
    def __init__(self, node_id: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ..., payload: _Optional[bytes] = ...) -> None: ...
