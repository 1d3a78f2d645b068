#include "server/config/config.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "server/util/errno_text.h"
#include "server/util/status_macros.h"
#include "server/version.h"

namespace fast_crewai {
namespace {

// Longest path a sockaddr_un can hold (108 bytes including the terminating NUL).
constexpr size_t kMaxUnixSocketPath = 107;

// One row of the option table. `apply` parses `value` and stores it in `config`; its error
// message describes the value only ("invalid port ..."); the caller prefixes where it came from.
struct OptionSpec {
  const char* name;
  const char* group;
  const char* value_name;
  const char* default_value;
  const char* help;
  bool is_bool;
  bool file_key;
  absl::Status (*apply)(absl::string_view value, Config& config);
};

std::string Quote(absl::string_view value) {
  return absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

absl::StatusOr<bool> ParseBool(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  return absl::InvalidArgumentError(
      absl::StrCat("invalid boolean ", Quote(text), " (expected true or false)"));
}

// The sync modes of the stores: "full" -> true, "normal" -> false (any case).
absl::StatusOr<bool> ParseSyncFull(absl::string_view value) {
  const std::string lower = absl::AsciiStrToLower(value);
  if (lower != "full" && lower != "normal") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid sync mode ", Quote(value), " (expected full or normal)"));
  }
  return lower == "full";
}

// A decimal count in [min, max]; `expected` says which in the error ("1-100").
absl::StatusOr<int64_t> ParseCount(absl::string_view value, int64_t min, int64_t max,
                                   absl::string_view expected) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid count ", Quote(value), " (expected ", expected, ")"));
  }
  return n;
}

absl::Status ApplyListen(absl::string_view value, Config& config) {
  if (!value.empty()) RETURN_IF_ERROR(ParseHostPort(value).status());
  config.listen.address = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyMetricsListen(absl::string_view value, Config& config) {
  if (!value.empty()) RETURN_IF_ERROR(ParseHostPort(value).status());
  config.listen.metrics_address = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyUnixSocket(absl::string_view value, Config& config) {
  if (value.size() > kMaxUnixSocketPath) {
    return absl::InvalidArgumentError(
        absl::StrFormat("path is %d bytes, longer than the %d a Unix socket allows", value.size(),
                        kMaxUnixSocketPath));
  }
  if (absl::StrContains(value, '\0')) {
    return absl::InvalidArgumentError("path contains a NUL byte");
  }
  config.listen.unix_socket = std::string(absl::StripPrefix(value, "unix:"));
  return absl::OkStatus();
}

absl::Status ApplyUnixSocketMode(absl::string_view value, Config& config) {
  absl::string_view digits = absl::StripPrefix(absl::StripPrefix(value, "0o"), "0O");
  uint32_t mode = 0;
  bool ok = !digits.empty() && digits.size() <= 4;
  for (char c : digits) {
    if (c < '0' || c > '7') {
      ok = false;
      break;
    }
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  if (!ok || mode > 0777) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid mode ", Quote(value), " (expected octal permission bits such as 0600)"));
  }
  if ((mode & 0600) != 0600) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mode ", Quote(value), " must let the owner read and write the socket (e.g. 0600)"));
  }
  config.listen.unix_socket_mode = mode;
  return absl::OkStatus();
}

absl::Status ApplyDataDir(absl::string_view value, Config& config) {
  if (value.empty()) return absl::InvalidArgumentError("must not be empty");
  config.storage.data_dir = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyConfigFile(absl::string_view value, Config& config) {
  config.config_file = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyToken(absl::string_view value, Config& config) {
  // The value is a secret: the message never contains it.
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return absl::InvalidArgumentError(
          "the token must be printable ASCII without spaces (it travels in a header)");
    }
  }
  config.auth.token = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyTokenFile(absl::string_view value, Config& config) {
  config.auth.token_file = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyTlsCert(absl::string_view value, Config& config) {
  config.tls.cert_file = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyTlsKey(absl::string_view value, Config& config) {
  config.tls.key_file = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyTlsClientCa(absl::string_view value, Config& config) {
  config.tls.client_ca_file = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyLogLevel(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.runtime.log_level, ParseLogLevel(value));
  return absl::OkStatus();
}

absl::Status ApplyGracePeriod(absl::string_view value, Config& config) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration() || d > absl::Hours(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid duration ", Quote(value), " (expected 0 to 1h, e.g. 5s, 500ms, 1m)"));
  }
  config.runtime.grace_period = d;
  return absl::OkStatus();
}

absl::Status ApplyReflection(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.runtime.reflection, ParseBool(value));
  return absl::OkStatus();
}

absl::Status ApplyMemorySearchThreads(absl::string_view value, Config& config) {
  int threads = 0;
  if (!absl::SimpleAtoi(value, &threads) || threads < 0 || threads > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid thread count ", Quote(value), " (expected 0-1024; 0 = one per CPU)"));
  }
  config.memory.search_threads = threads;
  return absl::OkStatus();
}

absl::Status ApplyMemoryMaxRecords(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.memory.max_records,
                   ParseCount(value, 0, std::numeric_limits<int64_t>::max(),
                              "0 or more; 0 = no limit"));
  return absl::OkStatus();
}

// Byte sizes: a number with an optional binary suffix K, M or G (also KiB/MiB/GiB, KB/MB/GB,
// all meaning powers of 1024): "256M", "1G", "65536".
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  absl::string_view digits = absl::StripAsciiWhitespace(text);
  int64_t multiplier = 1;
  const std::string lower = absl::AsciiStrToLower(digits);
  for (const auto& [suffix, factor] :
       {std::pair<absl::string_view, int64_t>{"kib", int64_t{1} << 10}, {"mib", int64_t{1} << 20},
        {"gib", int64_t{1} << 30}, {"kb", int64_t{1} << 10}, {"mb", int64_t{1} << 20},
        {"gb", int64_t{1} << 30}, {"k", int64_t{1} << 10}, {"m", int64_t{1} << 20},
        {"g", int64_t{1} << 30}, {"b", 1}}) {
    if (absl::EndsWith(lower, suffix)) {
      multiplier = factor;
      digits = digits.substr(0, digits.size() - suffix.size());
      break;
    }
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value < 0 || value > (int64_t{1} << 50) / multiplier) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid size ", Quote(text), " (expected bytes, e.g. 65536, 512K, 256M, 1G)"));
  }
  return value * multiplier;
}

absl::Status ApplyCacheMaxBytes(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(int64_t bytes, ParseByteSize(value));
  if (bytes < (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("size ", Quote(value), " is below 1M"));
  }
  config.cache.max_bytes = bytes;
  return absl::OkStatus();
}

absl::Status ApplyCacheNamespaceMaxBytes(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.cache.namespace_max_bytes, ParseByteSize(value));
  return absl::OkStatus();
}

absl::Status ApplyCacheMaxValueBytes(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(int64_t bytes, ParseByteSize(value));
  // A gRPC message (64 MiB) must still hold the value with its key.
  if (bytes < 1 || bytes > (int64_t{60} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("size ", Quote(value), " is out of range (expected 1 to 60M)"));
  }
  config.cache.max_value_bytes = bytes;
  return absl::OkStatus();
}

absl::Status ApplyCacheDefaultTtl(absl::string_view value, Config& config) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration() ||
      d > absl::Hours(24 * 365)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid duration ", Quote(value), " (expected 0 or e.g. 30s, 10m, 24h; at most 8760h)"));
  }
  config.cache.default_ttl = d;
  return absl::OkStatus();
}

absl::Status ApplyCachePersist(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.cache.persist, ParseBool(value));
  return absl::OkStatus();
}

absl::Status ApplyMemorySync(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.memory.sync_full, ParseSyncFull(value));
  return absl::OkStatus();
}

absl::Status ApplyPersistenceSync(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.persistence.sync_full, ParseSyncFull(value));
  return absl::OkStatus();
}

absl::StatusOr<IntegrityCheck> ParseIntegrityCheck(absl::string_view value) {
  const std::string lower = absl::AsciiStrToLower(value);
  if (lower == "quick") return IntegrityCheck::kQuick;
  if (lower == "full") return IntegrityCheck::kFull;
  if (lower == "off") return IntegrityCheck::kOff;
  return absl::InvalidArgumentError(
      absl::StrCat("invalid check ", Quote(value), " (expected quick, full or off)"));
}

absl::Status ApplyPersistenceIntegrityCheck(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.persistence.integrity_check, ParseIntegrityCheck(value));
  return absl::OkStatus();
}

absl::Status ApplyMemoryIntegrityCheck(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.memory.integrity_check, ParseIntegrityCheck(value));
  return absl::OkStatus();
}

absl::Status ApplyPersistenceMaxKickoffs(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.persistence.max_kickoffs, ParseCount(value, 1, 1000000, "1-1000000"));
  return absl::OkStatus();
}

absl::Status ApplyPersistenceMaxValueBytes(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(int64_t bytes, ParseByteSize(value));
  // A gRPC message (64 MiB) must still hold the value with the rest of its row.
  if (bytes < 1024 || bytes > (int64_t{60} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("size ", Quote(value), " is out of range (expected 1K to 60M)"));
  }
  config.persistence.max_value_bytes = bytes;
  return absl::OkStatus();
}

absl::Status ApplyPersistenceLockLease(absl::string_view value, Config& config) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::Seconds(1) || d > absl::Minutes(10)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid duration ", Quote(value), " (expected 1s to 10m, e.g. 30s)"));
  }
  config.persistence.lock_lease = d;
  return absl::OkStatus();
}

absl::Status ApplySchedulerLease(absl::string_view value, Config& config) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::Milliseconds(100) || d > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid duration ", Quote(value), " (expected 100ms to 1h, e.g. 30s)"));
  }
  config.scheduler.lease = d;
  return absl::OkStatus();
}

absl::Status ApplySchedulerMaxAttempts(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.scheduler.max_attempts, ParseCount(value, 1, 100, "1-100"));
  return absl::OkStatus();
}

absl::Status ApplySchedulerMaxPayloadBytes(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(int64_t bytes, ParseByteSize(value));
  // A lease carries the payload and its dependencies' outputs in one 64 MiB message.
  if (bytes < 1024 || bytes > (int64_t{16} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("size ", Quote(value), " is out of range (expected 1K to 16M)"));
  }
  config.scheduler.max_payload_bytes = bytes;
  return absl::OkStatus();
}

absl::Status ApplySchedulerMaxRuns(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.scheduler.max_runs, ParseCount(value, 1, 1000000, "1-1000000"));
  return absl::OkStatus();
}

absl::Status ApplySchedulerSync(absl::string_view value, Config& config) {
  ASSIGN_OR_RETURN(config.scheduler.sync_full, ParseSyncFull(value));
  return absl::OkStatus();
}

// THE option table. Order = help order; groups appear in order of first use.
// Defaults are written as text and parsed by the same `apply` functions in a test, so the text
// and the struct defaults in config.h cannot drift apart silently.
constexpr OptionSpec kOptions[] = {
    {"listen", "Listening", "HOST:PORT", "127.0.0.1:50051",
     "TCP address to serve on: host:port or [ipv6]:port. An empty value (`--listen=`, or "
     "`listen = \"\"` in the file) disables TCP. The default accepts local connections only.",
     false, true, &ApplyListen},
    {"unix_socket", "Listening", "PATH", "",
     "Also serve on this Unix domain socket (clients use FAST_CREWAI_ENDPOINT=unix:PATH). "
     "An existing socket that nobody listens on is replaced; any other existing file is an "
     "error.",
     false, true, &ApplyUnixSocket},
    {"unix_socket_mode", "Listening", "OCTAL", "0600",
     "Permission bits of the Unix socket file (octal). Must include owner read and write.", false,
     true, &ApplyUnixSocketMode},
    {"metrics_listen", "Listening", "HOST:PORT", "",
     "Serve Prometheus metrics (calls, status codes and latency per RPC method) over plain "
     "HTTP at http://HOST:PORT/metrics. Empty: off. The endpoint needs no token and shows "
     "counts, never stored data; bind it where only the metrics collector can reach it.",
     false, true, &ApplyMetricsListen},
    {"token", "Security", "TOKEN", "",
     "Require clients to send `authorization: Bearer TOKEN` on every call except health checks, "
     "reflection and ServerService. Empty: no token required. Prefer token_file or the "
     "environment over the command line, which other users can see.",
     false, true, &ApplyToken},
    {"token_file", "Security", "PATH", "",
     "Read the token from this file (surrounding whitespace ignored). Cannot be combined with "
     "token.",
     false, true, &ApplyTokenFile},
    {"tls_cert", "Security", "PATH", "",
     "PEM certificate chain; serve TLS instead of plaintext. Requires tls_key.", false, true,
     &ApplyTlsCert},
    {"tls_key", "Security", "PATH", "", "PEM private key for tls_cert. Requires tls_cert.", false,
     true, &ApplyTlsKey},
    {"tls_client_ca", "Security", "PATH", "",
     "PEM CA bundle; require client certificates signed by it (mutual TLS). Requires tls_cert "
     "and tls_key.",
     false, true, &ApplyTlsClientCa},
    {"data_dir", "Storage", "DIR", "./.fast-crewai",
     "Directory for the LOCK file and one SQLite database per service. Created if missing; "
     "existing data is never deleted. Only one daemon may use a directory at a time.",
     false, true, &ApplyDataDir},
    {"config", "Runtime", "PATH", "",
     "Read options from this file: one `key = value` per line, `#` starts a comment line. "
     "Flags and environment variables override it.",
     false, false, &ApplyConfigFile},
    {"log_level", "Runtime", "LEVEL", "info",
     "Lowest level logged to stderr: debug, info, warning or error.", false, true, &ApplyLogLevel},
    {"grace_period", "Runtime", "DURATION", "5s",
     "On SIGTERM or SIGINT, how long in-flight calls may run before they are cancelled "
     "(0 to 1h, e.g. 5s, 500ms).",
     false, true, &ApplyGracePeriod},
    {"reflection", "Runtime", "BOOL", "true",
     "Serve gRPC server reflection, so generic tools can list the API.", true, true,
     &ApplyReflection},
    // ===== Per-service options: add rows for new services below this line. =====
    {"memory_search_threads", "Memory", "N", "0",
     "Threads used to scan memory records during a search; 0 means one per CPU.", false, true,
     &ApplyMemorySearchThreads},
    {"memory_max_records", "Memory", "N", "0",
     "Most records the memory store holds, over every namespace; 0 means no limit. A save "
     "that would add records beyond it is refused with RESOURCE_EXHAUSTED and stores nothing; "
     "saving existing records again, deleting and resetting always work. A 1536-dimension "
     "record with short text takes about 9-10.5 KB of RAM (docs/memory.md, Capacity).",
     false, true, &ApplyMemoryMaxRecords},
    {"memory_sync", "Memory", "MODE", "full",
     "When a memory write is on disk: full fsyncs the write-ahead log at every commit (an "
     "acknowledged save survives power loss; concurrent writers share one fsync), normal only "
     "at checkpoints (an acknowledged save is in the write-ahead log before the reply and "
     "survives a crash or kill -9 of the daemon, not of the machine).",
     false, true, &ApplyMemorySync},
    {"memory_integrity_check", "Memory", "CHECK", "quick",
     "Check of memory.db at start: quick (PRAGMA quick_check), full (PRAGMA integrity_check, "
     "also verifies indexes) or off. A damaged file stops the daemon with exit code 3 and is "
     "left untouched. Both read the whole file (0.3-0.5 s per GB from the page cache, more from "
     "a cold disk).",
     false, true, &ApplyMemoryIntegrityCheck},
    {"cache_max_bytes", "Cache", "SIZE", "256M",
     "Budget of the tool-result cache over all namespaces (e.g. 64M, 1G). Entries are admitted "
     "and evicted by W-TinyLFU; one value may take at most 1/16 of it.",
     false, true, &ApplyCacheMaxBytes},
    {"cache_namespace_max_bytes", "Cache", "SIZE", "0",
     "Budget of each cache namespace; 0 means no limit below cache_max_bytes. A namespace "
     "over its budget loses its least recently used entries.",
     false, true, &ApplyCacheNamespaceMaxBytes},
    {"cache_max_value_bytes", "Cache", "SIZE", "8M",
     "Largest tool result one Put may store; larger ones are refused with RESOURCE_EXHAUSTED.",
     false, true, &ApplyCacheMaxValueBytes},
    {"cache_default_ttl", "Cache", "DURATION", "0",
     "Lifetime of cached results whose client gives none (e.g. 10m, 24h); 0 means they never "
     "expire. FAST_CREWAI_CACHE_TTL on the client sets a TTL per call.",
     false, true, &ApplyCacheDefaultTtl},
    {"cache_persist", "Cache", "BOOL", "false",
     "Write cached results through to <data_dir>/cache.db, so they and their expiry survive a "
     "restart (an acknowledged Put is on disk).",
     true, true, &ApplyCachePersist},
    {"persistence_sync", "Persistence", "MODE", "full",
     "When a persistence write is on disk: full fsyncs the write-ahead log at every commit (an "
     "acknowledged write survives power loss; concurrent writers share one fsync), normal only "
     "at checkpoints (survives a crash of the daemon, not of the machine).",
     false, true, &ApplyPersistenceSync},
    {"persistence_integrity_check", "Persistence", "CHECK", "quick",
     "Check of persistence.db at start: quick (PRAGMA quick_check), full (PRAGMA "
     "integrity_check, also verifies indexes) or off. A damaged file stops the daemon with exit "
     "code 3 and is left untouched.",
     false, true, &ApplyPersistenceIntegrityCheck},
    {"persistence_max_kickoffs", "Persistence", "N", "1000",
     "Kickoff replay logs kept (each kickoff has its own); starting one more deletes the oldest.",
     false, true, &ApplyPersistenceMaxKickoffs},
    {"persistence_max_value_bytes", "Persistence", "SIZE", "16M",
     "Largest JSON text (a task output, inputs, a flow state) one request may store; larger "
     "ones are refused with RESOURCE_EXHAUSTED naming the field.",
     false, true, &ApplyPersistenceMaxValueBytes},
    {"persistence_lock_lease", "Persistence", "DURATION", "30s",
     "Lease of a named lock whose client asks for none (1s to 10m; a client may ask for 100ms "
     "to 10m). A holder renews it while it holds the lock; a holder that stops (hung, "
     "partitioned) loses the lock when it lapses. A killed client's locks are freed at once.",
     false, true, &ApplyPersistenceLockLease},
    {"scheduler_lease", "Scheduler", "DURATION", "30s",
     "Lease of the task nodes of runs that ask for none (100ms to 1h). A worker renews its "
     "leases while it works; a lease that lapses (the worker died or hung) puts the node back in "
     "its queue while it has attempts left.",
     false, true, &ApplySchedulerLease},
    {"scheduler_max_attempts", "Scheduler", "N", "3",
     "Leases a node gets (for runs that ask for no other number) before a node whose lease "
     "lapses or whose worker reports a retryable failure fails for good (1-100).",
     false, true, &ApplySchedulerMaxAttempts},
    {"scheduler_max_payload_bytes", "Scheduler", "SIZE", "4M",
     "Largest payload, output or error of one task node; larger ones are refused with "
     "RESOURCE_EXHAUSTED naming the field.",
     false, true, &ApplySchedulerMaxPayloadBytes},
    {"scheduler_max_runs", "Scheduler", "N", "1000",
     "Finished runs kept in scheduler.db for listings; when one more finishes, the run that "
     "finished first is deleted. Running runs are never deleted.",
     false, true, &ApplySchedulerMaxRuns},
    {"scheduler_sync", "Scheduler", "MODE", "full",
     "When a scheduler write is on disk: full fsyncs the write-ahead log at every commit (an "
     "acknowledged CreateRun, CompleteNode, FailNode or CancelRun survives power loss; "
     "concurrent calls share one fsync), normal only at checkpoints (survives a crash of the "
     "daemon, not of the machine).",
     false, true, &ApplySchedulerSync},
};

std::string EnvVarFor(absl::string_view name) {
  return absl::StrCat("FAST_CREWAI_", absl::AsciiStrToUpper(name));
}

const OptionSpec* FindOption(absl::string_view name) {
  for (const OptionSpec& spec : kOptions) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

// Levenshtein distance, for "did you mean" hints.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string SuggestionFor(absl::string_view name) {
  const OptionSpec* best = nullptr;
  size_t best_distance = 3;  // Only close matches are worth suggesting.
  for (const OptionSpec& spec : kOptions) {
    const size_t d = EditDistance(name, spec.name);
    if (d < best_distance) {
      best_distance = d;
      best = &spec;
    }
  }
  if (best == nullptr) return "";
  return absl::StrCat("; did you mean --", best->name, "?");
}

// A value and where it came from ("--listen", "FAST_CREWAI_LISTEN", "/etc/x.conf:3: listen").
struct Setting {
  std::string value;
  std::string source;
};

absl::Status ReadFile(const std::string& path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", Quote(path), ": ", ErrnoText(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", Quote(path), ": ", ErrnoText(errno)));
  }
  *contents = buffer.str();
  return absl::OkStatus();
}

// Checks that `path` names a readable regular file (or something that reads like one).
absl::Status CheckReadable(const std::string& path) {
  std::string ignored;
  return ReadFile(path, &ignored);
}

// Parses a double-quoted config-file value: "..." with \" and \\ escapes.
absl::StatusOr<std::string> UnquoteValue(absl::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  std::string out;
  for (size_t i = 1; i + 1 < value.size(); ++i) {
    char c = value[i];
    if (c == '\\') {
      if (i + 2 >= value.size()) return absl::InvalidArgumentError("dangling \\ in quoted value");
      c = value[++i];
    }
    out.push_back(c);
  }
  return out;
}

// Parses the config file into `settings` (keyed by option name).
absl::Status ParseConfigFile(const std::string& path, std::map<std::string, Setting>* settings) {
  std::string contents;
  absl::Status read = ReadFile(path, &contents);
  if (!read.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--config: ", read.message()));
  }
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    const std::string where = absl::StrCat(path, ":", line_number);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected `key = value`, got ", Quote(line)));
    }
    std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    absl::StrReplaceAll({{"-", "_"}}, &key);
    const OptionSpec* spec = FindOption(key);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown option ", Quote(key), SuggestionFor(key)));
    }
    if (!spec->file_key) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", key, ": not allowed in a config file"));
    }
    absl::StatusOr<std::string> value =
        UnquoteValue(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", key, ": ", value.status().message()));
    }
    (*settings)[key] = Setting{*std::move(value), absl::StrCat(where, ": ", key)};
  }
  return absl::OkStatus();
}

struct ParsedArgs {
  Config::Command command = Config::Command::kServe;
  std::string probe_address;
  std::map<std::string, Setting> flags;
};

absl::StatusOr<ParsedArgs> ParseArgs(int argc, const char* const* argv) {
  ParsedArgs parsed;
  // --help and --version win wherever they appear, so `... --bad --help` still shows help.
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      parsed.command = Config::Command::kHelp;
      return parsed;
    }
    if (arg == "--version") {
      parsed.command = Config::Command::kVersion;
      return parsed;
    }
    if (arg == "--help-markdown" || arg == "--help_markdown") {
      parsed.command = Config::Command::kHelpMarkdown;
      return parsed;
    }
    if (absl::StartsWith(arg, "--probe")) {
      const absl::string_view rest = arg.substr(strlen("--probe"));
      parsed.command = Config::Command::kProbe;
      if (absl::StartsWith(rest, "=")) {
        parsed.probe_address = std::string(rest.substr(1));
      } else if (rest.empty() && i + 1 < argc) {
        parsed.probe_address = argv[i + 1];
      } else {
        return absl::InvalidArgumentError("--probe: expected --probe=HOST:PORT or --probe=unix:PATH");
      }
      if (parsed.probe_address.empty()) {
        return absl::InvalidArgumentError("--probe: the address is empty");
      }
      return parsed;
    }
  }
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (!absl::StartsWith(arg, "--") || arg == "--") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument ", Quote(arg), " (options look like --name=value; see --help)"));
    }
    absl::string_view body = arg.substr(2);
    std::optional<std::string> value;
    const size_t eq = body.find('=');
    if (eq != absl::string_view::npos) {
      value = std::string(body.substr(eq + 1));
      body = body.substr(0, eq);
    }
    std::string name(body);
    absl::StrReplaceAll({{"-", "_"}}, &name);
    const OptionSpec* spec = FindOption(name);
    if (spec == nullptr && absl::StartsWith(name, "no") && !value.has_value()) {
      const OptionSpec* negated = FindOption(name.substr(2));
      if (negated != nullptr && negated->is_bool) {
        parsed.flags[negated->name] = Setting{"false", absl::StrCat("--", name)};
        continue;
      }
    }
    // Never echo a value here: an unknown flag might be a mistyped --token.
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": unknown flag", SuggestionFor(name), " (see --help)"));
    }
    if (!value.has_value()) {
      if (spec->is_bool) {
        value = "true";
      } else if (i + 1 < argc && !absl::StartsWith(argv[i + 1], "--")) {
        value = std::string(argv[++i]);
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, ": missing value (--", name, "=", spec->value_name, ")"));
      }
    }
    parsed.flags[spec->name] = Setting{*std::move(value), absl::StrCat("--", spec->name)};
  }
  return parsed;
}

// Returns "FLAG (or ENV)" for cross-option messages: "--tls_key (or FAST_CREWAI_TLS_KEY)".
std::string Describe(absl::string_view name) {
  return absl::StrCat("--", name, " (or ", EnvVarFor(name), ")");
}

// Checks the combinations of options and loads files they point at.
absl::Status ValidateAndResolve(const std::map<std::string, std::string>& sources, Config& config) {
  auto source = [&sources](const char* name) {
    auto it = sources.find(name);
    return it != sources.end() ? it->second : absl::StrCat("--", name);
  };
  if (config.listen.address.empty() && config.listen.unix_socket.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source("listen"), ": TCP is disabled and no --unix_socket is set; nothing to serve on"));
  }
  if (!config.tls.cert_file.empty() && config.tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source("tls_cert"), ": requires ", Describe("tls_key")));
  }
  if (!config.tls.key_file.empty() && config.tls.cert_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source("tls_key"), ": requires ", Describe("tls_cert")));
  }
  if (!config.tls.client_ca_file.empty() && config.tls.cert_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source("tls_client_ca"), ": requires ",
                                                   Describe("tls_cert"), " and --tls_key"));
  }
  const std::pair<const char*, const std::string*> tls_files[] = {
      {"tls_cert", &config.tls.cert_file},
      {"tls_key", &config.tls.key_file},
      {"tls_client_ca", &config.tls.client_ca_file}};
  for (const auto& [name, path_ptr] : tls_files) {
    const std::string& path = *path_ptr;
    if (path.empty()) continue;
    absl::Status readable = CheckReadable(path);
    if (!readable.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source(name), ": ", readable.message()));
    }
  }
  if (!config.auth.token_file.empty()) {
    if (!config.auth.token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source("token_file"), ": cannot be combined with ", Describe("token"), "; use one"));
    }
    std::string contents;
    absl::Status read = ReadFile(config.auth.token_file, &contents);
    if (!read.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source("token_file"), ": ", read.message()));
    }
    const absl::string_view token = absl::StripAsciiWhitespace(contents);
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source("token_file"), ": ", Quote(config.auth.token_file), " is empty"));
    }
    absl::Status valid = ApplyToken(token, config);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source("token_file"), ": ", Quote(config.auth.token_file), ": ", valid.message()));
    }
  }
  return absl::OkStatus();
}

std::string DefaultShown(const OptionSpec& spec) {
  return std::string(spec.default_value).empty() ? "\"\"" : spec.default_value;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<Config> LoadConfig(int argc, const char* const* argv, const EnvLookup& env) {
  ASSIGN_OR_RETURN(ParsedArgs args, ParseArgs(argc, argv));
  Config config;
  config.command = args.command;
  config.probe_address = args.probe_address;
  if (config.command != Config::Command::kServe) return config;

  // Collect every source, lowest precedence first; later sources overwrite earlier ones.
  std::map<std::string, Setting> settings;

  std::string config_path;
  if (auto it = args.flags.find("config"); it != args.flags.end()) {
    config_path = it->second.value;
  } else if (std::optional<std::string> from_env = env(EnvVarFor("config"));
             from_env && !from_env->empty()) {
    config_path = *from_env;
  }
  if (!config_path.empty()) {
    RETURN_IF_ERROR(ParseConfigFile(config_path, &settings));
  }
  for (const OptionSpec& spec : kOptions) {
    const std::string var = EnvVarFor(spec.name);
    // An empty variable counts as unset (the client's rule too): `FAST_CREWAI_TOKEN=` from a
    // compose file's `${FAST_CREWAI_TOKEN:-}` must not switch off a token the file sets.
    if (std::optional<std::string> value = env(var); value.has_value() && !value->empty()) {
      settings[spec.name] = Setting{*value, var};
    }
  }
  for (auto& [name, setting] : args.flags) settings[name] = setting;

  std::map<std::string, std::string> sources;
  for (const OptionSpec& spec : kOptions) {
    auto it = settings.find(spec.name);
    if (it == settings.end()) continue;
    absl::Status applied = spec.apply(it->second.value, config);
    if (!applied.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(it->second.source, ": ", applied.message()));
    }
    sources[spec.name] = it->second.source;
  }
  RETURN_IF_ERROR(ValidateAndResolve(sources, config));
  return config;
}

std::vector<OptionInfo> ListOptions() {
  std::vector<OptionInfo> options;
  for (const OptionSpec& spec : kOptions) {
    options.push_back(OptionInfo{spec.name, EnvVarFor(spec.name), spec.group, spec.value_name,
                                 spec.default_value, spec.help, spec.is_bool, spec.file_key});
  }
  return options;
}

std::string VersionText() { return absl::StrCat("fast-crewai-server ", kVersion); }

std::string HelpText() {
  std::string out = absl::StrCat(
      "Usage: fast-crewai-server [--option=value ...]\n"
      "       fast-crewai-server --probe=HOST:PORT|unix:PATH   (one health check; exit 0 if SERVING)\n"
      "       fast-crewai-server --version | --help\n\n",
      VersionText(),
      ": the fast-crewai daemon (memory, persistence, tool cache and\n"
      "scheduling for CrewAI, over gRPC).\n\n"
      "Every option can be given as a flag (--name=value or --name value), as an environment\n"
      "variable, or as a `name = value` line in the config file.\n"
      "Precedence: flag > environment > config file > default.\n"
      "Exit codes: 0 clean stop, 1 start failure, 2 usage or configuration error,\n"
      "3 corrupt database.\n");
  std::string group;
  for (const OptionSpec& spec : kOptions) {
    if (group != spec.group) {
      group = spec.group;
      absl::StrAppend(&out, "\n", group, ":\n");
    }
    const std::string flag = spec.is_bool
                                 ? absl::StrCat("--", spec.name, "[=", spec.value_name, "]")
                                 : absl::StrCat("--", spec.name, "=", spec.value_name);
    absl::StrAppend(&out, "  ", flag, "\n      env ", EnvVarFor(spec.name), ", default ",
                    DefaultShown(spec), "\n");
    // Wrap help at ~90 columns.
    std::string line = "     ";
    for (absl::string_view word : absl::StrSplit(spec.help, ' ', absl::SkipEmpty())) {
      if (line.size() + 1 + word.size() > 94) {
        absl::StrAppend(&out, line, "\n");
        line = "     ";
      }
      absl::StrAppend(&line, " ", word);
    }
    absl::StrAppend(&out, line, "\n");
  }
  absl::StrAppend(&out,
                  "\nOther flags:\n  --help     print this help and exit\n"
                  "  --version  print the version and exit\n");
  return out;
}

std::string HelpMarkdown() {
  std::string out =
      "# Configuration\n\n"
      "<!-- Generated by `fast-crewai-server --help-markdown`; edit server/config/config.cc, "
      "not this file. -->\n\n"
      "`fast-crewai-server` reads every option from, in order of precedence:\n\n"
      "1. a command-line flag: `--name=value` or `--name value` (booleans also `--name` and "
      "`--noname`);\n"
      "2. an environment variable `FAST_CREWAI_NAME` (set to the empty string it counts as "
      "unset);\n"
      "3. the config file named by `--config` or `FAST_CREWAI_CONFIG`: one `name = value` per "
      "line, `#` starts a comment line, a value may be double-quoted (`listen = \"\"`);\n"
      "4. the built-in default.\n\n"
      "An unknown flag or an invalid value stops the daemon with one line on stderr naming the "
      "option, and exit code 2. `--help` lists the options; `--version` prints the version.\n";
  std::string group;
  for (const OptionSpec& spec : kOptions) {
    if (group != spec.group) {
      group = spec.group;
      absl::StrAppend(&out, "\n## ", group,
                      "\n\n| Flag | Environment variable | Config key | Default | Description "
                      "|\n| --- | --- | --- | --- | --- |\n");
    }
    const std::string default_cell = std::string(spec.default_value).empty()
                                         ? "`\"\"`"
                                         : absl::StrCat("`", spec.default_value, "`");
    std::string help = spec.help;
    absl::StrReplaceAll({{"|", "\\|"}}, &help);
    absl::StrAppend(&out, "| `--", spec.name, "` | `", EnvVarFor(spec.name), "` | ",
                    spec.file_key ? absl::StrCat("`", spec.name, "`") : std::string("-"), " | ",
                    default_cell, " | ", help, " |\n");
  }
  return out;
}

std::string HostPort::ToString() const {
  return ipv6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  HostPort result;
  absl::string_view port_text;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid address ", Quote(text), " (expected [ipv6]:port)"));
    }
    result.host = std::string(text.substr(1, close - 1));
    result.ipv6 = true;
    port_text = text.substr(close + 2);
    if (result.host.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid address ", Quote(text), " (empty host; expected [ipv6]:port)"));
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid address ", Quote(text), " (expected host:port)"));
    }
    result.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (result.host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid address ", Quote(text), " (empty host; use 0.0.0.0:PORT for all interfaces)"));
    }
    if (absl::StrContains(result.host, ':')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid address ", Quote(text), " (write IPv6 addresses in brackets: [::1]:50051)"));
    }
  }
  int port = 0;
  const bool digits_only = !port_text.empty() && port_text.size() <= 5 &&
                           std::all_of(port_text.begin(), port_text.end(), absl::ascii_isdigit);
  if (!digits_only || !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid port ", Quote(port_text), " (expected 1-65535)"));
  }
  result.port = port;
  return result;
}

}  // namespace fast_crewai
