// File: persistence_store.h
//
// PersistenceStore: the durable state CrewAI keeps in local SQLite files, kept once for every
// client process: kickoff task outputs (the replay log), flow states with pending human
// feedback, and the legacy long-term memory. This is the domain core behind
// fast_crewai.v1.PersistenceService (together with LockTable, lock_table.h); it has no gRPC
// or protobuf inside.
//
// Example:
//   PersistenceStoreOptions options;
//   options.data_dir = "/var/lib/fast-crewai";
//   options.clock = RealClock::Get();
//   ASSIGN_OR_RETURN(std::unique_ptr<PersistenceStore> store, PersistenceStore::Open(options));
//   TaskOutputRow row;
//   row.task_id = "5f0c..."; row.expected_output = "Three facts.";
//   row.output_json = R"({"raw": "..."})"; row.task_index = 0; row.inputs_json = "{}";
//   ASSIGN_OR_RETURN(TaskOutputRow stored, store->AddTaskOutput("/home/u/.local/share/app/"
//                    "latest_kickoff_task_outputs.db", "kickoff-1", row));
//   ASSIGN_OR_RETURN(auto kickoff, store->LoadTaskOutputs(KickoffSelector::ByTask("5f0c...")));
//
// ---------------------------------------------------------------------------------------
// Kickoff task outputs
//
// CrewAI keeps ONE table of "the latest kickoff's" task outputs per project and empties it
// at every kickoff, so concurrent kickoffs and kickoff_for_each wipe each other's replay
// logs (crewAI issues #6650, #6704). Here every kickoff has its own log, named by a
// client-chosen kickoff id (a fresh UUID per kickoff) and filed under a namespace (the path
// of the SQLite file CrewAI would have used, which identifies the project):
//  * AddTaskOutput is CrewAI's add(): INSERT OR REPLACE by (kickoff, task_id); the row gets
//    the store's timestamp (SQLite CURRENT_TIMESTAMP form). The first add creates the kickoff.
//  * UpdateTaskOutputs is CrewAI's update(task_index, **kwargs): sets the given columns of
//    every row of the kickoff with that task_index; NOT_FOUND when there is none (CrewAI
//    only logs a warning; the client does the same on NOT_FOUND).
//  * LoadTaskOutputs returns one kickoff's rows ordered as CrewAI's load(): by task_index,
//    ties in insertion order. The kickoff is chosen by id, by a task id (the kickoff whose
//    row for that task was written last: what `crewai replay -t <task_id>` needs, from any
//    process) or as the latest kickoff (created last) of a namespace.
//  * DeleteTaskOutputs is CrewAI's delete_all() as `crewai reset-memories -k` means it: every
//    kickoff of a namespace (or one kickoff).
// Rows are served from memory (immutable snapshots; a load copies no row) and every write is
// durable before it returns. At most max_kickoffs kickoffs are kept: creating one more
// deletes the oldest (by creation).
//
// Flow state (CrewAI's SQLiteFlowPersistence): SaveFlowState appends to a per-flow log and
// LoadFlowState returns the latest entry; SavePendingFeedback appends the state AND stores the
// pending-feedback context in one transaction; Load/ClearPendingFeedback read/delete it.
// Served from SQLite through the reader pool.
//
// Legacy long-term memory (CrewAI <= 1.9 LTMSQLiteStorage), per namespace: SaveLtm inserts,
// LoadLtm returns the latest_n entries of one task description ORDER BY datetime DESC,
// score ASC (datetime compared as text, exactly as CrewAI's SQL does), ResetLtm deletes all.
//
// Validation happens before anything is written; errors name the field: INVALID_ARGUMENT
// ("row.output_json: invalid JSON at byte 3: ...", "kickoff_id: must not be empty"),
// RESOURCE_EXHAUSTED ("row.output_json: 20000000 bytes is more than the limit of ..."),
// NOT_FOUND ("task_index: no row with task_index 7 in kickoff \"k\""), ALREADY_EXISTS (an
// update giving a row the task_id of another row). A rejected write changes nothing.
//
// Durability and group commit (as MemoryStore): concurrent writers queue; the writer at the
// head of the queue (the leader, on its own thread: the store owns no thread) takes every
// queued write (up to max_group_size), plans them in order against the state including the
// group's earlier writes, writes them in ONE transaction, commits once (one WAL fsync with
// SqliteSync::kFull), publishes the new in-memory state and wakes the others. An
// acknowledged write survives kill -9 (and power loss with kFull). If the commit fails,
// every write of the group fails with that status and nothing of it becomes visible.
// Callback writes (AddTaskOutputsAsync) share the same queue without blocking their caller:
// their groups are led by the caller when the queue was empty, else by a task on
// options.write_executor.
// Open() checks the file's integrity (options.integrity_check) before anything else and
// returns DATA_LOSS for a damaged file, which it never modifies.
//
// Errors: INVALID_ARGUMENT / RESOURCE_EXHAUSTED / NOT_FOUND / ALREADY_EXISTS (bad request),
// FAILED_PRECONDITION (store closed), UNAVAILABLE (SQLite busy or I/O error: retry),
// DATA_LOSS (corrupt file), INTERNAL (a bug). No exception leaves this module.
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_PERSISTENCE_STORE_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_PERSISTENCE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/persistence/sqlite_db.h"
#include "server/persistence/types.h"
#include "server/util/clock.h"
#include "server/util/executor.h"

namespace fast_crewai::persistence {

struct PersistenceStoreOptions {
  // ---- Parameters that affect behaviour ----

  // Directory of the store file <data_dir>/persistence.db; created when missing. Required.
  std::string data_dir;
  // Source of timestamps (task output rows, kickoff creation). Not owned. Required.
  Clock* clock = nullptr;
  // Durability of each commit. Default: kFull (survives power loss; group commit amortises
  // the fsync over concurrent writers). kNormal survives a process crash only.
  SqliteSync sync = SqliteSync::kFull;
  // Start-up integrity check of persistence.db. Default: kQuick.
  IntegrityCheckMode integrity_check = IntegrityCheckMode::kQuick;
  // Kickoffs kept; creating one more deletes the oldest. Default: 1000.
  int64_t max_kickoffs = 1000;
  // Largest JSON text or free-text value accepted, in bytes. Default: 16 MiB.
  int64_t max_value_bytes = 16 << 20;
  // How long a write waits for another connection's lock on the file before failing with
  // UNAVAILABLE. Default: 5000.
  int busy_timeout_ms = 5000;

  // ---- Parameters that affect performance ----

  // Reader connections serving flow and long-term-memory reads. Default: 4.
  int readers = 4;
  // At most this many queued writes share one transaction. Default: 256.
  int max_group_size = 256;
  // Where callback writes (AddTaskOutputsAsync) are led when their caller may not lead them
  // (the write queue was busy, or the caller said so): a leader task here commits group after
  // group while callback writes are queued. Not owned. Default: nullptr = the submitting
  // thread always leads (tests).
  Executor* write_executor = nullptr;

  // ---- Testing ----

  // Called by the group-commit leader, on its thread, just before it writes a group of
  // `group_size` writes. Default: none.
  std::function<void(int group_size)> before_commit_hook;
};

// Which kickoff LoadTaskOutputs returns.
struct KickoffSelector {
  enum class Kind { kById, kByTask, kLatest };
  Kind kind = Kind::kLatest;
  std::string value;  // kickoff id, task id, or namespace (kLatest)

  static KickoffSelector ById(absl::string_view id) { return {Kind::kById, std::string(id)}; }
  static KickoffSelector ByTask(absl::string_view task_id) {
    return {Kind::kByTask, std::string(task_id)};
  }
  static KickoffSelector Latest(absl::string_view ns) { return {Kind::kLatest, std::string(ns)}; }
};

struct PersistenceStoreStats {
  int64_t commits = 0;           // transactions committed by group commit
  int64_t committed_writes = 0;  // write calls acknowledged OK
  int64_t failed_writes = 0;     // write calls that failed after validation
  int64_t pending_writes = 0;    // queued or being committed now
  int64_t kickoffs = 0;
  int64_t task_outputs = 0;
  int64_t evicted_kickoffs = 0;  // deleted by max_kickoffs since start
};

// Thread-safety: safe for concurrent use by any number of threads. A write blocks the
// calling thread until its group has committed (milliseconds with fsync), and reads of flow
// state and long-term memory touch SQLite, so call them from a thread that may block (an
// executor), never from a gRPC reactor. Kickoff reads are in-memory and bounded.
class PersistenceStore {
 public:
  // Opens <options.data_dir>/persistence.db (creating the directory and the file when
  // missing, checking its integrity, migrating an older schema) and loads every kickoff.
  // Errors: INVALID_ARGUMENT (bad options), UNAVAILABLE (cannot create/open/lock the file),
  // DATA_LOSS (the file is corrupt: the daemon must refuse to start; the file is left as
  // it is), FAILED_PRECONDITION (not our file, or a newer schema).
  static absl::StatusOr<std::unique_ptr<PersistenceStore>> Open(
      const PersistenceStoreOptions& options);

  PersistenceStore() = default;
  PersistenceStore(const PersistenceStore&) = delete;
  PersistenceStore& operator=(const PersistenceStore&) = delete;
  // Closes the file without a checkpoint when Close() was not called (safe: the WAL is
  // replayed on the next Open).
  // REQUIRES: no call is in progress.
  virtual ~PersistenceStore() = default;

  // ---- Kickoff task outputs ----

  // INSERT OR REPLACE of `row` (by task_id) into kickoff `kickoff_id`, creating the kickoff
  // under namespace `ns` on its first row (`ns` of later adds is ignored). Returns the row
  // as stored (with its timestamp).
  // Errors: INVALID_ARGUMENT ("kickoff_id: ...", "row.task_id: ...", "row.output_json: ...",
  // "row.inputs_json: ...", "row.task_index: negative"), RESOURCE_EXHAUSTED (too large).
  virtual absl::StatusOr<TaskOutputRow> AddTaskOutput(absl::string_view ns,
                                                      absl::string_view kickoff_id,
                                                      TaskOutputRow row) = 0;

  // AddTaskOutput of several rows of one kickoff, in order, atomically: all rows are written
  // in one transaction, or none (a bad row fails the whole batch, naming it: "rows[2].
  // output_json: ..."). Returns the rows as stored. Errors: those of AddTaskOutput, and
  // INVALID_ARGUMENT "rows: ..." for an empty batch or more than kMaxBatchRows rows.
  virtual absl::StatusOr<std::vector<TaskOutputRow>> AddTaskOutputs(
      absl::string_view ns, absl::string_view kickoff_id, std::vector<TaskOutputRow> rows) = 0;

  using AddTaskOutputsDone = absl::AnyInvocable<void(absl::StatusOr<std::vector<TaskOutputRow>>)>;
  // Callback flavour of AddTaskOutputs for callers that must not wait for a commit (gRPC
  // reactors). Validation runs on the calling thread (a bad request calls `done` before this
  // returns). Otherwise the write is queued and `done` runs exactly once, when its group has
  // committed or failed, on the thread of that group's leader: this thread, before returning,
  // when the write queue was empty and `may_lead` (one commit: a bounded wait of one fsync);
  // otherwise a leader task on options.write_executor. `batch` names fields in errors
  // "rows[i]." (else "row.", as AddTaskOutput). Never throws.
  virtual void AddTaskOutputsAsync(std::string ns, std::string kickoff_id,
                                   std::vector<TaskOutputRow> rows, bool batch, bool may_lead,
                                   AddTaskOutputsDone done) = 0;

  // Sets the columns in `update` on every row of `kickoff_id` with `task_index` and returns
  // the updated rows (in load order).
  // Errors: NOT_FOUND (no such kickoff, or no row with that task_index), INVALID_ARGUMENT
  // ("update: no column to set", "update.output_json: ..."), ALREADY_EXISTS
  // ("update.task_id: ... already used by another row").
  virtual absl::StatusOr<std::vector<TaskOutputRow>> UpdateTaskOutputs(
      absl::string_view kickoff_id, int64_t task_index, const TaskOutputUpdate& update) = 0;

  // The selected kickoff's log, or nullptr when there is none (unknown id, task never
  // stored, empty namespace).
  virtual absl::StatusOr<std::shared_ptr<const KickoffSnapshot>> LoadTaskOutputs(
      const KickoffSelector& selector) const = 0;

  // Deletes kickoff `kickoff_id` (when not empty) or every kickoff of namespace `ns`.
  // Returns the number of rows deleted.
  virtual absl::StatusOr<int64_t> DeleteTaskOutputs(absl::string_view ns,
                                                    absl::string_view kickoff_id) = 0;

  // Kickoffs of `ns` (every namespace when `all_namespaces`), newest first, at most `limit`.
  virtual absl::StatusOr<std::vector<KickoffInfo>> ListKickoffs(absl::string_view ns,
                                                                bool all_namespaces,
                                                                int64_t limit) const = 0;

  // ---- Flow state ----

  // Appends a state for `flow_uuid`. `timestamp` is kept as given ("" = now, ISO 8601 UTC).
  // Errors: INVALID_ARGUMENT ("flow_uuid: ...", "method_name: ...", "state_json: ..."),
  // RESOURCE_EXHAUSTED.
  virtual absl::Status SaveFlowState(absl::string_view flow_uuid, absl::string_view method_name,
                                     std::string state_json, std::string timestamp) = 0;

  // The latest state of `flow_uuid`, or nullopt.
  virtual absl::StatusOr<std::optional<FlowState>> LoadFlowState(
      absl::string_view flow_uuid) const = 0;

  // Appends the state (method `method_name`) and stores the pending-feedback context
  // (replacing an earlier one of the flow), in one transaction. `created_at` "" = now.
  virtual absl::Status SavePendingFeedback(absl::string_view flow_uuid,
                                           absl::string_view method_name, std::string context_json,
                                           std::string state_json, std::string created_at) = 0;

  virtual absl::StatusOr<std::optional<PendingFeedback>> LoadPendingFeedback(
      absl::string_view flow_uuid) const = 0;

  // Deletes the pending feedback of `flow_uuid`; returns whether there was one.
  virtual absl::StatusOr<bool> ClearPendingFeedback(absl::string_view flow_uuid) = 0;

  // ---- Legacy long-term memory ----

  // Errors: INVALID_ARGUMENT ("metadata_json: ...", "score: not a finite number"),
  // RESOURCE_EXHAUSTED.
  virtual absl::Status SaveLtm(absl::string_view ns, std::string task_description,
                               std::string metadata_json, std::string datetime, double score) = 0;

  // At most `latest_n` entries (1..kMaxLtmLoad, else INVALID_ARGUMENT "latest_n: ...").
  virtual absl::StatusOr<std::vector<LtmEntry>> LoadLtm(absl::string_view ns,
                                                        absl::string_view task_description,
                                                        int64_t latest_n) const = 0;

  // Deletes every entry of `ns`; returns how many.
  virtual absl::StatusOr<int64_t> ResetLtm(absl::string_view ns) = 0;

  // ---- Administration ----

  // Online backup of persistence.db to `dest_path` (absolute; its directory must exist;
  // an existing file is replaced only with `overwrite`), then a quick_check of the copy.
  // Writes continue meanwhile; the copy is the state of one instant.
  // Errors: INVALID_ARGUMENT ("dest_path: must be absolute", "dest_path: is the live
  // database"), ALREADY_EXISTS, FAILED_PRECONDITION (directory missing), UNAVAILABLE.
  virtual absl::StatusOr<BackupResult> Backup(const std::string& dest_path, bool overwrite) = 0;

  virtual PersistenceStoreStats GetStats() const = 0;

  // Absolute path of persistence.db.
  virtual const std::string& path() const = 0;

  // Waits for queued writes, checkpoints the WAL into the file (TRUNCATE) and closes it.
  // Every later call fails with FAILED_PRECONDITION.
  virtual absl::Status Close() = 0;
};

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_PERSISTENCE_STORE_H_
