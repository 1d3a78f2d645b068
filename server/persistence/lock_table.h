// File: lock_table.h
//
// LockTable: named cross-process locks held as leases, the daemon's backend for CrewAI's
// crewai_core.lock_store.lock(name, timeout=...). A lock is held by one ticket at a time;
// a holder keeps it by renewing its lease (the RPC layer renews on every message of the
// client's lock stream) and loses it when it releases, when its lease lapses (the client
// stopped renewing: hung, partitioned or dead) or when its stream ends. Waiters queue in
// FIFO order per name and give up at their wait deadline.
//
// Nothing here blocks and nothing is durable: locks live in memory (a daemon restart ends
// every client's stream, which ends every hold). Waiting is callback-based, so no thread is
// parked per waiter; time comes from the injected Clock and expiries are processed by Tick(),
// which the owner calls periodically (or at the returned delay).
//
// Example:
//   LockTable table(RealClock::Get(), LockTableOptions{});
//   LockCallbacks cb;
//   cb.on_granted = [] { /* tell the client */ };
//   cb.on_timed_out = [](const LockHolderInfo& h) { /* "held by " + h.holder */ };
//   cb.on_lapsed = [] { /* the client lost the lock */ };
//   ASSIGN_OR_RETURN(AcquireResult r, table.Acquire("sqlite:/x.db", "host:1234", absl::Seconds(30),
//                                                   absl::Seconds(120), std::move(cb)));
//   ... later: table.Renew(r.ticket); ... table.Release(r.ticket);
//
// Callbacks run on the thread whose call caused the event (Acquire/Release/Renew of another
// ticket, or Tick), after the table's mutex is released, never while the caller of that
// method holds it. Per ticket, at most one of on_granted / on_timed_out is called, then
// possibly on_lapsed; nothing is called for a ticket after Release(ticket) returned.
// (A callback already running on another thread may still finish after Release returns.)
//
// Thread-safety: all methods are thread-safe.
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_LOCK_TABLE_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_LOCK_TABLE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/util/clock.h"

namespace fast_crewai::persistence {

struct LockTableOptions {
  // Lease given when the client asks for none (0). Default: 30 s.
  absl::Duration default_lease = absl::Seconds(30);
  // Accepted lease range; outside it Acquire fails with INVALID_ARGUMENT. Default: 100 ms to
  // 10 min. (Short leases are for tests; clients renew every third of their lease.)
  absl::Duration min_lease = absl::Milliseconds(100);
  absl::Duration max_lease = absl::Minutes(10);
  // Longest wait accepted. Default: 24 h.
  absl::Duration max_wait = absl::Hours(24);
  // Most tickets (holders plus waiters) at once; more fail with RESOURCE_EXHAUSTED.
  // Default: 100000.
  int64_t max_tickets = 100000;
};

// Who holds a lock, for messages and listings.
struct LockHolderInfo {
  std::string holder;       // the client's description, e.g. "host:pid:thread"
  absl::Time acquired_at;   // when the current holder got it
  absl::Time lease_expiry;  // when the lease lapses unless renewed
};

struct LockCallbacks {
  std::function<void()> on_granted;
  std::function<void(const LockHolderInfo& holder)> on_timed_out;
  std::function<void()> on_lapsed;
};

struct AcquireResult {
  enum class State {
    kGranted,   // held now; on_granted is not called
    kWaiting,   // queued; on_granted or on_timed_out follows
    kTimedOut,  // wait_timeout was 0 and the lock is held; no ticket was created
  };
  State state = State::kGranted;
  uint64_t ticket = 0;            // 0 for kTimedOut
  absl::Duration lease;           // the effective lease
  LockHolderInfo current_holder;  // for kWaiting / kTimedOut: who holds it now
};

struct LockInfo {
  std::string name;
  LockHolderInfo holder;
  int64_t waiters = 0;
};

struct LockTableStats {
  int64_t held = 0;
  int64_t waiting = 0;
  int64_t granted_total = 0;
  int64_t timed_out_total = 0;
  int64_t lapsed_total = 0;
};

class LockTable {
 public:
  // `clock` is not owned and must outlive the table.
  LockTable(Clock* clock, const LockTableOptions& options);
  LockTable(const LockTable&) = delete;
  LockTable& operator=(const LockTable&) = delete;
  ~LockTable();

  // Asks for `name` on behalf of `holder` with a lease of `lease` (ZeroDuration = default)
  // and waits up to `wait_timeout` (ZeroDuration = do not wait).
  // Errors: INVALID_ARGUMENT naming the field ("name: must not be empty", "lease: ...",
  // "wait_timeout: ..."), RESOURCE_EXHAUSTED (too many tickets).
  absl::StatusOr<AcquireResult> Acquire(absl::string_view name, absl::string_view holder,
                                        absl::Duration lease, absl::Duration wait_timeout,
                                        LockCallbacks callbacks);

  // Extends the lease of the holding `ticket` to now + its lease and returns the new expiry.
  // Errors: NOT_FOUND (unknown, released or lapsed ticket), FAILED_PRECONDITION (the ticket
  // is still waiting).
  absl::StatusOr<absl::Time> Renew(uint64_t ticket);

  // Gives up `ticket`: releases the lock it holds (the next waiter gets it) or leaves the
  // queue. Returns true when the ticket was holding or waiting. Idempotent.
  bool Release(uint64_t ticket);

  // Lapses expired leases (passing their locks on) and times out waiters past their
  // deadline. Returns the time until the next lease or wait deadline, InfiniteDuration when
  // there is none.
  absl::Duration Tick();

  std::vector<LockInfo> ListLocks() const;
  LockTableStats GetStats() const;

 private:
  struct Waiter {
    uint64_t ticket;
    std::string holder;
    absl::Duration lease;
    absl::Time deadline;
    LockCallbacks callbacks;
  };
  struct Lock {
    uint64_t holder_ticket = 0;  // 0 = free
    LockHolderInfo holder;
    absl::Duration lease;
    LockCallbacks callbacks;
    std::deque<Waiter> waiters;
  };
  using Pending = std::vector<std::function<void()>>;

  // Passes `lock` (now free) to its first waiter still within its deadline; waiters past
  // theirs are timed out on the way.
  void GrantNext(const std::string& name, Lock& lock, absl::Time now, Pending& pending)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Erases `name` when it is free and nobody waits.
  void MaybeErase(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Run(Pending& pending);

  Clock* const clock_;
  const LockTableOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Lock> locks_ ABSL_GUARDED_BY(mu_);
  // Every live ticket (holding or waiting) -> its lock name.
  absl::flat_hash_map<uint64_t, std::string> tickets_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  LockTableStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_LOCK_TABLE_H_
