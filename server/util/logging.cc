#include "server/util/logging.h"

#include <atomic>
#include <cstdio>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/util/string_escape.h"

namespace fast_crewai {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

absl::Mutex g_sink_mu;
LogSink* g_sink ABSL_GUARDED_BY(g_sink_mu) = nullptr;

bool NeedsQuoting(absl::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '=' || c == '"' || c == '\\') return true;
  }
  return false;
}

void AppendQuoted(absl::string_view value, std::string* out) {
  AppendQuotedEscaped(value, ControlEscape::kHex, out);
}

}  // namespace

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(absl::StrFormat(
      "invalid log level \"%s\" (expected debug, info, warning or error)", absl::CHexEscape(text)));
}

void SetLogLevel(LogLevel level) {
  g_min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel GetLogLevel() {
  return static_cast<LogLevel>(g_min_level.load(std::memory_order_relaxed));
}

LogSink* SetLogSink(LogSink* sink) {
  absl::MutexLock lock(&g_sink_mu);
  LogSink* previous = g_sink;
  g_sink = sink;
  return previous;
}

std::string LogfmtValue(absl::string_view value) {
  if (!NeedsQuoting(value)) return std::string(value);
  std::string out;
  AppendQuoted(value, &out);
  return out;
}

std::string FormatLogLine(absl::Time ts, LogLevel level, absl::string_view msg,
                          std::initializer_list<LogField> fields) {
  std::string line =
      absl::StrCat("ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", ts, absl::UTCTimeZone()),
                   " level=", LogLevelName(level), " msg=");
  AppendQuoted(msg, &line);
  for (const LogField& field : fields) {
    absl::StrAppend(&line, " ", field.key, "=", LogfmtValue(field.value));
  }
  return line;
}

void Log(LogLevel level, absl::string_view msg, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  const std::string line = FormatLogLine(absl::Now(), level, msg, fields);
  absl::MutexLock lock(&g_sink_mu);
  if (g_sink != nullptr) {
    g_sink->Write(line);
    return;
  }
  // One fwrite per line under the lock: lines never interleave.
  std::string with_newline = line;
  with_newline.push_back('\n');
  std::fwrite(with_newline.data(), 1, with_newline.size(), stderr);
  std::fflush(stderr);
}

}  // namespace fast_crewai
