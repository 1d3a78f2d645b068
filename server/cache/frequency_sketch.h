// File: frequency_sketch.h
//
// FrequencySketch: an approximate, aging popularity counter for TinyLFU admission
// (Einziger, Friedman, Manes: "TinyLFU: A Highly Efficient Cache Admission Policy", 2017).
//
// A count-min sketch of 4 rows of 4-bit saturating counters (0..15) with conservative update:
// an increment raises only the rows holding the current minimum, which keeps over-estimates
// small. Every `sample_size` increments (10 x width) all counters are halved ("aging" or
// "reset"), so that popularity is measured over a recent window and keys that were hot long
// ago lose their advantage. Estimate() is the minimum over the rows, never below the true
// count since the last reset, and at most 15.
//
// The width grows with the number of entries the cache holds (EnsureCapacity), as Caffeine's
// FrequencySketch does, so its accuracy does not depend on knowing the entry count up front.
// Growing clears the counters.
//
// Example:
//   FrequencySketch sketch;
//   sketch.EnsureCapacity(1000);
//   sketch.Increment(hash);
//   if (sketch.Estimate(candidate_hash) > sketch.Estimate(victim_hash)) { /* admit */ }
//
// Thread-safety: not thread-safe; the owning cache shard serializes access under its mutex.
#ifndef FAST_CREWAI_SERVER_CACHE_FREQUENCY_SKETCH_H_
#define FAST_CREWAI_SERVER_CACHE_FREQUENCY_SKETCH_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fast_crewai::cache {

class FrequencySketch {
 public:
  // Counters saturate at this value.
  static constexpr int kMaxCount = 15;

  // Starts with `initial_width` counters per row (rounded up to a power of two, at least 64).
  explicit FrequencySketch(size_t initial_width = 64);

  // Grows the rows to the power of two >= 2 * `expected_entries` (never shrinks). Growing
  // clears every counter. Returns true when it grew.
  bool EnsureCapacity(size_t expected_entries);

  // Records one access of the key whose 64-bit hash is `hash`.
  void Increment(uint64_t hash);

  // The estimated number of accesses of `hash` since the last reset, in [0, kMaxCount].
  int Estimate(uint64_t hash) const;

  size_t width() const { return width_; }
  // Increments since the last halving (for tests).
  size_t additions() const { return additions_; }
  // Number of halvings so far (for tests).
  int64_t resets() const { return resets_; }

 private:
  static constexpr int kDepth = 4;

  size_t Index(uint64_t hash, int row) const;
  void Reset();

  size_t width_ = 0;  // Power of two.
  size_t sample_size_ = 0;
  size_t additions_ = 0;
  int64_t resets_ = 0;
  // kDepth rows of width_ counters each, one counter per byte (values 0..kMaxCount).
  std::vector<uint8_t> counters_;
};

}  // namespace fast_crewai::cache

#endif  // FAST_CREWAI_SERVER_CACHE_FREQUENCY_SKETCH_H_
