// File: poll.h
//
// PollUntil: waits in real time for a condition another thread (a server, a reaper) makes true,
// for tests that cannot step an injected clock past it.
//
// Example:
//   EXPECT_TRUE(PollUntil([&] { return Count() == 3; }, absl::Seconds(1)));
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_POLL_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_POLL_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fast_crewai::testing {

// Checks `pred` every 2 ms until it holds (true) or `timeout` has passed (false, after one
// last check).
template <typename Pred>
bool PollUntil(Pred pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return pred();
}

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_POLL_H_
