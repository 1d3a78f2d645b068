// File: scheduler.h
//
// Scheduler: the domain core behind fast_crewai.v1.SchedulerService (no gRPC inside). It keeps
// runs (graphs of task nodes), hands ready nodes to workers under leases, and records their
// outcomes; the daemon never runs a task itself. docs/scheduler.md has the long form.
//
//   * CreateRun validates the whole graph first (ids, dependencies, cycles, sizes, limits);
//     nodes without dependencies are ready at once. A node becomes ready when every node it
//     depends on has succeeded.
//   * Ready nodes wait in their run's queue. Order: by run creation, then by node order in
//     the run (a node of an older run goes first even if it became ready later).
//   * LeaseNodes hands up to max_nodes ready nodes to a worker, each under a lease of the
//     run's lease length, with the outputs of the node's dependencies. When no node is ready
//     the call parks (no thread waits): a node that becomes ready goes straight to the
//     longest-waiting worker of its queue; the wait ends empty at its deadline (Tick()).
//   * A lease stream (OpenLeaseStream) is a standing LeaseNodes fed by credits: it waits in
//     the same line as parked calls, and a broken stream's held leases lapse at once.
//   * RenewLeases extends leases; a lease that lapses (Tick()) puts the node back in the
//     queue while it has attempts left (attempts = leases handed out), else fails it.
//   * CompleteNode ends a lease with the node's output; FailNode with an error (retryable
//     failures go back while attempts remain). A node that fails for good cancels every node
//     that depends on it, directly or not; independent nodes still run; the run fails when
//     its last node finishes. CancelRun cancels every unfinished node.
//   * Watch subscribes to a run: one event with every node at once, then one per change
//     carrying the nodes that changed; the event that shows the run finished is the last.
//
// Lease ids are "<run_id>/<node index>/<attempt>": a lease is held when its node is LEASED
// with that attempt. Anything else with a known run is FAILED_PRECONDITION (the message
// says why: completed, failed, lapsed, cancelled, superseded, lost in a daemon restart);
// an unknown run (or a malformed id) is NOT_FOUND. The one exception makes CompleteNode and
// FailNode safe to retry: the repeat of the call that ended the lease (same lease, same
// output or error; for a retryable failure, until the node is leased again) gets that call's
// answer.
//
// Durability. State changes are made in memory first (so a newly ready node reaches a parked
// worker without waiting for the disk), then written to <data_dir>/scheduler.db by group
// commit: concurrent CreateRun/CompleteNode/FailNode/CancelRun share one transaction and one
// fsync, and each returns only when the state it produced is on disk. Changes no call waits
// for (leases handed out, lapses) are written by the next commit or by Tick() within
// `flush_delay`. Leases are soft state: at Open, nodes that were leased are ready again
// with their attempt count kept (a restart does not use up an attempt: such a node may get
// one lease more than max_attempts). Finished runs beyond max_finished_runs are deleted,
// oldest finished first. If a commit fails, the call returns the error (UNAVAILABLE) and the
// change, already visible in memory, is written by the next successful commit; a run whose
// creation failed so is cancelled first (AbandonRun): its caller was told it does not exist.
//
// Example:
//   SchedulerOptions options;
//   options.data_dir = "/var/lib/fast-crewai";
//   options.clock = RealClock::Get();
//   ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> scheduler, Scheduler::Open(options));
//   RunSpec spec;
//   spec.nodes = {{"a", {}, "{}"}, {"b", {"a"}, "{}"}};
//   ASSIGN_OR_RETURN(RunInfo run, scheduler->CreateRun(std::move(spec)));
//   scheduler->LeaseNodes({"worker-1", "", 1, absl::Seconds(10)},
//                         [](absl::StatusOr<std::vector<LeaseGrant>> leases) { ... });
//
// Errors: INVALID_ARGUMENT / RESOURCE_EXHAUSTED (bad request, message starts with the field
// path; a refusal by max_payload_bytes or max_nodes_per_run carries the reason detail
// kPayloadTooLarge, any other RESOURCE_EXHAUSTED means the daemon is short of memory),
// NOT_FOUND (unknown run or lease), FAILED_PRECONDITION (lease no longer held, or the
// scheduler is closed), UNAVAILABLE (SQLite busy or I/O error), DATA_LOSS (damaged file at
// Open), INTERNAL (a bug). No exception leaves this module.
//
// Thread-safety: every method is thread-safe. CreateRun, CompleteNode, FailNode and
// CancelRun block until their commit (call them from an executor, not a gRPC reactor; a
// reactor uses the Apply* form and SyncAsync); the other calls are bounded in-memory work. Lease callbacks run exactly once, on the calling
// thread or on the thread of the call or Tick() that answers them, with no lock held. Watch
// callbacks run with the scheduler's lock held (so events arrive in order): they must be
// quick, must not block and must not call the scheduler.
#ifndef FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_H_
#define FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/persistence/sqlite_db.h"
#include "server/scheduler/types.h"
#include "server/util/clock.h"
#include "server/util/executor.h"

namespace fast_crewai::scheduler {

// The reason detail (server/util/error_details.h, kReasonDetail) of a request refused by a size
// limit (max_payload_bytes, max_nodes_per_run): the request is too large and repeating it will
// not help. The RPC layer sends it as trailing metadata `fast-crewai-reason`.
inline constexpr char kPayloadTooLarge[] = "PAYLOAD_TOO_LARGE";

struct SchedulerOptions {
  // ---- Parameters that affect behaviour ----

  // Directory of <data_dir>/scheduler.db; created when missing. Required.
  std::string data_dir;
  // Source of time (leases, waits, timestamps). Not owned. Required.
  Clock* clock = nullptr;
  // Lease length of runs that ask for none. Default: 30 s.
  absl::Duration default_lease = absl::Seconds(30);
  // Attempts per node of runs that ask for none. Default: 3.
  int default_max_attempts = 3;
  // Largest payload, output, error or cancel reason, in bytes. Default: 4 MiB.
  int64_t max_payload_bytes = int64_t{4} << 20;
  // Nodes one run may have. Default: 100000.
  int max_nodes_per_run = 100000;
  // Finished runs kept; one more finishing deletes the oldest finished. Default: 1000.
  int64_t max_finished_runs = 1000;
  // Durability of each commit. Default: kFull (an acknowledged call survives power loss).
  persistence::SqliteSync sync = persistence::SqliteSync::kFull;
  // Start-up integrity check of scheduler.db. Default: kQuick.
  persistence::IntegrityCheckMode integrity_check = persistence::IntegrityCheckMode::kQuick;

  // ---- Parameters that affect performance ----

  // How long changes that no call waits for (leases handed out, lapses) may stay unwritten
  // before Tick() writes them. Default: 200 ms.
  absl::Duration flush_delay = absl::Milliseconds(200);
  // At most this many queued commits share one transaction. Default: 256.
  int max_group_size = 256;
  // Where SyncAsync commits are led when their caller may not lead them (the commit queue was
  // busy, or the caller said so): a leader task here commits group after group while such
  // commits are queued. Not owned; must outlive the scheduler. Default: nullptr = the thread
  // that finished the previous commit leads the next (tests).
  Executor* write_executor = nullptr;

  // ---- Testing ----

  // Called by the group-commit leader, on its thread, just before it writes. Default: none.
  std::function<void()> before_commit_hook;
};

// One page of a listing.
struct Page {
  int offset = 0;
  int limit = 0;  // 0 = the listing's default
};

struct RunPage {
  std::vector<RunInfo> runs;
  bool has_more = false;
  int next_offset = 0;
};

struct NodePage {
  std::vector<NodeInfo> nodes;
  bool has_more = false;
  int next_offset = 0;
};

struct ListNodesOptions {
  Page page;
  std::vector<NodeState> states;  // empty = all
  bool include_payload = false;
  bool include_output = false;
};

struct LeaseQuery {
  std::string worker_id;  // at most 256 bytes
  std::string queue;      // "" = "default"
  int max_nodes = 1;      // 1..1000; 0 = 1
  absl::Duration wait = absl::ZeroDuration();  // 0 .. 60 s
};

// Answers a LeaseNodes call: the leases (empty when the wait ran out) or an error.
using LeaseCallback = absl::AnyInvocable<void(absl::StatusOr<std::vector<LeaseGrant>>)>;

struct LeaseStreamQuery {
  std::string worker_id;  // at most 256 bytes
  std::string queue;      // "" = "default"
};

// Feeds a lease stream: called with one or more leases each time the stream is served, and
// once with an error status when the daemon ends the stream (EndStreams/Close), never again
// after that. Runs with the scheduler's lock held (so that CloseLeaseStream can promise the
// callback is done with): it must be quick, must not block and must not call the scheduler.
using LeaseStreamCallback = std::function<void(absl::StatusOr<std::vector<LeaseGrant>>)>;

struct FailResult {
  bool will_retry = false;
  RunInfo run;
};

struct WatchOptions {
  bool include_output = false;
};

struct WatchEvent {
  RunInfo run;
  std::vector<NodeInfo> nodes;  // every node in the first event, then the ones that changed
  bool last = false;            // the run finished (or the stream is being ended): no more
  absl::Status end_status;      // with `last` when the watch was ended (EndStreams/Close)
};

using WatchCallback = std::function<void(const WatchEvent&)>;

struct SchedulerStats {
  int64_t runs = 0;
  int64_t running_runs = 0;
  int64_t ready_nodes = 0;
  int64_t leased_nodes = 0;
  int64_t waiters = 0;
  int64_t lease_streams = 0;
  int64_t watchers = 0;
  int64_t commits = 0;
  int64_t leases_granted = 0;
  int64_t leases_lapsed = 0;
  int64_t pruned_runs = 0;
};

class Scheduler {
 public:
  // Limits of the API (the proto's).
  static constexpr int kMaxIdBytes = 128;
  static constexpr int kMaxNameBytes = 256;
  static constexpr int kMaxLabels = 32;
  static constexpr int kMaxAttempts = 100;
  static constexpr int kMaxLeaseNodes = 1000;
  static constexpr int kMaxRenewLeases = 10000;
  static constexpr int kListRunsDefault = 100, kListRunsMax = 1000;
  static constexpr int kListNodesDefault = 1000, kListNodesMax = 10000;
  static constexpr absl::Duration kMinLease = absl::Milliseconds(100);
  static constexpr absl::Duration kMaxLease = absl::Hours(1);
  static constexpr absl::Duration kMaxWait = absl::Seconds(60);

  // Opens <data_dir>/scheduler.db (creating, checking, migrating) and loads every run;
  // nodes that were leased are ready again.
  // Errors: INVALID_ARGUMENT (bad options), UNAVAILABLE (cannot create/open/lock), DATA_LOSS
  // (damaged file, left untouched), FAILED_PRECONDITION (not our file, newer schema).
  static absl::StatusOr<std::unique_ptr<Scheduler>> Open(const SchedulerOptions& options);

  Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  // REQUIRES: no call in progress. Does not checkpoint when Close() was not called (safe: the
  // WAL is replayed by the next Open).
  virtual ~Scheduler() = default;

  // ---- Runs ----

  // Validates and creates a run; returns it once durable. Errors: INVALID_ARGUMENT
  // ("nodes[3].node_id: ...", "nodes[2].depends_on[0]: unknown node \"x\"",
  // "nodes[0].depends_on: cycle \"a\" -> \"b\" -> \"a\"", "queue: ...", "name: ...",
  // "lease_millis: ...", "max_attempts: ...", "labels: ..."), RESOURCE_EXHAUSTED
  // ("nodes[1].payload: N bytes is more than the limit of M (scheduler_max_payload_bytes)",
  // "nodes: ..." too many nodes). When the run's commit fails (UNAVAILABLE), the run is
  // cancelled (AbandonRun) before the error is returned.
  virtual absl::StatusOr<RunInfo> CreateRun(RunSpec spec) = 0;

  // NOT_FOUND "run_id: ..." for an unknown run.
  virtual absl::StatusOr<RunInfo> GetRun(absl::string_view run_id) = 0;

  // Newest first; only runs in `states` (empty = all). Default limit 100, at most 1000.
  virtual absl::StatusOr<RunPage> ListRuns(const Page& page,
                                           const std::vector<RunState>& states) = 0;

  // In the order the nodes were given to CreateRun. Default limit 1000, at most 10000.
  virtual absl::StatusOr<NodePage> ListNodes(absl::string_view run_id,
                                             const ListNodesOptions& options) = 0;

  // Cancels every unfinished node (`reason` becomes their error; "" = "run cancelled");
  // their leases are lost. A finished run is returned unchanged. Durable before it returns.
  virtual absl::StatusOr<RunInfo> CancelRun(absl::string_view run_id, absl::string_view reason) = 0;

  // Subscribes `callback` to run `run_id` (see WatchEvent) and delivers the first event before
  // returning. Returns the subscription id (for Unwatch), or NOT_FOUND. When the first event
  // is already the last (a finished run) the subscription is gone when Watch returns.
  virtual absl::StatusOr<uint64_t> Watch(absl::string_view run_id, const WatchOptions& options,
                                         WatchCallback callback) = 0;
  // Ends a subscription; its callback is not called again once Unwatch returns. Idempotent.
  virtual void Unwatch(uint64_t watch_id) = 0;

  // ---- Workers ----

  // Leases up to query.max_nodes ready nodes of query.queue. When none is ready and
  // query.wait > 0, parks the call and returns its wait id (> 0); `done` runs later, when a
  // node becomes ready or the wait runs out (an empty list). Otherwise `done` runs before
  // LeaseNodes returns 0. Errors (through `done`): INVALID_ARGUMENT "worker_id: ...",
  // "queue: ...", "max_nodes: ...", "wait_millis: ..."; FAILED_PRECONDITION when closed.
  virtual uint64_t LeaseNodes(const LeaseQuery& query, LeaseCallback done) = 0;

  // Withdraws a parked call; returns true when its callback will never run (false: it has
  // run or is running).
  virtual bool CancelLeaseWait(uint64_t wait_id) = 0;

  // ---- Lease streams (StreamLeases) ----
  //
  // A lease stream is a standing LeaseNodes for one worker: the worker grants credits ("ready
  // for k more") and the scheduler pushes a lease through the callback for each credit as soon
  // as a node of the queue is ready, through the same hand-off as a parked LeaseNodes (FIFO
  // with the parked calls: the longest-waiting stream or call is served first). Leases are the
  // same as LeaseNodes': renewed with RenewLeases, ended with CompleteNode/FailNode, and they
  // lapse when not renewed. A stream that breaks is closed with `lapse_held`: every lease it
  // delivered that is still held lapses at once (back to the queue while attempts remain,
  // else the node fails), so the input of a worker that died goes to another worker without
  // waiting out the lease.

  // Opens a stream with no credits; returns its id (> 0). `callback` is kept until the stream
  // is closed. Errors: INVALID_ARGUMENT "worker_id: ...", "queue: ..."; FAILED_PRECONDITION
  // when closed.
  virtual absl::StatusOr<uint64_t> OpenLeaseStream(const LeaseStreamQuery& query,
                                                   LeaseStreamCallback callback) = 0;
  // Adds `credits` (1..kMaxLeaseNodes; at most kMaxLeaseNodes outstanding) to the stream;
  // ready nodes are delivered (through the callback) before this returns. Errors:
  // INVALID_ARGUMENT "credits: ...", NOT_FOUND for a stream that was closed, stopped or ended.
  virtual absl::Status AddLeaseCredits(uint64_t stream_id, int credits) = 0;
  // Takes back the stream's credits for good (the worker is done asking): no lease is
  // delivered once this returns. The stream still knows its held leases until it is closed.
  virtual void StopLeaseStream(uint64_t stream_id) = 0;
  // Closes the stream: its callback is not called again once this returns; with `lapse_held`
  // the leases it delivered that are still held lapse at once, else they stay held (the
  // worker ends them). Idempotent (unknown ids are ignored).
  virtual void CloseLeaseStream(uint64_t stream_id, bool lapse_held) = 0;

  // Extends the given leases of `worker_id` by their run's lease length. Returns the ids that
  // `worker_id` does not hold (any more: lapsed, ended, unknown, or leased to another worker,
  // which are left as they are), in request order. INVALID_ARGUMENT for more than
  // kMaxRenewLeases ids.
  virtual absl::StatusOr<std::vector<std::string>> RenewLeases(
      absl::string_view worker_id, const std::vector<std::string>& lease_ids) = 0;

  // Ends a lease with the node's output and returns the run once durable. Errors:
  // INVALID_ARGUMENT "lease_id: must not be empty", NOT_FOUND "lease_id: ...",
  // FAILED_PRECONDITION "lease_id: ... (lapsed / completed / failed / cancelled)",
  // RESOURCE_EXHAUSTED "output: ..." (reason kPayloadTooLarge; the lease stays held).
  virtual absl::StatusOr<RunInfo> CompleteNode(absl::string_view lease_id, std::string output) = 0;

  // Ends a lease with an error: back to the queue when `retryable` and attempts remain
  // (will_retry), else the node fails for good. Same errors as CompleteNode ("error: ...").
  virtual absl::StatusOr<FailResult> FailNode(absl::string_view lease_id, std::string error,
                                              bool retryable) = 0;

  // ---- Two-phase writes ----
  //
  // Each Apply* call is its namesake without the wait for the disk: it validates, applies the
  // change in memory (visible at once; parked workers are served) and returns; the change is
  // durable once a later Sync() returns OK. CreateRun(x) is ApplyCreateRun(x) then Sync(). An
  // adapter answers the waiting workers on its own thread and leaves only the commit to an
  // executor. Apply* never blocks on SQLite.
  virtual absl::StatusOr<RunInfo> ApplyCreateRun(RunSpec spec) = 0;
  virtual absl::StatusOr<RunInfo> ApplyCancelRun(absl::string_view run_id,
                                                 absl::string_view reason) = 0;
  virtual absl::StatusOr<RunInfo> ApplyCompleteNode(absl::string_view lease_id,
                                                    std::string output) = 0;
  virtual absl::StatusOr<FailResult> ApplyFailNode(absl::string_view lease_id, std::string error,
                                                   bool retryable) = 0;
  // Returns once every change applied before the call is on disk (group commit: concurrent
  // Syncs share one transaction). UNAVAILABLE when the commit failed (the changes stay in
  // memory and go with the next commit), FAILED_PRECONDITION when closed.
  virtual absl::Status Sync() = 0;
  // Sync() without the wait: `done(status)` runs once every change applied before the call is
  // on disk (or the commit failed), with Sync()'s status. The commit is led by this thread,
  // before returning, when the commit queue was empty and `may_lead` (one group: a bounded
  // wait of one commit); otherwise by the leader ahead of it or a task on
  // options.write_executor. `done` may run on any of those threads, and before SyncAsync
  // returns. Never throws.
  virtual void SyncAsync(bool may_lead, absl::AnyInvocable<void(absl::Status)> done) = 0;
  // After ApplyCreateRun whose Sync failed with `why`: cancels the run (nodes leased meanwhile
  // lose their leases), so that no worker runs it later for a caller that was told its
  // creation failed and may run the work itself. The cancellation, with `why` in the nodes'
  // error, goes with the next commit. Does nothing when the run has finished or is unknown.
  virtual void AbandonRun(absl::string_view run_id, const absl::Status& why) = 0;

  // ---- Time-driven work (the daemon's Ticker calls these; tests call them directly) --

  // Lapses expired leases, ends waits that ran out, writes changes older than flush_delay.
  virtual void Tick() = 0;
  // The earliest instant at which Tick() has work; InfiniteFuture when none.
  virtual absl::Time NextDeadline() = 0;
  // Called (from any thread, possibly with the scheduler's lock held: it must only signal)
  // whenever a deadline earlier than the last NextDeadline() answer appears.
  virtual void SetWakeup(std::function<void()> wakeup) = 0;

  // ---- Administration ----

  // Answers every parked LeaseNodes call, ends every lease stream (its leases stay held until
  // they are ended or lapse) and ends every watch with `status` (a graceful shutdown does not
  // have to wait for long polls and streams).
  virtual void EndStreams(const absl::Status& status) = 0;

  virtual SchedulerStats GetStats() = 0;

  // Absolute path of scheduler.db.
  virtual const std::string& path() const = 0;

  // Ends streams (UNAVAILABLE), waits for queued commits, writes what is left, checkpoints
  // and closes the file. Later calls fail with FAILED_PRECONDITION.
  virtual absl::Status Close() = 0;
};

}  // namespace fast_crewai::scheduler

#endif  // FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_H_
