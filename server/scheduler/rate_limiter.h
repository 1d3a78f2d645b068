// File: rate_limiter.h
//
// RateLimiter: shared rate limits by name (fast_crewai.v1.SchedulerService.AcquireRateLimit),
// so that every process using one API key stays under one requests-per-minute budget
// (CrewAI's max_rpm is otherwise counted per process).
//
// Semantics: at most `per_minute` permits are spent in any window of `window` (60 s) for
// all callers of a name together. Each permit is a token that comes back one window after it
// was spent. Acquire() does not block: it reserves the permits at the earliest instant t >= now
// that keeps every window within the limit, and returns t - now, the time the caller must wait
// before making its call. Reservations are first come, first served: a later Acquire never
// gets an earlier instant than an earlier one (of the same name).
//
// With s_1 <= s_2 <= ... the instants of the permits reserved so far, `k` new permits at t
// need t >= s_{m+k-N} + window (N = per_minute, m = permits so far): the window ending at t
// then holds at most N permits. Reservations are kept as (instant, permits) entries with
// running totals, so the instant of the permit of rank m+k-N is a binary search: Acquire is
// O(log entries). Entries older than one window are dropped as time passes; a name whose
// last permit is a window old holds nothing (every token is back) and may be forgotten, which
// is how memory stays bounded (max_names, idle names evicted first).
//
// Restarts. With a journal (RateLimiterOptions::journal, the daemon's RateLimitDb) every
// reservation is appended to it as it is made, and a new limiter is given the last window's
// reservations back with Restore() before it serves: a restarted daemon goes on where the old
// one stopped instead of starting every limit with a full window (which let a restart double
// a limit for one window). A journal that fails does not fail the call: the reservation stands
// in memory and the failure is logged.
//
// Example:
//   RateLimiter limiter(RealClock::Get(), RateLimiterOptions{});
//   ASSIGN_OR_RETURN(absl::Duration wait, limiter.Acquire("openai:sk-...", 60, 1));
//   // sleep(wait), then call the API
//
// Thread-safety: all methods are thread-safe.
#ifndef FAST_CREWAI_SERVER_SCHEDULER_RATE_LIMITER_H_
#define FAST_CREWAI_SERVER_SCHEDULER_RATE_LIMITER_H_

#include <cstdint>
#include <deque>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/util/clock.h"

namespace fast_crewai::scheduler {

// Where a RateLimiter records its reservations, so that a restarted daemon can restore them.
class RateLimitJournal {
 public:
  virtual ~RateLimitJournal() = default;
  // Records `count` permits of `name` reserved for `at_micros`. Called with the limiter's lock
  // held, in reservation order; must not call back into the limiter.
  virtual absl::Status Append(absl::string_view name, int64_t at_micros, int64_t count) = 0;
};

struct RateLimiterOptions {
  // The window of the limit. Default: 60 s (per_minute).
  absl::Duration window = absl::Seconds(60);
  // Names tracked at once. When a new name arrives and the table is full, the name idle the
  // longest is forgotten if it is idle (its last permit is a window old, so forgetting changes
  // nothing); otherwise the new name is refused with RESOURCE_EXHAUSTED. Default: 10000.
  int max_names = 10000;
  // Reservations (Acquire calls whose permits are less than a window old or still ahead) kept
  // per name; beyond it Acquire fails with RESOURCE_EXHAUSTED. Bounds the memory of callers
  // that reserve without ever waiting. Default: 100000.
  int max_pending_per_name = 100000;
  // Receives every reservation (see "Restarts" above); nullptr = limits live in memory only.
  // Not owned; must outlive the limiter.
  RateLimitJournal* journal = nullptr;
};

class RateLimiter {
 public:
  // Limits for names 1..kMaxNameBytes bytes, per_minute 1..kMaxPerMinute.
  static constexpr size_t kMaxNameBytes = 256;
  static constexpr int kMaxPerMinute = 1000000;

  // `clock` is not owned and must outlive the limiter.
  RateLimiter(Clock* clock, const RateLimiterOptions& options);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Reserves `permits` (0 = 1) of limit `name` (`per_minute` permits per window) and returns
  // how long the caller must wait before spending them (zero = now). The reservation is made
  // whatever the wait.
  // Errors: INVALID_ARGUMENT "name: ...", "per_minute: ...", "permits: ..." (empty or too long
  // name, per_minute out of 1..1000000, negative permits or more than per_minute);
  // RESOURCE_EXHAUSTED when the name table or the name's reservations are full.
  absl::StatusOr<absl::Duration> Acquire(absl::string_view name, int per_minute, int permits);

  // Puts back a reservation of a previous limiter (read from its journal): `count` permits of
  // `name` at `at_micros`. Call before serving, per name in increasing `at_micros`; a
  // reservation a window old or older is ignored (it constrains nothing), and nothing is
  // written to the journal. Errors: INVALID_ARGUMENT for an empty or too long name, a count
  // below 1, or an instant before the name's last one; RESOURCE_EXHAUSTED as Acquire.
  absl::Status Restore(absl::string_view name, int64_t at_micros, int64_t count);

  // Names tracked now. For tests and stats.
  size_t NamesForTesting() const;

 private:
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  struct Entry {
    int64_t at_micros;   // when these permits are spent
    int64_t cumulative;  // permits reserved under this name up to and including this entry
    int64_t count;       // permits of this entry
  };
  struct Limit {
    std::deque<Entry> entries;    // by at_micros, strictly increasing
    int64_t total = 0;            // permits ever reserved (the last entry's cumulative)
    int64_t last_micros = kNone;  // instant of the last permit (kept when pruned)
  };

  // Drops entries at or before `horizon` (they constrain nothing from now on).
  static void Prune(Limit& limit, int64_t horizon);

  // Adds `k` permits at `t` (>= the name's last instant) to `limit` and its idle order.
  void AddLocked(Limit& limit, const std::string& name, int64_t t, int64_t k)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The limit of `name`, created when missing (evicting idle names); RESOURCE_EXHAUSTED when
  // the table is full.
  absl::StatusOr<std::pair<const std::string, Limit>*> FindOrAddLocked(absl::string_view name,
                                                                       int64_t horizon)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;
  const RateLimiterOptions options_;
  const int64_t window_micros_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Limit> limits_ ABSL_GUARDED_BY(mu_);
  // (instant of the name's last permit, name): the idle order for eviction.
  std::set<std::pair<int64_t, std::string>> by_last_ ABSL_GUARDED_BY(mu_);
  int64_t journal_failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fast_crewai::scheduler

#endif  // FAST_CREWAI_SERVER_SCHEDULER_RATE_LIMITER_H_
