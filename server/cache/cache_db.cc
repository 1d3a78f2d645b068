#include "server/cache/cache_db.h"

#include <iterator>
#include <utility>

#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/str_cat.h"

namespace fast_crewai::cache {
namespace {

using persistence::RunSqlite;

// kMigrations[v] upgrades schema v to v + 1.
constexpr const char* kMigrations[] = {
    R"sql(
      CREATE TABLE entries (
        ns BLOB NOT NULL,
        tool BLOB NOT NULL,
        input BLOB NOT NULL,
        value BLOB NOT NULL,
        content_type TEXT NOT NULL,
        expires_at_micros INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (ns, tool, input)
      ) WITHOUT ROWID;
      CREATE TABLE namespaces (
        ns BLOB PRIMARY KEY,
        default_ttl_micros INTEGER NOT NULL,
        max_bytes INTEGER NOT NULL
      ) WITHOUT ROWID;
    )sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kCacheDbSchemaVersion);

std::string ColumnBytes(const SQLite::Column& column) {
  const void* data = column.getBlob();
  const int size = column.getBytes();
  return size > 0 ? std::string(static_cast<const char*>(data), static_cast<size_t>(size))
                  : std::string();
}

void BindBlob(SQLite::Statement& st, int index, const std::string& bytes) {
  st.bindNoCopy(index, static_cast<const void*>(bytes.data()), static_cast<int>(bytes.size()));
}

}  // namespace

CacheDb::CacheDb(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}

absl::StatusOr<std::unique_ptr<CacheDb>> CacheDb::Open(const std::string& path,
                                                       persistence::SqliteSync sync,
                                                       int busy_timeout_ms) {
  persistence::SqliteOptions options;
  options.sync = sync;
  options.busy_timeout_ms = busy_timeout_ms;
  options.application_id = kCacheDbApplicationId;
  absl::StatusOr<std::unique_ptr<SQLite::Database>> db =
      persistence::OpenSqliteDatabase(path, options);
  if (!db.ok()) return db.status();
  // A damaged file stops the start (DATA_LOSS) and is left untouched, as every store's.
  if (absl::Status s =
          persistence::CheckIntegrity(**db, persistence::IntegrityCheckMode::kQuick, path);
      !s.ok()) {
    return s;
  }
  std::unique_ptr<CacheDb> cache_db(new CacheDb(*std::move(db)));
  {
    absl::MutexLock lock(&cache_db->mu_);
    absl::Status migrated = cache_db->Migrate();
    if (!migrated.ok()) return migrated;
  }
  return cache_db;
}

absl::Status CacheDb::Migrate() {
  return persistence::RunMigrations(*db_, "cache.db", kMigrations);
}

absl::Status CacheDb::Load(int64_t now_micros, const std::function<void(StoredEntry&&)>& fn,
                           int64_t* max_seq) {
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) return absl::FailedPreconditionError("cache.db: closed");
  *max_seq = 0;
  return RunSqlite("cache.db: load", [&] {
    SQLite::Statement purge(*db_,
                            "DELETE FROM entries WHERE expires_at_micros != 0 AND "
                            "expires_at_micros <= ?");
    purge.bind(1, now_micros);
    purge.exec();
    *max_seq = db_->execAndGet("SELECT COALESCE(MAX(seq), 0) FROM entries").getInt64();
    SQLite::Statement q(*db_,
                        "SELECT ns, tool, input, value, content_type, expires_at_micros, seq "
                        "FROM entries ORDER BY seq DESC");
    while (q.executeStep()) {
      StoredEntry e;
      e.ns = ColumnBytes(q.getColumn(0));
      e.tool = ColumnBytes(q.getColumn(1));
      e.input = ColumnBytes(q.getColumn(2));
      e.value = ColumnBytes(q.getColumn(3));
      e.content_type = ColumnBytes(q.getColumn(4));
      e.expires_at_micros = q.getColumn(5).getInt64();
      e.seq = q.getColumn(6).getInt64();
      fn(std::move(e));
    }
  });
}

absl::StatusOr<std::vector<StoredNamespace>> CacheDb::LoadNamespaces() {
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) return absl::FailedPreconditionError("cache.db: closed");
  std::vector<StoredNamespace> out;
  absl::Status status = RunSqlite("cache.db: load namespaces", [&] {
    SQLite::Statement q(*db_, "SELECT ns, default_ttl_micros, max_bytes FROM namespaces");
    while (q.executeStep()) {
      out.push_back(StoredNamespace{ColumnBytes(q.getColumn(0)), q.getColumn(1).getInt64(),
                                    q.getColumn(2).getInt64()});
    }
  });
  if (!status.ok()) return status;
  return out;
}

void CacheDb::QueueDelete(RowDelete row) {
  absl::MutexLock lock(&queue_mu_);
  queued_.push_back(std::move(row));
}

size_t CacheDb::QueuedDeletes() {
  absl::MutexLock lock(&queue_mu_);
  return queued_.size();
}

absl::Status CacheDb::Write(const std::vector<const StoredEntry*>& upserts) {
  absl::MutexLock lock(&mu_);
  std::vector<RowDelete> deletes;
  {
    absl::MutexLock queue_lock(&queue_mu_);
    deletes.swap(queued_);
  }
  if (upserts.empty() && deletes.empty()) return absl::OkStatus();
  if (db_ == nullptr) return absl::FailedPreconditionError("cache.db: closed");
  absl::Status status = RunSqlite("cache.db: write", [&] {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    if (!deletes.empty()) {
      SQLite::Statement del(*db_,
                            "DELETE FROM entries WHERE ns = ? AND tool = ? AND input = ? AND "
                            "seq <= ?");
      for (const RowDelete& d : deletes) {
        BindBlob(del, 1, d.ns);
        BindBlob(del, 2, d.tool);
        BindBlob(del, 3, d.input);
        del.bind(4, d.seq);
        del.exec();
        del.reset();
      }
    }
    if (!upserts.empty()) {
      SQLite::Statement put(
          *db_,
          "INSERT INTO entries (ns, tool, input, value, content_type, expires_at_micros, seq) "
          "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ns, tool, input) DO UPDATE SET "
          "value = excluded.value, content_type = excluded.content_type, "
          "expires_at_micros = excluded.expires_at_micros, seq = excluded.seq "
          "WHERE excluded.seq > entries.seq");
      for (const StoredEntry* e : upserts) {
        BindBlob(put, 1, e->ns);
        BindBlob(put, 2, e->tool);
        BindBlob(put, 3, e->input);
        BindBlob(put, 4, e->value);
        put.bindNoCopy(5, e->content_type);
        put.bind(6, e->expires_at_micros);
        put.bind(7, e->seq);
        put.exec();
        put.reset();
      }
    }
    txn.commit();
  });
  if (!status.ok() && !deletes.empty()) {
    absl::MutexLock queue_lock(&queue_mu_);
    queued_.insert(queued_.end(), std::make_move_iterator(deletes.begin()),
                   std::make_move_iterator(deletes.end()));
  }
  return status;
}

absl::StatusOr<int64_t> CacheDb::DeleteNamespace(const std::string& ns) {
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) return absl::FailedPreconditionError("cache.db: closed");
  int64_t deleted = 0;
  absl::Status status = RunSqlite("cache.db: clear", [&] {
    if (ns.empty()) {
      deleted = db_->exec("DELETE FROM entries");
    } else {
      SQLite::Statement del(*db_, "DELETE FROM entries WHERE ns = ?");
      BindBlob(del, 1, ns);
      deleted = del.exec();
    }
  });
  if (!status.ok()) return status;
  return deleted;
}

absl::Status CacheDb::SaveNamespace(const StoredNamespace& ns) {
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) return absl::FailedPreconditionError("cache.db: closed");
  return RunSqlite("cache.db: save namespace", [&] {
    SQLite::Statement put(*db_,
                          "INSERT INTO namespaces (ns, default_ttl_micros, max_bytes) VALUES "
                          "(?, ?, ?) ON CONFLICT (ns) DO UPDATE SET "
                          "default_ttl_micros = excluded.default_ttl_micros, "
                          "max_bytes = excluded.max_bytes");
    BindBlob(put, 1, ns.ns);
    put.bind(2, ns.default_ttl_micros);
    put.bind(3, ns.max_bytes);
    put.exec();
  });
}

absl::Status CacheDb::Close() {
  absl::Status flushed = Flush();
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) return absl::OkStatus();
  absl::Status status = persistence::CheckpointTruncate(*db_);
  if (status.ok()) status = flushed;
  absl::Status closed = RunSqlite("cache.db: close", [&] { db_.reset(); });
  db_.reset();
  return status.ok() ? closed : status;
}

}  // namespace fast_crewai::cache
