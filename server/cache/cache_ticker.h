// File: cache_ticker.h
//
// CacheTicker: the one thread that drives a ToolCache's time-based work. The cache itself owns
// no thread (house rule: cores take a Clock and stay deterministic under FakeClock); in the
// daemon this ticker calls ToolCache::Tick() at ToolCache::NextDeadline() (a lease lapsing, a
// waiter's wait running out, an entry expiring), and at least every `max_interval` so that
// lazily batched row deletions reach cache.db. The cache wakes it (SetWakeup) whenever a new
// deadline appears, so a single-flight waiter is answered within a few milliseconds of its
// deadline without polling.
//
// Example:
//   CacheTicker ticker(cache.get(), RealClock::Get());   // starts the thread
//   ...
//   ticker.Stop();                                        // joins it
//
// Thread-safety: Wake() and Stop() may be called from any thread.
#ifndef FAST_CREWAI_SERVER_CACHE_CACHE_TICKER_H_
#define FAST_CREWAI_SERVER_CACHE_CACHE_TICKER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/cache/tool_cache.h"
#include "server/util/clock.h"

namespace fast_crewai::cache {

class CacheTicker {
 public:
  // Registers itself as `cache`'s wakeup and starts the thread. `cache` and `clock` are not
  // owned and must outlive the ticker (or Stop()).
  CacheTicker(ToolCache* cache, Clock* clock, absl::Duration max_interval = absl::Seconds(1));
  CacheTicker(const CacheTicker&) = delete;
  CacheTicker& operator=(const CacheTicker&) = delete;
  // Calls Stop().
  ~CacheTicker();

  // Makes the thread re-read NextDeadline() now.
  void Wake();

  // Stops and joins the thread. Idempotent. REQUIRES: not called from the ticker thread.
  void Stop();

 private:
  void Run();

  ToolCache* const cache_;
  Clock* const clock_;
  const absl::Duration max_interval_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fast_crewai::cache

#endif  // FAST_CREWAI_SERVER_CACHE_CACHE_TICKER_H_
