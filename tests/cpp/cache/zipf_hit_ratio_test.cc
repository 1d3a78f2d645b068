// Hit ratio of the cache's W-TinyLFU against a plain LRU at the same byte budget, on skewed
// (Zipf) traces, the workload of repeated tool calls: a few popular calls and a long tail of
// one-offs.
#include <cmath>
#include <cstdint>
#include <list>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/cache/tool_cache.h"
#include "tests/cpp/testing/fake_clock.h"

namespace fast_crewai::cache {
namespace {

// Plain LRU by bytes, charging exactly what ToolCache charges, as the baseline.
class LruBaseline {
 public:
  explicit LruBaseline(int64_t max_bytes) : max_bytes_(max_bytes) {}

  bool Get(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    order_.splice(order_.end(), order_, it->second);
    return true;
  }

  void Put(const std::string& key, int64_t charge) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      bytes_ -= it->second->second;
      order_.erase(it->second);
      index_.erase(it);
    }
    order_.emplace_back(key, charge);
    index_[key] = std::prev(order_.end());
    bytes_ += charge;
    while (bytes_ > max_bytes_ && !order_.empty()) {
      bytes_ -= order_.front().second;
      index_.erase(order_.front().first);
      order_.pop_front();
    }
  }

 private:
  const int64_t max_bytes_;
  int64_t bytes_ = 0;
  std::list<std::pair<std::string, int64_t>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, int64_t>>::iterator> index_;
};

// Draws ranks 0..n-1 with P(k) proportional to 1 / (k + 1)^s.
class Zipf {
 public:
  Zipf(int n, double s) : cdf_(n) {
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      sum += 1.0 / std::pow(k + 1, s);
      cdf_[k] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }
  int operator()(std::mt19937_64& rng) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

struct Ratios {
  double tinylfu = 0;
  double lru = 0;
};

// Runs `requests` lookups (a miss is followed by a Put, as CrewAI does) over `keys` keys with
// sizes 100..1099 bytes, against both caches at `budget_fraction` of the total bytes.
Ratios RunTrace(int keys, double s, int requests, double budget_fraction, uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Popularity rank -> key id, shuffled so that popular keys are not also adjacent ids.
  std::vector<int> key_of_rank(keys);
  for (int i = 0; i < keys; ++i) key_of_rank[i] = i;
  std::shuffle(key_of_rank.begin(), key_of_rank.end(), rng);
  std::vector<int> value_size(keys);
  int64_t total = 0;
  for (int i = 0; i < keys; ++i) {
    value_size[i] = 100 + static_cast<int>(rng() % 1000);
    total += value_size[i] + kEntryOverheadBytes + 20;
  }
  const int64_t budget = static_cast<int64_t>(total * budget_fraction);

  testing::FakeClock clock;
  ToolCacheOptions options;
  options.max_bytes = budget;
  options.random_seed = seed;
  std::unique_ptr<ToolCache> cache = *ToolCache::Open(options, &clock);
  LruBaseline lru(budget);
  Zipf zipf(keys, s);

  int64_t ours = 0;
  int64_t theirs = 0;
  for (int r = 0; r < requests; ++r) {
    const int id = key_of_rank[zipf(rng)];
    const CacheKey key{"bench", "web_search", absl::StrCat(R"({"query": "q)", id, R"("})")};
    const int64_t charge = static_cast<int64_t>(key.ns.size() + key.tool.size() +
                                                key.input.size() + value_size[id]) +
                           kEntryOverheadBytes;
    if (cache->Get(key)->outcome == LookupResult::Outcome::kHit) {
      ++ours;
    } else {
      EXPECT_TRUE(cache->Put(key, std::string(value_size[id], 'v'), "application/json").ok());
    }
    if (lru.Get(key.input)) {
      ++theirs;
    } else {
      lru.Put(key.input, charge);
    }
  }
  EXPECT_LE(cache->Stats("").bytes, budget);
  return Ratios{static_cast<double>(ours) / requests, static_cast<double>(theirs) / requests};
}

TEST(ZipfHitRatioTest, WTinyLfuBeatsLruByFivePointsAtEqualBudget) {
  struct Case {
    int keys;
    double s;
    double budget_fraction;
  };
  for (const Case& c : {Case{50000, 0.9, 0.01}, Case{50000, 0.8, 0.05}, Case{20000, 1.0, 0.02}}) {
    const Ratios r = RunTrace(c.keys, c.s, 300000, c.budget_fraction, 20261126);
    std::printf("zipf keys=%d s=%.2f budget=%.0f%%: W-TinyLFU %.1f%%  LRU %.1f%%  (+%.1f points)\n",
                c.keys, c.s, c.budget_fraction * 100, r.tinylfu * 100, r.lru * 100,
                (r.tinylfu - r.lru) * 100);
    EXPECT_GE(r.tinylfu - r.lru, 0.05)
        << "keys=" << c.keys << " s=" << c.s << " budget=" << c.budget_fraction;
  }
}

}  // namespace
}  // namespace fast_crewai::cache
