#include "server/persistence/lock_table.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/persistence/validation.h"

namespace fast_crewai::persistence {

LockTable::LockTable(Clock* clock, const LockTableOptions& options)
    : clock_(clock), options_(options) {}

LockTable::~LockTable() = default;

void LockTable::Run(Pending& pending) {
  for (std::function<void()>& fn : pending) {
    if (fn) fn();
  }
  pending.clear();
}

absl::StatusOr<AcquireResult> LockTable::Acquire(absl::string_view name, absl::string_view holder,
                                                 absl::Duration lease, absl::Duration wait_timeout,
                                                 LockCallbacks callbacks) {
  if (absl::Status s = ValidateIdentifier(name, "name"); !s.ok()) return s;
  if (absl::Status s = ValidateIdentifier(holder, "holder", /*allow_empty=*/true); !s.ok()) {
    return s;
  }
  if (lease == absl::ZeroDuration()) lease = options_.default_lease;
  if (lease < options_.min_lease || lease > options_.max_lease) {
    return absl::InvalidArgumentError(absl::StrCat("lease: ", absl::FormatDuration(lease),
                                                   " is outside the accepted range ",
                                                   absl::FormatDuration(options_.min_lease), " to ",
                                                   absl::FormatDuration(options_.max_lease)));
  }
  if (wait_timeout < absl::ZeroDuration() || wait_timeout > options_.max_wait) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wait_timeout: ", absl::FormatDuration(wait_timeout),
        " is outside the accepted range 0 to ", absl::FormatDuration(options_.max_wait)));
  }
  const absl::Time now = clock_->Now();
  AcquireResult result;
  result.lease = lease;
  absl::MutexLock lock(&mu_);
  if (static_cast<int64_t>(tickets_.size()) >= options_.max_tickets) {
    return absl::ResourceExhaustedError(
        absl::StrCat("name: too many locks held or awaited at once (", options_.max_tickets, ")"));
  }
  const std::string key(name);
  Lock& l = locks_[key];
  if (l.holder_ticket == 0) {
    // Free (and therefore nobody waits: a freed lock passes to its first waiter at once).
    l.holder_ticket = next_ticket_++;
    l.holder = LockHolderInfo{std::string(holder), now, now + lease};
    l.lease = lease;
    l.callbacks = std::move(callbacks);
    tickets_[l.holder_ticket] = key;
    ++stats_.granted_total;
    result.state = AcquireResult::State::kGranted;
    result.ticket = l.holder_ticket;
    return result;
  }
  result.current_holder = l.holder;
  if (wait_timeout == absl::ZeroDuration()) {
    ++stats_.timed_out_total;
    result.state = AcquireResult::State::kTimedOut;
    return result;
  }
  Waiter w{next_ticket_++, std::string(holder), lease, now + wait_timeout, std::move(callbacks)};
  tickets_[w.ticket] = key;
  result.state = AcquireResult::State::kWaiting;
  result.ticket = w.ticket;
  l.waiters.push_back(std::move(w));
  return result;
}

absl::StatusOr<absl::Time> LockTable::Renew(uint64_t ticket) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = tickets_.find(ticket);
  if (it == tickets_.end()) {
    return absl::NotFoundError(
        absl::StrCat("ticket: ", ticket, " holds no lock (released, or its lease lapsed)"));
  }
  Lock& l = locks_[it->second];
  if (l.holder_ticket != ticket) {
    return absl::FailedPreconditionError(
        absl::StrCat("ticket: ", ticket, " is still waiting for \"", it->second, "\""));
  }
  l.holder.lease_expiry = now + l.lease;
  return l.holder.lease_expiry;
}

bool LockTable::Release(uint64_t ticket) {
  Pending pending;
  bool found = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = tickets_.find(ticket);
    if (it != tickets_.end()) {
      found = true;
      const std::string name = it->second;
      tickets_.erase(it);
      Lock& l = locks_[name];
      if (l.holder_ticket == ticket) {
        l.holder_ticket = 0;
        l.callbacks = LockCallbacks{};
        GrantNext(name, l, clock_->Now(), pending);
      } else {
        l.waiters.erase(std::remove_if(l.waiters.begin(), l.waiters.end(),
                                       [&](const Waiter& w) { return w.ticket == ticket; }),
                        l.waiters.end());
      }
      MaybeErase(name);
    }
  }
  Run(pending);
  return found;
}

void LockTable::GrantNext(const std::string& name, Lock& l, absl::Time now, Pending& pending) {
  while (!l.waiters.empty()) {
    Waiter w = std::move(l.waiters.front());
    l.waiters.pop_front();
    if (w.deadline <= now) {
      tickets_.erase(w.ticket);
      ++stats_.timed_out_total;
      // The lock is free at this instant, but the waiter's time is up: report who held it
      // until just now (the previous holder is already gone).
      LockHolderInfo last = l.holder;
      if (w.callbacks.on_timed_out) {
        pending.push_back([cb = std::move(w.callbacks.on_timed_out), last] { cb(last); });
      }
      continue;
    }
    l.holder_ticket = w.ticket;
    l.holder = LockHolderInfo{std::move(w.holder), now, now + w.lease};
    l.lease = w.lease;
    l.callbacks = std::move(w.callbacks);
    ++stats_.granted_total;
    if (l.callbacks.on_granted) pending.push_back(l.callbacks.on_granted);
    return;
  }
  (void)name;
}

void LockTable::MaybeErase(const std::string& name) {
  auto it = locks_.find(name);
  if (it != locks_.end() && it->second.holder_ticket == 0 && it->second.waiters.empty()) {
    locks_.erase(it);
  }
}

absl::Duration LockTable::Tick() {
  Pending pending;
  absl::Time next = absl::InfiniteFuture();
  {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    std::vector<std::string> emptied;
    for (auto& [name, l] : locks_) {
      if (l.holder_ticket != 0 && l.holder.lease_expiry <= now) {
        tickets_.erase(l.holder_ticket);
        ++stats_.lapsed_total;
        if (l.callbacks.on_lapsed) pending.push_back(std::move(l.callbacks.on_lapsed));
        l.callbacks = LockCallbacks{};
        l.holder_ticket = 0;
        GrantNext(name, l, now, pending);
      }
      // Waiters past their deadline leave the queue now, not only when the lock frees up.
      for (auto w = l.waiters.begin(); w != l.waiters.end();) {
        if (w->deadline > now) {
          next = std::min(next, w->deadline);
          ++w;
          continue;
        }
        tickets_.erase(w->ticket);
        ++stats_.timed_out_total;
        if (w->callbacks.on_timed_out) {
          pending.push_back([cb = std::move(w->callbacks.on_timed_out), h = l.holder] { cb(h); });
        }
        w = l.waiters.erase(w);
      }
      if (l.holder_ticket != 0) next = std::min(next, l.holder.lease_expiry);
      if (l.holder_ticket == 0 && l.waiters.empty()) emptied.push_back(name);
    }
    for (const std::string& name : emptied) MaybeErase(name);
  }
  Run(pending);  // outside the mutex
  if (next == absl::InfiniteFuture()) return absl::InfiniteDuration();
  return std::max(absl::ZeroDuration(), next - clock_->Now());
}

std::vector<LockInfo> LockTable::ListLocks() const {
  absl::MutexLock lock(&mu_);
  std::vector<LockInfo> out;
  out.reserve(locks_.size());
  for (const auto& [name, l] : locks_) {
    if (l.holder_ticket == 0) continue;
    out.push_back(LockInfo{name, l.holder, static_cast<int64_t>(l.waiters.size())});
  }
  std::sort(out.begin(), out.end(),
            [](const LockInfo& a, const LockInfo& b) { return a.name < b.name; });
  return out;
}

LockTableStats LockTable::GetStats() const {
  absl::MutexLock lock(&mu_);
  LockTableStats stats = stats_;
  stats.held = 0;
  stats.waiting = 0;
  for (const auto& [name, l] : locks_) {
    if (l.holder_ticket != 0) ++stats.held;
    stats.waiting += static_cast<int64_t>(l.waiters.size());
  }
  return stats;
}

}  // namespace fast_crewai::persistence
