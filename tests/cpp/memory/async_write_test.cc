// MemoryStore's callback writes (SaveAsync, UpdateAsync, DeleteAsync: what the gRPC adapter
// queues without parking a thread): results as the blocking calls give them, validation on the
// calling thread, durability, and the group-commit hand-over between the submitting thread,
// the write executor and blocking writers.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/memory/memory_store.h"
#include "server/util/executor.h"
#include "tests/cpp/memory/memory_test_util.h"
#include "tests/cpp/testing/commit_gate.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::memory {
namespace {

using ::fast_crewai::testing::CommitGate;
using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeRecord;
using testing::TestOptions;

constexpr char kNs[] = "ns";

// Collects the results of callback writes (any of the three kinds) in completion order.
struct Results {
  absl::Mutex mu;
  std::vector<absl::Status> statuses ABSL_GUARDED_BY(mu);
  std::vector<int64_t> values ABSL_GUARDED_BY(mu);  // vector_dim or deleted count; -1 else

  void Add(absl::Status status, int64_t value) {
    absl::MutexLock lock(&mu);
    statuses.push_back(std::move(status));
    values.push_back(value);
  }
  MemoryStore::SaveDone Save() {
    return [this](absl::StatusOr<SaveResult> r) { Add(r.status(), r.ok() ? r->vector_dim : -1); };
  }
  MemoryStore::UpdateDone Update() {
    return [this](absl::Status s) { Add(std::move(s), -1); };
  }
  MemoryStore::DeleteDone Delete() {
    return [this](absl::StatusOr<int64_t> r) { Add(r.status(), r.ok() ? *r : -1); };
  }
  int Calls() {
    absl::MutexLock lock(&mu);
    return static_cast<int>(statuses.size());
  }
  void WaitFor(int n) {
    absl::MutexLock lock(&mu);
    std::pair<Results*, int> arg(this, n);
    mu.Await(absl::Condition(
        +[](std::pair<Results*, int>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return static_cast<int>(a->first->statuses.size()) >= a->second;
        },
        &arg));
  }
};

std::unique_ptr<MemoryStore> OpenOrDie(const MemoryStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<MemoryStore>> store = MemoryStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

std::vector<Record> One(Record r) {
  std::vector<Record> out;
  out.push_back(std::move(r));
  return out;
}

DeleteRequest ByIds(std::vector<std::string> ids) {
  DeleteRequest request;
  request.record_ids = std::move(ids);
  return request;
}

TEST(AsyncWriteTest, WithoutAnExecutorTheCallerLeadsAndResultsMatchTheBlockingCalls) {
  TempDir dir;
  std::unique_ptr<MemoryStore> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  Results results;
  // may_lead = false and no write_executor: the inline executor leads on this thread.
  store->SaveAsync(kNs, {MakeRecord("a", "alpha", "/x", {1, 2}), MakeRecord("b", "beta", "/x")},
                   /*may_lead=*/false, results.Save());
  ASSERT_EQ(results.Calls(), 1);  // done before returning
  store->UpdateAsync(kNs, MakeRecord("b", "beta v2", "/y", {3, 4}), /*may_lead=*/true,
                     results.Update());
  store->DeleteAsync(kNs, ByIds({"a", "missing"}), /*may_lead=*/true, results.Delete());
  {
    absl::MutexLock lock(&results.mu);
    ASSERT_EQ(results.statuses.size(), 3u);
    for (const absl::Status& s : results.statuses) EXPECT_THAT(s, IsOk());
    EXPECT_EQ(results.values[0], 2);  // the dimension the save fixed
    EXPECT_EQ(results.values[2], 1);  // one record deleted
  }
  EXPECT_FALSE(store->GetRecord(kNs, "a")->has_value());
  ASSERT_OK_AND_ASSIGN(std::optional<Record> b, store->GetRecord(kNs, "b"));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->content, "beta v2");
  EXPECT_EQ(b->scope, "/y");
  EXPECT_EQ(b->embedding, (std::vector<float>{3, 4}));
  EXPECT_EQ(store->GetStats().commits, 3);
  // Durable: a reopened store (no Close: the WAL is replayed) has the same.
  store.reset();
  store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Count(kNs, ""), 1);
  EXPECT_EQ((*store->GetRecord(kNs, "b"))->content, "beta v2");
}

TEST(AsyncWriteTest, BadRequestsAndEmptyBatchesAnswerBeforeReturningWithoutACommit) {
  TempDir dir;
  std::unique_ptr<MemoryStore> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->Save(kNs, One(MakeRecord("a", "x", "/", {1, 2}))));
  const int64_t commits = store->GetStats().commits;
  Results results;
  Record bad = MakeRecord("b", "x", "no-slash");
  store->SaveAsync(kNs, {MakeRecord("ok", "x"), bad}, true, results.Save());
  store->SaveAsync(kNs, One(MakeRecord("c", "x", "/", {1, 2, 3})), true, results.Save());
  store->UpdateAsync(kNs, MakeRecord("", "x"), true, results.Update());
  store->DeleteAsync(kNs, ByIds({"a", "bad\x01id"}), true, results.Delete());
  store->SaveAsync("", One(MakeRecord("d", "x")), true, results.Save());
  store->SaveAsync(kNs, {}, true, results.Save());      // nothing to write: the dimension
  store->SaveAsync("other", {}, true, results.Save());  // an unknown namespace: 0
  absl::MutexLock lock(&results.mu);
  ASSERT_EQ(results.statuses.size(), 7u);
  EXPECT_THAT(results.statuses[0],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("records[1].scope")));
  EXPECT_THAT(results.statuses[1],
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("records[0].embedding")));
  EXPECT_THAT(results.statuses[2],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("record.id")));
  EXPECT_THAT(results.statuses[3],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("record_ids[1]")));
  EXPECT_THAT(results.statuses[4],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("namespace")));
  EXPECT_THAT(results.statuses[5], IsOk());
  EXPECT_EQ(results.values[5], 2);
  EXPECT_THAT(results.statuses[6], IsOk());
  EXPECT_EQ(results.values[6], 0);
  EXPECT_EQ(store->GetStats().commits, commits);
  EXPECT_EQ(*store->Count(kNs, ""), 1);
  EXPECT_FALSE(store->DescribeNamespace("other")->exists);
}

TEST(AsyncWriteTest, CallbackWritesQueuedBehindABusyLeaderDoNotWaitAndShareCommits) {
  TempDir dir;
  ThreadPoolExecutor executor(2, "test-leader");
  MemoryStoreOptions options = TestOptions(dir.path());
  options.write_executor = &executor;
  CommitGate gate;
  options.before_commit_hook = gate.Hook();
  std::unique_ptr<MemoryStore> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  // A blocking writer leads and is held inside its commit.
  std::thread blocker([&] { EXPECT_OK(store->Save(kNs, One(MakeRecord("first", "x")))); });
  gate.WaitUntilHolding();

  Results results;
  constexpr int kWrites = 20;
  for (int i = 0; i < kWrites; ++i) {
    // may_lead: the queue is busy, so these must return at once without completing.
    store->SaveAsync(kNs, One(MakeRecord(absl::StrCat("r", i), "x", "/", {1, float(i)})),
                     /*may_lead=*/true, results.Save());
  }
  store->DeleteAsync(kNs, ByIds({"r0", "r1"}), /*may_lead=*/true, results.Delete());
  EXPECT_EQ(results.Calls(), 0);
  // A blocking writer queued behind callback writes is taken along by their leader.
  std::thread late_blocker([&] { EXPECT_OK(store->Update(kNs, MakeRecord("r5", "late"))); });
  while (store->GetStats().pending_writes < kWrites + 3) std::this_thread::yield();
  gate.Release();
  results.WaitFor(kWrites + 1);
  blocker.join();
  late_blocker.join();
  executor.Shutdown();
  {
    absl::MutexLock lock(&results.mu);
    ASSERT_EQ(results.statuses.size(), static_cast<size_t>(kWrites + 1));
    for (const absl::Status& s : results.statuses) EXPECT_THAT(s, IsOk());
    EXPECT_EQ(results.values.back(), 2);  // the delete, queued after r0 and r1, saw them
  }
  const MemoryStoreStats stats = store->GetStats();
  EXPECT_EQ(stats.committed_writes, kWrites + 3);
  EXPECT_LE(stats.commits, 3);  // the held one, then the queued ones together
  EXPECT_EQ(stats.pending_writes, 0);
  EXPECT_EQ(*store->Count(kNs, ""), kWrites - 2 + 1);
  EXPECT_EQ((*store->GetRecord(kNs, "r5"))->content, "late");  // queue order: update last
  ASSERT_OK(store->Close());
  store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Count(kNs, ""), kWrites - 2 + 1);
  EXPECT_EQ((*store->GetRecord(kNs, "r5"))->content, "late");
}

// memory.db rows are keyed by seq, which the store assigns: within one group, an id saved,
// deleted and saved again, an id saved twice, and a committed record updated must each end
// as one row with the last content, the committed one in its own row, also after reopen.
TEST(AsyncWriteTest, OneGroupSavingDeletingAndSavingAgainLeavesOneRowPerRecord) {
  TempDir dir;
  std::unique_ptr<MemoryStore> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->Save(kNs, {MakeRecord("c", "c1"), MakeRecord("d", "d1")}));
  ASSERT_OK(store->Close());
  ThreadPoolExecutor executor(2, "test-leader");
  MemoryStoreOptions options = TestOptions(dir.path());
  options.write_executor = &executor;
  CommitGate hold;
  options.before_commit_hook = hold.Hook();
  store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);

  std::thread blocker([&] { EXPECT_OK(store->Save(kNs, One(MakeRecord("first", "x")))); });
  hold.WaitUntilHolding();
  Results results;
  store->SaveAsync(kNs, One(MakeRecord("a", "a1")), true, results.Save());
  store->SaveAsync(kNs, One(MakeRecord("b", "b1")), true, results.Save());
  store->DeleteAsync(kNs, ByIds({"a", "d"}), true, results.Delete());
  store->SaveAsync(kNs, One(MakeRecord("a", "a2")), true, results.Save());
  store->SaveAsync(kNs, One(MakeRecord("b", "b2")), true, results.Save());
  store->UpdateAsync(kNs, MakeRecord("c", "c2"), true, results.Update());
  store->SaveAsync(kNs, One(MakeRecord("d", "d2")), true, results.Save());
  while (store->GetStats().pending_writes < 8) std::this_thread::yield();
  hold.Release();
  results.WaitFor(7);
  blocker.join();
  executor.Shutdown();
  {
    absl::MutexLock lock(&results.mu);
    for (const absl::Status& s : results.statuses) EXPECT_THAT(s, IsOk());
    EXPECT_EQ(results.values[2], 2);  // the delete saw a (pending) and d (committed)
  }
  EXPECT_EQ(store->GetStats().commits, 2);  // first, then the group
  const auto contents = [&] {
    std::vector<std::string> out;
    for (const char* id : {"a", "b", "c", "d", "first"}) {
      absl::StatusOr<std::optional<Record>> r = store->GetRecord(kNs, id);
      out.push_back(r.ok() && r->has_value() ? (*r)->content : "missing");
    }
    return out;
  };
  EXPECT_THAT(contents(), ElementsAre("a2", "b2", "c2", "d2", "x"));
  ASSERT_OK(store->Close());
  {
    SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READONLY);
    SQLite::Statement rows(db, "SELECT seq, id, content FROM records ORDER BY seq");
    std::vector<std::string> got;
    while (rows.executeStep()) {
      got.push_back(absl::StrCat(rows.getColumn(0).getInt64(), ":",
                                 rows.getColumn(1).getString(), ":",
                                 rows.getColumn(2).getString()));
    }
    // c kept row 1; d was deleted and saved again, so it has a new row, as has a.
    EXPECT_THAT(got, ElementsAre("1:c:c2", "3:first:x", "5:b:b2", "6:a:a2", "7:d:d2"));
  }
  store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(contents(), ElementsAre("a2", "b2", "c2", "d2", "x"));
  ASSERT_OK(store->Save(kNs, {MakeRecord("a", "a3"), MakeRecord("e", "e1")}));
  ASSERT_OK(store->Close());
  SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM records").getInt(), 6);
  EXPECT_EQ(db.execAndGet("SELECT seq FROM records WHERE id = 'a'").getInt64(), 6);
  EXPECT_EQ(db.execAndGet("SELECT seq FROM records WHERE id = 'e'").getInt64(), 8)
      << "after a reopen, new rows continue after the largest one";
}

// memory_max_records within one group: the group's earlier writes count, a delete makes
// room for a later save, and a refused save leaves the rest of the group as it was.
TEST(AsyncWriteTest, OneGroupCountsItsOwnWritesAgainstMaxRecords) {
  TempDir dir;
  ThreadPoolExecutor executor(2, "test-leader");
  MemoryStoreOptions options = TestOptions(dir.path());
  options.max_records = 3;
  options.write_executor = &executor;
  CommitGate hold;
  options.before_commit_hook = hold.Hook();
  std::unique_ptr<MemoryStore> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  std::thread blocker([&] {
    EXPECT_OK(store->Save(kNs, {MakeRecord("a", "a1"), MakeRecord("b", "b1")}));
  });
  hold.WaitUntilHolding();
  Results results;
  store->SaveAsync(kNs, One(MakeRecord("c", "c1")), true, results.Save());  // 3 of 3
  store->SaveAsync(kNs, One(MakeRecord("d", "d1")), true, results.Save());  // refused
  store->DeleteAsync(kNs, ByIds({"a"}), true, results.Delete());            // 2 of 3
  store->SaveAsync(kNs, One(MakeRecord("b", "b2")), true, results.Save());  // exists: 2 of 3
  store->SaveAsync(kNs, {MakeRecord("e", "e1"), MakeRecord("f", "f1")}, true,
                   results.Save());                                          // refused: 4
  store->UpdateAsync(kNs, MakeRecord("e", "e1"), true, results.Update());   // 3 of 3
  while (store->GetStats().pending_writes < 7) std::this_thread::yield();
  hold.Release();
  results.WaitFor(6);
  blocker.join();
  executor.Shutdown();
  {
    absl::MutexLock lock(&results.mu);
    ASSERT_EQ(results.statuses.size(), 6u);
    const std::vector<bool> refused = {false, true, false, false, true, false};
    for (size_t i = 0; i < refused.size(); ++i) {
      if (refused[i]) {
        EXPECT_THAT(results.statuses[i],
                    StatusIs(absl::StatusCode::kResourceExhausted,
                             HasSubstr("memory_max_records is 3")))
            << "write " << i;
      } else {
        EXPECT_THAT(results.statuses[i], IsOk()) << "write " << i;
      }
    }
  }
  EXPECT_EQ(store->GetStats().commits, 2);  // the blocker's, then the group
  const auto contents = [&] {
    std::vector<std::string> out;
    for (const char* id : {"a", "b", "c", "d", "e", "f"}) {
      absl::StatusOr<std::optional<Record>> r = store->GetRecord(kNs, id);
      out.push_back(r.ok() && r->has_value() ? (*r)->content : "missing");
    }
    return out;
  };
  EXPECT_THAT(contents(), ElementsAre("missing", "b2", "c1", "missing", "e1", "missing"));
  EXPECT_EQ(store->GetStats().records, 3);
  ASSERT_OK(store->Close());
  store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(contents(), ElementsAre("missing", "b2", "c1", "missing", "e1", "missing"));
}

TEST(AsyncWriteTest, ManyThreadsOfCallbackAndBlockingWritesAllCompleteExactlyOnce) {
  TempDir dir;
  ThreadPoolExecutor executor(3, "test-leader");
  MemoryStoreOptions options = TestOptions(dir.path());
  options.write_executor = &executor;
  std::unique_ptr<MemoryStore> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  Results results;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Record r = MakeRecord(absl::StrCat("t", t, "-", i), "x", "/", {float(t), float(i)});
        if (t % 4 == 3) {  // some blocking writers in the same queue
          EXPECT_OK(store->Save(kNs, One(std::move(r))));
        } else {
          store->SaveAsync(kNs, One(std::move(r)), /*may_lead=*/i % 2, results.Save());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const int async_writes = (kThreads - kThreads / 4) * kPerThread;
  results.WaitFor(async_writes);
  executor.Shutdown();
  {
    absl::MutexLock lock(&results.mu);
    EXPECT_EQ(results.statuses.size(), static_cast<size_t>(async_writes));
    for (const absl::Status& s : results.statuses) EXPECT_THAT(s, IsOk());
  }
  const MemoryStoreStats stats = store->GetStats();
  EXPECT_EQ(stats.committed_writes, kThreads * kPerThread);
  EXPECT_EQ(stats.pending_writes, 0);
  EXPECT_EQ(*store->Count(kNs, ""), kThreads * kPerThread);
}

TEST(AsyncWriteTest, CallbackWritesAfterCloseFailThroughTheCallback) {
  TempDir dir;
  std::unique_ptr<MemoryStore> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->Close());
  Results results;
  store->SaveAsync(kNs, One(MakeRecord("a", "x")), true, results.Save());
  store->UpdateAsync(kNs, MakeRecord("a", "x"), true, results.Update());
  store->DeleteAsync(kNs, ByIds({"a"}), true, results.Delete());
  absl::MutexLock lock(&results.mu);
  ASSERT_EQ(results.statuses.size(), 3u);
  for (const absl::Status& s : results.statuses) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  }
}

}  // namespace
}  // namespace fast_crewai::memory
