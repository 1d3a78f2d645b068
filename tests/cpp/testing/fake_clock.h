// File: fake_clock.h
//
// FakeClock: a Clock that moves only when the test says so.
//
// Example:
//   FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
//   TtlCache cache(&clock);
//   clock.Advance(absl::Minutes(5));
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_FAKE_CLOCK_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_FAKE_CLOCK_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/util/clock.h"

namespace fast_crewai::testing {

// Thread-safe.
class FakeClock final : public Clock {
 public:
  // Starts at `start` (default: 2023-11-14T22:13:20Z, a fixed, round instant).
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}

  int64_t NowMicros() override {
    absl::MutexLock lock(&mu_);
    return absl::ToUnixMicros(now_);
  }

  // Moves time forward (or backward, for a negative `d`).
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

  void SetTime(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_FAKE_CLOCK_H_
