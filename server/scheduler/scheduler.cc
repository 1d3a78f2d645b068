#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "server/persistence/group_commit.h"
#include "server/scheduler/scheduler_db.h"
#include "server/util/error_details.h"
#include "server/util/status_macros.h"

namespace fast_crewai::scheduler {
namespace {

constexpr char kDefaultQueue[] = "default";

// ---------------------------------------------------------------------------------------
// Validation helpers

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '/' || c == '-';
}

// "\"abc\"", cut to 64 bytes for messages.
std::string Quote(absl::string_view s) {
  if (s.size() > 64) return absl::StrCat("\"", s.substr(0, 61), "...\"");
  return absl::StrCat("\"", s, "\"");
}

absl::Status CheckId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  if (id.size() > static_cast<size_t>(Scheduler::kMaxIdBytes)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", id.size(),
                                                   " characters is longer than the limit of 128"));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!IdChar(id[i])) {
      const unsigned char c = static_cast<unsigned char>(id[i]);
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": character ",
          c >= 0x20 && c < 0x7f ? absl::StrCat("'", std::string(1, id[i]), "'")
                                : absl::StrFormat("0x%02x", c),
          " at offset ", i, " is not allowed (use A-Z a-z 0-9 . _ : / -)"));
    }
  }
  return absl::OkStatus();
}

absl::Status TooLarge(absl::string_view field, size_t size, int64_t limit) {
  return WithErrorDetail(
      absl::ResourceExhaustedError(absl::StrCat(field, ": ", size,
                                                " bytes is more than the limit of ", limit,
                                                " (scheduler_max_payload_bytes)")),
      kReasonDetail, kPayloadTooLarge);
}

absl::Status Closed() { return absl::FailedPreconditionError("the scheduler is closed"); }

// ---------------------------------------------------------------------------------------
// In-memory state

// Why a node's latest lease is no longer held (for FAILED_PRECONDITION messages).
enum class LeaseEnd : uint8_t { kNone, kCompleted, kFailed, kRetried, kLapsed, kCancelled, kRestart };

struct Node {
  std::string id;
  std::vector<int> deps;        // as given (repeats kept: dependency_outputs follow them)
  std::vector<int> dependents;  // distinct
  SharedBytes payload;
  int max_attempts = 0;
  NodeState state = NodeState::kBlocked;
  int attempts = 0;
  int unmet = 0;  // distinct dependencies not succeeded yet
  std::string worker_id;
  SharedBytes output;
  std::string error;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  int64_t lease_expiry = 0;  // while leased
  uint64_t stream_id = 0;    // the lease stream that delivered the held lease; 0 = LeaseNodes
  LeaseEnd lease_end = LeaseEnd::kNone;
  bool persisted = false;  // its row exists in scheduler.db
  bool dirty = false;      // in dirty_nodes_
};

struct Run;

// What a lease id names: "<run_id>/<node index>/<attempt>".
struct LeaseRef {
  Run* run = nullptr;
  int index = 0;
  int attempt = 0;
};

struct Run {
  int64_t seq = 0;
  std::string id;
  std::string name;
  std::string queue;
  RunState state = RunState::kRunning;
  absl::Duration lease;
  int max_attempts = 0;
  int64_t created_at = 0;
  int64_t finished_at = 0;
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<Node> nodes;
  absl::flat_hash_map<std::string, int> index;
  NodeCounts counts;
  std::vector<uint64_t> watchers;
  bool persisted = false;
  bool dirty = false;
};

int& CountOf(NodeCounts& c, NodeState s) {
  switch (s) {
    case NodeState::kBlocked:
      return c.blocked;
    case NodeState::kReady:
      return c.ready;
    case NodeState::kLeased:
      return c.leased;
    case NodeState::kSucceeded:
      return c.succeeded;
    case NodeState::kFailed:
      return c.failed;
    case NodeState::kCancelled:
      return c.cancelled;
  }
  return c.blocked;
}

int FinishedCount(const NodeCounts& c) { return c.succeeded + c.failed + c.cancelled; }

// Checks the request and builds the run's nodes (no id, seq or times yet).
absl::Status BuildRun(const SchedulerOptions& options, RunSpec& spec, Run& run) {
  if (spec.nodes.size() > static_cast<size_t>(options.max_nodes_per_run)) {
    return WithErrorDetail(
        absl::ResourceExhaustedError(absl::StrCat("nodes: ", spec.nodes.size(),
                                                  " nodes is more than the limit of ",
                                                  options.max_nodes_per_run, " per run")),
        kReasonDetail, kPayloadTooLarge);
  }
  run.queue = spec.queue.empty() ? kDefaultQueue : std::move(spec.queue);
  if (absl::Status s = CheckId("queue", run.queue); !s.ok()) return s;
  if (spec.name.size() > static_cast<size_t>(Scheduler::kMaxNameBytes)) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", spec.name.size(),
                                                   " bytes is longer than the limit of 256"));
  }
  run.name = std::move(spec.name);
  run.lease = spec.lease == absl::ZeroDuration() ? options.default_lease : spec.lease;
  if (run.lease < Scheduler::kMinLease || run.lease > Scheduler::kMaxLease) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease_millis: ", absl::ToInt64Milliseconds(spec.lease),
                     " is out of range (100..3600000, or 0 for the daemon's default)"));
  }
  run.max_attempts = spec.max_attempts == 0 ? options.default_max_attempts : spec.max_attempts;
  if (spec.max_attempts < 0 || run.max_attempts < 1 || run.max_attempts > Scheduler::kMaxAttempts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_attempts: ", spec.max_attempts, " is out of range (1..100, or 0 for the default)"));
  }
  if (spec.labels.size() > static_cast<size_t>(Scheduler::kMaxLabels)) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels: ", spec.labels.size(), " labels is more than the limit of 32"));
  }
  for (const auto& [key, value] : spec.labels) {
    if (key.size() > static_cast<size_t>(Scheduler::kMaxNameBytes) ||
        value.size() > static_cast<size_t>(Scheduler::kMaxNameBytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("labels[", Quote(key), "]: ",
                       key.size() > 256 ? "key" : "value", " is longer than 256 bytes"));
    }
  }
  run.labels = std::move(spec.labels);
  std::stable_sort(run.labels.begin(), run.labels.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  run.labels.erase(std::unique(run.labels.begin(), run.labels.end(),
                               [](const auto& a, const auto& b) { return a.first == b.first; }),
                   run.labels.end());

  const int n = static_cast<int>(spec.nodes.size());
  run.nodes.resize(n);
  run.index.reserve(n);
  for (int i = 0; i < n; ++i) {
    NodeSpec& in = spec.nodes[i];
    const std::string field = absl::StrCat("nodes[", i, "]");
    if (absl::Status s = CheckId(absl::StrCat(field, ".node_id"), in.node_id); !s.ok()) return s;
    auto [it, inserted] = run.index.emplace(in.node_id, i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".node_id: ", Quote(in.node_id),
                                                     " is the id of nodes[", it->second,
                                                     "] too; node ids must be unique"));
    }
    if (in.payload.size() > static_cast<size_t>(options.max_payload_bytes)) {
      return TooLarge(absl::StrCat(field, ".payload"), in.payload.size(),
                      options.max_payload_bytes);
    }
    if (in.max_attempts < 0 || in.max_attempts > Scheduler::kMaxAttempts) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".max_attempts: ", in.max_attempts,
                       " is out of range (1..100, or 0 for the run's)"));
    }
  }
  for (int i = 0; i < n; ++i) {
    NodeSpec& in = spec.nodes[i];
    Node& node = run.nodes[i];
    node.deps.reserve(in.depends_on.size());
    for (size_t k = 0; k < in.depends_on.size(); ++k) {
      auto it = run.index.find(in.depends_on[k]);
      if (it == run.index.end()) {
        return absl::InvalidArgumentError(absl::StrCat("nodes[", i, "].depends_on[", k,
                                                       "]: unknown node ",
                                                       Quote(in.depends_on[k])));
      }
      node.deps.push_back(it->second);
    }
    node.id = std::move(in.node_id);
    node.payload = std::make_shared<const std::string>(std::move(in.payload));
    node.max_attempts = in.max_attempts == 0 ? run.max_attempts : in.max_attempts;
  }
  // Distinct edges, then Kahn's algorithm: what is left over lies on or behind a cycle.
  for (int i = 0; i < n; ++i) {
    std::vector<int> distinct = run.nodes[i].deps;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    run.nodes[i].unmet = static_cast<int>(distinct.size());
    for (int d : distinct) run.nodes[d].dependents.push_back(i);
  }
  std::vector<int> pending(n);
  std::vector<int> stack;
  for (int i = 0; i < n; ++i) {
    pending[i] = run.nodes[i].unmet;
    if (pending[i] == 0) stack.push_back(i);
  }
  int done = 0;
  while (!stack.empty()) {
    const int u = stack.back();
    stack.pop_back();
    ++done;
    for (int v : run.nodes[u].dependents) {
      if (--pending[v] == 0) stack.push_back(v);
    }
  }
  if (done < n) {
    // Every node left has a dependency left: walk dependencies from the first one until a
    // node repeats; the walk from that node's first visit is a cycle.
    int start = 0;
    while (pending[start] == 0) ++start;
    std::vector<int> path;
    std::vector<int> position(n, -1);
    int u = start;
    while (position[u] < 0) {
      position[u] = static_cast<int>(path.size());
      path.push_back(u);
      int next = -1;
      for (int d : run.nodes[u].deps) {
        if (pending[d] > 0) {
          next = d;
          break;
        }
      }
      u = next;
    }
    std::vector<int> cycle(path.begin() + position[u], path.end());
    // Start the message at the cycle's first node in request order.
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    std::vector<std::string> names;
    for (int c : cycle) names.push_back(Quote(run.nodes[c].id));
    names.push_back(Quote(run.nodes[cycle.front()].id));
    return absl::InvalidArgumentError(absl::StrCat("nodes[", cycle.front(),
                                                   "].depends_on: dependency cycle ",
                                                   absl::StrJoin(names, " -> ")));
  }
  run.counts.total = n;
  run.counts.blocked = n;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------

class SchedulerImpl final : public Scheduler {
 public:
  SchedulerImpl(const SchedulerOptions& options, std::unique_ptr<SchedulerDb> db)
      : options_(options),
        clock_(options.clock),
        db_(std::move(db)),
        writers_(options.max_group_size),
        random_(std::random_device{}()) {
    writers_.EnableAsync(
        options.write_executor != nullptr ? options.write_executor : &inline_executor_,
        [this](const std::vector<Writer*>& group) {
          absl::MutexLock leader(&leader_mu_);
          ProcessGroup(group);
        });
  }

  absl::Status Load();

  absl::StatusOr<RunInfo> CreateRun(RunSpec spec) override;
  absl::StatusOr<RunInfo> GetRun(absl::string_view run_id) override;
  absl::StatusOr<RunPage> ListRuns(const Page& page, const std::vector<RunState>& states) override;
  absl::StatusOr<NodePage> ListNodes(absl::string_view run_id,
                                     const ListNodesOptions& options) override;
  absl::StatusOr<RunInfo> CancelRun(absl::string_view run_id, absl::string_view reason) override;
  absl::StatusOr<uint64_t> Watch(absl::string_view run_id, const WatchOptions& options,
                                 WatchCallback callback) override;
  void Unwatch(uint64_t watch_id) override;
  uint64_t LeaseNodes(const LeaseQuery& query, LeaseCallback done) override;
  bool CancelLeaseWait(uint64_t wait_id) override;
  absl::StatusOr<uint64_t> OpenLeaseStream(const LeaseStreamQuery& query,
                                           LeaseStreamCallback callback) override;
  absl::Status AddLeaseCredits(uint64_t stream_id, int credits) override;
  void StopLeaseStream(uint64_t stream_id) override;
  void CloseLeaseStream(uint64_t stream_id, bool lapse_held) override;
  absl::StatusOr<std::vector<std::string>> RenewLeases(
      absl::string_view worker_id, const std::vector<std::string>& lease_ids) override;
  absl::StatusOr<RunInfo> CompleteNode(absl::string_view lease_id, std::string output) override;
  absl::StatusOr<FailResult> FailNode(absl::string_view lease_id, std::string error,
                                      bool retryable) override;
  absl::StatusOr<RunInfo> ApplyCreateRun(RunSpec spec) override;
  absl::StatusOr<RunInfo> ApplyCancelRun(absl::string_view run_id,
                                         absl::string_view reason) override;
  absl::StatusOr<RunInfo> ApplyCompleteNode(absl::string_view lease_id,
                                            std::string output) override;
  absl::StatusOr<FailResult> ApplyFailNode(absl::string_view lease_id, std::string error,
                                           bool retryable) override;
  absl::Status Sync() override { return Persist(); }
  void SyncAsync(bool may_lead, absl::AnyInvocable<void(absl::Status)> done) override;
  void AbandonRun(absl::string_view run_id, const absl::Status& why) override;
  void Tick() override;
  absl::Time NextDeadline() override;
  void SetWakeup(std::function<void()> wakeup) override;
  void EndStreams(const absl::Status& status) override;
  SchedulerStats GetStats() override;
  const std::string& path() const override { return db_->path(); }
  absl::Status Close() override;

 private:
  // The first check of a write that carries `text` (a reason, an output, an error): the
  // scheduler is open and the text is within scheduler_max_payload_bytes.
  absl::Status CheckWrite(absl::string_view field, absl::string_view text) const {
    if (closed_.load(std::memory_order_acquire)) return Closed();
    if (text.size() > static_cast<size_t>(options_.max_payload_bytes)) {
      return TooLarge(field, text.size(), options_.max_payload_bytes);
    }
    return absl::OkStatus();
  }

  struct Queue {
    std::set<std::pair<int64_t, int>> ready;  // (run seq, node index)
    // FIFO of parked LeaseNodes calls and lease streams with credits; ids of withdrawn
    // waiters and closed streams are skipped.
    std::deque<uint64_t> waiters;
  };
  struct LeaseStream {
    std::string queue;
    std::string worker_id;
    int credits = 0;
    bool queued = false;   // its id is in its queue's waiters
    bool stopped = false;  // StopLeaseStream: no more credits
    // (run seq, node index) of the held leases it delivered.
    absl::flat_hash_set<std::pair<int64_t, int>> held;
    LeaseStreamCallback callback;
  };
  struct Waiter {
    std::string queue;
    std::string worker_id;
    int max_nodes = 1;
    int64_t deadline = 0;
    LeaseCallback done;
  };
  struct Watcher {
    int64_t run_seq = 0;
    WatchOptions options;
    WatchCallback callback;
  };
  // What one locked section changed, for Finish().
  struct Mutation {
    std::vector<std::pair<Run*, int>> changed;
    std::vector<std::string> ready_queues;
    std::vector<absl::AnyInvocable<void()>> deferred;  // run after the lock is released
  };
  // One queued commit. A blocking one (Persist) lives on the caller's stack until `done`; a
  // callback one (SyncAsync) is an AsyncSync, deleted by its `complete`.
  struct Writer {
    absl::Status status;
    bool done = false;               // written by the group-commit queue
    absl::AnyInvocable<void()> complete;  // callback writers only: runs once after the group
  };
  struct AsyncSync {
    Writer writer;
    absl::AnyInvocable<void(absl::Status)> done;
  };

  // ---- state changes (mu_ held) ----
  void SetState(Run& r, int i, NodeState s, Mutation& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MakeReady(Run& r, int i, Mutation& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveFromReady(Run& r, int i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClearLease(Run& r, int i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Succeed(Run& r, int i, SharedBytes output, int64_t now, Mutation& m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailForGood(Run& r, int i, std::string error, LeaseEnd end, int64_t now, Mutation& m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Cancel(Run& r, int i, const std::string& error, int64_t now, Mutation& m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `why` ("" = not renewed in time) starts the node's error.
  void Lapse(Run& r, int i, int64_t now, Mutation& m, absl::string_view why = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Serves lease stream `id` (popped from q's waiters) from q's ready nodes.
  void ServeStream(Queue& q, uint64_t id, LeaseStream& s, int64_t now, Mutation& m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes stream `id` out of its queue's waiters.
  void Unqueue(uint64_t id, LeaseStream& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets stream `id`, lapsing the held leases it delivered when `lapse_held`.
  void DropStream(uint64_t id, bool lapse_held, int64_t now, Mutation& m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeFinishRun(Run& r, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkFinished(Run& r, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  LeaseGrant Grant(Run& r, int i, const std::string& worker_id, int64_t now, Mutation& m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes up to `max` ready nodes of `q` as leases.
  std::vector<LeaseGrant> TakeReady(Queue& q, int max, const std::string& worker_id, int64_t now,
                                    Mutation& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Serves parked waiters, delivers watch events, prunes finished runs.
  void Finish(Mutation& m, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EmitEvents(Mutation& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PruneFinished() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkDirty(Run& r, int i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkRunDirty(Run& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteDeadline(int64_t at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The run, node and attempt `lease_id` names, held or not; NOT_FOUND for a malformed id,
  // an unknown run, node or attempt.
  absl::StatusOr<LeaseRef> Locate(absl::string_view lease_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The held lease `ref` (located from `lease_id`) names, or why it is not held
  // (FAILED_PRECONDITION). A lease past its expiry that Tick() has not seen yet is lapsed here.
  absl::StatusOr<std::pair<Run*, int>> Resolve(const LeaseRef& ref, absl::string_view lease_id,
                                               int64_t now, Mutation& m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Locate, then Resolve.
  absl::StatusOr<std::pair<Run*, int>> Resolve(absl::string_view lease_id, int64_t now,
                                               Mutation& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the lease `ref` names is no longer held because this very call was applied
  // already: the node succeeded with this attempt and `output`, or it failed with this
  // attempt and `error` (for good, or put back for a retry that has not been leased yet). A
  // worker that repeats CompleteNode/FailNode because it never heard the answer (the reply
  // was lost, or the commit failed and a later one wrote the change) then gets the answer,
  // not an error.
  // Returns the lease's run then, else nullptr.
  const Run* RepeatedCompletion(const LeaseRef& ref, const std::string& output)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Run* RepeatedFailure(const LeaseRef& ref, const std::string& error, bool* will_retry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RunInfo InfoOf(const Run& r) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  NodeInfo NodeInfoOf(const Run& r, int i, bool payload, bool output) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Run* FindRun(absl::string_view run_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  static void RunDeferred(Mutation& m);

  // Makes every change made so far durable (group commit).
  absl::Status Persist() ABSL_LOCKS_EXCLUDED(mu_, leader_mu_);
  void ProcessGroup(const std::vector<Writer*>& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  // Moves the dirty rows into a batch (mu_ taken inside).
  DbBatch TakeBatch() ABSL_LOCKS_EXCLUDED(mu_);
  void AfterWrite(const DbBatch& batch, bool ok) ABSL_LOCKS_EXCLUDED(mu_);

  const SchedulerOptions options_;
  Clock* const clock_;
  const std::unique_ptr<SchedulerDb> db_;
  InlineExecutor inline_executor_;  // leads SyncAsync groups without options.write_executor
  persistence::GroupCommitQueue<Writer> writers_;
  std::atomic<bool> closed_{false};

  // Held by the group-commit leader while it writes.
  absl::Mutex leader_mu_;

  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(leader_mu_);
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, std::unique_ptr<Run>> runs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Run*> by_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
  // (expiry micros, run seq, node index) of every lease.
  std::set<std::tuple<int64_t, int64_t, int>> expiries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, LeaseStream> streams_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<int64_t, uint64_t>> wait_deadlines_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  // (finished at, run seq): pruning order.
  std::set<std::pair<int64_t, int64_t>> finished_ ABSL_GUARDED_BY(mu_);
  int64_t running_runs_ ABSL_GUARDED_BY(mu_) = 0;
  // Rows to write.
  std::vector<int64_t> dirty_runs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<int64_t, int>> dirty_nodes_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> deleted_runs_ ABSL_GUARDED_BY(mu_);
  int64_t dirty_since_ ABSL_GUARDED_BY(mu_) = 0;  // 0 = nothing to write
  std::function<void()> wakeup_ ABSL_GUARDED_BY(mu_);
  int64_t published_deadline_ ABSL_GUARDED_BY(mu_) = std::numeric_limits<int64_t>::max();

  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> leases_granted_{0};
  std::atomic<int64_t> leases_lapsed_{0};
  std::atomic<int64_t> pruned_runs_{0};
};

// ---------------------------------------------------------------------------------------
// Loading

absl::Status SchedulerImpl::Load() {
  absl::MutexLock lock(&mu_);
  int64_t max_seq = 0;
  absl::Status s = db_->Load(
      [&](RunRow row) -> absl::Status {
        auto run = std::make_unique<Run>();
        run->seq = row.run_seq;
        run->id = std::move(row.run_id);
        run->name = std::move(row.name);
        run->queue = std::move(row.queue);
        run->state = row.state;
        run->lease = absl::Milliseconds(row.lease_millis);
        run->max_attempts = row.max_attempts;
        run->created_at = row.created_at_micros;
        run->finished_at = row.finished_at_micros;
        run->labels = std::move(row.labels);
        run->persisted = true;
        max_seq = std::max(max_seq, run->seq);
        by_id_[run->id] = run.get();
        runs_[run->seq] = std::move(run);
        return absl::OkStatus();
      },
      [&](NodeRow row) -> absl::Status {
        auto it = runs_.find(row.run_seq);
        if (it == runs_.end() || row.node_index != static_cast<int>(it->second->nodes.size())) {
          return absl::DataLossError(absl::StrCat(db_->path(), ": node ", Quote(row.node_id),
                                                  " (run ", row.run_seq, ", index ",
                                                  row.node_index, ") has no place in its run"));
        }
        Node& node = it->second->nodes.emplace_back();
        node.id = std::move(row.node_id);
        node.deps = std::move(row.depends_on);
        node.payload = std::move(row.payload);
        node.max_attempts = row.max_attempts;
        node.state = row.state;
        node.attempts = row.attempts;
        node.worker_id = std::move(row.worker_id);
        node.output = std::move(row.output);
        node.error = std::move(row.error);
        node.started_at = row.started_at_micros;
        node.finished_at = row.finished_at_micros;
        node.persisted = true;
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  next_seq_ = max_seq + 1;
  for (auto& [seq, run_ptr] : runs_) {
    Run& r = *run_ptr;
    const int n = static_cast<int>(r.nodes.size());
    for (int i = 0; i < n; ++i) {
      Node& node = r.nodes[i];
      r.index.emplace(node.id, i);
      std::vector<int> distinct = node.deps;
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      for (int d : distinct) {
        if (d < 0 || d >= n) {
          return absl::DataLossError(absl::StrCat(db_->path(), ": node ", Quote(node.id),
                                                  " of run ", r.id, " depends on index ", d));
        }
        r.nodes[d].dependents.push_back(i);
      }
    }
    r.counts = NodeCounts{};
    r.counts.total = n;
    for (int i = 0; i < n; ++i) {
      Node& node = r.nodes[i];
      node.unmet = 0;
      std::vector<int> distinct = node.deps;
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      for (int d : distinct) {
        if (r.nodes[d].state != NodeState::kSucceeded) ++node.unmet;
      }
      if (!IsFinished(node.state)) {
        // Leases are soft state: whatever was leased is ready again, attempts kept.
        if (node.state == NodeState::kLeased) node.lease_end = LeaseEnd::kRestart;
        node.state = node.unmet == 0 ? NodeState::kReady : NodeState::kBlocked;
        if (node.state == NodeState::kReady) queues_[r.queue].ready.insert({r.seq, i});
      }
      ++CountOf(r.counts, node.state);
    }
    if (r.state == RunState::kRunning) {
      ++running_runs_;
    } else {
      finished_.insert({r.finished_at, r.seq});
    }
  }
  PruneFinished();
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// State changes

void SchedulerImpl::MarkDirty(Run& r, int i) {
  Node& node = r.nodes[i];
  if (!node.dirty) {
    node.dirty = true;
    dirty_nodes_.push_back({r.seq, i});
  }
  if (dirty_since_ == 0) {
    dirty_since_ = clock_->NowMicros();
    NoteDeadline(dirty_since_ + absl::ToInt64Microseconds(options_.flush_delay));
  }
}

void SchedulerImpl::MarkRunDirty(Run& r) {
  if (!r.dirty) {
    r.dirty = true;
    dirty_runs_.push_back(r.seq);
  }
  if (dirty_since_ == 0) {
    dirty_since_ = clock_->NowMicros();
    NoteDeadline(dirty_since_ + absl::ToInt64Microseconds(options_.flush_delay));
  }
}

void SchedulerImpl::NoteDeadline(int64_t at) {
  if (at < published_deadline_) {
    published_deadline_ = at;
    if (wakeup_) wakeup_();
  }
}

void SchedulerImpl::SetState(Run& r, int i, NodeState s, Mutation& m) {
  Node& node = r.nodes[i];
  --CountOf(r.counts, node.state);
  ++CountOf(r.counts, s);
  node.state = s;
  MarkDirty(r, i);
  m.changed.push_back({&r, i});
}

void SchedulerImpl::MakeReady(Run& r, int i, Mutation& m) {
  SetState(r, i, NodeState::kReady, m);
  queues_[r.queue].ready.insert({r.seq, i});
  m.ready_queues.push_back(r.queue);
}

void SchedulerImpl::RemoveFromReady(Run& r, int i) {
  auto q = queues_.find(r.queue);
  if (q == queues_.end()) return;
  q->second.ready.erase({r.seq, i});
  if (q->second.ready.empty() && q->second.waiters.empty()) queues_.erase(q);
}

void SchedulerImpl::ClearLease(Run& r, int i) {
  Node& node = r.nodes[i];
  if (node.lease_expiry != 0) {
    expiries_.erase({node.lease_expiry, r.seq, i});
    node.lease_expiry = 0;
  }
  if (node.stream_id != 0) {
    auto s = streams_.find(node.stream_id);
    if (s != streams_.end()) s->second.held.erase({r.seq, i});
    node.stream_id = 0;
  }
}

void SchedulerImpl::Succeed(Run& r, int i, SharedBytes output, int64_t now, Mutation& m) {
  ClearLease(r, i);
  Node& node = r.nodes[i];
  node.output = std::move(output);
  node.error.clear();
  node.finished_at = now;
  node.lease_end = LeaseEnd::kCompleted;
  SetState(r, i, NodeState::kSucceeded, m);
  for (int d : node.dependents) {
    Node& dep = r.nodes[d];
    if (dep.state == NodeState::kBlocked && --dep.unmet == 0) MakeReady(r, d, m);
  }
  MaybeFinishRun(r, now);
}

void SchedulerImpl::Cancel(Run& r, int i, const std::string& error, int64_t now, Mutation& m) {
  Node& node = r.nodes[i];
  if (node.state == NodeState::kReady) RemoveFromReady(r, i);
  ClearLease(r, i);
  if (node.state == NodeState::kLeased) node.lease_end = LeaseEnd::kCancelled;
  node.error = error;
  node.finished_at = now;
  SetState(r, i, NodeState::kCancelled, m);
}

void SchedulerImpl::FailForGood(Run& r, int i, std::string error, LeaseEnd end, int64_t now,
                                Mutation& m) {
  ClearLease(r, i);
  Node& node = r.nodes[i];
  node.error = std::move(error);
  node.finished_at = now;
  node.lease_end = end;
  SetState(r, i, NodeState::kFailed, m);
  // Everything that depends on it, directly or not, can never run.
  const std::string why = absl::StrCat("dependency ", Quote(node.id), " failed");
  std::vector<int> stack(node.dependents.begin(), node.dependents.end());
  while (!stack.empty()) {
    const int d = stack.back();
    stack.pop_back();
    if (IsFinished(r.nodes[d].state)) continue;
    Cancel(r, d, why, now, m);
    for (int dd : r.nodes[d].dependents) stack.push_back(dd);
  }
  MaybeFinishRun(r, now);
}

void SchedulerImpl::Lapse(Run& r, int i, int64_t now, Mutation& m, absl::string_view why) {
  Node& node = r.nodes[i];
  leases_lapsed_.fetch_add(1, std::memory_order_relaxed);
  ClearLease(r, i);
  const std::string what =
      why.empty()
          ? absl::StrCat("lease lapsed: worker ", Quote(node.worker_id),
                         " sent no renewal within ", absl::FormatDuration(r.lease),
                         " (attempt ", node.attempts, " of ", node.max_attempts, ")")
          : absl::StrCat(why, " (attempt ", node.attempts, " of ", node.max_attempts, ")");
  if (node.attempts < node.max_attempts) {
    node.lease_end = LeaseEnd::kLapsed;
    node.error = what;
    MakeReady(r, i, m);
  } else {
    FailForGood(r, i, what, LeaseEnd::kLapsed, now, m);
  }
}

void SchedulerImpl::MarkFinished(Run& r, int64_t now) {
  r.finished_at = now;
  MarkRunDirty(r);
  finished_.insert({r.finished_at, r.seq});
  --running_runs_;
}

void SchedulerImpl::MaybeFinishRun(Run& r, int64_t now) {
  if (r.state != RunState::kRunning || FinishedCount(r.counts) != r.counts.total) return;
  r.state = r.counts.failed > 0 ? RunState::kFailed : RunState::kSucceeded;
  MarkFinished(r, now);
}

LeaseGrant SchedulerImpl::Grant(Run& r, int i, const std::string& worker_id, int64_t now,
                                Mutation& m) {
  Node& node = r.nodes[i];
  ++node.attempts;
  node.worker_id = worker_id;
  node.started_at = now;
  node.lease_end = LeaseEnd::kNone;
  node.lease_expiry = now + absl::ToInt64Microseconds(r.lease);
  expiries_.insert({node.lease_expiry, r.seq, i});
  NoteDeadline(node.lease_expiry);
  SetState(r, i, NodeState::kLeased, m);
  leases_granted_.fetch_add(1, std::memory_order_relaxed);
  LeaseGrant g;
  g.lease_id = absl::StrCat(r.id, "/", i, "/", node.attempts);
  g.run_id = r.id;
  g.node_id = node.id;
  g.payload = node.payload;
  g.attempt = node.attempts;
  g.lease = r.lease;
  g.dependency_outputs.reserve(node.deps.size());
  for (int d : node.deps) g.dependency_outputs.push_back({r.nodes[d].id, r.nodes[d].output});
  return g;
}

std::vector<LeaseGrant> SchedulerImpl::TakeReady(Queue& q, int max, const std::string& worker_id,
                                                 int64_t now, Mutation& m) {
  std::vector<LeaseGrant> grants;
  while (!q.ready.empty() && static_cast<int>(grants.size()) < max) {
    const auto [seq, i] = *q.ready.begin();
    q.ready.erase(q.ready.begin());
    auto it = runs_.find(seq);
    if (it == runs_.end()) continue;  // cannot happen: pruned runs have no ready node
    grants.push_back(Grant(*it->second, i, worker_id, now, m));
  }
  return grants;
}

void SchedulerImpl::Finish(Mutation& m, int64_t now) {
  // Newly ready nodes go straight to the longest-waiting workers of their queue.
  for (size_t k = 0; k < m.ready_queues.size(); ++k) {
    auto qit = queues_.find(m.ready_queues[k]);
    if (qit == queues_.end()) continue;
    Queue& q = qit->second;
    while (!q.ready.empty() && !q.waiters.empty()) {
      const uint64_t id = q.waiters.front();
      q.waiters.pop_front();
      auto w = waiters_.find(id);
      if (w == waiters_.end()) {
        auto s = streams_.find(id);
        if (s != streams_.end()) ServeStream(q, id, s->second, now, m);
        continue;  // else withdrawn or timed out
      }
      std::vector<LeaseGrant> grants = TakeReady(q, w->second.max_nodes, w->second.worker_id, now, m);
      wait_deadlines_.erase({w->second.deadline, id});
      m.deferred.push_back([done = std::move(w->second.done), grants = std::move(grants)]() mutable {
        done(std::move(grants));
      });
      waiters_.erase(w);
    }
    if (q.ready.empty() && q.waiters.empty()) queues_.erase(qit);
  }
  m.ready_queues.clear();
  EmitEvents(m);
  PruneFinished();
}

void SchedulerImpl::EmitEvents(Mutation& m) {
  if (m.changed.empty()) return;
  std::sort(m.changed.begin(), m.changed.end(), [](const auto& a, const auto& b) {
    return a.first->seq != b.first->seq ? a.first->seq < b.first->seq : a.second < b.second;
  });
  m.changed.erase(std::unique(m.changed.begin(), m.changed.end()), m.changed.end());
  size_t begin = 0;
  while (begin < m.changed.size()) {
    Run& r = *m.changed[begin].first;
    size_t end = begin;
    while (end < m.changed.size() && m.changed[end].first == &r) ++end;
    if (!r.watchers.empty()) {
      const bool last = r.state != RunState::kRunning;
      WatchEvent plain;
      WatchEvent with_output;
      bool built_plain = false, built_output = false;
      for (uint64_t id : r.watchers) {
        auto w = watchers_.find(id);
        if (w == watchers_.end()) continue;
        const bool out = w->second.options.include_output;
        WatchEvent& ev = out ? with_output : plain;
        bool& built = out ? built_output : built_plain;
        if (!built) {
          built = true;
          ev.run = InfoOf(r);
          ev.last = last;
          for (size_t k = begin; k < end; ++k) {
            ev.nodes.push_back(NodeInfoOf(r, m.changed[k].second, false, out));
          }
        }
        w->second.callback(ev);
        if (last) watchers_.erase(w);
      }
      if (last) r.watchers.clear();
    }
    begin = end;
  }
  m.changed.clear();
}

void SchedulerImpl::PruneFinished() {
  const size_t keep = static_cast<size_t>(std::max<int64_t>(1, options_.max_finished_runs));
  while (finished_.size() > keep) {
    const int64_t seq = finished_.begin()->second;
    finished_.erase(finished_.begin());
    auto it = runs_.find(seq);
    if (it == runs_.end()) continue;
    for (uint64_t id : it->second->watchers) watchers_.erase(id);
    by_id_.erase(it->second->id);
    runs_.erase(it);
    deleted_runs_.push_back(seq);
    pruned_runs_.fetch_add(1, std::memory_order_relaxed);
    if (dirty_since_ == 0) {
      dirty_since_ = clock_->NowMicros();
      NoteDeadline(dirty_since_ + absl::ToInt64Microseconds(options_.flush_delay));
    }
  }
}

void SchedulerImpl::RunDeferred(Mutation& m) {
  for (auto& fn : m.deferred) fn();
  m.deferred.clear();
}

// ---------------------------------------------------------------------------------------
// Views

RunInfo SchedulerImpl::InfoOf(const Run& r) const {
  RunInfo info;
  info.run_id = r.id;
  info.name = r.name;
  info.queue = r.queue;
  info.state = r.state;
  info.counts = r.counts;
  info.created_at_micros = r.created_at;
  info.finished_at_micros = r.state == RunState::kRunning ? 0 : r.finished_at;
  info.lease = r.lease;
  info.max_attempts = r.max_attempts;
  info.labels = r.labels;
  return info;
}

NodeInfo SchedulerImpl::NodeInfoOf(const Run& r, int i, bool payload, bool output) const {
  const Node& node = r.nodes[i];
  NodeInfo info;
  info.run_id = r.id;
  info.node_id = node.id;
  info.depends_on.reserve(node.deps.size());
  for (int d : node.deps) info.depends_on.push_back(r.nodes[d].id);
  info.state = node.state;
  info.attempts = node.attempts;
  info.max_attempts = node.max_attempts;
  info.worker_id = node.worker_id;
  if (payload) info.payload = node.payload;
  if (output) info.output = node.output;
  info.error = node.error;
  info.started_at_micros = node.started_at;
  info.finished_at_micros = IsFinished(node.state) ? node.finished_at : 0;
  return info;
}

Run* SchedulerImpl::FindRun(absl::string_view run_id) {
  auto it = by_id_.find(run_id);
  return it == by_id_.end() ? nullptr : it->second;
}

absl::StatusOr<LeaseRef> SchedulerImpl::Locate(absl::string_view lease_id) {
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id: must not be empty");
  const auto unknown = [&] {
    return absl::NotFoundError(absl::StrCat("lease_id: unknown lease ", Quote(lease_id)));
  };
  const size_t slash2 = lease_id.rfind('/');
  if (slash2 == absl::string_view::npos || slash2 == 0) return unknown();
  const size_t slash1 = lease_id.rfind('/', slash2 - 1);
  if (slash1 == absl::string_view::npos) return unknown();
  LeaseRef ref;
  if (!absl::SimpleAtoi(lease_id.substr(slash1 + 1, slash2 - slash1 - 1), &ref.index) ||
      !absl::SimpleAtoi(lease_id.substr(slash2 + 1), &ref.attempt)) {
    return unknown();
  }
  ref.run = FindRun(lease_id.substr(0, slash1));
  if (ref.run == nullptr) {
    return absl::NotFoundError(absl::StrCat("lease_id: unknown lease ", Quote(lease_id),
                                            " (its run does not exist or was deleted)"));
  }
  if (ref.index < 0 || ref.index >= static_cast<int>(ref.run->nodes.size())) return unknown();
  if (ref.attempt < 1 || ref.attempt > ref.run->nodes[ref.index].attempts) return unknown();
  return ref;
}

absl::StatusOr<std::pair<Run*, int>> SchedulerImpl::Resolve(absl::string_view lease_id,
                                                            int64_t now, Mutation& m) {
  ASSIGN_OR_RETURN(const LeaseRef ref, Locate(lease_id));
  return Resolve(ref, lease_id, now, m);
}

absl::StatusOr<std::pair<Run*, int>> SchedulerImpl::Resolve(const LeaseRef& ref,
                                                            absl::string_view lease_id,
                                                            int64_t now, Mutation& m) {
  Run* r = ref.run;
  const int index = ref.index;
  const int attempt = ref.attempt;
  Node& node = r->nodes[index];
  if (node.state == NodeState::kLeased && node.attempts == attempt) {
    if (now < node.lease_expiry) return std::make_pair(r, index);
    Lapse(*r, index, now, m);  // expired, Tick() has not seen it yet
  }
  const std::string prefix = absl::StrCat("lease_id: lease ", Quote(lease_id), " of node ",
                                          Quote(node.id), " is no longer held: ");
  if (attempt < node.attempts) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, "the node was leased again (attempt ", node.attempts, ")"));
  }
  switch (node.lease_end) {
    case LeaseEnd::kCompleted:
      return absl::FailedPreconditionError(absl::StrCat(prefix, "it was completed already"));
    case LeaseEnd::kFailed:
    case LeaseEnd::kRetried:
      return absl::FailedPreconditionError(absl::StrCat(prefix, "it was failed already"));
    case LeaseEnd::kLapsed:
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, "it lapsed (no renewal within ", absl::FormatDuration(r->lease),
                       ")"));
    case LeaseEnd::kCancelled:
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, "the node was cancelled (", node.error, ")"));
    case LeaseEnd::kRestart:
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, "leases were dropped when the daemon restarted"));
    case LeaseEnd::kNone:
      break;
  }
  return absl::FailedPreconditionError(absl::StrCat(prefix, "node state changed"));
}

const Run* SchedulerImpl::RepeatedCompletion(const LeaseRef& ref, const std::string& output) {
  const Node& node = ref.run->nodes[ref.index];
  // A node succeeds only on its latest attempt, and stays succeeded (also across a restart).
  const bool repeated = node.state == NodeState::kSucceeded && node.attempts == ref.attempt &&
                        node.output != nullptr && *node.output == output;
  return repeated ? ref.run : nullptr;
}

const Run* SchedulerImpl::RepeatedFailure(const LeaseRef& ref, const std::string& error,
                                          bool* will_retry) {
  const Node& node = ref.run->nodes[ref.index];
  if (node.attempts != ref.attempt || node.error != error) return nullptr;
  if (node.state == NodeState::kFailed &&
      (node.lease_end == LeaseEnd::kFailed || node.lease_end == LeaseEnd::kNone)) {
    // kNone: the failure was read back from scheduler.db after a restart.
    *will_retry = false;
    return ref.run;
  }
  if (node.lease_end == LeaseEnd::kRetried &&
      (node.state == NodeState::kReady || node.state == NodeState::kBlocked)) {
    *will_retry = true;
    return ref.run;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// Runs

absl::StatusOr<RunInfo> SchedulerImpl::ApplyCreateRun(RunSpec spec) {
  if (closed_.load(std::memory_order_acquire)) return Closed();
  auto run = std::make_unique<Run>();
  if (absl::Status s = BuildRun(options_, spec, *run); !s.ok()) return s;
  Mutation m;
  RunInfo info;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = clock_->NowMicros();
    Run& r = *run;
    r.seq = next_seq_++;
    do {
      r.id = absl::StrFormat("run-%016x", random_());
    } while (by_id_.contains(r.id));
    r.created_at = now;
    by_id_[r.id] = &r;
    runs_[r.seq] = std::move(run);
    ++running_runs_;
    MarkRunDirty(r);
    for (int i = 0; i < static_cast<int>(r.nodes.size()); ++i) {
      MarkDirty(r, i);
      if (r.nodes[i].unmet == 0) MakeReady(r, i, m);
    }
    MaybeFinishRun(r, now);  // an empty run has succeeded already
    info = InfoOf(r);
    Finish(m, now);
  }
  RunDeferred(m);
  return info;
}

absl::StatusOr<RunInfo> SchedulerImpl::GetRun(absl::string_view run_id) {
  absl::MutexLock lock(&mu_);
  Run* r = FindRun(run_id);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("run_id: unknown run ", Quote(run_id)));
  }
  return InfoOf(*r);
}

namespace {
absl::Status CheckPage(const Page& page, int max) {
  if (page.limit < 0 || page.limit > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("page.limit: ", page.limit, " is out of range (0..", max, ")"));
  }
  if (page.offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page.offset: ", page.offset, " is negative"));
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<RunPage> SchedulerImpl::ListRuns(const Page& page,
                                                const std::vector<RunState>& states) {
  if (absl::Status s = CheckPage(page, kListRunsMax); !s.ok()) return s;
  const int limit = page.limit == 0 ? kListRunsDefault : page.limit;
  RunPage out;
  absl::MutexLock lock(&mu_);
  int skipped = 0;
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    const Run& r = *it->second;
    if (!states.empty() && std::find(states.begin(), states.end(), r.state) == states.end()) {
      continue;
    }
    if (skipped < page.offset) {
      ++skipped;
      continue;
    }
    if (static_cast<int>(out.runs.size()) == limit) {
      out.has_more = true;
      out.next_offset = page.offset + limit;
      break;
    }
    out.runs.push_back(InfoOf(r));
  }
  return out;
}

absl::StatusOr<NodePage> SchedulerImpl::ListNodes(absl::string_view run_id,
                                                  const ListNodesOptions& options) {
  if (absl::Status s = CheckPage(options.page, kListNodesMax); !s.ok()) return s;
  const int limit = options.page.limit == 0 ? kListNodesDefault : options.page.limit;
  NodePage out;
  absl::MutexLock lock(&mu_);
  Run* r = FindRun(run_id);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("run_id: unknown run ", Quote(run_id)));
  }
  int skipped = 0;
  for (int i = 0; i < static_cast<int>(r->nodes.size()); ++i) {
    const NodeState s = r->nodes[i].state;
    if (!options.states.empty() &&
        std::find(options.states.begin(), options.states.end(), s) == options.states.end()) {
      continue;
    }
    if (skipped < options.page.offset) {
      ++skipped;
      continue;
    }
    if (static_cast<int>(out.nodes.size()) == limit) {
      out.has_more = true;
      out.next_offset = options.page.offset + limit;
      break;
    }
    out.nodes.push_back(NodeInfoOf(*r, i, options.include_payload, options.include_output));
  }
  return out;
}

absl::StatusOr<RunInfo> SchedulerImpl::ApplyCancelRun(absl::string_view run_id,
                                                      absl::string_view reason) {
  RETURN_IF_ERROR(CheckWrite("reason", reason));
  Mutation m;
  RunInfo info;
  {
    absl::MutexLock lock(&mu_);
    Run* r = FindRun(run_id);
    if (r == nullptr) {
      return absl::NotFoundError(absl::StrCat("run_id: unknown run ", Quote(run_id)));
    }
    if (r->state != RunState::kRunning) return InfoOf(*r);
    const int64_t now = clock_->NowMicros();
    const std::string error = reason.empty() ? "run cancelled" : std::string(reason);
    for (int i = 0; i < static_cast<int>(r->nodes.size()); ++i) {
      if (!IsFinished(r->nodes[i].state)) Cancel(*r, i, error, now, m);
    }
    r->state = RunState::kCancelled;
    MarkFinished(*r, now);
    info = InfoOf(*r);
    Finish(m, now);
  }
  RunDeferred(m);
  return info;
}

absl::StatusOr<uint64_t> SchedulerImpl::Watch(absl::string_view run_id,
                                              const WatchOptions& options,
                                              WatchCallback callback) {
  absl::MutexLock lock(&mu_);
  Run* r = FindRun(run_id);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("run_id: unknown run ", Quote(run_id)));
  }
  const uint64_t id = next_id_++;
  WatchEvent first;
  first.run = InfoOf(*r);
  first.last = r->state != RunState::kRunning;
  first.nodes.reserve(r->nodes.size());
  for (int i = 0; i < static_cast<int>(r->nodes.size()); ++i) {
    first.nodes.push_back(NodeInfoOf(*r, i, false, options.include_output));
  }
  callback(first);
  if (!first.last) {
    watchers_[id] = Watcher{r->seq, options, std::move(callback)};
    r->watchers.push_back(id);
  }
  return id;
}

void SchedulerImpl::Unwatch(uint64_t watch_id) {
  absl::MutexLock lock(&mu_);
  auto w = watchers_.find(watch_id);
  if (w == watchers_.end()) return;
  auto r = runs_.find(w->second.run_seq);
  if (r != runs_.end()) {
    std::vector<uint64_t>& ids = r->second->watchers;
    ids.erase(std::remove(ids.begin(), ids.end(), watch_id), ids.end());
  }
  watchers_.erase(w);
}

// ---------------------------------------------------------------------------------------
// Workers

uint64_t SchedulerImpl::LeaseNodes(const LeaseQuery& query, LeaseCallback done) {
  absl::Status invalid;
  const std::string queue = query.queue.empty() ? kDefaultQueue : query.queue;
  if (query.worker_id.size() > static_cast<size_t>(kMaxNameBytes)) {
    invalid = absl::InvalidArgumentError(absl::StrCat(
        "worker_id: ", query.worker_id.size(), " bytes is longer than the limit of 256"));
  } else if (absl::Status s = CheckId("queue", queue); !s.ok()) {
    invalid = s;
  } else if (query.max_nodes < 0 || query.max_nodes > kMaxLeaseNodes) {
    invalid = absl::InvalidArgumentError(
        absl::StrCat("max_nodes: ", query.max_nodes, " is out of range (1..1000, or 0 for 1)"));
  } else if (query.wait < absl::ZeroDuration() || query.wait > kMaxWait) {
    invalid = absl::InvalidArgumentError(absl::StrCat(
        "wait_millis: ", absl::ToInt64Milliseconds(query.wait), " is out of range (0..60000)"));
  } else if (closed_.load(std::memory_order_acquire)) {
    invalid = Closed();
  }
  if (!invalid.ok()) {
    done(invalid);
    return 0;
  }
  const int max_nodes = query.max_nodes == 0 ? 1 : query.max_nodes;
  Mutation m;
  std::vector<LeaseGrant> grants;
  uint64_t wait_id = 0;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = clock_->NowMicros();
    auto qit = queues_.find(queue);
    if (qit != queues_.end() && !qit->second.ready.empty()) {
      grants = TakeReady(qit->second, max_nodes, query.worker_id, now, m);
      if (qit->second.ready.empty() && qit->second.waiters.empty()) queues_.erase(qit);
      Finish(m, now);
    } else if (query.wait > absl::ZeroDuration()) {
      wait_id = next_id_++;
      Waiter& w = waiters_[wait_id];
      w.queue = queue;
      w.worker_id = query.worker_id;
      w.max_nodes = max_nodes;
      w.deadline = now + absl::ToInt64Microseconds(query.wait);
      w.done = std::move(done);
      queues_[queue].waiters.push_back(wait_id);
      wait_deadlines_.insert({w.deadline, wait_id});
      NoteDeadline(w.deadline);
    }
  }
  if (wait_id != 0) return wait_id;
  RunDeferred(m);
  done(std::move(grants));
  return 0;
}

bool SchedulerImpl::CancelLeaseWait(uint64_t wait_id) {
  absl::MutexLock lock(&mu_);
  auto w = waiters_.find(wait_id);
  if (w == waiters_.end()) return false;
  wait_deadlines_.erase({w->second.deadline, wait_id});
  auto q = queues_.find(w->second.queue);
  waiters_.erase(w);
  if (q != queues_.end()) {
    std::deque<uint64_t>& ids = q->second.waiters;
    // Usually the front or the back; withdrawn ids left inside are skipped when served.
    if (!ids.empty() && ids.back() == wait_id) ids.pop_back();
    if (!ids.empty() && ids.front() == wait_id) ids.pop_front();
    if (q->second.ready.empty() && ids.empty()) queues_.erase(q);
  }
  return true;
}

void SchedulerImpl::ServeStream(Queue& q, uint64_t id, LeaseStream& s, int64_t now,
                                Mutation& m) {
  s.queued = false;
  if (s.credits <= 0) return;
  if (!q.ready.empty()) {
    std::vector<LeaseGrant> grants = TakeReady(q, s.credits, s.worker_id, now, m);
    s.credits -= static_cast<int>(grants.size());
    for (const LeaseGrant& g : grants) {  // remembered, to lapse them if the stream breaks
      auto r = by_id_.find(g.run_id);
      if (r == by_id_.end()) continue;
      auto i = r->second->index.find(g.node_id);
      if (i == r->second->index.end()) continue;
      r->second->nodes[i->second].stream_id = id;
      s.held.insert({r->second->seq, i->second});
    }
    if (!grants.empty()) s.callback(std::move(grants));
  }
  if (s.credits > 0) {
    q.waiters.push_back(id);
    s.queued = true;
  }
}

void SchedulerImpl::Unqueue(uint64_t id, LeaseStream& s) {
  if (!s.queued) return;
  s.queued = false;
  auto q = queues_.find(s.queue);
  if (q == queues_.end()) return;
  std::deque<uint64_t>& ids = q->second.waiters;  // a few ids: one per waiting worker slot
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  if (q->second.ready.empty() && ids.empty()) queues_.erase(q);
}

void SchedulerImpl::DropStream(uint64_t id, bool lapse_held, int64_t now, Mutation& m) {
  auto s = streams_.find(id);
  if (s == streams_.end()) return;
  Unqueue(id, s->second);
  if (!lapse_held) {
    for (const auto& [seq, i] : s->second.held) {
      auto r = runs_.find(seq);
      if (r != runs_.end()) r->second->nodes[i].stream_id = 0;
    }
    streams_.erase(s);
    return;
  }
  const std::string why = absl::StrCat("lease returned: the lease stream of worker ",
                                       Quote(s->second.worker_id), " ended");
  std::vector<std::pair<int64_t, int>> held(s->second.held.begin(), s->second.held.end());
  std::sort(held.begin(), held.end());  // the queue order, whatever the hash order
  streams_.erase(s);
  for (const auto& [seq, i] : held) {
    auto r = runs_.find(seq);
    if (r == runs_.end() || r->second->nodes[i].state != NodeState::kLeased) continue;
    Lapse(*r->second, i, now, m, why);
  }
}

absl::StatusOr<uint64_t> SchedulerImpl::OpenLeaseStream(const LeaseStreamQuery& query,
                                                        LeaseStreamCallback callback) {
  const std::string queue = query.queue.empty() ? kDefaultQueue : query.queue;
  if (query.worker_id.size() > static_cast<size_t>(kMaxNameBytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker_id: ", query.worker_id.size(), " bytes is longer than the limit of 256"));
  }
  RETURN_IF_ERROR(CheckId("queue", queue));
  if (closed_.load(std::memory_order_acquire)) return Closed();
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  LeaseStream& s = streams_[id];
  s.queue = queue;
  s.worker_id = query.worker_id;
  s.callback = std::move(callback);
  return id;
}

absl::Status SchedulerImpl::AddLeaseCredits(uint64_t stream_id, int credits) {
  if (credits < 1 || credits > kMaxLeaseNodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("credits: ", credits, " is out of range (1..1000)"));
  }
  Mutation m;
  {
    absl::MutexLock lock(&mu_);
    auto it = streams_.find(stream_id);
    if (it == streams_.end() || it->second.stopped) {
      return absl::NotFoundError(absl::StrCat("stream ", stream_id, " is closed"));
    }
    LeaseStream& s = it->second;
    if (s.credits + credits > kMaxLeaseNodes) {
      return absl::InvalidArgumentError(
          absl::StrCat("credits: ", s.credits, " outstanding plus ", credits,
                       " is more than the limit of 1000"));
    }
    s.credits += credits;
    if (!s.queued) {
      const int64_t now = clock_->NowMicros();
      Queue& q = queues_[s.queue];
      ServeStream(q, stream_id, s, now, m);
      if (q.ready.empty() && q.waiters.empty()) queues_.erase(s.queue);
      Finish(m, now);
    }
  }
  RunDeferred(m);
  return absl::OkStatus();
}

void SchedulerImpl::StopLeaseStream(uint64_t stream_id) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  it->second.stopped = true;
  it->second.credits = 0;
  Unqueue(stream_id, it->second);
}

void SchedulerImpl::CloseLeaseStream(uint64_t stream_id, bool lapse_held) {
  Mutation m;
  {
    absl::MutexLock lock(&mu_);
    if (!streams_.contains(stream_id)) return;
    const int64_t now = clock_->NowMicros();
    DropStream(stream_id, lapse_held, now, m);
    Finish(m, now);
  }
  RunDeferred(m);
}

absl::StatusOr<std::vector<std::string>> SchedulerImpl::RenewLeases(
    absl::string_view worker_id, const std::vector<std::string>& lease_ids) {
  if (lease_ids.size() > static_cast<size_t>(kMaxRenewLeases)) {
    return absl::InvalidArgumentError(absl::StrCat("lease_ids: ", lease_ids.size(),
                                                   " ids is more than the limit of 10000"));
  }
  std::vector<std::string> lost;
  Mutation m;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = clock_->NowMicros();
    for (const std::string& id : lease_ids) {
      absl::StatusOr<std::pair<Run*, int>> held = Resolve(id, now, m);
      if (!held.ok()) {
        lost.push_back(id);
        continue;
      }
      Run& r = *held->first;
      const int i = held->second;
      Node& node = r.nodes[i];
      if (node.worker_id != worker_id) {  // another worker's lease: not this one's to keep
        lost.push_back(id);
        continue;
      }
      expiries_.erase({node.lease_expiry, r.seq, i});
      node.lease_expiry = now + absl::ToInt64Microseconds(r.lease);
      expiries_.insert({node.lease_expiry, r.seq, i});
    }
    Finish(m, now);
  }
  RunDeferred(m);
  return lost;
}

absl::StatusOr<RunInfo> SchedulerImpl::ApplyCompleteNode(absl::string_view lease_id,
                                                         std::string output) {
  RETURN_IF_ERROR(CheckWrite("output", output));
  auto shared = std::make_shared<const std::string>(std::move(output));
  Mutation m;
  absl::StatusOr<RunInfo> result;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = clock_->NowMicros();
    const absl::StatusOr<LeaseRef> ref = Locate(lease_id);
    absl::StatusOr<std::pair<Run*, int>> held =
        ref.ok() ? Resolve(*ref, lease_id, now, m) : ref.status();
    if (held.ok()) {
      Succeed(*held->first, held->second, std::move(shared), now, m);
      result = InfoOf(*held->first);
    } else if (const Run* done = ref.ok() && absl::IsFailedPrecondition(held.status())
                                     ? RepeatedCompletion(*ref, *shared)
                                     : nullptr) {
      result = InfoOf(*done);  // a repeat of the call that completed it: the same answer
    } else {
      result = held.status();
    }
    Finish(m, now);
  }
  RunDeferred(m);
  return result;
}

absl::StatusOr<FailResult> SchedulerImpl::ApplyFailNode(absl::string_view lease_id,
                                                        std::string error, bool retryable) {
  RETURN_IF_ERROR(CheckWrite("error", error));
  Mutation m;
  absl::StatusOr<FailResult> result;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = clock_->NowMicros();
    const absl::StatusOr<LeaseRef> ref = Locate(lease_id);
    absl::StatusOr<std::pair<Run*, int>> held =
        ref.ok() ? Resolve(*ref, lease_id, now, m) : ref.status();
    if (held.ok()) {
      Run& r = *held->first;
      const int i = held->second;
      Node& node = r.nodes[i];
      FailResult out;
      if (retryable && node.attempts < node.max_attempts) {
        ClearLease(r, i);
        node.lease_end = LeaseEnd::kRetried;
        node.error = std::move(error);
        MakeReady(r, i, m);
        out.will_retry = true;
      } else {
        FailForGood(r, i, std::move(error), LeaseEnd::kFailed, now, m);
      }
      out.run = InfoOf(r);
      result = std::move(out);
    } else if (FailResult out;
               const Run* done = ref.ok() && absl::IsFailedPrecondition(held.status())
                                     ? RepeatedFailure(*ref, error, &out.will_retry)
                                     : nullptr) {
      out.run = InfoOf(*done);  // a repeat of the call that failed it: the same answer
      result = std::move(out);
    } else {
      result = held.status();
    }
    Finish(m, now);
  }
  RunDeferred(m);
  return result;
}

// The blocking forms: apply, then wait for the commit.
absl::StatusOr<RunInfo> SchedulerImpl::CreateRun(RunSpec spec) {
  absl::StatusOr<RunInfo> run = ApplyCreateRun(std::move(spec));
  if (!run.ok()) return run;
  if (absl::Status s = Persist(); !s.ok()) {
    AbandonRun(run->run_id, s);
    return s;
  }
  return run;
}

void SchedulerImpl::AbandonRun(absl::string_view run_id, const absl::Status& why) {
  // A reason within every payload limit (CheckWrite), whatever the error's length.
  constexpr size_t kMaxWhy = 400;
  absl::string_view message = why.message().substr(0, kMaxWhy);
  absl::StatusOr<RunInfo> cancelled = ApplyCancelRun(
      run_id, absl::StrCat("cancelled: the run's creation could not be written: ", message));
  if (!cancelled.ok() && !absl::IsNotFound(cancelled.status())) {
    std::fprintf(stderr, "fast-crewai scheduler: cannot cancel unwritten run %.*s: %s\n",
                 static_cast<int>(run_id.size()), run_id.data(),
                 cancelled.status().ToString().c_str());
  }
}

absl::StatusOr<RunInfo> SchedulerImpl::CancelRun(absl::string_view run_id,
                                                 absl::string_view reason) {
  absl::StatusOr<RunInfo> run = ApplyCancelRun(run_id, reason);
  if (!run.ok()) return run;
  if (absl::Status s = Persist(); !s.ok()) return s;
  return run;
}

absl::StatusOr<RunInfo> SchedulerImpl::CompleteNode(absl::string_view lease_id,
                                                    std::string output) {
  absl::StatusOr<RunInfo> run = ApplyCompleteNode(lease_id, std::move(output));
  if (!run.ok()) return run;
  if (absl::Status s = Persist(); !s.ok()) return s;
  return run;
}

absl::StatusOr<FailResult> SchedulerImpl::FailNode(absl::string_view lease_id, std::string error,
                                                   bool retryable) {
  absl::StatusOr<FailResult> result = ApplyFailNode(lease_id, std::move(error), retryable);
  if (!result.ok()) return result;
  if (absl::Status s = Persist(); !s.ok()) return s;
  return result;
}

// ---------------------------------------------------------------------------------------
// Time

void SchedulerImpl::Tick() {
  Mutation m;
  bool flush = false;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = clock_->NowMicros();
    while (!expiries_.empty() && std::get<0>(*expiries_.begin()) <= now) {
      const auto [expiry, seq, i] = *expiries_.begin();
      auto it = runs_.find(seq);
      if (it == runs_.end()) {
        expiries_.erase(expiries_.begin());
        continue;
      }
      Lapse(*it->second, i, now, m);  // removes the entry
    }
    while (!wait_deadlines_.empty() && wait_deadlines_.begin()->first <= now) {
      const uint64_t id = wait_deadlines_.begin()->second;
      wait_deadlines_.erase(wait_deadlines_.begin());
      auto w = waiters_.find(id);
      if (w == waiters_.end()) continue;
      m.deferred.push_back(
          [done = std::move(w->second.done)]() mutable { done(std::vector<LeaseGrant>()); });
      auto q = queues_.find(w->second.queue);
      waiters_.erase(w);
      if (q != queues_.end()) {
        std::deque<uint64_t>& ids = q->second.waiters;
        while (!ids.empty() && !waiters_.contains(ids.front()) &&
               !streams_.contains(ids.front())) {
          ids.pop_front();
        }
        if (q->second.ready.empty() && ids.empty()) queues_.erase(q);
      }
    }
    Finish(m, now);
    flush = dirty_since_ != 0 &&
            now - dirty_since_ >= absl::ToInt64Microseconds(options_.flush_delay);
  }
  RunDeferred(m);
  if (flush && !closed_.load(std::memory_order_acquire)) {
    absl::Status s = Persist();
    if (!s.ok()) {
      std::fprintf(stderr, "fast-crewai scheduler: background write failed: %s\n",
                   s.ToString().c_str());
    }
  }
}

absl::Time SchedulerImpl::NextDeadline() {
  absl::MutexLock lock(&mu_);
  int64_t next = std::numeric_limits<int64_t>::max();
  if (!expiries_.empty()) next = std::min(next, std::get<0>(*expiries_.begin()));
  if (!wait_deadlines_.empty()) next = std::min(next, wait_deadlines_.begin()->first);
  if (dirty_since_ != 0) {
    next = std::min(next, dirty_since_ + absl::ToInt64Microseconds(options_.flush_delay));
  }
  published_deadline_ = next;
  return next == std::numeric_limits<int64_t>::max() ? absl::InfiniteFuture()
                                                     : absl::FromUnixMicros(next);
}

void SchedulerImpl::SetWakeup(std::function<void()> wakeup) {
  absl::MutexLock lock(&mu_);
  wakeup_ = std::move(wakeup);
}

void SchedulerImpl::EndStreams(const absl::Status& end_status) {
  // A lease callback cannot carry an OK status without leases.
  const absl::Status status =
      end_status.ok() ? absl::UnavailableError("the scheduler is closing") : end_status;
  Mutation m;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, w] : watchers_) {
      auto r = runs_.find(w.run_seq);
      WatchEvent ev;
      if (r != runs_.end()) ev.run = InfoOf(*r->second);
      ev.last = true;
      ev.end_status = status;
      w.callback(ev);
    }
    watchers_.clear();
    for (auto& [seq, r] : runs_) r->watchers.clear();
    for (auto& [id, w] : waiters_) {
      m.deferred.push_back([done = std::move(w.done), status]() mutable { done(status); });
    }
    // Their leases stay held: the workers may still complete them during the shutdown.
    for (auto& [id, s] : streams_) s.callback(status);
    streams_.clear();
    waiters_.clear();
    wait_deadlines_.clear();
    for (auto it = queues_.begin(); it != queues_.end();) {
      it->second.waiters.clear();
      if (it->second.ready.empty()) {
        queues_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  RunDeferred(m);
}

SchedulerStats SchedulerImpl::GetStats() {
  SchedulerStats s;
  {
    absl::MutexLock lock(&mu_);
    s.runs = static_cast<int64_t>(runs_.size());
    s.running_runs = running_runs_;
    for (const auto& [name, q] : queues_) s.ready_nodes += static_cast<int64_t>(q.ready.size());
    s.leased_nodes = static_cast<int64_t>(expiries_.size());
    s.waiters = static_cast<int64_t>(waiters_.size());
    s.lease_streams = static_cast<int64_t>(streams_.size());
    s.watchers = static_cast<int64_t>(watchers_.size());
  }
  s.commits = commits_.load(std::memory_order_relaxed);
  s.leases_granted = leases_granted_.load(std::memory_order_relaxed);
  s.leases_lapsed = leases_lapsed_.load(std::memory_order_relaxed);
  s.pruned_runs = pruned_runs_.load(std::memory_order_relaxed);
  return s;
}

// ---------------------------------------------------------------------------------------
// Group commit

absl::Status SchedulerImpl::Persist() {
  Writer w;
  return writers_.Submit(&w, Closed());  // processed as EnableAsync was told (constructor)
}

void SchedulerImpl::SyncAsync(bool may_lead, absl::AnyInvocable<void(absl::Status)> done) {
  auto* sync = new AsyncSync;  // NOLINT: owned by the queue until its completion deletes it
  sync->done = std::move(done);
  // A lambda holding one pointer is stored inline by AnyInvocable: nothing here can throw.
  sync->writer.complete = [sync] {
    std::unique_ptr<AsyncSync> owned(sync);
    owned->done(owned->writer.status);
  };
  writers_.SubmitAsync(&sync->writer, Closed(), may_lead);
}

DbBatch SchedulerImpl::TakeBatch() {
  DbBatch batch;
  absl::MutexLock lock(&mu_);
  batch.delete_runs = std::move(deleted_runs_);
  deleted_runs_.clear();
  for (int64_t seq : dirty_runs_) {
    auto it = runs_.find(seq);
    if (it == runs_.end()) continue;
    Run& r = *it->second;
    r.dirty = false;
    RunRow row;
    row.run_seq = r.seq;
    row.run_id = r.id;
    row.name = r.name;
    row.queue = r.queue;
    row.state = r.state;
    row.lease_millis = absl::ToInt64Milliseconds(r.lease);
    row.max_attempts = r.max_attempts;
    row.created_at_micros = r.created_at;
    row.finished_at_micros = r.state == RunState::kRunning ? 0 : r.finished_at;
    if (!r.persisted) row.labels = r.labels;
    batch.runs.emplace_back(std::move(row), !r.persisted);
  }
  dirty_runs_.clear();
  for (const auto& [seq, i] : dirty_nodes_) {
    auto it = runs_.find(seq);
    if (it == runs_.end()) continue;
    Node& node = it->second->nodes[i];
    node.dirty = false;
    NodeRow row;
    row.run_seq = seq;
    row.node_index = i;
    if (!node.persisted) {
      row.node_id = node.id;
      row.depends_on = node.deps;
      row.payload = node.payload;
      row.max_attempts = node.max_attempts;
    }
    row.state = node.state;
    row.attempts = node.attempts;
    row.worker_id = node.worker_id;
    row.output = node.output;
    row.error = node.error;
    row.started_at_micros = node.started_at;
    row.finished_at_micros = node.finished_at;
    batch.nodes.emplace_back(std::move(row), !node.persisted);
  }
  dirty_nodes_.clear();
  dirty_since_ = 0;
  return batch;
}

void SchedulerImpl::AfterWrite(const DbBatch& batch, bool ok) {
  absl::MutexLock lock(&mu_);
  if (ok) {
    for (const auto& [row, insert] : batch.runs) {
      auto it = runs_.find(row.run_seq);
      if (insert && it != runs_.end()) it->second->persisted = true;
    }
    for (const auto& [row, insert] : batch.nodes) {
      auto it = runs_.find(row.run_seq);
      if (insert && it != runs_.end()) it->second->nodes[row.node_index].persisted = true;
    }
    return;
  }
  // Nothing of the batch was written: its rows are dirty again for the next commit.
  deleted_runs_.insert(deleted_runs_.end(), batch.delete_runs.begin(), batch.delete_runs.end());
  for (const auto& [row, insert] : batch.runs) {
    auto it = runs_.find(row.run_seq);
    if (it != runs_.end()) MarkRunDirty(*it->second);
  }
  for (const auto& [row, insert] : batch.nodes) {
    auto it = runs_.find(row.run_seq);
    if (it != runs_.end()) MarkDirty(*it->second, row.node_index);
  }
  if (!deleted_runs_.empty() && dirty_since_ == 0) dirty_since_ = clock_->NowMicros();
}

void SchedulerImpl::ProcessGroup(const std::vector<Writer*>& group) {
  DbBatch batch;
  absl::Status status;
  bool taken = false;
  try {
    batch = TakeBatch();
    taken = true;
    if (options_.before_commit_hook && !batch.empty()) options_.before_commit_hook();
  } catch (const std::exception& e) {
    status = absl::ResourceExhaustedError(absl::StrCat("scheduler: cannot plan a write: ", e.what()));
  }
  if (status.ok() && !batch.empty()) {
    status = db_->Write(batch);  // RunSqlite inside: does not throw
    AfterWrite(batch, status.ok());
    if (status.ok()) commits_.fetch_add(1, std::memory_order_relaxed);
  } else if (taken && !status.ok()) {
    AfterWrite(batch, /*ok=*/false);  // the taken rows are dirty again for the next commit
  }
  for (Writer* w : group) w->status = status;
}

absl::Status SchedulerImpl::Close() {
  if (closed_.exchange(true)) return Closed();
  EndStreams(absl::UnavailableError("the scheduler is closing"));
  writers_.CloseAndDrain();
  absl::MutexLock leader(&leader_mu_);
  DbBatch batch = TakeBatch();
  absl::Status s = db_->Write(batch);
  absl::Status closed = db_->Close();
  return s.ok() ? closed : s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Open(const SchedulerOptions& options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir: required");
  if (options.clock == nullptr) return absl::InvalidArgumentError("clock: required");
  if (options.default_max_attempts < 1 || options.default_max_attempts > kMaxAttempts) {
    return absl::InvalidArgumentError("default_max_attempts: out of range (1..100)");
  }
  if (options.default_lease < kMinLease || options.default_lease > kMaxLease) {
    return absl::InvalidArgumentError("default_lease: out of range (100ms..1h)");
  }
  if (options.max_payload_bytes < 1) {
    return absl::InvalidArgumentError("max_payload_bytes: must be positive");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(options.data_dir, ": cannot create the directory: ", ec.message()));
  }
  const std::string path =
      std::filesystem::absolute(std::filesystem::path(options.data_dir) / "scheduler.db", ec)
          .lexically_normal()
          .string();
  SchedulerDbOptions db_options;
  db_options.sync = options.sync;
  db_options.integrity_check = options.integrity_check;
  absl::StatusOr<std::unique_ptr<SchedulerDb>> db = SchedulerDb::Open(path, db_options);
  if (!db.ok()) return db.status();
  auto scheduler = std::make_unique<SchedulerImpl>(options, *std::move(db));
  if (absl::Status s = scheduler->Load(); !s.ok()) return s;
  return scheduler;
}

}  // namespace fast_crewai::scheduler
