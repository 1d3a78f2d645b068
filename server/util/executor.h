// File: executor.h
//
// Executor: "an object that runs closures" (TF Serving util/executor.h), injected wherever code
// must not run work on the caller's thread (gRPC handlers hand SQLite and long scans to one), so
// tests can pass an InlineExecutor and stay single-threaded and deterministic.
//
//   InlineExecutor      runs the closure inside Schedule(); the test fake.
//   ThreadPoolExecutor  a fixed number of threads over one FIFO queue; Shutdown() drains it.
//
// Example:
//   ThreadPoolExecutor sqlite_executor(/*num_threads=*/1, "sqlite");
//   sqlite_executor.Schedule([reactor, store] { reactor->Finish(ToGrpcStatus(store->Flush())); });
//   ...
//   sqlite_executor.Shutdown();  // runs what is queued, then joins.
#ifndef FAST_CREWAI_SERVER_UTIL_EXECUTOR_H_
#define FAST_CREWAI_SERVER_UTIL_EXECUTOR_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace fast_crewai {

// Runs closures. Implementations are thread-safe: Schedule() may be called from any thread.
class Executor {
 public:
  Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  virtual ~Executor() = default;

  // Runs `fn` exactly once, at some point, on a thread chosen by the implementation (possibly
  // the calling thread, possibly before Schedule returns). An exception escaping `fn` is
  // caught and logged, never propagated.
  virtual void Schedule(absl::AnyInvocable<void()> fn) = 0;
};

// Runs every closure on the calling thread before Schedule() returns. Thread-safe (stateless).
class InlineExecutor final : public Executor {
 public:
  void Schedule(absl::AnyInvocable<void()> fn) override;
};

// `num_threads` threads taking closures from one FIFO queue.
// Thread-safety: all methods are thread-safe.
class ThreadPoolExecutor final : public Executor {
 public:
  // Starts the threads. `name` (at most 15 characters are used) names the threads for
  // debuggers and `top -H`.
  // REQUIRES: num_threads >= 1.
  ThreadPoolExecutor(int num_threads, absl::string_view name);

  // Calls Shutdown().
  ~ThreadPoolExecutor() override;

  // Queues `fn`. After Shutdown() has begun, runs `fn` on the calling thread instead, so that a
  // closure (which may hold an RPC that must be finished) is never dropped.
  void Schedule(absl::AnyInvocable<void()> fn) override;

  // Stops taking new closures into the queue, runs every closure already queued, then joins the
  // threads. Idempotent; returns when the pool is empty and every thread has exited.
  // REQUIRES: not called from one of this pool's threads (it would wait for itself).
  void Shutdown();

  int num_threads() const { return num_threads_; }

  // Closures queued but not yet started. For tests and metrics.
  size_t QueueSizeForTesting() const;

 private:
  void WorkerLoop();

  const int num_threads_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Written only by the constructor and Shutdown(); Shutdown() is serialized by join_mu_.
  absl::Mutex join_mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);
};

// Runs `fn`, catching and logging any exception (executor threads must never terminate the
// process). Shared by executors; exposed for executors written elsewhere.
void RunClosureCatchingExceptions(absl::AnyInvocable<void()>& fn);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_EXECUTOR_H_
