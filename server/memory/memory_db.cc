#include "server/memory/memory_db.h"

#include <bit>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "SQLiteCpp/Transaction.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/memory/json.h"

namespace fast_crewai::memory {
namespace {

static_assert(std::endian::native == std::endian::little,
              "memory.db stores embeddings as little-endian float32");

using persistence::RunSqlite;

// Each entry migrates from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
      CREATE TABLE namespaces (
        ns_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        vector_dim INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE records (
        ns_id INTEGER NOT NULL REFERENCES namespaces(ns_id),
        id TEXT NOT NULL,
        content TEXT NOT NULL,
        scope TEXT NOT NULL,
        categories TEXT NOT NULL,
        metadata TEXT NOT NULL,
        importance REAL NOT NULL,
        created_at TEXT NOT NULL,
        created_at_micros INTEGER NOT NULL,
        last_accessed TEXT NOT NULL,
        last_accessed_micros INTEGER NOT NULL,
        source TEXT,
        private INTEGER NOT NULL,
        embedding BLOB NOT NULL,
        PRIMARY KEY (ns_id, id)
      );
    )sql",
    // 1 -> 2: records keyed by seq (the rowid, kept), no index on the random ids.
    R"sql(
      CREATE TABLE records_v2 (
        seq INTEGER PRIMARY KEY,
        ns_id INTEGER NOT NULL REFERENCES namespaces(ns_id),
        id TEXT NOT NULL,
        content TEXT NOT NULL,
        scope TEXT NOT NULL,
        categories TEXT NOT NULL,
        metadata TEXT NOT NULL,
        importance REAL NOT NULL,
        created_at TEXT NOT NULL,
        created_at_micros INTEGER NOT NULL,
        last_accessed TEXT NOT NULL,
        last_accessed_micros INTEGER NOT NULL,
        source TEXT,
        private INTEGER NOT NULL,
        embedding BLOB NOT NULL
      );
      INSERT INTO records_v2(seq, ns_id, id, content, scope, categories, metadata, importance,
                             created_at, created_at_micros, last_accessed,
                             last_accessed_micros, source, private, embedding)
        SELECT rowid, ns_id, id, content, scope, categories, metadata, importance, created_at,
               created_at_micros, last_accessed, last_accessed_micros, source, private,
               embedding
        FROM records ORDER BY rowid;
      DROP TABLE records;
      ALTER TABLE records_v2 RENAME TO records;
      CREATE INDEX records_by_namespace ON records(ns_id);
    )sql",
};
static_assert(std::size(kMigrations) == kMemoryDbSchemaVersion);

std::string ColumnText(const SQLite::Column& column) {
  const void* data = column.getBlob();  // the bytes as stored, NULs included
  const int size = column.getBytes();
  return size > 0 ? std::string(static_cast<const char*>(data), static_cast<size_t>(size))
                  : std::string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryDb>> MemoryDb::Open(const std::string& path,
                                                         persistence::SqliteSync sync,
                                                         int busy_timeout_ms,
                                                         persistence::IntegrityCheckMode check) {
  // A new file gets kMemoryDbPageSize-byte pages. The page size of a WAL database is fixed by
  // its first write, so it is set here, before the file is switched to WAL; an existing file
  // keeps the size it was created with.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0) {
    absl::Status created = RunSqlite(absl::StrCat(path, ": create"), [&] {
      SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      db.exec(absl::StrCat("PRAGMA page_size=", kMemoryDbPageSize));
      db.exec("PRAGMA journal_mode=WAL");
    });
    if (!created.ok()) return created;
  }
  persistence::SqliteOptions options;
  options.sync = sync;
  options.busy_timeout_ms = busy_timeout_ms;
  options.application_id = kMemoryDbApplicationId;
  absl::StatusOr<std::unique_ptr<SQLite::Database>> db =
      persistence::OpenSqliteDatabase(path, options);
  if (!db.ok()) return db.status();
  if (absl::Status s = persistence::CheckIntegrity(**db, check, path); !s.ok()) return s;
  std::unique_ptr<MemoryDb> memory_db(new MemoryDb(*std::move(db)));
  absl::Status s = memory_db->Migrate();
  if (!s.ok()) return s;
  s = memory_db->Prepare();
  if (!s.ok()) return s;
  return memory_db;
}

MemoryDb::~MemoryDb() {
  // Statements must be finalised before the connection closes.
  create_namespace_.reset();
  set_dim_.reset();
  upsert_.reset();
  delete_.reset();
  delete_all_.reset();
  touch_.reset();
  db_.reset();
}

absl::Status MemoryDb::Migrate() {
  return persistence::RunMigrations(*db_, "memory.db", kMigrations);
}

absl::Status MemoryDb::Prepare() {
  return RunSqlite("memory.db: prepare statements", [&] {
    create_namespace_ = std::make_unique<SQLite::Statement>(
        *db_, "INSERT INTO namespaces(ns_id, name, vector_dim) VALUES(?, ?, ?)");
    set_dim_ = std::make_unique<SQLite::Statement>(
        *db_, "UPDATE namespaces SET vector_dim = ? WHERE ns_id = ?");
    upsert_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
        INSERT INTO records(ns_id, id, content, scope, categories, metadata, importance,
                            created_at, created_at_micros, last_accessed,
                            last_accessed_micros, source, private, embedding, seq)
        VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(seq) DO UPDATE SET
          content = excluded.content, scope = excluded.scope,
          categories = excluded.categories, metadata = excluded.metadata,
          importance = excluded.importance, created_at = excluded.created_at,
          created_at_micros = excluded.created_at_micros,
          last_accessed = excluded.last_accessed,
          last_accessed_micros = excluded.last_accessed_micros, source = excluded.source,
          private = excluded.private, embedding = excluded.embedding)sql");
    delete_ = std::make_unique<SQLite::Statement>(*db_, "DELETE FROM records WHERE seq = ?");
    delete_all_ = std::make_unique<SQLite::Statement>(*db_, "DELETE FROM records WHERE ns_id = ?");
    touch_ = std::make_unique<SQLite::Statement>(
        *db_,
        "UPDATE records SET last_accessed = ?, last_accessed_micros = ? WHERE seq = ?");
  });
}

absl::Status MemoryDb::Load(const std::function<absl::Status(const StoredNamespace&)>& on_namespace,
                            const std::function<absl::Status(int64_t, PreparedRecord)>& on_record) {
  if (db_ == nullptr) return absl::FailedPreconditionError("memory.db is closed");
  absl::Status callback_status;
  absl::Status s = RunSqlite("memory.db: load namespaces", [&] {
    SQLite::Statement q(*db_, "SELECT ns_id, name, vector_dim FROM namespaces ORDER BY ns_id");
    while (callback_status.ok() && q.executeStep()) {
      callback_status = on_namespace(StoredNamespace{
          q.getColumn(0).getInt64(), ColumnText(q.getColumn(1)), q.getColumn(2).getInt()});
    }
  });
  if (!s.ok()) return s;
  if (!callback_status.ok()) return callback_status;

  s = RunSqlite("memory.db: load records", [&] {
    SQLite::Statement q(*db_, R"sql(
        SELECT ns_id, id, content, scope, categories, metadata, importance, created_at,
               created_at_micros, last_accessed, last_accessed_micros, source, private,
               embedding, seq
        FROM records ORDER BY seq)sql");
    while (callback_status.ok() && q.executeStep()) {
      const int64_t ns_id = q.getColumn(0).getInt64();
      PreparedRecord prepared;
      Record& r = prepared.record;
      r.id = ColumnText(q.getColumn(1));
      const auto corrupt = [&](absl::string_view what) {
        return absl::DataLossError(
            absl::StrCat("memory.db: record \"", r.id, "\" of namespace #", ns_id, ": ", what));
      };
      r.content = ColumnText(q.getColumn(2));
      r.scope = ColumnText(q.getColumn(3));
      absl::StatusOr<std::vector<std::string>> categories =
          ParseJsonStringArray(ColumnText(q.getColumn(4)));
      if (!categories.ok()) {
        callback_status = corrupt(absl::StrCat("categories: ", categories.status().message()));
        break;
      }
      r.categories = *std::move(categories);
      r.metadata_json = ColumnText(q.getColumn(5));
      if (!r.metadata_json.empty()) {
        absl::StatusOr<JsonValue> metadata = ParseJson(r.metadata_json);
        if (!metadata.ok() || metadata->kind() != JsonValue::Kind::kObject) {
          callback_status = corrupt("metadata is not a JSON object");
          break;
        }
        if (!metadata->object().empty()) {
          prepared.metadata = std::make_shared<const JsonValue>(*std::move(metadata));
        }
      }
      r.importance = q.getColumn(6).getDouble();
      r.created_at = ColumnText(q.getColumn(7));
      r.created_at_micros = q.getColumn(8).getInt64();
      r.last_accessed = ColumnText(q.getColumn(9));
      r.last_accessed_micros = q.getColumn(10).getInt64();
      if (!q.getColumn(11).isNull()) r.source = ColumnText(q.getColumn(11));
      r.is_private = q.getColumn(12).getInt() != 0;
      const SQLite::Column blob = q.getColumn(13);
      const int bytes = blob.getBytes();
      if (bytes % static_cast<int>(sizeof(float)) != 0) {
        callback_status = corrupt(absl::StrCat("embedding BLOB of ", bytes, " bytes"));
        break;
      }
      r.embedding.resize(static_cast<size_t>(bytes) / sizeof(float));
      if (bytes > 0) std::memcpy(r.embedding.data(), blob.getBlob(), static_cast<size_t>(bytes));
      prepared.row = q.getColumn(14).getInt64();
      callback_status = on_record(ns_id, std::move(prepared));
    }
  });
  if (!s.ok()) return s;
  return callback_status;
}

absl::Status MemoryDb::Write(const std::vector<const MemoryOp*>& ops) {
  if (db_ == nullptr) return absl::FailedPreconditionError("memory.db is closed");
  return RunSqlite("memory.db: write", [&] {
    // A statement left mid-way by an earlier failed group must be reset before binding.
    for (SQLite::Statement* st : {create_namespace_.get(), set_dim_.get(), upsert_.get(),
                                  delete_.get(), delete_all_.get(), touch_.get()}) {
      st->reset();
    }
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    for (const MemoryOp* op : ops) {
      SQLite::Statement* st = nullptr;
      switch (op->kind) {
        case MemoryOp::Kind::kCreateNamespace:
          st = create_namespace_.get();
          st->bind(1, op->ns_id);
          st->bindNoCopy(2, op->name);
          st->bind(3, op->dim);
          break;
        case MemoryOp::Kind::kSetDim:
          st = set_dim_.get();
          st->bind(1, op->dim);
          st->bind(2, op->ns_id);
          break;
        case MemoryOp::Kind::kUpsert: {
          st = upsert_.get();
          const Record& r = op->record->record;
          st->bind(1, op->ns_id);
          st->bindNoCopy(2, r.id);
          st->bindNoCopy(3, r.content);
          st->bindNoCopy(4, r.scope);
          st->bind(5, WriteJsonStringArray(r.categories));
          st->bindNoCopy(6, r.metadata_json);
          st->bind(7, r.importance);
          st->bindNoCopy(8, r.created_at);
          st->bind(9, r.created_at_micros);
          st->bindNoCopy(10, r.last_accessed);
          st->bind(11, r.last_accessed_micros);
          if (r.source.has_value()) {
            st->bindNoCopy(12, *r.source);
          } else {
            st->bind(12);
          }
          st->bind(13, r.is_private ? 1 : 0);
          // A zero-length BLOB (not NULL) when there is no embedding.
          static const float kNoEmbedding = 0;
          st->bindNoCopy(14, r.embedding.empty() ? &kNoEmbedding : r.embedding.data(),
                         static_cast<int>(r.embedding.size() * sizeof(float)));
          st->bind(15, op->record->row);
          break;
        }
        case MemoryOp::Kind::kDelete:
          st = delete_.get();
          st->bind(1, op->row);
          break;
        case MemoryOp::Kind::kDeleteAll:
          st = delete_all_.get();
          st->bind(1, op->ns_id);
          break;
        case MemoryOp::Kind::kTouch:
          st = touch_.get();
          st->bindNoCopy(1, *op->text);
          st->bind(2, op->micros);
          st->bind(3, op->row);
          break;
      }
      st->exec();
      st->reset();
      st->clearBindings();
    }
    txn.commit();
  });
}

absl::Status MemoryDb::Close() {
  if (db_ == nullptr) return absl::FailedPreconditionError("memory.db is closed");
  create_namespace_.reset();
  set_dim_.reset();
  upsert_.reset();
  delete_.reset();
  delete_all_.reset();
  touch_.reset();
  absl::Status s = persistence::CheckpointTruncate(*db_);
  absl::Status close_status = RunSqlite("memory.db: close", [&] { db_.reset(); });
  db_.reset();
  return s.ok() ? close_status : s;
}

}  // namespace fast_crewai::memory
