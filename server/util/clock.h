// File: clock.h
//
// Clock: the one source of "now" for the daemon and its cores (leveldb's Env::NowMicros idea).
// Code that needs the time takes a `Clock*` instead of calling absl::Now(), so tests can use
// FakeClock (tests/cpp/testing/fake_clock.h) and move time by hand.
//
// Example:
//   class TtlCache {
//    public:
//     explicit TtlCache(Clock* clock) : clock_(clock) {}
//     bool Expired(absl::Time deadline) const { return clock_->Now() >= deadline; }
//    private:
//     Clock* clock_;  // Not owned.
//   };
//   TtlCache cache(RealClock::Get());
#ifndef FAST_CREWAI_SERVER_UTIL_CLOCK_H_
#define FAST_CREWAI_SERVER_UTIL_CLOCK_H_

#include <cstdint>

#include "absl/time/time.h"

namespace fast_crewai {

// An abstract source of wall-clock time.
// Thread-safety: implementations must be safe to call from any thread.
class Clock {
 public:
  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  virtual ~Clock() = default;

  // Microseconds since the Unix epoch.
  virtual int64_t NowMicros() = 0;

  // The same instant as an absl::Time.
  absl::Time Now() { return absl::FromUnixMicros(NowMicros()); }
};

// The system clock. Stateless; use the process-wide instance from Get().
class RealClock final : public Clock {
 public:
  // Returns a process-wide instance that is never destroyed.
  static RealClock* Get();

  int64_t NowMicros() override;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_CLOCK_H_
