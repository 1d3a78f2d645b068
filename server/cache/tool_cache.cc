#include "server/cache/tool_cache.h"

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <utility>

#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "server/cache/cache_db.h"
#include "server/cache/frequency_sketch.h"
#include "server/util/logging.h"

namespace fast_crewai::cache {

// Per-namespace configuration and counters. Created on first use and never destroyed while
// the cache lives (entries point at it). Counters are updated under shard locks, read
// without them.
struct NamespaceState {
  explicit NamespaceState(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::atomic<int64_t> hits{0};
  std::atomic<int64_t> misses{0};
  std::atomic<int64_t> evictions{0};
  std::atomic<int64_t> expirations{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> entries{0};
  std::atomic<int64_t> max_bytes{0};            // 0 = not set.
  std::atomic<int64_t> default_ttl_micros{-1};  // -1 = not set.
  std::atomic<bool> configured{false};          // ConfigureNamespace was called.
  // Operations holding a pointer to this state (taken under ns_mu_, see NamespaceRef).
  std::atomic<int64_t> refs{0};
  std::atomic<int64_t> last_used_micros{0};
};

namespace {

// Holds a reference on a NamespaceState for the duration of an operation, so that
// CollectIdleNamespaces() (which deletes only states with no reference and no entries, under
// the registry's writer lock) cannot free it underneath. Entries keep their state alive by
// being counted in `entries`, which is decremented last when an entry goes.
class NamespaceRef {
 public:
  NamespaceRef() = default;
  explicit NamespaceRef(NamespaceState* state) : state_(state) {}
  NamespaceRef(const NamespaceRef&) = delete;
  NamespaceRef& operator=(const NamespaceRef&) = delete;
  NamespaceRef(NamespaceRef&& other) noexcept : state_(other.state_) { other.state_ = nullptr; }
  NamespaceRef& operator=(NamespaceRef&& other) noexcept {
    if (this != &other) {
      if (state_ != nullptr) state_->refs.fetch_sub(1, std::memory_order_release);
      state_ = other.state_;
      other.state_ = nullptr;
    }
    return *this;
  }
  ~NamespaceRef() {
    if (state_ != nullptr) state_->refs.fetch_sub(1, std::memory_order_release);
  }
  NamespaceState* get() const { return state_; }
  NamespaceState* operator->() const { return state_; }
  explicit operator bool() const { return state_ != nullptr; }

 private:
  NamespaceState* state_ = nullptr;
};

enum class Region : uint8_t { kWindow, kProbation, kProtected };
enum class RemoveReason : uint8_t { kEvicted, kExpired, kCleared };

// Caffeine's threshold above which a losing candidate is still admitted 1 time in 128, so
// that an attacker cannot pin a victim by inflating its frequency (hash flooding).
constexpr int kAdmitHashDosThreshold = 6;

struct Entry {
  const std::string* key = nullptr;  // The map key (encoded), owned by the map node.
  NamespaceState* ns = nullptr;
  std::string value;
  std::string content_type;
  absl::Time expires_at = absl::InfiniteFuture();
  int64_t charge = 0;
  int64_t seq = 0;
  uint64_t hash = 0;
  // Logical time of the last insert, update or hit: orders a namespace's entries across shards.
  uint64_t last_access = 0;
  Region region = Region::kWindow;
  Entry* prev = nullptr;  // Policy list (window, probation or protected).
  Entry* next = nullptr;
  Entry* ns_prev = nullptr;  // The namespace's LRU list in this shard.
  Entry* ns_next = nullptr;
  bool has_expiry = false;
  std::multimap<absl::Time, Entry*>::iterator expiry_it;
};

// An intrusive doubly linked list, front = least recently used, with the bytes it holds.
template <Entry* Entry::*kPrev, Entry* Entry::*kNext>
class EntryList {
 public:
  Entry* front() const { return head_; }
  bool empty() const { return head_ == nullptr; }
  int64_t bytes() const { return bytes_; }

  void PushBack(Entry* e) {
    e->*kPrev = tail_;
    e->*kNext = nullptr;
    if (tail_ != nullptr) {
      tail_->*kNext = e;
    } else {
      head_ = e;
    }
    tail_ = e;
    bytes_ += e->charge;
  }
  void PushFront(Entry* e) {
    e->*kNext = head_;
    e->*kPrev = nullptr;
    if (head_ != nullptr) {
      head_->*kPrev = e;
    } else {
      tail_ = e;
    }
    head_ = e;
    bytes_ += e->charge;
  }
  void Remove(Entry* e) {
    if (e->*kPrev != nullptr) {
      e->*kPrev->*kNext = e->*kNext;
    } else {
      head_ = e->*kNext;
    }
    if (e->*kNext != nullptr) {
      e->*kNext->*kPrev = e->*kPrev;
    } else {
      tail_ = e->*kPrev;
    }
    e->*kPrev = nullptr;
    e->*kNext = nullptr;
    bytes_ -= e->charge;
  }
  void MoveToBack(Entry* e) {
    if (tail_ == e) return;
    Remove(e);
    PushBack(e);
  }

 private:
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
  int64_t bytes_ = 0;
};

using PolicyList = EntryList<&Entry::prev, &Entry::next>;
using NamespaceList = EntryList<&Entry::ns_prev, &Entry::ns_next>;

struct Waiter {
  uint64_t id = 0;
  absl::Time deadline;
  bool claim = false;
  absl::Duration lease;
  LookupCallback done;
  // The waiter's lookup is counted as a hit or a miss when it is answered, in this namespace
  // (null when the namespace could not be tracked).
  NamespaceRef ns;

  // Counts the answer and takes the callback.
  LookupCallback Answered(bool hit) {
    if (ns) (hit ? ns->hits : ns->misses).fetch_add(1, std::memory_order_relaxed);
    return std::move(done);
  }
};

struct Flight {
  uint64_t lease_id = 0;
  absl::Time lease_expires_at;
  std::deque<Waiter> waiters;
};

// An answer to deliver once no lock is held.
struct Answer {
  LookupCallback done;
  absl::StatusOr<LookupResult> result;
};

void Deliver(std::vector<Answer>& answers) {
  for (Answer& a : answers) a.done(std::move(a.result));
  answers.clear();
}

// Encoding of (namespace, tool, input) as one map key: [u32 len][ns][u32 len][tool][input].
void AppendU32(std::string& out, uint32_t v) {
  char bytes[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                   static_cast<char>(v >> 24)};
  out.append(bytes, 4);
}

uint32_t ReadU32(const std::string& in, size_t pos) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos);
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

std::string EncodeKey(absl::string_view ns, absl::string_view tool, absl::string_view input) {
  std::string out;
  out.reserve(8 + ns.size() + tool.size() + input.size());
  AppendU32(out, static_cast<uint32_t>(ns.size()));
  out.append(ns.data(), ns.size());
  AppendU32(out, static_cast<uint32_t>(tool.size()));
  out.append(tool.data(), tool.size());
  out.append(input.data(), input.size());
  return out;
}

RowDelete DecodeRow(const std::string& encoded, int64_t seq) {
  RowDelete row;
  const uint32_t ns_len = ReadU32(encoded, 0);
  row.ns = encoded.substr(4, ns_len);
  const uint32_t tool_len = ReadU32(encoded, 4 + ns_len);
  row.tool = encoded.substr(8 + ns_len, tool_len);
  row.input = encoded.substr(8 + ns_len + tool_len);
  row.seq = seq;
  return row;
}

uint64_t HashKey(const std::string& encoded) {
  // absl::Hash is seeded per process, which is fine: hashes never leave the process.
  uint64_t h = absl::Hash<std::string>{}(encoded);
  // Extra mixing so that the shard (high bits) and the sketch (all bits) look independent.
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  return h;
}

int64_t ChargeOf(const CacheKey& key, size_t value_size, size_t content_type_size) {
  return static_cast<int64_t>(key.ns.size() + key.tool.size() + key.input.size() + value_size +
                              content_type_size) +
         kEntryOverheadBytes;
}

std::string Millis(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d)); }

absl::Status ValidateKey(const CacheKey& key) {
  if (key.ns.empty()) return absl::InvalidArgumentError("key.namespace: must not be empty");
  if (key.ns.size() > kMaxNamespaceBytes) {
    return absl::InvalidArgumentError(absl::StrCat("key.namespace: ", key.ns.size(),
                                                   " bytes is longer than the limit of ",
                                                   kMaxNamespaceBytes, " bytes"));
  }
  if (key.tool.empty()) return absl::InvalidArgumentError("key.tool: must not be empty");
  if (key.tool.size() > kMaxToolBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key.tool: ", key.tool.size(), " bytes is longer than the limit of ", kMaxToolBytes,
        " bytes"));
  }
  if (key.input.size() > kMaxInputBytes) {
    return absl::InvalidArgumentError(absl::StrCat("key.input: ", key.input.size(),
                                                   " bytes is longer than the limit of ",
                                                   kMaxInputBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDuration(absl::string_view field, absl::Duration d, absl::Duration max,
                              absl::string_view zero_means) {
  if (d < absl::ZeroDuration() || d > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", Millis(d),
                                                   " is out of range (expected 0 to ",
                                                   Millis(max), "; 0 = ", zero_means, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateContentType(absl::string_view content_type) {
  if (content_type.size() > kMaxContentTypeBytes) {
    return absl::InvalidArgumentError(absl::StrCat("content_type: ", content_type.size(),
                                                   " bytes is longer than the limit of ",
                                                   kMaxContentTypeBytes, " bytes"));
  }
  for (char c : content_type) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError("content_type: must be printable ASCII");
    }
  }
  return absl::OkStatus();
}

LookupResult MissResult(bool in_flight, bool waited) {
  LookupResult r;
  r.outcome = LookupResult::Outcome::kMiss;
  r.in_flight = in_flight;
  r.waited = waited;
  return r;
}

LookupResult HitResult(const std::string& value, const std::string& content_type,
                       absl::Time expires_at, bool waited) {
  LookupResult r;
  r.outcome = LookupResult::Outcome::kHit;
  r.value = value;
  r.content_type = content_type;
  r.expires_at = expires_at;
  r.waited = waited;
  return r;
}

LookupResult ClaimedResult(const Flight& flight, bool waited) {
  LookupResult r;
  r.outcome = LookupResult::Outcome::kClaimed;
  r.lease_id = flight.lease_id;
  r.lease_expires_at = flight.lease_expires_at;
  r.waited = waited;
  return r;
}

}  // namespace

// ===== CacheShard ============================================================================
// One independently locked part of the cache: its entries, its W-TinyLFU lists and sketch,
// its expiry index and the single-flight state of its keys.
class CacheShard {
 public:
  CacheShard(ToolCache* owner, int64_t capacity, const ToolCacheOptions& options, uint64_t seed)
      : owner_(owner),
        capacity_(capacity),
        window_cap_(std::max<int64_t>(1, static_cast<int64_t>(capacity * options.window_fraction))),
        protected_cap_(static_cast<int64_t>((capacity - window_cap_) * options.protected_fraction)),
        rng_(seed) {}

  absl::Mutex mu;

  int64_t capacity() const { return capacity_; }

  Entry* Find(const std::string& encoded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = entries_.find(encoded);
    return it == entries_.end() ? nullptr : &it->second;
  }

  void RecordAccess(uint64_t hash) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { sketch_.Increment(hash); }

  // A hit: moves `e` up in its segment (probation -> protected).
  void Touch(Entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    switch (e->region) {
      case Region::kWindow:
        window_.MoveToBack(e);
        break;
      case Region::kProbation:
        probation_.Remove(e);
        e->region = Region::kProtected;
        protected_.PushBack(e);
        DemoteProtectedOverflow();
        break;
      case Region::kProtected:
        protected_.MoveToBack(e);
        break;
    }
    e->last_access = owner_->NextAccessStamp();
    ns_lists_[e->ns].MoveToBack(e);
  }

  // Inserts a new entry in the window (or, for `loaded`, at the MRU... LRU end of probation:
  // rows arrive newest first) and evicts what the policy says. Returns the entry.
  Entry* Insert(const std::string& encoded, uint64_t hash, NamespaceState* ns, std::string value,
                std::string content_type, absl::Time expires_at, int64_t charge, int64_t seq,
                bool loaded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto [it, inserted] = entries_.try_emplace(encoded);
    Entry& e = it->second;
    e.key = &it->first;
    e.ns = ns;
    e.value = std::move(value);
    e.content_type = std::move(content_type);
    e.expires_at = expires_at;
    e.charge = charge;
    e.seq = seq;
    e.hash = hash;
    e.last_access = loaded ? 0 : owner_->NextAccessStamp();
    if (loaded) {
      e.region = Region::kProbation;
      probation_.PushFront(&e);
      ns_lists_[ns].PushFront(&e);
    } else {
      e.region = Region::kWindow;
      window_.PushBack(&e);
      ns_lists_[ns].PushBack(&e);
    }
    SetExpiry(&e);
    ns->bytes.fetch_add(charge, std::memory_order_relaxed);
    ns->entries.fetch_add(1, std::memory_order_relaxed);
    sketch_.EnsureCapacity(entries_.size());
    if (!loaded) Evict();
    return &e;
  }

  // Replaces the value of an existing entry in place (its position and frequency stay).
  void Update(Entry* e, std::string value, std::string content_type, absl::Time expires_at,
              int64_t charge, int64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    PolicyList& list = ListOf(e->region);
    NamespaceList& ns_list = ns_lists_[e->ns];
    list.Remove(e);
    ns_list.Remove(e);
    e->ns->bytes.fetch_add(charge - e->charge, std::memory_order_relaxed);
    e->value = std::move(value);
    e->content_type = std::move(content_type);
    e->expires_at = expires_at;
    e->charge = charge;
    e->seq = seq;
    e->last_access = owner_->NextAccessStamp();
    list.PushBack(e);
    ns_list.PushBack(e);
    SetExpiry(e);
    if (e->region == Region::kProtected) DemoteProtectedOverflow();
    Evict();
  }

  void Remove(Entry* e, RemoveReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ListOf(e->region).Remove(e);
    auto ns_it = ns_lists_.find(e->ns);
    ns_it->second.Remove(e);
    if (ns_it->second.empty()) ns_lists_.erase(ns_it);
    if (e->has_expiry) expiry_.erase(e->expiry_it);
    NamespaceState* ns = e->ns;
    ns->bytes.fetch_sub(e->charge, std::memory_order_relaxed);
    if (reason == RemoveReason::kEvicted) ns->evictions.fetch_add(1, std::memory_order_relaxed);
    if (reason == RemoveReason::kExpired) ns->expirations.fetch_add(1, std::memory_order_relaxed);
    // Last touch of `ns`: once `entries` may read 0 the state may be collected.
    ns->entries.fetch_sub(1, std::memory_order_release);
    if (owner_->db_ != nullptr && reason != RemoveReason::kCleared) {
      owner_->db_->QueueDelete(DecodeRow(*e->key, e->seq));
    }
    auto it = entries_.find(*e->key);
    entries_.erase(it);
  }

  // Removes every expired entry; returns how many.
  int64_t ExpireUntil(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    int64_t n = 0;
    while (!expiry_.empty() && expiry_.begin()->first <= now) {
      Remove(expiry_.begin()->second, RemoveReason::kExpired);
      ++n;
    }
    return n;
  }

  // The last_access stamp of the namespace's least recently used entry in this shard;
  // UINT64_MAX when the shard holds none of it.
  uint64_t OldestStamp(NamespaceState* ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = ns_lists_.find(ns);
    return it == ns_lists_.end() ? UINT64_MAX : it->second.front()->last_access;
  }

  // Evicts the namespace's least recently used entry here if its stamp is still `stamp`.
  bool EvictOldest(NamespaceState* ns, uint64_t stamp) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = ns_lists_.find(ns);
    if (it == ns_lists_.end() || it->second.front()->last_access != stamp) return false;
    Remove(it->second.front(), RemoveReason::kEvicted);
    return true;
  }

  // Removes the entries of `ns` (nullptr = all); returns how many.
  int64_t Clear(NamespaceState* ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    int64_t n = 0;
    if (ns == nullptr) {
      while (!entries_.empty()) {
        Remove(&entries_.begin()->second, RemoveReason::kCleared);
        ++n;
      }
      return n;
    }
    while (true) {
      auto it = ns_lists_.find(ns);
      if (it == ns_lists_.end()) return n;
      Remove(it->second.front(), RemoveReason::kCleared);
      ++n;
    }
  }

  // Whether `bytes` more fit without evicting (for loading).
  bool Fits(int64_t bytes) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return TotalBytes() + bytes <= capacity_;
  }

  // ---- Single-flight ----

  absl::flat_hash_map<std::string, Flight>& flights() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return flights_;
  }

  // The claim of `flight` ended without a value. With `uncacheable` every waiter is told
  // kMiss; otherwise the oldest waiter that asked to claim becomes the claimer (waiters
  // before it that did not ask are told kMiss). Returns false when the flight is over (no
  // new claimer) and must be erased.
  bool HandOver(Flight& flight, absl::Time now, bool uncacheable, std::vector<Answer>* answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (!flight.waiters.empty()) {
      Waiter w = std::move(flight.waiters.front());
      flight.waiters.pop_front();
      if (!uncacheable && w.claim) {
        flight.lease_id = owner_->NewLeaseId();
        flight.lease_expires_at = now + w.lease;
        answers->push_back(Answer{w.Answered(false), ClaimedResult(flight, /*waited=*/true)});
        return true;
      }
      answers->push_back(Answer{w.Answered(false), MissResult(/*in_flight=*/false, true)});
    }
    return false;
  }

  // Times out waiters and lapses leases at `now`.
  void ExpireFlights(absl::Time now, std::vector<Answer>* answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto it = flights_.begin(); it != flights_.end();) {
      Flight& f = it->second;
      for (auto w = f.waiters.begin(); w != f.waiters.end();) {
        if (w->deadline <= now) {
          answers->push_back(Answer{w->Answered(false), MissResult(/*in_flight=*/true, true)});
          w = f.waiters.erase(w);
        } else {
          ++w;
        }
      }
      if (f.lease_expires_at <= now && !HandOver(f, now, /*uncacheable=*/false, answers)) {
        flights_.erase(it++);
      } else {
        ++it;
      }
    }
  }

  // Every waiter of every flight is answered kMiss and every flight dropped (Close).
  void AbandonFlights(std::vector<Answer>* answers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto& [key, f] : flights_) {
      for (Waiter& w : f.waiters) {
        answers->push_back(Answer{w.Answered(false), MissResult(/*in_flight=*/false, true)});
      }
    }
    flights_.clear();
  }

  absl::Time NextDeadline() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    absl::Time next = absl::InfiniteFuture();
    if (!expiry_.empty()) next = expiry_.begin()->first;
    for (const auto& [key, f] : flights_) {
      next = std::min(next, f.lease_expires_at);
      for (const Waiter& w : f.waiters) next = std::min(next, w.deadline);
    }
    return next;
  }

  int64_t ClaimCount() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return static_cast<int64_t>(flights_.size());
  }

  int64_t WaiterCount() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    int64_t n = 0;
    for (const auto& [key, f] : flights_) n += static_cast<int64_t>(f.waiters.size());
    return n;
  }

 private:
  int64_t TotalBytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return window_.bytes() + probation_.bytes() + protected_.bytes();
  }

  PolicyList& ListOf(Region r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    switch (r) {
      case Region::kWindow:
        return window_;
      case Region::kProbation:
        return probation_;
      case Region::kProtected:
        break;
    }
    return protected_;
  }

  void SetExpiry(Entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (e->has_expiry) expiry_.erase(e->expiry_it);
    e->has_expiry = e->expires_at != absl::InfiniteFuture();
    if (e->has_expiry) e->expiry_it = expiry_.emplace(e->expires_at, e);
  }

  void DemoteProtectedOverflow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (protected_.bytes() > protected_cap_ && !protected_.empty()) {
      Entry* e = protected_.front();
      protected_.Remove(e);
      e->region = Region::kProbation;
      probation_.PushBack(e);
    }
  }

  // TinyLFU admission: the candidate replaces the victim only if it is more popular (or,
  // rarely, when it is popular enough and the dice say so).
  bool Admit(const Entry* candidate, const Entry* victim) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const int candidate_freq = sketch_.Estimate(candidate->hash);
    const int victim_freq = sketch_.Estimate(victim->hash);
    if (candidate_freq > victim_freq) return true;
    if (candidate_freq >= kAdmitHashDosThreshold) return (rng_() & 127) == 0;
    return false;
  }

  // Moves the window's overflow into probation as candidates, then, while the shard is over
  // its budget, evicts the loser of candidate vs. victim (probation's LRU entry, else
  // protected's).
  void Evict() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Entry* candidate = nullptr;
    while (window_.bytes() > window_cap_ && !window_.empty()) {
      Entry* e = window_.front();
      window_.Remove(e);
      e->region = Region::kProbation;
      probation_.PushBack(e);
      if (candidate == nullptr) candidate = e;
    }
    while (TotalBytes() > capacity_) {
      Entry* victim = probation_.front();
      if (victim == candidate) victim = nullptr;  // Only candidates are left in probation.
      if (victim == nullptr) victim = protected_.front();
      if (candidate == nullptr) {
        if (victim == nullptr) victim = window_.front();
        if (victim == nullptr) return;
        Remove(victim, RemoveReason::kEvicted);
        continue;
      }
      if (victim == nullptr || !Admit(candidate, victim)) {
        Entry* next = candidate->next;
        Remove(candidate, RemoveReason::kEvicted);
        candidate = next;
      } else {
        Remove(victim, RemoveReason::kEvicted);
      }
    }
  }

  ToolCache* const owner_;
  const int64_t capacity_;
  const int64_t window_cap_;
  const int64_t protected_cap_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu);
  absl::node_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu);
  PolicyList window_ ABSL_GUARDED_BY(mu);
  PolicyList probation_ ABSL_GUARDED_BY(mu);
  PolicyList protected_ ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<NamespaceState*, NamespaceList> ns_lists_ ABSL_GUARDED_BY(mu);
  std::multimap<absl::Time, Entry*> expiry_ ABSL_GUARDED_BY(mu);
  FrequencySketch sketch_ ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, Flight> flights_ ABSL_GUARDED_BY(mu);
};

// ===== ToolCache =============================================================================

ToolCache::ToolCache(const ToolCacheOptions& options, Clock* clock)
    : options_(options), clock_(clock) {}

ToolCache::~ToolCache() { Close().IgnoreError(); }

absl::StatusOr<std::unique_ptr<ToolCache>> ToolCache::Open(const ToolCacheOptions& options,
                                                           Clock* clock) {
  if (options.num_shards < 1 || options.num_shards > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_shards: ", options.num_shards, " is out of range (expected 1 to 256)"));
  }
  if (options.max_bytes < options.num_shards * (kEntryOverheadBytes + 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_bytes: ", options.max_bytes, " is too small"));
  }
  if (options.max_value_bytes < 1) {
    return absl::InvalidArgumentError("max_value_bytes: must be positive");
  }
  if (options.namespace_max_bytes < 0) {
    return absl::InvalidArgumentError("namespace_max_bytes: must not be negative");
  }
  if (options.default_ttl < absl::ZeroDuration() || options.default_ttl > kMaxTtl) {
    return absl::InvalidArgumentError("default_ttl: out of range");
  }
  if (options.default_lease <= absl::ZeroDuration() || options.default_lease > kMaxLease) {
    return absl::InvalidArgumentError("default_lease: out of range");
  }
  if (!(options.window_fraction > 0 && options.window_fraction < 1) ||
      !(options.protected_fraction > 0 && options.protected_fraction < 1)) {
    return absl::InvalidArgumentError("window_fraction / protected_fraction: must be in (0, 1)");
  }
  if (options.persist && options.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: required when persist is set");
  }
  std::unique_ptr<ToolCache> cache(new ToolCache(options, clock));
  std::random_device random;
  const uint64_t seed = options.random_seed != 0
                            ? options.random_seed
                            : (uint64_t{random()} << 32) ^ uint64_t{random()};
  cache->next_lease_.store(seed | 1);
  const int64_t capacity = options.max_bytes / options.num_shards;
  for (int i = 0; i < options.num_shards; ++i) {
    cache->shards_.push_back(
        std::make_unique<CacheShard>(cache.get(), capacity, options, seed + 0x9E37 * (i + 1)));
  }
  if (options.persist) {
    absl::StatusOr<std::unique_ptr<CacheDb>> db =
        CacheDb::Open(options.data_dir + "/cache.db", options.sync, options.busy_timeout_ms);
    if (!db.ok()) return db.status();
    cache->db_ = *std::move(db);
    absl::Status loaded = cache->Load();
    if (!loaded.ok()) return loaded;
  }
  return cache;
}

absl::Status ToolCache::Load() {
  absl::StatusOr<std::vector<StoredNamespace>> namespaces = db_->LoadNamespaces();
  if (!namespaces.ok()) return namespaces.status();
  for (const StoredNamespace& stored : *namespaces) {
    absl::StatusOr<NamespaceState*> ns = GetOrCreateNamespace(stored.ns);
    if (!ns.ok()) continue;
    NamespaceRef ref(*ns);
    ref->default_ttl_micros.store(stored.default_ttl_micros);
    ref->max_bytes.store(stored.max_bytes);
    ref->configured.store(true);
  }
  const absl::Time now = clock_->Now();
  int64_t loaded = 0;
  int64_t skipped = 0;
  int64_t max_seq = 0;
  absl::Status status = db_->Load(
      absl::ToUnixMicros(now),
      [&](StoredEntry&& row) {
        CacheKey key{std::move(row.ns), std::move(row.tool), std::move(row.input)};
        const int64_t charge = ChargeOf(key, row.value.size(), row.content_type.size());
        if (!ValidateKey(key).ok()) {
          ++skipped;
          return;
        }
        absl::StatusOr<NamespaceState*> ns_or = GetOrCreateNamespace(key.ns);
        if (!ns_or.ok()) {
          ++skipped;
          return;
        }
        NamespaceRef ns(*ns_or);
        const int64_t budget = NamespaceBudget(*ns.get());
        if (budget > 0 && ns->bytes.load() + charge > budget) {
          ++skipped;
          return;
        }
        const std::string encoded = EncodeKey(key.ns, key.tool, key.input);
        const uint64_t hash = HashKey(encoded);
        CacheShard& shard = ShardFor(hash);
        absl::MutexLock lock(&shard.mu);
        if (!shard.Fits(charge) || shard.Find(encoded) != nullptr) {
          ++skipped;
          return;
        }
        const absl::Time expires_at = row.expires_at_micros == 0
                                          ? absl::InfiniteFuture()
                                          : absl::FromUnixMicros(row.expires_at_micros);
        ns->last_used_micros.store(absl::ToUnixMicros(now), std::memory_order_relaxed);
        shard.Insert(encoded, hash, ns.get(), std::move(row.value), std::move(row.content_type),
                     expires_at, charge, row.seq, /*loaded=*/true);
        ++loaded;
      },
      &max_seq);
  if (!status.ok()) return status;
  next_seq_.store(max_seq + 1);
  LogInfo("tool cache loaded", {{"file", options_.data_dir + "/cache.db"},
                                {"entries", loaded},
                                {"skipped_over_budget", skipped}});
  return absl::OkStatus();
}

CacheShard& ToolCache::ShardFor(uint64_t hash) {
  return *shards_[(hash >> 32) % shards_.size()];
}

uint64_t ToolCache::NextAccessStamp() {
  return access_clock_.fetch_add(1, std::memory_order_relaxed) + 1;
}

uint64_t ToolCache::NewLeaseId() {
  uint64_t id;
  do {
    id = next_lease_.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed);
  } while (id == 0);
  return id;
}

absl::Duration ToolCache::LeaseFor(const LookupOptions& options) const {
  return options.lease > absl::ZeroDuration() ? options.lease : options_.default_lease;
}

NamespaceState* ToolCache::FindNamespace(absl::string_view ns) {
  absl::ReaderMutexLock lock(&ns_mu_);
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return nullptr;
  it->second->refs.fetch_add(1, std::memory_order_acquire);
  return it->second.get();
}

absl::StatusOr<NamespaceState*> ToolCache::GetOrCreateNamespace(absl::string_view ns) {
  if (NamespaceState* found = FindNamespace(ns)) return found;
  absl::MutexLock lock(&ns_mu_);
  auto it = namespaces_.find(ns);
  if (it != namespaces_.end()) {
    it->second->refs.fetch_add(1, std::memory_order_acquire);
    return it->second.get();
  }
  if (namespaces_.size() >= kMaxNamespaces) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "key.namespace: the cache already tracks ", kMaxNamespaces,
        " namespaces (the limit); clear unused ones"));
  }
  auto state = std::make_unique<NamespaceState>(std::string(ns));
  state->refs.store(1);
  state->last_used_micros.store(clock_->NowMicros());
  NamespaceState* raw = state.get();
  namespaces_.emplace(std::string(ns), std::move(state));
  return raw;
}

int64_t ToolCache::NamespaceBudget(const NamespaceState& ns) const {
  const int64_t own = ns.max_bytes.load(std::memory_order_relaxed);
  return own > 0 ? own : options_.namespace_max_bytes;
}

absl::Duration ToolCache::NamespaceDefaultTtl(const NamespaceState& ns) const {
  const int64_t own = ns.default_ttl_micros.load(std::memory_order_relaxed);
  return own >= 0 ? absl::Microseconds(own) : options_.default_ttl;
}

void ToolCache::SetWakeup(std::function<void()> wakeup) {
  absl::MutexLock lock(&wakeup_mu_);
  wakeup_ = std::move(wakeup);
}

void ToolCache::Wake() {
  absl::MutexLock lock(&wakeup_mu_);
  if (wakeup_) wakeup_();
}

void ToolCache::SetInvalidationListener(InvalidationListener listener) {
  invalidation_listener_ = std::move(listener);
}

uint64_t ToolCache::Lookup(const CacheKey& key, const LookupOptions& options,
                           LookupCallback done) {
  if (closed_.load()) {
    done(absl::FailedPreconditionError("tool cache is closed"));
    return 0;
  }
  absl::Status valid = ValidateKey(key);
  if (valid.ok()) {
    valid = ValidateDuration("lease_millis", options.lease, kMaxLease, "the default lease");
  }
  if (valid.ok()) {
    valid = ValidateDuration("wait_millis", options.wait, kMaxWait, "do not wait");
  }
  if (!valid.ok()) {
    done(valid);
    return 0;
  }
  absl::StatusOr<NamespaceState*> ns_or = GetOrCreateNamespace(key.ns);
  NamespaceRef ns_ref(ns_or.ok() ? *ns_or : nullptr);
  NamespaceState* ns = ns_ref.get();
  const std::string encoded = EncodeKey(key.ns, key.tool, key.input);
  const uint64_t hash = HashKey(encoded);
  CacheShard& shard = ShardFor(hash);
  const absl::Time now = clock_->Now();
  if (ns != nullptr) ns->last_used_micros.store(absl::ToUnixMicros(now), std::memory_order_relaxed);

  std::vector<Answer> answers;
  LookupResult result;
  uint64_t wait_id = 0;
  bool wake = false;
  {
    absl::MutexLock lock(&shard.mu);
    shard.RecordAccess(hash);
    Entry* e = shard.Find(encoded);
    if (e != nullptr && e->expires_at <= now) {
      shard.Remove(e, RemoveReason::kExpired);
      e = nullptr;
    }
    if (e != nullptr) {
      shard.Touch(e);
      e->ns->hits.fetch_add(1, std::memory_order_relaxed);
      result = HitResult(e->value, e->content_type, e->expires_at, /*waited=*/false);
    } else {
      // A lookup that misses is counted now, unless it is parked: then it counts as a hit or
      // a miss when it is answered (Waiter::Answered).
      auto count_miss = [&] {
        if (ns != nullptr) {
          ns->misses.fetch_add(1, std::memory_order_relaxed);
        } else {
          unknown_namespace_misses_.fetch_add(1, std::memory_order_relaxed);
        }
      };
      auto& flights = shard.flights();
      auto it = flights.find(encoded);
      if (it != flights.end() && it->second.lease_expires_at <= now &&
          !shard.HandOver(it->second, now, /*uncacheable=*/false, &answers)) {
        flights.erase(it);
        it = flights.end();
      }
      if (it == flights.end()) {
        count_miss();
        if (options.claim) {
          Flight& flight = flights[encoded];
          flight.lease_id = NewLeaseId();
          flight.lease_expires_at = now + LeaseFor(options);
          result = ClaimedResult(flight, /*waited=*/false);
          wake = true;
        } else {
          result = MissResult(/*in_flight=*/false, /*waited=*/false);
        }
      } else if (options.wait > absl::ZeroDuration()) {
        wait_id = next_wait_id_.fetch_add(1, std::memory_order_relaxed);
        if (ns != nullptr) ns->refs.fetch_add(1, std::memory_order_acquire);  // The waiter's.
        it->second.waiters.push_back(Waiter{wait_id, now + options.wait, options.claim,
                                            LeaseFor(options), std::move(done),
                                            NamespaceRef(ns)});
        wake = true;
      } else {
        count_miss();
        result = MissResult(/*in_flight=*/true, /*waited=*/false);
      }
    }
  }
  Deliver(answers);
  if (wake) Wake();
  if (wait_id != 0) return wait_id;
  done(std::move(result));
  return 0;
}

bool ToolCache::CancelWait(const CacheKey& key, uint64_t wait_id) {
  if (wait_id == 0) return false;
  const std::string encoded = EncodeKey(key.ns, key.tool, key.input);
  CacheShard& shard = ShardFor(HashKey(encoded));
  absl::MutexLock lock(&shard.mu);
  auto& flights = shard.flights();
  auto it = flights.find(encoded);
  if (it == flights.end()) return false;
  std::deque<Waiter>& waiters = it->second.waiters;
  for (auto w = waiters.begin(); w != waiters.end(); ++w) {
    if (w->id == wait_id) {
      waiters.erase(w);
      return true;
    }
  }
  return false;
}

absl::StatusOr<LookupResult> ToolCache::Get(const CacheKey& key) {
  absl::StatusOr<LookupResult> out = absl::UnknownError("no answer");
  Lookup(key, LookupOptions{}, [&out](absl::StatusOr<LookupResult> r) { out = std::move(r); });
  return out;
}

void ToolCache::AnswerWaitersWithoutStoring(const std::string& encoded, uint64_t hash,
                                            const std::string* value,
                                            const std::string& content_type,
                                            absl::Time expires_at, uint64_t lease_id) {
  CacheShard& shard = ShardFor(hash);
  std::vector<Answer> answers;
  {
    absl::MutexLock lock(&shard.mu);
    auto& flights = shard.flights();
    auto it = flights.find(encoded);
    if (it == flights.end()) return;
    if (value != nullptr) {
      for (Waiter& w : it->second.waiters) {
        answers.push_back(
            Answer{w.Answered(true), HitResult(*value, content_type, expires_at, true)});
      }
      flights.erase(it);
    } else if (lease_id != 0 && it->second.lease_id == lease_id) {
      if (!shard.HandOver(it->second, clock_->Now(), /*uncacheable=*/true, &answers)) {
        flights.erase(it);
      }
    }
  }
  Deliver(answers);
}

absl::StatusOr<PutResult> ToolCache::Put(const CacheKey& key, std::string value,
                                         std::string content_type, const PutOptions& options) {
  if (closed_.load()) return absl::FailedPreconditionError("tool cache is closed");
  absl::Status valid = ValidateKey(key);
  if (!valid.ok()) return valid;
  const std::string encoded = EncodeKey(key.ns, key.tool, key.input);
  const uint64_t hash = HashKey(encoded);
  CacheShard& shard = ShardFor(hash);
  const int64_t charge = ChargeOf(key, value.size(), content_type.size());

  NamespaceRef ns_ref;
  NamespaceState* ns = nullptr;
  valid = ValidateContentType(content_type);
  if (valid.ok()) {
    valid = ValidateDuration("ttl_millis", options.ttl, kMaxTtl, "the namespace default");
  }
  if (valid.ok() && static_cast<int64_t>(value.size()) > options_.max_value_bytes) {
    valid = absl::ResourceExhaustedError(absl::StrCat(
        "value: ", value.size(), " bytes is larger than the limit of ", options_.max_value_bytes,
        " bytes (cache_max_value_bytes)"));
  }
  if (valid.ok() && charge > shard.capacity()) {
    valid = absl::ResourceExhaustedError(absl::StrCat(
        "value: the entry takes ", charge, " bytes, more than one cache shard holds (",
        shard.capacity(), " bytes = cache_max_bytes ", options_.max_bytes, " / ",
        shards_.size(), " shards)"));
  }
  if (valid.ok()) {
    absl::StatusOr<NamespaceState*> ns_or = GetOrCreateNamespace(key.ns);
    if (ns_or.ok()) {
      ns_ref = NamespaceRef(*ns_or);
      ns = ns_ref.get();
    } else {
      valid = ns_or.status();
    }
  }
  if (valid.ok()) {
    const int64_t budget = NamespaceBudget(*ns);
    if (budget > 0 && charge > budget) {
      valid = absl::ResourceExhaustedError(absl::StrCat(
          "value: the entry takes ", charge, " bytes, more than the budget of namespace \"",
          key.ns, "\" (", budget, " bytes)"));
    }
  }
  if (!valid.ok()) {
    AnswerWaitersWithoutStoring(encoded, hash, nullptr, content_type, absl::InfiniteFuture(),
                                options.lease_id);
    return valid;
  }

  const absl::Duration ttl =
      options.ttl > absl::ZeroDuration() ? options.ttl : NamespaceDefaultTtl(*ns);
  const absl::Time now = clock_->Now();
  ns->last_used_micros.store(absl::ToUnixMicros(now), std::memory_order_relaxed);
  const absl::Time expires_at = ttl > absl::ZeroDuration() ? now + ttl : absl::InfiniteFuture();
  const int64_t seq = next_seq_.fetch_add(1);

  if (db_ != nullptr) {
    StoredEntry row{key.ns,       key.tool,
                    key.input,    std::move(value),
                    content_type, ttl > absl::ZeroDuration() ? absl::ToUnixMicros(expires_at) : 0,
                    seq};
    absl::Status written = db_->Write({&row});
    value = std::move(row.value);
    if (!written.ok()) {
      LogWarning("tool cache write failed", {{"error", written.ToString()}});
      AnswerWaitersWithoutStoring(encoded, hash, &value, content_type, expires_at, 0);
      return written;
    }
  }

  PutResult result;
  result.expires_at = expires_at;
  std::vector<Answer> answers;
  bool over_budget = false;
  {
    absl::MutexLock lock(&shard.mu);
    auto& flights = shard.flights();
    auto it = flights.find(encoded);
    if (it != flights.end()) {
      for (Waiter& w : it->second.waiters) {
        answers.push_back(
            Answer{w.Answered(true), HitResult(value, content_type, expires_at, true)});
      }
      flights.erase(it);
    }
    result.woken_waiters = static_cast<int>(answers.size());
    Entry* e = shard.Find(encoded);
    if (e != nullptr && e->seq > seq) {
      result.stored = true;  // A newer Put won the race; it stays.
    } else {
      if (e != nullptr) {
        shard.Update(e, std::move(value), std::move(content_type), expires_at, charge, seq);
      } else {
        shard.Insert(encoded, hash, ns, std::move(value), std::move(content_type), expires_at,
                     charge, seq, /*loaded=*/false);
      }
      const int64_t budget = NamespaceBudget(*ns);
      over_budget = budget > 0 && ns->bytes.load(std::memory_order_relaxed) > budget;
      result.stored = shard.Find(encoded) != nullptr;
    }
  }
  Deliver(answers);
  if (over_budget) EnforceNamespaceBudget(ns);
  if (invalidation_listener_) {
    invalidation_listener_(Invalidation{Invalidation::Kind::kKey, key.ns, key.tool, key.input});
  }
  return result;
}

void ToolCache::EnforceNamespaceBudget(NamespaceState* ns) {
  const int64_t budget = NamespaceBudget(*ns);
  if (budget <= 0) return;
  // Evicts the namespace's globally least recently used entry, one at a time: the shard whose
  // oldest entry of `ns` is oldest. One shard lock at a time; a shard that changed meanwhile
  // is simply looked at again.
  while (ns->bytes.load(std::memory_order_relaxed) > budget) {
    uint64_t oldest = UINT64_MAX;
    CacheShard* victim_shard = nullptr;
    for (auto& shard : shards_) {
      absl::MutexLock lock(&shard->mu);
      const uint64_t stamp = shard->OldestStamp(ns);
      if (stamp < oldest) {
        oldest = stamp;
        victim_shard = shard.get();
      }
    }
    if (victim_shard == nullptr) return;
    absl::MutexLock lock(&victim_shard->mu);
    victim_shard->EvictOldest(ns, oldest);
  }
}

absl::StatusOr<bool> ToolCache::Release(const CacheKey& key, uint64_t lease_id,
                                        bool uncacheable) {
  if (closed_.load()) return absl::FailedPreconditionError("tool cache is closed");
  absl::Status valid = ValidateKey(key);
  if (!valid.ok()) return valid;
  const std::string encoded = EncodeKey(key.ns, key.tool, key.input);
  CacheShard& shard = ShardFor(HashKey(encoded));
  std::vector<Answer> answers;
  bool released = false;
  bool wake = false;
  {
    absl::MutexLock lock(&shard.mu);
    auto& flights = shard.flights();
    auto it = flights.find(encoded);
    if (it != flights.end() && lease_id != 0 && it->second.lease_id == lease_id) {
      released = true;
      if (!shard.HandOver(it->second, clock_->Now(), uncacheable, &answers)) {
        flights.erase(it);
      } else {
        wake = true;
      }
    }
  }
  Deliver(answers);
  if (wake) Wake();
  return released;
}

absl::StatusOr<int64_t> ToolCache::Clear(absl::string_view ns) {
  if (closed_.load()) return absl::FailedPreconditionError("tool cache is closed");
  if (ns.size() > kMaxNamespaceBytes) {
    return absl::InvalidArgumentError(absl::StrCat("namespace: ", ns.size(),
                                                   " bytes is longer than the limit of ",
                                                   kMaxNamespaceBytes, " bytes"));
  }
  auto invalidate = [&] {
    if (!invalidation_listener_) return;
    invalidation_listener_(ns.empty() ? Invalidation{Invalidation::Kind::kAll, "", "", ""}
                                      : Invalidation{Invalidation::Kind::kNamespace,
                                                     std::string(ns), "", ""});
  };
  NamespaceRef state;
  if (!ns.empty()) {
    state = NamespaceRef(FindNamespace(ns));
    if (!state) {
      invalidate();  // Near-caches may still hold values of a forgotten namespace.
      return 0;
    }
  }
  if (db_ != nullptr) {
    absl::StatusOr<int64_t> deleted = db_->DeleteNamespace(std::string(ns));
    if (!deleted.ok()) return deleted.status();
  }
  int64_t removed = 0;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    removed += shard->Clear(state.get());
  }
  invalidate();
  return removed;
}

CacheStats ToolCache::Stats(absl::string_view ns) {
  CacheStats stats;
  auto add = [&stats](const NamespaceState& s) {
    stats.hits += s.hits.load(std::memory_order_relaxed);
    stats.misses += s.misses.load(std::memory_order_relaxed);
    stats.evictions += s.evictions.load(std::memory_order_relaxed);
    stats.expirations += s.expirations.load(std::memory_order_relaxed);
    stats.bytes += s.bytes.load(std::memory_order_relaxed);
    stats.entries += s.entries.load(std::memory_order_relaxed);
  };
  if (!ns.empty()) {
    NamespaceRef state(FindNamespace(ns));
    if (state) {
      add(*state.get());
      stats.max_bytes = NamespaceBudget(*state.get());
    } else {
      stats.max_bytes = options_.namespace_max_bytes;
    }
    return stats;
  }
  {
    absl::ReaderMutexLock lock(&ns_mu_);
    for (const auto& [name, state] : namespaces_) add(*state);
    stats.hits += retired_.hits;
    stats.misses += retired_.misses;
    stats.evictions += retired_.evictions;
    stats.expirations += retired_.expirations;
  }
  stats.misses += unknown_namespace_misses_.load(std::memory_order_relaxed);
  stats.max_bytes = options_.max_bytes;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    stats.claims += shard->ClaimCount();
    stats.waiters += shard->WaiterCount();
  }
  return stats;
}

std::vector<NamespaceStats> ToolCache::ListNamespaces() {
  std::vector<std::string> names;
  {
    absl::ReaderMutexLock lock(&ns_mu_);
    names.reserve(namespaces_.size());
    for (const auto& [name, state] : namespaces_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::vector<NamespaceStats> out;
  out.reserve(names.size());
  for (const std::string& name : names) {
    NamespaceRef state(FindNamespace(name));
    if (!state) continue;  // Collected meanwhile.
    NamespaceStats s;
    s.ns = name;
    s.stats = Stats(name);
    s.default_ttl = NamespaceDefaultTtl(*state.get());
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status ToolCache::ConfigureNamespace(absl::string_view ns, const NamespaceConfig& config) {
  if (closed_.load()) return absl::FailedPreconditionError("tool cache is closed");
  if (ns.empty()) return absl::InvalidArgumentError("namespace: must not be empty");
  if (ns.size() > kMaxNamespaceBytes) {
    return absl::InvalidArgumentError(absl::StrCat("namespace: ", ns.size(),
                                                   " bytes is longer than the limit of ",
                                                   kMaxNamespaceBytes, " bytes"));
  }
  if (config.default_ttl.has_value()) {
    absl::Status valid = ValidateDuration("default_ttl_millis", *config.default_ttl, kMaxTtl,
                                          "never expire");
    if (!valid.ok()) return valid;
  }
  if (config.max_bytes.has_value() &&
      (*config.max_bytes < 0 || *config.max_bytes > options_.max_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("max_bytes: ", *config.max_bytes,
                                                   " is out of range (expected 0 to ",
                                                   options_.max_bytes,
                                                   " = cache_max_bytes; 0 = the default)"));
  }
  absl::StatusOr<NamespaceState*> state = GetOrCreateNamespace(ns);
  if (!state.ok()) return state.status();
  NamespaceRef ref(*state);
  NamespaceState* s = ref.get();
  StoredNamespace stored{std::string(ns),
                         config.default_ttl.has_value()
                             ? absl::ToInt64Microseconds(*config.default_ttl)
                             : s->default_ttl_micros.load(),
                         config.max_bytes.has_value() ? *config.max_bytes : s->max_bytes.load()};
  if (db_ != nullptr) {
    absl::Status saved = db_->SaveNamespace(stored);
    if (!saved.ok()) return saved;
  }
  s->default_ttl_micros.store(stored.default_ttl_micros);
  s->max_bytes.store(stored.max_bytes);
  s->configured.store(true);
  EnforceNamespaceBudget(s);
  return absl::OkStatus();
}

void ToolCache::Tick() {
  if (closed_.load()) return;
  const absl::Time now = clock_->Now();
  std::vector<Answer> answers;
  for (auto& shard : shards_) {
    {
      absl::MutexLock lock(&shard->mu);
      shard->ExpireUntil(now);
      shard->ExpireFlights(now, &answers);
    }
    Deliver(answers);
  }
  if (db_ != nullptr) {
    absl::Status flushed = db_->Flush();
    if (!flushed.ok()) LogWarning("tool cache flush failed", {{"error", flushed.ToString()}});
  }
  CollectIdleNamespaces(now);
}

void ToolCache::CollectIdleNamespaces(absl::Time now) {
  const int64_t now_micros = absl::ToUnixMicros(now);
  const int64_t interval = std::max<int64_t>(
      1, absl::ToInt64Microseconds(options_.namespace_idle_timeout) / 10);
  if (now_micros - last_namespace_gc_micros_.load() < interval) return;
  last_namespace_gc_micros_.store(now_micros);
  const int64_t idle_before =
      now_micros - absl::ToInt64Microseconds(options_.namespace_idle_timeout);
  absl::MutexLock lock(&ns_mu_);
  for (auto it = namespaces_.begin(); it != namespaces_.end();) {
    const NamespaceState& s = *it->second;
    if (!s.configured.load() && s.refs.load(std::memory_order_acquire) == 0 &&
        s.entries.load(std::memory_order_acquire) == 0 && s.last_used_micros.load() < idle_before) {
      retired_.hits += s.hits.load();
      retired_.misses += s.misses.load();
      retired_.evictions += s.evictions.load();
      retired_.expirations += s.expirations.load();
      namespaces_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Time ToolCache::NextDeadline() {
  absl::Time next = absl::InfiniteFuture();
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    next = std::min(next, shard->NextDeadline());
  }
  return next;
}

absl::Status ToolCache::Close() {
  if (closed_.exchange(true)) return absl::OkStatus();
  std::vector<Answer> answers;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    shard->AbandonFlights(&answers);
  }
  Deliver(answers);
  if (db_ != nullptr) return db_->Close();
  return absl::OkStatus();
}

}  // namespace fast_crewai::cache
