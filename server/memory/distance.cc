#include "server/memory/distance.h"

// GCC 12's AVX-512 intrinsic headers trip -Wuninitialized in their own code
// (_mm512_undefined_* used by cvtepu8/reduce helpers, GCC bug 105593); the warnings are
// reported where the intrinsics are inlined, so they are silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fast_crewai::memory::simd {
namespace {

// ---------------------------------------------------------------------------------------
// Scalar reference. Four partial sums, like the vector variants, so that the scalar path is
// not needlessly slow on machines without AVX2.

float L2SquaredScalar(const float* a, const float* b, size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < n; i += 4) {
    const float d0 = a[i] - b[i];
    const float d1 = a[i + 1] - b[i + 1];
    const float d2 = a[i + 2] - b[i + 2];
    const float d3 = a[i + 3] - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  return (s0 + s1) + (s2 + s3);
}

int32_t DotU8I16Scalar(const int16_t* w, const uint8_t* codes, size_t n) {
  int32_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<int32_t>(w[i]) * codes[i];
  return sum;
}

bool EncodeU8Scalar(const float* row, const float* min, const float* step, const float* inv_step,
                    uint8_t* codes, size_t n, float* norm) {
  bool outlier = false;
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float t = (row[i] - min[i]) * inv_step[i];
    // Clamping first and rounding then gives the same code as the other order for bounds
    // that are integers, and keeps the conversion in range whatever t is.
    const float clamped = std::min(std::max(t, 0.0f), 255.0f);
    const auto code = static_cast<uint8_t>(std::lrintf(clamped));
    codes[i] = code;
    outlier |= t < -0.5f || t > 255.5f || (step[i] == 0.0f && row[i] != min[i]);
    const float decoded = step[i] * static_cast<float>(code);
    sum += decoded * decoded;
  }
  *norm = sum;
  return outlier;
}

// ---------------------------------------------------------------------------------------
// AVX2 + FMA: 8 floats per register, 4 independent accumulators to hide FMA latency.

__attribute__((target("avx2,fma"))) float HorizontalSum256(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) float L2SquaredAvx2(const float* a, const float* b, size_t n) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    const __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    const __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    acc2 = _mm256_fmadd_ps(d2, d2, acc2);
    acc3 = _mm256_fmadd_ps(d3, d3, acc3);
  }
  for (; i < n; i += 16) {  // n is a multiple of 16
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  return HorizontalSum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

__attribute__((target("avx2"))) int32_t DotU8I16Avx2(const int16_t* w, const uint8_t* codes,
                                                     size_t n) {
  __m256i acc0 = _mm256_setzero_si256();
  __m256i acc1 = _mm256_setzero_si256();
  for (size_t i = 0; i < n; i += 32) {
    const __m256i c0 =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + i)));
    const __m256i c1 =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + i + 16)));
    acc0 = _mm256_add_epi32(
        acc0, _mm256_madd_epi16(c0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i))));
    acc1 = _mm256_add_epi32(
        acc1,
        _mm256_madd_epi16(c1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 16))));
  }
  const __m256i acc = _mm256_add_epi32(acc0, acc1);
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// 16 values per step: two registers of 8, converted with the MXCSR rounding (half to even,
// as lrintf), packed to bytes in order.
__attribute__((target("avx2,fma"))) bool EncodeU8Avx2(const float* row, const float* min,
                                                      const float* step, const float* inv_step,
                                                      uint8_t* codes, size_t n, float* norm) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 top = _mm256_set1_ps(255.0f);
  const __m256 below = _mm256_set1_ps(-0.5f);
  const __m256 above = _mm256_set1_ps(255.5f);
  __m256 out = _mm256_setzero_ps();  // lanes set where a value is an outlier
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  const auto encode8 = [&](size_t i, __m256& acc) __attribute__((target("avx2,fma"))) {
    const __m256 r = _mm256_loadu_ps(row + i);
    const __m256 lo = _mm256_loadu_ps(min + i);
    const __m256 st = _mm256_loadu_ps(step + i);
    const __m256 t = _mm256_mul_ps(_mm256_sub_ps(r, lo), _mm256_loadu_ps(inv_step + i));
    const __m256i code = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(t, zero), top));
    out = _mm256_or_ps(out, _mm256_cmp_ps(t, below, _CMP_LT_OQ));
    out = _mm256_or_ps(out, _mm256_cmp_ps(t, above, _CMP_GT_OQ));
    out = _mm256_or_ps(out, _mm256_and_ps(_mm256_cmp_ps(st, zero, _CMP_EQ_OQ),
                                          _mm256_cmp_ps(r, lo, _CMP_NEQ_OQ)));
    const __m256 decoded = _mm256_mul_ps(st, _mm256_cvtepi32_ps(code));
    acc = _mm256_fmadd_ps(decoded, decoded, acc);
    return code;
  };
  for (size_t i = 0; i < n; i += 16) {  // n is a multiple of 16
    const __m256i a = encode8(i, acc0);
    const __m256i b = encode8(i + 8, acc1);
    // int32 -> int16: [a0-3 b0-3 | a4-7 b4-7]; restore the order, then int16 -> uint8.
    const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words),
                                           _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i), bytes);
  }
  *norm = HorizontalSum256(_mm256_add_ps(acc0, acc1));
  return _mm256_movemask_ps(out) != 0;
}

// ---------------------------------------------------------------------------------------
// AVX-512 (F for floats, BW for 16-bit integers): 16 floats per register (one cache line).

__attribute__((target("avx512f"))) float L2SquaredAvx512(const float* a, const float* b, size_t n) {
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps();
  __m512 acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    const __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
    const __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    acc2 = _mm512_fmadd_ps(d2, d2, acc2);
    acc3 = _mm512_fmadd_ps(d3, d3, acc3);
  }
  for (; i < n; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc0 = _mm512_fmadd_ps(d, d, acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

__attribute__((target("avx512f,avx512bw"))) int32_t DotU8I16Avx512(const int16_t* w,
                                                                   const uint8_t* codes, size_t n) {
  __m512i acc0 = _mm512_setzero_si512();
  __m512i acc1 = _mm512_setzero_si512();
  for (size_t i = 0; i < n; i += 64) {
    const __m512i c0 =
        _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + i)));
    const __m512i c1 =
        _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + i + 32)));
    acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(c0, _mm512_loadu_si512(w + i)));
    acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(c1, _mm512_loadu_si512(w + i + 32)));
  }
  return _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
}

constexpr Kernels kScalar{"scalar", &L2SquaredScalar, &DotU8I16Scalar, &EncodeU8Scalar};
constexpr Kernels kAvx2{"avx2", &L2SquaredAvx2, &DotU8I16Avx2, &EncodeU8Avx2};
// Encoding is not on the search path; every AVX-512 CPU also has AVX2 and FMA.
constexpr Kernels kAvx512{"avx512", &L2SquaredAvx512, &DotU8I16Avx512, &EncodeU8Avx2};

bool CpuHasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool CpuHasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

}  // namespace

const Kernels& ScalarKernels() { return kScalar; }

const Kernels& BestKernels() {
  static const Kernels* const best = [] {
    if (CpuHasAvx512()) return &kAvx512;
    if (CpuHasAvx2()) return &kAvx2;
    return &kScalar;
  }();
  return *best;
}

std::vector<const Kernels*> SupportedKernels() {
  std::vector<const Kernels*> out = {&kScalar};
  if (CpuHasAvx2()) out.push_back(&kAvx2);
  if (CpuHasAvx512()) out.push_back(&kAvx512);
  return out;
}

}  // namespace fast_crewai::memory::simd
