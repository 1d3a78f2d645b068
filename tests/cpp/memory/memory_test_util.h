// File: memory_test_util.h
//
// Helpers shared by the memory core tests: record builders, deterministic vector data and
// a brute-force reference search.
#ifndef FAST_CREWAI_TESTS_CPP_MEMORY_MEMORY_TEST_UTIL_H_
#define FAST_CREWAI_TESTS_CPP_MEMORY_MEMORY_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/memory/memory_store.h"
#include "server/memory/types.h"

namespace fast_crewai::memory::testing {

// A record with deterministic timestamps derived from `created_micros`.
inline Record MakeRecord(std::string id, std::string content, std::string scope = "/",
                         std::vector<float> embedding = {}, int64_t created_micros = 0) {
  Record r;
  r.id = std::move(id);
  r.content = std::move(content);
  r.scope = std::move(scope);
  r.embedding = std::move(embedding);
  r.created_at_micros = created_micros;
  r.created_at = absl::StrCat("t", created_micros);
  r.last_accessed_micros = created_micros;
  r.last_accessed = absl::StrCat("t", created_micros);
  return r;
}

// Options for a test store in `dir`: kNormal sync (tests do not need power-loss safety,
// except the durability tests, which set kFull themselves).
inline MemoryStoreOptions TestOptions(const std::string& dir) {
  MemoryStoreOptions options;
  options.data_dir = dir;
  options.sync = persistence::SqliteSync::kNormal;
  return options;
}

// Gaussian vectors.
inline std::vector<std::vector<float>> RandomVectors(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> out(n, std::vector<float>(dim));
  for (auto& v : out) {
    for (float& x : v) x = normal(rng);
  }
  return out;
}

// Vectors on a grid of quarter units in [-2, 2]: squared distances are exact in float32
// whatever the summation order, so every kernel ranks them identically, ties included.
inline std::vector<std::vector<float>> GridVectors(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> step(-8, 8);
  std::vector<std::vector<float>> out(n, std::vector<float>(dim));
  for (auto& v : out) {
    for (float& x : v) x = static_cast<float>(step(rng)) * 0.25f;
  }
  return out;
}

// `clusters` Gaussian blobs (spread `spread`) around centres drawn with spread 10.
inline std::vector<std::vector<float>> ClusteredVectors(size_t n, size_t dim, size_t clusters,
                                                        float spread, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> centres(clusters, std::vector<float>(dim));
  for (auto& c : centres) {
    for (float& x : c) x = 10.0f * normal(rng);
  }
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  std::vector<std::vector<float>> out(n, std::vector<float>(dim));
  for (auto& v : out) {
    const auto& c = centres[pick(rng)];
    for (size_t i = 0; i < dim; ++i) v[i] = c[i] + spread * normal(rng);
  }
  return out;
}

inline double SquaredL2(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

// Brute-force reference: (distance, id) ascending of the records accepted by `keep`.
template <typename Keep>
std::vector<std::pair<double, std::string>> BruteForce(const std::vector<Record>& records,
                                                       const std::vector<float>& query, Keep keep) {
  std::vector<std::pair<double, std::string>> out;
  for (const Record& r : records) {
    if (keep(r)) out.emplace_back(SquaredL2(r.embedding, query), r.id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace fast_crewai::memory::testing

#endif  // FAST_CREWAI_TESTS_CPP_MEMORY_MEMORY_TEST_UTIL_H_
