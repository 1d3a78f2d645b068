from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CacheClearRequest(_message.Message):
    __slots__ = ["namespace"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class CacheClearResponse(_message.Message):
    __slots__ = ["removed"]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class CacheGetRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: CacheKey
    def __init__(self, key: _Optional[_Union[CacheKey, _Mapping]] = ...) -> None: ...

class CacheGetResponse(_message.Message):
    __slots__ = ["content_type", "found", "value"]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    found: bool
    value: bytes
    def __init__(self, found: bool = ..., value: _Optional[bytes] = ..., content_type: _Optional[str] = ...) -> None: ...

class CacheKey(_message.Message):
    __slots__ = ["input", "namespace", "tool"]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    input: str
    namespace: str
    tool: str
    def __init__(self, namespace: _Optional[str] = ..., tool: _Optional[str] = ..., input: _Optional[str] = ...) -> None: ...

class CachePutRequest(_message.Message):
    __slots__ = ["content_type", "key", "ttl_millis", "value"]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TTL_MILLIS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    key: CacheKey
    ttl_millis: int
    value: bytes
    def __init__(self, key: _Optional[_Union[CacheKey, _Mapping]] = ..., value: _Optional[bytes] = ..., content_type: _Optional[str] = ..., ttl_millis: _Optional[int] = ...) -> None: ...

class CachePutResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class CacheStatsRequest(_message.Message):
    __slots__ = ["namespace"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class CacheStatsResponse(_message.Message):
    __slots__ = ["bytes", "entries", "evictions", "expirations", "hits", "misses"]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    entries: int
    evictions: int
    expirations: int
    hits: int
    misses: int
    def __init__(self, hits: _Optional[int] = ..., misses: _Optional[int] = ..., evictions: _Optional[int] = ..., expirations: _Optional[int] = ..., bytes: _Optional[int] = ..., entries: _Optional[int] = ...) -> None: ...
