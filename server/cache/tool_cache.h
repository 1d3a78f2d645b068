// File: tool_cache.h
//
// ToolCache: tool results shared by every client process and kept across runs. This is the
// domain core behind fast_crewai.v1.CacheService; it has no gRPC or protobuf inside.
//
// A key is (namespace, tool, input), byte for byte as the client forms it (CrewAI's
// CacheHandler keys are f"{tool}-{input}"; the client sends the two parts). A value is an
// opaque byte string with a content type ("application/json" from the Python client).
//
// Example:
//   ToolCacheOptions options;
//   options.max_bytes = 64 << 20;
//   ASSIGN_OR_RETURN(std::unique_ptr<ToolCache> cache, ToolCache::Open(options, clock));
//   CacheKey key{"my-crew", "search", R"({"q": "otters"})"};
//   cache->Lookup(key, {.claim = true, .wait = absl::Seconds(30)},
//                 [](absl::StatusOr<LookupResult> r) { ... });   // kClaimed: run the tool
//   RETURN_IF_ERROR(cache->Put(key, "\"result\"", "application/json", {.lease_id = id})
//                       .status());                             // waiters get the value
//
// ---------------------------------------------------------------------------------------
// Semantics
//
// Expiry. Every entry has an absolute expiry: now + ttl, where a Put's ttl of 0 means the
// namespace default (ConfigureNamespace, else ToolCacheOptions::default_ttl), and a default
// of 0 means "never". An expired entry is never returned: lookups check the expiry, and
// Tick() removes expired entries (counted as expirations) so their bytes are freed.
//
// Budgets. `bytes` of an entry = namespace + tool + input + value + content type +
// kEntryOverheadBytes. The cache is split into `num_shards` shards by key hash; each shard
// holds at most max_bytes / num_shards bytes, so the total never exceeds max_bytes. A
// namespace holds at most its budget (ConfigureNamespace, else namespace_max_bytes, else
// unlimited) in total over all shards: when a Put takes it over, that namespace's least
// recently used entries (over all shards) are evicted until it fits. With
// concurrent Puts to one namespace the namespace may exceed its budget by the entries being
// inserted at that moment, for the duration of those calls.
//
// Admission and eviction: W-TinyLFU (Einziger, Friedman, Manes 2017; Caffeine's design), per
// shard. New entries enter a small LRU window (window_fraction of the shard, 1%); an entry
// leaving the window becomes a candidate for the main space, a segmented LRU of probation
// and protected (protected_fraction of main, 80%) segments. When the shard is over its
// budget the candidate is compared with the main space's victim (probation's LRU entry) by
// estimated access frequency (frequency_sketch.h: every lookup counts, with periodic aging):
// the less popular one is evicted. An entry hit in probation moves to protected. On skewed
// (Zipf) traces this keeps the popular entries that plain LRU flushes out on every scan of
// one-off keys; tests/cpp/cache measure >= 5 points of hit ratio over LRU at equal budget.
// A Put's value may therefore be evicted at once (it lost the admission contest); the Put
// still succeeds (PutResult::stored says so) and still answers single-flight waiters.
//
// Single-flight. Lookup with `claim` on a miss makes the caller the key's claimer: it gets a
// lease (lease_id, expiry) and should compute the value and Put it with that lease_id.
// Concurrent lookups of the same key that pass `wait` > 0 are parked (no thread blocks: their
// callbacks run later) until one of:
//   * any Put of the key: every waiter gets the value (kHit, waited = true);
//   * Release(lease_id): the claimer gave up (the tool failed). The oldest waiter that asked
//     to claim becomes the new claimer (kClaimed); with `uncacheable` (the result cannot be
//     shared) every waiter gets kMiss instead, so they all compute the value themselves;
//   * the lease lapses (claimer died or is slow): handled as Release without uncacheable, by
//     Tick() or by the next lookup of the key;
//   * the waiter's own `wait` elapses: it gets kMiss with in_flight = true (Tick());
//   * CancelWait() (the RPC was cancelled): its callback is never called.
// A lookup with claim while another lease is live and wait = 0 gets kMiss, in_flight = true.
// A Put that fails validation answers the waiters of its key with kMiss (uncacheable).
//
// Persistence (options.persist). Entries are written through to <data_dir>/cache.db
// (SQLite, WAL) before Put returns OK: an acknowledged Put survives a restart of the
// daemon, a crash (kill -9) included. With SqliteSync::kNormal (the default here: a cache
// can be recomputed) the last commits may be lost on a power failure; kFull also survives
// that. Every row keeps its absolute expiry, so a restart neither resets nor extends TTLs;
// expired rows are dropped at Open. Evictions and expirations delete their rows lazily
// (batched into the next write or Tick()); Clear deletes rows before it returns. Open loads
// the newest rows first until each shard's budget is full. Namespace configuration is
// persisted too. Claims and waiters are not persisted.
//
// Validation (before anything changes) errors name the field as in the API:
//   INVALID_ARGUMENT   key.namespace / key.tool empty or too long, key.input or
//                      content_type too long, ttl_millis / lease_millis / wait_millis out
//                      of range (the message gives the range).
//   RESOURCE_EXHAUSTED value (or the whole entry) larger than max_value_bytes, than one
//                      shard's budget, or than the namespace budget; the message names the
//                      limit and its value. Too many namespaces.
// Other errors: UNAVAILABLE (cache.db I/O or busy), DATA_LOSS (corrupt cache.db),
// FAILED_PRECONDITION (closed). No exception leaves this module.
//
// Thread-safety: every method is thread-safe. Callbacks passed to Lookup run exactly once
// (unless CancelWait returns true), on the calling thread when the answer is immediate, or
// on the thread of the Put / Release / Tick / Close that resolves them, never under a lock
// of the cache, so they may call back into it. They must not block.
#ifndef FAST_CREWAI_SERVER_CACHE_TOOL_CACHE_H_
#define FAST_CREWAI_SERVER_CACHE_TOOL_CACHE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/persistence/sqlite_db.h"
#include "server/util/clock.h"

namespace fast_crewai::cache {

// ---- Limits -------------------------------------------------------------------------------

inline constexpr size_t kMaxNamespaceBytes = 256;
inline constexpr size_t kMaxToolBytes = 1024;
inline constexpr size_t kMaxInputBytes = 1 << 20;
inline constexpr size_t kMaxContentTypeBytes = 128;
// Longest TTL a Put or a namespace default may ask for: one year.
inline constexpr absl::Duration kMaxTtl = absl::Hours(24 * 365);
inline constexpr absl::Duration kMaxLease = absl::Hours(1);
inline constexpr absl::Duration kMaxWait = absl::Minutes(10);
// Namespaces the cache tracks at most (each costs a few hundred bytes forever).
inline constexpr size_t kMaxNamespaces = 100000;
// Charged per entry on top of its strings, for the bookkeeping it costs.
inline constexpr int64_t kEntryOverheadBytes = 128;

struct CacheKey {
  std::string ns;     // Non-empty, at most kMaxNamespaceBytes.
  std::string tool;   // Non-empty, at most kMaxToolBytes.
  std::string input;  // Any bytes (may be empty), at most kMaxInputBytes.
};

struct ToolCacheOptions {
  // ---- Parameters that affect behaviour ----

  // Total budget over all namespaces, in bytes (see "Budgets"). Default: 256 MiB.
  int64_t max_bytes = int64_t{256} << 20;
  // Budget of each namespace unless ConfigureNamespace sets one; 0 = no namespace limit.
  // Default: 0.
  int64_t namespace_max_bytes = 0;
  // Largest value a Put may store. Default: 8 MiB.
  int64_t max_value_bytes = int64_t{8} << 20;
  // TTL of a Put that gives none, unless the namespace has its own; 0 = no expiry.
  // Default: 0 (CrewAI's own cache never expires within a run).
  absl::Duration default_ttl = absl::ZeroDuration();
  // Lease of a claim whose lookup gives none. Default: 60 s.
  absl::Duration default_lease = absl::Seconds(60);

  // ---- Persistence ----

  // Write entries through to <data_dir>/cache.db and load them at Open. Default: false.
  bool persist = false;
  // Required when persist is set.
  std::string data_dir;
  // Default: kNormal (survives kill -9, not a power loss; see "Persistence").
  persistence::SqliteSync sync = persistence::SqliteSync::kNormal;
  int busy_timeout_ms = 5000;

  // ---- Parameters that affect performance ----

  // Independently locked shards. Default: 16. REQUIRES: 1..256.
  int num_shards = 16;
  // Share of each shard for the admission window. Default: 0.01.
  double window_fraction = 0.01;
  // Share of the main space for the protected segment. Default: 0.8.
  double protected_fraction = 0.8;
  // Seeds the admission tie-breaker (reproducible tests). Default: 0 = random.
  uint64_t random_seed = 0;
  // A namespace that holds nothing, was never configured and was not used for this long is
  // forgotten by Tick() (its counters move into the whole-cache totals), so that per-run
  // namespaces do not accumulate forever. Default: 10 min.
  absl::Duration namespace_idle_timeout = absl::Minutes(10);
};

struct LookupOptions {
  // On a miss with no live claim, make the caller the claimer (kClaimed).
  bool claim = false;
  // Lease length of a claim; 0 = options.default_lease. At most kMaxLease.
  absl::Duration lease = absl::ZeroDuration();
  // How long to wait for another claimer's value; 0 = answer at once. At most kMaxWait.
  absl::Duration wait = absl::ZeroDuration();
};

struct LookupResult {
  enum class Outcome {
    kHit,      // value/content_type/expires_at are set.
    kMiss,     // Not cached; compute the value without a claim (or retry later).
    kClaimed,  // Not cached and the caller is the claimer: lease_id/lease_expires_at set.
  };
  Outcome outcome = Outcome::kMiss;
  std::string value;
  std::string content_type;
  // absl::InfiniteFuture() when the entry never expires.
  absl::Time expires_at = absl::InfiniteFuture();
  uint64_t lease_id = 0;
  absl::Time lease_expires_at = absl::InfinitePast();
  // The call was parked behind another claimer before this answer.
  bool waited = false;
  // kMiss only: another caller held a live claim on the key when the answer was given.
  bool in_flight = false;
};

using LookupCallback = absl::AnyInvocable<void(absl::StatusOr<LookupResult>)>;

struct PutOptions {
  // 0 = the namespace default. At most kMaxTtl.
  absl::Duration ttl = absl::ZeroDuration();
  // The lease from a kClaimed lookup, or 0. Any Put of a key answers its waiters; the lease
  // only matters for a Put that fails validation (its waiters are then told kMiss).
  uint64_t lease_id = 0;
};

struct PutResult {
  // False when W-TinyLFU admission evicted the value at once (see "Admission").
  bool stored = false;
  absl::Time expires_at = absl::InfiniteFuture();
  // Single-flight waiters answered with this value.
  int woken_waiters = 0;
};

struct CacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t evictions = 0;
  int64_t expirations = 0;
  int64_t bytes = 0;
  int64_t entries = 0;
  // The budget that applies: max_bytes overall, the namespace budget for a namespace
  // (0 = no namespace limit).
  int64_t max_bytes = 0;
  // Keys with a live claim, and lookups parked behind them (overall only; 0 for a namespace).
  int64_t claims = 0;
  int64_t waiters = 0;
};

struct NamespaceConfig {
  // Default TTL of Puts without one; nullopt = keep; 0 = never expire.
  std::optional<absl::Duration> default_ttl = std::nullopt;
  // Budget of the namespace; nullopt = keep; 0 = back to options.namespace_max_bytes.
  std::optional<int64_t> max_bytes = std::nullopt;
};

// What a Put or a Clear made stale, for clients that keep copies (near-caches).
struct Invalidation {
  enum class Kind {
    kKey,        // (ns, tool, input) has a new value.
    kNamespace,  // Every entry of ns was removed.
    kAll,        // Every entry was removed.
  };
  Kind kind = Kind::kKey;
  std::string ns;
  std::string tool;
  std::string input;
};

using InvalidationListener = std::function<void(const Invalidation&)>;

struct NamespaceStats {
  std::string ns;
  CacheStats stats;
  // Effective values (after defaults).
  absl::Duration default_ttl = absl::ZeroDuration();
};

class CacheDb;
class CacheShard;
struct NamespaceState;

class ToolCache {
 public:
  // Opens the cache; with options.persist, opens (creating) <data_dir>/cache.db and loads
  // its unexpired entries. `clock` is not owned and must outlive the cache.
  // Errors: INVALID_ARGUMENT (bad options), UNAVAILABLE / DATA_LOSS / FAILED_PRECONDITION
  // from cache.db (see sqlite_db.h).
  static absl::StatusOr<std::unique_ptr<ToolCache>> Open(const ToolCacheOptions& options,
                                                         Clock* clock);

  ToolCache(const ToolCache&) = delete;
  ToolCache& operator=(const ToolCache&) = delete;
  // Calls Close().
  ~ToolCache();

  // Looks `key` up (see "Single-flight"). `done` runs exactly once with the answer or a
  // validation error, unless CancelWait(key, id) returns true. Returns 0 when `done` has
  // already run; otherwise a wait id for CancelWait (the call was parked; `done` may
  // nevertheless run on another thread before Lookup returns).
  uint64_t Lookup(const CacheKey& key, const LookupOptions& options, LookupCallback done);

  // Un-parks the waiter `wait_id` of `key`. Returns true when it was still waiting: its
  // callback will never run. False when it was answered (or is being answered) already.
  bool CancelWait(const CacheKey& key, uint64_t wait_id);

  // Lookup without claim or wait, synchronously.
  absl::StatusOr<LookupResult> Get(const CacheKey& key);

  // Stores `value` under `key` (replacing any value) and answers the key's waiters.
  absl::StatusOr<PutResult> Put(const CacheKey& key, std::string value, std::string content_type,
                                const PutOptions& options = {});

  // Gives up the claim `lease_id` on `key` (see "Single-flight"). Returns true when that
  // claim was live, false when it had lapsed or been superseded (nothing changes).
  absl::StatusOr<bool> Release(const CacheKey& key, uint64_t lease_id, bool uncacheable);

  // Removes every entry of namespace `ns`, or of every namespace when `ns` is empty.
  // Claims and statistics counters are kept. Returns the number of entries removed.
  absl::StatusOr<int64_t> Clear(absl::string_view ns);

  // Statistics of `ns`, or of the whole cache when `ns` is empty. An unknown namespace has
  // all-zero counters.
  CacheStats Stats(absl::string_view ns);

  // Every namespace the cache knows, sorted by name.
  std::vector<NamespaceStats> ListNamespaces();

  // Sets the default TTL and/or budget of `ns` (created if unknown; persisted). A smaller
  // budget evicts at once. Errors: INVALID_ARGUMENT naming default_ttl_millis / max_bytes.
  absl::Status ConfigureNamespace(absl::string_view ns, const NamespaceConfig& config);

  // ---- Time-driven work (the daemon's Ticker calls these; tests call them directly) ------

  // Removes expired entries, lapses expired leases, times out waiters, and writes pending
  // row deletions to cache.db.
  void Tick();

  // The earliest instant at which Tick() has a lease or a waiter to time out, or an entry to
  // expire; absl::InfiniteFuture() when none.
  absl::Time NextDeadline();

  // `wakeup` is called (outside the shards' locks) whenever a lease or a waiter with a deadline
  // is added, so a timer waiting for NextDeadline() can re-read it. Null unregisters it. May be
  // called at any time; `wakeup` must not call back into the cache.
  void SetWakeup(std::function<void()> wakeup);

  // `listener` is called (outside any lock, on the caller's thread, after the change is
  // visible) for every Put (kKey, whether or not the value was admitted) and every Clear
  // (kNamespace / kAll). Evictions and expirations are not reported: an evicted value was not
  // wrong, and clients know each entry's expiry. REQUIRES: called before concurrent use.
  void SetInvalidationListener(InvalidationListener listener);

  // Answers every waiter with kMiss, writes pending deletions, checkpoints and closes
  // cache.db. Further calls fail with FAILED_PRECONDITION (Lookup answers that through its
  // callback). Idempotent.
  absl::Status Close();

  const ToolCacheOptions& options() const { return options_; }

 private:
  friend class CacheShard;

  ToolCache(const ToolCacheOptions& options, Clock* clock);

  absl::Status Load();
  CacheShard& ShardFor(uint64_t hash);
  // Both return the state with a reference taken (see NamespaceRef in the .cc), which keeps
  // CollectIdleNamespaces() from deleting it; the caller must drop it.
  NamespaceState* FindNamespace(absl::string_view ns);
  absl::StatusOr<NamespaceState*> GetOrCreateNamespace(absl::string_view ns);
  void CollectIdleNamespaces(absl::Time now);
  // Calls the registered wakeup, if any.
  void Wake();
  int64_t NamespaceBudget(const NamespaceState& ns) const;
  absl::Duration NamespaceDefaultTtl(const NamespaceState& ns) const;
  void EnforceNamespaceBudget(NamespaceState* ns);
  uint64_t NewLeaseId();
  uint64_t NextAccessStamp();
  absl::Duration LeaseFor(const LookupOptions& options) const;
  // Answers the waiters of `key` without storing anything: with the value (DB write
  // failed) or kMiss (the value was rejected; only when `lease_id` holds the claim).
  void AnswerWaitersWithoutStoring(const std::string& encoded_key, uint64_t hash,
                                   const std::string* value, const std::string& content_type,
                                   absl::Time expires_at, uint64_t lease_id);

  const ToolCacheOptions options_;
  Clock* const clock_;
  std::vector<std::unique_ptr<CacheShard>> shards_;
  std::unique_ptr<CacheDb> db_;  // Null unless options_.persist.
  absl::Mutex wakeup_mu_;
  std::function<void()> wakeup_ ABSL_GUARDED_BY(wakeup_mu_);
  InvalidationListener invalidation_listener_;

  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> next_lease_{0};
  std::atomic<uint64_t> next_wait_id_{1};
  std::atomic<uint64_t> access_clock_{0};
  std::atomic<int64_t> next_seq_{1};
  // Misses of namespaces that hold nothing and were never configured (no state is created
  // for reads).
  std::atomic<int64_t> unknown_namespace_misses_{0};

  std::atomic<int64_t> last_namespace_gc_micros_{0};

  absl::Mutex ns_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<NamespaceState>> namespaces_
      ABSL_GUARDED_BY(ns_mu_);
  // Counters of namespaces forgotten by CollectIdleNamespaces().
  CacheStats retired_ ABSL_GUARDED_BY(ns_mu_);
};

}  // namespace fast_crewai::cache

#endif  // FAST_CREWAI_SERVER_CACHE_TOOL_CACHE_H_
