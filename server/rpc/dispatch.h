// File: dispatch.h
//
// How a unary callback handler runs its core call: on an executor (SQLite writes, scans: work
// that may block or take milliseconds), or inline on the gRPC thread (bounded in-memory work).
// Either way the RPC finishes through FinishWithStatus, the one status conversion.
//
// Example (an adapter method):
//   return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
//     ASSIGN_OR_RETURN(int64_t n, store_->Count(request->namespace_(), ""));
//     response->set_count(n);
//     return absl::OkStatus();
//   });
#ifndef FAST_CREWAI_SERVER_RPC_DISPATCH_H_
#define FAST_CREWAI_SERVER_RPC_DISPATCH_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <utility>

#include "server/rpc/status_conversion.h"
#include "server/util/executor.h"

namespace fast_crewai {

// Runs `work` (returning absl::Status) on `executor` and finishes the RPC with its status; a
// call cancelled while queued finishes CANCELLED without running. The request and response
// stay alive until Finish, so `work` may use them.
template <typename Work>
grpc::ServerUnaryReactor* DispatchOnExecutor(grpc::CallbackServerContext* context,
                                             Executor* executor, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  executor->Schedule([context, reactor, work = std::move(work)]() mutable {
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    FinishWithStatus(context, reactor, work());
  });
  return reactor;
}

// Runs bounded in-memory `work` on the gRPC thread and finishes the RPC with its status.
template <typename Work>
grpc::ServerUnaryReactor* FinishInline(grpc::CallbackServerContext* context, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishWithStatus(context, reactor, work());
  return reactor;
}

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_DISPATCH_H_
