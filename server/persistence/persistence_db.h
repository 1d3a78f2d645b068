// File: persistence_db.h
//
// PersistenceDb: the SQLite half of PersistenceStore, one file (<data_dir>/persistence.db) in
// WAL mode: one writer connection (used by the store's group-commit leader, one thread at a
// time) and a small pool of query-only reader connections that serve reads concurrently with
// the writer (WAL readers see every transaction committed before their read began).
//
// Schema (PRAGMA user_version = 1, PRAGMA application_id = kPersistenceDbApplicationId):
//   kickoffs(kickoff_id TEXT PRIMARY KEY, namespace, created_seq, created_at_micros)
//   kickoff_task_outputs(kickoff_id, task_id, task_key (NULL = none), expected_output,
//       output (client JSON text), task_index, inputs (client JSON text), was_replayed,
//       timestamp, insert_seq, write_seq, PRIMARY KEY (kickoff_id, task_id))
//   flow_states(id INTEGER PRIMARY KEY AUTOINCREMENT, flow_uuid, method_name, timestamp,
//       state_json)  + INDEX (flow_uuid, id)             -- append-only, as CrewAI's
//   pending_feedback(flow_uuid TEXT PRIMARY KEY, context_json, state_json, created_at)
//   long_term_memories(id INTEGER PRIMARY KEY AUTOINCREMENT, namespace, task_description,
//       metadata, datetime, score)  + INDEX (namespace, task_description)
// Migrations run in order from the file's user_version, each in its own transaction.
//
// Thread-safety: Write(), LoadKickoffs() and Close() need external synchronisation (the
// store's leader); the Read*/Backup methods are thread-safe among themselves and with the
// writer methods (each borrows a reader connection; they block while all are busy).
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_PERSISTENCE_DB_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_PERSISTENCE_DB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/persistence/sqlite_db.h"
#include "server/persistence/types.h"

namespace fast_crewai::persistence {

// 'FCPS': marks a SQLite file as a fast-crewai persistence store.
inline constexpr int32_t kPersistenceDbApplicationId = 0x46435053;
// The schema version this build writes; older files are migrated on open.
inline constexpr int kPersistenceDbSchemaVersion = 1;

// Row-level changes, written in order in one transaction. Pointers refer to data owned by
// the issuing write, which outlives the transaction.
struct InsertKickoffOp {
  const KickoffSnapshot* kickoff;
};
struct DeleteKickoffOp {
  std::string kickoff_id;  // and every row of it
};
struct UpsertTaskOutputOp {
  const std::string* kickoff_id;
  const StoredTaskOutput* row;
};
struct DeleteTaskOutputOp {
  std::string kickoff_id;
  std::string task_id;
};
struct AppendFlowStateOp {
  const FlowState* state;  // id is assigned by SQLite
};
struct UpsertPendingFeedbackOp {
  const PendingFeedback* pending;
};
struct DeletePendingFeedbackOp {
  const std::string* flow_uuid;
};
struct InsertLtmOp {
  const std::string* ns;
  const std::string* task_description;
  const LtmEntry* entry;
};
struct DeleteLtmOp {
  const std::string* ns;
};
using DbOp = std::variant<InsertKickoffOp, DeleteKickoffOp, UpsertTaskOutputOp, DeleteTaskOutputOp,
                          AppendFlowStateOp, UpsertPendingFeedbackOp, DeletePendingFeedbackOp,
                          InsertLtmOp, DeleteLtmOp>;

struct PersistenceDbOptions {
  SqliteSync sync = SqliteSync::kFull;
  int busy_timeout_ms = 5000;
  IntegrityCheckMode integrity_check = IntegrityCheckMode::kQuick;
  // Reader connections. Default: 4.
  int readers = 4;
};

class PersistenceDb {
 public:
  // Opens (creating or migrating) the file at `path`, after checking its integrity.
  // Errors: UNAVAILABLE (cannot open/lock), DATA_LOSS (not a database, or the integrity check
  // failed: the file is left untouched), FAILED_PRECONDITION (another program's file, or a
  // schema newer than this build).
  static absl::StatusOr<std::unique_ptr<PersistenceDb>> Open(const std::string& path,
                                                             const PersistenceDbOptions& options);
  ~PersistenceDb();

  // Calls `on_kickoff` for every kickoff (by created_seq), then `on_row` for every task
  // output row. Returns DATA_LOSS naming the row for a value that cannot be decoded, or the
  // first error a callback returns.
  absl::Status LoadKickoffs(
      const std::function<absl::Status(KickoffSnapshot)>& on_kickoff,
      const std::function<absl::Status(const std::string& kickoff_id, StoredTaskOutput)>& on_row);

  // The largest sequence number stored (write_seq, insert_seq, created_seq), 0 when empty.
  absl::StatusOr<int64_t> MaxSequence();

  // Writes `ops` in one IMMEDIATE transaction and commits it. On error nothing is written.
  absl::Status Write(const std::vector<const DbOp*>& ops);

  // Reads (reader pool).
  absl::StatusOr<std::optional<FlowState>> ReadLatestFlowState(absl::string_view flow_uuid);
  absl::StatusOr<std::optional<PendingFeedback>> ReadPendingFeedback(absl::string_view flow_uuid);
  // CrewAI's LTM query: WHERE task_description = ? ORDER BY datetime DESC, score ASC
  // LIMIT latest_n (ties: insertion order).
  absl::StatusOr<std::vector<LtmEntry>> ReadLtm(absl::string_view ns,
                                                absl::string_view task_description,
                                                int64_t latest_n);
  absl::StatusOr<int64_t> CountLtm(absl::string_view ns);
  absl::StatusOr<int64_t> CountFlowStates();
  absl::StatusOr<int64_t> CountPendingFeedback();

  // Online backup of the whole file into `dest_path` (see BackupDatabase).
  absl::StatusOr<BackupResult> Backup(const std::string& dest_path);

  // Checkpoints the WAL into the main file (TRUNCATE) and closes every connection. Later
  // calls fail with FAILED_PRECONDITION.
  absl::Status Close();

  const std::string& path() const { return path_; }

 private:
  struct Reader {
    std::unique_ptr<SQLite::Database> db;
  };
  // Borrows a reader for the lifetime of the lease.
  class ReaderLease;

  PersistenceDb(std::string path, std::unique_ptr<SQLite::Database> db)
      : path_(std::move(path)), db_(std::move(db)) {}
  absl::Status Migrate();
  absl::Status Prepare();
  absl::StatusOr<Reader*> AcquireReader() ABSL_LOCKS_EXCLUDED(readers_mu_);
  void ReleaseReader(Reader* reader) ABSL_LOCKS_EXCLUDED(readers_mu_);
  void FinalizeStatements();

  const std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> insert_kickoff_;
  std::unique_ptr<SQLite::Statement> delete_kickoff_rows_;
  std::unique_ptr<SQLite::Statement> delete_kickoff_;
  std::unique_ptr<SQLite::Statement> upsert_row_;
  std::unique_ptr<SQLite::Statement> delete_row_;
  std::unique_ptr<SQLite::Statement> append_flow_state_;
  std::unique_ptr<SQLite::Statement> upsert_pending_;
  std::unique_ptr<SQLite::Statement> delete_pending_;
  std::unique_ptr<SQLite::Statement> insert_ltm_;
  std::unique_ptr<SQLite::Statement> delete_ltm_;

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<Reader>> readers_ ABSL_GUARDED_BY(readers_mu_);
  std::vector<Reader*> free_readers_ ABSL_GUARDED_BY(readers_mu_);
  bool closed_ ABSL_GUARDED_BY(readers_mu_) = false;
};

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_PERSISTENCE_DB_H_
