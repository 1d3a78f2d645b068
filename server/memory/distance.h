// File: distance.h
//
// Distance kernels for the memory index, in a scalar, an AVX2+FMA and an AVX-512 (F+BW) variant.
// The best variant the CPU supports is chosen once, at first use, with
// __builtin_cpu_supports (which also checks that the OS saves the vector registers).
//
// Every kernel works on padded rows: `n` is a multiple of kFloatsPerBlock (float kernels) or
// kCodesPerBlock (code kernels) and the padding is zero on both sides, so no kernel has a
// tail loop. Rows need not be aligned (the index aligns them to 64 bytes anyway).
#ifndef FAST_CREWAI_SERVER_MEMORY_DISTANCE_H_
#define FAST_CREWAI_SERVER_MEMORY_DISTANCE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fast_crewai::memory::simd {

// Float rows are padded to a multiple of 16 floats (one 64-byte cache line).
inline constexpr size_t kFloatsPerBlock = 16;
// Code rows (uint8) are padded to a multiple of 64 bytes.
inline constexpr size_t kCodesPerBlock = 64;

struct Kernels {
  // "scalar", "avx2" or "avx512".
  const char* name;
  // Squared Euclidean distance sum_i (a[i] - b[i])^2 accumulated in float32.
  // REQUIRES: n % kFloatsPerBlock == 0.
  float (*l2_squared)(const float* a, const float* b, size_t n);
  // Integer dot product sum_i weights[i] * codes[i] of int16 query weights and a uint8
  // scalar-quantized row, accumulated in int32 (vpmaddwd).
  // REQUIRES: n % kCodesPerBlock == 0 and n * 255 * max|weights[i]| < 2^31 (no overflow;
  // see MaxDotWeight).
  int32_t (*dot_u8_i16)(const int16_t* weights, const uint8_t* codes, size_t n);
  // Scalar-quantizes one padded row: codes[i] = round((row[i] - min[i]) * inv_step[i])
  // (half to even) clamped to [0, 255], and 0 where step[i] == 0 (inv_step[i] must be 0
  // there). Sets *norm to sum_i (step[i] * codes[i])^2 (float32, summation order per variant)
  // and returns whether any value lies outside what its code can stand for: t < -0.5 or
  // t > 255.5, or row[i] != min[i] where step[i] == 0.
  // REQUIRES: n % kFloatsPerBlock == 0; every value finite.
  bool (*encode_u8)(const float* row, const float* min, const float* step, const float* inv_step,
                    uint8_t* codes, size_t n, float* norm);
};

// The largest |weight| for which dot_u8_i16 over `n` codes cannot overflow int32.
inline int32_t MaxDotWeight(size_t n) {
  const int64_t bound = ((int64_t{1} << 31) - 1) / (255 * static_cast<int64_t>(n == 0 ? 1 : n));
  return static_cast<int32_t>(bound < 32767 ? bound : 32767);
}

// The fastest variant this CPU supports (selected once; thread-safe).
const Kernels& BestKernels();

// The portable reference variant.
const Kernels& ScalarKernels();

// Every variant this CPU can run, scalar first (for tests and benchmarks).
std::vector<const Kernels*> SupportedKernels();

}  // namespace fast_crewai::memory::simd

#endif  // FAST_CREWAI_SERVER_MEMORY_DISTANCE_H_
