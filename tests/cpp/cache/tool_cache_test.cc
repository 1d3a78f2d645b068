#include "server/cache/tool_cache.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::cache {
namespace {

using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::HasSubstr;
using Outcome = LookupResult::Outcome;

MATCHER_P(IsOkAndHolds, expected, "is OK and holds " + ::testing::PrintToString(expected)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "holds " << ::testing::PrintToString(*arg);
  return *arg == expected;
}

CacheKey Key(absl::string_view tool, absl::string_view input, absl::string_view ns = "ns") {
  return CacheKey{std::string(ns), std::string(tool), std::string(input)};
}

// Collects the answers of Lookup callbacks.
struct Answers {
  std::vector<absl::StatusOr<LookupResult>> results;
  LookupCallback Callback() {
    return [this](absl::StatusOr<LookupResult> r) { results.push_back(std::move(r)); };
  }
};

class ToolCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<ToolCache> Open(ToolCacheOptions options = {}) {
    if (options.random_seed == 0) options.random_seed = 7;
    absl::StatusOr<std::unique_ptr<ToolCache>> cache = ToolCache::Open(options, &clock_);
    EXPECT_THAT(cache, IsOk());
    return cache.ok() ? *std::move(cache) : nullptr;
  }

  FakeClock clock_;
};

TEST_F(ToolCacheTest, PutThenGetReturnsValueAndContentType) {
  auto cache = Open();
  ASSERT_OK_AND_ASSIGN(PutResult put,
                       cache->Put(Key("search", R"({"q": "otters"})"), "\"ok\"", "application/json"));
  EXPECT_TRUE(put.stored);
  EXPECT_EQ(put.expires_at, absl::InfiniteFuture());
  ASSERT_OK_AND_ASSIGN(LookupResult hit, cache->Get(Key("search", R"({"q": "otters"})")));
  EXPECT_EQ(hit.outcome, Outcome::kHit);
  EXPECT_EQ(hit.value, "\"ok\"");
  EXPECT_EQ(hit.content_type, "application/json");
  // Keys are byte-exact: other spacing, other tool or other namespace is another key.
  EXPECT_EQ(cache->Get(Key("search", R"({"q":"otters"})"))->outcome, Outcome::kMiss);
  EXPECT_EQ(cache->Get(Key("Search", R"({"q": "otters"})"))->outcome, Outcome::kMiss);
  EXPECT_EQ(cache->Get(Key("search", R"({"q": "otters"})", "other"))->outcome, Outcome::kMiss);
}

TEST_F(ToolCacheTest, EmptyInputAndBinaryBytesAreKeys) {
  auto cache = Open();
  std::string binary("a\0b\xff", 4);
  ASSERT_THAT(cache->Put(Key("t", ""), "empty", ""), IsOk());
  ASSERT_THAT(cache->Put(Key("t", binary), std::string("v\0v", 3), "application/octet-stream"),
              IsOk());
  EXPECT_EQ(cache->Get(Key("t", ""))->value, "empty");
  EXPECT_EQ(cache->Get(Key("t", binary))->value, std::string("v\0v", 3));
}

TEST_F(ToolCacheTest, PutReplacesValue) {
  auto cache = Open();
  ASSERT_THAT(cache->Put(Key("t", "i"), "one", "text/plain"), IsOk());
  ASSERT_THAT(cache->Put(Key("t", "i"), "two-longer", "text/plain"), IsOk());
  EXPECT_EQ(cache->Get(Key("t", "i"))->value, "two-longer");
  CacheStats stats = cache->Stats("ns");
  EXPECT_EQ(stats.entries, 1);
  EXPECT_EQ(stats.bytes, static_cast<int64_t>(2 + 1 + 1 + 10 + 10) + kEntryOverheadBytes);
}

TEST_F(ToolCacheTest, ValidationNamesTheField) {
  ToolCacheOptions options;
  options.max_value_bytes = 100;
  auto cache = Open(options);
  EXPECT_THAT(cache->Put(Key("", "i"), "v", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key.tool")));
  EXPECT_THAT(cache->Put(Key("t", "i", ""), "v", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key.namespace")));
  EXPECT_THAT(cache->Put(Key(std::string(2000, 't'), "i"), "v", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key.tool: 2000 bytes")));
  EXPECT_THAT(cache->Put(Key("t", "i"), "v", "", {.ttl = absl::Milliseconds(-1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl_millis: -1")));
  EXPECT_THAT(cache->Put(Key("t", "i"), "v", "", {.ttl = kMaxTtl + absl::Seconds(1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl_millis")));
  EXPECT_THAT(cache->Put(Key("t", "i"), std::string(101, 'x'), ""),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("101 bytes is larger than the limit of 100 bytes "
                                 "(cache_max_value_bytes)")));
  EXPECT_THAT(cache->Put(Key("t", "i"), "v", "bad\ntype"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("content_type")));
  Answers answers;
  cache->Lookup(Key("t", "i"), {.claim = true, .lease = absl::Hours(2)}, answers.Callback());
  ASSERT_EQ(answers.results.size(), 1u);
  EXPECT_THAT(answers.results[0],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lease_millis")));
  cache->Lookup(Key("t", "i"), {.wait = absl::Minutes(11)}, answers.Callback());
  EXPECT_THAT(answers.results[1],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wait_millis")));
  // Nothing was stored by the rejected calls.
  EXPECT_EQ(cache->Stats("").entries, 0);
}

TEST_F(ToolCacheTest, EntryLargerThanAShardIsRejectedNamingTheLimit) {
  ToolCacheOptions options;
  options.max_bytes = 16 * 4096;  // 4096 per shard.
  auto cache = Open(options);
  EXPECT_THAT(cache->Put(Key("t", "i"), std::string(5000, 'x'), ""),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("more than one cache shard holds (4096 bytes")));
}

TEST_F(ToolCacheTest, EntriesExpireAtTheirTtl) {
  auto cache = Open();
  ASSERT_OK_AND_ASSIGN(PutResult put,
                       cache->Put(Key("t", "short"), "v", "", {.ttl = absl::Seconds(10)}));
  EXPECT_EQ(put.expires_at, clock_.Now() + absl::Seconds(10));
  ASSERT_THAT(cache->Put(Key("t", "forever"), "v", ""), IsOk());
  clock_.Advance(absl::Seconds(9));
  ASSERT_OK_AND_ASSIGN(LookupResult hit, cache->Get(Key("t", "short")));
  EXPECT_EQ(hit.outcome, Outcome::kHit);
  EXPECT_EQ(hit.expires_at, put.expires_at);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(cache->Get(Key("t", "short"))->outcome, Outcome::kMiss);
  EXPECT_EQ(cache->Get(Key("t", "forever"))->outcome, Outcome::kHit);
  CacheStats stats = cache->Stats("ns");
  EXPECT_EQ(stats.expirations, 1);
  EXPECT_EQ(stats.entries, 1);
}

TEST_F(ToolCacheTest, TickRemovesExpiredEntriesAndFreesBytes) {
  auto cache = Open();
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(cache->Put(Key("t", absl::StrCat(i)), "value", "", {.ttl = absl::Seconds(i + 1)}),
                IsOk());
  }
  EXPECT_EQ(cache->NextDeadline(), clock_.Now() + absl::Seconds(1));
  clock_.Advance(absl::Seconds(5));
  cache->Tick();
  CacheStats stats = cache->Stats("");
  EXPECT_EQ(stats.entries, 5);
  EXPECT_EQ(stats.expirations, 5);
  EXPECT_EQ(cache->NextDeadline(), clock_.Now() + absl::Seconds(1));
  clock_.Advance(absl::Seconds(100));
  cache->Tick();
  EXPECT_EQ(cache->Stats("").bytes, 0);
  EXPECT_EQ(cache->NextDeadline(), absl::InfiniteFuture());
}

TEST_F(ToolCacheTest, NamespaceDefaultTtlAppliesToPutsWithoutTtl) {
  ToolCacheOptions options;
  options.default_ttl = absl::Minutes(1);
  auto cache = Open(options);
  ASSERT_OK(cache->ConfigureNamespace("fast", {.default_ttl = absl::Seconds(5)}));
  ASSERT_OK_AND_ASSIGN(PutResult fast, cache->Put(Key("t", "i", "fast"), "v", ""));
  ASSERT_OK_AND_ASSIGN(PutResult slow, cache->Put(Key("t", "i", "slow"), "v", ""));
  ASSERT_OK_AND_ASSIGN(PutResult own,
                       cache->Put(Key("t", "j", "fast"), "v", "", {.ttl = absl::Hours(1)}));
  EXPECT_EQ(fast.expires_at, clock_.Now() + absl::Seconds(5));
  EXPECT_EQ(slow.expires_at, clock_.Now() + absl::Minutes(1));
  EXPECT_EQ(own.expires_at, clock_.Now() + absl::Hours(1));
  EXPECT_THAT(cache->ConfigureNamespace("fast", {.default_ttl = absl::Milliseconds(-5)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("default_ttl_millis")));
}

TEST_F(ToolCacheTest, ByteBudgetHoldsUnderALongStreamOfInserts) {
  ToolCacheOptions options;
  options.max_bytes = 64 * 1024;
  auto cache = Open(options);
  int64_t max_seen = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string value(100 + (i * 37) % 900, 'v');
    ASSERT_THAT(cache->Put(Key("tool", absl::StrCat("input-", i)), value, "text/plain"), IsOk());
    if (i % 3 == 0) (void)cache->Get(Key("tool", absl::StrCat("input-", i / 2)));
    const CacheStats stats = cache->Stats("");
    max_seen = std::max(max_seen, stats.bytes);
    ASSERT_LE(stats.bytes, options.max_bytes) << "after insert " << i;
  }
  const CacheStats stats = cache->Stats("");
  EXPECT_GT(stats.evictions, 19000);
  EXPECT_GT(max_seen, options.max_bytes * 9 / 10);  // The budget is actually used.
  EXPECT_EQ(stats.entries + stats.evictions, 20000);
}

TEST_F(ToolCacheTest, NamespaceBudgetEvictsOnlyThatNamespace) {
  ToolCacheOptions options;
  options.max_bytes = 1 << 20;
  options.namespace_max_bytes = 8 * 1024;
  auto cache = Open(options);
  ASSERT_OK(cache->ConfigureNamespace("big", {.max_bytes = 128 * 1024}));
  for (int i = 0; i < 200; ++i) {
    ASSERT_THAT(cache->Put(Key("t", absl::StrCat(i), "small"), std::string(300, 's'), ""), IsOk());
    ASSERT_THAT(cache->Put(Key("t", absl::StrCat(i), "big"), std::string(300, 'b'), ""), IsOk());
    ASSERT_LE(cache->Stats("small").bytes, 8 * 1024);
    ASSERT_LE(cache->Stats("big").bytes, 128 * 1024);
  }
  EXPECT_GT(cache->Stats("small").evictions, 150);
  EXPECT_EQ(cache->Stats("big").evictions, 0);
  EXPECT_EQ(cache->Stats("big").entries, 200);
  // The most recent entries of the small namespace survive (LRU within the namespace).
  EXPECT_EQ(cache->Get(Key("t", "199", "small"))->outcome, Outcome::kHit);
  EXPECT_EQ(cache->Get(Key("t", "0", "small"))->outcome, Outcome::kMiss);
  // Lowering a budget evicts at once.
  ASSERT_OK(cache->ConfigureNamespace("big", {.max_bytes = 4096}));
  EXPECT_LE(cache->Stats("big").bytes, 4096);
  EXPECT_THAT(cache->Put(Key("t", "x", "small"), std::string(9000, 'x'), ""),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("budget of namespace \"small\" (8192 bytes)")));
}

TEST_F(ToolCacheTest, StatsCountHitsMissesAndListNamespaces) {
  auto cache = Open();
  ASSERT_THAT(cache->Put(Key("t", "1", "a"), "v", ""), IsOk());
  ASSERT_THAT(cache->Put(Key("t", "1", "b"), "v", ""), IsOk());
  (void)cache->Get(Key("t", "1", "a"));
  (void)cache->Get(Key("t", "1", "a"));
  (void)cache->Get(Key("t", "2", "a"));
  (void)cache->Get(Key("t", "2", "never-written"));
  CacheStats a = cache->Stats("a");
  EXPECT_EQ(a.hits, 2);
  EXPECT_EQ(a.misses, 1);
  EXPECT_EQ(a.entries, 1);
  CacheStats all = cache->Stats("");
  EXPECT_EQ(all.hits, 2);
  EXPECT_EQ(all.misses, 2);
  EXPECT_EQ(all.entries, 2);
  EXPECT_EQ(all.max_bytes, cache->options().max_bytes);
  std::vector<NamespaceStats> list = cache->ListNamespaces();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].ns, "a");
  EXPECT_EQ(list[1].ns, "b");
  EXPECT_EQ(list[2].ns, "never-written");
  EXPECT_EQ(cache->Stats("unknown").entries, 0);
}

TEST_F(ToolCacheTest, ClearOneNamespaceOrAll) {
  auto cache = Open();
  for (int i = 0; i < 50; ++i) {
    ASSERT_THAT(cache->Put(Key("t", absl::StrCat(i), "a"), "v", ""), IsOk());
    ASSERT_THAT(cache->Put(Key("t", absl::StrCat(i), "b"), "v", ""), IsOk());
  }
  EXPECT_THAT(cache->Clear("a"), IsOkAndHolds(50));
  EXPECT_EQ(cache->Stats("a").entries, 0);
  EXPECT_EQ(cache->Stats("a").bytes, 0);
  EXPECT_EQ(cache->Stats("b").entries, 50);
  EXPECT_THAT(cache->Clear("nope"), IsOkAndHolds(0));
  EXPECT_THAT(cache->Clear(""), IsOkAndHolds(50));
  EXPECT_EQ(cache->Stats("").bytes, 0);
  EXPECT_EQ(cache->Stats("").evictions, 0);  // Clearing is not evicting.
}

TEST_F(ToolCacheTest, IdleEmptyNamespacesAreForgottenButTotalsKept) {
  ToolCacheOptions options;
  options.namespace_idle_timeout = absl::Minutes(10);
  auto cache = Open(options);
  for (int i = 0; i < 100; ++i) {
    const std::string ns = absl::StrCat("run-", i);
    ASSERT_THAT(cache->Put(Key("t", "i", ns), "v", "", {.ttl = absl::Minutes(1)}), IsOk());
    (void)cache->Get(Key("t", "i", ns));
  }
  ASSERT_OK(cache->ConfigureNamespace("configured", {.default_ttl = absl::Hours(1)}));
  ASSERT_THAT(cache->Put(Key("t", "i", "kept"), "v", ""), IsOk());
  EXPECT_EQ(cache->ListNamespaces().size(), 102u);
  clock_.Advance(absl::Minutes(5));
  cache->Tick();  // Entries expired, but the namespaces were used 5 minutes ago.
  EXPECT_EQ(cache->ListNamespaces().size(), 102u);
  clock_.Advance(absl::Minutes(6));
  cache->Tick();
  std::vector<NamespaceStats> left = cache->ListNamespaces();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].ns, "configured");
  EXPECT_EQ(left[1].ns, "kept");
  const CacheStats all = cache->Stats("");
  EXPECT_EQ(all.hits, 100);
  EXPECT_EQ(all.expirations, 100);
  // A forgotten namespace comes back on use.
  ASSERT_THAT(cache->Put(Key("t", "i", "run-3"), "again", ""), IsOk());
  EXPECT_EQ(cache->Get(Key("t", "i", "run-3"))->value, "again");
}

// ---- Single-flight ---------------------------------------------------------------------

TEST_F(ToolCacheTest, ClaimThenPutAnswersEveryWaiter) {
  auto cache = Open();
  const CacheKey key = Key("search", "q");
  Answers claimer, waiters, no_wait;
  EXPECT_EQ(cache->Lookup(key, {.claim = true}, claimer.Callback()), 0u);
  ASSERT_EQ(claimer.results.size(), 1u);
  ASSERT_THAT(claimer.results[0], IsOk());
  const LookupResult claim = *claimer.results[0];
  EXPECT_EQ(claim.outcome, Outcome::kClaimed);
  EXPECT_NE(claim.lease_id, 0u);
  EXPECT_EQ(claim.lease_expires_at, clock_.Now() + cache->options().default_lease);

  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)}, waiters.Callback()),
              0u);
  }
  EXPECT_TRUE(waiters.results.empty());
  // Without wait: told that someone is computing it.
  cache->Lookup(key, {.claim = true}, no_wait.Callback());
  ASSERT_EQ(no_wait.results.size(), 1u);
  EXPECT_EQ(no_wait.results[0]->outcome, Outcome::kMiss);
  EXPECT_TRUE(no_wait.results[0]->in_flight);
  EXPECT_EQ(cache->Stats("").claims, 1);

  ASSERT_OK_AND_ASSIGN(PutResult put,
                       cache->Put(key, "result", "text/plain", {.lease_id = claim.lease_id}));
  EXPECT_EQ(put.woken_waiters, 5);
  ASSERT_EQ(waiters.results.size(), 5u);
  for (const auto& r : waiters.results) {
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->outcome, Outcome::kHit);
    EXPECT_EQ(r->value, "result");
    EXPECT_TRUE(r->waited);
  }
  EXPECT_EQ(cache->Stats("").claims, 0);
  // The claim is over: the next lookup is a plain hit.
  EXPECT_EQ(cache->Get(key)->outcome, Outcome::kHit);
}

TEST_F(ToolCacheTest, ReleaseHandsTheClaimToTheOldestWaiter) {
  auto cache = Open();
  const CacheKey key = Key("t", "i");
  Answers first, second, third;
  cache->Lookup(key, {.claim = true}, first.Callback());
  cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)}, second.Callback());
  cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)}, third.Callback());
  EXPECT_THAT(cache->Release(key, first.results[0]->lease_id + 1, false),
              IsOkAndHolds(false));  // Not the claimer's lease: nothing happens.
  EXPECT_TRUE(second.results.empty());
  EXPECT_THAT(cache->Release(key, first.results[0]->lease_id, false), IsOkAndHolds(true));
  ASSERT_EQ(second.results.size(), 1u);
  EXPECT_EQ(second.results[0]->outcome, Outcome::kClaimed);
  EXPECT_TRUE(second.results[0]->waited);
  EXPECT_NE(second.results[0]->lease_id, first.results[0]->lease_id);
  EXPECT_TRUE(third.results.empty());
  // Releasing twice is harmless.
  EXPECT_THAT(cache->Release(key, first.results[0]->lease_id, false), IsOkAndHolds(false));
  ASSERT_THAT(cache->Put(key, "v", "", {.lease_id = second.results[0]->lease_id}), IsOk());
  ASSERT_EQ(third.results.size(), 1u);
  EXPECT_EQ(third.results[0]->value, "v");
}

TEST_F(ToolCacheTest, UncacheableReleaseTellsEveryWaiterToComputeItself) {
  auto cache = Open();
  const CacheKey key = Key("t", "i");
  Answers claimer, waiters;
  cache->Lookup(key, {.claim = true}, claimer.Callback());
  for (int i = 0; i < 3; ++i) {
    cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)}, waiters.Callback());
  }
  EXPECT_THAT(cache->Release(key, claimer.results[0]->lease_id, /*uncacheable=*/true),
              IsOkAndHolds(true));
  ASSERT_EQ(waiters.results.size(), 3u);
  for (const auto& r : waiters.results) {
    EXPECT_EQ(r->outcome, Outcome::kMiss);
    EXPECT_FALSE(r->in_flight);
  }
  EXPECT_EQ(cache->Stats("").claims, 0);
}

TEST_F(ToolCacheTest, RejectedPutWithLeaseAnswersWaitersWithMiss) {
  ToolCacheOptions options;
  options.max_value_bytes = 10;
  auto cache = Open(options);
  const CacheKey key = Key("t", "i");
  Answers claimer, waiter;
  cache->Lookup(key, {.claim = true}, claimer.Callback());
  cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)}, waiter.Callback());
  EXPECT_THAT(cache->Put(key, std::string(11, 'x'), "", {.lease_id = claimer.results[0]->lease_id}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("value")));
  ASSERT_EQ(waiter.results.size(), 1u);
  EXPECT_EQ(waiter.results[0]->outcome, Outcome::kMiss);
}

TEST_F(ToolCacheTest, LapsedLeasePassesToAWaiterOnTick) {
  auto cache = Open();
  const CacheKey key = Key("t", "i");
  Answers claimer, waiter;
  cache->Lookup(key, {.claim = true, .lease = absl::Seconds(5)}, claimer.Callback());
  cache->Lookup(key, {.claim = true, .lease = absl::Seconds(7), .wait = absl::Seconds(60)},
                waiter.Callback());
  EXPECT_EQ(cache->NextDeadline(), clock_.Now() + absl::Seconds(5));
  clock_.Advance(absl::Seconds(4));
  cache->Tick();
  EXPECT_TRUE(waiter.results.empty());
  clock_.Advance(absl::Seconds(1));
  cache->Tick();
  ASSERT_EQ(waiter.results.size(), 1u);
  EXPECT_EQ(waiter.results[0]->outcome, Outcome::kClaimed);
  EXPECT_EQ(waiter.results[0]->lease_expires_at, clock_.Now() + absl::Seconds(7));
  // The dead claimer's late Put still stores the value (it is a valid result).
  ASSERT_THAT(cache->Put(key, "late", "", {.lease_id = claimer.results[0]->lease_id}), IsOk());
  EXPECT_EQ(cache->Get(key)->value, "late");
}

TEST_F(ToolCacheTest, LapsedLeaseIsTakenOverByTheNextLookupWithoutTick) {
  auto cache = Open();
  const CacheKey key = Key("t", "i");
  Answers claimer, next;
  cache->Lookup(key, {.claim = true, .lease = absl::Seconds(5)}, claimer.Callback());
  clock_.Advance(absl::Seconds(6));
  cache->Lookup(key, {.claim = true, .wait = absl::Seconds(60)}, next.Callback());
  ASSERT_EQ(next.results.size(), 1u);
  EXPECT_EQ(next.results[0]->outcome, Outcome::kClaimed);
  EXPECT_FALSE(next.results[0]->waited);
}

TEST_F(ToolCacheTest, WaiterTimesOutWithInFlightMiss) {
  auto cache = Open();
  const CacheKey key = Key("t", "i");
  Answers claimer, waiter;
  cache->Lookup(key, {.claim = true}, claimer.Callback());
  cache->Lookup(key, {.claim = true, .wait = absl::Seconds(2)}, waiter.Callback());
  EXPECT_EQ(cache->NextDeadline(), clock_.Now() + absl::Seconds(2));
  clock_.Advance(absl::Seconds(2));
  cache->Tick();
  ASSERT_EQ(waiter.results.size(), 1u);
  EXPECT_EQ(waiter.results[0]->outcome, Outcome::kMiss);
  EXPECT_TRUE(waiter.results[0]->in_flight);
  EXPECT_TRUE(waiter.results[0]->waited);
  EXPECT_EQ(cache->Stats("").claims, 1);  // The claimer still holds its lease.
}

TEST_F(ToolCacheTest, CancelledWaiterIsNeverAnswered) {
  auto cache = Open();
  const CacheKey key = Key("t", "i");
  Answers claimer, cancelled, kept;
  cache->Lookup(key, {.claim = true}, claimer.Callback());
  const uint64_t id =
      cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)}, cancelled.Callback());
  cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)}, kept.Callback());
  EXPECT_TRUE(cache->CancelWait(key, id));
  EXPECT_FALSE(cache->CancelWait(key, id));
  ASSERT_THAT(cache->Put(key, "v", ""), IsOk());
  EXPECT_TRUE(cancelled.results.empty());
  ASSERT_EQ(kept.results.size(), 1u);
  EXPECT_FALSE(cache->CancelWait(key, 12345));
}

TEST_F(ToolCacheTest, CloseAnswersWaitersWithMiss) {
  auto cache = Open();
  const CacheKey key = Key("t", "i");
  Answers claimer, waiter, after;
  cache->Lookup(key, {.claim = true}, claimer.Callback());
  cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)}, waiter.Callback());
  ASSERT_OK(cache->Close());
  ASSERT_EQ(waiter.results.size(), 1u);
  EXPECT_EQ(waiter.results[0]->outcome, Outcome::kMiss);
  cache->Lookup(key, {}, after.Callback());
  EXPECT_THAT(after.results[0], StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(cache->Put(key, "v", ""), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
}

TEST_F(ToolCacheTest, ConcurrentClaimersOnRealThreadsComputeOnce) {
  auto cache = Open();
  const CacheKey key = Key("expensive", "same-input");
  std::atomic<int> computed{0};
  std::atomic<int> got_value{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      absl::Notification done;
      absl::StatusOr<LookupResult> answer;
      cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)},
                    [&](absl::StatusOr<LookupResult> r) {
                      answer = std::move(r);
                      done.Notify();
                    });
      done.WaitForNotification();
      ASSERT_THAT(answer, IsOk());
      if (answer->outcome == Outcome::kClaimed) {
        computed.fetch_add(1);
        absl::SleepFor(absl::Milliseconds(20));  // The "tool" runs.
        ASSERT_THAT(cache->Put(key, "computed", "", {.lease_id = answer->lease_id}), IsOk());
        got_value.fetch_add(1);
      } else if (answer->outcome == Outcome::kHit) {
        EXPECT_EQ(answer->value, "computed");
        got_value.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(computed.load(), 1);
  EXPECT_EQ(got_value.load(), 16);
}

// ---- Persistence -----------------------------------------------------------------------

class PersistentToolCacheTest : public ToolCacheTest {
 protected:
  ToolCacheOptions PersistOptions() {
    ToolCacheOptions options;
    options.persist = true;
    options.data_dir = dir_.path();
    return options;
  }
  TempDir dir_;
};

TEST_F(PersistentToolCacheTest, AcknowledgedPutsSurviveReopenWithTheirExpiry) {
  absl::Time expires;
  {
    auto cache = Open(PersistOptions());
    ASSERT_THAT(cache->Put(Key("t", "forever"), "v1", "application/json"), IsOk());
    ASSERT_OK_AND_ASSIGN(PutResult put,
                         cache->Put(Key("t", "ttl"), "v2", "text/plain", {.ttl = absl::Minutes(10)}));
    expires = put.expires_at;
    ASSERT_THAT(cache->Put(Key("t", "short"), "v3", "", {.ttl = absl::Seconds(30)}), IsOk());
    ASSERT_THAT(cache->Put(Key("t", "forever"), "v1b", "application/json"), IsOk());
    // A second instance opened while the first is still running sees every committed row.
    auto second = Open(PersistOptions());
    EXPECT_EQ(second->Get(Key("t", "forever"))->value, "v1b");
  }
  clock_.Advance(absl::Minutes(1));
  auto cache = Open(PersistOptions());
  ASSERT_OK_AND_ASSIGN(LookupResult forever, cache->Get(Key("t", "forever")));
  EXPECT_EQ(forever.outcome, Outcome::kHit);
  EXPECT_EQ(forever.value, "v1b");
  EXPECT_EQ(forever.content_type, "application/json");
  ASSERT_OK_AND_ASSIGN(LookupResult ttl, cache->Get(Key("t", "ttl")));
  EXPECT_EQ(ttl.value, "v2");
  EXPECT_EQ(ttl.expires_at, expires);  // The TTL neither resets nor extends.
  EXPECT_EQ(cache->Get(Key("t", "short"))->outcome, Outcome::kMiss);  // Expired while down.
  EXPECT_EQ(cache->Stats("").entries, 2);
}

TEST_F(PersistentToolCacheTest, ClearAndEvictionsAreDurable) {
  int64_t entries_at_close = 0;
  {
    auto cache = Open(PersistOptions());
    ASSERT_OK(cache->ConfigureNamespace("a", {.max_bytes = 16 * 2048}));
    for (int i = 0; i < 100; ++i) {
      ASSERT_THAT(cache->Put(Key("t", absl::StrCat(i), "a"), std::string(500, 'a'), ""), IsOk());
    }
    ASSERT_THAT(cache->Put(Key("t", "keep", "b"), "b", ""), IsOk());
    ASSERT_THAT(cache->Put(Key("t", "gone", "c"), "c", ""), IsOk());
    ASSERT_THAT(cache->Clear("c"), IsOkAndHolds(1));
    cache->Tick();  // Writes the evictions' row deletions.
    EXPECT_GT(cache->Stats("a").evictions, 40);
    entries_at_close = cache->Stats("a").entries;
    // No budget any more: what comes back at Open is exactly what is left in the file.
    ASSERT_OK(cache->ConfigureNamespace("a", {.max_bytes = 0}));
  }
  auto cache = Open(PersistOptions());
  EXPECT_EQ(cache->Get(Key("t", "keep", "b"))->value, "b");
  EXPECT_EQ(cache->Get(Key("t", "gone", "c"))->outcome, Outcome::kMiss);
  EXPECT_EQ(cache->Stats("a").entries, entries_at_close);
  EXPECT_EQ(cache->Get(Key("t", "99", "a"))->outcome, Outcome::kHit);
  EXPECT_EQ(cache->Get(Key("t", "0", "a"))->outcome, Outcome::kMiss);
}

TEST_F(PersistentToolCacheTest, NamespaceConfigIsPersisted) {
  {
    auto cache = Open(PersistOptions());
    ASSERT_OK(cache->ConfigureNamespace("n", {.default_ttl = absl::Seconds(42),
                                              .max_bytes = 10000}));
  }
  auto cache = Open(PersistOptions());
  ASSERT_OK_AND_ASSIGN(PutResult put, cache->Put(Key("t", "i", "n"), "v", ""));
  EXPECT_EQ(put.expires_at, clock_.Now() + absl::Seconds(42));
  EXPECT_EQ(cache->Stats("n").max_bytes, 10000);
}

TEST_F(PersistentToolCacheTest, LoadKeepsTheNewestRowsWithinTheBudget) {
  {
    auto cache = Open(PersistOptions());
    for (int i = 0; i < 200; ++i) {
      ASSERT_THAT(cache->Put(Key("t", absl::StrCat(i)), std::string(400, 'x'), ""), IsOk());
    }
  }
  ToolCacheOptions options = PersistOptions();
  options.max_bytes = 20 * 1024;
  options.num_shards = 1;
  auto cache = Open(options);
  const CacheStats stats = cache->Stats("");
  EXPECT_LE(stats.bytes, options.max_bytes);
  EXPECT_GT(stats.entries, 30);
  EXPECT_EQ(cache->Get(Key("t", "199"))->outcome, Outcome::kHit);
  EXPECT_EQ(cache->Get(Key("t", "0"))->outcome, Outcome::kMiss);
}

TEST_F(PersistentToolCacheTest, NotADatabaseIsDataLoss) {
  dir_.WriteFile("cache.db", std::string(8192, 'z'));
  EXPECT_THAT(ToolCache::Open(PersistOptions(), &clock_),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("cache.db")));
}

}  // namespace
}  // namespace fast_crewai::cache
