#include "server/util/grpc_log_bridge.h"

#include <grpc/support/log.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/base/call_once.h"
#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/util/repeat_filter.h"

namespace fast_crewai {
namespace {

// How long identical gRPC lines are held back after one is shown, and how many distinct lines
// are remembered (a handshake error repeats at each reconnection of a misconfigured client).
constexpr absl::Duration kRepeatWindow = absl::Minutes(1);
constexpr size_t kRepeatKeys = 256;

absl::once_flag g_bridge_once;
absl::Mutex g_filter_mu(absl::kConstInit);
// Null at debug level: every line is shown.
RepeatFilter* g_filter ABSL_GUARDED_BY(g_filter_mu) = nullptr;

// The number of identical lines dropped before this one (0 if none); nullopt to drop this one.
std::optional<int64_t> AdmitLine(absl::string_view file, int line, absl::string_view message) {
  absl::MutexLock lock(&g_filter_mu);
  if (g_filter == nullptr) return 0;
  return g_filter->Admit(absl::StrCat(file, ":", line, " ", message));
}

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
  const std::optional<int64_t> dropped = AdmitLine(file, args->line, message);
  if (!dropped.has_value()) return;
  if (*dropped == 0) {
    Log(level, message, {{"component", "grpc"}, {"file", file}, {"line", args->line}});
  } else {
    Log(level, message,
        {{"component", "grpc"}, {"file", file}, {"line", args->line},
         {"repeats_dropped", *dropped}});
  }
}

}  // namespace

void InstallGrpcLogBridge(LogLevel level, Clock* clock) {
  {
    absl::MutexLock lock(&g_filter_mu);
    delete g_filter;  // Only used under the lock.
    g_filter = level == LogLevel::kDebug ? nullptr
                                         : new RepeatFilter(clock, kRepeatWindow, kRepeatKeys);
  }
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
