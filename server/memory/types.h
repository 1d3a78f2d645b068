// File: types.h
//
// Plain value types of the memory core's API (see memory_store.h for the operations).
// They mirror CrewAI's MemoryRecord, ScopeInfo and the StorageBackend arguments, with the
// wire representation of fast_crewai.v1.MemoryService (proto/fast_crewai/v1/memory.proto):
// datetimes as the client's own ISO text plus Unix microseconds, metadata as JSON text.
#ifndef FAST_CREWAI_SERVER_MEMORY_TYPES_H_
#define FAST_CREWAI_SERVER_MEMORY_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fast_crewai::memory {

// One CrewAI MemoryRecord.
struct Record {
  // Non-empty, at most kMaxIdBytes, no control characters. Unique within a namespace.
  std::string id;
  // Non-empty, at most kMaxContentBytes of UTF-8.
  std::string content;
  // Starts with "/", at most kMaxScopeBytes. Kept byte for byte; matched path-aware.
  std::string scope = "/";
  // Each non-empty, at most kMaxCategoryBytes; at most kMaxCategories of them.
  std::vector<std::string> categories;
  // A JSON object as text, kept and returned byte for byte. "" means {}.
  std::string metadata_json;
  // In [0, 1].
  double importance = 0.5;
  // The client's ISO-8601 text (returned unchanged, so naive datetimes stay naive) and the
  // same instant as Unix microseconds (used for ordering and older_than).
  std::string created_at;
  int64_t created_at_micros = 0;
  std::string last_accessed;
  int64_t last_accessed_micros = 0;
  // CrewAI's None is nullopt.
  std::optional<std::string> source;
  // CrewAI's `private` flag.
  bool is_private = false;
  // float32 values; empty means "no embedding" (the record is zero-filled once the
  // namespace's dimension is known, as CrewAI's LanceDB storage does).
  std::vector<float> embedding;
};

// Filters shared by search, delete and the listing calls. Every given criterion must hold;
// an empty field is no criterion.
struct RecordFilter {
  // Path-aware prefix: "/a" matches "/a" and "/a/b", not "/ab". "" and "/" match all.
  std::string scope_prefix;
  // Any-of: a record matches when it carries at least one of these categories.
  std::vector<std::string> categories;
  // A JSON object: every top-level key must be present in the record's metadata with a
  // value equal under Python's `==` (a missing key equals only null). "" or "{}": no filter.
  std::string metadata_filter_json;
};

enum class SearchMode {
  // kVector when query_embedding is non-empty, else kLexical.
  kAuto,
  // score = 1 / (1 + squared L2 distance) on float32 vectors (CrewAI's LanceDB score).
  kVector,
  // BM25 over content, normalised to [0, 1) (see memory_store.h).
  kLexical,
  // Reciprocal-rank fusion of kVector and kLexical, normalised to (0, 1].
  kHybrid,
};

// How the vector part of a search is answered.
enum class SearchStrategy {
  // Exact scan, or the quantized first pass with exact rescoring when enough records pass
  // the filter (MemoryStoreOptions::approximate_min_candidates).
  kAuto,
  // Always the exact float32 scan (benchmarks, tests).
  kExact,
  // The quantized pass whenever the namespace has a quantized index and more records pass
  // the filter than the rescoring pool holds (otherwise exact).
  kApproximate,
};

struct SearchRequest {
  // Needed by kVector and kHybrid; its length must equal the namespace's dimension.
  std::vector<float> query_embedding;
  // Needed by kLexical and kHybrid.
  std::string query_text;
  SearchMode mode = SearchMode::kAuto;
  RecordFilter filter;
  // 1 to kMaxLimit.
  int limit = 10;
  // Inclusive lower bound on the returned score; finite.
  double min_score = 0.0;
  // Leave the embeddings out of the returned records.
  bool omit_embeddings = false;
  SearchStrategy strategy = SearchStrategy::kAuto;
};

struct ScoredRecord {
  Record record;
  double score = 0;
};

struct SearchResult {
  // Descending score, ties by ascending id.
  std::vector<ScoredRecord> results;
  // True when the quantized first pass selected the candidates (exactly rescored).
  bool approximate = false;
};

struct SaveResult {
  // The namespace's dimension after the save (0 while unknown).
  int vector_dim = 0;
};

struct DeleteRequest {
  RecordFilter filter;
  // When non-empty, only these records may be deleted (and the other criteria still apply).
  std::vector<std::string> record_ids;
  // When set, only records with created_at_micros strictly below it are deleted.
  std::optional<int64_t> older_than_micros;
};

struct ListRecordsRequest {
  std::string scope_prefix;
  // 1 to kMaxLimit; 0 means the default, 200.
  int limit = 200;
  // >= 0: number of records to skip in (created_at_micros DESC, id ASC) order.
  int offset = 0;
  bool omit_embeddings = false;
};

struct ListRecordsResult {
  std::vector<Record> records;
  // True when more records follow; then next_offset = offset + records.size().
  bool has_more = false;
  int next_offset = 0;
};

// CrewAI's ScopeInfo. Datetimes are the stored ISO text ("" when the scope is empty).
struct ScopeInfo {
  std::string path;
  int64_t record_count = 0;
  // Sorted, unique.
  std::vector<std::string> categories;
  std::string oldest_record;
  int64_t oldest_record_micros = 0;
  std::string newest_record;
  int64_t newest_record_micros = 0;
  // Sorted immediate children, full paths.
  std::vector<std::string> child_scopes;
};

struct CategoryCount {
  std::string category;
  // Number of matching records that carry the category.
  int64_t count = 0;
};

struct NamespaceInfo {
  // False for a namespace nothing was ever written to.
  bool exists = false;
  // 0 while unknown (no embedding saved yet, or after a full reset).
  int vector_dim = 0;
  int64_t record_count = 0;
  // True when the namespace currently keeps a quantized index for approximate search.
  bool has_quantized_index = false;
};

// Limits enforced by validation (INVALID_ARGUMENT naming the field when exceeded).
inline constexpr size_t kMaxNamespaceBytes = 512;
inline constexpr size_t kMaxIdBytes = 256;
inline constexpr size_t kMaxContentBytes = 1 << 20;
inline constexpr size_t kMaxScopeBytes = 1024;
inline constexpr size_t kMaxCategoryBytes = 256;
inline constexpr size_t kMaxCategories = 256;
inline constexpr size_t kMaxMetadataBytes = 1 << 20;
inline constexpr size_t kMaxTimestampBytes = 64;
inline constexpr size_t kMaxSourceBytes = 4096;
inline constexpr size_t kMaxQueryTextBytes = 64 << 10;
inline constexpr int kMaxDimension = 16384;
inline constexpr int kMaxLimit = 10000;
inline constexpr int kDefaultListLimit = 200;

// The reason detail (server/util/error_details.h, kReasonDetail) of a dimension error; the
// details kStoredDimDetail and kNewDimDetail carry the two dimensions as decimal text. The RPC
// layer sends them as trailing metadata `fast-crewai-reason`, `fast-crewai-stored-dim`,
// `fast-crewai-new-dim`.
inline constexpr char kEmbeddingDimensionMismatch[] = "EMBEDDING_DIMENSION_MISMATCH";

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_TYPES_H_
