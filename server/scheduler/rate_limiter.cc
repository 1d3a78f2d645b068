#include "server/scheduler/rate_limiter.h"

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace fast_crewai::scheduler {

RateLimiter::RateLimiter(Clock* clock, const RateLimiterOptions& options)
    : clock_(clock),
      options_(options),
      window_micros_(std::max<int64_t>(1, absl::ToInt64Microseconds(options.window))) {}

void RateLimiter::Prune(Limit& limit, int64_t horizon) {
  while (!limit.entries.empty() && limit.entries.front().at_micros <= horizon) {
    limit.entries.pop_front();
  }
}

absl::StatusOr<absl::Duration> RateLimiter::Acquire(absl::string_view name, int per_minute,
                                                    int permits) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: ", name.empty() ? "must not be empty" : "longer than 256 bytes"));
  }
  if (per_minute < 1 || per_minute > kMaxPerMinute) {
    return absl::InvalidArgumentError(
        absl::StrCat("per_minute: ", per_minute, " is out of range (1..1000000)"));
  }
  if (permits < 0 || permits > per_minute) {
    return absl::InvalidArgumentError(absl::StrCat(
        "permits: ", permits, permits < 0 ? " is negative" : " is more than per_minute (",
        permits < 0 ? "" : absl::StrCat(per_minute, ")")));
  }
  const int64_t k = permits == 0 ? 1 : permits;
  const int64_t now = clock_->NowMicros();
  const int64_t horizon = now - window_micros_;

  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(auto* slot, FindOrAddLocked(name, horizon));
  Limit& limit = slot->second;
  Prune(limit, horizon);
  if (limit.entries.size() >= static_cast<size_t>(std::max(1, options_.max_pending_per_name))) {
    return absl::ResourceExhaustedError(
        absl::StrCat("permits: ", limit.entries.size(), " reservations of \"", name,
                     "\" are pending; callers must wait before they reserve more"));
  }
  int64_t t = std::max(now, limit.last_micros);
  // The permit of global rank p = total + k - N must be a whole window before t.
  const int64_t p = limit.total + k - per_minute;
  if (p > 0 && !limit.entries.empty()) {
    // Ranks up to `pruned` belonged to entries at least a window old: they constrain nothing.
    const int64_t pruned = limit.entries.front().cumulative - limit.entries.front().count;
    if (p > pruned) {
      auto e = std::lower_bound(
          limit.entries.begin(), limit.entries.end(), p,
          [](const Entry& entry, int64_t rank) { return entry.cumulative < rank; });
      if (e != limit.entries.end()) t = std::max(t, e->at_micros + window_micros_);
    }
  }
  AddLocked(limit, slot->first, t, k);
  if (options_.journal != nullptr) {
    absl::Status recorded = options_.journal->Append(slot->first, t, k);
    // The reservation stands either way: the callers' answers stay right while the daemon
    // runs; only a restart would forget it. Logged on the first failure and every 1000th.
    if (!recorded.ok() && journal_failures_++ % 1000 == 0) {
      LogWarning(
          "rate limit reservation not recorded; a restart would forget it",
          {{"name", slot->first}, {"error", recorded.ToString()}, {"failures", journal_failures_}});
    }
  }
  return absl::Microseconds(t - now);
}

absl::Status RateLimiter::Restore(absl::string_view name, int64_t at_micros, int64_t count) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: ", name.empty() ? "must not be empty" : "longer than 256 bytes"));
  }
  if (count < 1) {
    return absl::InvalidArgumentError(absl::StrCat("count: ", count, " is below 1"));
  }
  const int64_t horizon = clock_->NowMicros() - window_micros_;
  if (at_micros <= horizon) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(auto* slot, FindOrAddLocked(name, horizon));
  Limit& limit = slot->second;
  if (limit.last_micros != kNone && at_micros < limit.last_micros) {
    return absl::InvalidArgumentError(absl::StrCat("at_micros: ", at_micros,
                                                   " is before the last reservation of \"", name,
                                                   "\" (", limit.last_micros, ")"));
  }
  AddLocked(limit, slot->first, at_micros, count);
  return absl::OkStatus();
}

absl::StatusOr<std::pair<const std::string, RateLimiter::Limit>*> RateLimiter::FindOrAddLocked(
    absl::string_view name, int64_t horizon) {
  // Forget a couple of idle names on every call: memory follows the names in use.
  for (int i = 0; i < 2 && !by_last_.empty() && by_last_.begin()->first <= horizon; ++i) {
    limits_.erase(by_last_.begin()->second);
    by_last_.erase(by_last_.begin());
  }
  auto it = limits_.find(name);
  if (it == limits_.end()) {
    if (limits_.size() >= static_cast<size_t>(std::max(1, options_.max_names))) {
      return absl::ResourceExhaustedError(
          absl::StrCat("name: ", limits_.size(), " rate limits are in use, the most this daemon ",
                       "tracks; none has been idle for a window"));
    }
    it = limits_.emplace(std::string(name), Limit{}).first;
  }
  return &*it;
}

void RateLimiter::AddLocked(Limit& limit, const std::string& name, int64_t t, int64_t k) {
  if (!limit.entries.empty() && limit.entries.back().at_micros == t) {
    limit.entries.back().cumulative += k;
    limit.entries.back().count += k;
  } else {
    limit.entries.push_back(Entry{t, limit.total + k, k});
  }
  limit.total += k;
  if (limit.last_micros != kNone) by_last_.erase({limit.last_micros, name});
  limit.last_micros = t;
  by_last_.insert({t, name});
}

size_t RateLimiter::NamesForTesting() const {
  absl::MutexLock lock(&mu_);
  return limits_.size();
}

}  // namespace fast_crewai::scheduler
