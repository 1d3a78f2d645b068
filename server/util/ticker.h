// File: ticker.h
//
// Ticker: the one thread that drives a core's time-based work. Cores own no thread (house rule:
// they take a Clock and stay deterministic under FakeClock); in the daemon a Ticker calls the
// core's Tick() at its NextDeadline() (a lease lapsing, a waiter's wait or a long poll running
// out, an entry expiring, changes waiting to be written) and at least every `max_interval`.
// The core wakes it through its SetWakeup hook whenever an earlier deadline appears, so a
// deadline is met within a millisecond or so without polling.
//
//   Ticker::For(core, name, clock)  registers itself as `core`'s wakeup and starts the thread;
//                                   `core` has NextDeadline(), Tick() and SetWakeup(fn) (the
//                                   tool cache and the scheduler).
//
// Example:
//   std::unique_ptr<Ticker> ticker = Ticker::For(scheduler.get(), "sched-ticker", clock);
//   ...
//   ticker->Stop();  // joins the thread, then unregisters the wakeup
//
// Thread-safety: Wake() may be called from any thread; Stop() from one thread at a time, never
// the ticker's own.
#ifndef FAST_CREWAI_SERVER_UTIL_TICKER_H_
#define FAST_CREWAI_SERVER_UTIL_TICKER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/util/clock.h"

namespace fast_crewai {

class Ticker {
 public:
  // What the thread drives. `next_deadline` and `tick` are called on the ticker thread, never
  // under the ticker's lock; `unregister` (may be null) is called once by Stop() after the join.
  struct Target {
    std::function<absl::Time()> next_deadline;
    std::function<void()> tick;
    std::function<void()> unregister;
  };

  // Starts the thread (named `name`, at most 15 characters show). `clock` is not owned and must
  // outlive the ticker.
  Ticker(std::string name, Target target, Clock* clock,
         absl::Duration max_interval = absl::Seconds(1));
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  // Calls Stop().
  ~Ticker();

  // A ticker for `core` (not owned; it must outlive the ticker or its Stop()), registered as
  // the core's wakeup before its thread starts.
  template <typename Core>
  static std::unique_ptr<Ticker> For(Core* core, std::string name, Clock* clock,
                                     absl::Duration max_interval = absl::Seconds(1)) {
    auto ticker = std::unique_ptr<Ticker>(new Ticker(std::move(name), clock, max_interval));
    ticker->target_ = Target{[core] { return core->NextDeadline(); }, [core] { core->Tick(); },
                             [core] { core->SetWakeup(nullptr); }};
    core->SetWakeup([raw = ticker.get()] { raw->Wake(); });
    ticker->Start();
    return ticker;
  }

  // Makes the thread re-read the next deadline now.
  void Wake();

  // Stops and joins the thread, then calls the target's `unregister`. Idempotent.
  void Stop();

 private:
  Ticker(std::string name, Clock* clock, absl::Duration max_interval);
  void Start();
  void Run();

  const std::string name_;
  Target target_;
  Clock* const clock_;
  const absl::Duration max_interval_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_TICKER_H_
