#include "server/cache/frequency_sketch.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace fast_crewai::cache {
namespace {

TEST(FrequencySketchTest, CountsAccessesAndSaturates) {
  FrequencySketch sketch(1024);
  EXPECT_EQ(sketch.Estimate(42), 0);
  for (int i = 1; i <= 20; ++i) {
    sketch.Increment(42);
    EXPECT_EQ(sketch.Estimate(42), std::min(i, FrequencySketch::kMaxCount)) << i;
  }
}

TEST(FrequencySketchTest, NeverUnderestimatesAndRarelyOverestimates) {
  FrequencySketch sketch(4096);
  // 1000 keys, key k accessed k % 8 times.
  for (uint64_t k = 0; k < 1000; ++k) {
    for (uint64_t n = 0; n < k % 8; ++n) sketch.Increment(k * 7919 + 13);
  }
  int exact = 0;
  for (uint64_t k = 0; k < 1000; ++k) {
    const int estimate = sketch.Estimate(k * 7919 + 13);
    EXPECT_GE(estimate, static_cast<int>(k % 8)) << k;
    if (estimate == static_cast<int>(k % 8)) ++exact;
  }
  EXPECT_GT(exact, 950);
}

TEST(FrequencySketchTest, AgingHalvesCounters) {
  FrequencySketch sketch(64);
  for (int i = 0; i < 8; ++i) sketch.Increment(1);
  ASSERT_EQ(sketch.Estimate(1), 8);
  // Increments of other keys until the sample size (10 x width) is reached.
  uint64_t other = 1000;
  while (sketch.resets() == 0) sketch.Increment(other++);
  EXPECT_EQ(sketch.Estimate(1), 4);
}

TEST(FrequencySketchTest, EnsureCapacityGrowsAndClears) {
  FrequencySketch sketch(64);
  sketch.Increment(5);
  EXPECT_FALSE(sketch.EnsureCapacity(10));
  EXPECT_EQ(sketch.Estimate(5), 1);
  EXPECT_TRUE(sketch.EnsureCapacity(1000));
  EXPECT_EQ(sketch.width(), 2048u);
  EXPECT_EQ(sketch.Estimate(5), 0);
}

}  // namespace
}  // namespace fast_crewai::cache
