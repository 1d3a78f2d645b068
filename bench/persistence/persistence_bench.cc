// The persistence core alone (no gRPC, no Python) against SQLite, side by side in one run
// (Google Benchmark; built, never run by the tests):
//
//   build/bench/persistence/persistence_bench --benchmark_min_time=1
//       --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true           (one command line)
//
// Use many short repetitions: on a shared disk one fsync swings between 0.15 and 5 ms within
// minutes, so a single 2 s repetition of either side can be off by 4x (medians of 3 once showed
// the store at 0.27x SQLite with one thread; 10 interleaved repetitions show parity).
//
// Durable writes per second from T threads, every write acknowledged only once durable:
//  * BM_StoreAddTaskOutput:   PersistenceStore::AddTaskOutput, synchronous=FULL; concurrent
//                             writers share each commit's fsync (group commit). ~1 KB rows, a
//                             new kickoff every 10 rows (as crews write them).
//  * BM_SqliteFullOneRowPerTxn: the peer, what each CrewAI add() is: one connection per thread,
//                             WAL, synchronous=FULL, BEGIN IMMEDIATE / INSERT / COMMIT per row.
// Compare items_per_second of the two at the same thread count. Each benchmark uses its own
// fresh directory under $TMPDIR (default /tmp), i.e. the same disk for both.
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/persistence/bench_util.h"
#include "benchmark/benchmark.h"
#include "server/persistence/persistence_store.h"
#include "server/persistence/sqlite_db.h"
#include "server/util/clock.h"

namespace fast_crewai::persistence {
namespace {

constexpr int kThreadCounts[] = {1, 4, 8, 16};

constexpr char kDirPrefix[] = "fast-crewai-persistence-bench";

// One store (or SQLite file) per benchmark run, shared by its threads: thread 0 creates it
// before the timed loop and removes it afterwards; the others wait for it.
struct Shared {
  absl::Mutex mu;
  int users = 0;
  std::string dir;
  std::unique_ptr<PersistenceStore> store;
  std::atomic<uint64_t> next_writer{0};
};
Shared& shared() {
  static Shared* s = new Shared;
  return *s;
}

PersistenceStore* AcquireStore(benchmark::State& state) {
  Shared& s = shared();
  absl::MutexLock lock(&s.mu);
  if (s.users++ == 0) {
    s.dir = bench::FreshDir(kDirPrefix, "store");
    PersistenceStoreOptions options;
    options.data_dir = s.dir;
    options.clock = RealClock::Get();
    options.sync = SqliteSync::kFull;
    options.max_kickoffs = 1000000;
    absl::StatusOr<std::unique_ptr<PersistenceStore>> store = PersistenceStore::Open(options);
    if (!store.ok()) {
      state.SkipWithError(std::string(store.status().message()).c_str());
      return nullptr;
    }
    s.store = *std::move(store);
  }
  return s.store.get();
}

void ReleaseStore() {
  Shared& s = shared();
  absl::MutexLock lock(&s.mu);
  if (--s.users == 0) {
    if (s.store != nullptr) s.store->Close().IgnoreError();
    s.store.reset();
    std::filesystem::remove_all(s.dir);
  }
}

void BM_StoreAddTaskOutput(benchmark::State& state) {
  PersistenceStore* store = AcquireStore(state);
  if (store == nullptr) return;
  const std::string payload = bench::TaskOutputJson();
  const std::string prefix = absl::StrCat("w", shared().next_writer.fetch_add(1), "-");
  TaskOutputRow templ;
  templ.expected_output = std::string(1, 'e');
  templ.output_json = payload;
  templ.inputs_json = std::string("{}");
  int64_t n = 0;
  for (auto _ : state) {
    TaskOutputRow row = templ;
    row.task_id = absl::StrCat(prefix, "t", n);
    row.task_index = n % 10;
    absl::StatusOr<TaskOutputRow> stored =
        store->AddTaskOutput("/bench/durable", absl::StrCat(prefix, "k", n / 10), std::move(row));
    if (!stored.ok()) {
      state.SkipWithError(std::string(stored.status().message()).c_str());
      break;
    }
    ++n;
  }
  state.SetItemsProcessed(n);
  ReleaseStore();
}

void BM_SqliteFullOneRowPerTxn(benchmark::State& state) {
  static absl::Mutex mu(absl::kConstInit);
  static int users = 0;
  static std::string path;
  {
    absl::MutexLock lock(&mu);
    if (users++ == 0) {
      path = absl::StrCat(bench::FreshDir(kDirPrefix, "sqlite"), "/full.db");
      bench::CreateSqlitePeer(path);
    }
  }
  const std::string payload = bench::TaskOutputJson();
  int64_t n = 0;
  {
    bench::SqlitePeerWriter writer(path);
    for (auto _ : state) {
      writer.Write(state.thread_index(), n, payload);
      ++n;
    }
  }
  state.SetItemsProcessed(n);
  absl::MutexLock lock(&mu);
  if (--users == 0) std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

void ThreadCounts(benchmark::internal::Benchmark* b) {
  for (int threads : kThreadCounts) b->Threads(threads);
  b->UseRealTime();
}

BENCHMARK(BM_StoreAddTaskOutput)->Apply(ThreadCounts);
BENCHMARK(BM_SqliteFullOneRowPerTxn)->Apply(ThreadCounts);

}  // namespace
}  // namespace fast_crewai::persistence

BENCHMARK_MAIN();
