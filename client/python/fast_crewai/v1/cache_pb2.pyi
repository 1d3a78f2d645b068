from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

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

class CacheConfigureNamespaceRequest(_message.Message):
    __slots__ = ["default_ttl_millis", "max_bytes", "namespace"]
    DEFAULT_TTL_MILLIS_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    default_ttl_millis: int
    max_bytes: int
    namespace: str
    def __init__(self, namespace: _Optional[str] = ..., default_ttl_millis: _Optional[int] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class CacheConfigureNamespaceResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class CacheGetRequest(_message.Message):
    __slots__ = ["claim", "key", "lease_millis", "wait_millis"]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LEASE_MILLIS_FIELD_NUMBER: _ClassVar[int]
    WAIT_MILLIS_FIELD_NUMBER: _ClassVar[int]
    claim: bool
    key: CacheKey
    lease_millis: int
    wait_millis: int
    def __init__(self, key: _Optional[_Union[CacheKey, _Mapping]] = ..., claim: bool = ..., lease_millis: _Optional[int] = ..., wait_millis: _Optional[int] = ...) -> None: ...

class CacheGetResponse(_message.Message):
    __slots__ = ["claimed", "content_type", "expires_in_millis", "found", "in_flight", "lease_id", "lease_millis", "value", "waited"]
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_MILLIS_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_MILLIS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    WAITED_FIELD_NUMBER: _ClassVar[int]
    claimed: bool
    content_type: str
    expires_in_millis: int
    found: bool
    in_flight: bool
    lease_id: int
    lease_millis: int
    value: bytes
    waited: bool
    def __init__(self, found: bool = ..., value: _Optional[bytes] = ..., content_type: _Optional[str] = ..., claimed: bool = ..., lease_id: _Optional[int] = ..., lease_millis: _Optional[int] = ..., waited: bool = ..., in_flight: bool = ..., expires_in_millis: _Optional[int] = ...) -> None: ...

class CacheInvalidation(_message.Message):
    __slots__ = ["cleared_all", "cleared_namespaces", "keys", "reset", "subscribed"]
    CLEARED_ALL_FIELD_NUMBER: _ClassVar[int]
    CLEARED_NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    cleared_all: bool
    cleared_namespaces: _containers.RepeatedScalarFieldContainer[str]
    keys: _containers.RepeatedCompositeFieldContainer[CacheKey]
    reset: bool
    subscribed: bool
    def __init__(self, subscribed: bool = ..., keys: _Optional[_Iterable[_Union[CacheKey, _Mapping]]] = ..., cleared_namespaces: _Optional[_Iterable[str]] = ..., cleared_all: bool = ..., reset: bool = ...) -> None: ...

class CacheKey(_message.Message):
    __slots__ = ["input", "namespace", "tool"]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    input: str
    namespace: str
    tool: str
    def __init__(self, namespace: _Optional[str] = ..., tool: _Optional[str] = ..., input: _Optional[str] = ...) -> None: ...

class CacheNamespaceStats(_message.Message):
    __slots__ = ["bytes", "default_ttl_millis", "entries", "evictions", "expirations", "hits", "max_bytes", "misses", "namespace"]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_MILLIS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    default_ttl_millis: int
    entries: int
    evictions: int
    expirations: int
    hits: int
    max_bytes: int
    misses: int
    namespace: str
    def __init__(self, namespace: _Optional[str] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., evictions: _Optional[int] = ..., expirations: _Optional[int] = ..., bytes: _Optional[int] = ..., entries: _Optional[int] = ..., max_bytes: _Optional[int] = ..., default_ttl_millis: _Optional[int] = ...) -> None: ...

class CachePutRequest(_message.Message):
    __slots__ = ["content_type", "key", "lease_id", "ttl_millis", "value"]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_MILLIS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    key: CacheKey
    lease_id: int
    ttl_millis: int
    value: bytes
    def __init__(self, key: _Optional[_Union[CacheKey, _Mapping]] = ..., value: _Optional[bytes] = ..., content_type: _Optional[str] = ..., ttl_millis: _Optional[int] = ..., lease_id: _Optional[int] = ...) -> None: ...

class CachePutResponse(_message.Message):
    __slots__ = ["expires_in_millis", "stored", "woken_waiters"]
    EXPIRES_IN_MILLIS_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    WOKEN_WAITERS_FIELD_NUMBER: _ClassVar[int]
    expires_in_millis: int
    stored: bool
    woken_waiters: int
    def __init__(self, stored: bool = ..., woken_waiters: _Optional[int] = ..., expires_in_millis: _Optional[int] = ...) -> None: ...

class CacheReleaseClaimRequest(_message.Message):
    __slots__ = ["key", "lease_id", "uncacheable"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    UNCACHEABLE_FIELD_NUMBER: _ClassVar[int]
    key: CacheKey
    lease_id: int
    uncacheable: bool
    def __init__(self, key: _Optional[_Union[CacheKey, _Mapping]] = ..., lease_id: _Optional[int] = ..., uncacheable: bool = ...) -> None: ...

class CacheReleaseClaimResponse(_message.Message):
    __slots__ = ["released"]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: bool = ...) -> None: ...

class CacheStatsRequest(_message.Message):
    __slots__ = ["namespace"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class CacheStatsResponse(_message.Message):
    __slots__ = ["bytes", "claims", "entries", "evictions", "expirations", "hits", "max_bytes", "misses", "namespaces", "waiters"]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    WAITERS_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    claims: int
    entries: int
    evictions: int
    expirations: int
    hits: int
    max_bytes: int
    misses: int
    namespaces: _containers.RepeatedCompositeFieldContainer[CacheNamespaceStats]
    waiters: int
    def __init__(self, hits: _Optional[int] = ..., misses: _Optional[int] = ..., evictions: _Optional[int] = ..., expirations: _Optional[int] = ..., bytes: _Optional[int] = ..., entries: _Optional[int] = ..., max_bytes: _Optional[int] = ..., claims: _Optional[int] = ..., waiters: _Optional[int] = ..., namespaces: _Optional[_Iterable[_Union[CacheNamespaceStats, _Mapping]]] = ...) -> None: ...

class CacheWatchRequest(_message.Message):
    __slots__ = ["namespaces"]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, namespaces: _Optional[_Iterable[str]] = ...) -> None: ...
