// File: bench_util.h
//
// What the two persistence benchmarks (persistence_bench: the store alone; daemon_write_bench:
// through the daemon) write, where, and their peer: SQLite with synchronous=FULL, one row per
// transaction (what each CrewAI add() is).
//
//   CreateSqlitePeer(path)   the peer's WAL file and table (once, before the writers).
//   SqlitePeerWriter         one writer's connection; Write() is one durable transaction.
//   SQLiteCpp throws: both are for a bench thread that reports an exception and stops the run.
//
// Example:
//   const std::string dir = bench::FreshDir("fast-crewai-persistence-bench", "store");
//   store->AddTaskOutput(ns, kickoff, Row(task_id, i, bench::TaskOutputJson()));
#ifndef FAST_CREWAI_BENCH_PERSISTENCE_BENCH_UTIL_H_
#define FAST_CREWAI_BENCH_PERSISTENCE_BENCH_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fast_crewai::bench {

// A task output of about 1 KB, the size of a short CrewAI TaskOutput as JSON.
inline std::string TaskOutputJson() {
  return absl::StrCat(R"({"raw": ")", std::string(900, 'x'), R"(", "agent": "Researcher"})");
}

// A new directory `<$TMPDIR or /tmp>/<prefix>-<name>.XXXXXX`: both sides of a comparison use
// the same disk. Exits the process when it cannot be made.
inline std::string FreshDir(absl::string_view prefix, absl::string_view name) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/", prefix,
                                   "-", name, ".XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return templ;
}

// Creates the peer's database at `path`: WAL, one table of (writer, n, payload) rows.
inline void CreateSqlitePeer(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE rows(writer INTEGER, n INTEGER, payload TEXT)");
}

// One peer writer: its own connection, synchronous=FULL, a busy timeout long enough for every
// writer to queue on SQLite's lock.
class SqlitePeerWriter {
 public:
  explicit SqlitePeerWriter(const std::string& path)
      : db_(path, SQLite::OPEN_READWRITE, /*busyTimeoutMs=*/60000), insert_(PrepareFull(db_)) {}

  // BEGIN IMMEDIATE, INSERT one row, COMMIT (durable when it returns).
  void Write(int writer, int64_t n, const std::string& payload) {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    insert_.bind(1, writer);
    insert_.bind(2, n);
    insert_.bind(3, payload);
    insert_.exec();
    insert_.reset();
    txn.commit();
  }

 private:
  static SQLite::Statement PrepareFull(SQLite::Database& db) {
    db.exec("PRAGMA synchronous=FULL");
    return SQLite::Statement(db, "INSERT INTO rows(writer, n, payload) VALUES (?, ?, ?)");
  }

  SQLite::Database db_;
  SQLite::Statement insert_;
};

}  // namespace fast_crewai::bench

#endif  // FAST_CREWAI_BENCH_PERSISTENCE_BENCH_UTIL_H_
