#include "server/cache/cache_ticker.h"

#include <pthread.h>

#include <algorithm>

namespace fast_crewai::cache {

CacheTicker::CacheTicker(ToolCache* cache, Clock* clock, absl::Duration max_interval)
    : cache_(cache), clock_(clock), max_interval_(max_interval) {
  cache_->SetWakeup([this] { Wake(); });
  thread_ = std::thread([this] { Run(); });
  pthread_setname_np(thread_.native_handle(), "cache-ticker");
}

CacheTicker::~CacheTicker() { Stop(); }

void CacheTicker::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void CacheTicker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void CacheTicker::Run() {
  while (true) {
    const absl::Time now = clock_->Now();
    const absl::Time next = std::min(cache_->NextDeadline(), now + max_interval_);
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || woken_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), std::max(absl::ZeroDuration(), next - now));
      if (stop_) return;
      woken_ = false;
    }
    cache_->Tick();
  }
}

}  // namespace fast_crewai::cache
