// File: scheduler_db.h
//
// SchedulerDb: the SQLite half of the Scheduler, one file (<data_dir>/scheduler.db) in WAL
// mode with one connection, used by the scheduler's group-commit leader (one thread at a
// time) and at load.
//
// Schema (PRAGMA user_version = 1, PRAGMA application_id = kSchedulerDbApplicationId):
//   runs(run_seq INTEGER PRIMARY KEY, run_id TEXT UNIQUE, name, queue, state,
//        lease_millis, max_attempts, created_at_micros, finished_at_micros)
//   run_labels(run_seq, key, value, PRIMARY KEY (run_seq, key))
//   nodes(run_seq, node_index, node_id, depends_on (node indexes, "0,3"), payload BLOB,
//         max_attempts, state, attempts, worker_id, output BLOB (NULL until succeeded),
//         error, started_at_micros, finished_at_micros, PRIMARY KEY (run_seq, node_index))
// A node's state is stored as the scheduler last saw it; LEASED rows mean "leased when last
// written" and are made ready again at load (leases are soft state).
//
// Thread-safety: none; the caller serialises every call.
#ifndef FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_DB_H_
#define FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_DB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/persistence/sqlite_db.h"
#include "server/scheduler/types.h"

namespace fast_crewai::scheduler {

// 'FCSC': marks a SQLite file as a fast-crewai scheduler store.
inline constexpr int32_t kSchedulerDbApplicationId = 0x46435343;
inline constexpr int kSchedulerDbSchemaVersion = 1;

// A run's row. `labels` are written only with `insert`.
struct RunRow {
  int64_t run_seq = 0;
  std::string run_id;
  std::string name;
  std::string queue;
  RunState state = RunState::kRunning;
  int64_t lease_millis = 0;
  int max_attempts = 0;
  int64_t created_at_micros = 0;
  int64_t finished_at_micros = 0;
  std::vector<std::pair<std::string, std::string>> labels;
};

// A node's row. `node_id`, `depends_on`, `payload` and `max_attempts` are written only with
// `insert` (they never change).
struct NodeRow {
  int64_t run_seq = 0;
  int node_index = 0;
  std::string node_id;
  std::vector<int> depends_on;
  SharedBytes payload;
  int max_attempts = 0;
  NodeState state = NodeState::kBlocked;
  int attempts = 0;
  std::string worker_id;
  SharedBytes output;  // null = NULL
  std::string error;
  int64_t started_at_micros = 0;
  int64_t finished_at_micros = 0;
};

// One transaction's worth of row changes, applied in this order: deletes, run rows, node rows.
struct DbBatch {
  std::vector<int64_t> delete_runs;
  std::vector<std::pair<RunRow, bool /*insert*/>> runs;
  std::vector<std::pair<NodeRow, bool /*insert*/>> nodes;
  bool empty() const { return delete_runs.empty() && runs.empty() && nodes.empty(); }
};

struct SchedulerDbOptions {
  persistence::SqliteSync sync = persistence::SqliteSync::kFull;
  int busy_timeout_ms = 5000;
  persistence::IntegrityCheckMode integrity_check = persistence::IntegrityCheckMode::kQuick;
};

class SchedulerDb {
 public:
  // Opens (creating or migrating) the file at `path` after checking its integrity.
  // Errors: UNAVAILABLE (cannot open/lock), DATA_LOSS (not a database or damaged: the file is
  // left untouched), FAILED_PRECONDITION (another program's file, or a newer schema).
  static absl::StatusOr<std::unique_ptr<SchedulerDb>> Open(const std::string& path,
                                                           const SchedulerDbOptions& options);
  ~SchedulerDb();

  // Calls `on_run` for every run (by run_seq), then `on_node` for every node (by run_seq,
  // node_index). Labels come with their run. Returns the first error of SQLite or a callback.
  absl::Status Load(const std::function<absl::Status(RunRow)>& on_run,
                    const std::function<absl::Status(NodeRow)>& on_node);

  // Writes `batch` in one IMMEDIATE transaction. On error nothing is written.
  absl::Status Write(const DbBatch& batch);

  // Checkpoints the WAL (TRUNCATE) and closes the connection; later calls fail.
  absl::Status Close();

  const std::string& path() const { return path_; }

 private:
  SchedulerDb(std::string path, std::unique_ptr<SQLite::Database> db)
      : path_(std::move(path)), db_(std::move(db)) {}
  absl::Status Migrate();
  absl::Status Prepare();
  void FinalizeStatements();

  const std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> upsert_run_;
  std::unique_ptr<SQLite::Statement> insert_label_;
  std::unique_ptr<SQLite::Statement> insert_node_;
  std::unique_ptr<SQLite::Statement> update_node_;
  std::unique_ptr<SQLite::Statement> delete_nodes_;
  std::unique_ptr<SQLite::Statement> delete_labels_;
  std::unique_ptr<SQLite::Statement> delete_run_;
};

}  // namespace fast_crewai::scheduler

#endif  // FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_DB_H_
