// File: config.h
//
// The daemon's configuration: one table of options (config.cc), each with a flag (--listen), an
// environment variable (FAST_CREWAI_LISTEN), a config-file key (listen), a default and help
// text. LoadConfig() merges the sources with the precedence
//
//   command-line flag  >  environment  >  config file (--config / FAST_CREWAI_CONFIG)  >  default
//
// into one Config of grouped sub-structs. Parts of the daemon receive their sub-struct by const
// reference and never read flags or the environment themselves.
//
// Flags: `--name=value` or `--name value`; booleans also as `--name` / `--noname`; `-` and `_`
// are interchangeable in names (--unix-socket). The config file has one `key = value` per line,
// full-line `#` comments and optional double quotes around a value (`listen = ""`).
//
// Every error names the option and where it came from and never echoes a secret:
//   --listen: invalid port "99999" (expected 1-65535)
//   FAST_CREWAI_LOG_LEVEL: invalid log level "loud" (expected debug, info, warning or error)
//   /etc/fast-crewai.conf:3: grace_period: invalid duration "soon" (expected e.g. 5s, 500ms, 1m)
//
// Example (main.cc):
//   absl::StatusOr<Config> config = LoadConfig(argc, argv, ProcessEnvironment());
//   if (!config.ok()) { /* print config.status().message(), exit 2 */ }
//   if (config->command == Config::Command::kHelp) { std::cout << HelpText(); ... }
#ifndef FAST_CREWAI_SERVER_CONFIG_CONFIG_H_
#define FAST_CREWAI_SERVER_CONFIG_CONFIG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/util/logging.h"

namespace fast_crewai {

// Where and how the daemon accepts connections.
struct ListenOptions {
  // TCP address, "host:port" or "[v6addr]:port"; "" disables TCP.
  // Default: "127.0.0.1:50051" (loopback only: nothing is exposed to the network by default).
  std::string address = "127.0.0.1:50051";
  // Path of a Unix domain socket to serve on as well; "" for none. Default: "".
  std::string unix_socket;
  // Permission bits given to the socket file right after it is created. Default: 0600, so only
  // the daemon's user can connect.
  uint32_t unix_socket_mode = 0600;
  // "host:port" of a plain HTTP endpoint serving GET /metrics (Prometheus text format: calls,
  // status codes and latencies per RPC method); "" for none. Default: "" (off, and no per-call
  // accounting at all).
  std::string metrics_address;
};

// Who may call. Health, reflection and ServerService never need a token.
struct AuthOptions {
  // The bearer token clients must send as `authorization: Bearer <token>`. After LoadConfig it
  // holds the effective token, read from `token_file` when that is set. Default: "" (no token
  // required). Never log it.
  std::string token;
  // File holding the token (surrounding whitespace is ignored). Default: "".
  std::string token_file;

  bool required() const { return !token.empty(); }
};

// Transport security. TLS is on when cert_file is set; mutual TLS when client_ca_file is too.
struct TlsOptions {
  // PEM server certificate chain. Default: "" (plaintext).
  std::string cert_file;
  // PEM private key of cert_file. Default: "".
  std::string key_file;
  // PEM CA bundle that client certificates must chain to; set to require client certificates.
  // Default: "".
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }
};

// Where state lives on disk.
struct StorageOptions {
  // Holds LOCK and one SQLite file per service. Created (mode 0700) if missing; existing data is
  // never deleted. Default: "./.fast-crewai".
  std::string data_dir = "./.fast-crewai";
};

// Process-wide behaviour.
struct RuntimeOptions {
  // Lowest level written to stderr. Default: info.
  LogLevel log_level = LogLevel::kInfo;
  // On SIGTERM/SIGINT, how long in-flight calls may take to finish before they are cancelled.
  // Default: 5s.
  absl::Duration grace_period = absl::Seconds(5);
  // Serve grpc.reflection.v1alpha.ServerReflection (lets grpcurl-like tools list the API).
  // Default: true.
  bool reflection = true;
};

// ===== Per-service options ===================================================================
// Each service adds its own struct here, its fields to Config, and its rows to the option table
// in config.cc (group "Memory", "Cache", ...). Nothing else needs to change: help text, the
// Markdown reference and the docs test all come from the table.

// Options of the memory service (server/memory).
// How a database file is checked at start; a damaged file stops the daemon (exit code 3) and
// is left untouched. kQuick: PRAGMA quick_check; kFull: PRAGMA integrity_check (also indexes).
enum class IntegrityCheck { kOff, kQuick, kFull };

struct MemoryOptions {
  // Threads used to scan for search results; 0 means std::thread::hardware_concurrency().
  // Default: 0.
  int search_threads = 0;
  // true: fsync the WAL of memory.db at every commit, so an acknowledged write survives power
  // loss (group commit shares the fsync among concurrent writers); false: at checkpoints only
  // (an acknowledged write is in the WAL before the reply and survives a crash or kill -9 of
  // the daemon, not of the machine). Default: true.
  bool sync_full = true;
  // At most this many records over every namespace; a write that would add more is refused
  // with RESOURCE_EXHAUSTED. 0: no limit. Default: 0.
  int64_t max_records = 0;
  // How memory.db is checked at start. Default: kQuick.
  IntegrityCheck integrity_check = IntegrityCheck::kQuick;
};

// Options of the tool-result cache (server/cache). Sizes in bytes.
struct CacheOptions {
  // Budget of the whole cache. Default: 256 MiB.
  int64_t max_bytes = int64_t{256} << 20;
  // Budget of each namespace (unless set by ConfigureNamespace); 0 = none. Default: 0.
  int64_t namespace_max_bytes = 0;
  // Largest value one Put may store. Default: 8 MiB.
  int64_t max_value_bytes = int64_t{8} << 20;
  // TTL of Puts that give none; 0 = never expire. Default: 0.
  absl::Duration default_ttl = absl::ZeroDuration();
  // Write entries through to <data_dir>/cache.db so they survive restarts. Default: false.
  bool persist = false;
};

// Options of the persistence service (server/persistence): kickoff task outputs, flow state,
// legacy long-term memory (<data_dir>/persistence.db) and named lease locks.
struct PersistenceOptions {
  // fsync the WAL at every commit, so an acknowledged write survives power loss (group
  // commit shares the fsync among concurrent writers); false: at checkpoints only (survives a
  // crash of the daemon, not of the machine). Default: true ("full").
  bool sync_full = true;
  // How persistence.db is checked at start. Default: kQuick.
  IntegrityCheck integrity_check = IntegrityCheck::kQuick;
  // Kickoff replay logs kept; creating one more deletes the oldest. Default: 1000.
  int64_t max_kickoffs = 1000;
  // Largest JSON text (task output, inputs, flow state, ...) one request may store.
  // Default: 16 MiB.
  int64_t max_value_bytes = int64_t{16} << 20;
  // Lease of a lock whose client asks for none; the holder renews it while it holds the
  // lock. Default: 30s.
  absl::Duration lock_lease = absl::Seconds(30);
};

// Options of the scheduler (server/scheduler): runs of task nodes, worker leases and shared
// rate limits (<data_dir>/scheduler.db).
struct SchedulerOptions {
  // Lease of the nodes of runs that ask for none; workers renew it while they work, a lease
  // that lapses puts the node back in its queue. Default: 30s.
  absl::Duration lease = absl::Seconds(30);
  // Leases per node (of runs that ask for no other number) before a lapsing or failing node
  // fails for good. Default: 3.
  int max_attempts = 3;
  // Largest node payload, output or error, in bytes. Default: 4 MiB.
  int64_t max_payload_bytes = int64_t{4} << 20;
  // Finished runs kept; one more finishing deletes the oldest finished run. Default: 1000.
  int64_t max_runs = 1000;
  // fsync the WAL of scheduler.db at every commit (an acknowledged CreateRun, CompleteNode,
  // FailNode or CancelRun survives power loss); false: at checkpoints only (survives a crash
  // of the daemon, not of the machine). Default: true ("full").
  bool sync_full = true;
};
// =============================================================================================

struct Config {
  // What main() should do. Anything but kServe skips validation of the other options.
  enum class Command {
    kServe,         // Run the daemon.
    kHelp,          // --help, -h: print HelpText().
    kVersion,       // --version: print VersionText().
    kHelpMarkdown,  // --help-markdown (hidden): print HelpMarkdown(), i.e. docs/configuration.md.
    kProbe,         // --probe=ADDRESS: one health check of a running daemon (container probes).
  };
  Command command = Command::kServe;
  // With kProbe: the address to check (host:port or unix:PATH).
  std::string probe_address;

  // The config file that was read; "" when none.
  std::string config_file;

  ListenOptions listen;
  AuthOptions auth;
  TlsOptions tls;
  StorageOptions storage;
  RuntimeOptions runtime;
  MemoryOptions memory;
  CacheOptions cache;
  PersistenceOptions persistence;
  SchedulerOptions scheduler;
};

// Looks up one environment variable; nullopt when unset. Injected so tests control the
// environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The real process environment (getenv).
EnvLookup ProcessEnvironment();

// Builds the Config from argv (argv[0] is skipped), the environment and the config file. An
// environment variable set to the empty string counts as unset (an empty value is given with a
// flag, `--listen=`, or in the file, `listen = ""`).
// For --help, --version and --help-markdown returns a Config with only `command` set.
// Otherwise validates every option and the combinations (tls_cert needs tls_key, at least one of
// listen and unix_socket, token_file readable, ...) and reads token_file into auth.token.
// Returns InvalidArgumentError with a one-line message naming the option on any problem
// (unknown flag, missing value, bad value, unreadable file).
absl::StatusOr<Config> LoadConfig(int argc, const char* const* argv, const EnvLookup& env);

// One row of the option table, for help output, docs and tests.
struct OptionInfo {
  std::string name;           // Flag without dashes and config-file key: "listen".
  std::string env_var;        // "FAST_CREWAI_LISTEN".
  std::string group;          // Heading: "Listening", "Security", ...
  std::string value_name;     // Placeholder in help: "HOST:PORT".
  std::string default_value;  // As text, exactly as accepted on the command line.
  std::string help;           // One or more sentences.
  bool is_bool = false;
  bool file_key = true;  // False for `config`, which cannot appear in a config file.
};

// Every option, in help order.
std::vector<OptionInfo> ListOptions();

// `fast-crewai-server <version>`, no newline.
std::string VersionText();

// The --help text: usage, precedence, every option with its env var and default.
std::string HelpText();

// The option reference as Markdown (the content of docs/configuration.md).
std::string HelpMarkdown();

// A parsed listen address.
struct HostPort {
  std::string host;  // Without brackets: "127.0.0.1", "::1", "localhost".
  int port = 0;
  bool ipv6 = false;  // Written with brackets.

  // "host:port" or "[host]:port".
  std::string ToString() const;
};

// Parses "host:port" or "[v6]:port" with port 1..65535. Errors name the problem, not the option:
// `invalid port "99999" (expected 1-65535)`.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_CONFIG_CONFIG_H_
