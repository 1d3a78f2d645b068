from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddTaskOutputRequest(_message.Message):
    __slots__ = ["kickoff_id", "row"]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    kickoff_id: str
    row: TaskOutputRow
    def __init__(self, kickoff_id: _Optional[str] = ..., row: _Optional[_Union[TaskOutputRow, _Mapping]] = ...) -> None: ...

class AddTaskOutputResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class LoadFlowStateRequest(_message.Message):
    __slots__ = ["flow_uuid"]
    FLOW_UUID_FIELD_NUMBER: _ClassVar[int]
    flow_uuid: str
    def __init__(self, flow_uuid: _Optional[str] = ...) -> None: ...

class LoadFlowStateResponse(_message.Message):
    __slots__ = ["found", "state_json"]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    found: bool
    state_json: str
    def __init__(self, found: bool = ..., state_json: _Optional[str] = ...) -> None: ...

class LoadTaskOutputsRequest(_message.Message):
    __slots__ = ["kickoff_id"]
    KICKOFF_ID_FIELD_NUMBER: _ClassVar[int]
    kickoff_id: str
    def __init__(self, kickoff_id: _Optional[str] = ...) -> None: ...

class LoadTaskOutputsResponse(_message.Message):
    __slots__ = ["rows"]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[TaskOutputRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[TaskOutputRow, _Mapping]]] = ...) -> None: ...

class SaveFlowStateRequest(_message.Message):
    __slots__ = ["flow_uuid", "method_name", "state_json"]
    FLOW_UUID_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    flow_uuid: str
    method_name: str
    state_json: str
    def __init__(self, flow_uuid: _Optional[str] = ..., method_name: _Optional[str] = ..., state_json: _Optional[str] = ...) -> None: ...

class SaveFlowStateResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class TaskOutputRow(_message.Message):
    __slots__ = ["expected_output", "inputs_json", "output_json", "task_id", "task_index", "timestamp", "was_replayed"]
    EXPECTED_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_INDEX_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    WAS_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    expected_output: str
    inputs_json: str
    output_json: str
    task_id: str
    task_index: int
    timestamp: str
    was_replayed: bool
    def __init__(self, task_id: _Optional[str] = ..., expected_output: _Optional[str] = ..., output_json: _Optional[str] = ..., task_index: _Optional[int] = ..., inputs_json: _Optional[str] = ..., was_replayed: bool = ..., timestamp: _Optional[str] = ...) -> None: ...
