// File: scheduler_ticker.h
//
// SchedulerTicker: the one thread that drives a Scheduler's time-based work. The scheduler
// owns no thread (house rule: cores take a Clock and stay deterministic under FakeClock); in
// the daemon this ticker calls Scheduler::Tick() at Scheduler::NextDeadline() (a lease
// lapsing, a long poll running out, changes waiting to be written) and at least every
// `max_interval`. The scheduler wakes it (SetWakeup) whenever an earlier deadline appears, so
// a parked LeaseNodes is answered within a millisecond or so of its deadline without polling.
// The same pattern as cache::CacheTicker.
//
// Example:
//   SchedulerTicker ticker(scheduler.get(), RealClock::Get());   // starts the thread
//   ...
//   ticker.Stop();                                                // joins it
//
// Thread-safety: Wake() and Stop() may be called from any thread.
#ifndef FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_TICKER_H_
#define FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_TICKER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/scheduler/scheduler.h"
#include "server/util/clock.h"

namespace fast_crewai::scheduler {

class SchedulerTicker {
 public:
  // Registers itself as `scheduler`'s wakeup and starts the thread. `scheduler` and `clock`
  // are not owned and must outlive the ticker (or Stop()).
  SchedulerTicker(Scheduler* scheduler, Clock* clock,
                  absl::Duration max_interval = absl::Seconds(1));
  SchedulerTicker(const SchedulerTicker&) = delete;
  SchedulerTicker& operator=(const SchedulerTicker&) = delete;
  // Calls Stop().
  ~SchedulerTicker();

  // Makes the thread re-read NextDeadline() now.
  void Wake();

  // Unregisters the wakeup, stops and joins the thread. Idempotent.
  // REQUIRES: not called from the ticker thread.
  void Stop();

 private:
  void Run();

  Scheduler* const scheduler_;
  Clock* const clock_;
  const absl::Duration max_interval_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fast_crewai::scheduler

#endif  // FAST_CREWAI_SERVER_SCHEDULER_SCHEDULER_TICKER_H_
