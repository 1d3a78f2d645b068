// Search correctness: exact search against a brute-force recomputation, parallel against
// serial, BM25 and hybrid modes through the store, and the recall of the approximate path.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/memory/memory_store.h"
#include "server/memory/scope.h"
#include "tests/cpp/memory/memory_test_util.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::memory {
namespace {

using ::fast_crewai::testing::TempDir;
using testing::BruteForce;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::MakeRecord;
using testing::TestOptions;

constexpr char kNs[] = "ns";

std::unique_ptr<MemoryStore> OpenStore(MemoryStoreOptions options) {
  absl::StatusOr<std::unique_ptr<MemoryStore>> store = MemoryStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

void SaveInBatches(MemoryStore& store, const std::vector<Record>& records, size_t batch = 2000) {
  for (size_t i = 0; i < records.size(); i += batch) {
    std::vector<Record> chunk(records.begin() + i,
                              records.begin() + std::min(records.size(), i + batch));
    ASSERT_TRUE(store.Save(kNs, std::move(chunk)).ok());
  }
}

std::vector<std::string> Ids(const SearchResult& result) {
  std::vector<std::string> ids;
  for (const ScoredRecord& r : result.results) ids.push_back(r.record.id);
  return ids;
}

const std::vector<std::string> kScopes = {"/a", "/a/b", "/ab", "/c/d", "/"};
const std::vector<std::string> kCategories = {"x", "y", "z"};

// Records with scopes, categories and metadata drawn from small sets.
std::vector<Record> MakeCorpus(const std::vector<std::vector<float>>& vectors, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Record> records;
  for (size_t i = 0; i < vectors.size(); ++i) {
    Record r =
        MakeRecord(absl::StrCat("id", 100000 + (i * 7919) % 1000003), "text",
                   kScopes[rng() % kScopes.size()], vectors[i], static_cast<int64_t>(rng() % 1000));
    r.categories = {kCategories[rng() % kCategories.size()]};
    r.metadata_json = absl::StrCat(R"({"group": )", rng() % 3, "}");
    records.push_back(std::move(r));
  }
  return records;
}

struct FilterCase {
  RecordFilter filter;
  std::function<bool(const Record&)> keep;
};

std::vector<FilterCase> FilterCases() {
  std::vector<FilterCase> cases;
  cases.push_back({RecordFilter{}, [](const Record&) { return true; }});
  RecordFilter scope;
  scope.scope_prefix = "/a";
  cases.push_back(
      {scope, [](const Record& r) { return ScopeMatchesPrefix(NormalizeScope(r.scope), "/a"); }});
  RecordFilter cats;
  cats.categories = {"x", "z"};
  cases.push_back({cats, [](const Record& r) { return r.categories[0] != "y"; }});
  RecordFilter meta;
  meta.metadata_filter_json = R"({"group": 1.0})";
  meta.scope_prefix = "/c";
  cases.push_back({meta, [](const Record& r) {
                     return r.metadata_json == R"({"group": 1})" &&
                            ScopeMatchesPrefix(NormalizeScope(r.scope), "/c");
                   }});
  return cases;
}

// On grid data every kernel computes distances exactly, so the result must equal the
// brute-force ranking exactly, ties (ordered by id) included.
TEST(SearchTest, ExactSearchEqualsBruteForceOnGridData) {
  TempDir dir;
  for (int concurrency : {1, 2}) {
    MemoryStoreOptions options = TestOptions(dir.path() + "/c" + std::to_string(concurrency));
    options.search_concurrency = concurrency;
    options.parallel_scan_min_bytes = 1;  // exercise the parallel path on small data
    std::unique_ptr<MemoryStore> store = OpenStore(options);
    ASSERT_NE(store, nullptr);
    const std::vector<Record> corpus = MakeCorpus(testing::GridVectors(3000, 37, 1), 2);
    SaveInBatches(*store, corpus);
    const auto queries = testing::GridVectors(15, 37, 3);
    for (const FilterCase& fc : FilterCases()) {
      for (const auto& q : queries) {
        for (int limit : {1, 10, 57}) {
          SearchRequest request;
          request.query_embedding = q;
          request.filter = fc.filter;
          request.limit = limit;
          ASSERT_OK_AND_ASSIGN(SearchResult got, store->Search(kNs, request));
          const auto want = BruteForce(corpus, q, fc.keep);
          ASSERT_EQ(got.results.size(), std::min<size_t>(limit, want.size()));
          for (size_t i = 0; i < got.results.size(); ++i) {
            EXPECT_EQ(got.results[i].record.id, want[i].second) << "rank " << i;
            EXPECT_DOUBLE_EQ(got.results[i].score, 1.0 / (1.0 + want[i].first));
          }
        }
      }
    }
  }
}

// On continuous random data, compare with a tolerance: every returned score matches the
// reference, and nothing left out beats the last returned record.
TEST(SearchTest, ExactSearchMatchesBruteForceOnRandomData) {
  TempDir dir;
  std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  const std::vector<Record> corpus = MakeCorpus(testing::RandomVectors(2500, 100, 5), 6);
  SaveInBatches(*store, corpus);
  for (const auto& q : testing::RandomVectors(20, 100, 7)) {
    for (const FilterCase& fc : FilterCases()) {
      SearchRequest request;
      request.query_embedding = q;
      request.filter = fc.filter;
      request.limit = 20;
      ASSERT_OK_AND_ASSIGN(SearchResult got, store->Search(kNs, request));
      const auto want = BruteForce(corpus, q, fc.keep);
      ASSERT_EQ(got.results.size(), std::min<size_t>(20, want.size()));
      std::set<std::string> returned;
      for (size_t i = 0; i < got.results.size(); ++i) {
        const ScoredRecord& r = got.results[i];
        returned.insert(r.record.id);
        ASSERT_TRUE(fc.keep(r.record));
        const double ref = testing::SquaredL2(r.record.embedding, q);
        EXPECT_NEAR(r.score, 1.0 / (1.0 + ref), 1e-6);
        if (i > 0) {
          EXPECT_LE(r.score, got.results[i - 1].score);
        }
      }
      const double worst = got.results.back().score;
      for (const auto& [distance, id] : want) {
        if (!returned.count(id)) {
          EXPECT_LE(1.0 / (1.0 + distance), worst + 1e-6) << id;
        }
      }
    }
  }
}

TEST(SearchTest, ParallelScanEqualsSerialScan) {
  TempDir dir;
  const std::vector<Record> corpus = MakeCorpus(testing::GridVectors(5000, 24, 8), 9);
  std::vector<std::vector<std::string>> results[2];
  for (int concurrency : {1, 2}) {
    MemoryStoreOptions options = TestOptions(dir.path() + "/p" + std::to_string(concurrency));
    options.search_concurrency = concurrency;
    options.parallel_scan_min_bytes = 1;
    std::unique_ptr<MemoryStore> store = OpenStore(options);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->GetStats().search_concurrency, concurrency);
    SaveInBatches(*store, corpus);
    for (const auto& q : testing::GridVectors(10, 24, 10)) {
      SearchRequest request;
      request.query_embedding = q;
      request.limit = 100;
      results[concurrency - 1].push_back(Ids(*store->Search(kNs, request)));
    }
  }
  EXPECT_EQ(results[0], results[1]);
}

TEST(SearchTest, SearchSeesDeletesAndSlotReuse) {
  TempDir dir;
  std::unique_ptr<MemoryStore> store = OpenStore(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  std::vector<Record> corpus = MakeCorpus(testing::GridVectors(500, 8, 11), 12);
  SaveInBatches(*store, corpus);
  // Delete every third record, then add new ones (they reuse the freed slots).
  DeleteRequest del;
  std::vector<Record> kept;
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (i % 3 == 0) {
      del.record_ids.push_back(corpus[i].id);
    } else {
      kept.push_back(corpus[i]);
    }
  }
  ASSERT_OK_AND_ASSIGN(int64_t deleted, store->Delete(kNs, del));
  EXPECT_EQ(deleted, static_cast<int64_t>(del.record_ids.size()));
  std::vector<Record> fresh = MakeCorpus(testing::GridVectors(100, 8, 13), 14);
  for (Record& r : fresh) r.id = "new-" + r.id;
  SaveInBatches(*store, fresh);
  kept.insert(kept.end(), fresh.begin(), fresh.end());
  for (const auto& q : testing::GridVectors(10, 8, 15)) {
    SearchRequest request;
    request.query_embedding = q;
    request.limit = 30;
    const auto want = BruteForce(kept, q, [](const Record&) { return true; });
    const SearchResult got = *store->Search(kNs, request);
    ASSERT_EQ(got.results.size(), 30u);
    for (size_t i = 0; i < 30; ++i) EXPECT_EQ(got.results[i].record.id, want[i].second);
  }
}

// ---------------------------------------------------------------------------------------
// Lexical and hybrid

class TextSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStore(TestOptions(dir_.path()));
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(
        store_
            ->Save(kNs, {MakeRecord("cats", "Cats sleep most of the day.", "/pets", {0, 0}),
                         MakeRecord("dogs", "Dogs love long walks, dogs bark.", "/pets", {10, 0}),
                         MakeRecord("stocks", "The stock market fell today.", "/finance", {0, 10}),
                         MakeRecord("mixed", "Dogs and cats in the market.", "/misc", {1, 1})})
            .ok());
  }
  SearchResult Run(SearchRequest request) {
    absl::StatusOr<SearchResult> result = store_->Search(kNs, request);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *std::move(result) : SearchResult{};
  }
  TempDir dir_;
  std::unique_ptr<MemoryStore> store_;
};

TEST_F(TextSearchTest, LexicalRanksMatchingDocumentsOnly) {
  SearchRequest request;
  request.query_text = "dogs";  // kAuto without an embedding: lexical
  SearchResult result = Run(request);
  EXPECT_THAT(Ids(result), ElementsAre("dogs", "mixed"));
  for (const ScoredRecord& r : result.results) {
    EXPECT_GT(r.score, 0.0);
    EXPECT_LT(r.score, 1.0);
  }
  request.query_text = "MARKET";
  EXPECT_THAT(Ids(Run(request)), ElementsAre("stocks", "mixed"));
  request.query_text = "unicorn";
  EXPECT_THAT(Run(request).results, IsEmpty());
  request.query_text = "dogs";
  request.filter.scope_prefix = "/misc";
  EXPECT_THAT(Ids(Run(request)), ElementsAre("mixed"));
  request.filter = {};
  request.min_score = result.results[0].score;
  EXPECT_THAT(Ids(Run(request)), ElementsAre("dogs"));
}

TEST_F(TextSearchTest, LexicalSeesUpdatesAndDeletes) {
  ASSERT_TRUE(store_->Update(kNs, MakeRecord("cats", "Zebras now.", "/pets", {0, 0})).ok());
  SearchRequest request;
  request.query_text = "cats";
  EXPECT_THAT(Ids(Run(request)), ElementsAre("mixed"));
  request.query_text = "zebras";
  EXPECT_THAT(Ids(Run(request)), ElementsAre("cats"));
  DeleteRequest del;
  del.record_ids = {"cats"};
  ASSERT_TRUE(store_->Delete(kNs, del).ok());
  EXPECT_THAT(Run(request).results, IsEmpty());
}

TEST_F(TextSearchTest, HybridFusesBothRankings) {
  SearchRequest request;
  request.mode = SearchMode::kHybrid;
  request.query_embedding = {1, 1};    // vector order: mixed, cats, dogs, stocks
  request.query_text = "cats market";  // lexical: mixed first (both terms)
  const SearchResult result = Run(request);
  ASSERT_EQ(result.results.size(), 4u);
  EXPECT_EQ(result.results[0].record.id, "mixed");
  EXPECT_DOUBLE_EQ(result.results[0].score, 1.0);  // rank 1 in both lists
  for (size_t i = 1; i < result.results.size(); ++i) {
    EXPECT_LT(result.results[i].score, result.results[i - 1].score);
  }
  // "dogs" is only in the vector list (rank 3): 1/63 / (2/61).
  for (const ScoredRecord& r : result.results) {
    if (r.record.id == "dogs") {
      EXPECT_DOUBLE_EQ(r.score, (1.0 / 63) / (2.0 / 61));
    }
  }
  request.limit = 2;
  EXPECT_EQ(Run(request).results.size(), 2u);
  request.filter.scope_prefix = "/pets";
  EXPECT_THAT(Ids(Run(request)), ElementsAre("cats", "dogs"));
}

// ---------------------------------------------------------------------------------------
// Approximate path

double MeanRecallAt10(MemoryStore& store, const std::vector<std::vector<float>>& queries,
                      const RecordFilter& filter, int* approximate_answers) {
  double total = 0;
  for (const auto& q : queries) {
    SearchRequest request;
    request.query_embedding = q;
    request.filter = filter;
    request.limit = 10;
    request.strategy = SearchStrategy::kExact;
    const SearchResult exact = *store.Search(kNs, request);
    request.strategy = SearchStrategy::kAuto;
    const SearchResult approx = *store.Search(kNs, request);
    *approximate_answers += approx.approximate ? 1 : 0;
    EXPECT_FALSE(exact.approximate);
    std::set<std::string> truth;
    for (const auto& r : exact.results) truth.insert(r.record.id);
    int hits = 0;
    for (const auto& r : approx.results) hits += truth.count(r.record.id);
    total += static_cast<double>(hits) / exact.results.size();
    // Rescoring is exact: returned scores are true scores.
    for (const auto& r : approx.results) {
      EXPECT_NEAR(r.score, 1.0 / (1.0 + testing::SquaredL2(r.record.embedding, q)), 1e-5);
    }
  }
  return total / queries.size();
}

struct RecallCase {
  std::string name;
  std::vector<std::vector<float>> data;
  std::vector<std::vector<float>> queries;
};

TEST(ApproximateSearchTest, RecallAt10IsAtLeast099) {
  constexpr size_t kRows = 20000;
  constexpr size_t kDim = 128;
  std::vector<RecallCase> cases;
  cases.push_back(
      {"random", testing::RandomVectors(kRows, kDim, 21), testing::RandomVectors(40, kDim, 22)});
  // Queries near the data for the clustered case (neighbours are within one blob).
  auto clustered = testing::ClusteredVectors(kRows + 40, kDim, 50, 1.0f, 23);
  std::vector<std::vector<float>> cluster_queries(clustered.end() - 40, clustered.end());
  clustered.resize(kRows);
  cases.push_back({"clustered", std::move(clustered), std::move(cluster_queries)});

  for (RecallCase& c : cases) {
    TempDir dir;
    MemoryStoreOptions options = TestOptions(dir.path());
    options.approximate_min_candidates = 10000;
    std::unique_ptr<MemoryStore> store = OpenStore(options);
    ASSERT_NE(store, nullptr);
    std::vector<Record> records;
    records.reserve(kRows);
    for (size_t i = 0; i < kRows; ++i) {
      records.push_back(MakeRecord(absl::StrCat("r", i), "x", i % 5 == 0 ? "/rare" : "/common",
                                   std::move(c.data[i])));
    }
    SaveInBatches(*store, records, 5000);
    EXPECT_TRUE(store->DescribeNamespace(kNs)->has_quantized_index) << c.name;

    int approximate = 0;
    const double recall = MeanRecallAt10(*store, c.queries, RecordFilter{}, &approximate);
    EXPECT_GE(recall, 0.99) << c.name;
    RecordProperty(c.name + "_recall_at_10", std::to_string(recall));
    std::cout << c.name << ": mean recall@10 = " << recall << "\n";
    EXPECT_EQ(approximate, static_cast<int>(c.queries.size())) << c.name;

    // A filter keeping 80% still goes approximate (16000 >= 10000) with the same recall.
    RecordFilter common;
    common.scope_prefix = "/common";
    approximate = 0;
    EXPECT_GE(MeanRecallAt10(*store, c.queries, common, &approximate), 0.99) << c.name;
    EXPECT_EQ(approximate, static_cast<int>(c.queries.size())) << c.name;

    // A selective filter (4000 records) stays exact.
    RecordFilter rare;
    rare.scope_prefix = "/rare";
    approximate = 0;
    EXPECT_DOUBLE_EQ(MeanRecallAt10(*store, c.queries, rare, &approximate), 1.0) << c.name;
    EXPECT_EQ(approximate, 0) << c.name;
  }
}

TEST(ApproximateSearchTest, OutliersAndRebuildsKeepResultsRight) {
  TempDir dir;
  MemoryStoreOptions options = TestOptions(dir.path());
  options.approximate_min_candidates = 2000;
  std::unique_ptr<MemoryStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  std::vector<Record> records;
  auto data = testing::RandomVectors(3000, 32, 31);
  for (size_t i = 0; i < data.size(); ++i) {
    records.push_back(MakeRecord(absl::StrCat("r", i), "x", "/", data[i]));
  }
  SaveInBatches(*store, records, 1000);
  ASSERT_TRUE(store->DescribeNamespace(kNs)->has_quantized_index);
  // Far outside the trained range: clamped codes, marked as outliers, rescored exactly.
  std::vector<float> far(32, 50.0f);
  ASSERT_TRUE(store->Save(kNs, {MakeRecord("far", "x", "/", far)}).ok());
  SearchRequest request;
  request.query_embedding = far;
  request.limit = 1;
  request.strategy = SearchStrategy::kApproximate;
  SearchResult result = *store->Search(kNs, request);
  EXPECT_TRUE(result.approximate);
  EXPECT_THAT(Ids(result), ElementsAre("far"));
  EXPECT_DOUBLE_EQ(result.results[0].score, 1.0);
  // Many outliers trigger a retrain; results stay exact at the top.
  std::vector<Record> shifted;
  for (size_t i = 0; i < 200; ++i) {
    std::vector<float> v = data[i];
    for (float& x : v) x += 20.0f;
    shifted.push_back(MakeRecord(absl::StrCat("s", i), "x", "/", v));
  }
  ASSERT_TRUE(store->Save(kNs, shifted).ok());
  request.query_embedding = shifted[17].embedding;
  request.limit = 5;
  result = *store->Search(kNs, request);
  EXPECT_EQ(result.results[0].record.id, "s17");
  // Shrinking far below the threshold drops the quantized index.
  ASSERT_TRUE(store->Reset(kNs, "/").ok());
  ASSERT_TRUE(store->Save(kNs, {MakeRecord("one", "x", "/", {1, 2})}).ok());
  EXPECT_FALSE(store->DescribeNamespace(kNs)->has_quantized_index);
}

}  // namespace
}  // namespace fast_crewai::memory
