#include "server/scheduler/scheduler_ticker.h"

#include <pthread.h>

#include <algorithm>

namespace fast_crewai::scheduler {

SchedulerTicker::SchedulerTicker(Scheduler* scheduler, Clock* clock, absl::Duration max_interval)
    : scheduler_(scheduler), clock_(clock), max_interval_(max_interval) {
  scheduler_->SetWakeup([this] { Wake(); });
  thread_ = std::thread([this] { Run(); });
  pthread_setname_np(thread_.native_handle(), "sched-ticker");
}

SchedulerTicker::~SchedulerTicker() { Stop(); }

void SchedulerTicker::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void SchedulerTicker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();
    scheduler_->SetWakeup(nullptr);
  }
}

void SchedulerTicker::Run() {
  while (true) {
    const absl::Time now = clock_->Now();
    const absl::Time next = std::min(scheduler_->NextDeadline(), now + max_interval_);
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || woken_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), std::max(absl::ZeroDuration(), next - now));
      if (stop_) return;
      woken_ = false;
    }
    scheduler_->Tick();
  }
}

}  // namespace fast_crewai::scheduler
