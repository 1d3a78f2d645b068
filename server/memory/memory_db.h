// File: memory_db.h
//
// MemoryDb: the durable half of MemoryStore, one SQLite file (<data_dir>/memory.db) in WAL
// mode. It knows the schema and its migrations, loads everything at start-up and writes
// one group of mutations per transaction. It keeps no state of its own beyond the
// connection and its prepared statements.
//
// Schema (PRAGMA user_version = 2, PRAGMA application_id = kMemoryDbApplicationId,
// PRAGMA page_size = kMemoryDbPageSize for files created since it was introduced):
//   namespaces(ns_id INTEGER PRIMARY KEY, name TEXT UNIQUE, vector_dim INTEGER)
//   records(seq INTEGER PRIMARY KEY, ns_id, id, content, scope, categories (JSON array
//           text), metadata (the client's JSON text, byte for byte), importance, created_at,
//           created_at_micros, last_accessed, last_accessed_micros, source (NULL = None),
//           private, embedding (BLOB of little-endian float32, empty = no embedding))
//   INDEX records_by_namespace(ns_id)
// Records saved without an embedding keep an empty BLOB; they are zero-filled in memory
// once the namespace's dimension is known, so fixing the dimension rewrites nothing.
//
// A record's row is its `seq` (PreparedRecord::row), chosen by MemoryStore: a new record
// gets the next one, a saved-again record keeps its own. The (ns_id, id) uniqueness is kept
// by the store's in-memory index, not by a SQL index: record ids are random (CrewAI's
// uuid4), so an index on them would take one random 16 KiB page per record into every
// commit (a 500-record save into 100k records wrote 8.2 MB of WAL with it, 4.2 MB without).
// Rows are appended in seq order, and the (ns_id) index grows at its end. Version 1 files
// (PRIMARY KEY (ns_id, id)) are rebuilt into this form on open, rows and order kept.
//
// Thread-safety: not thread-safe (one SQLite connection). MemoryStore calls it from the
// current group-commit leader only, which is one thread at a time.
#ifndef FAST_CREWAI_SERVER_MEMORY_MEMORY_DB_H_
#define FAST_CREWAI_SERVER_MEMORY_MEMORY_DB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/memory/validation.h"
#include "server/persistence/sqlite_db.h"

namespace fast_crewai::memory {

// 'FCMM': marks a SQLite file as a fast-crewai memory store.
inline constexpr int32_t kMemoryDbApplicationId = 0x46434D4D;
// The schema version this build writes; older files are migrated on open.
inline constexpr int kMemoryDbSchemaVersion = 2;
// Page size of new memory.db files. A 1536-d record (about 6.3 KB) and a 3072-d one (12.4 KB)
// fit in one 16 KiB leaf page instead of a chain of 4 KiB overflow pages, which halves the
// WAL frames (and write calls) of a bulk save; files created with another size keep it.
inline constexpr int kMemoryDbPageSize = 16384;

// One row-level change. A group of them is written in one transaction and then applied,
// in the same order, to the in-memory index.
struct MemoryOp {
  enum class Kind {
    kCreateNamespace,  // ns_id, name, dim (0)
    kSetDim,           // ns_id, dim (0 frees it)
    kUpsert,           // ns_id, record (record->row: its row)
    kDelete,           // ns_id, id, row
    kDeleteAll,        // ns_id
    kTouch,            // ns_id, id, row, text, micros
  };
  explicit MemoryOp(Kind k) : kind(k) {}

  Kind kind;
  int64_t ns_id = 0;
  std::string name;
  int dim = 0;
  // kUpsert: owned by the writer that issued the mutation, which outlives the op. The
  // in-memory apply moves from it after the commit.
  PreparedRecord* record = nullptr;
  std::string id;
  int64_t row = 0;  // the record's seq (kDelete, kTouch)
  const std::string* text = nullptr;
  int64_t micros = 0;
};

class MemoryDb {
 public:
  struct StoredNamespace {
    int64_t ns_id;
    std::string name;
    int vector_dim;
  };

  // Opens (creating or migrating) the store file at `path`, after checking it per `check`.
  // Errors: UNAVAILABLE (cannot open/lock), DATA_LOSS (not a database, damaged, or another
  // program's file), FAILED_PRECONDITION (a schema newer than this build).
  static absl::StatusOr<std::unique_ptr<MemoryDb>> Open(const std::string& path,
                                                        persistence::SqliteSync sync,
                                                        int busy_timeout_ms,
                                                        persistence::IntegrityCheckMode check);
  ~MemoryDb();

  // Reads every namespace, then every record (in seq order; PreparedRecord::row set).
  // Returns DATA_LOSS naming the row when a stored value cannot be decoded, or the first
  // error returned by a callback.
  absl::Status Load(const std::function<absl::Status(const StoredNamespace&)>& on_namespace,
                    const std::function<absl::Status(int64_t ns_id, PreparedRecord)>& on_record);

  // Writes `ops` in one IMMEDIATE transaction and commits it (one WAL fsync with
  // SqliteSync::kFull). On error nothing is written.
  absl::Status Write(const std::vector<const MemoryOp*>& ops);

  // Checkpoints the WAL into the main file (TRUNCATE) and closes the connection. Later
  // calls fail with FAILED_PRECONDITION.
  absl::Status Close();

 private:
  explicit MemoryDb(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
  absl::Status Migrate();
  absl::Status Prepare();

  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> create_namespace_;
  std::unique_ptr<SQLite::Statement> set_dim_;
  std::unique_ptr<SQLite::Statement> upsert_;
  std::unique_ptr<SQLite::Statement> delete_;
  std::unique_ptr<SQLite::Statement> delete_all_;
  std::unique_ptr<SQLite::Statement> touch_;
};

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_MEMORY_DB_H_
