// File: metrics_interceptor.h
//
// A server interceptor that feeds RpcMetrics (util/metrics.h): every call that reaches the
// server's handlers counts as started when it arrives and as handled, with its status code and
// the time since it arrived, when its status is sent. Calls refused before any handler (a
// missing token, in gRPC core's auth filter) are not seen.
//
// The daemon installs it only when --metrics_listen is set: without it no call pays for it.
//
// Example:
//   std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> f;
//   f.push_back(std::make_unique<MetricsInterceptorFactory>(&metrics, RealClock::Get()));
//   builder.experimental().SetInterceptorCreators(std::move(f));
//
// Thread-safety: the factory is called by gRPC from any thread; `metrics` and `clock` must
// outlive the server.
#ifndef FAST_CREWAI_SERVER_RPC_METRICS_INTERCEPTOR_H_
#define FAST_CREWAI_SERVER_RPC_METRICS_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include "server/util/clock.h"
#include "server/util/metrics.h"

namespace fast_crewai {

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // Neither is owned.
  MetricsInterceptorFactory(RpcMetrics* metrics, Clock* clock) : metrics_(metrics), clock_(clock) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  RpcMetrics* const metrics_;
  Clock* const clock_;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_METRICS_INTERCEPTOR_H_
