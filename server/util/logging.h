// File: logging.h
//
// The daemon's one log sink: one logfmt line per event on stderr,
//
//   ts=2026-11-26T01:02:03.123Z level=info msg="serving" listen=127.0.0.1:50051 auth=on
//
// `ts` is RFC 3339 in UTC with milliseconds; `msg` is always quoted; other values are quoted
// only when they contain a space, `=`, `"`, a control character, or are empty. Lines below the
// configured level (SetLogLevel) are dropped. gRPC's own gpr_log output is routed through the
// same sink by InstallGrpcLogBridge() (grpc_log_bridge.h, kept apart so that this header and
// the cores that use it stay free of gRPC), so every line on stderr has one format.
//
// Thread-safety: every function here may be called from any thread; a line is written with
// one locked write, so lines from different threads never interleave.
//
// Never pass secrets (the auth token, key material) as a field or inside a message.
//
// Example:
//   LogInfo("serving", {{"listen", address}, {"auth", auth ? "on" : "off"}});
//   LogWarning("slow search", {{"scope", scope}, {"millis", elapsed_ms}});
#ifndef FAST_CREWAI_SERVER_UTIL_LOGGING_H_
#define FAST_CREWAI_SERVER_UTIL_LOGGING_H_

#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fast_crewai {

// Severity of a log line, from least to most severe.
enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Returns "debug", "info", "warning" or "error".
absl::string_view LogLevelName(LogLevel level);

// Parses "debug", "info", "warning" (or "warn") and "error", case-insensitively.
// Returns InvalidArgumentError listing the accepted values otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);

// One `key=value` pair of a log line. The value is formatted with absl::StrCat, so numbers,
// strings and string_views all work: {"port", 50051}, {"dir", path}.
struct LogField {
  LogField(absl::string_view k, const absl::AlphaNum& v) : key(k), value(v.Piece()) {}
  std::string key;
  std::string value;
};

// Receives finished log lines (without the trailing newline). The default sink writes to
// stderr. Implementations must be thread-safe.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(absl::string_view line) = 0;
};

// Lines with a level below `level` are dropped. Default: LogLevel::kInfo.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

// Replaces the sink; nullptr restores the stderr sink. Returns the previous custom sink (or
// nullptr). The caller keeps ownership and must keep `sink` alive until it is replaced.
// Meant for tests.
LogSink* SetLogSink(LogSink* sink);

// Writes one line if `level` passes the filter.
void Log(LogLevel level, absl::string_view msg, std::initializer_list<LogField> fields = {});
inline void LogDebug(absl::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kDebug, msg, fields);
}
inline void LogInfo(absl::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, msg, fields);
}
inline void LogWarning(absl::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, msg, fields);
}
inline void LogError(absl::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, msg, fields);
}

// Formats one line (no trailing newline). Pure; exposed for tests.
std::string FormatLogLine(absl::Time ts, LogLevel level, absl::string_view msg,
                          std::initializer_list<LogField> fields);

// Formats `value` as a logfmt value: unchanged when it needs no quoting, otherwise in double
// quotes with `"`, `\` and control characters escaped.
std::string LogfmtValue(absl::string_view value);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_LOGGING_H_
