// RateLimiter with a FakeClock: the window rule (never more than N permits in any window),
// the waits it computes, reservations in FIFO order, multi-permit calls, idle-name eviction,
// validation, and many threads sharing one name.
#include "server/scheduler/rate_limiter.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/status_matchers.h"

namespace fast_crewai::scheduler {
namespace {

using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::StatusIs;
using ::testing::HasSubstr;

// The instants (micros) at which each permit is spent: now + wait.
struct Spend {
  int64_t at;
  int permits;
};

// Checks that no window (t - 60 s, t] holds more than `n` permits.
void ExpectWithinLimit(std::vector<Spend> spends, int n, int64_t window = 60'000'000) {
  std::sort(spends.begin(), spends.end(), [](const Spend& a, const Spend& b) { return a.at < b.at; });
  size_t lo = 0;
  int in_window = 0;
  for (size_t hi = 0; hi < spends.size(); ++hi) {
    in_window += spends[hi].permits;
    while (spends[lo].at <= spends[hi].at - window) in_window -= spends[lo++].permits;
    ASSERT_LE(in_window, n) << "window ending at " << spends[hi].at;
  }
}

TEST(RateLimiterTest, FirstNGoAtOnceThenEachWaitsForATokenToComeBack) {
  FakeClock clock;
  RateLimiter limiter(&clock, RateLimiterOptions{});
  // 3 per minute: calls at t=0, 10 s, 20 s go at once.
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter.Acquire("k", 3, 1));
    EXPECT_EQ(wait, absl::ZeroDuration()) << i;
    clock.Advance(absl::Seconds(10));
  }
  // t=30 s: the token spent at 0 comes back at 60 s.
  ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter.Acquire("k", 3, 1));
  EXPECT_EQ(wait, absl::Seconds(30));
  // The next one is behind it: the token of 10 s comes back at 70 s.
  ASSERT_OK_AND_ASSIGN(wait, limiter.Acquire("k", 3, 1));
  EXPECT_EQ(wait, absl::Seconds(40));
  // After a full idle window everything is back.
  clock.Advance(absl::Minutes(3));
  ASSERT_OK_AND_ASSIGN(wait, limiter.Acquire("k", 3, 1));
  EXPECT_EQ(wait, absl::ZeroDuration());
}

TEST(RateLimiterTest, NamesAreIndependent) {
  FakeClock clock;
  RateLimiter limiter(&clock, RateLimiterOptions{});
  ASSERT_OK(limiter.Acquire("a", 1, 1));
  ASSERT_OK_AND_ASSIGN(absl::Duration wait_a, limiter.Acquire("a", 1, 1));
  EXPECT_EQ(wait_a, absl::Seconds(60));
  ASSERT_OK_AND_ASSIGN(absl::Duration wait_b, limiter.Acquire("b", 1, 1));
  EXPECT_EQ(wait_b, absl::ZeroDuration());
}

TEST(RateLimiterTest, MultiPermitCallsCountEveryPermit) {
  FakeClock clock;
  RateLimiter limiter(&clock, RateLimiterOptions{});
  ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter.Acquire("k", 10, 6));
  EXPECT_EQ(wait, absl::ZeroDuration());
  clock.Advance(absl::Seconds(5));
  ASSERT_OK_AND_ASSIGN(wait, limiter.Acquire("k", 10, 4));  // 6 + 4 = 10: fits
  EXPECT_EQ(wait, absl::ZeroDuration());
  clock.Advance(absl::Seconds(5));
  // 1 more needs one of the first 6 back (at 60 s; now 10 s).
  ASSERT_OK_AND_ASSIGN(wait, limiter.Acquire("k", 10, 1));
  EXPECT_EQ(wait, absl::Seconds(50));
  // 5 more also fit at 60 s: the window (0 s, 60 s] holds the 4 of 5 s, then 1 + 5.
  ASSERT_OK_AND_ASSIGN(wait, limiter.Acquire("k", 10, 5));
  EXPECT_EQ(wait, absl::Seconds(50));
  // One more needs the permits of 5 s back: 65 s.
  ASSERT_OK_AND_ASSIGN(wait, limiter.Acquire("k", 10, 1));
  EXPECT_EQ(wait, absl::Seconds(55));
}

TEST(RateLimiterTest, SimulatedCallersNeverExceedTheLimitInAnyWindow) {
  FakeClock clock;
  RateLimiter limiter(&clock, RateLimiterOptions{});
  std::vector<Spend> spends;
  const int n = 60;
  // 4 "processes" asking every 250 ms for 3 minutes, with 1-3 permits.
  for (int step = 0; step < 720; ++step) {
    for (int p = 0; p < 4; ++p) {
      const int permits = 1 + (step + p) % 3;
      ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter.Acquire("shared", n, permits));
      ASSERT_GE(wait, absl::ZeroDuration());
      spends.push_back({clock.NowMicros() + absl::ToInt64Microseconds(wait), permits});
    }
    clock.Advance(absl::Milliseconds(250));
  }
  ExpectWithinLimit(spends, n);
  // Tight: the first window is (nearly) full; a 3-permit call that does not fit waits.
  int first_window = 0;
  const int64_t start = spends.front().at;
  for (const Spend& s : spends) {
    if (s.at < start + 60'000'000) first_window += s.permits;
  }
  EXPECT_GE(first_window, n - 2);
  EXPECT_LE(first_window, n);
}

TEST(RateLimiterTest, ConcurrentCallersStayWithinTheLimit) {
  FakeClock clock;
  RateLimiter limiter(&clock, RateLimiterOptions{});
  absl::Mutex mu;
  std::vector<Spend> spends;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<absl::Duration> wait = limiter.Acquire("shared", 50, 1);
        ASSERT_TRUE(wait.ok());
        // The clock stands still, so now + wait is exactly the reserved instant.
        const int64_t at = clock.NowMicros() + absl::ToInt64Microseconds(*wait);
        absl::MutexLock lock(&mu);
        spends.push_back({at, 1});
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(spends.size(), 1600u);
  ExpectWithinLimit(spends, 50);
}

TEST(RateLimiterTest, Validation) {
  FakeClock clock;
  RateLimiter limiter(&clock, RateLimiterOptions{});
  EXPECT_THAT(limiter.Acquire("", 1, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name:")));
  EXPECT_THAT(limiter.Acquire(std::string(257, 'x'), 1, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name:")));
  EXPECT_THAT(limiter.Acquire("k", 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("per_minute:")));
  EXPECT_THAT(limiter.Acquire("k", 1000001, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("per_minute:")));
  EXPECT_THAT(limiter.Acquire("k", 5, 6),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("permits:")));
  EXPECT_THAT(limiter.Acquire("k", 5, -1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("permits:")));
  // permits 0 means 1.
  ASSERT_OK(limiter.Acquire("k", 1, 0));
  ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter.Acquire("k", 1, 0));
  EXPECT_EQ(wait, absl::Seconds(60));
}

TEST(RateLimiterTest, IdleNamesAreEvictedBusyOnesAreNot) {
  FakeClock clock;
  RateLimiterOptions options;
  options.max_names = 2;
  RateLimiter limiter(&clock, options);
  ASSERT_OK(limiter.Acquire("a", 10, 1));
  ASSERT_OK(limiter.Acquire("b", 10, 1));
  EXPECT_THAT(limiter.Acquire("c", 10, 1), StatusIs(absl::StatusCode::kResourceExhausted,
                                                    HasSubstr("rate limits are in use")));
  clock.Advance(absl::Seconds(61));  // a and b are idle: forgetting them changes nothing
  ASSERT_OK(limiter.Acquire("c", 10, 1));
  EXPECT_LE(limiter.NamesForTesting(), 2u);
}

TEST(RateLimiterTest, PendingReservationsAreBounded) {
  FakeClock clock;
  RateLimiterOptions options;
  options.max_pending_per_name = 5;
  RateLimiter limiter(&clock, options);
  for (int i = 0; i < 5; ++i) ASSERT_OK(limiter.Acquire("k", 1, 1));
  EXPECT_THAT(limiter.Acquire("k", 1, 1), StatusIs(absl::StatusCode::kResourceExhausted,
                                                   HasSubstr("reservations")));
}

}  // namespace
}  // namespace fast_crewai::scheduler
