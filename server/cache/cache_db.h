// File: cache_db.h
//
// CacheDb: the durable half of ToolCache (options.persist), one SQLite file
// <data_dir>/cache.db in WAL mode. It knows the schema, loads the rows at start-up and
// writes batches of row changes, each batch in one transaction.
//
// Schema (PRAGMA user_version = 1, PRAGMA application_id = kCacheDbApplicationId):
//   entries(ns BLOB, tool BLOB, input BLOB, value BLOB, content_type TEXT,
//           expires_at_micros INTEGER (0 = never), seq INTEGER,
//           PRIMARY KEY (ns, tool, input)) WITHOUT ROWID
//   namespaces(ns BLOB PRIMARY KEY, default_ttl_micros INTEGER (-1 = not set),
//              max_bytes INTEGER (0 = not set))
// Keys are stored as BLOBs so that they come back byte for byte. `seq` orders writes: an
// upsert replaces a row only when its seq is larger, and a delete removes a row only when
// the row's seq is not larger than the delete's, so batches that race each other to the
// file can never resurrect an old value or delete a newer one.
//
// Thread-safety: thread-safe (one connection behind a mutex).
#ifndef FAST_CREWAI_SERVER_CACHE_CACHE_DB_H_
#define FAST_CREWAI_SERVER_CACHE_CACHE_DB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/persistence/sqlite_db.h"

namespace fast_crewai::cache {

// 'FCCA': marks a SQLite file as a fast-crewai tool cache.
inline constexpr int32_t kCacheDbApplicationId = 0x46434341;
inline constexpr int kCacheDbSchemaVersion = 1;

struct StoredEntry {
  std::string ns;
  std::string tool;
  std::string input;
  std::string value;
  std::string content_type;
  int64_t expires_at_micros = 0;  // 0 = never.
  int64_t seq = 0;
};

struct RowDelete {
  std::string ns;
  std::string tool;
  std::string input;
  int64_t seq = 0;  // Deletes the row only if its seq <= this.
};

struct StoredNamespace {
  std::string ns;
  int64_t default_ttl_micros = -1;  // -1 = not set.
  int64_t max_bytes = 0;            // 0 = not set.
};

class CacheDb {
 public:
  // Opens (creating or migrating) the file at `path`, after a PRAGMA quick_check.
  // Errors: UNAVAILABLE (cannot open/lock), DATA_LOSS (not a database, damaged, or another
  // program's file), FAILED_PRECONDITION (a schema newer than this build).
  static absl::StatusOr<std::unique_ptr<CacheDb>> Open(const std::string& path,
                                                       persistence::SqliteSync sync,
                                                       int busy_timeout_ms);

  // Deletes rows expired at `now_micros`, then calls `fn` for every other row, newest
  // (largest seq) first. Returns the largest seq in the file (0 when empty) via `max_seq`.
  absl::Status Load(int64_t now_micros, const std::function<void(StoredEntry&&)>& fn,
                    int64_t* max_seq);

  absl::StatusOr<std::vector<StoredNamespace>> LoadNamespaces();

  // Queues a row deletion for the next Write() or Flush() (evictions and expirations are
  // written lazily, batched).
  void QueueDelete(RowDelete row);

  // One transaction: every queued deletion, then the upserts. On failure the deletions
  // stay queued.
  absl::Status Write(const std::vector<const StoredEntry*>& upserts);

  // Writes the queued deletions (no-op when none).
  absl::Status Flush() { return Write({}); }

  // Deletions queued and not yet written (for tests).
  size_t QueuedDeletes();

  // Deletes every row of `ns` ("" = every row). Returns the number of rows deleted.
  absl::StatusOr<int64_t> DeleteNamespace(const std::string& ns);

  absl::Status SaveNamespace(const StoredNamespace& ns);

  // Checkpoints the WAL into the main file and closes the connection. Idempotent.
  absl::Status Close();

 private:
  explicit CacheDb(std::unique_ptr<SQLite::Database> db);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
  // Taken after mu_ when both are held.
  absl::Mutex queue_mu_;
  std::vector<RowDelete> queued_ ABSL_GUARDED_BY(queue_mu_);
};

}  // namespace fast_crewai::cache

#endif  // FAST_CREWAI_SERVER_CACHE_CACHE_DB_H_
