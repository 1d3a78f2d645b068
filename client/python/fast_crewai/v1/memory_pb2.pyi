from fast_crewai.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
SEARCH_MODE_HYBRID: SearchMode
SEARCH_MODE_LEXICAL: SearchMode
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_VECTOR: SearchMode

class CategoryCount(_message.Message):
    __slots__ = ["category", "count"]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    category: str
    count: int
    def __init__(self, category: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ["namespace", "scope_prefix"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    scope_prefix: str
    def __init__(self, namespace: _Optional[str] = ..., scope_prefix: _Optional[str] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ["count"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class DeleteRecordsRequest(_message.Message):
    __slots__ = ["filter", "namespace", "older_than_micros", "record_ids"]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OLDER_THAN_MICROS_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    filter: RecordFilter
    namespace: str
    older_than_micros: int
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, namespace: _Optional[str] = ..., filter: _Optional[_Union[RecordFilter, _Mapping]] = ..., record_ids: _Optional[_Iterable[str]] = ..., older_than_micros: _Optional[int] = ...) -> None: ...

class DeleteRecordsResponse(_message.Message):
    __slots__ = ["deleted"]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class DescribeNamespaceRequest(_message.Message):
    __slots__ = ["namespace"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class DescribeNamespaceResponse(_message.Message):
    __slots__ = ["exists", "packed_embeddings", "record_count", "vector_dim"]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    PACKED_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_DIM_FIELD_NUMBER: _ClassVar[int]
    exists: bool
    packed_embeddings: bool
    record_count: int
    vector_dim: int
    def __init__(self, exists: bool = ..., vector_dim: _Optional[int] = ..., record_count: _Optional[int] = ..., packed_embeddings: bool = ...) -> None: ...

class GetRecordRequest(_message.Message):
    __slots__ = ["id", "namespace", "packed_embeddings"]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PACKED_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    namespace: str
    packed_embeddings: bool
    def __init__(self, namespace: _Optional[str] = ..., id: _Optional[str] = ..., packed_embeddings: bool = ...) -> None: ...

class GetRecordResponse(_message.Message):
    __slots__ = ["found", "record"]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    found: bool
    record: MemoryRecord
    def __init__(self, found: bool = ..., record: _Optional[_Union[MemoryRecord, _Mapping]] = ...) -> None: ...

class GetScopeInfoRequest(_message.Message):
    __slots__ = ["namespace", "scope"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    scope: str
    def __init__(self, namespace: _Optional[str] = ..., scope: _Optional[str] = ...) -> None: ...

class GetScopeInfoResponse(_message.Message):
    __slots__ = ["categories", "child_scopes", "newest_record", "oldest_record", "path", "record_count"]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CHILD_SCOPES_FIELD_NUMBER: _ClassVar[int]
    NEWEST_RECORD_FIELD_NUMBER: _ClassVar[int]
    OLDEST_RECORD_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    child_scopes: _containers.RepeatedScalarFieldContainer[str]
    newest_record: str
    oldest_record: str
    path: str
    record_count: int
    def __init__(self, path: _Optional[str] = ..., record_count: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., oldest_record: _Optional[str] = ..., newest_record: _Optional[str] = ..., child_scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class ListCategoriesRequest(_message.Message):
    __slots__ = ["namespace", "scope_prefix"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    scope_prefix: str
    def __init__(self, namespace: _Optional[str] = ..., scope_prefix: _Optional[str] = ...) -> None: ...

class ListCategoriesResponse(_message.Message):
    __slots__ = ["categories"]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[CategoryCount]
    def __init__(self, categories: _Optional[_Iterable[_Union[CategoryCount, _Mapping]]] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ["namespace", "omit_embeddings", "packed_embeddings", "page", "scope_prefix"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OMIT_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    PACKED_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    omit_embeddings: bool
    packed_embeddings: bool
    page: _common_pb2.PageRequest
    scope_prefix: str
    def __init__(self, namespace: _Optional[str] = ..., scope_prefix: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., omit_embeddings: bool = ..., packed_embeddings: bool = ...) -> None: ...

class ListRecordsResponse(_message.Message):
    __slots__ = ["page_info", "records"]
    PAGE_INFO_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    page_info: _common_pb2.PageInfo
    records: _containers.RepeatedCompositeFieldContainer[MemoryRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[MemoryRecord, _Mapping]]] = ..., page_info: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class ListScopesRequest(_message.Message):
    __slots__ = ["namespace", "parent"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    parent: str
    def __init__(self, namespace: _Optional[str] = ..., parent: _Optional[str] = ...) -> None: ...

class ListScopesResponse(_message.Message):
    __slots__ = ["scopes"]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class MemoryRecord(_message.Message):
    __slots__ = ["categories", "content", "created_at", "created_at_micros", "embedding", "embedding_f32", "id", "importance", "last_accessed", "last_accessed_micros", "metadata_json", "private", "scope", "source"]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_F32_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESSED_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESSED_MICROS_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    content: str
    created_at: str
    created_at_micros: int
    embedding: _containers.RepeatedScalarFieldContainer[float]
    embedding_f32: bytes
    id: str
    importance: float
    last_accessed: str
    last_accessed_micros: int
    metadata_json: str
    private: bool
    scope: str
    source: str
    def __init__(self, id: _Optional[str] = ..., content: _Optional[str] = ..., scope: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., metadata_json: _Optional[str] = ..., importance: _Optional[float] = ..., created_at: _Optional[str] = ..., created_at_micros: _Optional[int] = ..., last_accessed: _Optional[str] = ..., last_accessed_micros: _Optional[int] = ..., source: _Optional[str] = ..., private: bool = ..., embedding: _Optional[_Iterable[float]] = ..., embedding_f32: _Optional[bytes] = ...) -> None: ...

class RecordFilter(_message.Message):
    __slots__ = ["categories", "metadata_filter_json", "scope_prefix"]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FILTER_JSON_FIELD_NUMBER: _ClassVar[int]
    SCOPE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    metadata_filter_json: str
    scope_prefix: str
    def __init__(self, scope_prefix: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., metadata_filter_json: _Optional[str] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ["namespace", "scope_prefix"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    scope_prefix: str
    def __init__(self, namespace: _Optional[str] = ..., scope_prefix: _Optional[str] = ...) -> None: ...

class ResetResponse(_message.Message):
    __slots__ = ["deleted"]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class SaveRecordsRequest(_message.Message):
    __slots__ = ["namespace", "records"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    records: _containers.RepeatedCompositeFieldContainer[MemoryRecord]
    def __init__(self, namespace: _Optional[str] = ..., records: _Optional[_Iterable[_Union[MemoryRecord, _Mapping]]] = ...) -> None: ...

class SaveRecordsResponse(_message.Message):
    __slots__ = ["vector_dim"]
    VECTOR_DIM_FIELD_NUMBER: _ClassVar[int]
    vector_dim: int
    def __init__(self, vector_dim: _Optional[int] = ...) -> None: ...

class ScoredRecord(_message.Message):
    __slots__ = ["record", "score"]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    record: MemoryRecord
    score: float
    def __init__(self, record: _Optional[_Union[MemoryRecord, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ["filter", "limit", "min_score", "mode", "namespace", "omit_embeddings", "packed_embeddings", "query_embedding", "query_embedding_f32", "query_text"]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OMIT_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    PACKED_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    QUERY_EMBEDDING_F32_FIELD_NUMBER: _ClassVar[int]
    QUERY_EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    QUERY_TEXT_FIELD_NUMBER: _ClassVar[int]
    filter: RecordFilter
    limit: int
    min_score: float
    mode: SearchMode
    namespace: str
    omit_embeddings: bool
    packed_embeddings: bool
    query_embedding: _containers.RepeatedScalarFieldContainer[float]
    query_embedding_f32: bytes
    query_text: str
    def __init__(self, namespace: _Optional[str] = ..., query_embedding: _Optional[_Iterable[float]] = ..., query_text: _Optional[str] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., filter: _Optional[_Union[RecordFilter, _Mapping]] = ..., limit: _Optional[int] = ..., min_score: _Optional[float] = ..., omit_embeddings: bool = ..., query_embedding_f32: _Optional[bytes] = ..., packed_embeddings: bool = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ["approximate", "results"]
    APPROXIMATE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    approximate: bool
    results: _containers.RepeatedCompositeFieldContainer[ScoredRecord]
    def __init__(self, results: _Optional[_Iterable[_Union[ScoredRecord, _Mapping]]] = ..., approximate: bool = ...) -> None: ...

class TouchRecordsRequest(_message.Message):
    __slots__ = ["last_accessed", "last_accessed_micros", "namespace", "record_ids"]
    LAST_ACCESSED_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESSED_MICROS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    last_accessed: str
    last_accessed_micros: int
    namespace: str
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, namespace: _Optional[str] = ..., record_ids: _Optional[_Iterable[str]] = ..., last_accessed: _Optional[str] = ..., last_accessed_micros: _Optional[int] = ...) -> None: ...

class TouchRecordsResponse(_message.Message):
    __slots__ = ["touched"]
    TOUCHED_FIELD_NUMBER: _ClassVar[int]
    touched: int
    def __init__(self, touched: _Optional[int] = ...) -> None: ...

class UpdateRecordRequest(_message.Message):
    __slots__ = ["namespace", "record"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    record: MemoryRecord
    def __init__(self, namespace: _Optional[str] = ..., record: _Optional[_Union[MemoryRecord, _Mapping]] = ...) -> None: ...

class UpdateRecordResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
