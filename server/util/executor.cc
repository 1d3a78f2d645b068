#include "server/util/executor.h"

#include <pthread.h>

#include <exception>
#include <utility>

#include "server/util/logging.h"

namespace fast_crewai {

void RunClosureCatchingExceptions(absl::AnyInvocable<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    LogError("closure threw an exception", {{"what", e.what()}});
  } catch (...) {
    LogError("closure threw a non-standard exception");
  }
}

void InlineExecutor::Schedule(absl::AnyInvocable<void()> fn) { RunClosureCatchingExceptions(fn); }

ThreadPoolExecutor::ThreadPoolExecutor(int num_threads, absl::string_view name)
    : num_threads_(num_threads < 1 ? 1 : num_threads) {
  const std::string thread_name(name.substr(0, 15));
  absl::MutexLock lock(&join_mu_);
  threads_.reserve(num_threads_);
  for (int i = 0; i < num_threads_; ++i) {
    threads_.emplace_back([this, thread_name] {
      pthread_setname_np(pthread_self(), thread_name.c_str());
      WorkerLoop();
    });
  }
}

ThreadPoolExecutor::~ThreadPoolExecutor() { Shutdown(); }

void ThreadPoolExecutor::Schedule(absl::AnyInvocable<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (!shutting_down_) {
      queue_.push_back(std::move(fn));
      return;
    }
  }
  RunClosureCatchingExceptions(fn);
}

void ThreadPoolExecutor::WorkerLoop() {
  while (true) {
    absl::AnyInvocable<void()> fn;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadPoolExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->shutting_down_ || !self->queue_.empty();
          },
          this));
      // Drain: exit only when shutting down *and* nothing is left.
      if (queue_.empty()) return;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    RunClosureCatchingExceptions(fn);
  }
}

void ThreadPoolExecutor::Shutdown() {
  absl::MutexLock join_lock(&join_mu_);
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

size_t ThreadPoolExecutor::QueueSizeForTesting() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

}  // namespace fast_crewai
