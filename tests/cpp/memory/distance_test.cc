#include "server/memory/distance.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fast_crewai::memory::simd {
namespace {

// Reference in double.
double L2Reference(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return s;
}

TEST(DistanceTest, BestIsSupportedAndScalarIsFirst) {
  const std::vector<const Kernels*> kernels = SupportedKernels();
  ASSERT_FALSE(kernels.empty());
  EXPECT_STREQ(kernels.front()->name, "scalar");
  bool best_listed = false;
  for (const Kernels* k : kernels) best_listed |= (k == &BestKernels());
  EXPECT_TRUE(best_listed) << BestKernels().name;
  // The CI machine and every x86-64 machine we deploy on have at least AVX2.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    EXPECT_STREQ(BestKernels().name, "avx512");
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_STREQ(BestKernels().name, "avx2");
  }
}

TEST(DistanceTest, EveryVariantMatchesTheReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (const Kernels* k : SupportedKernels()) {
    for (size_t n : {16u, 32u, 48u, 64u, 80u, 128u, 1536u, 3072u, 16384u}) {
      std::vector<float> a(n), b(n);
      for (size_t i = 0; i < n; ++i) {
        a[i] = normal(rng);
        b[i] = normal(rng);
      }
      const double want = L2Reference(a, b);
      const double got = k->l2_squared(a.data(), b.data(), n);
      EXPECT_NEAR(got, want, 1e-5 * want) << k->name << " n=" << n;
      EXPECT_EQ(k->l2_squared(a.data(), a.data(), n), 0.0f) << k->name;
    }
  }
}

TEST(DistanceTest, EveryDotVariantMatchesTheReferenceExactly) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> code(0, 255);
  for (const Kernels* k : SupportedKernels()) {
    for (size_t n : {64u, 128u, 192u, 1536u, 3072u, 16384u}) {
      const int32_t max_weight = MaxDotWeight(n);
      std::uniform_int_distribution<int> weight(-max_weight, max_weight);
      std::vector<int16_t> w(n);
      std::vector<uint8_t> codes(n);
      int64_t want = 0;
      for (size_t i = 0; i < n; ++i) {
        w[i] = static_cast<int16_t>(weight(rng));
        codes[i] = static_cast<uint8_t>(code(rng));
        want += int64_t{w[i]} * codes[i];
      }
      EXPECT_EQ(k->dot_u8_i16(w.data(), codes.data(), n), want) << k->name << " n=" << n;
      // The worst case at the bound does not overflow.
      std::fill(w.begin(), w.end(), static_cast<int16_t>(-max_weight));
      std::fill(codes.begin(), codes.end(), uint8_t{255});
      EXPECT_EQ(k->dot_u8_i16(w.data(), codes.data(), n), -int64_t{max_weight} * 255 * int64_t(n))
          << k->name << " n=" << n;
    }
  }
  EXPECT_EQ(MaxDotWeight(64), 32767);
  EXPECT_LE(int64_t{MaxDotWeight(16384)} * 255 * 16384, (int64_t{1} << 31) - 1);
}

// An independent reference of encode_u8, in double: nearest code, ties to the even code.
struct Encoded {
  std::vector<uint8_t> codes;
  double norm = 0;
  bool outlier = false;
};
Encoded EncodeReference(const std::vector<float>& row, const std::vector<float>& min,
                        const std::vector<float>& step, const std::vector<float>& inv_step) {
  Encoded e;
  for (size_t i = 0; i < row.size(); ++i) {
    const float t = (row[i] - min[i]) * inv_step[i];  // the same float32 product as the kernels
    const double c = std::clamp(static_cast<double>(t), 0.0, 255.0);
    double code = std::floor(c);
    if (c - code > 0.5 || (c - code == 0.5 && std::fmod(code, 2.0) != 0.0)) code += 1.0;
    e.codes.push_back(static_cast<uint8_t>(code));
    e.outlier |= t < -0.5f || t > 255.5f || (step[i] == 0.0f && row[i] != min[i]);
    e.norm += (double(step[i]) * code) * (double(step[i]) * code);
  }
  return e;
}

TEST(DistanceTest, EveryEncodeVariantGivesTheReferenceCodes) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 9);
  for (const Kernels* k : SupportedKernels()) {
    for (size_t n : {16u, 32u, 48u, 112u, 1536u, 3072u}) {
      std::vector<float> row(n), min(n), step(n), inv_step(n);
      for (size_t i = 0; i < n; ++i) {
        min[i] = -2.0f + 0.05f * std::clamp(normal(rng), -2.0f, 2.0f);
        step[i] = 4.0f / 255.0f;
        inv_step[i] = 1.0f / step[i];
        row[i] = std::clamp(normal(rng), -1.7f, 1.7f);  // inside [min, min + 255 * step]
        switch (pick(rng)) {
          case 0:  // an exact tie between two codes: half to even
            row[i] = min[i] + (static_cast<float>(pick(rng)) + 0.5f) * step[i];
            break;
          case 1:  // a constant dimension, the value on it
            step[i] = inv_step[i] = 0.0f;
            row[i] = min[i];
            break;
          default:
            break;
        }
      }
      const Encoded want = EncodeReference(row, min, step, inv_step);
      ASSERT_FALSE(want.outlier);
      std::vector<uint8_t> codes(n, 0xAB);
      float norm = -1.0f;
      EXPECT_FALSE(
          k->encode_u8(row.data(), min.data(), step.data(), inv_step.data(), codes.data(), n,
                       &norm))
          << k->name << " n=" << n;
      EXPECT_EQ(codes, want.codes) << k->name << " n=" << n;
      EXPECT_NEAR(norm, want.norm, 1e-5 * want.norm) << k->name << " n=" << n;

      // Each kind of outlier, alone, at the last position of a row (the last lane).
      const size_t last = n - 1;
      const auto outlier_with = [&](float value, float st) {
        std::vector<float> r = row, s = step, is = inv_step;
        r[last] = value;
        s[last] = st;
        is[last] = st == 0.0f ? 0.0f : 1.0f / st;
        std::vector<uint8_t> c(n);
        float unused = 0;
        const bool got =
            k->encode_u8(r.data(), min.data(), s.data(), is.data(), c.data(), n, &unused);
        EXPECT_EQ(got, EncodeReference(r, min, s, is).outlier) << k->name << " n=" << n;
        EXPECT_EQ(c, EncodeReference(r, min, s, is).codes) << k->name << " n=" << n;
        return got;
      };
      const float st = 4.0f / 255.0f;
      EXPECT_TRUE(outlier_with(min[last] - 0.6f * st, st)) << k->name;     // below the range
      EXPECT_FALSE(outlier_with(min[last] - 0.4f * st, st)) << k->name;    // within half a step
      EXPECT_TRUE(outlier_with(min[last] + 255.6f * st, st)) << k->name;   // above it
      EXPECT_TRUE(outlier_with(min[last] + 1e30f, st)) << k->name;         // far above
      EXPECT_TRUE(outlier_with(min[last] + 1.0f, 0.0f)) << k->name;        // constant dim, off
      EXPECT_FALSE(outlier_with(min[last], 0.0f)) << k->name;              // constant dim, on
    }
  }
}

TEST(DistanceTest, UnalignedInputs) {
  // The index aligns rows, but the kernels must not rely on it.
  std::vector<float> a(1 + 64), b(3 + 64);
  for (size_t i = 0; i < 64; ++i) {
    a[1 + i] = static_cast<float>(i);
    b[3 + i] = static_cast<float>(i) + 0.5f;
  }
  for (const Kernels* k : SupportedKernels()) {
    EXPECT_FLOAT_EQ(k->l2_squared(a.data() + 1, b.data() + 3, 64), 64 * 0.25f) << k->name;
  }
}

}  // namespace
}  // namespace fast_crewai::memory::simd
