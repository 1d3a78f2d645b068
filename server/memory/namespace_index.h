// File: namespace_index.h
//
// NamespaceIndex: the in-memory state of one namespace (records, vectors, scopes,
// categories, BM25 index, quantized index) and every read over it. It knows nothing about
// durability or locking: MemoryStore owns one per namespace, guards it with a reader/writer
// mutex and only applies mutations that SQLite has committed.
//
// Layout (chosen so that a search is a bandwidth-bound scan):
//  * Every record lives in a slot. Slots are stable for the record's life and reused
//    through a free list after deletes, so side structures can be keyed by slot.
//  * Vectors: float32 rows of `stride` = dim rounded up to 16 floats (64 bytes), zero
//    padded, in chunks of kRowsPerChunk rows allocated 64-byte aligned (no huge
//    reallocation when the namespace grows).
//  * Filters are evaluated before ranking from per-slot arrays (live flag, interned scope
//    id, created_at_micros) plus per-query tables over the few distinct scopes and
//    categories, so the hot loop never compares strings; the result is a candidate list
//    that the distance kernel then walks.
//  * Above MemoryStoreOptions::approximate_min_candidates live records the namespace also
//    keeps a scalar-quantized copy (one uint8 code per dimension, per-dimension min/step:
//    decoded value = min[i] + step[i] * code[i]). The approximate distance to a query q is
//      sum_i (q[i] - min[i] - step[i] * code[i])^2
//        = const(q) + sum_i (step[i] * code[i])^2 - 2 * sum_i w[i] * code[i],
//    w[i] = (q[i] - min[i]) * step[i]; the middle term is stored per row and the last one is
//    an integer dot product of int16-quantized w and the uint8 codes (vpmaddwd), so the
//    first pass reads one byte per dimension and does little arithmetic per byte.
//
// Thread-safety: not thread-safe. Const methods may run concurrently with each other;
// mutations need exclusive access (MemoryStore holds its mutex).
#ifndef FAST_CREWAI_SERVER_MEMORY_NAMESPACE_INDEX_H_
#define FAST_CREWAI_SERVER_MEMORY_NAMESPACE_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "server/memory/distance.h"
#include "server/memory/text_index.h"
#include "server/memory/types.h"
#include "server/memory/validation.h"
#include "tbb/task_arena.h"

namespace fast_crewai::memory {

struct IndexOptions {
  // A scan reading at least this many bytes of vectors runs in parallel in `arena` (bytes,
  // not rows: 10k rows of 3072 floats are as much work as 20k rows of 1536).
  int64_t parallel_min_bytes = 8 << 20;
  // The quantized index exists while the namespace has at least this many live records,
  // and a kAuto search uses it when at least this many records pass its filter.
  int64_t approximate_min_candidates = 50000;
  // The quantized pass keeps max(limit * rerank_factor, min_rerank_pool) candidates for
  // exact rescoring.
  int rerank_factor = 16;
  int min_rerank_pool = 128;
  // Where parallel scans run; nullptr scans on the calling thread only. Not owned.
  tbb::task_arena* arena = nullptr;
  // Distance kernels; nullptr means simd::BestKernels().
  const simd::Kernels* kernels = nullptr;
};

// True when `record` (not yet in an index) passes `filter` and, when given, was created
// strictly before `older_than_micros`. The same semantics as the index's own matching.
bool RecordMatchesFilter(const PreparedRecord& record, const ParsedFilter& filter,
                         std::optional<int64_t> older_than_micros);

namespace internal {
// One ranked candidate: `key` ascending is better (a squared distance, or a negated score).
struct Hit {
  double key;
  uint32_t slot;
};
}  // namespace internal

class NamespaceIndex {
 public:
  explicit NamespaceIndex(const IndexOptions& options);
  NamespaceIndex(const NamespaceIndex&) = delete;
  NamespaceIndex& operator=(const NamespaceIndex&) = delete;

  // The vector dimension, 0 while unknown.
  int dim() const { return dim_; }
  // Live records.
  size_t size() const { return live_count_; }
  bool has_quantized_index() const { return quantizer_.trained; }

  // ---- Mutations -----------------------------------------------------------------------

  // Fixes the dimension. Records stored without an embedding get zero vectors.
  // REQUIRES: dim() == 0 and 0 < dim <= kMaxDimension.
  void SetDim(int dim);
  // Inserts or replaces the record with the same id.
  // REQUIRES: the embedding is empty, or dim() == embedding size.
  void Upsert(PreparedRecord record);
  // Removes the record `id`; returns false when absent.
  bool Remove(absl::string_view id);
  // Sets last_accessed of record `id`; returns false when absent.
  bool Touch(absl::string_view id, absl::string_view last_accessed, int64_t micros);
  // Removes every record and frees the dimension.
  void Clear();
  // Builds, refreshes or drops the quantized index after a batch of mutations.
  void MaintainQuantizer();

  // ---- Reads -----------------------------------------------------------------------------

  bool Contains(absl::string_view id) const { return slot_by_id_.contains(id); }
  // The memory.db row (PreparedRecord::row) of record `id`; 0 when there is no such record.
  int64_t RowOf(absl::string_view id) const {
    auto it = slot_by_id_.find(id);
    return it == slot_by_id_.end() ? 0 : slots_[it->second].row;
  }
  std::optional<Record> Get(absl::string_view id, bool with_embedding) const;
  // (id, memory.db row) of the records among `ids` that exist and pass `filter` and
  // `older_than_micros`.
  std::vector<std::pair<std::string, int64_t>> FilterIds(
      const std::vector<std::string>& ids, const ParsedFilter& filter,
      std::optional<int64_t> older_than_micros) const;
  // (id, memory.db row) of all records passing `filter` and `older_than_micros`, in slot order.
  std::vector<std::pair<std::string, int64_t>> MatchingIds(
      const ParsedFilter& filter, std::optional<int64_t> older_than_micros) const;

  // REQUIRES: `request` validated; `mode` resolved (not kAuto); for kVector/kHybrid the
  // query has dim() values or dim() == 0.
  SearchResult Search(const SearchRequest& request, SearchMode mode,
                      const ParsedFilter& filter) const;
  // REQUIRES: 1 <= limit, 0 <= offset; `scope_prefix` normalised.
  ListRecordsResult List(absl::string_view scope_prefix, int limit, int offset,
                         bool with_embeddings) const;
  // `path` in ScopeInfo form ("/" or "/a/b"); everything at or below it.
  ScopeInfo GetScopeInfo(absl::string_view path) const;
  std::vector<std::string> ListScopes(absl::string_view parent_prefix) const;
  std::vector<CategoryCount> ListCategories(absl::string_view scope_prefix) const;
  int64_t Count(absl::string_view scope_prefix) const;

  static constexpr size_t kRowsPerChunk = 1024;

 private:
  // Rows of T in 64-byte aligned, zero-initialised chunks of kRowsPerChunk rows.
  template <typename T>
  class ChunkedRows {
   public:
    void Reset(size_t stride) {
      chunks_.clear();
      stride_ = stride;
    }
    void EnsureRows(size_t rows);
    size_t stride() const { return stride_; }
    T* Row(size_t r) { return chunks_[r / kRowsPerChunk].get() + (r % kRowsPerChunk) * stride_; }
    const T* Row(size_t r) const {
      return chunks_[r / kRowsPerChunk].get() + (r % kRowsPerChunk) * stride_;
    }

   private:
    struct AlignedFree {
      void operator()(T* p) const { ::operator delete[](p, std::align_val_t(64)); }
    };
    std::vector<std::unique_ptr<T[], AlignedFree>> chunks_;
    size_t stride_ = 0;
  };

  struct Slot {
    Record record;  // embedding kept in vectors_, not here
    std::shared_ptr<const JsonValue> metadata;
    std::vector<uint32_t> category_ids;  // unique
    int64_t row = 0;                     // PreparedRecord::row
  };
  struct ScopeEntry {
    std::string raw;
    std::string normalized;
    int64_t refcount = 0;
  };
  struct CategoryEntry {
    std::string name;
    int64_t refcount = 0;
  };
  struct Quantizer {
    bool trained = false;
    size_t trained_rows = 0;
    std::vector<float> min;       // code_stride entries, 0 in the padding
    std::vector<float> step;      // code_stride entries, 0 in the padding
    std::vector<float> inv_step;  // 0 where step == 0
    ChunkedRows<uint8_t> codes;
    std::vector<uint8_t> outlier;  // by slot: a value fell outside [min, max]
    size_t outliers = 0;
    // By slot: sum_i (step[i] * code[i])^2, the query-independent part of the distance.
    std::vector<float> code_norm;
  };
  struct CompiledFilter;

  CompiledFilter Compile(const ParsedFilter& filter,
                         std::optional<int64_t> older_than_micros) const;
  bool Passes(const CompiledFilter& filter, uint32_t slot) const;
  std::vector<uint32_t> Candidates(const CompiledFilter& filter) const;

  using Hit = internal::Hit;
  // Orders hits by key, ties by record id (the API's deterministic order).
  struct IdTieLess {
    const NamespaceIndex* index;
    bool operator()(const Hit& a, const Hit& b) const {
      return a.key < b.key || (a.key == b.key && index->IdLess(a.slot, b.slot));
    }
  };

  // Vector top-`k` among `candidates`, as (squared distance, slot) sorted by (distance, id).
  std::vector<Hit> VectorTopK(const std::vector<float>& query,
                              const std::vector<uint32_t>& candidates, size_t k,
                              SearchStrategy strategy, bool* approximate) const;
  std::vector<Hit> ExactTopK(const float* query, const uint32_t* candidates, size_t n,
                             size_t k) const;
  std::vector<Hit> QuantizedTopK(const float* query, const std::vector<uint32_t>& candidates,
                                 size_t k) const;
  // BM25 top-`k` among records passing `filter`, as (-normalised score, slot).
  std::vector<Hit> LexicalTopK(absl::string_view text, const CompiledFilter& filter,
                               size_t k) const;

  Record Materialize(uint32_t slot, bool with_embedding) const;
  bool IdLess(uint32_t a, uint32_t b) const { return slots_[a].record.id < slots_[b].record.id; }
  void RemoveSlot(uint32_t slot);
  void EncodeRow(uint32_t slot);
  void TrainQuantizer();
  void DropQuantizer();
  size_t code_stride() const;

  const IndexOptions options_;
  const simd::Kernels& kernels_;
  int dim_ = 0;
  size_t live_count_ = 0;

  std::vector<Slot> slots_;
  std::vector<uint8_t> live_;            // by slot
  std::vector<uint32_t> scope_id_;       // by slot
  std::vector<int64_t> created_micros_;  // by slot
  std::vector<uint32_t> free_slots_;
  absl::flat_hash_map<std::string, uint32_t> slot_by_id_;

  ChunkedRows<float> vectors_;

  std::vector<ScopeEntry> scopes_;
  absl::flat_hash_map<std::string, uint32_t> scope_ids_;
  std::vector<CategoryEntry> categories_;
  absl::flat_hash_map<std::string, uint32_t> category_ids_;

  TextIndex text_;
  Quantizer quantizer_;
};

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_NAMESPACE_INDEX_H_
