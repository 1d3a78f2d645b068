// File: cache_service.h
//
// CacheServiceImpl: the gRPC adapter of fast_crewai.v1.CacheService over a cache::ToolCache.
// Conversions and nothing else; validation and every rule live in the core (tool_cache.h).
//
// Threads. Get never blocks a gRPC thread: a Get that must wait behind another claimer
// parks its reactor in the core and returns; the reactor is finished later by the thread of
// the Put or ReleaseClaim that resolves it, by the cache's ticker thread (its wait ran out,
// the lease lapsed), or by OnCancel when the client goes away (deadline, cancellation,
// server shutdown). Calls that write cache.db (Put, Clear, ConfigureNamespace with
// cache_persist) run on the injected executor; everything else is bounded in-memory work
// and finishes inline.
//
// WatchInvalidations streams the cache's invalidations (tool_cache.h SetInvalidationListener)
// to each subscriber through its own bounded queue, one write in flight at a time; a
// subscriber more than kMaxQueuedInvalidations messages behind gets one `reset` instead.
//
// Thread-safety: safe for concurrent RPCs; the cache, executor and clock must outlive it.
#ifndef FAST_CREWAI_SERVER_RPC_CACHE_SERVICE_H_
#define FAST_CREWAI_SERVER_RPC_CACHE_SERVICE_H_

#include <memory>

#include "fast_crewai/v1/cache.grpc.pb.h"
#include "server/cache/tool_cache.h"
#include "server/util/clock.h"
#include "server/util/executor.h"

namespace fast_crewai {

// Invalidation messages a watcher may lag behind before it gets a reset.
inline constexpr size_t kMaxQueuedInvalidations = 1024;

class InvalidationHub;

class CacheServiceImpl final : public v1::CacheService::CallbackService {
 public:
  // Not owned. `executor` runs the calls that write cache.db; it may be null when the cache
  // does not persist (those calls then finish inline). Registers the cache's invalidation
  // listener, so it must be constructed before the cache is used concurrently.
  CacheServiceImpl(cache::ToolCache* cache, Executor* executor, Clock* clock);
  ~CacheServiceImpl() override;

  // Finishes every WatchInvalidations stream (UNAVAILABLE), so that a graceful shutdown does not
  // wait its whole grace period for streams that never end by themselves. Clients drop their
  // near-caches. Call when shutdown begins.
  void EndWatches();

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::CacheGetRequest* request,
                                v1::CacheGetResponse* response) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* context,
                                const v1::CachePutRequest* request,
                                v1::CachePutResponse* response) override;
  grpc::ServerUnaryReactor* Clear(grpc::CallbackServerContext* context,
                                  const v1::CacheClearRequest* request,
                                  v1::CacheClearResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::CacheStatsRequest* request,
                                  v1::CacheStatsResponse* response) override;
  grpc::ServerUnaryReactor* ReleaseClaim(grpc::CallbackServerContext* context,
                                         const v1::CacheReleaseClaimRequest* request,
                                         v1::CacheReleaseClaimResponse* response) override;
  grpc::ServerUnaryReactor* ConfigureNamespace(
      grpc::CallbackServerContext* context, const v1::CacheConfigureNamespaceRequest* request,
      v1::CacheConfigureNamespaceResponse* response) override;
  grpc::ServerWriteReactor<v1::CacheInvalidation>* WatchInvalidations(
      grpc::CallbackServerContext* context, const v1::CacheWatchRequest* request) override;

 private:
  // Runs `work` on the executor when the cache persists, else inline; finishes the RPC.
  template <typename Work>
  grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* context, Work work);

  cache::ToolCache* const cache_;
  Executor* const executor_;
  Clock* const clock_;
  std::shared_ptr<InvalidationHub> hub_;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_CACHE_SERVICE_H_
