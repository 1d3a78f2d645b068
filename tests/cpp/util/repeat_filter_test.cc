#include "server/util/repeat_filter.h"

#include <optional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/fake_clock.h"

namespace fast_crewai {
namespace {

using ::testing::Optional;

TEST(RepeatFilterTest, HoldsBackRepeatsWithinTheWindowAndCountsThem) {
  testing::FakeClock clock;
  RepeatFilter filter(&clock, absl::Minutes(1), 16);

  EXPECT_THAT(filter.Admit("handshake"), Optional(0));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(filter.Admit("handshake"), std::nullopt);
  clock.Advance(absl::Seconds(54));
  EXPECT_EQ(filter.Admit("handshake"), std::nullopt);

  // The window counts from the line let through, not from the last repeat.
  clock.Advance(absl::Seconds(1));
  EXPECT_THAT(filter.Admit("handshake"), Optional(2));
  EXPECT_EQ(filter.Admit("handshake"), std::nullopt);
  clock.Advance(absl::Minutes(1));
  EXPECT_THAT(filter.Admit("handshake"), Optional(1));
  clock.Advance(absl::Minutes(5));
  EXPECT_THAT(filter.Admit("handshake"), Optional(0));
}

TEST(RepeatFilterTest, KeysAreIndependent) {
  testing::FakeClock clock;
  RepeatFilter filter(&clock, absl::Minutes(1), 16);
  EXPECT_THAT(filter.Admit("a"), Optional(0));
  EXPECT_THAT(filter.Admit("b"), Optional(0));
  EXPECT_EQ(filter.Admit("a"), std::nullopt);
  EXPECT_EQ(filter.Admit("b"), std::nullopt);
}

TEST(RepeatFilterTest, AFullTableIsEmptiedSoNewKeysAreNeverHeldBack) {
  testing::FakeClock clock;
  RepeatFilter filter(&clock, absl::Minutes(1), 2);
  EXPECT_THAT(filter.Admit("a"), Optional(0));
  EXPECT_THAT(filter.Admit("b"), Optional(0));
  EXPECT_THAT(filter.Admit("c"), Optional(0));  // Table full: emptied, then "c" kept.
  EXPECT_THAT(filter.Admit("a"), Optional(0));  // Forgotten with the rest: shown again.
  EXPECT_EQ(filter.Admit("c"), std::nullopt);
}

}  // namespace
}  // namespace fast_crewai
