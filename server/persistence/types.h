// File: types.h
//
// Plain value types of the persistence core (no gRPC, no protobuf): CrewAI's kickoff task
// output rows, flow states and pending feedback, legacy long-term-memory entries, and the
// limits every request is validated against.
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_TYPES_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_TYPES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fast_crewai::persistence {

// Longest identifier accepted (kickoff ids, task ids, namespaces, flow uuids, method names,
// lock names), in bytes. Identifiers must also be free of control characters.
inline constexpr size_t kMaxIdBytes = 4096;
// Most long-term-memory entries one load may return (CrewAI asks for latest_n = 2 or 3).
inline constexpr int64_t kMaxLtmLoad = 10000;
// Most rows one AddTaskOutputs batch may carry.
inline constexpr int64_t kMaxBatchRows = 10000;
// Most kickoffs one ListKickoffs may return.
inline constexpr int64_t kMaxListKickoffs = 10000;

// One row of CrewAI's latest_kickoff_task_outputs table (crewai 1.15.30,
// memory/storage/kickoff_task_outputs_storage.py): the output of one task of one kickoff.
struct TaskOutputRow {
  std::string task_id;
  // NULL in CrewAI's table when the task has no key (nullopt here).
  std::optional<std::string> task_key;
  std::string expected_output;
  // json.dumps(output dict, cls=CrewJSONEncoder): the client's text, byte for byte.
  std::string output_json;
  int64_t task_index = 0;
  // json.dumps(inputs dict): the client's text.
  std::string inputs_json;
  bool was_replayed = false;
  // SQLite's CURRENT_TIMESTAMP form, UTC: "2026-11-26 01:02:03". On input: empty = the
  // store's time of the insert (or replacement); given = kept (a row the client wrote to
  // CrewAI's file while the daemon was away, sent later), INVALID_ARGUMENT unless in that form.
  std::string timestamp;
};

// CrewAI's storage.update(task_index, **kwargs): the columns to set (nullopt = keep).
struct TaskOutputUpdate {
  std::optional<std::string> task_id;
  std::optional<std::string> task_key;
  std::optional<std::string> expected_output;
  std::optional<std::string> output_json;
  std::optional<std::string> inputs_json;
  std::optional<bool> was_replayed;

  bool empty() const {
    return !task_id && !task_key && !expected_output && !output_json && !inputs_json &&
           !was_replayed;
  }
};

// A row as the store keeps it: immutable once published, shared by snapshots.
struct StoredTaskOutput {
  TaskOutputRow row;
  // Position among rows of equal task_index (insertion order; an update keeps it, a
  // replacing add takes a new one), as SQLite's rowid orders CrewAI's table.
  int64_t insert_seq = 0;
  // When the row was last written (store-wide sequence): "the kickoff that ran task X" is
  // the one whose row for X was written last.
  int64_t write_seq = 0;
};

// An immutable snapshot of one kickoff's replay log.
struct KickoffSnapshot {
  std::string kickoff_id;
  std::string ns;
  // Store-wide sequence of the kickoff's first write: the latest kickoff of a namespace is
  // the one created last.
  int64_t created_seq = 0;
  int64_t created_at_micros = 0;
  // Ordered as CrewAI's load(): by task_index, then insertion order.
  std::vector<std::shared_ptr<const StoredTaskOutput>> rows;
};

// A summary line of ListKickoffs.
struct KickoffInfo {
  std::string kickoff_id;
  std::string ns;
  int64_t created_at_micros = 0;
  int64_t task_count = 0;
  // The task_index of the last row (-1 when none) and its task id.
  int64_t last_task_index = -1;
  std::string last_task_id;
};

// One entry of a flow's append-only state log (CrewAI's flow_states table).
struct FlowState {
  int64_t id = 0;
  std::string flow_uuid;
  std::string method_name;
  // The client's text (CrewAI: datetime.now(timezone.utc).isoformat()).
  std::string timestamp;
  std::string state_json;
};

// A paused flow waiting for human feedback (CrewAI's pending_feedback table).
struct PendingFeedback {
  std::string flow_uuid;
  std::string context_json;
  std::string state_json;
  std::string created_at;
};

// One legacy long-term-memory entry (CrewAI <= 1.9 LTMSQLiteStorage).
struct LtmEntry {
  std::string metadata_json;
  std::string datetime;
  double score = 0;
};

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_TYPES_H_
