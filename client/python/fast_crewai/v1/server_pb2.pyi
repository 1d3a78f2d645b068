from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetServerInfoRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ["auth_required", "services", "start_time_unix", "tls", "uptime_seconds", "version"]
    AUTH_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    auth_required: bool
    services: _containers.RepeatedCompositeFieldContainer[ServiceState]
    start_time_unix: int
    tls: bool
    uptime_seconds: int
    version: str
    def __init__(self, version: _Optional[str] = ..., uptime_seconds: _Optional[int] = ..., start_time_unix: _Optional[int] = ..., services: _Optional[_Iterable[_Union[ServiceState, _Mapping]]] = ..., auth_required: bool = ..., tls: bool = ...) -> None: ...

class ServiceState(_message.Message):
    __slots__ = ["health", "implemented", "name"]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    IMPLEMENTED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    health: str
    implemented: bool
    name: str
    def __init__(self, name: _Optional[str] = ..., implemented: bool = ..., health: _Optional[str] = ...) -> None: ...
