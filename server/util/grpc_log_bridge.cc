#include "server/util/grpc_log_bridge.h"

#include <grpc/support/log.h>

#include "absl/base/call_once.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace fast_crewai {
namespace {

absl::once_flag g_bridge_once;

void BridgeGrpcLine(gpr_log_func_args* args) {
  LogLevel level = LogLevel::kInfo;
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      level = LogLevel::kDebug;
      break;
    case GPR_LOG_SEVERITY_INFO:
      level = LogLevel::kInfo;
      break;
    case GPR_LOG_SEVERITY_ERROR:
      level = LogLevel::kError;
      break;
  }
  absl::string_view file = args->file != nullptr ? args->file : "";
  // gRPC passes full source paths; the part after the last '/' is enough to find it.
  const size_t slash = file.rfind('/');
  if (slash != absl::string_view::npos) file.remove_prefix(slash + 1);
  absl::string_view message = args->message != nullptr ? args->message : "";
  while (absl::EndsWith(message, "\n")) message.remove_suffix(1);
  Log(level, message, {{"component", "grpc"}, {"file", file}, {"line", args->line}});
}

}  // namespace

void InstallGrpcLogBridge(LogLevel level) {
  absl::call_once(g_bridge_once, [] { gpr_set_log_function(&BridgeGrpcLine); });
  switch (level) {
    case LogLevel::kDebug:
      gpr_set_log_verbosity(GPR_LOG_SEVERITY_DEBUG);
      break;
    case LogLevel::kInfo:  // gRPC's info lines are debugging detail (epoll fds, poller counts).
    case LogLevel::kWarning:
    case LogLevel::kError:
      gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
      break;
  }
}

}  // namespace fast_crewai
