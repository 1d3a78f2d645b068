#include "server/persistence/persistence_store.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/persistence/group_commit.h"
#include "server/persistence/json_check.h"
#include "server/persistence/persistence_db.h"
#include "server/persistence/validation.h"

namespace fast_crewai::persistence {
namespace {

constexpr char kFileName[] = "persistence.db";

// SQLite's CURRENT_TIMESTAMP form, which CrewAI's table stores: "2026-11-26 01:02:03" (UTC).
std::string SqliteTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::UTCTimeZone());
}

// Python's datetime.now(timezone.utc).isoformat(): "2026-11-26T01:02:03.123456+00:00".
std::string IsoTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6S+00:00", t, absl::UTCTimeZone());
}

// A row's given timestamp must be in SqliteTimestamp's form exactly, a real UTC time.
absl::Status ValidateSqliteTimestamp(absl::string_view text, absl::string_view field) {
  absl::Time t;
  std::string error;
  if (absl::ParseTime("%Y-%m-%d %H:%M:%S", text, absl::UTCTimeZone(), &t, &error) &&
      SqliteTimestamp(t) == text) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be a UTC time as \"YYYY-MM-DD HH:MM:SS\" or empty, got \"",
                   absl::CHexEscape(text.substr(0, 40)), "\""));
}

absl::Status Closed() { return absl::FailedPreconditionError("persistence store is closed"); }

// Load order of CrewAI's `SELECT ... ORDER BY task_index` over a table whose rowids follow
// insertion: task_index, then insertion.
bool RowLess(const std::shared_ptr<const StoredTaskOutput>& a,
             const std::shared_ptr<const StoredTaskOutput>& b) {
  if (a->row.task_index != b->row.task_index) return a->row.task_index < b->row.task_index;
  return a->insert_seq < b->insert_seq;
}

class PersistenceStoreImpl final : public PersistenceStore {
 public:
  PersistenceStoreImpl(const PersistenceStoreOptions& options, std::unique_ptr<PersistenceDb> db)
      : options_(options), db_(std::move(db)), writers_(options.max_group_size) {
    writers_.EnableAsync(
        options.write_executor != nullptr ? options.write_executor : &inline_executor_,
        [this](const std::vector<Writer*>& group) {
          absl::MutexLock leader(&leader_mu_);
          ProcessGroup(group);
        });
  }

  ~PersistenceStoreImpl() override = default;

  absl::Status LoadAll();

  absl::StatusOr<TaskOutputRow> AddTaskOutput(absl::string_view ns, absl::string_view kickoff_id,
                                              TaskOutputRow row) override;
  absl::StatusOr<std::vector<TaskOutputRow>> AddTaskOutputs(
      absl::string_view ns, absl::string_view kickoff_id, std::vector<TaskOutputRow> rows) override;
  void AddTaskOutputsAsync(std::string ns, std::string kickoff_id, std::vector<TaskOutputRow> rows,
                           bool batch, bool may_lead, AddTaskOutputsDone done) override;
  absl::StatusOr<std::vector<TaskOutputRow>> UpdateTaskOutputs(
      absl::string_view kickoff_id, int64_t task_index, const TaskOutputUpdate& update) override;
  absl::StatusOr<std::shared_ptr<const KickoffSnapshot>> LoadTaskOutputs(
      const KickoffSelector& selector) const override;
  absl::StatusOr<int64_t> DeleteTaskOutputs(absl::string_view ns,
                                            absl::string_view kickoff_id) override;
  absl::StatusOr<std::vector<KickoffInfo>> ListKickoffs(absl::string_view ns, bool all_namespaces,
                                                        int64_t limit) const override;

  absl::Status SaveFlowState(absl::string_view flow_uuid, absl::string_view method_name,
                             std::string state_json, std::string timestamp) override;
  absl::StatusOr<std::optional<FlowState>> LoadFlowState(
      absl::string_view flow_uuid) const override;
  absl::Status SavePendingFeedback(absl::string_view flow_uuid, absl::string_view method_name,
                                   std::string context_json, std::string state_json,
                                   std::string created_at) override;
  absl::StatusOr<std::optional<PendingFeedback>> LoadPendingFeedback(
      absl::string_view flow_uuid) const override;
  absl::StatusOr<bool> ClearPendingFeedback(absl::string_view flow_uuid) override;

  absl::Status SaveLtm(absl::string_view ns, std::string task_description,
                       std::string metadata_json, std::string datetime, double score) override;
  absl::StatusOr<std::vector<LtmEntry>> LoadLtm(absl::string_view ns,
                                                absl::string_view task_description,
                                                int64_t latest_n) const override;
  absl::StatusOr<int64_t> ResetLtm(absl::string_view ns) override;

  absl::StatusOr<BackupResult> Backup(const std::string& dest_path, bool overwrite) override;
  PersistenceStoreStats GetStats() const override;
  const std::string& path() const override { return db_->path(); }
  absl::Status Close() override;

 private:
  using KickoffPtr = std::shared_ptr<const KickoffSnapshot>;

  // The planning context of one group: the state as left by the group's earlier writes.
  struct Group {
    std::vector<DbOp> ops;
    // Kickoffs changed by this group: the new version, or nullptr when deleted.
    absl::flat_hash_map<std::string, std::shared_ptr<KickoffSnapshot>> staged;
    // Everything ops point into stays alive until the group is done.
    std::vector<std::shared_ptr<const void>> keep_alive;
    int64_t next_seq = 0;
    int64_t kickoff_count = 0;
    int64_t evicted = 0;
    // Changes to the task_id -> kickoff index, in order (true = add), and to the row count:
    // applying them costs what the group changed, not the size of the kickoffs it touched.
    std::vector<std::tuple<std::string, std::string, bool>> index_changes;
    int64_t task_outputs_delta = 0;
    // Pending feedback existence / LTM counts as changed by this group (reads see committed
    // data only).
    absl::flat_hash_map<std::string, bool> pending_exists;
    absl::flat_hash_map<std::string, int64_t> ltm_added;
  };

  // One queued write call. Lives on the caller's stack until `done`.
  struct Writer {
    // Plans the write against `group`: validates against the state, then appends its ops
    // and stages its changes. Must not change `group` when it returns an error.
    absl::AnyInvocable<absl::Status(Group&)> plan;
    absl::Status status;
    bool done = false;  // written by the group-commit queue
    // Callback writers only (GroupCommitQueue::SubmitAsync): runs once after the group.
    absl::AnyInvocable<void()> complete;
  };

  // A queued AddTaskOutputsAsync: owns its data; deleted by its completion.
  struct AsyncAdd {
    Writer writer;
    std::string ns;
    std::string kickoff_id;
    std::vector<TaskOutputRow> rows;
    std::vector<TaskOutputRow> stored;
    AddTaskOutputsDone done;
  };

  absl::Status CheckOpen() const {
    return closed_.load(std::memory_order_acquire) ? Closed() : absl::OkStatus();
  }

  // Queues `w` and returns once its group has committed (or failed).
  absl::Status Submit(Writer* w) ABSL_LOCKS_EXCLUDED(leader_mu_);
  void ProcessGroup(const std::vector<Writer*>& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  void Apply(Group& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);

  KickoffPtr FindLive(absl::string_view id) const ABSL_LOCKS_EXCLUDED(state_mu_);
  // The kickoff as left by the group's earlier writes (nullptr: none or deleted).
  KickoffPtr Find(Group& g, const std::string& id) const;
  // A staged, writable copy of an existing kickoff.
  std::shared_ptr<KickoffSnapshot> Mutable(Group& g, const std::string& id) const;
  void StageDelete(Group& g, const KickoffPtr& k) const;
  void EvictIfFull(Group& g) const;
  // Every kickoff of `ns` as the group sees it.
  std::vector<KickoffPtr> KickoffsOf(Group& g, const std::string& ns) const;

  // Validates an add of `rows` (field names prefixed "row." for one row, "rows[i]." else).
  absl::Status ValidateAdd(absl::string_view ns, absl::string_view kickoff_id,
                           const std::vector<TaskOutputRow>& rows, bool batch) const;
  // Plans the INSERT OR REPLACE of `rows` into kickoff `id` (created under `ns` when new);
  // appends each row as stored to `stored`. Never fails.
  void PlanAdd(Group& g, const std::string& ns, const std::string& id,
               std::vector<TaskOutputRow>& rows, std::vector<TaskOutputRow>* stored) const;

  void Index(const KickoffSnapshot& k) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  void IndexTask(const std::string& task_id, const std::string& kickoff_id, bool add)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);

  const PersistenceStoreOptions options_;
  // Set at Open, never reset: Close() closes the connections, later calls fail.
  const std::unique_ptr<PersistenceDb> db_;

  InlineExecutor inline_executor_;  // leads callback writes when no write_executor is set
  GroupCommitQueue<Writer> writers_;
  std::atomic<bool> closed_{false};

  // Held by the group-commit leader while it plans, writes and applies a group.
  absl::Mutex leader_mu_;
  int64_t next_seq_ ABSL_GUARDED_BY(leader_mu_) = 1;

  // The published kickoff state. Written only by the leader (after a commit).
  mutable absl::Mutex state_mu_ ABSL_ACQUIRED_AFTER(leader_mu_);
  absl::flat_hash_map<std::string, KickoffPtr> kickoffs_ ABSL_GUARDED_BY(state_mu_);
  // created_seq -> kickoff id: creation order (latest per namespace, eviction).
  std::map<int64_t, std::string> by_creation_ ABSL_GUARDED_BY(state_mu_);
  // task_id -> kickoffs having a row for it.
  absl::flat_hash_map<std::string, std::vector<std::string>> by_task_ ABSL_GUARDED_BY(state_mu_);
  int64_t task_outputs_ ABSL_GUARDED_BY(state_mu_) = 0;

  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> committed_writes_{0};
  std::atomic<int64_t> failed_writes_{0};
  std::atomic<int64_t> evicted_{0};
};

// ---------------------------------------------------------------------------------------
// Loading

absl::Status PersistenceStoreImpl::LoadAll() {
  absl::MutexLock leader(&leader_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<KickoffSnapshot>> loaded;
  absl::Status s = db_->LoadKickoffs(
      [&](KickoffSnapshot k) -> absl::Status {
        std::string id = k.kickoff_id;
        loaded[id] = std::make_shared<KickoffSnapshot>(std::move(k));
        return absl::OkStatus();
      },
      [&](const std::string& kickoff_id, StoredTaskOutput row) -> absl::Status {
        auto it = loaded.find(kickoff_id);
        if (it == loaded.end()) {
          return absl::DataLossError(absl::StrCat(db_->path(), ": task output \"", row.row.task_id,
                                                  "\" belongs to unknown kickoff \"", kickoff_id,
                                                  "\""));
        }
        it->second->rows.push_back(std::make_shared<const StoredTaskOutput>(std::move(row)));
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  absl::StatusOr<int64_t> max_seq = db_->MaxSequence();
  if (!max_seq.ok()) return max_seq.status();
  next_seq_ = *max_seq + 1;
  absl::MutexLock lock(&state_mu_);
  for (auto& [id, k] : loaded) {
    std::sort(k->rows.begin(), k->rows.end(), RowLess);
    Index(*k);
    by_creation_[k->created_seq] = id;
    kickoffs_[id] = std::move(k);
  }
  return absl::OkStatus();
}

void PersistenceStoreImpl::Index(const KickoffSnapshot& k) {
  task_outputs_ += static_cast<int64_t>(k.rows.size());
  for (const auto& row : k.rows) IndexTask(row->row.task_id, k.kickoff_id, /*add=*/true);
}

void PersistenceStoreImpl::IndexTask(const std::string& task_id, const std::string& kickoff_id,
                                     bool add) {
  if (add) {
    std::vector<std::string>& ids = by_task_[task_id];
    if (std::find(ids.begin(), ids.end(), kickoff_id) == ids.end()) ids.push_back(kickoff_id);
    return;
  }
  auto it = by_task_.find(task_id);
  if (it == by_task_.end()) return;
  std::vector<std::string>& ids = it->second;
  ids.erase(std::remove(ids.begin(), ids.end(), kickoff_id), ids.end());
  if (ids.empty()) by_task_.erase(it);
}

// ---------------------------------------------------------------------------------------
// Group commit

absl::Status PersistenceStoreImpl::Submit(Writer* w) {
  return writers_.Submit(w, Closed());  // processed as EnableAsync was told (constructor)
}

void PersistenceStoreImpl::ProcessGroup(const std::vector<Writer*>& writers) {
  Group g;
  g.next_seq = next_seq_;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    g.kickoff_count = static_cast<int64_t>(kickoffs_.size());
  }
  std::vector<Writer*> planned;
  try {
    for (Writer* w : writers) {
      if (closed_.load(std::memory_order_acquire)) {
        w->status = Closed();
        continue;
      }
      const size_t ops_before = g.ops.size();
      w->status = w->plan(g);
      if (!w->status.ok()) {
        failed_writes_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (g.ops.size() > ops_before) {
        planned.push_back(w);
      } else {
        committed_writes_.fetch_add(1, std::memory_order_relaxed);  // a no-op that succeeded
      }
    }
    if (!planned.empty() && options_.before_commit_hook) {
      options_.before_commit_hook(static_cast<int>(writers.size()));
    }
  } catch (const std::exception& e) {  // planning allocates; out of memory fails the group
    const absl::Status s = absl::ResourceExhaustedError(
        absl::StrCat("persistence store: cannot plan a write: ", e.what()));
    for (Writer* w : writers) {
      if (w->status.ok()) w->status = s;
    }
    failed_writes_.fetch_add(static_cast<int64_t>(planned.size()), std::memory_order_relaxed);
    return;
  }
  if (planned.empty()) return;
  std::vector<const DbOp*> ops;
  ops.reserve(g.ops.size());
  for (const DbOp& op : g.ops) ops.push_back(&op);
  const absl::Status status = db_->Write(ops);  // RunSqlite inside: does not throw
  if (!status.ok()) {
    for (Writer* w : planned) w->status = status;
    failed_writes_.fetch_add(static_cast<int64_t>(planned.size()), std::memory_order_relaxed);
    return;  // nothing was published: the group's changes stay invisible
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  // The group is durable now. Publishing only allocates; should that fail, memory would
  // disagree with the file, so the process stops and the next start reloads the file.
  try {
    Apply(g);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fast-crewai persistence store: cannot apply a committed write: %s\n",
                 e.what());
    std::abort();
  }
  committed_writes_.fetch_add(static_cast<int64_t>(planned.size()), std::memory_order_relaxed);
}

void PersistenceStoreImpl::Apply(Group& g) {
  next_seq_ = g.next_seq;
  evicted_.fetch_add(g.evicted, std::memory_order_relaxed);
  absl::MutexLock lock(&state_mu_);
  for (auto& [id, k] : g.staged) {
    if (auto it = kickoffs_.find(id); it != kickoffs_.end()) {
      by_creation_.erase(it->second->created_seq);
      kickoffs_.erase(it);
    }
    if (k != nullptr) {
      by_creation_[k->created_seq] = id;
      kickoffs_[id] = std::move(k);
    }
  }
  for (const auto& [task_id, kickoff_id, add] : g.index_changes) {
    IndexTask(task_id, kickoff_id, add);
  }
  task_outputs_ += g.task_outputs_delta;
}

// ---------------------------------------------------------------------------------------
// Planning helpers (leader only)

PersistenceStoreImpl::KickoffPtr PersistenceStoreImpl::FindLive(absl::string_view id) const {
  absl::ReaderMutexLock lock(&state_mu_);
  auto it = kickoffs_.find(id);
  return it == kickoffs_.end() ? nullptr : it->second;
}

PersistenceStoreImpl::KickoffPtr PersistenceStoreImpl::Find(Group& g, const std::string& id) const {
  if (auto it = g.staged.find(id); it != g.staged.end()) return it->second;
  return FindLive(id);
}

std::shared_ptr<KickoffSnapshot> PersistenceStoreImpl::Mutable(Group& g,
                                                               const std::string& id) const {
  if (auto it = g.staged.find(id); it != g.staged.end() && it->second != nullptr) {
    return it->second;
  }
  KickoffPtr live = FindLive(id);
  auto copy = std::make_shared<KickoffSnapshot>(*live);  // copies row pointers, not rows
  g.staged[id] = copy;
  g.keep_alive.push_back(copy);
  return copy;
}

void PersistenceStoreImpl::StageDelete(Group& g, const KickoffPtr& k) const {
  g.keep_alive.push_back(k);
  for (const auto& row : k->rows)
    g.index_changes.emplace_back(row->row.task_id, k->kickoff_id, false);
  g.task_outputs_delta -= static_cast<int64_t>(k->rows.size());
  g.ops.push_back(DeleteKickoffOp{k->kickoff_id});
  g.staged[k->kickoff_id] = nullptr;
  --g.kickoff_count;
}

void PersistenceStoreImpl::EvictIfFull(Group& g) const {
  if (g.kickoff_count <= options_.max_kickoffs) return;
  std::vector<KickoffPtr> victims;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    int64_t excess = g.kickoff_count - options_.max_kickoffs;
    for (const auto& [seq, id] : by_creation_) {
      if (excess <= 0) break;
      if (g.staged.contains(id)) continue;  // touched by this group: leave it
      victims.push_back(kickoffs_.at(id));
      --excess;
    }
  }
  for (const KickoffPtr& victim : victims) {
    StageDelete(g, victim);
    ++g.evicted;
  }
}

std::vector<PersistenceStoreImpl::KickoffPtr> PersistenceStoreImpl::KickoffsOf(
    Group& g, const std::string& ns) const {
  std::vector<KickoffPtr> out;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    for (const auto& [id, k] : kickoffs_) {
      if (k->ns == ns && !g.staged.contains(id)) out.push_back(k);
    }
  }
  for (const auto& [id, k] : g.staged) {
    if (k != nullptr && k->ns == ns) out.push_back(k);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Kickoff task outputs

absl::Status ValidateRowValues(const TaskOutputRow& row, absl::string_view prefix,
                               int64_t max_bytes) {
  const auto field = [&](absl::string_view name) { return absl::StrCat(prefix, name); };
  if (absl::Status s = ValidateIdentifier(row.task_id, field("task_id")); !s.ok()) return s;
  if (row.task_key.has_value()) {
    if (absl::Status s = ValidateSize(*row.task_key, field("task_key"), max_bytes); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ValidateSize(row.expected_output, field("expected_output"), max_bytes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateSize(row.output_json, field("output_json"), max_bytes); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateSize(row.inputs_json, field("inputs_json"), max_bytes); !s.ok()) {
    return s;
  }
  if (row.task_index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field("task_index"), ": must not be negative, got ", row.task_index));
  }
  if (!row.timestamp.empty()) {
    if (absl::Status s = ValidateSqliteTimestamp(row.timestamp, field("timestamp")); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ValidateJsonText(row.output_json, field("output_json")); !s.ok()) return s;
  return ValidateJsonText(row.inputs_json, field("inputs_json"));
}

absl::Status PersistenceStoreImpl::ValidateAdd(absl::string_view ns, absl::string_view kickoff_id,
                                               const std::vector<TaskOutputRow>& rows,
                                               bool batch) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(ns, "namespace", /*allow_empty=*/true); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateIdentifier(kickoff_id, "kickoff_id"); !s.ok()) return s;
  if (rows.empty()) return absl::InvalidArgumentError("rows: must not be empty");
  if (static_cast<int64_t>(rows.size()) > kMaxBatchRows) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows: ", rows.size(), " rows is more than the limit of ", kMaxBatchRows));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string prefix = batch ? absl::StrCat("rows[", i, "].") : std::string("row.");
    if (absl::Status s = ValidateRowValues(rows[i], prefix, options_.max_value_bytes); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void PersistenceStoreImpl::PlanAdd(Group& g, const std::string& ns, const std::string& id,
                                   std::vector<TaskOutputRow>& rows,
                                   std::vector<TaskOutputRow>* stored_rows) const {
  const absl::Time now = options_.clock->Now();
  const std::string timestamp = SqliteTimestamp(now);
  std::shared_ptr<KickoffSnapshot> k;
  if (Find(g, id) == nullptr) {
    k = std::make_shared<KickoffSnapshot>();
    k->kickoff_id = id;
    k->ns = ns;
    k->created_seq = g.next_seq++;
    k->created_at_micros = absl::ToUnixMicros(now);
    g.staged[id] = k;
    g.keep_alive.push_back(k);
    g.ops.push_back(InsertKickoffOp{k.get()});
    ++g.kickoff_count;
    EvictIfFull(g);
  } else {
    k = Mutable(g, id);
  }
  for (TaskOutputRow& row : rows) {
    auto stored = std::make_shared<StoredTaskOutput>();
    stored->row = std::move(row);
    if (stored->row.timestamp.empty()) stored->row.timestamp = timestamp;
    stored->insert_seq = stored->write_seq = g.next_seq++;
    // INSERT OR REPLACE: a row with the same task_id goes away, the new one is the newest.
    const size_t before = k->rows.size();
    k->rows.erase(
        std::remove_if(k->rows.begin(), k->rows.end(),
                       [&](const auto& r) { return r->row.task_id == stored->row.task_id; }),
        k->rows.end());
    if (k->rows.size() == before) {  // a new task of this kickoff
      g.index_changes.emplace_back(stored->row.task_id, id, true);
      ++g.task_outputs_delta;
    }
    std::shared_ptr<const StoredTaskOutput> published = stored;
    k->rows.insert(std::upper_bound(k->rows.begin(), k->rows.end(), published, RowLess), published);
    g.keep_alive.push_back(published);
    g.ops.push_back(UpsertTaskOutputOp{&k->kickoff_id, published.get()});
    stored_rows->push_back(published->row);
  }
}

absl::StatusOr<TaskOutputRow> PersistenceStoreImpl::AddTaskOutput(absl::string_view ns,
                                                                  absl::string_view kickoff_id,
                                                                  TaskOutputRow row) {
  std::vector<TaskOutputRow> rows;
  rows.push_back(std::move(row));
  if (absl::Status s = ValidateAdd(ns, kickoff_id, rows, /*batch=*/false); !s.ok()) return s;
  const std::string id(kickoff_id);
  const std::string namespace_name(ns);
  std::vector<TaskOutputRow> result;
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    PlanAdd(g, namespace_name, id, rows, &result);
    return absl::OkStatus();
  };
  if (absl::Status s = Submit(&w); !s.ok()) return s;
  return std::move(result.front());
}

absl::StatusOr<std::vector<TaskOutputRow>> PersistenceStoreImpl::AddTaskOutputs(
    absl::string_view ns, absl::string_view kickoff_id, std::vector<TaskOutputRow> rows) {
  if (absl::Status s = ValidateAdd(ns, kickoff_id, rows, /*batch=*/true); !s.ok()) return s;
  const std::string id(kickoff_id);
  const std::string namespace_name(ns);
  std::vector<TaskOutputRow> result;
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    PlanAdd(g, namespace_name, id, rows, &result);
    return absl::OkStatus();
  };
  if (absl::Status s = Submit(&w); !s.ok()) return s;
  return result;
}

void PersistenceStoreImpl::AddTaskOutputsAsync(std::string ns, std::string kickoff_id,
                                               std::vector<TaskOutputRow> rows, bool batch,
                                               bool may_lead, AddTaskOutputsDone done) {
  if (absl::Status s = ValidateAdd(ns, kickoff_id, rows, batch); !s.ok()) {
    done(s);
    return;
  }
  std::unique_ptr<AsyncAdd> add;
  try {
    add = std::make_unique<AsyncAdd>();
    add->ns = std::move(ns);
    add->kickoff_id = std::move(kickoff_id);
    add->rows = std::move(rows);
    add->done = std::move(done);
    add->stored.reserve(add->rows.size());
    AsyncAdd* raw = add.get();
    add->writer.plan = [this, raw](Group& g) -> absl::Status {
      PlanAdd(g, raw->ns, raw->kickoff_id, raw->rows, &raw->stored);
      return absl::OkStatus();
    };
    add->writer.complete = [raw] {
      std::unique_ptr<AsyncAdd> owned(raw);
      if (owned->writer.status.ok()) {
        owned->done(std::move(owned->stored));
      } else {
        owned->done(owned->writer.status);
      }
    };
  } catch (const std::exception& e) {
    AddTaskOutputsDone& callback = add != nullptr && add->done ? add->done : done;
    callback(absl::ResourceExhaustedError(
        absl::StrCat("persistence store: cannot queue a write: ", e.what())));
    return;
  }
  // From here the queue owns the write; its completion deletes it.
  writers_.SubmitAsync(&add.release()->writer, Closed(), may_lead);
}

absl::StatusOr<std::vector<TaskOutputRow>> PersistenceStoreImpl::UpdateTaskOutputs(
    absl::string_view kickoff_id, int64_t task_index, const TaskOutputUpdate& update) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(kickoff_id, "kickoff_id"); !s.ok()) return s;
  if (update.empty()) return absl::InvalidArgumentError("update: no column to set");
  const int64_t max = options_.max_value_bytes;
  if (update.task_id) {
    if (absl::Status s = ValidateIdentifier(*update.task_id, "update.task_id"); !s.ok()) return s;
  }
  if (update.task_key) {
    if (absl::Status s = ValidateSize(*update.task_key, "update.task_key", max); !s.ok()) return s;
  }
  if (update.expected_output) {
    if (absl::Status s = ValidateSize(*update.expected_output, "update.expected_output", max);
        !s.ok()) {
      return s;
    }
  }
  if (update.output_json) {
    if (absl::Status s = ValidateSize(*update.output_json, "update.output_json", max); !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateJsonText(*update.output_json, "update.output_json"); !s.ok()) {
      return s;
    }
  }
  if (update.inputs_json) {
    if (absl::Status s = ValidateSize(*update.inputs_json, "update.inputs_json", max); !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateJsonText(*update.inputs_json, "update.inputs_json"); !s.ok()) {
      return s;
    }
  }
  const std::string id(kickoff_id);
  std::vector<TaskOutputRow> result;
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    KickoffPtr current = Find(g, id);
    if (current == nullptr) {
      return absl::NotFoundError(absl::StrCat("kickoff_id: no kickoff \"", id, "\""));
    }
    std::vector<size_t> matched;
    for (size_t i = 0; i < current->rows.size(); ++i) {
      if (current->rows[i]->row.task_index == task_index) matched.push_back(i);
    }
    if (matched.empty()) {
      return absl::NotFoundError(absl::StrCat("task_index: no row with task_index ", task_index,
                                              " in kickoff \"", id, "\""));
    }
    if (update.task_id) {
      if (matched.size() > 1) {
        return absl::AlreadyExistsError(absl::StrCat("update.task_id: would give ", matched.size(),
                                                     " rows the same task_id \"", *update.task_id,
                                                     "\""));
      }
      for (size_t i = 0; i < current->rows.size(); ++i) {
        if (i != matched.front() && current->rows[i]->row.task_id == *update.task_id) {
          return absl::AlreadyExistsError(absl::StrCat("update.task_id: \"", *update.task_id,
                                                       "\" is already used by the row with "
                                                       "task_index ",
                                                       current->rows[i]->row.task_index));
        }
      }
    }
    std::shared_ptr<KickoffSnapshot> k = Mutable(g, id);
    for (size_t i : matched) {
      const StoredTaskOutput& old = *k->rows[i];
      auto next = std::make_shared<StoredTaskOutput>(old);
      TaskOutputRow& r = next->row;
      if (update.task_id) r.task_id = *update.task_id;
      if (update.task_key) r.task_key = *update.task_key;
      if (update.expected_output) r.expected_output = *update.expected_output;
      if (update.output_json) r.output_json = *update.output_json;
      if (update.inputs_json) r.inputs_json = *update.inputs_json;
      if (update.was_replayed) r.was_replayed = *update.was_replayed;
      next->write_seq = g.next_seq++;
      if (r.task_id != old.row.task_id) {
        g.ops.push_back(DeleteTaskOutputOp{id, old.row.task_id});
        g.index_changes.emplace_back(old.row.task_id, id, false);
        g.index_changes.emplace_back(r.task_id, id, true);
      }
      std::shared_ptr<const StoredTaskOutput> published = next;
      k->rows[i] = published;  // same task_index and insert_seq: same position
      g.keep_alive.push_back(published);
      g.ops.push_back(UpsertTaskOutputOp{&k->kickoff_id, published.get()});
      result.push_back(published->row);
    }
    return absl::OkStatus();
  };
  if (absl::Status s = Submit(&w); !s.ok()) return s;
  return result;
}

absl::StatusOr<std::shared_ptr<const KickoffSnapshot>> PersistenceStoreImpl::LoadTaskOutputs(
    const KickoffSelector& selector) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  switch (selector.kind) {
    case KickoffSelector::Kind::kById:
      if (absl::Status s = ValidateIdentifier(selector.value, "kickoff_id"); !s.ok()) return s;
      break;
    case KickoffSelector::Kind::kByTask:
      if (absl::Status s = ValidateIdentifier(selector.value, "task_id"); !s.ok()) return s;
      break;
    case KickoffSelector::Kind::kLatest:
      if (absl::Status s = ValidateIdentifier(selector.value, "namespace", true); !s.ok()) {
        return s;
      }
      break;
  }
  absl::ReaderMutexLock lock(&state_mu_);
  switch (selector.kind) {
    case KickoffSelector::Kind::kById: {
      auto it = kickoffs_.find(selector.value);
      return it == kickoffs_.end() ? nullptr : it->second;
    }
    case KickoffSelector::Kind::kByTask: {
      auto it = by_task_.find(selector.value);
      if (it == by_task_.end()) return KickoffPtr();
      KickoffPtr best;
      int64_t best_seq = -1;
      for (const std::string& id : it->second) {
        const KickoffPtr& k = kickoffs_.at(id);
        for (const auto& row : k->rows) {
          if (row->row.task_id == selector.value && row->write_seq > best_seq) {
            best_seq = row->write_seq;
            best = k;
          }
        }
      }
      return best;
    }
    case KickoffSelector::Kind::kLatest:
      for (auto it = by_creation_.rbegin(); it != by_creation_.rend(); ++it) {
        const KickoffPtr& k = kickoffs_.at(it->second);
        if (k->ns == selector.value) return k;
      }
      return KickoffPtr();
  }
  return KickoffPtr();
}

absl::StatusOr<int64_t> PersistenceStoreImpl::DeleteTaskOutputs(absl::string_view ns,
                                                                absl::string_view kickoff_id) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(ns, "namespace", /*allow_empty=*/true); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateIdentifier(kickoff_id, "kickoff_id", /*allow_empty=*/true);
      !s.ok()) {
    return s;
  }
  const std::string id(kickoff_id);
  const std::string namespace_name(ns);
  int64_t deleted = 0;
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    std::vector<KickoffPtr> victims;
    if (!id.empty()) {
      if (KickoffPtr k = Find(g, id); k != nullptr) victims.push_back(std::move(k));
    } else {
      victims = KickoffsOf(g, namespace_name);
    }
    for (const KickoffPtr& k : victims) {
      deleted += static_cast<int64_t>(k->rows.size());
      StageDelete(g, k);
    }
    return absl::OkStatus();
  };
  if (absl::Status s = Submit(&w); !s.ok()) return s;
  return deleted;
}

absl::StatusOr<std::vector<KickoffInfo>> PersistenceStoreImpl::ListKickoffs(absl::string_view ns,
                                                                            bool all_namespaces,
                                                                            int64_t limit) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(ns, "namespace", /*allow_empty=*/true); !s.ok()) {
    return s;
  }
  if (limit < 1 || limit > kMaxListKickoffs) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be in 1..", kMaxListKickoffs, ", got ", limit));
  }
  std::vector<KickoffInfo> out;
  absl::ReaderMutexLock lock(&state_mu_);
  for (auto it = by_creation_.rbegin();
       it != by_creation_.rend() && static_cast<int64_t>(out.size()) < limit; ++it) {
    const KickoffSnapshot& k = *kickoffs_.at(it->second);
    if (!all_namespaces && k.ns != ns) continue;
    KickoffInfo info;
    info.kickoff_id = k.kickoff_id;
    info.ns = k.ns;
    info.created_at_micros = k.created_at_micros;
    info.task_count = static_cast<int64_t>(k.rows.size());
    if (!k.rows.empty()) {
      info.last_task_index = k.rows.back()->row.task_index;
      info.last_task_id = k.rows.back()->row.task_id;
    }
    out.push_back(std::move(info));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Flow state

absl::Status PersistenceStoreImpl::SaveFlowState(absl::string_view flow_uuid,
                                                 absl::string_view method_name,
                                                 std::string state_json, std::string timestamp) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(flow_uuid, "flow_uuid"); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(method_name, "method_name"); !s.ok()) return s;
  if (absl::Status s = ValidateSize(timestamp, "timestamp", kMaxIdBytes); !s.ok()) return s;
  if (absl::Status s = ValidateSize(state_json, "state_json", options_.max_value_bytes); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateJsonText(state_json, "state_json"); !s.ok()) return s;
  FlowState state;
  state.flow_uuid = std::string(flow_uuid);
  state.method_name = std::string(method_name);
  state.timestamp = timestamp.empty() ? IsoTimestamp(options_.clock->Now()) : std::move(timestamp);
  state.state_json = std::move(state_json);
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    g.ops.push_back(AppendFlowStateOp{&state});
    return absl::OkStatus();
  };
  return Submit(&w);
}

absl::StatusOr<std::optional<FlowState>> PersistenceStoreImpl::LoadFlowState(
    absl::string_view flow_uuid) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(flow_uuid, "flow_uuid"); !s.ok()) return s;
  return db_->ReadLatestFlowState(flow_uuid);
}

absl::Status PersistenceStoreImpl::SavePendingFeedback(absl::string_view flow_uuid,
                                                       absl::string_view method_name,
                                                       std::string context_json,
                                                       std::string state_json,
                                                       std::string created_at) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(flow_uuid, "flow_uuid"); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(method_name, "method_name"); !s.ok()) return s;
  if (absl::Status s = ValidateSize(created_at, "created_at", kMaxIdBytes); !s.ok()) return s;
  for (const auto& [value, field] :
       {std::pair<const std::string*, const char*>{&context_json, "context_json"},
        {&state_json, "state_json"}}) {
    if (absl::Status s = ValidateSize(*value, field, options_.max_value_bytes); !s.ok()) return s;
  }
  if (absl::Status s = ValidateJsonObjectText(context_json, "context_json"); !s.ok()) return s;
  if (absl::Status s = ValidateJsonText(state_json, "state_json"); !s.ok()) return s;
  const std::string now = IsoTimestamp(options_.clock->Now());
  FlowState state;
  state.flow_uuid = std::string(flow_uuid);
  state.method_name = std::string(method_name);
  state.timestamp = now;
  state.state_json = state_json;
  PendingFeedback pending;
  pending.flow_uuid = state.flow_uuid;
  pending.context_json = std::move(context_json);
  pending.state_json = std::move(state_json);
  pending.created_at = created_at.empty() ? now : std::move(created_at);
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    g.ops.push_back(AppendFlowStateOp{&state});
    g.ops.push_back(UpsertPendingFeedbackOp{&pending});
    g.pending_exists[pending.flow_uuid] = true;
    return absl::OkStatus();
  };
  return Submit(&w);
}

absl::StatusOr<std::optional<PendingFeedback>> PersistenceStoreImpl::LoadPendingFeedback(
    absl::string_view flow_uuid) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(flow_uuid, "flow_uuid"); !s.ok()) return s;
  return db_->ReadPendingFeedback(flow_uuid);
}

absl::StatusOr<bool> PersistenceStoreImpl::ClearPendingFeedback(absl::string_view flow_uuid) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(flow_uuid, "flow_uuid"); !s.ok()) return s;
  const std::string uuid(flow_uuid);
  bool existed = false;
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    if (auto it = g.pending_exists.find(uuid); it != g.pending_exists.end()) {
      existed = it->second;
    } else {
      absl::StatusOr<std::optional<PendingFeedback>> current = db_->ReadPendingFeedback(uuid);
      if (!current.ok()) return current.status();
      existed = current->has_value();
    }
    if (!existed) return absl::OkStatus();  // nothing to delete
    g.ops.push_back(DeletePendingFeedbackOp{&uuid});
    g.pending_exists[uuid] = false;
    return absl::OkStatus();
  };
  if (absl::Status s = Submit(&w); !s.ok()) return s;
  return existed;
}

// ---------------------------------------------------------------------------------------
// Legacy long-term memory

absl::Status PersistenceStoreImpl::SaveLtm(absl::string_view ns, std::string task_description,
                                           std::string metadata_json, std::string datetime,
                                           double score) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(ns, "namespace", /*allow_empty=*/true); !s.ok()) {
    return s;
  }
  const int64_t max = options_.max_value_bytes;
  if (absl::Status s = ValidateSize(task_description, "task_description", max); !s.ok()) return s;
  if (absl::Status s = ValidateSize(metadata_json, "metadata_json", max); !s.ok()) return s;
  if (absl::Status s = ValidateSize(datetime, "datetime", kMaxIdBytes); !s.ok()) return s;
  if (absl::Status s = ValidateJsonText(metadata_json, "metadata_json"); !s.ok()) return s;
  if (!std::isfinite(score)) {
    return absl::InvalidArgumentError("score: not a finite number");
  }
  const std::string namespace_name(ns);
  LtmEntry entry{std::move(metadata_json), std::move(datetime), score};
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    g.ops.push_back(InsertLtmOp{&namespace_name, &task_description, &entry});
    ++g.ltm_added[namespace_name];
    return absl::OkStatus();
  };
  return Submit(&w);
}

absl::StatusOr<std::vector<LtmEntry>> PersistenceStoreImpl::LoadLtm(
    absl::string_view ns, absl::string_view task_description, int64_t latest_n) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(ns, "namespace", /*allow_empty=*/true); !s.ok()) {
    return s;
  }
  if (latest_n < 1 || latest_n > kMaxLtmLoad) {
    return absl::InvalidArgumentError(
        absl::StrCat("latest_n: must be in 1..", kMaxLtmLoad, ", got ", latest_n));
  }
  return db_->ReadLtm(ns, task_description, latest_n);
}

absl::StatusOr<int64_t> PersistenceStoreImpl::ResetLtm(absl::string_view ns) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(ns, "namespace", /*allow_empty=*/true); !s.ok()) {
    return s;
  }
  const std::string namespace_name(ns);
  int64_t deleted = 0;
  Writer w;
  w.plan = [&](Group& g) -> absl::Status {
    absl::StatusOr<int64_t> committed = db_->CountLtm(namespace_name);
    if (!committed.ok()) return committed.status();
    deleted = *committed;
    if (auto it = g.ltm_added.find(namespace_name); it != g.ltm_added.end()) {
      deleted += it->second;
      it->second = 0;
    }
    g.ops.push_back(DeleteLtmOp{&namespace_name});
    return absl::OkStatus();
  };
  if (absl::Status s = Submit(&w); !s.ok()) return s;
  return deleted;
}

// ---------------------------------------------------------------------------------------
// Administration

absl::StatusOr<BackupResult> PersistenceStoreImpl::Backup(const std::string& dest_path,
                                                          bool overwrite) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  namespace fs = std::filesystem;
  if (dest_path.empty()) return absl::InvalidArgumentError("dest_path: must not be empty");
  if (absl::Status s = ValidateIdentifier(dest_path, "dest_path"); !s.ok()) return s;
  if (dest_path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("dest_path: must be absolute (the daemon's working directory is not the "
                     "client's), got \"",
                     dest_path, "\""));
  }
  std::error_code ec;
  const fs::path dest = fs::path(dest_path).lexically_normal();
  if (dest.filename().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dest_path: must name a file, got \"", dest_path, "\""));
  }
  if (!fs::is_directory(dest.parent_path(), ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("dest_path: directory ", dest.parent_path().string(), " does not exist"));
  }
  const fs::path live = fs::path(db_->path()).lexically_normal();
  // The data directory holds every store's files (memory.db, scheduler.db, ...): a copy there
  // could replace one of them under its running store.
  std::error_code data_ec;
  const fs::path data_dir = fs::weakly_canonical(live.parent_path(), data_ec);
  const fs::path dest_dir = fs::weakly_canonical(dest.parent_path(), ec);
  if (data_ec || ec) {  // unresolvable: refused rather than risked
    return absl::FailedPreconditionError(absl::StrCat(
        "dest_path: cannot resolve ", dest.parent_path().string(), " against the data directory: ",
        (data_ec ? data_ec : ec).message()));
  }
  const auto [data_end, dest_it] =
      std::mismatch(data_dir.begin(), data_dir.end(), dest_dir.begin(), dest_dir.end());
  if (data_end == data_dir.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dest_path: ", dest.string(), " is inside the daemon's data directory ",
                     data_dir.string(), "; choose a path outside it"));
  }
  if (fs::exists(dest, ec)) {
    if (fs::equivalent(dest, live, ec)) {  // a hard link to it, from outside
      return absl::InvalidArgumentError("dest_path: is the live database");
    }
    if (!overwrite) {
      return absl::AlreadyExistsError(
          absl::StrCat("dest_path: ", dest.string(), " exists (pass overwrite to replace it)"));
    }
  }
  absl::StatusOr<BackupResult> result = db_->Backup(dest.string());
  if (absl::IsUnavailable(result.status())) {
    // The live database is open and serving: what failed is writing the copy (a directory the
    // daemon may not write to, a read-only or special file system, a full disk). Waiting and
    // asking again, which UNAVAILABLE tells clients, does not help; another path does.
    return absl::FailedPreconditionError(
        absl::StrCat("dest_path: cannot write the backup: ", result.status().message()));
  }
  if (!result.ok()) return result.status();
  // Verify the copy the way a start-up would.
  absl::Status verified = RunSqlite(absl::StrCat("verify backup ", dest.string()), [&] {
    SQLite::Database copy(dest.string(), SQLite::OPEN_READONLY);
    absl::Status s = CheckIntegrity(copy, IntegrityCheckMode::kQuick, dest.string());
    if (!s.ok()) throw std::runtime_error(std::string(s.message()));
  });
  if (!verified.ok()) return verified;
  return result;
}

PersistenceStoreStats PersistenceStoreImpl::GetStats() const {
  PersistenceStoreStats stats;
  stats.commits = commits_.load(std::memory_order_relaxed);
  stats.committed_writes = committed_writes_.load(std::memory_order_relaxed);
  stats.failed_writes = failed_writes_.load(std::memory_order_relaxed);
  stats.pending_writes = writers_.pending();
  stats.evicted_kickoffs = evicted_.load(std::memory_order_relaxed);
  absl::ReaderMutexLock lock(&state_mu_);
  stats.kickoffs = static_cast<int64_t>(kickoffs_.size());
  stats.task_outputs = task_outputs_;
  return stats;
}

absl::Status PersistenceStoreImpl::Close() {
  // New writes fail from now on; the queued ones finish first.
  if (!writers_.CloseAndDrain()) return Closed();
  absl::MutexLock leader(&leader_mu_);
  closed_.store(true, std::memory_order_release);
  return db_->Close();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PersistenceStore>> PersistenceStore::Open(
    const PersistenceStoreOptions& options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir: must not be empty");
  if (options.clock == nullptr) return absl::InvalidArgumentError("clock: must be set");
  if (options.max_kickoffs < 1) {
    return absl::InvalidArgumentError("max_kickoffs: must be at least 1");
  }
  if (options.max_value_bytes < 1) {
    return absl::InvalidArgumentError("max_value_bytes: must be at least 1");
  }
  if (options.max_group_size < 1) {
    return absl::InvalidArgumentError("max_group_size: must be at least 1");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("data_dir ", options.data_dir, ": cannot create: ", ec.message()));
  }
  const std::string path = absl::StrCat(options.data_dir, "/", kFileName);
  PersistenceDbOptions db_options;
  db_options.sync = options.sync;
  db_options.busy_timeout_ms = options.busy_timeout_ms;
  db_options.integrity_check = options.integrity_check;
  db_options.readers = options.readers;
  absl::StatusOr<std::unique_ptr<PersistenceDb>> db = PersistenceDb::Open(path, db_options);
  if (!db.ok()) return db.status();
  auto store = std::make_unique<PersistenceStoreImpl>(options, *std::move(db));
  absl::Status s = store->LoadAll();
  if (!s.ok()) return s;
  return store;
}

}  // namespace fast_crewai::persistence
