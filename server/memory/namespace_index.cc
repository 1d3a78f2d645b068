#include "server/memory/namespace_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/memory/json.h"
#include "server/memory/scope.h"
#include "tbb/blocked_range.h"
#include "tbb/parallel_reduce.h"
#include "tbb/task_arena.h"

namespace fast_crewai::memory {
namespace {

using internal::Hit;

// Reciprocal-rank fusion constant (Cormack et al.), and how deep each list goes.
constexpr double kRrfK = 60.0;
constexpr size_t kHybridMinDepth = 100;
// Candidates per parallel task.
constexpr size_t kScanGrain = 2048;

size_t RoundUp(size_t n, size_t m) { return (n + m - 1) / m * m; }

bool MetadataMatches(const JsonValue* record_metadata,
                     const std::vector<std::pair<std::string, JsonValue>>& conditions) {
  for (const auto& [key, expected] : conditions) {
    const JsonValue* actual = record_metadata ? record_metadata->Find(key) : nullptr;
    if (actual == nullptr) {
      // Python: record.metadata.get(k) is None, equal only to None.
      if (expected.kind() != JsonValue::Kind::kNull) return false;
    } else if (!PythonEquals(*actual, expected)) {
      return false;
    }
  }
  return true;
}

// A bounded max-heap keeping the k best hits under `Less` (smaller is better).
// Copy- and move-assignable, as tbb::parallel_reduce needs.
template <typename Less>
class TopK {
 public:
  TopK(size_t k, Less less) : k_(k), less_(less) { heap_.reserve(std::min<size_t>(k, 4096)); }

  void Push(double key, uint32_t slot) {
    if (k_ == 0) return;
    const Hit hit{key, slot};
    if (heap_.size() < k_) {
      heap_.push_back(hit);
      std::push_heap(heap_.begin(), heap_.end(), less_);
      return;
    }
    const Hit& worst = heap_.front();
    if (key > worst.key || !less_(hit, worst)) return;
    std::pop_heap(heap_.begin(), heap_.end(), less_);
    heap_.back() = hit;
    std::push_heap(heap_.begin(), heap_.end(), less_);
  }

  void Merge(const TopK& other) {
    for (const Hit& hit : other.heap_) Push(hit.key, hit.slot);
  }

  // Best first.
  std::vector<Hit> TakeSorted() && {
    std::sort_heap(heap_.begin(), heap_.end(), less_);
    return std::move(heap_);
  }

 private:
  size_t k_;
  Less less_;
  std::vector<Hit> heap_;
};

struct SlotTieLess {
  bool operator()(const Hit& a, const Hit& b) const {
    return a.key < b.key || (a.key == b.key && a.slot < b.slot);
  }
};

Record CopyWithoutEmbedding(Record&& in) {
  Record out;
  out.id = std::move(in.id);
  out.content = std::move(in.content);
  out.scope = std::move(in.scope);
  out.categories = std::move(in.categories);
  out.metadata_json = std::move(in.metadata_json);
  out.importance = in.importance;
  out.created_at = std::move(in.created_at);
  out.created_at_micros = in.created_at_micros;
  out.last_accessed = std::move(in.last_accessed);
  out.last_accessed_micros = in.last_accessed_micros;
  out.source = std::move(in.source);
  out.is_private = in.is_private;
  return out;
}

}  // namespace

struct NamespaceIndex::CompiledFilter {
  bool all_scopes = true;
  std::vector<uint8_t> scope_ok;  // by scope id
  bool use_categories = false;
  std::vector<uint8_t> category_ok;  // by category id
  const std::vector<std::pair<std::string, JsonValue>>* metadata = nullptr;
  std::optional<int64_t> older_than;

  bool trivial() const {
    return all_scopes && !use_categories && metadata == nullptr && !older_than.has_value();
  }
};

bool RecordMatchesFilter(const PreparedRecord& prepared, const ParsedFilter& filter,
                         std::optional<int64_t> older_than_micros) {
  const Record& record = prepared.record;
  if (older_than_micros.has_value() && !(record.created_at_micros < *older_than_micros)) {
    return false;
  }
  if (!ScopeMatchesPrefix(NormalizeScope(record.scope), filter.scope_prefix)) return false;
  if (!filter.categories.empty()) {
    bool any = false;
    for (const std::string& c : record.categories) {
      if (std::find(filter.categories.begin(), filter.categories.end(), c) !=
          filter.categories.end()) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return MetadataMatches(prepared.metadata.get(), filter.metadata);
}

// ---------------------------------------------------------------------------------------
// Storage

template <typename T>
void NamespaceIndex::ChunkedRows<T>::EnsureRows(size_t rows) {
  if (stride_ == 0) return;
  const size_t needed = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  while (chunks_.size() < needed) {
    const size_t bytes = kRowsPerChunk * stride_ * sizeof(T);
    T* chunk = static_cast<T*>(::operator new[](bytes, std::align_val_t(64)));
    std::memset(chunk, 0, bytes);
    chunks_.emplace_back(chunk);
  }
}

NamespaceIndex::NamespaceIndex(const IndexOptions& options)
    : options_(options),
      kernels_(options.kernels != nullptr ? *options.kernels : simd::BestKernels()) {}

size_t NamespaceIndex::code_stride() const {
  return RoundUp(static_cast<size_t>(dim_), simd::kCodesPerBlock);
}

void NamespaceIndex::SetDim(int dim) {
  dim_ = dim;
  vectors_.Reset(RoundUp(static_cast<size_t>(dim), simd::kFloatsPerBlock));
  vectors_.EnsureRows(slots_.size());  // zero rows for records saved without embedding
  DropQuantizer();
}

void NamespaceIndex::Upsert(PreparedRecord prepared) {
  if (auto it = slot_by_id_.find(prepared.record.id); it != slot_by_id_.end()) {
    RemoveSlot(it->second);
  }
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    live_.push_back(0);
    scope_id_.push_back(0);
    created_micros_.push_back(0);
  }

  // Vector row: the embedding, or zeros (a reused row holds the previous occupant's values).
  if (dim_ > 0) {
    vectors_.EnsureRows(slots_.size());
    float* row = vectors_.Row(slot);
    if (prepared.record.embedding.empty()) {
      std::memset(row, 0, sizeof(float) * static_cast<size_t>(dim_));
    } else {
      std::memcpy(row, prepared.record.embedding.data(), sizeof(float) * static_cast<size_t>(dim_));
    }
  }

  Slot& s = slots_[slot];
  s.row = prepared.row;
  s.metadata = std::move(prepared.metadata);
  s.record = CopyWithoutEmbedding(std::move(prepared.record));

  auto [scope_it, new_scope] = scope_ids_.try_emplace(s.record.scope, scopes_.size());
  if (new_scope) scopes_.push_back(ScopeEntry{s.record.scope, NormalizeScope(s.record.scope), 0});
  ++scopes_[scope_it->second].refcount;
  scope_id_[slot] = scope_it->second;

  s.category_ids.clear();
  for (const std::string& name : s.record.categories) {
    auto [cat_it, new_cat] = category_ids_.try_emplace(name, categories_.size());
    if (new_cat) categories_.push_back(CategoryEntry{name, 0});
    const uint32_t id = cat_it->second;
    if (std::find(s.category_ids.begin(), s.category_ids.end(), id) != s.category_ids.end()) {
      continue;  // a category listed twice counts once
    }
    s.category_ids.push_back(id);
    ++categories_[id].refcount;
  }

  live_[slot] = 1;
  created_micros_[slot] = s.record.created_at_micros;
  slot_by_id_[s.record.id] = slot;
  ++live_count_;
  text_.Add(slot, s.record.content);

  if (quantizer_.trained) {
    quantizer_.codes.EnsureRows(slots_.size());
    if (quantizer_.outlier.size() < slots_.size()) {
      quantizer_.outlier.resize(slots_.size(), 0);
      quantizer_.code_norm.resize(slots_.size(), 0.0f);
    }
    EncodeRow(slot);
  }
}

void NamespaceIndex::RemoveSlot(uint32_t slot) {
  Slot& s = slots_[slot];
  --scopes_[scope_id_[slot]].refcount;
  for (const uint32_t id : s.category_ids) --categories_[id].refcount;
  text_.Remove(slot);
  if (quantizer_.trained && slot < quantizer_.outlier.size() && quantizer_.outlier[slot]) {
    quantizer_.outlier[slot] = 0;
    --quantizer_.outliers;
  }
  slot_by_id_.erase(s.record.id);
  s = Slot{};
  live_[slot] = 0;
  --live_count_;
  free_slots_.push_back(slot);
}

bool NamespaceIndex::Remove(absl::string_view id) {
  auto it = slot_by_id_.find(id);
  if (it == slot_by_id_.end()) return false;
  RemoveSlot(it->second);
  return true;
}

bool NamespaceIndex::Touch(absl::string_view id, absl::string_view last_accessed, int64_t micros) {
  auto it = slot_by_id_.find(id);
  if (it == slot_by_id_.end()) return false;
  Record& record = slots_[it->second].record;
  record.last_accessed = std::string(last_accessed);
  record.last_accessed_micros = micros;
  return true;
}

void NamespaceIndex::Clear() {
  dim_ = 0;
  live_count_ = 0;
  slots_.clear();
  live_.clear();
  scope_id_.clear();
  created_micros_.clear();
  free_slots_.clear();
  slot_by_id_.clear();
  vectors_.Reset(0);
  scopes_.clear();
  scope_ids_.clear();
  categories_.clear();
  category_ids_.clear();
  text_.Clear();
  DropQuantizer();
}

// ---------------------------------------------------------------------------------------
// Quantized index

void NamespaceIndex::DropQuantizer() { quantizer_ = Quantizer{}; }

void NamespaceIndex::EncodeRow(uint32_t slot) {
  Quantizer& q = quantizer_;
  float norm = 0.0f;
  // Over the float row's padding too: zero values, min and step there give code 0, no outlier.
  const bool outlier =
      kernels_.encode_u8(vectors_.Row(slot), q.min.data(), q.step.data(), q.inv_step.data(),
                         q.codes.Row(slot), vectors_.stride(), &norm);
  q.code_norm[slot] = norm;
  if (outlier != static_cast<bool>(q.outlier[slot])) {
    q.outlier[slot] = outlier ? 1 : 0;
    if (outlier) {
      ++q.outliers;
    } else {
      --q.outliers;
    }
  }
}

void NamespaceIndex::TrainQuantizer() {
  DropQuantizer();
  if (dim_ == 0 || live_count_ == 0) return;
  Quantizer& q = quantizer_;
  const size_t cs = code_stride();
  std::vector<float> lo(dim_, std::numeric_limits<float>::infinity());
  std::vector<float> hi(dim_, -std::numeric_limits<float>::infinity());
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (!live_[slot]) continue;
    const float* row = vectors_.Row(slot);
    for (int i = 0; i < dim_; ++i) {
      lo[i] = std::min(lo[i], row[i]);
      hi[i] = std::max(hi[i], row[i]);
    }
  }
  q.min.assign(cs, 0.0f);
  q.step.assign(cs, 0.0f);
  q.inv_step.assign(cs, 0.0f);
  for (int i = 0; i < dim_; ++i) {
    q.min[i] = lo[i];
    const double step = (static_cast<double>(hi[i]) - lo[i]) / 255.0;
    q.step[i] = static_cast<float>(step);
    q.inv_step[i] = q.step[i] > 0.0f ? static_cast<float>(1.0 / step) : 0.0f;
    if (q.inv_step[i] == 0.0f || !std::isfinite(q.inv_step[i])) {
      q.step[i] = 0.0f;  // a constant dimension (or a degenerate range): exact via outliers
      q.inv_step[i] = 0.0f;
    }
  }
  q.codes.Reset(cs);
  q.codes.EnsureRows(slots_.size());
  q.outlier.assign(slots_.size(), 0);
  q.code_norm.assign(slots_.size(), 0.0f);
  q.outliers = 0;
  q.trained = true;
  q.trained_rows = live_count_;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (live_[slot]) EncodeRow(slot);
  }
}

void NamespaceIndex::MaintainQuantizer() {
  const int64_t threshold = std::max<int64_t>(1, options_.approximate_min_candidates);
  const auto live = static_cast<int64_t>(live_count_);
  if (dim_ == 0 || live == 0) {
    DropQuantizer();
    return;
  }
  if (quantizer_.trained) {
    if (live * 2 < threshold) {
      DropQuantizer();  // hysteresis: dropped well below the threshold it was built at
      return;
    }
    // Values outside the trained range are clamped and their rows marked as outliers, which
    // every approximate search rescores exactly; retrain when they pile up or the
    // namespace has doubled since training.
    const size_t max_outliers = std::max<size_t>(64, live_count_ / 64);
    if (quantizer_.outliers > max_outliers || live_count_ > 2 * quantizer_.trained_rows) {
      TrainQuantizer();
    }
  } else if (live >= threshold) {
    TrainQuantizer();
  }
}

// ---------------------------------------------------------------------------------------
// Filters

NamespaceIndex::CompiledFilter NamespaceIndex::Compile(
    const ParsedFilter& filter, std::optional<int64_t> older_than_micros) const {
  CompiledFilter cf;
  if (!filter.scope_prefix.empty()) {
    cf.all_scopes = false;
    cf.scope_ok.assign(scopes_.size(), 0);
    for (size_t i = 0; i < scopes_.size(); ++i) {
      cf.scope_ok[i] =
          scopes_[i].refcount > 0 && ScopeMatchesPrefix(scopes_[i].normalized, filter.scope_prefix);
    }
  }
  if (!filter.categories.empty()) {
    cf.use_categories = true;
    cf.category_ok.assign(categories_.size(), 0);
    for (const std::string& name : filter.categories) {
      if (auto it = category_ids_.find(name); it != category_ids_.end()) {
        cf.category_ok[it->second] = 1;
      }
    }
  }
  if (!filter.metadata.empty()) cf.metadata = &filter.metadata;
  cf.older_than = older_than_micros;
  return cf;
}

bool NamespaceIndex::Passes(const CompiledFilter& cf, uint32_t slot) const {
  if (!live_[slot]) return false;
  if (!cf.all_scopes && !cf.scope_ok[scope_id_[slot]]) return false;
  if (cf.older_than.has_value() && !(created_micros_[slot] < *cf.older_than)) return false;
  if (cf.use_categories) {
    bool any = false;
    for (const uint32_t id : slots_[slot].category_ids) {
      if (cf.category_ok[id]) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (cf.metadata != nullptr && !MetadataMatches(slots_[slot].metadata.get(), *cf.metadata)) {
    return false;
  }
  return true;
}

std::vector<uint32_t> NamespaceIndex::Candidates(const CompiledFilter& cf) const {
  std::vector<uint32_t> out;
  out.reserve(live_count_);
  const auto n = static_cast<uint32_t>(slots_.size());
  if (cf.trivial()) {
    for (uint32_t slot = 0; slot < n; ++slot) {
      if (live_[slot]) out.push_back(slot);
    }
  } else if (!cf.use_categories && cf.metadata == nullptr && !cf.older_than.has_value()) {
    for (uint32_t slot = 0; slot < n; ++slot) {  // scope only: two array lookups per row
      if (live_[slot] && cf.scope_ok[scope_id_[slot]]) out.push_back(slot);
    }
  } else {
    for (uint32_t slot = 0; slot < n; ++slot) {
      if (Passes(cf, slot)) out.push_back(slot);
    }
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> NamespaceIndex::MatchingIds(
    const ParsedFilter& filter, std::optional<int64_t> older_than_micros) const {
  const CompiledFilter cf = Compile(filter, older_than_micros);
  std::vector<std::pair<std::string, int64_t>> out;
  for (const uint32_t slot : Candidates(cf)) {
    out.emplace_back(slots_[slot].record.id, slots_[slot].row);
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> NamespaceIndex::FilterIds(
    const std::vector<std::string>& ids, const ParsedFilter& filter,
    std::optional<int64_t> older_than_micros) const {
  const CompiledFilter cf = Compile(filter, older_than_micros);
  std::vector<std::pair<std::string, int64_t>> out;
  for (const std::string& id : ids) {
    auto it = slot_by_id_.find(id);
    if (it != slot_by_id_.end() && Passes(cf, it->second)) {
      out.emplace_back(id, slots_[it->second].row);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Search

std::vector<Hit> NamespaceIndex::ExactTopK(const float* query, const uint32_t* candidates, size_t n,
                                           size_t k) const {
  const IdTieLess less{this};
  const size_t stride = vectors_.stride();
  auto scan = [&](size_t begin, size_t end, TopK<IdTieLess>& top) {
    const auto l2 = kernels_.l2_squared;
    for (size_t i = begin; i < end; ++i) {
      if (i + 2 < end) __builtin_prefetch(vectors_.Row(candidates[i + 2]));
      const uint32_t slot = candidates[i];
      top.Push(l2(query, vectors_.Row(slot), stride), slot);
    }
  };
  if (options_.arena != nullptr &&
      n * stride * sizeof(float) >= static_cast<size_t>(options_.parallel_min_bytes) &&
      options_.arena->max_concurrency() > 1) {
    TopK<IdTieLess> merged = options_.arena->execute([&] {
      return tbb::parallel_reduce(
          tbb::blocked_range<size_t>(0, n, kScanGrain), TopK<IdTieLess>(k, less),
          [&](const tbb::blocked_range<size_t>& r, TopK<IdTieLess> top) {
            scan(r.begin(), r.end(), top);
            return top;
          },
          [](TopK<IdTieLess> a, const TopK<IdTieLess>& b) {
            a.Merge(b);
            return a;
          });
    });
    return std::move(merged).TakeSorted();
  }
  TopK<IdTieLess> top(k, less);
  scan(0, n, top);
  return std::move(top).TakeSorted();
}

std::vector<Hit> NamespaceIndex::QuantizedTopK(const float* query,
                                               const std::vector<uint32_t>& candidates,
                                               size_t k) const {
  const Quantizer& q = quantizer_;
  const size_t cs = code_stride();
  // weights[i] = (query[i] - min[i]) * step[i], as int16 with a common scale chosen so that
  // the int32 dot product cannot overflow.
  std::vector<double> w(dim_);
  double max_abs = 0;
  for (int i = 0; i < dim_; ++i) {
    w[i] = (static_cast<double>(query[i]) - q.min[i]) * q.step[i];
    max_abs = std::max(max_abs, std::fabs(w[i]));
  }
  const double scale = max_abs > 0 ? max_abs / simd::MaxDotWeight(cs) : 1.0;
  std::vector<int16_t> weights(cs, 0);
  for (int i = 0; i < dim_; ++i) weights[i] = static_cast<int16_t>(std::lrint(w[i] / scale));
  const float two_scale = static_cast<float>(2.0 * scale);
  const size_t pool = std::max(k * static_cast<size_t>(std::max(1, options_.rerank_factor)),
                               static_cast<size_t>(std::max(1, options_.min_rerank_pool)));

  struct Partial {
    TopK<SlotTieLess> top;
    std::vector<uint32_t> outliers;
  };
  auto scan = [&](size_t begin, size_t end, Partial& p) {
    const auto dot = kernels_.dot_u8_i16;
    for (size_t i = begin; i < end; ++i) {
      const uint32_t slot = candidates[i];
      if (q.outlier[slot]) {
        p.outliers.push_back(slot);  // clamped codes: rescored exactly, always
        continue;
      }
      // The approximate distance up to the query's constant term.
      const float key = q.code_norm[slot] -
                        two_scale * static_cast<float>(dot(weights.data(), q.codes.Row(slot), cs));
      p.top.Push(key, slot);
    }
  };
  const size_t n = candidates.size();
  Partial first{TopK<SlotTieLess>(pool, SlotTieLess{}), {}};
  if (options_.arena != nullptr && n * cs >= static_cast<size_t>(options_.parallel_min_bytes) &&
      options_.arena->max_concurrency() > 1) {
    first = options_.arena->execute([&] {
      return tbb::parallel_reduce(
          tbb::blocked_range<size_t>(0, n, kScanGrain),
          Partial{TopK<SlotTieLess>(pool, SlotTieLess{}), {}},
          [&](const tbb::blocked_range<size_t>& r, Partial p) {
            scan(r.begin(), r.end(), p);
            return p;
          },
          [](Partial a, const Partial& b) {
            a.top.Merge(b.top);
            a.outliers.insert(a.outliers.end(), b.outliers.begin(), b.outliers.end());
            return a;
          });
    });
  } else {
    scan(0, n, first);
  }
  std::vector<uint32_t> rescore = std::move(first.outliers);
  for (const Hit& hit : std::move(first.top).TakeSorted()) rescore.push_back(hit.slot);
  return ExactTopK(query, rescore.data(), rescore.size(), k);
}

std::vector<Hit> NamespaceIndex::VectorTopK(const std::vector<float>& query,
                                            const std::vector<uint32_t>& candidates, size_t k,
                                            SearchStrategy strategy, bool* approximate) const {
  if (dim_ == 0 || candidates.empty() || k == 0) return {};
  std::vector<float> padded(vectors_.stride(), 0.0f);
  std::copy(query.begin(), query.begin() + dim_, padded.begin());
  const size_t pool = std::max(k * static_cast<size_t>(std::max(1, options_.rerank_factor)),
                               static_cast<size_t>(std::max(1, options_.min_rerank_pool)));
  bool use_quantized = false;
  if (quantizer_.trained && candidates.size() > pool) {
    if (strategy == SearchStrategy::kApproximate) {
      use_quantized = true;
    } else if (strategy == SearchStrategy::kAuto) {
      use_quantized =
          static_cast<int64_t>(candidates.size()) >= options_.approximate_min_candidates &&
          candidates.size() >= 4 * pool;
    }
  }
  if (use_quantized) {
    *approximate = true;
    return QuantizedTopK(padded.data(), candidates, k);
  }
  return ExactTopK(padded.data(), candidates.data(), candidates.size(), k);
}

std::vector<Hit> NamespaceIndex::LexicalTopK(absl::string_view text, const CompiledFilter& cf,
                                             size_t k) const {
  const TextIndex::Scores scores = text_.Score(text);
  if (scores.upper_bound <= 0 || scores.hits.empty()) return {};
  const double below_one = std::nextafter(1.0, 0.0);
  TopK<IdTieLess> top(k, IdTieLess{this});
  for (const TextIndex::Hit& hit : scores.hits) {
    if (!Passes(cf, hit.slot)) continue;
    top.Push(-std::min(hit.score / scores.upper_bound, below_one), hit.slot);
  }
  return std::move(top).TakeSorted();
}

SearchResult NamespaceIndex::Search(const SearchRequest& request, SearchMode mode,
                                    const ParsedFilter& filter) const {
  SearchResult result;
  const CompiledFilter cf = Compile(filter, std::nullopt);
  const auto limit = static_cast<size_t>(request.limit);
  std::vector<std::pair<uint32_t, double>> scored;  // (slot, score)

  if (mode == SearchMode::kVector) {
    if (dim_ == 0 || live_count_ == 0) return result;
    for (const Hit& hit : VectorTopK(request.query_embedding, Candidates(cf), limit,
                                     request.strategy, &result.approximate)) {
      scored.emplace_back(hit.slot, 1.0 / (1.0 + hit.key));
    }
  } else if (mode == SearchMode::kLexical) {
    for (const Hit& hit : LexicalTopK(request.query_text, cf, limit)) {
      scored.emplace_back(hit.slot, -hit.key);
    }
  } else {  // kHybrid: reciprocal-rank fusion, normalised so rank 1 in both lists is 1.0
    const size_t depth = std::max(limit, kHybridMinDepth);
    absl::flat_hash_map<uint32_t, double> fused;
    if (dim_ > 0 && live_count_ > 0 && !request.query_embedding.empty()) {
      const std::vector<Hit> hits = VectorTopK(request.query_embedding, Candidates(cf), depth,
                                               request.strategy, &result.approximate);
      for (size_t r = 0; r < hits.size(); ++r) fused[hits[r].slot] += 1.0 / (kRrfK + r + 1);
    }
    const std::vector<Hit> lexical = LexicalTopK(request.query_text, cf, depth);
    for (size_t r = 0; r < lexical.size(); ++r) fused[lexical[r].slot] += 1.0 / (kRrfK + r + 1);
    const double best = 2.0 / (kRrfK + 1);
    for (const auto& [slot, score] : fused) scored.emplace_back(slot, score / best);
  }

  std::sort(scored.begin(), scored.end(), [this](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && IdLess(a.first, b.first));
  });
  for (const auto& [slot, score] : scored) {
    if (result.results.size() >= limit) break;
    if (!(score >= request.min_score)) continue;
    result.results.push_back(ScoredRecord{Materialize(slot, !request.omit_embeddings), score});
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// Listing

Record NamespaceIndex::Materialize(uint32_t slot, bool with_embedding) const {
  Record record = slots_[slot].record;
  if (with_embedding && dim_ > 0) {
    const float* row = vectors_.Row(slot);
    record.embedding.assign(row, row + dim_);
  }
  return record;
}

std::optional<Record> NamespaceIndex::Get(absl::string_view id, bool with_embedding) const {
  auto it = slot_by_id_.find(id);
  if (it == slot_by_id_.end()) return std::nullopt;
  return Materialize(it->second, with_embedding);
}

ListRecordsResult NamespaceIndex::List(absl::string_view scope_prefix, int limit, int offset,
                                       bool with_embeddings) const {
  ListRecordsResult result;
  ParsedFilter filter;
  filter.scope_prefix = std::string(scope_prefix);
  std::vector<uint32_t> candidates = Candidates(Compile(filter, std::nullopt));
  const size_t begin = static_cast<size_t>(offset);
  if (begin >= candidates.size()) {
    result.next_offset = offset;
    return result;
  }
  const size_t end = std::min(candidates.size(), begin + static_cast<size_t>(limit));
  std::partial_sort(candidates.begin(), candidates.begin() + end, candidates.end(),
                    [this](uint32_t a, uint32_t b) {
                      return created_micros_[a] > created_micros_[b] ||
                             (created_micros_[a] == created_micros_[b] && IdLess(a, b));
                    });
  for (size_t i = begin; i < end; ++i) {
    result.records.push_back(Materialize(candidates[i], with_embeddings));
  }
  result.has_more = candidates.size() > end;
  result.next_offset = static_cast<int>(end);
  return result;
}

ScopeInfo NamespaceIndex::GetScopeInfo(absl::string_view path) const {
  ScopeInfo info;
  info.path = std::string(path);
  ParsedFilter filter;
  filter.scope_prefix = path == "/" ? "" : std::string(path);
  std::vector<uint8_t> has_category(categories_.size(), 0);
  int64_t oldest_slot = -1;
  int64_t newest_slot = -1;
  for (const uint32_t slot : Candidates(Compile(filter, std::nullopt))) {
    ++info.record_count;
    for (const uint32_t id : slots_[slot].category_ids) has_category[id] = 1;
    const int64_t t = created_micros_[slot];
    if (oldest_slot < 0 || t < created_micros_[oldest_slot] ||
        (t == created_micros_[oldest_slot] && IdLess(slot, oldest_slot))) {
      oldest_slot = slot;
    }
    if (newest_slot < 0 || t > created_micros_[newest_slot] ||
        (t == created_micros_[newest_slot] && IdLess(slot, newest_slot))) {
      newest_slot = slot;
    }
  }
  for (size_t id = 0; id < categories_.size(); ++id) {
    if (has_category[id]) info.categories.push_back(categories_[id].name);
  }
  std::sort(info.categories.begin(), info.categories.end());
  if (oldest_slot >= 0) {
    info.oldest_record = slots_[oldest_slot].record.created_at;
    info.oldest_record_micros = created_micros_[oldest_slot];
    info.newest_record = slots_[newest_slot].record.created_at;
    info.newest_record_micros = created_micros_[newest_slot];
  }
  info.child_scopes = ListScopes(filter.scope_prefix);
  return info;
}

std::vector<std::string> NamespaceIndex::ListScopes(absl::string_view parent_prefix) const {
  absl::flat_hash_set<std::string> children;
  for (const ScopeEntry& entry : scopes_) {
    if (entry.refcount <= 0) continue;
    if (std::optional<std::string> child = ImmediateChild(entry.normalized, parent_prefix)) {
      children.insert(*std::move(child));
    }
  }
  std::vector<std::string> out(children.begin(), children.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<CategoryCount> NamespaceIndex::ListCategories(absl::string_view scope_prefix) const {
  std::vector<int64_t> counts(categories_.size(), 0);
  if (scope_prefix.empty()) {
    for (size_t id = 0; id < categories_.size(); ++id) counts[id] = categories_[id].refcount;
  } else {
    ParsedFilter filter;
    filter.scope_prefix = std::string(scope_prefix);
    for (const uint32_t slot : Candidates(Compile(filter, std::nullopt))) {
      for (const uint32_t id : slots_[slot].category_ids) ++counts[id];
    }
  }
  std::vector<CategoryCount> out;
  for (size_t id = 0; id < categories_.size(); ++id) {
    if (counts[id] > 0) out.push_back(CategoryCount{categories_[id].name, counts[id]});
  }
  std::sort(out.begin(), out.end(),
            [](const CategoryCount& a, const CategoryCount& b) { return a.category < b.category; });
  return out;
}

int64_t NamespaceIndex::Count(absl::string_view scope_prefix) const {
  if (scope_prefix.empty()) return static_cast<int64_t>(live_count_);
  int64_t count = 0;
  for (const ScopeEntry& entry : scopes_) {
    if (entry.refcount > 0 && ScopeMatchesPrefix(entry.normalized, scope_prefix)) {
      count += entry.refcount;
    }
  }
  return count;
}

}  // namespace fast_crewai::memory
