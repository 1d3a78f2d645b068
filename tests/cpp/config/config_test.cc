#include "server/config/config.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/version.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using Env = std::map<std::string, std::string>;

absl::StatusOr<Config> Load(std::vector<std::string> args, Env env = {}) {
  args.insert(args.begin(), "fast-crewai-server");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  return LoadConfig(static_cast<int>(args.size()), argv.data(),
                    [&env](const std::string& name) -> std::optional<std::string> {
                      auto it = env.find(name);
                      if (it == env.end()) return std::nullopt;
                      return it->second;
                    });
}

// Every field, for whole-Config comparisons.
std::string Describe(const Config& c) {
  return absl::StrCat(
      "listen=", c.listen.address, " unix=", c.listen.unix_socket,
      " mode=", c.listen.unix_socket_mode, " token=", c.auth.token,
      " token_file=", c.auth.token_file, " cert=", c.tls.cert_file, " key=", c.tls.key_file,
      " ca=", c.tls.client_ca_file, " data_dir=", c.storage.data_dir,
      " level=", LogLevelName(c.runtime.log_level),
      " grace=", absl::FormatDuration(c.runtime.grace_period), " reflection=", c.runtime.reflection,
      " search_threads=", c.memory.search_threads, " config=", c.config_file);
}

TEST(ConfigTest, DefaultsWithoutAnySource) {
  ASSERT_OK_AND_ASSIGN(Config config, Load({}));
  EXPECT_EQ(config.command, Config::Command::kServe);
  EXPECT_EQ(config.listen.address, "127.0.0.1:50051");
  EXPECT_EQ(config.listen.unix_socket, "");
  EXPECT_EQ(config.listen.unix_socket_mode, 0600u);
  EXPECT_EQ(config.storage.data_dir, "./.fast-crewai");
  EXPECT_EQ(config.runtime.log_level, LogLevel::kInfo);
  EXPECT_EQ(config.runtime.grace_period, absl::Seconds(5));
  EXPECT_TRUE(config.runtime.reflection);
  EXPECT_FALSE(config.auth.required());
  EXPECT_FALSE(config.tls.enabled());
  EXPECT_EQ(config.memory.search_threads, 0);
  EXPECT_EQ(config.config_file, "");
}

// The defaults written in the option table (help, docs) are the defaults of the structs.
TEST(ConfigTest, TableDefaultsEqualStructDefaults) {
  std::vector<std::string> args;
  for (const OptionInfo& option : ListOptions()) {
    if (option.name == "config") continue;
    args.push_back(absl::StrCat("--", option.name, "=", option.default_value));
  }
  ASSERT_OK_AND_ASSIGN(Config explicit_defaults, Load(args));
  ASSERT_OK_AND_ASSIGN(Config implicit_defaults, Load({}));
  EXPECT_EQ(Describe(explicit_defaults), Describe(implicit_defaults));
}

TEST(ConfigTest, PrecedenceIsFlagThenEnvironmentThenFileThenDefault) {
  TempDir dir;
  const std::string file = dir.WriteFile("server.conf",
                                         "# comment\n"
                                         "listen = 127.0.0.1:1001\n"
                                         "log_level = debug\n"
                                         "grace_period = 1s\n"
                                         "data_dir = /from/file\n");
  // File only.
  ASSERT_OK_AND_ASSIGN(Config c1, Load({"--config", file}));
  EXPECT_EQ(c1.listen.address, "127.0.0.1:1001");
  EXPECT_EQ(c1.runtime.log_level, LogLevel::kDebug);
  EXPECT_EQ(c1.runtime.grace_period, absl::Seconds(1));
  EXPECT_EQ(c1.storage.data_dir, "/from/file");
  EXPECT_EQ(c1.config_file, file);
  EXPECT_EQ(c1.listen.unix_socket_mode, 0600u);  // Default where nobody says otherwise.

  // Environment beats the file.
  ASSERT_OK_AND_ASSIGN(Config c2,
                       Load({"--config", file}, {{"FAST_CREWAI_LISTEN", "127.0.0.1:1002"},
                                                 {"FAST_CREWAI_LOG_LEVEL", "error"}}));
  EXPECT_EQ(c2.listen.address, "127.0.0.1:1002");
  EXPECT_EQ(c2.runtime.log_level, LogLevel::kError);
  EXPECT_EQ(c2.storage.data_dir, "/from/file");

  // Flags beat the environment.
  ASSERT_OK_AND_ASSIGN(Config c3, Load({"--config", file, "--listen=127.0.0.1:1003"},
                                       {{"FAST_CREWAI_LISTEN", "127.0.0.1:1002"}}));
  EXPECT_EQ(c3.listen.address, "127.0.0.1:1003");
  EXPECT_EQ(c3.runtime.grace_period, absl::Seconds(1));
}

TEST(ConfigTest, AnEmptyEnvironmentVariableCountsAsUnset) {
  TempDir dir;
  const std::string file = dir.WriteFile("server.conf",
                                         "listen = 127.0.0.1:1001\n"
                                         "token = fromfile\n");
  // As a compose file's `FAST_CREWAI_TOKEN: ${FAST_CREWAI_TOKEN:-}` sets it.
  ASSERT_OK_AND_ASSIGN(Config c, Load({"--config", file}, {{"FAST_CREWAI_TOKEN", ""},
                                                           {"FAST_CREWAI_LISTEN", ""}}));
  EXPECT_EQ(c.auth.token, "fromfile");
  EXPECT_EQ(c.listen.address, "127.0.0.1:1001");
  ASSERT_OK_AND_ASSIGN(Config no_file, Load({}, {{"FAST_CREWAI_CONFIG", ""}}));
  EXPECT_EQ(no_file.config_file, "");
  // An empty value is still given with a flag.
  ASSERT_OK_AND_ASSIGN(Config flag, Load({"--config", file, "--listen=", "--unix_socket",
                                          dir.path() + "/s.sock"}));
  EXPECT_EQ(flag.listen.address, "");
}

TEST(ConfigTest, ConfigFileCanComeFromTheEnvironment) {
  TempDir dir;
  const std::string file = dir.WriteFile("env.conf", "data_dir = /env/file\n");
  ASSERT_OK_AND_ASSIGN(Config config, Load({}, {{"FAST_CREWAI_CONFIG", file}}));
  EXPECT_EQ(config.storage.data_dir, "/env/file");
  EXPECT_EQ(config.config_file, file);
}

TEST(ConfigTest, ConfigFileSyntax) {
  TempDir dir;
  const std::string file = dir.WriteFile("syntax.conf",
                                         "  # indented comment\n"
                                         "\n"
                                         "listen = \"\"\n"
                                         "unix-socket=/tmp/x.sock\n"
                                         "data_dir = \"/with space/dir\"\n"
                                         "reflection = off\n");
  ASSERT_OK_AND_ASSIGN(Config config, Load({"--config=" + file}));
  EXPECT_EQ(config.listen.address, "");
  EXPECT_EQ(config.listen.unix_socket, "/tmp/x.sock");
  EXPECT_EQ(config.storage.data_dir, "/with space/dir");
  EXPECT_FALSE(config.runtime.reflection);
}

TEST(ConfigTest, ConfigFileErrorsNameFileLineAndKey) {
  TempDir dir;
  const std::string unknown = dir.WriteFile("a.conf", "listen = 127.0.0.1:1\nlisten_adress = x\n");
  EXPECT_THAT(Load({"--config", unknown}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith(unknown + ":2: unknown option \"listen_adress\"")));
  const std::string bad_value = dir.WriteFile("b.conf", "\n\ngrace_period = soon\n");
  EXPECT_THAT(Load({"--config", bad_value}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       bad_value + ":3: grace_period: invalid duration \"soon\" (expected 0 to "
                                   "1h, e.g. 5s, 500ms, 1m)"));
  const std::string no_equals = dir.WriteFile("c.conf", "listen 127.0.0.1:1\n");
  EXPECT_THAT(Load({"--config", no_equals}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith(no_equals + ":1: expected `key = value`")));
  const std::string nested = dir.WriteFile("d.conf", "config = other.conf\n");
  EXPECT_THAT(Load({"--config", nested}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       nested + ":1: config: not allowed in a config file"));
  EXPECT_THAT(
      Load({"--config", dir.path() + "/missing.conf"}),
      StatusIs(absl::StatusCode::kInvalidArgument, AllOf(StartsWith("--config: cannot read \""),
                                                         HasSubstr("No such file or directory"))));
}

TEST(ConfigTest, FlagForms) {
  ASSERT_OK_AND_ASSIGN(Config c1, Load({"--listen", "[::1]:7000", "--data-dir=/d", "--unix_socket",
                                        "/tmp/s.sock", "--grace_period=250ms"}));
  EXPECT_EQ(c1.listen.address, "[::1]:7000");
  EXPECT_EQ(c1.storage.data_dir, "/d");
  EXPECT_EQ(c1.listen.unix_socket, "/tmp/s.sock");
  EXPECT_EQ(c1.runtime.grace_period, absl::Milliseconds(250));

  // The last occurrence wins.
  ASSERT_OK_AND_ASSIGN(Config c2, Load({"--log_level=debug", "--log_level", "warning"}));
  EXPECT_EQ(c2.runtime.log_level, LogLevel::kWarning);

  // An empty value is a value.
  ASSERT_OK_AND_ASSIGN(Config c3, Load({"--listen=", "--unix_socket=/tmp/s.sock"}));
  EXPECT_EQ(c3.listen.address, "");
  ASSERT_OK_AND_ASSIGN(Config c4, Load({"--listen", "", "--unix_socket=/tmp/s.sock"}));
  EXPECT_EQ(c4.listen.address, "");
}

TEST(ConfigTest, BooleanFlags) {
  ASSERT_OK_AND_ASSIGN(Config on, Load({"--reflection"}, {{"FAST_CREWAI_REFLECTION", "false"}}));
  EXPECT_TRUE(on.runtime.reflection);
  ASSERT_OK_AND_ASSIGN(Config off, Load({"--noreflection"}));
  EXPECT_FALSE(off.runtime.reflection);
  ASSERT_OK_AND_ASSIGN(Config off2, Load({"--reflection=false"}));
  EXPECT_FALSE(off2.runtime.reflection);
  ASSERT_OK_AND_ASSIGN(Config off3, Load({}, {{"FAST_CREWAI_REFLECTION", "0"}}));
  EXPECT_FALSE(off3.runtime.reflection);
  EXPECT_THAT(Load({"--reflection=maybe"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--reflection: invalid boolean \"maybe\" (expected true or false)"));
  // A boolean flag does not swallow the next argument.
  EXPECT_THAT(
      Load({"--reflection", "false"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unexpected argument \"false\"")));
  // --no only negates booleans.
  EXPECT_THAT(Load({"--nolisten"}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--nolisten: unknown flag")));
}

TEST(ConfigTest, InvalidPortNamesTheOptionAndTheRange) {
  EXPECT_THAT(Load({"--listen=127.0.0.1:99999"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--listen: invalid port \"99999\" (expected 1-65535)"));
  EXPECT_THAT(Load({}, {{"FAST_CREWAI_LISTEN", "127.0.0.1:0"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "FAST_CREWAI_LISTEN: invalid port \"0\" (expected 1-65535)"));
}

TEST(ConfigTest, ListenAddressForms) {
  EXPECT_THAT(Load({"--listen=0.0.0.0:1"}), IsOk());
  EXPECT_THAT(Load({"--listen=localhost:65535"}), IsOk());
  EXPECT_THAT(Load({"--listen=[::]:50051"}), IsOk());
  EXPECT_THAT(Load({"--listen=[::1]:50051"}), IsOk());
  const std::pair<const char*, const char*> bad[] = {
      {"::1:50051", "write IPv6 addresses in brackets"},
      {":50051", "empty host"},
      {"127.0.0.1", "expected host:port"},
      {"127.0.0.1:", "invalid port \"\""},
      {"127.0.0.1:http", "invalid port \"http\""},
      {"127.0.0.1:-1", "invalid port \"-1\""},
      {"[::1]50051", "expected [ipv6]:port"},
      {"[]:50051", "empty host"},
  };
  for (const auto& [value, message] : bad) {
    EXPECT_THAT(Load({absl::StrCat("--listen=", value)}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(StartsWith("--listen: "), HasSubstr(message))))
        << value;
  }
}

TEST(ConfigTest, MetricsListenIsOffByDefaultAndTakesAHostPort) {
  ASSERT_OK_AND_ASSIGN(Config defaults, Load({}));
  EXPECT_EQ(defaults.listen.metrics_address, "");
  ASSERT_OK_AND_ASSIGN(Config flag, Load({"--metrics_listen=0.0.0.0:9464"}));
  EXPECT_EQ(flag.listen.metrics_address, "0.0.0.0:9464");
  ASSERT_OK_AND_ASSIGN(Config env, Load({}, {{"FAST_CREWAI_METRICS_LISTEN", "[::1]:9464"}}));
  EXPECT_EQ(env.listen.metrics_address, "[::1]:9464");
  EXPECT_THAT(Load({"--metrics_listen=9464"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("--metrics_listen: "), HasSubstr("expected host:port"))));
  EXPECT_THAT(Load({"--metrics_listen=127.0.0.1:70000"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--metrics_listen: invalid port \"70000\" (expected 1-65535)"));
}

TEST(ConfigTest, ParseHostPort) {
  ASSERT_OK_AND_ASSIGN(HostPort v4, ParseHostPort("10.0.0.1:80"));
  EXPECT_EQ(v4.host, "10.0.0.1");
  EXPECT_EQ(v4.port, 80);
  EXPECT_FALSE(v4.ipv6);
  EXPECT_EQ(v4.ToString(), "10.0.0.1:80");
  ASSERT_OK_AND_ASSIGN(HostPort v6, ParseHostPort("[fe80::1]:443"));
  EXPECT_EQ(v6.host, "fe80::1");
  EXPECT_TRUE(v6.ipv6);
  EXPECT_EQ(v6.ToString(), "[fe80::1]:443");
}

TEST(ConfigTest, SomethingMustBeListenedOn) {
  EXPECT_THAT(Load({"--listen="}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("--listen: "), HasSubstr("--unix_socket"))));
  TempDir dir;
  const std::string file = dir.WriteFile("server.conf", "listen = \"\"\n");
  EXPECT_THAT(Load({"--config", file}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("listen")));
}

TEST(ConfigTest, UnixSocketOptions) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Load({"--unix_socket=unix:/run/f.sock", "--unix_socket_mode=0660"}));
  EXPECT_EQ(config.listen.unix_socket, "/run/f.sock");
  EXPECT_EQ(config.listen.unix_socket_mode, 0660u);
  ASSERT_OK_AND_ASSIGN(Config short_mode, Load({"--unix_socket_mode=600"}));
  EXPECT_EQ(short_mode.listen.unix_socket_mode, 0600u);

  EXPECT_THAT(Load({"--unix_socket_mode=0999"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("--unix_socket_mode: invalid mode \"0999\"")));
  EXPECT_THAT(Load({"--unix_socket_mode=07777"}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--unix_socket_mode: ")));
  EXPECT_THAT(
      Load({"--unix_socket_mode=0400"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(StartsWith("--unix_socket_mode: "), HasSubstr("owner read and write"))));
  EXPECT_THAT(Load({"--unix_socket=/" + std::string(200, 'x')}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("--unix_socket: path is 201 bytes, longer than the 107")));
}

TEST(ConfigTest, EnumDurationAndNumberValues) {
  EXPECT_THAT(Load({}, {{"FAST_CREWAI_LOG_LEVEL", "loud"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "FAST_CREWAI_LOG_LEVEL: invalid log level \"loud\" (expected debug, info, "
                       "warning or error)"));
  EXPECT_THAT(
      Load({"--grace_period=-1s"}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--grace_period: invalid duration")));
  EXPECT_THAT(Load({"--grace_period=inf"}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--grace_period: ")));
  EXPECT_THAT(Load({"--grace_period=1000000h"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 0 to 1h")));
  EXPECT_THAT(Load({"--grace_period=5"}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--grace_period: ")));
  ASSERT_OK_AND_ASSIGN(Config zero, Load({"--grace_period=0s"}));
  EXPECT_EQ(zero.runtime.grace_period, absl::ZeroDuration());
  ASSERT_OK_AND_ASSIGN(Config threads, Load({"--memory_search_threads=3"}));
  EXPECT_EQ(threads.memory.search_threads, 3);
  EXPECT_THAT(Load({"--memory_search_threads=-1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("--memory_search_threads: invalid thread count \"-1\"")));
  ASSERT_OK_AND_ASSIGN(Config memory_default, Load({}));
  EXPECT_TRUE(memory_default.memory.sync_full);
  ASSERT_OK_AND_ASSIGN(Config memory_normal, Load({"--memory_sync=NORMAL"}));
  EXPECT_FALSE(memory_normal.memory.sync_full);
  EXPECT_THAT(Load({"--memory_sync=off"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("--memory_sync: invalid sync mode \"off\"")));
  EXPECT_EQ(memory_default.memory.max_records, 0);
  ASSERT_OK_AND_ASSIGN(Config max_records, Load({"--memory_max_records=250000"}));
  EXPECT_EQ(max_records.memory.max_records, 250000);
  for (const char* bad : {"-1", "many", "1e6"}) {
    EXPECT_THAT(Load({absl::StrCat("--memory_max_records=", bad)}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         StartsWith(absl::StrCat("--memory_max_records: invalid count \"", bad,
                                                 "\""))));
  }
  EXPECT_THAT(Load({"--data_dir="}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--data_dir: must not be empty"));
}

TEST(ConfigTest, EveryStoreSyncModeAndCountIsParsedAlike) {
  ASSERT_OK_AND_ASSIGN(Config normal, Load({"--memory_sync=normal", "--persistence_sync=Normal",
                                            "--scheduler_sync=NORMAL"}));
  EXPECT_FALSE(normal.memory.sync_full);
  EXPECT_FALSE(normal.persistence.sync_full);
  EXPECT_FALSE(normal.scheduler.sync_full);
  ASSERT_OK_AND_ASSIGN(Config full, Load({"--persistence_sync=full", "--scheduler_sync=FULL"}));
  EXPECT_TRUE(full.persistence.sync_full);
  EXPECT_TRUE(full.scheduler.sync_full);
  for (const char* flag : {"--memory_sync", "--persistence_sync", "--scheduler_sync"}) {
    EXPECT_THAT(Load({absl::StrCat(flag, "=fsync")}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat(flag, ": invalid sync mode \"fsync\" (expected full or "
                                      "normal)")));
  }
  ASSERT_OK_AND_ASSIGN(Config counts,
                       Load({"--persistence_max_kickoffs=1000000", "--scheduler_max_attempts=1",
                             "--scheduler_max_runs=7"}));
  EXPECT_EQ(counts.persistence.max_kickoffs, 1000000);
  EXPECT_EQ(counts.scheduler.max_attempts, 1);
  EXPECT_EQ(counts.scheduler.max_runs, 7);
  const std::pair<const char*, const char*> bad[] = {
      {"--persistence_max_kickoffs=0", "1-1000000"},
      {"--persistence_max_kickoffs=1000001", "1-1000000"},
      {"--scheduler_max_attempts=101", "1-100"},
      {"--scheduler_max_attempts=2.5", "1-100"},
      {"--scheduler_max_runs=-3", "1-1000000"},
  };
  for (const auto& [arg, expected] : bad) {
    const absl::string_view flag_and_value(arg);
    const size_t eq = flag_and_value.find('=');
    EXPECT_THAT(Load({arg}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat(flag_and_value.substr(0, eq), ": invalid count \"",
                                      flag_and_value.substr(eq + 1), "\" (expected ", expected,
                                      ")")))
        << arg;
  }
}

TEST(ConfigTest, UnknownFlagsAndStrayArguments) {
  EXPECT_THAT(Load({"--lisen=127.0.0.1:1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--lisen: unknown flag; did you mean --listen? (see --help)"));
  EXPECT_THAT(Load({"--frobnicate"}), StatusIs(absl::StatusCode::kInvalidArgument,
                                               "--frobnicate: unknown flag (see --help)"));
  EXPECT_THAT(Load({"serve"}), StatusIs(absl::StatusCode::kInvalidArgument,
                                        StartsWith("unexpected argument \"serve\"")));
  EXPECT_THAT(Load({"-v"}), StatusIs(absl::StatusCode::kInvalidArgument,
                                     StartsWith("unexpected argument \"-v\"")));
  EXPECT_THAT(Load({"--listen"}), StatusIs(absl::StatusCode::kInvalidArgument,
                                           "--listen: missing value (--listen=HOST:PORT)"));
  EXPECT_THAT(Load({"--listen", "--data_dir=/x"}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--listen: missing value")));
}

TEST(ConfigTest, UnknownFastCrewaiEnvironmentVariablesAreIgnored) {
  // The Python client reads FAST_CREWAI_ENDPOINT etc. from the same environment.
  EXPECT_THAT(Load({}, {{"FAST_CREWAI_ENDPOINT", "unix:/x"}, {"FAST_CREWAI_MEMORY", "auto"}}),
              IsOk());
}

TEST(ConfigTest, SecretsNeverAppearInErrors) {
  const std::string secret = "s3cr3t-t0ken-value";
  auto status = Load({"--tokn=" + secret}).status();
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--tokn: unknown flag")));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(secret)));

  status = Load({"--token=has space " + secret}).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--token: ")));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(secret)));
}

TEST(ConfigTest, TokenAndTokenFile) {
  ASSERT_OK_AND_ASSIGN(Config from_env, Load({}, {{"FAST_CREWAI_TOKEN", "abc123"}}));
  EXPECT_EQ(from_env.auth.token, "abc123");
  EXPECT_TRUE(from_env.auth.required());

  TempDir dir;
  const std::string token_file = dir.WriteFile("token", "  file-token\n\n");
  ASSERT_OK_AND_ASSIGN(Config from_file, Load({"--token_file", token_file}));
  EXPECT_EQ(from_file.auth.token, "file-token");
  EXPECT_EQ(from_file.auth.token_file, token_file);

  EXPECT_THAT(Load({"--token_file", token_file}, {{"FAST_CREWAI_TOKEN", "abc"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("--token_file: cannot be combined with --token")));
  EXPECT_THAT(
      Load({"--token_file", dir.path() + "/absent"}),
      StatusIs(absl::StatusCode::kInvalidArgument, AllOf(StartsWith("--token_file: cannot read \""),
                                                         HasSubstr("No such file or directory"))));
  const std::string empty = dir.WriteFile("empty", " \n");
  EXPECT_THAT(Load({}, {{"FAST_CREWAI_TOKEN_FILE", empty}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("FAST_CREWAI_TOKEN_FILE: "), HasSubstr("is empty"))));
  const std::string spaced = dir.WriteFile("spaced", "two words-secret\n");
  auto status = Load({"--token_file", spaced}).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--token_file: ")));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("words-secret")));
}

TEST(ConfigTest, TlsOptionsComeInPairs) {
  TempDir dir;
  const std::string cert = dir.WriteFile("cert.pem", "-----BEGIN CERTIFICATE-----\n");
  const std::string key = dir.WriteFile("key.pem", "-----BEGIN PRIVATE KEY-----\n");
  const std::string ca = dir.WriteFile("ca.pem", "-----BEGIN CERTIFICATE-----\n");

  ASSERT_OK_AND_ASSIGN(Config tls, Load({"--tls_cert", cert, "--tls_key", key}));
  EXPECT_TRUE(tls.tls.enabled());
  EXPECT_FALSE(tls.tls.mutual());
  ASSERT_OK_AND_ASSIGN(Config mtls,
                       Load({"--tls_cert", cert, "--tls_key", key, "--tls_client_ca", ca}));
  EXPECT_TRUE(mtls.tls.mutual());

  EXPECT_THAT(Load({"--tls_cert", cert}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--tls_cert: requires --tls_key (or FAST_CREWAI_TLS_KEY)"));
  EXPECT_THAT(Load({}, {{"FAST_CREWAI_TLS_KEY", key}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "FAST_CREWAI_TLS_KEY: requires --tls_cert (or FAST_CREWAI_TLS_CERT)"));
  EXPECT_THAT(Load({"--tls_client_ca", ca}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("--tls_client_ca: requires --tls_cert")));
  EXPECT_THAT(Load({"--tls_cert", dir.path() + "/nope.pem", "--tls_key", key}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("--tls_cert: cannot read \""), HasSubstr("nope.pem"))));
}

TEST(ConfigTest, HelpAndVersionWinOverEverythingElse) {
  ASSERT_OK_AND_ASSIGN(Config help, Load({"--bogus", "--help"}, {{"FAST_CREWAI_LISTEN", "bad"}}));
  EXPECT_EQ(help.command, Config::Command::kHelp);
  ASSERT_OK_AND_ASSIGN(Config h, Load({"-h"}));
  EXPECT_EQ(h.command, Config::Command::kHelp);
  ASSERT_OK_AND_ASSIGN(Config version, Load({"--version"}));
  EXPECT_EQ(version.command, Config::Command::kVersion);
  ASSERT_OK_AND_ASSIGN(Config markdown, Load({"--help-markdown"}));
  EXPECT_EQ(markdown.command, Config::Command::kHelpMarkdown);
  EXPECT_EQ(VersionText(), absl::StrCat("fast-crewai-server ", kVersion));
}

TEST(ConfigTest, HelpListsEveryOptionWithEnvironmentVariableAndDefault) {
  const std::string help = HelpText();
  for (const OptionInfo& option : ListOptions()) {
    EXPECT_THAT(help, HasSubstr("--" + option.name)) << option.name;
    EXPECT_THAT(help, HasSubstr("env " + option.env_var + ", default " +
                                (option.default_value.empty() ? "\"\"" : option.default_value)))
        << option.name;
    EXPECT_EQ(option.env_var, "FAST_CREWAI_" + absl::AsciiStrToUpper(option.name));
  }
  EXPECT_THAT(help, HasSubstr("flag > environment > config file > default"));
}

TEST(ConfigTest, MarkdownListsEveryOption) {
  const std::string markdown = HelpMarkdown();
  EXPECT_THAT(markdown, StartsWith("# Configuration\n"));
  for (const OptionInfo& option : ListOptions()) {
    EXPECT_THAT(markdown, HasSubstr("| `--" + option.name + "` | `" + option.env_var + "` |"))
        << option.name;
  }
}

TEST(ConfigTest, OptionTableIsWellFormed) {
  std::set<std::string> names;
  for (const OptionInfo& option : ListOptions()) {
    EXPECT_TRUE(names.insert(option.name).second) << "duplicate " << option.name;
    EXPECT_FALSE(option.help.empty()) << option.name;
    EXPECT_FALSE(option.group.empty()) << option.name;
    EXPECT_FALSE(option.value_name.empty()) << option.name;
  }
  for (const char* required :
       {"listen", "unix_socket", "unix_socket_mode", "data_dir", "config", "token", "token_file",
        "tls_cert", "tls_key", "tls_client_ca", "log_level", "grace_period"}) {
    EXPECT_TRUE(names.count(required)) << required;
  }
}

#ifdef FAST_CREWAI_CONFIGURATION_DOC
// docs/configuration.md is generated by `fast-crewai-server --help-markdown`; it must list every
// option the binary accepts.
TEST(ConfigDocsTest, ConfigurationDocListsEveryOption) {
  std::ifstream in(FAST_CREWAI_CONFIGURATION_DOC);
  ASSERT_TRUE(in) << FAST_CREWAI_CONFIGURATION_DOC;
  std::stringstream contents;
  contents << in.rdbuf();
  for (const OptionInfo& option : ListOptions()) {
    EXPECT_THAT(contents.str(), HasSubstr("`--" + option.name + "`"))
        << "docs/configuration.md lacks --" << option.name
        << "; regenerate it with fast-crewai-server --help-markdown";
    EXPECT_THAT(contents.str(), HasSubstr("`" + option.env_var + "`")) << option.name;
  }
}
#endif

TEST(ConfigTest, SchedulerOptions) {
  ASSERT_OK_AND_ASSIGN(Config defaults, Load({}));
  EXPECT_EQ(defaults.scheduler.lease, absl::Seconds(30));
  EXPECT_EQ(defaults.scheduler.max_attempts, 3);
  EXPECT_EQ(defaults.scheduler.max_payload_bytes, int64_t{4} << 20);
  EXPECT_EQ(defaults.scheduler.max_runs, 1000);
  EXPECT_TRUE(defaults.scheduler.sync_full);
  ASSERT_OK_AND_ASSIGN(Config set, Load({"--scheduler_lease=2m", "--scheduler_max_attempts=5",
                                         "--scheduler_max_payload_bytes=1M",
                                         "--scheduler_max_runs=10", "--scheduler_sync=normal"}));
  EXPECT_EQ(set.scheduler.lease, absl::Minutes(2));
  EXPECT_EQ(set.scheduler.max_attempts, 5);
  EXPECT_EQ(set.scheduler.max_payload_bytes, int64_t{1} << 20);
  EXPECT_EQ(set.scheduler.max_runs, 10);
  EXPECT_FALSE(set.scheduler.sync_full);
  for (const char* bad : {"--scheduler_lease=10ms", "--scheduler_max_attempts=0",
                          "--scheduler_max_payload_bytes=100M", "--scheduler_max_runs=0",
                          "--scheduler_sync=sometimes"}) {
    EXPECT_THAT(Load({bad}), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr(std::string(bad).substr(2, 12))))
        << bad;
  }
}

}  // namespace
}  // namespace fast_crewai
