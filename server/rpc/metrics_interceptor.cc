#include "server/rpc/metrics_interceptor.h"

#include <cstdint>

#include "absl/strings/string_view.h"

namespace fast_crewai {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

absl::string_view TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// One per call; gRPC deletes it when the call ends.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics::Method* method, Clock* clock)
      : method_(method), clock_(clock), start_micros_(clock->NowMicros()) {
    method_->Started();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const int64_t elapsed = clock_->NowMicros() - start_micros_;
      method_->Handled(static_cast<int>(methods->GetSendStatus().error_code()),
                       absl::Microseconds(elapsed));
    }
    methods->Proceed();
  }

 private:
  RpcMetrics::Method* const method_;
  Clock* const clock_;
  const int64_t start_micros_;
};

}  // namespace

grpc::experimental::Interceptor* MetricsInterceptorFactory::CreateServerInterceptor(
    ServerRpcInfo* info) {
  const char* path = info->method();
  return new MetricsInterceptor(metrics_->Find(path == nullptr ? "" : path, TypeName(info->type())),
                                clock_);
}

}  // namespace fast_crewai
