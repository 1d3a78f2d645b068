// Operation-level tests of MemoryStore: every StorageBackend operation, filter, pagination,
// path-aware scopes, dimension errors and validation.
#include "server/memory/memory_store.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/util/error_details.h"
#include "tests/cpp/memory/memory_test_util.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::memory {
namespace {

using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::MakeRecord;
using testing::TestOptions;
using ::testing::UnorderedElementsAre;

constexpr char kNs[] = "ns";

class MemoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<MemoryStore>> store =
        MemoryStore::Open(TestOptions(dir_.path()));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void Save(std::vector<Record> records, absl::string_view ns = kNs) {
    ASSERT_OK(store_->Save(ns, std::move(records)));
  }

  std::vector<std::string> Ids(const std::vector<Record>& records) {
    std::vector<std::string> ids;
    for (const Record& r : records) ids.push_back(r.id);
    return ids;
  }
  std::vector<std::string> Ids(const SearchResult& result) {
    std::vector<std::string> ids;
    for (const ScoredRecord& r : result.results) ids.push_back(r.record.id);
    return ids;
  }
  std::vector<std::string> AllIds(absl::string_view ns = kNs) {
    ListRecordsRequest request;
    request.limit = kMaxLimit;
    absl::StatusOr<ListRecordsResult> listed = store_->ListRecords(ns, request);
    EXPECT_TRUE(listed.ok()) << listed.status();
    std::vector<std::string> ids = Ids(listed->records);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  SearchResult VectorSearch(std::vector<float> query, RecordFilter filter = {}, int limit = 10) {
    SearchRequest request;
    request.query_embedding = std::move(query);
    request.filter = std::move(filter);
    request.limit = limit;
    absl::StatusOr<SearchResult> result = store_->Search(kNs, request);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *std::move(result) : SearchResult{};
  }

  // Scopes used by several tests, including the "/ab" trap for LIKE-prefix matching.
  void SaveScopeTree() {
    Save({MakeRecord("root", "root record", "/", {0, 0}, 1),
          MakeRecord("a", "a record", "/a", {1, 0}, 2),
          MakeRecord("ab", "ab record", "/ab", {2, 0}, 3),
          MakeRecord("a_b", "a/b record", "/a/b", {3, 0}, 4),
          MakeRecord("a_b_c", "a/b/c record", "/a/b/c", {4, 0}, 5),
          MakeRecord("a_x", "a/x record", "/a/x/", {5, 0}, 6),
          MakeRecord("c", "c record", "/c", {6, 0}, 7)});
  }

  TempDir dir_;
  std::unique_ptr<MemoryStore> store_;
};

TEST_F(MemoryStoreTest, SaveAndGetRoundTripEveryField) {
  Record r = MakeRecord("id-1", std::string("content with \0 nul and \xC3\xA9", 21), "/crew/x",
                        {0.125f, -1.5f, 3.0e-7f, 42.0f}, 1700000000123456);
  r.categories = {"pref", "fact", "pref"};
  r.metadata_json = R"({ "b" : [1, 2.50, {"x": null}], "a": "\u00e9" })";
  r.importance = 0.75;
  r.created_at = "2026-11-26T01:02:03.123456";
  r.last_accessed = "2026-11-26T01:02:04";
  r.last_accessed_micros = 1700000001000000;
  r.source = "agent:researcher";
  r.is_private = true;
  Save({r});

  ASSERT_OK_AND_ASSIGN(std::optional<Record> got, store_->GetRecord(kNs, "id-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, r.id);
  EXPECT_EQ(got->content, r.content);
  EXPECT_EQ(got->scope, r.scope);
  EXPECT_EQ(got->categories, r.categories);
  EXPECT_EQ(got->metadata_json, r.metadata_json);  // byte for byte
  EXPECT_EQ(got->importance, r.importance);
  EXPECT_EQ(got->created_at, r.created_at);
  EXPECT_EQ(got->created_at_micros, r.created_at_micros);
  EXPECT_EQ(got->last_accessed, r.last_accessed);
  EXPECT_EQ(got->last_accessed_micros, r.last_accessed_micros);
  EXPECT_EQ(got->source, r.source);
  EXPECT_EQ(got->is_private, r.is_private);
  EXPECT_EQ(got->embedding, r.embedding);

  // Source None and "" are different.
  Record none = MakeRecord("none", "x");
  Record empty = MakeRecord("empty", "x");
  empty.source = "";
  Save({none, empty});
  EXPECT_EQ((*store_->GetRecord(kNs, "none"))->source, std::nullopt);
  EXPECT_EQ((*store_->GetRecord(kNs, "empty"))->source, std::optional<std::string>(""));

  EXPECT_EQ(*store_->GetRecord(kNs, "missing"), std::nullopt);
  EXPECT_EQ(*store_->GetRecord("other-ns", "id-1"), std::nullopt);
}

TEST_F(MemoryStoreTest, SaveUpsertsAndLastDuplicateWins) {
  Save({MakeRecord("x", "first", "/", {1, 1})});
  Save({MakeRecord("x", "second", "/s", {2, 2}), MakeRecord("y", "y1", "/", {0, 0}),
        MakeRecord("y", "y2", "/", {3, 3})});
  EXPECT_EQ(*store_->Count(kNs, ""), 2);
  EXPECT_EQ((*store_->GetRecord(kNs, "x"))->content, "second");
  EXPECT_EQ((*store_->GetRecord(kNs, "x"))->scope, "/s");
  EXPECT_EQ((*store_->GetRecord(kNs, "y"))->content, "y2");
  EXPECT_EQ((*store_->GetRecord(kNs, "y"))->embedding, (std::vector<float>{3, 3}));
  // The old version is gone from search and scope listings.
  EXPECT_THAT(*store_->ListScopes(kNs, "/"), ElementsAre("/s"));
  EXPECT_THAT(Ids(VectorSearch({1, 1})), ElementsAre("x", "y"));
}

TEST_F(MemoryStoreTest, UpdateReplacesOrInserts) {
  Save({MakeRecord("x", "old", "/a", {1, 0})});
  Record updated = MakeRecord("x", "new", "/b", {0, 1}, 5);
  updated.categories = {"c"};
  ASSERT_OK(store_->Update(kNs, updated));
  ASSERT_OK_AND_ASSIGN(std::optional<Record> got, store_->GetRecord(kNs, "x"));
  EXPECT_EQ(got->content, "new");
  EXPECT_EQ(got->scope, "/b");
  EXPECT_EQ(got->embedding, (std::vector<float>{0, 1}));
  EXPECT_EQ(*store_->Count(kNs, "/a"), 0);
  ASSERT_OK(store_->Update(kNs, MakeRecord("fresh", "inserted", "/", {2, 2})));
  EXPECT_EQ(*store_->Count(kNs, ""), 2);
  ASSERT_OK(store_->Update("brand-new-ns", MakeRecord("z", "z", "/")));
  EXPECT_TRUE(store_->DescribeNamespace("brand-new-ns")->exists);
}

TEST_F(MemoryStoreTest, SearchRanksBySquaredL2Score) {
  Save({MakeRecord("near", "n", "/", {1, 0}), MakeRecord("far", "f", "/", {3, 4}),
        MakeRecord("mid", "m", "/", {0, 1})});
  const SearchResult result = VectorSearch({1, 0});
  ASSERT_THAT(Ids(result), ElementsAre("near", "mid", "far"));
  EXPECT_DOUBLE_EQ(result.results[0].score, 1.0);
  EXPECT_DOUBLE_EQ(result.results[1].score, 1.0 / (1.0 + 2.0));   // (1-0)^2 + (0-1)^2
  EXPECT_DOUBLE_EQ(result.results[2].score, 1.0 / (1.0 + 20.0));  // 2^2 + 4^2
  EXPECT_FALSE(result.approximate);
  EXPECT_EQ(result.results[0].record.embedding, (std::vector<float>{1, 0}));

  // min_score is inclusive; limit truncates.
  SearchRequest request;
  request.query_embedding = {1, 0};
  request.min_score = 1.0 / 3.0;
  EXPECT_THAT(Ids(*store_->Search(kNs, request)), ElementsAre("near", "mid"));
  request.min_score = 0;
  request.limit = 1;
  EXPECT_THAT(Ids(*store_->Search(kNs, request)), ElementsAre("near"));
  request.omit_embeddings = true;
  EXPECT_THAT(store_->Search(kNs, request)->results[0].record.embedding, IsEmpty());
}

TEST_F(MemoryStoreTest, SearchTiesAreOrderedById) {
  Save({MakeRecord("b", "x", "/", {1, 0}), MakeRecord("c", "x", "/", {0, 1}),
        MakeRecord("a", "x", "/", {-1, 0})});
  EXPECT_THAT(Ids(VectorSearch({0, 0})), ElementsAre("a", "b", "c"));
}

TEST_F(MemoryStoreTest, SearchScopeFilterIsPathAware) {
  SaveScopeTree();
  RecordFilter filter;
  filter.scope_prefix = "/a";
  EXPECT_THAT(Ids(VectorSearch({0, 0}, filter)), ElementsAre("a", "a_b", "a_b_c", "a_x"));
  filter.scope_prefix = "/a/";
  EXPECT_THAT(Ids(VectorSearch({0, 0}, filter)), ElementsAre("a", "a_b", "a_b_c", "a_x"));
  filter.scope_prefix = "a/b";  // leading slash added
  EXPECT_THAT(Ids(VectorSearch({0, 0}, filter)), ElementsAre("a_b", "a_b_c"));
  filter.scope_prefix = "/a/x";  // stored as "/a/x/"
  EXPECT_THAT(Ids(VectorSearch({0, 0}, filter)), ElementsAre("a_x"));
  filter.scope_prefix = "/";
  EXPECT_EQ(VectorSearch({0, 0}, filter).results.size(), 7u);
  filter.scope_prefix = "";
  EXPECT_EQ(VectorSearch({0, 0}, filter).results.size(), 7u);
  filter.scope_prefix = "/nothing";
  EXPECT_THAT(Ids(VectorSearch({0, 0}, filter)), IsEmpty());
}

TEST_F(MemoryStoreTest, SearchCategoryAndMetadataFilters) {
  Record r1 = MakeRecord("r1", "x", "/", {1, 0});
  r1.categories = {"a", "b"};
  r1.metadata_json = R"({"n": 1, "s": "x", "nested": {"k": [1, 2]}})";
  Record r2 = MakeRecord("r2", "x", "/", {2, 0});
  r2.categories = {"b"};
  r2.metadata_json = R"({"n": 1.0, "s": "y", "flag": true})";
  Record r3 = MakeRecord("r3", "x", "/", {3, 0});
  r3.categories = {"c"};
  r3.metadata_json = R"({"n": 2, "nothing": null})";
  Save({r1, r2, r3});

  RecordFilter f;
  f.categories = {"a", "c"};  // any-of
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r1", "r3"));
  f.categories = {"zzz"};
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), IsEmpty());
  // An empty category is a category (CrewAI's own storage keeps and matches it).
  Record r4 = MakeRecord("r4", "x", "/", {4, 0});
  r4.categories = {"", "c"};
  Save({r4});
  f.categories = {""};
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r4"));
  EXPECT_THAT((*store_->GetRecord(kNs, "r4"))->categories, ElementsAre("", "c"));
  DeleteRequest drop;
  drop.record_ids = {"r4"};
  ASSERT_OK(store_->Delete(kNs, drop).status());

  f = {};
  f.metadata_filter_json = R"({"n": 1})";  // 1 == 1.0
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r1", "r2"));
  f.metadata_filter_json = R"({"n": true})";  // True == 1 == 1.0
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r1", "r2"));
  f.metadata_filter_json = R"({"n": 1, "s": "y"})";  // every key
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r2"));
  f.metadata_filter_json = R"({"nothing": null})";  // missing key == None
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r1", "r2", "r3"));
  f.metadata_filter_json = R"({"flag": 1})";
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r2"));
  f.metadata_filter_json = R"({"nested": {"k": [1.0, 2]}})";  // deep equality
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r1"));
  f.metadata_filter_json = "{}";  // no criterion
  EXPECT_EQ(VectorSearch({0, 0}, f).results.size(), 3u);

  f.metadata_filter_json = R"({"n": 1})";
  f.categories = {"b", "c"};
  f.scope_prefix = "/";
  EXPECT_THAT(Ids(VectorSearch({0, 0}, f)), ElementsAre("r1", "r2"));
}

TEST_F(MemoryStoreTest, FilteredSearchReturnsLimitWheneverEnoughMatch) {
  // 200 records near the query outside the scope, 15 far away inside it: a post-filter over
  // the nearest limit*3 (LanceDB) would return none of them.
  std::vector<Record> records;
  for (int i = 0; i < 200; ++i) {
    records.push_back(MakeRecord(absl::StrCat("near", i), "x", "/busy", {0.01f * i, 0}));
  }
  for (int i = 0; i < 15; ++i) {
    Record r = MakeRecord(absl::StrCat("rare", i), "x", "/rare", {100.0f + i, 0});
    r.categories = {"rare"};
    records.push_back(r);
  }
  Save(records);
  RecordFilter f;
  f.scope_prefix = "/rare";
  const SearchResult by_scope = VectorSearch({0, 0}, f, 10);
  ASSERT_EQ(by_scope.results.size(), 10u);
  EXPECT_EQ(by_scope.results.front().record.id, "rare0");
  f = {};
  f.categories = {"rare"};
  EXPECT_EQ(VectorSearch({0, 0}, f, 10).results.size(), 10u);
  EXPECT_EQ(VectorSearch({0, 0}, f, 100).results.size(), 15u);
}

TEST_F(MemoryStoreTest, DeleteByIds) {
  SaveScopeTree();
  DeleteRequest request;
  request.record_ids = {"a", "c", "missing", "a"};
  EXPECT_EQ(*store_->Delete(kNs, request), 2);
  EXPECT_THAT(AllIds(), ElementsAre("a_b", "a_b_c", "a_x", "ab", "root"));
}

TEST_F(MemoryStoreTest, DeleteByScopeIsPathAwareAndSparesRoot) {
  SaveScopeTree();
  DeleteRequest request;
  request.filter.scope_prefix = "/a";
  EXPECT_EQ(*store_->Delete(kNs, request), 4);
  // "/ab" and the root-scope record survive (LanceDB deletes both).
  EXPECT_THAT(AllIds(), ElementsAre("ab", "c", "root"));
}

TEST_F(MemoryStoreTest, DeleteCombinesEveryCriterionWithAnd) {
  SaveScopeTree();
  // record_ids restrict, and the scope still applies (LanceDB ignores the scope here).
  DeleteRequest request;
  request.record_ids = {"a", "ab", "c"};
  request.filter.scope_prefix = "/a";
  EXPECT_EQ(*store_->Delete(kNs, request), 1);
  EXPECT_THAT(AllIds(), ElementsAre("a_b", "a_b_c", "a_x", "ab", "c", "root"));

  // older_than: strictly before.
  request = {};
  request.filter.scope_prefix = "/a";
  request.older_than_micros = 5;
  EXPECT_EQ(*store_->Delete(kNs, request), 1);  // a_b (4); a_b_c has 5
  EXPECT_THAT(AllIds(), ElementsAre("a_b_c", "a_x", "ab", "c", "root"));

  // older_than alone does not touch the root scope specially.
  request = {};
  request.older_than_micros = 3;
  EXPECT_EQ(*store_->Delete(kNs, request), 1);  // root (1)
  EXPECT_THAT(AllIds(), ElementsAre("a_b_c", "a_x", "ab", "c"));
}

TEST_F(MemoryStoreTest, DeleteByCategoriesMetadataAndIds) {
  Record r1 = MakeRecord("r1", "x", "/p");
  r1.categories = {"keep", "drop"};
  r1.metadata_json = R"({"k": 1})";
  Record r2 = MakeRecord("r2", "x", "/p");
  r2.categories = {"drop"};
  r2.metadata_json = R"({"k": 2})";
  Record r3 = MakeRecord("r3", "x", "/q");
  r3.categories = {"drop"};
  r3.metadata_json = R"({"k": 1})";
  Save({r1, r2, r3});
  DeleteRequest request;
  request.filter.categories = {"drop"};
  request.filter.metadata_filter_json = R"({"k": 1.0})";
  request.record_ids = {"r1", "r2"};  // restricts too (LanceDB ignores ids with categories)
  EXPECT_EQ(*store_->Delete(kNs, request), 1);
  EXPECT_THAT(AllIds(), ElementsAre("r2", "r3"));
}

TEST_F(MemoryStoreTest, DeleteWithoutCriteriaDeletesAllButKeepsDimension) {
  SaveScopeTree();
  EXPECT_EQ(*store_->Delete(kNs, DeleteRequest{}), 7);
  EXPECT_EQ(*store_->Count(kNs, ""), 0);
  EXPECT_EQ(store_->DescribeNamespace(kNs)->vector_dim, 2);
  EXPECT_EQ(*store_->Delete("unknown-ns", DeleteRequest{}), 0);
  EXPECT_FALSE(store_->DescribeNamespace("unknown-ns")->exists);
}

TEST_F(MemoryStoreTest, ListRecordsNewestFirstWithPagination) {
  std::vector<Record> records;
  // created_at_micros: 0..24, with ties at 10 (ids t10a < t10b < t10c).
  for (int i = 0; i < 22; ++i) {
    records.push_back(
        MakeRecord(absl::StrCat("r", i < 10 ? "0" : "", i), "x", i % 2 ? "/odd" : "/even", {}, i));
  }
  records.push_back(MakeRecord("t10c", "x", "/even", {}, 10));
  records.push_back(MakeRecord("t10a", "x", "/even", {}, 10));
  records.push_back(MakeRecord("t10b", "x", "/even", {}, 10));
  Save(records);

  ListRecordsRequest request;
  request.limit = 5;
  ASSERT_OK_AND_ASSIGN(ListRecordsResult page, store_->ListRecords(kNs, request));
  EXPECT_THAT(Ids(page.records), ElementsAre("r21", "r20", "r19", "r18", "r17"));
  EXPECT_TRUE(page.has_more);
  EXPECT_EQ(page.next_offset, 5);
  request.offset = 10;
  ASSERT_OK_AND_ASSIGN(page, store_->ListRecords(kNs, request));
  EXPECT_THAT(Ids(page.records), ElementsAre("r11", "r10", "t10a", "t10b", "t10c"));
  request.offset = 22;
  ASSERT_OK_AND_ASSIGN(page, store_->ListRecords(kNs, request));
  EXPECT_THAT(Ids(page.records), ElementsAre("r02", "r01", "r00"));
  EXPECT_FALSE(page.has_more);
  request.offset = 100;
  ASSERT_OK_AND_ASSIGN(page, store_->ListRecords(kNs, request));
  EXPECT_THAT(page.records, IsEmpty());
  EXPECT_FALSE(page.has_more);

  // Scoped, default limit (0 -> 200).
  request = {};
  request.limit = 0;
  request.scope_prefix = "/odd";
  ASSERT_OK_AND_ASSIGN(page, store_->ListRecords(kNs, request));
  EXPECT_EQ(page.records.size(), 11u);
  EXPECT_EQ(page.records.front().id, "r21");
  EXPECT_FALSE(page.has_more);

  request.limit = kMaxLimit + 1;
  EXPECT_THAT(store_->ListRecords(kNs, request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  request.limit = 5;
  request.offset = -1;
  EXPECT_THAT(store_->ListRecords(kNs, request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset")));
}

TEST_F(MemoryStoreTest, GetScopeInfo) {
  SaveScopeTree();
  Record extra = MakeRecord("cat", "x", "/a/b", {7, 0}, 0);
  extra.categories = {"zeta", "alpha"};
  extra.created_at = "1970-01-01T00:00:00";
  Save({extra});

  ASSERT_OK_AND_ASSIGN(ScopeInfo info, store_->GetScopeInfo(kNs, "/a/"));
  EXPECT_EQ(info.path, "/a");
  EXPECT_EQ(info.record_count, 5);  // a, a_b, a_b_c, a_x, cat (not /ab)
  EXPECT_THAT(info.categories, ElementsAre("alpha", "zeta"));
  EXPECT_EQ(info.oldest_record, "1970-01-01T00:00:00");
  EXPECT_EQ(info.oldest_record_micros, 0);
  EXPECT_EQ(info.newest_record, "t6");
  EXPECT_EQ(info.newest_record_micros, 6);
  EXPECT_THAT(info.child_scopes, ElementsAre("/a/b", "/a/x"));

  ASSERT_OK_AND_ASSIGN(info, store_->GetScopeInfo(kNs, "/"));
  EXPECT_EQ(info.path, "/");
  EXPECT_EQ(info.record_count, 8);
  EXPECT_THAT(info.child_scopes, ElementsAre("/a", "/ab", "/c"));
  ASSERT_OK_AND_ASSIGN(info, store_->GetScopeInfo(kNs, ""));
  EXPECT_EQ(info.path, "/");
  EXPECT_EQ(info.record_count, 8);

  ASSERT_OK_AND_ASSIGN(info, store_->GetScopeInfo(kNs, "a/b"));
  EXPECT_EQ(info.path, "/a/b");
  EXPECT_EQ(info.record_count, 3);
  EXPECT_THAT(info.child_scopes, ElementsAre("/a/b/c"));

  ASSERT_OK_AND_ASSIGN(info, store_->GetScopeInfo(kNs, "/none"));
  EXPECT_EQ(info.path, "/none");
  EXPECT_EQ(info.record_count, 0);
  EXPECT_THAT(info.categories, IsEmpty());
  EXPECT_EQ(info.oldest_record, "");
  EXPECT_THAT(info.child_scopes, IsEmpty());

  ASSERT_OK_AND_ASSIGN(info, store_->GetScopeInfo("unknown-ns", "/x/"));
  EXPECT_EQ(info.path, "/x");
  EXPECT_EQ(info.record_count, 0);
}

TEST_F(MemoryStoreTest, ListScopesCountAndCategories) {
  SaveScopeTree();
  EXPECT_THAT(*store_->ListScopes(kNs, "/"), ElementsAre("/a", "/ab", "/c"));
  EXPECT_THAT(*store_->ListScopes(kNs, ""), ElementsAre("/a", "/ab", "/c"));
  EXPECT_THAT(*store_->ListScopes(kNs, "/a"), ElementsAre("/a/b", "/a/x"));
  EXPECT_THAT(*store_->ListScopes(kNs, "/a/"), ElementsAre("/a/b", "/a/x"));
  EXPECT_THAT(*store_->ListScopes(kNs, "/a/b"), ElementsAre("/a/b/c"));
  EXPECT_THAT(*store_->ListScopes(kNs, "/a/b/c"), IsEmpty());
  EXPECT_THAT(*store_->ListScopes("unknown-ns", "/"), IsEmpty());

  EXPECT_EQ(*store_->Count(kNs, ""), 7);
  EXPECT_EQ(*store_->Count(kNs, "/"), 7);
  EXPECT_EQ(*store_->Count(kNs, "/a"), 4);
  EXPECT_EQ(*store_->Count(kNs, "/ab"), 1);
  EXPECT_EQ(*store_->Count(kNs, "/a/b"), 2);
  EXPECT_EQ(*store_->Count("unknown-ns", ""), 0);

  Record r1 = MakeRecord("c1", "x", "/cat/x");
  r1.categories = {"b", "a", "b"};  // duplicate counts once
  Record r2 = MakeRecord("c2", "x", "/cat/y");
  r2.categories = {"a"};
  Record r3 = MakeRecord("c3", "x", "/catalog");
  r3.categories = {"a", "z"};
  Save({r1, r2, r3});
  auto pairs = [](const std::vector<CategoryCount>& counts) {
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& c : counts) out.emplace_back(c.category, c.count);
    return out;
  };
  using P = std::pair<std::string, int64_t>;
  EXPECT_THAT(pairs(*store_->ListCategories(kNs, "/cat")), ElementsAre(P("a", 2), P("b", 1)));
  EXPECT_THAT(pairs(*store_->ListCategories(kNs, "")),
              ElementsAre(P("a", 3), P("b", 1), P("z", 1)));
  EXPECT_THAT(*store_->ListCategories(kNs, "/a"), IsEmpty());
}

TEST_F(MemoryStoreTest, ScopedResetIsPathAware) {
  SaveScopeTree();
  EXPECT_EQ(*store_->Reset(kNs, "/a/"), 4);
  EXPECT_THAT(AllIds(), ElementsAre("ab", "c", "root"));
  EXPECT_EQ(store_->DescribeNamespace(kNs)->vector_dim, 2);  // a scoped reset keeps it
  EXPECT_EQ(*store_->Reset(kNs, "/nothing"), 0);
  EXPECT_EQ(*store_->Reset("unknown-ns", "/"), 0);
}

TEST_F(MemoryStoreTest, FullResetFreesTheDimension) {
  SaveScopeTree();
  EXPECT_EQ(*store_->Reset(kNs, "/"), 7);
  ASSERT_OK_AND_ASSIGN(NamespaceInfo info, store_->DescribeNamespace(kNs));
  EXPECT_TRUE(info.exists);
  EXPECT_EQ(info.vector_dim, 0);
  EXPECT_EQ(info.record_count, 0);
  EXPECT_THAT(*store_->ListScopes(kNs, "/"), IsEmpty());
  // A new dimension is accepted now.
  ASSERT_OK_AND_ASSIGN(SaveResult saved, store_->Save(kNs, {MakeRecord("n", "x", "/", {1, 2, 3})}));
  EXPECT_EQ(saved.vector_dim, 3);
  EXPECT_THAT(Ids(VectorSearch({1, 2, 3})), ElementsAre("n"));
  EXPECT_EQ(*store_->Reset(kNs, ""), 1);
}

TEST_F(MemoryStoreTest, TouchRecords) {
  SaveScopeTree();
  ASSERT_OK_AND_ASSIGN(int64_t touched,
                       store_->TouchRecords(kNs, {"a", "c", "missing", "a"}, "2030-01-01T00:00:00",
                                            1893456000000000));
  EXPECT_EQ(touched, 2);
  ASSERT_OK_AND_ASSIGN(std::optional<Record> a, store_->GetRecord(kNs, "a"));
  EXPECT_EQ(a->last_accessed, "2030-01-01T00:00:00");
  EXPECT_EQ(a->last_accessed_micros, 1893456000000000);
  EXPECT_EQ(a->created_at, "t2");  // untouched fields stay
  EXPECT_EQ((*store_->GetRecord(kNs, "ab"))->last_accessed, "t3");
  EXPECT_EQ(*store_->TouchRecords(kNs, {}, "x", 1), 0);
  EXPECT_EQ(*store_->TouchRecords("unknown-ns", {"a"}, "x", 1), 0);
}

TEST_F(MemoryStoreTest, UnknownNamespaceReadsAreEmptyAndCreateNothing) {
  SearchRequest request;
  request.query_embedding = {1, 2};
  EXPECT_THAT(store_->Search("nope", request)->results, IsEmpty());
  request.query_embedding = {};
  request.query_text = "hello";
  EXPECT_THAT(store_->Search("nope", request)->results, IsEmpty());
  EXPECT_THAT(store_->ListRecords("nope", {})->records, IsEmpty());
  EXPECT_FALSE(store_->DescribeNamespace("nope")->exists);
  EXPECT_EQ(store_->GetStats().namespaces, 0);
  // An empty save does not create it either.
  ASSERT_OK_AND_ASSIGN(SaveResult saved, store_->Save("nope", {}));
  EXPECT_EQ(saved.vector_dim, 0);
  EXPECT_FALSE(store_->DescribeNamespace("nope")->exists);
}

TEST_F(MemoryStoreTest, NamespacesAreIsolated) {
  Save({MakeRecord("x", "one", "/", {1, 0})}, "first");
  Save({MakeRecord("x", "two", "/", {1, 0, 0})}, "second");
  EXPECT_EQ((*store_->GetRecord("first", "x"))->content, "one");
  EXPECT_EQ((*store_->GetRecord("second", "x"))->content, "two");
  EXPECT_EQ(store_->DescribeNamespace("first")->vector_dim, 2);
  EXPECT_EQ(store_->DescribeNamespace("second")->vector_dim, 3);
  EXPECT_EQ(*store_->Reset("first", ""), 1);
  EXPECT_EQ(*store_->Count("second", ""), 1);
  EXPECT_EQ(store_->GetStats().namespaces, 2);
}

// ---------------------------------------------------------------------------------------
// Dimensions

void ExpectDimensionMismatch(const absl::Status& status, int stored, int got,
                             absl::string_view path) {
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                               ::testing::StartsWith(std::string(path))));
  // The raw payloads the RPC layer turns into trailing metadata.
  EXPECT_EQ(status.GetPayload("fast-crewai/reason"),
            absl::optional<absl::Cord>(absl::Cord("EMBEDDING_DIMENSION_MISMATCH")));
  EXPECT_EQ(status.GetPayload("fast-crewai/stored-dim"),
            absl::optional<absl::Cord>(absl::Cord(absl::StrCat(stored))));
  EXPECT_EQ(status.GetPayload("fast-crewai/new-dim"),
            absl::optional<absl::Cord>(absl::Cord(absl::StrCat(got))));
  EXPECT_EQ(GetErrorDetail(status, kReasonDetail),
            std::optional<std::string>(kEmbeddingDimensionMismatch));
}

TEST_F(MemoryStoreTest, DimensionMismatchOnSaveUpdateAndSearch) {
  ASSERT_OK_AND_ASSIGN(SaveResult saved, store_->Save(kNs, {MakeRecord("a", "x", "/", {1, 2, 3})}));
  EXPECT_EQ(saved.vector_dim, 3);
  ExpectDimensionMismatch(
      store_->Save(kNs, {MakeRecord("b", "x", "/"), MakeRecord("c", "x", "/", {1, 2})}).status(), 3,
      2, "records[1].embedding");
  ExpectDimensionMismatch(store_->Update(kNs, MakeRecord("a", "x", "/", {1, 2, 3, 4})), 3, 4,
                          "record.embedding");
  SearchRequest request;
  request.query_embedding = {1, 2};
  ExpectDimensionMismatch(store_->Search(kNs, request).status(), 3, 2, "query_embedding");
  request.mode = SearchMode::kHybrid;
  request.query_text = "x";
  ExpectDimensionMismatch(store_->Search(kNs, request).status(), 3, 2, "query_embedding");
  // Nothing of the failed writes is stored.
  EXPECT_THAT(AllIds(), ElementsAre("a"));
  EXPECT_EQ((*store_->GetRecord(kNs, "a"))->embedding, (std::vector<float>{1, 2, 3}));
}

TEST_F(MemoryStoreTest, DimensionMismatchWithinOneBatch) {
  ExpectDimensionMismatch(
      store_
          ->Save(kNs, {MakeRecord("a", "x", "/", {1, 2, 3}), MakeRecord("b", "x", "/"),
                       MakeRecord("c", "x", "/", {1, 2})})
          .status(),
      3, 2, "records[2].embedding");
  EXPECT_FALSE(store_->DescribeNamespace(kNs)->exists);
}

TEST_F(MemoryStoreTest, RecordsWithoutEmbeddingAreZeroFilledOnceTheDimensionIsKnown) {
  ASSERT_OK_AND_ASSIGN(SaveResult saved, store_->Save(kNs, {MakeRecord("early", "x", "/")}));
  EXPECT_EQ(saved.vector_dim, 0);
  EXPECT_THAT((*store_->GetRecord(kNs, "early"))->embedding, IsEmpty());
  // Unknown dimension: a vector search returns nothing (no error), lexical works.
  SearchRequest request;
  request.query_embedding = {1, 1};
  EXPECT_THAT(store_->Search(kNs, request)->results, IsEmpty());

  Save({MakeRecord("vec", "y", "/", {3, 4})});
  EXPECT_EQ((*store_->GetRecord(kNs, "early"))->embedding, (std::vector<float>{0, 0}));
  Save({MakeRecord("late", "z", "/")});
  EXPECT_EQ((*store_->GetRecord(kNs, "late"))->embedding, (std::vector<float>{0, 0}));
  // Zero rows score 1 / (1 + |q|^2), as LanceDB's zero-filled rows do.
  request.query_embedding = {3, 4};
  const SearchResult result = *store_->Search(kNs, request);
  ASSERT_EQ(result.results.size(), 3u);
  EXPECT_EQ(result.results[0].record.id, "vec");
  EXPECT_DOUBLE_EQ(result.results[1].score, 1.0 / 26.0);
  EXPECT_THAT(Ids(result), ElementsAre("vec", "early", "late"));
  // Update without an embedding zero-fills too (LanceDB behaviour), no error.
  ASSERT_OK(store_->Update(kNs, MakeRecord("vec", "y2", "/")));
  EXPECT_EQ((*store_->GetRecord(kNs, "vec"))->embedding, (std::vector<float>{0, 0}));
}

// ---------------------------------------------------------------------------------------
// Validation: INVALID_ARGUMENT naming the field, and nothing changes.

// CrewAI's Memory stores empty content; the daemon keeps it too (and returns it unchanged).
TEST_F(MemoryStoreTest, EmptyContentIsStored) {
  Record empty = MakeRecord("empty", "", "/e", {1, 2});
  ASSERT_THAT(store_->Save("ns", {empty}).status(), IsOk());
  absl::StatusOr<std::optional<Record>> got = store_->GetRecord("ns", "empty");
  ASSERT_THAT(got.status(), IsOk());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->content, "");
}

TEST_F(MemoryStoreTest, InvalidRecordsAreRejectedAndNothingChanges) {
  SaveScopeTree();
  const std::vector<std::string> before = AllIds();
  const MemoryStoreStats stats_before = store_->GetStats();

  struct Case {
    std::function<void(Record&)> mutate;
    std::string field;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<Case> cases = {
      {[](Record& r) { r.id = ""; }, "records[1].id: must not be empty"},
      {[](Record& r) { r.id = std::string(kMaxIdBytes + 1, 'x'); }, "records[1].id: longer"},
      {[](Record& r) { r.id = "a\nb"; }, "records[1].id: contains a control character"},
      {[](Record& r) { r.id = "\xC3\x28"; }, "records[1].id: not valid UTF-8"},
      {[](Record& r) { r.content = std::string(kMaxContentBytes + 1, 'x'); },
       "records[1].content: longer"},
      {[](Record& r) { r.scope = "a/b"; }, "records[1].scope: must start with \"/\""},
      {[](Record& r) { r.scope = ""; }, "records[1].scope: must start with \"/\""},
      {[](Record& r) { r.scope = "/" + std::string(kMaxScopeBytes, 'x'); },
       "records[1].scope: longer"},
      {[](Record& r) { r.categories = {"ok", "\xC3\x28"}; },
       "records[1].categories[1]: not valid UTF-8"},
      {[](Record& r) { r.categories = {std::string(kMaxCategoryBytes + 1, 'c')}; },
       "records[1].categories[0]: longer"},
      {[](Record& r) { r.categories.assign(kMaxCategories + 1, "c"); }, "records[1].categories:"},
      {[](Record& r) { r.importance = 1.5; }, "records[1].importance"},
      {[](Record& r) { r.importance = -0.1; }, "records[1].importance"},
      {[nan](Record& r) { r.importance = nan; }, "records[1].importance"},
      {[nan](Record& r) { r.embedding = {1, nan}; },
       "records[1].embedding[1]: not a finite number"},
      {[inf](Record& r) { r.embedding = {-inf, 1}; },
       "records[1].embedding[0]: not a finite number"},
      // Past the vectorised pass's first blocks, and a NaN with the sign bit set.
      {[nan](Record& r) {
         r.embedding.assign(1000, std::numeric_limits<float>::max());
         r.embedding[997] = -nan;
       },
       "records[1].embedding[997]: not a finite number"},
      {[](Record& r) { r.embedding.assign(kMaxDimension + 1, 0.0f); }, "records[1].embedding:"},
      {[](Record& r) { r.metadata_json = "[1]"; }, "records[1].metadata_json: not a JSON object"},
      {[](Record& r) { r.metadata_json = "{bad"; }, "records[1].metadata_json: invalid JSON"},
      {[](Record& r) { r.created_at = std::string(kMaxTimestampBytes + 1, '1'); },
       "records[1].created_at"},
      {[](Record& r) { r.last_accessed = "a\tb"; }, "records[1].last_accessed"},
      {[](Record& r) { r.source = std::string(kMaxSourceBytes + 1, 's'); }, "records[1].source"},
  };
  for (const Case& c : cases) {
    Record bad = MakeRecord("new-bad", "x", "/new", {9, 9});
    c.mutate(bad);
    // The valid record first: validation covers the whole batch before anything is written.
    EXPECT_THAT(store_->Save(kNs, {MakeRecord("new-good", "x", "/new", {8, 8}), bad}).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)))
        << c.field;
    Record update = MakeRecord("a", "x", "/a", {1, 0});
    c.mutate(update);
    const std::string update_field = "record" + c.field.substr(std::string("records[1]").size());
    EXPECT_THAT(store_->Update(kNs, update),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(update_field)));
  }
  EXPECT_EQ(AllIds(), before);
  EXPECT_EQ((*store_->GetRecord(kNs, "a"))->content, "a record");
  EXPECT_EQ(store_->GetStats().commits, stats_before.commits);
}

TEST_F(MemoryStoreTest, InvalidArgumentsOfEveryCall) {
  SaveScopeTree();
  const std::vector<std::string> before = AllIds();
  const auto invalid = [](absl::string_view field) {
    return StatusIs(absl::StatusCode::kInvalidArgument, ::testing::StartsWith(std::string(field)));
  };
  for (const std::string& ns : {std::string(""), std::string(kMaxNamespaceBytes + 1, 'n'),
                                std::string("a\x01"), std::string("\xFF")}) {
    EXPECT_THAT(store_->Save(ns, {MakeRecord("x", "x")}), invalid("namespace"));
    EXPECT_THAT(store_->Count(ns, ""), invalid("namespace"));
    EXPECT_THAT(store_->Reset(ns, ""), invalid("namespace"));
  }
  SearchRequest search;
  search.query_embedding = {0, 0};
  for (int limit : {0, -1, kMaxLimit + 1}) {
    search.limit = limit;
    EXPECT_THAT(store_->Search(kNs, search), invalid("limit"));
  }
  search.limit = 10;
  search.min_score = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(store_->Search(kNs, search), invalid("min_score"));
  search.min_score = 0;
  search.query_embedding = {0, std::numeric_limits<float>::infinity()};
  EXPECT_THAT(store_->Search(kNs, search), invalid("query_embedding[1]"));
  search.query_embedding = {};
  EXPECT_THAT(store_->Search(kNs, search), invalid("query_embedding"));
  search.mode = SearchMode::kLexical;
  EXPECT_THAT(store_->Search(kNs, search), invalid("query_text"));
  search.mode = SearchMode::kHybrid;
  search.query_text = "x";
  EXPECT_THAT(store_->Search(kNs, search), invalid("query_embedding"));
  search.query_embedding = {0, 0};
  search.filter.metadata_filter_json = "[]";
  EXPECT_THAT(store_->Search(kNs, search), invalid("filter.metadata_filter_json"));
  search.filter.metadata_filter_json = "";
  search.filter.categories = {"\xFF"};
  EXPECT_THAT(store_->Search(kNs, search), invalid("filter.categories[0]"));
  search.filter.categories = {};
  search.filter.scope_prefix = "/a\n";
  EXPECT_THAT(store_->Search(kNs, search), invalid("filter.scope_prefix"));

  DeleteRequest del;
  del.record_ids = {"ok", ""};
  EXPECT_THAT(store_->Delete(kNs, del), invalid("record_ids[1]"));
  del.record_ids = {};
  del.filter.metadata_filter_json = "nope";
  EXPECT_THAT(store_->Delete(kNs, del), invalid("filter.metadata_filter_json"));
  EXPECT_THAT(store_->TouchRecords(kNs, {"a", "b\x7f"}, "t", 1), invalid("record_ids[1]"));
  EXPECT_THAT(store_->TouchRecords(kNs, {"a"}, "bad\ntime", 1), invalid("last_accessed"));
  EXPECT_THAT(store_->GetRecord(kNs, ""), invalid("id"));
  EXPECT_THAT(store_->Reset(kNs, "/x\x01"), invalid("scope_prefix"));
  EXPECT_THAT(store_->GetScopeInfo(kNs, "\xC0"), invalid("scope"));
  EXPECT_THAT(store_->ListScopes(kNs, "\x02"), invalid("parent"));
  EXPECT_THAT(store_->ListCategories(kNs, "\x02"), invalid("scope_prefix"));

  EXPECT_EQ(AllIds(), before);
}

TEST_F(MemoryStoreTest, ClosedStoreRejectsCalls) {
  SaveScopeTree();
  ASSERT_OK(store_->Close());
  EXPECT_THAT(store_->Save(kNs, {MakeRecord("x", "x")}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(store_->Count(kNs, ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(store_->Close(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
}

// memory_max_records: a write that would add records beyond the limit is refused whole and
// changes nothing; saving existing records, deleting and resetting always work; a file over a
// lower limit is loaded whole at start.
TEST(MemoryStoreCapacityTest, WritesAddingRecordsBeyondMaxRecordsAreRefusedWhole) {
  TempDir dir;
  MemoryStoreOptions options = TestOptions(dir.path());
  options.max_records = 4;
  absl::StatusOr<std::unique_ptr<MemoryStore>> opened = MemoryStore::Open(options);
  ASSERT_OK(opened.status());
  std::unique_ptr<MemoryStore> store = *std::move(opened);
  const auto count = [&](absl::string_view ns) {
    absl::StatusOr<int64_t> n = store->Count(ns, "");
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  };
  ASSERT_OK(store->Save("a", {MakeRecord("a1", "one", "/", {1, 0}),
                              MakeRecord("a2", "two", "/", {2, 0})}));
  ASSERT_OK(store->Save("b", {MakeRecord("b1", "three", "/", {3, 0})}));

  // Two more would make five: refused, nothing of the batch stored, in any namespace.
  EXPECT_THAT(store->Save("b", {MakeRecord("b2", "x", "/", {4, 0}),
                                MakeRecord("b3", "y", "/", {5, 0})}),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("records: the memory store is full"),
                             HasSubstr("holds 3 records, this write would add 2"),
                             HasSubstr("memory_max_records is 4"))));
  EXPECT_THAT(store->Save("new", {MakeRecord("n1", "x", "/", {6, 0}),
                                  MakeRecord("n2", "y", "/", {7, 0})}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("memory_max_records")));
  EXPECT_EQ(count("b"), 1);
  EXPECT_EQ(count("new"), 0);
  absl::StatusOr<NamespaceInfo> refused_ns = store->DescribeNamespace("new");
  ASSERT_OK(refused_ns.status());
  EXPECT_FALSE(refused_ns->exists) << "a refused first save creates no namespace";
  EXPECT_EQ(store->GetStats().records, 3);

  // Existing records count once: re-saving two and adding one fills the store exactly.
  ASSERT_OK(store->Save("a", {MakeRecord("a1", "one again", "/", {1, 1}),
                              MakeRecord("a2", "two again", "/", {2, 1}),
                              MakeRecord("a3", "four", "/", {3, 1})}));
  EXPECT_EQ(count("a"), 3);
  ASSERT_OK(store->Update("a", MakeRecord("a3", "four, updated", "/", {3, 2})));
  EXPECT_THAT(store->Update("a", MakeRecord("a4", "five", "/", {4, 2})),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("would add 1")));
  EXPECT_THAT(store->Save("a", {MakeRecord("a5", "x", "/", {5, 2})}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("memory_max_records")));

  // Deleting makes room; a full reset frees a namespace's records.
  DeleteRequest by_id;
  by_id.record_ids = {"b1"};
  ASSERT_OK_AND_ASSIGN(const int64_t deleted, store->Delete("b", by_id));
  EXPECT_EQ(deleted, 1);
  ASSERT_OK(store->Save("a", {MakeRecord("a5", "five", "/", {5, 2})}));
  EXPECT_THAT(store->Save("a", {MakeRecord("a6", "x", "/", {6, 2})}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("memory_max_records")));
  ASSERT_OK_AND_ASSIGN(const int64_t reset, store->Reset("a", ""));
  EXPECT_EQ(reset, 4);
  ASSERT_OK(store->Save("b", {MakeRecord("b4", "w", "/", {1, 1}), MakeRecord("b5", "x", "/", {2, 2}),
                              MakeRecord("b6", "y", "/", {3, 3}), MakeRecord("b7", "z", "/", {4, 4})}));
  ASSERT_OK(store->Close());

  // Reopened under a lower limit: every record is loaded, none can be added, existing ones can
  // still be saved.
  options.max_records = 2;
  opened = MemoryStore::Open(options);
  ASSERT_OK(opened.status());
  store = *std::move(opened);
  EXPECT_EQ(count("b"), 4);
  EXPECT_THAT(store->Save("b", {MakeRecord("b8", "v", "/", {5, 5})}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("holds 4 records")));
  ASSERT_OK(store->Save("b", {MakeRecord("b4", "w again", "/", {1, 1})}));
  EXPECT_EQ(count("b"), 4);
}

}  // namespace
}  // namespace fast_crewai::memory
