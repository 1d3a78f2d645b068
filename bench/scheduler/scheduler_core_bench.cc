// The scheduler core alone (no gRPC, no Python; Google Benchmark; built, never run by the
// tests). The end-to-end figures against a peer come from bench/scheduler_bench.py; these show
// what the core itself costs:
//
//   build/bench/scheduler/scheduler_core_bench --benchmark_min_time=1
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true   (one command line)
//
//  * BM_DispatchToParkedWorker: a worker is parked in LeaseNodes; ApplyCreateRun of a one-node
//    run hands the node to it. Time per iteration = park + create + hand-off (in memory; the
//    commit is not part of dispatch).
//  * BM_LeaseComplete: lease one ready node and complete it (in memory), from a run of 10000
//    independent nodes.
//  * BM_DurableCycle: CreateRun + LeaseNodes + CompleteNode, each acknowledged once durable
//    (synchronous=FULL), from T threads: concurrent commits share an fsync (group commit).
//  * BM_RateLimiterAcquire: one shared name from T threads.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "server/scheduler/rate_limiter.h"
#include "server/scheduler/scheduler.h"
#include "server/util/clock.h"

namespace fast_crewai::scheduler {
namespace {

std::string FreshDir(const char* name) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp",
                                   "/fast-crewai-scheduler-bench-", name, ".XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) std::abort();
  return templ;
}

std::unique_ptr<Scheduler> OpenOrDie(const std::string& dir, persistence::SqliteSync sync) {
  SchedulerOptions options;
  options.data_dir = dir;
  options.clock = RealClock::Get();
  options.sync = sync;
  auto s = Scheduler::Open(options);
  if (!s.ok()) std::abort();
  return *std::move(s);
}

RunSpec OneNode(const std::string& queue) {
  RunSpec spec;
  spec.queue = queue;
  NodeSpec n;
  n.node_id = "task";
  n.payload = R"({"crew": "bench", "inputs": {"topic": "sqlite"}})";
  spec.nodes.push_back(std::move(n));
  return spec;
}

void BM_DispatchToParkedWorker(benchmark::State& state) {
  const std::string dir = FreshDir("dispatch");
  auto s = OpenOrDie(dir, persistence::SqliteSync::kNormal);
  int64_t i = 0;
  for (auto _ : state) {
    std::optional<std::string> lease_id;
    s->LeaseNodes({"w", "", 1, absl::Seconds(60)},
                  [&](absl::StatusOr<std::vector<LeaseGrant>> r) {
                    if (r.ok() && !r->empty()) lease_id = (*r)[0].lease_id;
                  });
    if (!s->ApplyCreateRun(OneNode("")).ok() || !lease_id.has_value()) {
      state.SkipWithError("not dispatched");
      break;
    }
    state.PauseTiming();
    if (!s->ApplyCompleteNode(*lease_id, "out").ok()) std::abort();
    if (++i % 1000 == 0 && !s->Sync().ok()) std::abort();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());
  if (!s->Close().ok()) std::abort();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_DispatchToParkedWorker);

void BM_LeaseComplete(benchmark::State& state) {
  const std::string dir = FreshDir("lease");
  auto s = OpenOrDie(dir, persistence::SqliteSync::kNormal);
  const auto make_run = [&] {
    RunSpec spec;
    for (int n = 0; n < 10000; ++n) {
      NodeSpec node;
      node.node_id = absl::StrCat("n", n);
      node.payload = "{}";
      spec.nodes.push_back(std::move(node));
    }
    if (!s->CreateRun(std::move(spec)).ok()) std::abort();
  };
  make_run();
  int64_t done = 0;
  for (auto _ : state) {
    std::optional<std::string> lease_id;
    s->LeaseNodes({"w", "", 1, absl::ZeroDuration()},
                  [&](absl::StatusOr<std::vector<LeaseGrant>> r) {
                    if (r.ok() && !r->empty()) lease_id = (*r)[0].lease_id;
                  });
    if (!lease_id.has_value() || !s->ApplyCompleteNode(*lease_id, "out").ok()) std::abort();
    if (++done % 10000 == 0) {
      state.PauseTiming();
      if (!s->Sync().ok()) std::abort();
      make_run();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (!s->Close().ok()) std::abort();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_LeaseComplete);

struct Shared {
  absl::Mutex mu;
  int users = 0;
  std::string dir;
  std::unique_ptr<Scheduler> scheduler;
};
Shared& shared() {
  static Shared* s = new Shared;
  return *s;
}

void BM_DurableCycle(benchmark::State& state) {
  Shared& sh = shared();
  {
    absl::MutexLock lock(&sh.mu);
    if (sh.users++ == 0) {
      sh.dir = FreshDir("durable");
      sh.scheduler = OpenOrDie(sh.dir, persistence::SqliteSync::kFull);
    }
  }
  Scheduler* s = sh.scheduler.get();
  const std::string queue = absl::StrCat("q", state.thread_index());
  for (auto _ : state) {
    if (!s->CreateRun(OneNode(queue)).ok()) std::abort();
    std::optional<std::string> lease_id;
    s->LeaseNodes({"w", queue, 1, absl::ZeroDuration()},
                  [&](absl::StatusOr<std::vector<LeaseGrant>> r) {
                    if (r.ok() && !r->empty()) lease_id = (*r)[0].lease_id;
                  });
    if (!lease_id.has_value() || !s->CompleteNode(*lease_id, "out").ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
  absl::MutexLock lock(&sh.mu);
  if (--sh.users == 0) {
    if (!sh.scheduler->Close().ok()) std::abort();
    sh.scheduler.reset();
    std::filesystem::remove_all(sh.dir);
  }
}
BENCHMARK(BM_DurableCycle)->Threads(1)->Threads(4)->Threads(16)->UseRealTime();

void BM_RateLimiterAcquire(benchmark::State& state) {
  static RateLimiter* limiter = new RateLimiter(RealClock::Get(), RateLimiterOptions{});
  for (auto _ : state) {
    if (!limiter->Acquire("shared-key", 1000000, 1).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RateLimiterAcquire)->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace fast_crewai::scheduler

BENCHMARK_MAIN();
