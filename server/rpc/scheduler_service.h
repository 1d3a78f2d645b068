// File: scheduler_service.h
//
// SchedulerServiceImpl: the gRPC adapter of fast_crewai.v1.SchedulerService over a
// scheduler::Scheduler and a scheduler::RateLimiter. Conversions and nothing else; validation
// and every rule live in the cores (scheduler.h, rate_limiter.h).
//
// Threads.
//  * CreateRun, CancelRun, CompleteNode and FailNode are applied on the gRPC thread (bounded
//    in-memory work: a node that becomes ready goes to a parked worker at once, without a
//    thread hop), then queue their group commit (Scheduler::SyncAsync) and finish the call
//    once the change is durable. With the commit queue empty the gRPC thread commits itself
//    (one fsync, no thread hop); otherwise the commit joins the group being written, whose
//    leader (a gRPC thread or the scheduler's write executor) finishes the call.
//  * GetRun, ListRuns, ListNodes, RenewLeases and AcquireRateLimit are bounded in-memory work
//    and finish inline on the gRPC thread.
//  * LeaseNodes never blocks a gRPC thread: when no node is ready its reactor is parked in the
//    core and finished later by the thread that makes a node ready (the gRPC thread of a
//    CreateRun or CompleteNode), by the scheduler's ticker (the wait ran out), by OnCancel
//    (deadline, client gone, server shutdown) or by EndStreams().
//  * StreamLeases is a bidi stream: each request adds credits inline on the gRPC thread; the
//    core pushes leases (under its lock, from the thread that made a node ready, as for a
//    parked LeaseNodes) into the reactor, which writes them one at a time. The stream's end
//    (worker done, broken, cancelled, a refused message) closes the core stream: leases it
//    delivered that are still held lapse at once. EndStreams() ends it with UNAVAILABLE.
//  * WatchRun is a server stream: the core calls the reactor back (in order, under its lock)
//    and the reactor queues the messages, one write in flight at a time. A watcher more than
//    kMaxQueuedWatchMessages behind is ended with ABORTED (watch again to resync).
//
// Thread-safety: safe for concurrent RPCs; the cores must outlive it.
#ifndef FAST_CREWAI_SERVER_RPC_SCHEDULER_SERVICE_H_
#define FAST_CREWAI_SERVER_RPC_SCHEDULER_SERVICE_H_

#include <cstddef>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "fast_crewai/v1/scheduler.grpc.pb.h"
#include "server/scheduler/rate_limiter.h"
#include "server/scheduler/scheduler.h"

namespace fast_crewai {

// WatchRun messages a watcher may lag behind before its stream is ended.
inline constexpr size_t kMaxQueuedWatchMessages = 10000;

class SchedulerServiceImpl final : public v1::SchedulerService::CallbackService {
 public:
  // Not owned.
  SchedulerServiceImpl(scheduler::Scheduler* scheduler, scheduler::RateLimiter* limiter);

  // Answers parked LeaseNodes calls and ends every WatchRun stream with UNAVAILABLE, so that a
  // graceful shutdown does not wait its grace period for them. Call when shutdown begins.
  void EndStreams();

  grpc::ServerUnaryReactor* CreateRun(grpc::CallbackServerContext* context,
                                      const v1::CreateRunRequest* request,
                                      v1::CreateRunResponse* response) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* context,
                                   const v1::GetRunRequest* request,
                                   v1::GetRunResponse* response) override;
  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* context,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* context,
                                      const v1::ListNodesRequest* request,
                                      v1::ListNodesResponse* response) override;
  grpc::ServerUnaryReactor* CancelRun(grpc::CallbackServerContext* context,
                                      const v1::CancelRunRequest* request,
                                      v1::CancelRunResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchRunResponse>* WatchRun(
      grpc::CallbackServerContext* context, const v1::WatchRunRequest* request) override;
  grpc::ServerUnaryReactor* LeaseNodes(grpc::CallbackServerContext* context,
                                       const v1::LeaseNodesRequest* request,
                                       v1::LeaseNodesResponse* response) override;
  grpc::ServerBidiReactor<v1::StreamLeasesRequest, v1::StreamLeasesResponse>* StreamLeases(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* RenewLeases(grpc::CallbackServerContext* context,
                                        const v1::RenewLeasesRequest* request,
                                        v1::RenewLeasesResponse* response) override;
  grpc::ServerUnaryReactor* CompleteNode(grpc::CallbackServerContext* context,
                                         const v1::CompleteNodeRequest* request,
                                         v1::CompleteNodeResponse* response) override;
  grpc::ServerUnaryReactor* FailNode(grpc::CallbackServerContext* context,
                                     const v1::FailNodeRequest* request,
                                     v1::FailNodeResponse* response) override;
  grpc::ServerUnaryReactor* AcquireRateLimit(grpc::CallbackServerContext* context,
                                             const v1::AcquireRateLimitRequest* request,
                                             v1::AcquireRateLimitResponse* response) override;

 private:
  // Runs `apply` (an Apply* call of the core filling the response) inline; on success finishes
  // the call once Scheduler::SyncAsync reports the change durable. When the commit fails,
  // `on_unwritten(error)` (if any) runs before the call finishes with the error.
  template <typename Apply>
  grpc::ServerUnaryReactor* ApplyThenSync(
      grpc::CallbackServerContext* context, Apply apply,
      absl::AnyInvocable<void(const absl::Status&)> on_unwritten = nullptr);

  scheduler::Scheduler* const scheduler_;
  scheduler::RateLimiter* const limiter_;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_SCHEDULER_SERVICE_H_
