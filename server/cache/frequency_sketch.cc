#include "server/cache/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace fast_crewai::cache {
namespace {

// Per-row seeds (odd 64-bit constants) so that the rows index independently.
constexpr uint64_t kSeeds[4] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full,
                                0x165667B19E3779F9ull, 0xD6E8FEB86659FD93ull};

// A 64-bit finalizer (splitmix64's): every input bit affects every output bit.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

size_t RoundUpPow2(size_t n) { return std::bit_ceil(std::max<size_t>(n, 64)); }

}  // namespace

FrequencySketch::FrequencySketch(size_t initial_width) {
  width_ = RoundUpPow2(initial_width);
  sample_size_ = 10 * width_;
  counters_.assign(kDepth * width_, 0);
}

bool FrequencySketch::EnsureCapacity(size_t expected_entries) {
  const size_t wanted = RoundUpPow2(2 * expected_entries);
  if (wanted <= width_) return false;
  width_ = wanted;
  sample_size_ = 10 * width_;
  additions_ = 0;
  counters_.assign(kDepth * width_, 0);
  return true;
}

size_t FrequencySketch::Index(uint64_t hash, int row) const {
  return static_cast<size_t>(row) * width_ + (Mix(hash + kSeeds[row]) & (width_ - 1));
}

void FrequencySketch::Increment(uint64_t hash) {
  size_t index[kDepth];
  int minimum = kMaxCount;
  for (int row = 0; row < kDepth; ++row) {
    index[row] = Index(hash, row);
    minimum = std::min<int>(minimum, counters_[index[row]]);
  }
  if (minimum == kMaxCount) return;  // Saturated: nothing changes, not counted as an addition.
  // Conservative update: only the counters at the minimum move.
  for (int row = 0; row < kDepth; ++row) {
    if (counters_[index[row]] == minimum) ++counters_[index[row]];
  }
  if (++additions_ >= sample_size_) Reset();
}

int FrequencySketch::Estimate(uint64_t hash) const {
  int minimum = kMaxCount;
  for (int row = 0; row < kDepth; ++row) {
    minimum = std::min<int>(minimum, counters_[Index(hash, row)]);
  }
  return minimum;
}

void FrequencySketch::Reset() {
  for (uint8_t& c : counters_) c = static_cast<uint8_t>(c >> 1);
  additions_ /= 2;
  ++resets_;
}

}  // namespace fast_crewai::cache
