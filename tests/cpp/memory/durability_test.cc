// Durability and group commit: reopen rebuilds the same state, acknowledged writes survive
// SIGKILL of the writing process, concurrent writers share commits, storage errors.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/memory/memory_db.h"
#include "server/memory/memory_store.h"
#include "server/util/status_macros.h"
#include "tests/cpp/memory/memory_test_util.h"
#include "tests/cpp/testing/kill_child.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::memory {
namespace {

using ::fast_crewai::testing::AckWriter;
using ::fast_crewai::testing::ForkWritersThenKill;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeRecord;
using testing::TestOptions;

constexpr char kNs[] = "ns";

std::unique_ptr<MemoryStore> OpenStore(const MemoryStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<MemoryStore>> store = MemoryStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// Everything observable about a namespace, for before/after comparisons.
std::string Snapshot(MemoryStore& store, absl::string_view ns,
                     const std::vector<std::vector<float>>& queries) {
  std::ostringstream out;
  const NamespaceInfo info = *store.DescribeNamespace(ns);
  out << "exists=" << info.exists << " dim=" << info.vector_dim << " n=" << info.record_count
      << "\n";
  ListRecordsRequest list;
  list.limit = kMaxLimit;
  const ListRecordsResult listed = *store.ListRecords(ns, list);
  for (const Record& r : listed.records) {
    out << r.id << "|" << r.content << "|" << r.scope << "|" << r.metadata_json << "|"
        << r.importance << "|" << r.created_at << "|" << r.created_at_micros << "|"
        << r.last_accessed << "|" << r.last_accessed_micros << "|" << r.source.value_or("<none>")
        << "|" << r.is_private << "|";
    for (const std::string& c : r.categories) out << c << ",";
    for (float x : r.embedding) out << x << ",";
    out << "\n";
  }
  for (const auto& q : queries) {
    SearchRequest request;
    request.query_embedding = q;
    request.limit = 7;
    const SearchResult by_vector = *store.Search(ns, request);
    for (const ScoredRecord& r : by_vector.results) out << r.record.id << "=" << r.score << " ";
    request.query_embedding = {};
    request.query_text = "alpha";
    const SearchResult by_text = *store.Search(ns, request);
    for (const ScoredRecord& r : by_text.results) out << r.record.id << "~" << r.score << " ";
    out << "\n";
  }
  const std::vector<std::string> scopes = *store.ListScopes(ns, "/");
  for (const std::string& scope : scopes) out << scope << " ";
  const std::vector<CategoryCount> categories = *store.ListCategories(ns, "");
  for (const CategoryCount& c : categories) out << c.category << c.count;
  return out.str();
}

TEST(DurabilityTest, ReopenRebuildsIdenticalState) {
  TempDir dir;
  const auto queries = testing::RandomVectors(5, 6, 41);
  std::string before;
  {
    std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
    ASSERT_NE(store, nullptr);
    std::vector<Record> records;
    const auto vectors = testing::RandomVectors(300, 6, 42);
    for (size_t i = 0; i < vectors.size(); ++i) {
      Record r = MakeRecord(absl::StrCat("r", i), i % 4 ? "alpha beta" : "gamma alpha alpha",
                            absl::StrCat("/s", i % 7, "/x"), vectors[i], 1000 + i);
      r.categories = {absl::StrCat("c", i % 3)};
      r.metadata_json = absl::StrCat(R"({"i": )", i, "}");
      r.importance = (i % 10) / 10.0;
      if (i % 2) r.source = "src";
      r.is_private = i % 5 == 0;
      records.push_back(r);
    }
    records.push_back(MakeRecord("noemb", "alpha no embedding", "/", {}, 5));
    ASSERT_OK(store->Save(kNs, records));
    DeleteRequest del;
    del.filter.scope_prefix = "/s3";
    ASSERT_OK(store->Delete(kNs, del));
    ASSERT_OK(
        store->Update(kNs, MakeRecord("r1", "updated alpha", "/s1/x", {1, 2, 3, 4, 5, 6}, 7)));
    ASSERT_OK(store->TouchRecords(kNs, {"r2", "r5"}, "touched", 99));
    ASSERT_OK(store->Reset(kNs, "/s4"));
    ASSERT_OK(store->Save("second", {MakeRecord("only", "alpha", "/", {1})}));
    ASSERT_OK(store->Reset("second", ""));  // the freed dimension must stay free
    before = Snapshot(*store, kNs, queries);
    // Destroyed without Close().
  }
  std::unique_ptr<MemoryStore> reopened = OpenStore(TestOptions(dir.path()));
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(Snapshot(*reopened, kNs, queries), before);
  EXPECT_EQ(reopened->DescribeNamespace("second")->vector_dim, 0);
  EXPECT_TRUE(reopened->DescribeNamespace("second")->exists);
  ASSERT_OK(reopened->Save("second", {MakeRecord("new-dim", "x", "/", {1, 2})}));
  // Close checkpoints: the WAL is empty afterwards and a third open sees the same.
  ASSERT_OK(reopened->Close());
  const std::string wal = dir.path() + "/memory.db-wal";
  EXPECT_TRUE(!std::filesystem::exists(wal) || std::filesystem::file_size(wal) == 0);
  std::unique_ptr<MemoryStore> third = OpenStore(TestOptions(dir.path()));
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(Snapshot(*third, kNs, queries), before);
  EXPECT_EQ(third->DescribeNamespace("second")->vector_dim, 2);
}

TEST(DurabilityTest, ZeroFilledRecordsSurviveReopen) {
  TempDir dir;
  {
    std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
    ASSERT_OK(store->Save(kNs, {MakeRecord("early", "x")}));
    ASSERT_OK(store->Save(kNs, {MakeRecord("vec", "y", "/", {3, 4})}));
  }
  std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
  EXPECT_EQ((*store->GetRecord(kNs, "early"))->embedding, (std::vector<float>{0, 0}));
  SearchRequest request;
  request.query_embedding = {0, 0};
  EXPECT_EQ(store->Search(kNs, request)->results.front().record.id, "early");
}

// New files get kMemoryDbPageSize pages, so a 3072-d record needs no overflow page; a file
// created with 4 KiB pages keeps them and its records.
TEST(DurabilityTest, NewFilesUseLargePagesAndOldFilesKeepTheirs) {
  TempDir dir;
  const std::vector<float> big(3072, 0.25f);
  {
    std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
    ASSERT_OK(store->Save(kNs, {MakeRecord("big", "x", "/", big)}));
    ASSERT_OK(store->Close());
  }
  {
    SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA page_size").getInt(), kMemoryDbPageSize);
    EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
    // The table holds the one record in its root page: no overflow chain.
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM dbstat WHERE name = 'records'").getInt(), 1);
  }
  EXPECT_EQ((*OpenStore(TestOptions(dir.path()))->GetRecord(kNs, "big"))->embedding, big);

  TempDir old_dir;
  {
    SQLite::Database db(old_dir.path() + "/memory.db",
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA page_size=4096; PRAGMA journal_mode=WAL");
  }
  {
    std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(old_dir.path()));
    ASSERT_OK(store->Save(kNs, {MakeRecord("big", "x", "/", big)}));
  }
  std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(old_dir.path()));
  EXPECT_EQ((*store->GetRecord(kNs, "big"))->embedding, big);
  SQLite::Database db(old_dir.path() + "/memory.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA page_size").getInt(), 4096);
}

// A child process writes with four threads and reports each acknowledged id on a pipe; the
// parent SIGKILLs it mid-stream, reopens the store and finds every acknowledged id.
TEST(DurabilityTest, AcknowledgedWritesSurviveSigkill) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(
      const std::string acks, ForkWritersThenKill(4, 400, [&]() -> AckWriter {
        MemoryStoreOptions options = TestOptions(dir.path());
        options.sync = persistence::SqliteSync::kFull;
        options.search_concurrency = 1;
        absl::StatusOr<std::unique_ptr<MemoryStore>> opened = MemoryStore::Open(options);
        if (!opened.ok()) return nullptr;
        std::shared_ptr<MemoryStore> store = std::move(*opened);
        return [store](int t, int i) -> absl::StatusOr<std::string> {
          const std::string id = absl::StrCat("t", t, "-", i);
          const float x = static_cast<float>(t * 100000 + i);
          RETURN_IF_ERROR(
              store->Save(kNs, {MakeRecord(id, "payload " + id, "/kill", {x, 1.0f})}).status());
          return id + "\n";
        };
      }));

  std::vector<std::string> acked;
  for (absl::string_view line : absl::StrSplit(acks, '\n', absl::SkipEmpty())) {
    acked.emplace_back(line);
  }
  ASSERT_GE(acked.size(), 400u);

  std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  for (const std::string& id : acked) {
    absl::StatusOr<std::optional<Record>> got = store->GetRecord(kNs, id);
    ASSERT_TRUE(got.ok() && got->has_value()) << "acknowledged record lost: " << id;
    EXPECT_EQ((*got)->content, "payload " + id);
  }
  // Unacknowledged writes may or may not be there, but nothing else is.
  const int64_t count = *store->Count(kNs, "");
  EXPECT_GE(count, static_cast<int64_t>(acked.size()));
  EXPECT_LE(count, static_cast<int64_t>(acked.size()) + 4);  // at most one in flight per thread
  // Search over the recovered data matches a brute-force recomputation.
  ListRecordsRequest list;
  list.limit = kMaxLimit;
  const std::vector<Record> all = store->ListRecords(kNs, list)->records;
  for (float probe : {0.0f, 57.0f, 100020.0f, 300003.0f}) {
    SearchRequest request;
    request.query_embedding = {probe, 1.0f};
    request.limit = 5;
    const SearchResult got = *store->Search(kNs, request);
    const auto want =
        testing::BruteForce(all, request.query_embedding, [](const Record&) { return true; });
    ASSERT_EQ(got.results.size(), 5u);
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(got.results[i].record.id, want[i].second);
  }
}

TEST(GroupCommitTest, ConcurrentWritersShareCommits) {
  TempDir dir;
  constexpr int kWriters = 12;
  MemoryStoreOptions options = TestOptions(dir.path());
  options.sync = persistence::SqliteSync::kFull;
  std::atomic<bool> first_commit{true};
  std::atomic<MemoryStore*> store_ptr{nullptr};
  // The first leader waits (in its commit hook) until every other writer is queued, so the
  // second group deterministically holds all of them.
  options.before_commit_hook = [&](int) {
    if (!first_commit.exchange(false)) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (store_ptr.load()->GetStats().pending_writes < kWriters &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  std::unique_ptr<MemoryStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  store_ptr = store.get();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      if (store->Save(kNs, {MakeRecord(absl::StrCat("w", t), "x", "/", {1.0f * t})}).ok()) ++ok;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kWriters);
  const MemoryStoreStats stats = store->GetStats();
  EXPECT_EQ(stats.committed_writes, kWriters);
  EXPECT_LE(stats.commits, 2);
  EXPECT_LT(stats.commits, stats.committed_writes);
  EXPECT_EQ(stats.pending_writes, 0);
  EXPECT_EQ(*store->Count(kNs, ""), kWriters);
}

TEST(GroupCommitTest, ManyThreadsMixedWritesAllSucceed) {
  TempDir dir;
  MemoryStoreOptions options = TestOptions(dir.path());
  options.sync = persistence::SqliteSync::kFull;
  std::unique_ptr<MemoryStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string ns = t % 2 ? "odd" : "even";
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = absl::StrCat("t", t, "-", i);
        if (!store->Save(ns, {MakeRecord(id, "x", absl::StrCat("/t", t), {1.0f * i, 2.0f})}).ok()) {
          ++failures;
        }
        if (i % 5 == 4) {  // interleave touches and deletes of our own records
          if (!store->TouchRecords(ns, {id}, "now", i).ok()) ++failures;
          DeleteRequest del;
          del.record_ids = {absl::StrCat("t", t, "-", i - 1)};
          absl::StatusOr<int64_t> deleted = store->Delete(ns, del);
          if (!deleted.ok() || *deleted != 1) ++failures;
        }
        // Read-after-write: our own write is visible as soon as it is acknowledged.
        absl::StatusOr<std::optional<Record>> got = store->GetRecord(ns, id);
        if (!got.ok() || !got->has_value()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const int64_t expected = kThreads / 2 * (kPerThread - kPerThread / 5);
  EXPECT_EQ(*store->Count("even", ""), expected);
  EXPECT_EQ(*store->Count("odd", ""), expected);
  const MemoryStoreStats stats = store->GetStats();
  EXPECT_EQ(stats.failed_writes, 0);
  EXPECT_LE(stats.commits, stats.committed_writes);
  EXPECT_EQ(stats.records, 2 * expected);
  // The same state after a reopen.
  store.reset();
  store = OpenStore(options);
  EXPECT_EQ(*store->Count("even", ""), expected);
  EXPECT_EQ(*store->Count("odd", ""), expected);
}

TEST(GroupCommitTest, ConflictingDimensionsInOneGroupFailIndividually) {
  TempDir dir;
  constexpr int kWriters = 6;
  MemoryStoreOptions options = TestOptions(dir.path());
  std::atomic<bool> first_commit{true};
  std::atomic<MemoryStore*> store_ptr{nullptr};
  options.before_commit_hook = [&](int) {
    if (!first_commit.exchange(false)) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (store_ptr.load()->GetStats().pending_writes < kWriters + 1 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  std::unique_ptr<MemoryStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  store_ptr = store.get();
  // A first write in another namespace holds the leader while the others queue up.
  std::thread blocker([&] { ASSERT_OK(store->Save("other", {MakeRecord("b", "x")})); });
  while (store->GetStats().pending_writes < 1) std::this_thread::yield();
  // Writers race to fix the dimension of a new namespace in one group: the first (in queue
  // order) wins and every writer with another dimension fails with FAILED_PRECONDITION.
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kWriters);
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> v(t % 2 ? 3 : 2, 1.0f);
      results[t] = store->Save(kNs, {MakeRecord(absl::StrCat("w", t), "x", "/", v)}).status();
    });
  }
  for (auto& thread : threads) thread.join();
  blocker.join();
  const int dim = store->DescribeNamespace(kNs)->vector_dim;
  ASSERT_TRUE(dim == 2 || dim == 3);
  int ok = 0;
  for (int t = 0; t < kWriters; ++t) {
    const int my_dim = t % 2 ? 3 : 2;
    if (my_dim == dim) {
      EXPECT_OK(results[t]);
      ++ok;
    } else {
      EXPECT_THAT(results[t],
                  StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("dimension mismatch")));
    }
  }
  EXPECT_EQ(*store->Count(kNs, ""), ok);
  EXPECT_EQ(store->GetStats().failed_writes, kWriters - ok);
}

TEST(StorageErrorTest, UnopenableDataDirIsUnavailable) {
  TempDir dir;
  const std::string file = dir.WriteFile("not-a-dir", "x");
  MemoryStoreOptions options = TestOptions(file + "/sub");
  EXPECT_THAT(MemoryStore::Open(options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("sub")));
  options.data_dir = "";
  EXPECT_THAT(MemoryStore::Open(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data_dir")));
}

TEST(StorageErrorTest, CorruptFileIsDataLoss) {
  TempDir dir;
  dir.WriteFile("memory.db", std::string(8192, 'g'));
  EXPECT_THAT(MemoryStore::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
}

TEST(StorageErrorTest, ForeignSqliteFileIsRejected) {
  TempDir dir;
  {
    SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA application_id=1234; CREATE TABLE t(x)");
  }
  EXPECT_THAT(MemoryStore::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("another program")));
}

TEST(StorageErrorTest, NewerSchemaIsRejectedAndOlderIsMigrated) {
  TempDir dir;
  {
    std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
    ASSERT_OK(store->Save(kNs, {MakeRecord("x", "x")}));
    ASSERT_OK(store->Close());
  }
  {
    SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READWRITE);
    EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), kMemoryDbSchemaVersion);
    EXPECT_EQ(db.execAndGet("PRAGMA application_id").getInt(), kMemoryDbApplicationId);
    db.exec(absl::StrCat("PRAGMA user_version=", kMemoryDbSchemaVersion + 1));
  }
  EXPECT_THAT(MemoryStore::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("newer")));
}

// A version-1 file (records keyed by PRIMARY KEY (ns_id, id)) as an earlier daemon wrote it:
// rebuilt on open into records keyed by seq, every row and its order kept; afterwards
// saves, updates, touches and deletes address the rows the file had.
TEST(StorageErrorTest, VersionOneFileIsMigratedWithEveryRecord) {
  TempDir dir;
  {
    SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(absl::StrCat("PRAGMA page_size=", kMemoryDbPageSize, "; PRAGMA journal_mode=WAL"));
    db.exec(absl::StrCat("PRAGMA application_id=", kMemoryDbApplicationId));
    db.exec(R"sql(
      CREATE TABLE namespaces (ns_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                               vector_dim INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE records (
        ns_id INTEGER NOT NULL REFERENCES namespaces(ns_id), id TEXT NOT NULL,
        content TEXT NOT NULL, scope TEXT NOT NULL, categories TEXT NOT NULL,
        metadata TEXT NOT NULL, importance REAL NOT NULL, created_at TEXT NOT NULL,
        created_at_micros INTEGER NOT NULL, last_accessed TEXT NOT NULL,
        last_accessed_micros INTEGER NOT NULL, source TEXT, private INTEGER NOT NULL,
        embedding BLOB NOT NULL, PRIMARY KEY (ns_id, id));
      INSERT INTO namespaces VALUES (1, 'crew', 2), (2, 'other', 0);
      INSERT INTO records VALUES
        (1, 'a', 'alpha', '/x', '["c1"]', '{"k": 1}', 0.5, 't1', 1, 't1', 1, NULL, 0,
         x'0000803f00000040'),
        (2, 'z', 'zulu', '/', '[]', '', 0.5, 't2', 2, 't2', 2, 'src', 1, x''),
        (1, 'b', 'bravo', '/y', '[]', '', 0.5, 't3', 3, 't3', 3, NULL, 0,
         x'0000404000008040');
      PRAGMA user_version=1;
    )sql");
  }
  {
    std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
    ASSERT_NE(store, nullptr);
    ASSERT_OK_AND_ASSIGN(std::optional<Record> a, store->GetRecord("crew", "a"));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->content, "alpha");
    EXPECT_EQ(a->metadata_json, "{\"k\": 1}");
    EXPECT_THAT(a->embedding, ElementsAre(1.0f, 2.0f));
    ASSERT_OK_AND_ASSIGN(std::optional<Record> z, store->GetRecord("other", "z"));
    ASSERT_TRUE(z.has_value());
    EXPECT_EQ(z->source, "src");
    EXPECT_TRUE(z->is_private);
    ASSERT_OK_AND_ASSIGN(int64_t count, store->Count("crew", ""));
    EXPECT_EQ(count, 2);

    ASSERT_OK(store->Update("crew", MakeRecord("a", "alpha 2", "/x", {5, 6}, 1)));
    ASSERT_OK(store->Save("crew", {MakeRecord("c", "charlie", "/", {7, 8}, 4)}));
    ASSERT_OK_AND_ASSIGN(int64_t touched, store->TouchRecords("crew", {"b"}, "t9", 9));
    EXPECT_EQ(touched, 1);
    DeleteRequest drop;
    drop.record_ids = {"z"};
    ASSERT_OK_AND_ASSIGN(int64_t deleted, store->Delete("other", drop));
    EXPECT_EQ(deleted, 1);
    ASSERT_OK(store->Close());
  }
  SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), kMemoryDbSchemaVersion);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                          "tbl_name = 'records' AND name LIKE 'sqlite_autoindex%'")
                .getInt(),
            0)
      << "no index on the record ids any more";
  // Rows kept their place (seq = the old rowid); the updated one kept its row, the new one
  // came last; the deleted one is gone.
  SQLite::Statement rows(db, "SELECT seq, id, content, last_accessed FROM records ORDER BY seq");
  std::vector<std::string> got;
  while (rows.executeStep()) {
    got.push_back(absl::StrCat(rows.getColumn(0).getInt64(), ":", rows.getColumn(1).getString(),
                               ":", rows.getColumn(2).getString(), ":",
                               rows.getColumn(3).getString()));
  }
  EXPECT_THAT(got, ElementsAre("1:a:alpha 2:t1", "3:b:bravo:t9", "4:c:charlie:t4"));
}

TEST(StorageErrorTest, CorruptRowIsDataLossNamingTheRecord) {
  TempDir dir;
  {
    std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
    ASSERT_OK(store->Save(
        kNs, {MakeRecord("good", "x", "/", {1, 2}), MakeRecord("bad", "x", "/", {1, 2})}));
    ASSERT_OK(store->Close());
  }
  {
    SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READWRITE);
    db.exec("UPDATE records SET embedding = x'0000803f' WHERE id = 'bad'");  // 1 float, dim 2
  }
  EXPECT_THAT(MemoryStore::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("\"bad\"")));
  {
    SQLite::Database db(dir.path() + "/memory.db", SQLite::OPEN_READWRITE);
    db.exec("UPDATE records SET embedding = x'', metadata = '[1]' WHERE id = 'bad'");
  }
  EXPECT_THAT(MemoryStore::Open(TestOptions(dir.path())),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("metadata")));
}

TEST(StorageErrorTest, BusyDatabaseFailsTheWriteAndChangesNothing) {
  TempDir dir;
  MemoryStoreOptions options = TestOptions(dir.path());
  options.busy_timeout_ms = 50;
  std::unique_ptr<MemoryStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->Save(kNs, {MakeRecord("kept", "x", "/", {1})}));
  // Another connection holds the write lock past our busy timeout.
  SQLite::Database other(dir.path() + "/memory.db", SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  EXPECT_THAT(store->Save(kNs, {MakeRecord("blocked", "x", "/", {2})}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("memory.db")));
  EXPECT_THAT(store->Update(kNs, MakeRecord("kept", "changed", "/", {3})),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("locked")));
  DeleteRequest del;
  EXPECT_THAT(store->Delete(kNs, del), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  // Nothing of the failed writes is visible, and the new namespace was not created.
  EXPECT_EQ(*store->GetRecord(kNs, "blocked"), std::nullopt);
  EXPECT_EQ((*store->GetRecord(kNs, "kept"))->content, "x");
  EXPECT_EQ(*store->Count(kNs, ""), 1);
  EXPECT_THAT(store->Save("new-ns", {MakeRecord("n", "x")}),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_FALSE(store->DescribeNamespace("new-ns")->exists);
  EXPECT_EQ(store->GetStats().failed_writes, 4);
  other.exec("ROLLBACK");
  // The store recovers: the next writes succeed.
  ASSERT_OK(store->Save("new-ns", {MakeRecord("n", "x", "/", {1, 2})}));
  ASSERT_OK(store->Save(kNs, {MakeRecord("after", "x", "/", {4})}));
  EXPECT_EQ(*store->Count(kNs, ""), 2);
  EXPECT_EQ(store->DescribeNamespace("new-ns")->vector_dim, 2);
}

}  // namespace
}  // namespace fast_crewai::memory
