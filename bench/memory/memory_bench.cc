// Micro-benchmarks of the memory core (Google Benchmark; not run by the tests).
//
//   build/bench/memory/memory_bench --benchmark_filter='Scan|Bandwidth'
//
// BM_ReadBandwidth measures how fast this machine streams memory (a SIMD sum over a buffer
// as large as the 100k x 1536 index), the floor for an exact scan. BM_ExactScan reports the
// same bytes/second for a full exact search, so the ratio of the two is the distance from
// the bandwidth floor. The index is built in memory (NamespaceIndex), without SQLite.
#include <immintrin.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "server/memory/distance.h"
#include "server/memory/memory_store.h"
#include "server/memory/namespace_index.h"
#include "server/memory/validation.h"
#include "tbb/blocked_range.h"
#include "tbb/parallel_reduce.h"
#include "tbb/task_arena.h"

namespace fast_crewai::memory {
namespace {

std::vector<float> RandomVector(std::mt19937& rng, int dim) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(dim);
  for (float& x : v) x = normal(rng);
  return v;
}

// One index per (rows, dim, threads), built once and kept for the whole run.
struct Fixture {
  std::unique_ptr<tbb::task_arena> arena;
  std::unique_ptr<NamespaceIndex> index;
  std::vector<std::vector<float>> queries;
};

Fixture& GetFixture(int rows, int dim, int threads) {
  static std::map<std::tuple<int, int, int>, std::unique_ptr<Fixture>> fixtures;
  auto& slot = fixtures[{rows, dim, threads}];
  if (slot != nullptr) return *slot;
  slot = std::make_unique<Fixture>();
  slot->arena = std::make_unique<tbb::task_arena>(threads);
  IndexOptions options;
  options.arena = slot->arena.get();
  options.approximate_min_candidates = 50000;
  slot->index = std::make_unique<NamespaceIndex>(options);
  slot->index->SetDim(dim);
  std::mt19937 rng(42);
  for (int i = 0; i < rows; ++i) {
    PreparedRecord r;
    r.record.id = absl::StrCat("r", i);
    r.record.content = "benchmark record";
    r.record.scope = i % 10 == 0 ? "/crew/rare" : "/crew/common";
    r.record.embedding = RandomVector(rng, dim);
    slot->index->Upsert(std::move(r));
  }
  slot->index->MaintainQuantizer();
  for (int q = 0; q < 16; ++q) slot->queries.push_back(RandomVector(rng, dim));
  return *slot;
}

void RunSearch(benchmark::State& state, SearchStrategy strategy, const char* scope) {
  const int rows = static_cast<int>(state.range(0));
  const int dim = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  Fixture& f = GetFixture(rows, dim, threads);
  ParsedFilter filter;
  filter.scope_prefix = scope;
  SearchRequest request;
  request.limit = 10;
  request.strategy = strategy;
  request.omit_embeddings = true;
  size_t q = 0;
  bool approximate = false;
  for (auto _ : state) {
    request.query_embedding = f.queries[q++ % f.queries.size()];
    SearchResult result = f.index->Search(request, SearchMode::kVector, filter);
    approximate = result.approximate;
    benchmark::DoNotOptimize(result);
  }
  // Bytes of float32 rows an exact scan reads (the padded stride is dim rounded up to 16).
  const int64_t stride = (dim + 15) / 16 * 16;
  state.SetBytesProcessed(state.iterations() * int64_t{rows} * stride * 4);
  state.counters["approximate"] = approximate ? 1 : 0;
  state.SetLabel(simd::BestKernels().name);
}

void BM_ExactScan(benchmark::State& state) { RunSearch(state, SearchStrategy::kExact, ""); }
void BM_ExactScanScope10pct(benchmark::State& state) {
  RunSearch(state, SearchStrategy::kExact, "/crew/rare");
}
void BM_ApproximateScan(benchmark::State& state) { RunSearch(state, SearchStrategy::kAuto, ""); }

// The floor: stream a buffer of the index's size through AVX-512/AVX2 adds.
__attribute__((target("avx2"))) float SumAvx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(a0, a1));
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

void BM_ReadBandwidth(benchmark::State& state) {
  const size_t floats = static_cast<size_t>(state.range(0)) * static_cast<size_t>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  static std::map<size_t, float*> buffers;
  float*& buffer = buffers[floats];
  if (buffer == nullptr) {
    buffer = static_cast<float*>(::operator new[](floats * sizeof(float), std::align_val_t(64)));
    for (size_t i = 0; i < floats; ++i) buffer[i] = static_cast<float>(i % 7);
  }
  tbb::task_arena arena(threads);
  for (auto _ : state) {
    float sum = arena.execute([&] {
      return tbb::parallel_reduce(
          tbb::blocked_range<size_t>(0, floats / 16, 4096), 0.0f,
          [&](const tbb::blocked_range<size_t>& r, float acc) {
            return acc + SumAvx2(buffer + r.begin() * 16, (r.end() - r.begin()) * 16);
          },
          [](float a, float b) { return a + b; });
    });
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(floats * sizeof(float)));
}

// Durable saves through the whole store (SQLite, group commit): (dim, records per call,
// sync: 1 = kFull, 0 = kNormal). Real time includes the WAL fsync of kFull.
void BM_SaveBatch(benchmark::State& state) {
  const int dim = static_cast<int>(state.range(0));
  const int batch_size = static_cast<int>(state.range(1));
  char templ[] = "/tmp/fast_crewai_bench.XXXXXX";
  const std::string dir = ::mkdtemp(templ);
  MemoryStoreOptions options;
  options.data_dir = dir;
  options.sync = state.range(2) != 0 ? persistence::SqliteSync::kFull
                                     : persistence::SqliteSync::kNormal;
  std::unique_ptr<MemoryStore> store = *MemoryStore::Open(options);
  std::mt19937 rng(1);
  int next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Record> batch;
    for (int i = 0; i < batch_size; ++i) {
      Record r;
      r.id = absl::StrCat("r", next++);
      r.content = "benchmark record";
      r.scope = "/crew/a";
      r.metadata_json = R"({"n": 1})";
      r.embedding = RandomVector(rng, dim);
      batch.push_back(std::move(r));
    }
    state.ResumeTiming();
    benchmark::DoNotOptimize(store->Save("bench", std::move(batch)));
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
  (void)store->Close();
  store.reset();
  std::filesystem::remove_all(dir);
}

// Start-up: Open() of a store holding `rows` records of `dim` dimensions (SQLite read, JSON
// parse, index and quantizer build).
void BM_OpenRebuild(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0));
  const int dim = static_cast<int>(state.range(1));
  char templ[] = "/tmp/fast_crewai_bench.XXXXXX";
  const std::string dir = ::mkdtemp(templ);
  MemoryStoreOptions options;
  options.data_dir = dir;
  options.sync = persistence::SqliteSync::kNormal;
  {
    std::unique_ptr<MemoryStore> store = *MemoryStore::Open(options);
    std::mt19937 rng(3);
    for (int i = 0; i < rows; i += 1000) {
      std::vector<Record> batch;
      for (int j = i; j < i + 1000 && j < rows; ++j) {
        Record r;
        r.id = absl::StrCat("r", j);
        r.content = "benchmark record";
        r.scope = "/crew/a";
        r.metadata_json = R"({"k": 1})";
        r.embedding = RandomVector(rng, dim);
        batch.push_back(std::move(r));
      }
      (void)store->Save("bench", std::move(batch));
    }
    (void)store->Close();
  }
  for (auto _ : state) {
    std::unique_ptr<MemoryStore> store = *MemoryStore::Open(options);
    benchmark::DoNotOptimize(store);
    state.PauseTiming();
    store.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * rows);
  std::filesystem::remove_all(dir);
}

// (rows, dim, threads)
BENCHMARK(BM_ReadBandwidth)
    ->Args({100000, 1536, 1})
    ->Args({100000, 1536, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ExactScan)
    ->Args({10000, 1536, 1})
    ->Args({100000, 1536, 1})
    ->Args({100000, 1536, 2})
    ->Args({10000, 3072, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ExactScanScope10pct)
    ->Args({100000, 1536, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ApproximateScan)
    ->Args({100000, 1536, 1})
    ->Args({100000, 1536, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// (dim, records per call, sync full)
BENCHMARK(BM_SaveBatch)
    ->Args({1536, 1, 1})
    ->Args({1536, 1, 0})
    ->Args({1536, 10, 1})
    ->Args({1536, 10, 0})
    ->Args({1536, 500, 1})
    ->Args({1536, 500, 0})
    ->Args({3072, 500, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_OpenRebuild)
    ->Args({100000, 1536})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace fast_crewai::memory

BENCHMARK_MAIN();
