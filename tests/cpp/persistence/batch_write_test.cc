// PersistenceStore::AddTaskOutputs (several rows, one transaction) and AddTaskOutputsAsync
// (the callback writes the gRPC adapter queues without parking a thread): validation,
// atomicity, durability, and the group-commit hand-over between the submitting thread, the
// write executor and blocking writers.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/persistence/persistence_store.h"
#include "server/util/executor.h"
#include "tests/cpp/persistence/persistence_test_util.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/commit_gate.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::persistence {
namespace {

using ::fast_crewai::testing::CommitGate;
using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Ids;
using testing::OpenOrDie;
using testing::Row;
using testing::TestOptions;

constexpr char kNs[] = "/home/u/.local/share/proj/latest_kickoff_task_outputs.db";

std::vector<TaskOutputRow> Rows(std::initializer_list<std::pair<const char*, int>> rows) {
  std::vector<TaskOutputRow> out;
  for (const auto& [id, index] : rows) out.push_back(Row(id, index));
  return out;
}

// Collects the results of callback writes.
struct Results {
  absl::Mutex mu;
  std::vector<absl::Status> statuses ABSL_GUARDED_BY(mu);
  int calls ABSL_GUARDED_BY(mu) = 0;

  PersistenceStore::AddTaskOutputsDone Callback() {
    return [this](absl::StatusOr<std::vector<TaskOutputRow>> stored) {
      absl::MutexLock lock(&mu);
      ++calls;
      statuses.push_back(stored.status());
    };
  }
  int Calls() {
    absl::MutexLock lock(&mu);
    return calls;
  }
  void WaitFor(int n) {
    absl::MutexLock lock(&mu);
    std::pair<Results*, int> arg(this, n);
    mu.Await(absl::Condition(
        +[](std::pair<Results*, int>* a)
             ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->first->calls >= a->second; },
        &arg));
  }
};

class BatchWriteTest : public ::testing::Test {
 protected:
  void Open(PersistenceStoreOptions options) {
    store_ = OpenOrDie(options);
    ASSERT_NE(store_, nullptr);
  }
  void Reopen() {
    ASSERT_OK(store_->Close());
    store_.reset();
    Open(TestOptions(dir_.path(), &clock_));
  }
  std::vector<std::string> LoadIds(const std::string& kickoff) {
    auto k = store_->LoadTaskOutputs(KickoffSelector::ById(kickoff));
    EXPECT_TRUE(k.ok()) << k.status();
    return k.ok() && *k != nullptr ? Ids(k->get()) : std::vector<std::string>{};
  }

  TempDir dir_;
  FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  std::unique_ptr<PersistenceStore> store_;
};

TEST_F(BatchWriteTest, BatchStoresEveryRowInOrderInOneCommitAndSurvivesReopen) {
  Open(TestOptions(dir_.path(), &clock_));
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("t1", 1)).status());
  const int64_t commits_before = store_->GetStats().commits;
  ASSERT_OK_AND_ASSIGN(std::vector<TaskOutputRow> stored,
                       store_->AddTaskOutputs(kNs, "k", Rows({{"t2", 2}, {"t0", 0}, {"t1", 1}})));
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored[0].task_id, "t2");  // request order
  EXPECT_EQ(stored[2].timestamp, "2023-11-14 22:13:20");
  EXPECT_EQ(store_->GetStats().commits, commits_before + 1);
  // INSERT OR REPLACE per row, in order: t1 was replaced and is now the newest of index 1.
  EXPECT_THAT(LoadIds("k"), ElementsAre("t0@0", "t1@1", "t2@2"));
  Reopen();
  EXPECT_THAT(LoadIds("k"), ElementsAre("t0@0", "t1@1", "t2@2"));
  EXPECT_EQ(store_->GetStats().task_outputs, 3);
}

TEST_F(BatchWriteTest, ABadRowFailsTheWholeBatchNamingItAndNothingIsStored) {
  Open(TestOptions(dir_.path(), &clock_));
  std::vector<TaskOutputRow> rows = Rows({{"a", 0}, {"b", 1}, {"c", 2}});
  rows[1].output_json = "{not json";
  EXPECT_THAT(store_->AddTaskOutputs(kNs, "k", rows),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rows[1].output_json")));
  rows[1].output_json = "{}";
  rows[2].task_index = -1;
  EXPECT_THAT(store_->AddTaskOutputs(kNs, "k", rows),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rows[2].task_index")));
  EXPECT_THAT(store_->AddTaskOutputs(kNs, "k", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rows: must not be empty")));
  EXPECT_THAT(store_->AddTaskOutputs(kNs, "", rows),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kickoff_id")));
  EXPECT_EQ(store_->GetStats().kickoffs, 0);
  EXPECT_EQ(store_->GetStats().commits, 0);
  Reopen();
  EXPECT_EQ(store_->GetStats().task_outputs, 0);
}

TEST_F(BatchWriteTest, CallbackWriteWithoutExecutorIsLedByTheCaller) {
  Open(TestOptions(dir_.path(), &clock_));
  Results results;
  store_->AddTaskOutputsAsync(kNs, "k", Rows({{"a", 0}, {"b", 1}}), /*batch=*/true,
                              /*may_lead=*/false, results.Callback());
  ASSERT_EQ(results.Calls(), 1);  // led inline: done before returning
  EXPECT_THAT(LoadIds("k"), ElementsAre("a@0", "b@1"));
  // Validation errors are reported at once and name the row like the blocking calls.
  std::vector<TaskOutputRow> bad = Rows({{"c", 0}});
  bad[0].inputs_json = "[";
  store_->AddTaskOutputsAsync(kNs, "k", bad, /*batch=*/false, true, results.Callback());
  store_->AddTaskOutputsAsync(kNs, "k", bad, /*batch=*/true, true, results.Callback());
  absl::MutexLock lock(&results.mu);
  ASSERT_EQ(results.calls, 3);
  EXPECT_THAT(results.statuses[0], IsOk());
  EXPECT_THAT(results.statuses[1],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row.inputs_json")));
  EXPECT_THAT(results.statuses[2],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rows[0].inputs_json")));
}

TEST_F(BatchWriteTest, CallbackWritesQueuedBehindABusyLeaderDoNotWaitAndShareCommits) {
  ThreadPoolExecutor executor(2, "test-leader");
  PersistenceStoreOptions options = TestOptions(dir_.path(), &clock_);
  options.write_executor = &executor;
  CommitGate gate;
  options.before_commit_hook = gate.Hook();
  Open(options);
  // A blocking writer leads and is held inside its commit.
  std::thread blocker([&] { EXPECT_OK(store_->SaveFlowState("f", "m", "{}", "")); });
  gate.WaitUntilHolding();

  Results results;
  constexpr int kWrites = 20;
  for (int i = 0; i < kWrites; ++i) {
    // may_lead: the queue is busy, so these must return at once without completing.
    store_->AddTaskOutputsAsync(kNs, absl::StrCat("k", i % 4), Rows({{"t", 0}}),
                                /*batch=*/false, /*may_lead=*/true, results.Callback());
  }
  EXPECT_EQ(results.Calls(), 0);
  // A blocking writer queued behind callback writes is taken along by their leader.
  std::thread late_blocker([&] { EXPECT_OK(store_->SaveFlowState("g", "m", "{}", "")); });
  while (store_->GetStats().pending_writes < kWrites + 2) std::this_thread::yield();
  gate.Release();
  results.WaitFor(kWrites);
  blocker.join();
  late_blocker.join();
  executor.Shutdown();
  {
    absl::MutexLock lock(&results.mu);
    EXPECT_EQ(results.calls, kWrites);
    for (const absl::Status& s : results.statuses) EXPECT_THAT(s, IsOk());
  }
  const PersistenceStoreStats stats = store_->GetStats();
  EXPECT_EQ(stats.committed_writes, kWrites + 2);
  EXPECT_LE(stats.commits, 3);  // the held one, then the queued ones together
  EXPECT_EQ(stats.pending_writes, 0);
  EXPECT_EQ(stats.kickoffs, 4);
  Reopen();
  EXPECT_EQ(store_->GetStats().kickoffs, 4);
}

TEST_F(BatchWriteTest, ManyThreadsOfCallbackAndBlockingWritesAllCompleteExactlyOnce) {
  ThreadPoolExecutor executor(3, "test-leader");
  PersistenceStoreOptions options = TestOptions(dir_.path(), &clock_);
  options.write_executor = &executor;
  Open(options);
  Results results;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string kickoff = absl::StrCat("k", t, "-", i / 10);
        if (t % 4 == 3) {  // some blocking writers in the same queue
          EXPECT_OK(
              store_->AddTaskOutput(kNs, kickoff, Row(absl::StrCat("t", i), i % 10)).status());
        } else {
          store_->AddTaskOutputsAsync(kNs, kickoff, Rows({{"x", 0}}), false, /*may_lead=*/i % 2,
                                      results.Callback());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const int async_writes = (kThreads - kThreads / 4) * kPerThread;
  results.WaitFor(async_writes);
  executor.Shutdown();
  absl::MutexLock lock(&results.mu);
  EXPECT_EQ(results.calls, async_writes);
  for (const absl::Status& s : results.statuses) EXPECT_THAT(s, IsOk());
  const PersistenceStoreStats stats = store_->GetStats();
  EXPECT_EQ(stats.committed_writes, kThreads * kPerThread);
  EXPECT_EQ(stats.pending_writes, 0);
  EXPECT_EQ(stats.kickoffs, kThreads * kPerThread / 10);
}

TEST_F(BatchWriteTest, CallbackWriteAfterCloseFailsThroughTheCallback) {
  Open(TestOptions(dir_.path(), &clock_));
  ASSERT_OK(store_->Close());
  Results results;
  store_->AddTaskOutputsAsync(kNs, "k", Rows({{"a", 0}}), false, true, results.Callback());
  absl::MutexLock lock(&results.mu);
  ASSERT_EQ(results.calls, 1);
  EXPECT_THAT(results.statuses[0],
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  store_.reset();
}

}  // namespace
}  // namespace fast_crewai::persistence
