#include "server/util/clock.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/fake_clock.h"

namespace fast_crewai {
namespace {

TEST(RealClockTest, TracksTheSystemClock) {
  RealClock* clock = RealClock::Get();
  EXPECT_EQ(clock, RealClock::Get());
  // The clock has microsecond resolution.
  const absl::Time before = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  const absl::Time now = clock->Now();
  const absl::Time after = absl::Now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
  EXPECT_NEAR(static_cast<double>(clock->NowMicros()),
              static_cast<double>(absl::ToUnixMicros(absl::Now())), 1e6);
}

TEST(FakeClockTest, MovesOnlyWhenTold) {
  testing::FakeClock clock(absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.NowMicros(), 100'000'000);
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_EQ(clock.Now(), absl::FromUnixMillis(101'500));
  clock.SetTime(absl::FromUnixSeconds(7));
  EXPECT_EQ(clock.NowMicros(), 7'000'000);
}

}  // namespace
}  // namespace fast_crewai
