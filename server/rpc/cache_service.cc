#include "server/rpc/cache_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/rpc/status_conversion.h"
#include "server/rpc/wait_reactor.h"

namespace fast_crewai {
namespace {

// ---- proto <-> core conversions ----

cache::CacheKey FromProto(const v1::CacheKey& key) {
  return cache::CacheKey{key.namespace_(), key.tool(), key.input()};
}

// Milliseconds left until `t` (at least 1 while in the future); 0 for "never".
int64_t MillisUntil(absl::Time t, absl::Time now) {
  if (t == absl::InfiniteFuture()) return 0;
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(t - now, absl::Milliseconds(1))));
}

void ToProto(cache::LookupResult&& result, absl::Time now, v1::CacheGetResponse* out) {
  using Outcome = cache::LookupResult::Outcome;
  out->set_found(result.outcome == Outcome::kHit);
  out->set_claimed(result.outcome == Outcome::kClaimed);
  out->set_waited(result.waited);
  out->set_in_flight(result.in_flight);
  if (result.outcome == Outcome::kHit) {
    out->set_value(std::move(result.value));
    out->set_content_type(std::move(result.content_type));
    out->set_expires_in_millis(MillisUntil(result.expires_at, now));
  }
  if (result.outcome == Outcome::kClaimed) {
    out->set_lease_id(result.lease_id);
    out->set_lease_millis(MillisUntil(result.lease_expires_at, now));
  }
}

void ToProto(const cache::CacheStats& s, v1::CacheStatsResponse* out) {
  out->set_hits(s.hits);
  out->set_misses(s.misses);
  out->set_evictions(s.evictions);
  out->set_expirations(s.expirations);
  out->set_bytes(s.bytes);
  out->set_entries(s.entries);
  out->set_max_bytes(s.max_bytes);
  out->set_claims(s.claims);
  out->set_waiters(s.waiters);
}

// A Get: answered at once, or parked in the cache until a Put, ReleaseClaim, the ticker or a
// cancellation resolves it. Exactly one of the cache's callback and a successful CancelWait
// finishes it; it deletes itself in OnDone (always the last reaction).
class GetReactor final : public WaitReactor {
 public:
  GetReactor(cache::ToolCache* cache, Clock* clock, const v1::CacheGetRequest* request,
             v1::CacheGetResponse* response)
      : WaitReactor("cancelled while waiting for the claimer"),
        cache_(cache),
        clock_(clock),
        key_(FromProto(request->key())),
        response_(response) {
    cache::LookupOptions options;
    options.claim = request->claim();
    options.lease = absl::Milliseconds(request->lease_millis());
    options.wait = absl::Milliseconds(request->wait_millis());
    Registered(cache_->Lookup(key_, options,
                              [this](absl::StatusOr<cache::LookupResult> result) {
                                Complete(std::move(result));
                              }));
  }

 private:
  bool CancelWait(uint64_t wait_id) override { return cache_->CancelWait(key_, wait_id); }

  void Complete(absl::StatusOr<cache::LookupResult> result) {
    MarkFinished();
    if (!result.ok()) {
      Finish(ToGrpcStatus(result.status()));
      return;
    }
    ToProto(*std::move(result), clock_->Now(), response_);
    Finish(grpc::Status::OK);
  }

  cache::ToolCache* const cache_;
  Clock* const clock_;
  const cache::CacheKey key_;
  v1::CacheGetResponse* const response_;
};

class WatchReactor;

}  // namespace

// The watchers of the cache's invalidations. Publish() runs on the thread of the Put or Clear.
// Lock order: hub mu_, then a reactor's mu_.
class InvalidationHub {
 public:
  void Publish(const cache::Invalidation& invalidation);
  // Registers `reactor` and queues its `subscribed` message, atomically with respect to
  // Publish(), so every invalidation after the ack reaches it.
  void Subscribe(WatchReactor* reactor);
  void Unsubscribe(WatchReactor* reactor);
  // Finishes every stream with `status`.
  void FinishAll(const grpc::Status& status);

 private:
  absl::Mutex mu_;
  std::vector<WatchReactor*> reactors_ ABSL_GUARDED_BY(mu_);
};

namespace {

// A watcher names the few namespaces it keeps copies of (or none, for all of them).
constexpr int kMaxWatchedNamespaces = 1024;

absl::Status ValidateWatch(const v1::CacheWatchRequest& request) {
  if (request.namespaces_size() > kMaxWatchedNamespaces) {
    return absl::InvalidArgumentError(absl::StrCat("namespaces: ", request.namespaces_size(),
                                                   " given, at most ", kMaxWatchedNamespaces));
  }
  for (int i = 0; i < request.namespaces_size(); ++i) {
    const std::string& ns = request.namespaces(i);
    if (ns.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "namespaces[", i, "]: must not be empty (an empty list watches every namespace)"));
    }
    if (ns.size() > cache::kMaxNamespaceBytes) {
      return absl::InvalidArgumentError(absl::StrCat("namespaces[", i, "]: ", ns.size(),
                                                     " bytes is longer than the limit of ",
                                                     cache::kMaxNamespaceBytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

// One WatchInvalidations stream: a queue of messages and at most one write in flight.
class WatchReactor final : public grpc::ServerWriteReactor<v1::CacheInvalidation> {
 public:
  WatchReactor(std::shared_ptr<InvalidationHub> hub, const v1::CacheWatchRequest* request)
      : hub_(std::move(hub)), namespaces_(request->namespaces().begin(),
                                          request->namespaces().end()) {
    if (absl::Status valid = ValidateWatch(*request); !valid.ok()) {
      FinishOnce(ToGrpcStatus(valid));
      return;
    }
    hub_->Subscribe(this);
  }

  bool Wants(const std::string& ns) const {
    if (namespaces_.empty() || ns.empty()) return true;
    return std::find(namespaces_.begin(), namespaces_.end(), ns) != namespaces_.end();
  }

  // REQUIRES: the hub's mutex is held (so the queue order is the publish order).
  void Enqueue(const cache::Invalidation* invalidation, bool subscribed) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (queue_.size() >= kMaxQueuedInvalidations) {
      queue_.clear();
      queue_.emplace_back().set_reset(true);
      return;
    }
    // Keys coalesce into the last queued (not yet written) message of keys.
    const bool key = invalidation != nullptr &&
                     invalidation->kind == cache::Invalidation::Kind::kKey;
    v1::CacheInvalidation* message = nullptr;
    if (key && !queue_.empty() && queue_.back().keys_size() > 0 &&
        queue_.back().keys_size() < 256) {
      message = &queue_.back();
    } else {
      message = &queue_.emplace_back();
    }
    if (subscribed) message->set_subscribed(true);
    if (invalidation != nullptr) {
      switch (invalidation->kind) {
        case cache::Invalidation::Kind::kKey: {
          v1::CacheKey* k = message->add_keys();
          k->set_namespace_(invalidation->ns);
          k->set_tool(invalidation->tool);
          k->set_input(invalidation->input);
          break;
        }
        case cache::Invalidation::Kind::kNamespace:
          message->add_cleared_namespaces(invalidation->ns);
          break;
        case cache::Invalidation::Kind::kAll:
          message->set_cleared_all(true);
          break;
      }
    }
    WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok || finished_) return;
    WriteNextLocked();
  }

  void OnCancel() override {
    hub_->Unsubscribe(this);
    FinishOnce(grpc::Status::CANCELLED);
  }

  void FinishOnce(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    queue_.clear();
    Finish(status);
  }

  void OnDone() override {
    hub_->Unsubscribe(this);
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  const std::shared_ptr<InvalidationHub> hub_;
  const std::vector<std::string> namespaces_;
  absl::Mutex mu_;
  std::deque<v1::CacheInvalidation> queue_ ABSL_GUARDED_BY(mu_);
  v1::CacheInvalidation current_ ABSL_GUARDED_BY(mu_);  // The message being written.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

void InvalidationHub::Publish(const cache::Invalidation& invalidation) {
  absl::MutexLock lock(&mu_);
  for (WatchReactor* reactor : reactors_) {
    if (reactor->Wants(invalidation.ns)) reactor->Enqueue(&invalidation, /*subscribed=*/false);
  }
}

void InvalidationHub::Subscribe(WatchReactor* reactor) {
  absl::MutexLock lock(&mu_);
  reactors_.push_back(reactor);
  reactor->Enqueue(nullptr, /*subscribed=*/true);
}

void InvalidationHub::FinishAll(const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  for (WatchReactor* reactor : reactors_) reactor->FinishOnce(status);
}

void InvalidationHub::Unsubscribe(WatchReactor* reactor) {
  absl::MutexLock lock(&mu_);
  reactors_.erase(std::remove(reactors_.begin(), reactors_.end(), reactor), reactors_.end());
}

CacheServiceImpl::CacheServiceImpl(cache::ToolCache* cache, Executor* executor, Clock* clock)
    : cache_(cache), executor_(executor), clock_(clock),
      hub_(std::make_shared<InvalidationHub>()) {
  cache_->SetInvalidationListener(
      [hub = hub_](const cache::Invalidation& invalidation) { hub->Publish(invalidation); });
}

CacheServiceImpl::~CacheServiceImpl() = default;

void CacheServiceImpl::EndWatches() {
  hub_->FinishAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the daemon is shutting down"));
}

grpc::ServerWriteReactor<v1::CacheInvalidation>* CacheServiceImpl::WatchInvalidations(
    grpc::CallbackServerContext* /*context*/, const v1::CacheWatchRequest* request) {
  return new WatchReactor(hub_, request);
}

template <typename Work>
grpc::ServerUnaryReactor* CacheServiceImpl::Dispatch(grpc::CallbackServerContext* context,
                                                     Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (executor_ == nullptr || !cache_->options().persist) {
    FinishWithStatus(context, reactor, work());
    return reactor;
  }
  executor_->Schedule([context, reactor, work = std::move(work)]() mutable {
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    FinishWithStatus(context, reactor, work());
  });
  return reactor;
}

grpc::ServerUnaryReactor* CacheServiceImpl::Get(grpc::CallbackServerContext* context,
                                                const v1::CacheGetRequest* request,
                                                v1::CacheGetResponse* response) {
  return new GetReactor(cache_, clock_, request, response);
}

grpc::ServerUnaryReactor* CacheServiceImpl::Put(grpc::CallbackServerContext* context,
                                                const v1::CachePutRequest* request,
                                                v1::CachePutResponse* response) {
  return Dispatch(context, [this, request, response]() -> absl::Status {
    cache::PutOptions options;
    options.ttl = absl::Milliseconds(request->ttl_millis());
    options.lease_id = request->lease_id();
    absl::StatusOr<cache::PutResult> result = cache_->Put(
        FromProto(request->key()), request->value(), request->content_type(), options);
    if (!result.ok()) return result.status();
    response->set_stored(result->stored);
    response->set_woken_waiters(result->woken_waiters);
    response->set_expires_in_millis(MillisUntil(result->expires_at, clock_->Now()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Clear(grpc::CallbackServerContext* context,
                                                  const v1::CacheClearRequest* request,
                                                  v1::CacheClearResponse* response) {
  return Dispatch(context, [this, request, response]() -> absl::Status {
    absl::StatusOr<int64_t> removed = cache_->Clear(request->namespace_());
    if (!removed.ok()) return removed.status();
    response->set_removed(*removed);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Stats(grpc::CallbackServerContext* context,
                                                  const v1::CacheStatsRequest* request,
                                                  v1::CacheStatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ToProto(cache_->Stats(request->namespace_()), response);
  if (request->namespace_().empty()) {
    for (cache::NamespaceStats& ns : cache_->ListNamespaces()) {
      v1::CacheNamespaceStats* out = response->add_namespaces();
      out->set_namespace_(std::move(ns.ns));
      out->set_hits(ns.stats.hits);
      out->set_misses(ns.stats.misses);
      out->set_evictions(ns.stats.evictions);
      out->set_expirations(ns.stats.expirations);
      out->set_bytes(ns.stats.bytes);
      out->set_entries(ns.stats.entries);
      out->set_max_bytes(ns.stats.max_bytes);
      out->set_default_ttl_millis(absl::ToInt64Milliseconds(ns.default_ttl));
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* CacheServiceImpl::ReleaseClaim(
    grpc::CallbackServerContext* context, const v1::CacheReleaseClaimRequest* request,
    v1::CacheReleaseClaimResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<bool> released =
      cache_->Release(FromProto(request->key()), request->lease_id(), request->uncacheable());
  if (released.ok()) response->set_released(*released);
  FinishWithStatus(context, reactor, released.status());
  return reactor;
}

grpc::ServerUnaryReactor* CacheServiceImpl::ConfigureNamespace(
    grpc::CallbackServerContext* context, const v1::CacheConfigureNamespaceRequest* request,
    v1::CacheConfigureNamespaceResponse* /*response*/) {
  return Dispatch(context, [this, request]() -> absl::Status {
    cache::NamespaceConfig config;
    if (request->has_default_ttl_millis()) {
      config.default_ttl = absl::Milliseconds(request->default_ttl_millis());
    }
    if (request->has_max_bytes()) config.max_bytes = request->max_bytes();
    return cache_->ConfigureNamespace(request->namespace_(), config);
  });
}

}  // namespace fast_crewai
