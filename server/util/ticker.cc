#include "server/util/ticker.h"

#include <pthread.h>

#include <algorithm>

namespace fast_crewai {

Ticker::Ticker(std::string name, Clock* clock, absl::Duration max_interval)
    : name_(std::move(name)), clock_(clock), max_interval_(max_interval) {}

Ticker::Ticker(std::string name, Target target, Clock* clock, absl::Duration max_interval)
    : Ticker(std::move(name), clock, max_interval) {
  target_ = std::move(target);
  Start();
}

Ticker::~Ticker() { Stop(); }

void Ticker::Start() {
  thread_ = std::thread([this] { Run(); });
  pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
}

void Ticker::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void Ticker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (!thread_.joinable()) return;
  thread_.join();
  if (target_.unregister) target_.unregister();
}

void Ticker::Run() {
  while (true) {
    const absl::Time now = clock_->Now();
    const absl::Time next = std::min(target_.next_deadline(), now + max_interval_);
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || woken_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), std::max(absl::ZeroDuration(), next - now));
      if (stop_) return;
      woken_ = false;
    }
    target_.tick();
  }
}

}  // namespace fast_crewai
