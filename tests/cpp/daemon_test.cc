#include "server/daemon.h"

#include <grpcpp/grpcpp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "fast_crewai/v1/cache.grpc.pb.h"
#include "fast_crewai/v1/memory.grpc.pb.h"
#include "fast_crewai/v1/server.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/version.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/health_client.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"
#include "tests/cpp/testing/test_certs.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::CheckHealth;
using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::HealthStatus;
using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr char kMemory[] = "fast_crewai.v1.MemoryService";

// A config for tests: a free loopback port and a data dir under `dir`.
Config TestConfig(const TempDir& dir) {
  Config config;
  config.listen.address = "127.0.0.1:0";
  config.storage.data_dir = dir.path() + "/data";
  config.runtime.grace_period = absl::Seconds(1);
  return config;
}

std::shared_ptr<grpc::Channel> Connect(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

absl::StatusOr<v1::GetServerInfoResponse> GetServerInfo(
    const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::ServerService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetServerInfoResponse response;
  grpc::Status status = stub->GetServerInfo(&context, {}, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  return response;
}

grpc::Status CallMemoryCount(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& token = "") {
  auto stub = v1::MemoryService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  v1::CountResponse response;
  return stub->Count(&context, {}, &response);
}

TEST(DaemonTest, StartsOnAFreePortAndReportsHealth) {
  TempDir dir;
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(TestConfig(dir), &clock));
  EXPECT_THAT(daemon->tcp_address(), MatchesRegex("127\\.0\\.0\\.1:[1-9][0-9]*"));
  EXPECT_EQ(daemon->data_dir(), dir.path() + "/data");
  auto channel = Connect(daemon->tcp_address());

  EXPECT_EQ(*CheckHealth(channel, ""), HealthStatus::kServing);
  EXPECT_EQ(*CheckHealth(channel, "fast_crewai.v1.ServerService"), HealthStatus::kServing);
  for (const char* name : {kMemory, "fast_crewai.v1.CacheService",
                           "fast_crewai.v1.PersistenceService",
                           "fast_crewai.v1.SchedulerService"}) {
    EXPECT_EQ(*CheckHealth(channel, name), HealthStatus::kServing) << name;
  }
  // The memory service answers (here: the request names no namespace).
  EXPECT_EQ(CallMemoryCount(channel).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  clock.Advance(absl::Seconds(12));
  ASSERT_OK_AND_ASSIGN(v1::GetServerInfoResponse info, GetServerInfo(channel));
  EXPECT_EQ(info.version(), kVersion);
  EXPECT_EQ(info.uptime_seconds(), 12);
  EXPECT_FALSE(info.auth_required());
  EXPECT_FALSE(info.tls());
  ASSERT_EQ(info.services_size(), 5);
  EXPECT_EQ(info.services(0).name(), "fast_crewai.v1.ServerService");
  EXPECT_TRUE(info.services(0).implemented());
  // Every service of v1 is wired in this build.
  for (int i = 1; i < info.services_size(); ++i) {
    EXPECT_TRUE(info.services(i).implemented()) << info.services(i).name();
    EXPECT_EQ(info.services(i).health(), "SERVING") << info.services(i).name();
  }
  daemon->Shutdown(absl::Seconds(1));
}

TEST(DaemonTest, ADamagedDatabaseFailsTheStartAndIsLeftUntouched) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  const std::string db = dir.WriteFile("data/memory.db", "not an SQLite file, but precious");
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(config, &clock);
  // DATA_LOSS is what main() turns into exit code 3.
  EXPECT_THAT(daemon.status(), StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  EXPECT_EQ(testing::ReadFileToString(db), "not an SQLite file, but precious");
  // The LOCK is released, so a fixed file can be served at once.
  std::filesystem::remove(db);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> again, Daemon::Start(config, &clock));
}

TEST(DaemonTest, ShutdownFlipsHealthThenStopsServing) {
  TempDir dir;
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(TestConfig(dir), &clock));
  auto channel = Connect(daemon->tcp_address());
  ASSERT_EQ(*CheckHealth(channel, ""), HealthStatus::kServing);

  daemon->MarkNotServing();
  EXPECT_EQ(*CheckHealth(channel, ""), HealthStatus::kNotServing);
  EXPECT_EQ(*CheckHealth(channel, "fast_crewai.v1.ServerService"), HealthStatus::kNotServing);
  EXPECT_TRUE(daemon->service_states().Snapshot()[0].implemented);
  EXPECT_FALSE(daemon->service_states().overall_serving());

  daemon->Shutdown(absl::Milliseconds(500));
  daemon->Shutdown(absl::Milliseconds(500));  // Idempotent.
  EXPECT_THAT(CheckHealth(channel, "", absl::Milliseconds(500)),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

TEST(DaemonTest, CreatesTheDataDirAndKeepsExistingFiles) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  config.storage.data_dir = dir.path() + "/nested/deeper/data";
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, &clock));
    struct stat st;
    ASSERT_EQ(::stat(config.storage.data_dir.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_TRUE(std::filesystem::exists(config.storage.data_dir + "/LOCK"));
  }
  // Existing files survive a start and a stop byte for byte, and nothing else is left behind.
  const std::string notes = dir.WriteFile("nested/deeper/data/notes.txt", "precious bytes");
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, &clock));
    daemon->Shutdown(absl::ZeroDuration());
  }
  EXPECT_EQ(testing::ReadFileToString(notes), "precious bytes");
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(config.storage.data_dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names, ::testing::ElementsAre("LOCK", "memory.db", "notes.txt", "persistence.db",
                                            "ratelimits.db", "scheduler.db"));
}

TEST(DaemonTest, LockKeepsASecondDaemonOffTheSameDataDir) {
  TempDir dir;
  FakeClock clock;
  const Config config = TestConfig(dir);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> first, Daemon::Start(config, &clock));
  EXPECT_THAT(Daemon::Start(config, &clock),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(StartsWith("data_dir " + dir.path() + "/data: "),
                             HasSubstr("another fast-crewai-server (pid " +
                                       std::to_string(::getpid()) + ") holds"),
                             HasSubstr("/LOCK"))));
  // The failed attempt did not disturb the first daemon.
  EXPECT_EQ(*CheckHealth(Connect(first->tcp_address()), ""), HealthStatus::kServing);

  first->Shutdown(absl::ZeroDuration());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> second, Daemon::Start(config, &clock));
  EXPECT_EQ(*CheckHealth(Connect(second->tcp_address()), ""), HealthStatus::kServing);
}

TEST(DaemonTest, PortTakenIsAClearUnavailableError) {
  TempDir dir_a;
  TempDir dir_b;
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> first, Daemon::Start(TestConfig(dir_a), &clock));
  Config config = TestConfig(dir_b);
  config.listen.address = first->tcp_address();
  EXPECT_THAT(Daemon::Start(config, &clock),
              StatusIs(absl::StatusCode::kUnavailable,
                       absl::StrCat("listen ", first->tcp_address(),
                                    ": address already in use or unavailable")));
  // The LOCK of the failed daemon was released: its data dir is usable again.
  config.listen.address = "127.0.0.1:0";
  EXPECT_THAT(Daemon::Start(config, &clock), IsOk());
}

// GET `path` from "host:port" over plain HTTP; the whole response ("" when nothing answers).
std::string HttpGet(const std::string& address, const std::string& path) {
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n");
    if (::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) out.append(buffer, n);
    }
  }
  ::close(fd);
  return out;
}

TEST(DaemonTest, MetricsCountEveryCallByMethodAndCode) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  config.listen.metrics_address = "127.0.0.1:0";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, &clock));
  EXPECT_THAT(daemon->metrics_address(), MatchesRegex("127\\.0\\.0\\.1:[1-9][0-9]*"));
  auto channel = Connect(daemon->tcp_address());
  EXPECT_EQ(CallMemoryCount(channel).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CallMemoryCount(channel).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(GetServerInfo(channel), IsOk());

  const std::string text = HttpGet(daemon->metrics_address(), "/metrics");
  EXPECT_THAT(text, StartsWith("HTTP/1.1 200 OK\r\n"));
  const std::string count =
      "grpc_service=\"fast_crewai.v1.MemoryService\",grpc_method=\"Count\",grpc_type=\"unary\"";
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{" + count + "} 2\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{" + count +
                              ",grpc_code=\"INVALID_ARGUMENT\"} 2\n"));
  // Time comes from the injected clock, which did not move: every call took 0 s.
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handling_seconds_bucket{" + count + ",le=\"0.0001\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_sum{" + count + "} 0\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_service=\"fast_crewai.v1."
                              "ServerService\",grpc_method=\"GetServerInfo\",grpc_type=\"unary\","
                              "grpc_code=\"OK\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("fast_crewai_build_info{version=\"", kVersion, "\"} 1\n")));
  EXPECT_THAT(text, HasSubstr("fast_crewai_memory_records 0\n"));
  EXPECT_THAT(text, HasSubstr("fast_crewai_persistence_kickoffs 0\n"));
  EXPECT_THAT(text, HasSubstr("fast_crewai_cache_lookups_total{result=\"hit\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("fast_crewai_scheduler_lease_streams 0\n"));

  const std::string address = daemon->metrics_address();
  daemon->Shutdown(absl::Seconds(1));
  EXPECT_EQ(HttpGet(address, "/metrics"), "");  // the endpoint closed with the daemon
}

TEST(DaemonTest, NoMetricsEndpointUnlessAskedFor) {
  TempDir dir;
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(TestConfig(dir), &clock));
  EXPECT_EQ(daemon->metrics_address(), "");
}

TEST(DaemonTest, ATakenMetricsPortFailsTheStartBeforeAnyStoreOpens) {
  TempDir dir_a;
  TempDir dir_b;
  FakeClock clock;
  Config first_config = TestConfig(dir_a);
  first_config.listen.metrics_address = "127.0.0.1:0";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> first, Daemon::Start(first_config, &clock));
  Config config = TestConfig(dir_b);
  config.listen.metrics_address = first->metrics_address();
  EXPECT_THAT(Daemon::Start(config, &clock),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr(absl::StrCat("metrics_listen ", first->metrics_address())),
                             HasSubstr("cannot listen"))));
  EXPECT_FALSE(std::filesystem::exists(dir_b.path() + "/data/memory.db"));
}

TEST(DaemonTest, UnusableDataDirs) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  // Below a regular file: fails even for root.
  const std::string file = dir.WriteFile("file.txt", "keep me");
  config.storage.data_dir = file + "/sub";
  EXPECT_THAT(
      Daemon::Start(config, &clock),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(StartsWith("data_dir " + file + "/sub: "), HasSubstr("Not a directory"))));
  config.storage.data_dir = file;
  EXPECT_THAT(Daemon::Start(config, &clock),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "data_dir " + file + ": exists and is not a directory"));
  EXPECT_EQ(testing::ReadFileToString(file), "keep me");
}

TEST(DaemonTest, ServesOnAUnixSocketWithTheConfiguredMode) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  config.listen.address = "";
  config.listen.unix_socket = dir.path() + "/d.sock";
  config.listen.unix_socket_mode = 0660;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, &clock));
    EXPECT_EQ(daemon->tcp_address(), "");
    struct stat st;
    ASSERT_EQ(::stat(config.listen.unix_socket.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    EXPECT_EQ(*CheckHealth(Connect("unix:" + config.listen.unix_socket), ""),
              HealthStatus::kServing);

    // A second daemon must not take over a socket that is in use.
    TempDir other;
    Config second = config;
    second.storage.data_dir = other.path() + "/data";
    EXPECT_THAT(
        Daemon::Start(second, &clock),
        StatusIs(absl::StatusCode::kUnavailable, "unix_socket " + config.listen.unix_socket +
                                                     ": another process is listening on it"));
    EXPECT_EQ(*CheckHealth(Connect("unix:" + config.listen.unix_socket), ""),
              HealthStatus::kServing);
  }
  // The default mode is owner-only.
  config.listen.unix_socket_mode = 0600;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, &clock));
  struct stat st;
  ASSERT_EQ(::stat(config.listen.unix_socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(DaemonTest, RefusesToReplaceAFileThatIsNotASocket) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  config.listen.unix_socket = dir.WriteFile("not-a-socket", "data");
  EXPECT_THAT(Daemon::Start(config, &clock),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("exists and is not a socket; not replacing it")));
  EXPECT_EQ(testing::ReadFileToString(config.listen.unix_socket), "data");
  config.listen.unix_socket = dir.path() + "/missing-dir/d.sock";
  EXPECT_THAT(Daemon::Start(config, &clock),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("does not exist")));
}

TEST(DaemonTest, ReplacesAStaleSocket) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  config.listen.address = "";
  config.listen.unix_socket = dir.path() + "/stale.sock";
  // Bind a socket file and close it without listening: what a crashed daemon leaves behind.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, config.listen.unix_socket.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, &clock));
  EXPECT_EQ(*CheckHealth(Connect("unix:" + config.listen.unix_socket), ""), HealthStatus::kServing);
}

TEST(DaemonTest, TokenGuardsServicesButNotHealthOrServerInfo) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  config.auth.token = "daemon-test-token";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, &clock));
  auto channel = Connect(daemon->tcp_address());
  EXPECT_EQ(CallMemoryCount(channel).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CallMemoryCount(channel, "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // With the token the call reaches the service, which rejects the empty namespace.
  EXPECT_EQ(CallMemoryCount(channel, "daemon-test-token").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(*CheckHealth(channel, ""), HealthStatus::kServing);
  ASSERT_OK_AND_ASSIGN(v1::GetServerInfoResponse info, GetServerInfo(channel));
  EXPECT_TRUE(info.auth_required());
}

TEST(DaemonTest, ServesTls) {
  TempDir dir;
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(testing::TestCerts certs, testing::MakeTestCerts(dir.path()));
  Config config = TestConfig(dir);
  config.tls.cert_file = certs.server_cert;
  config.tls.key_file = certs.server_key;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, &clock));
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = testing::ReadFileToString(certs.ca_cert);
  // gRPC C++ 1.51 clients do not match IP-address SANs; verify the certificate as localhost.
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(daemon->tcp_address(), grpc::SslCredentials(tls), args);
  ASSERT_OK_AND_ASSIGN(v1::GetServerInfoResponse info, GetServerInfo(channel));
  EXPECT_TRUE(info.tls());
  EXPECT_THAT(GetServerInfo(Connect(daemon->tcp_address())),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

TEST(DaemonTest, UnreadableOrInvalidTlsFilesFailToStart) {
  TempDir dir;
  FakeClock clock;
  Config config = TestConfig(dir);
  config.tls.cert_file = dir.WriteFile("cert.pem", "not a certificate");
  config.tls.key_file = dir.WriteFile("key.pem", "-----BEGIN PRIVATE KEY-----\n");
  EXPECT_THAT(Daemon::Start(config, &clock),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("--tls_cert: "), HasSubstr("not a PEM file"))));
}

}  // namespace
}  // namespace fast_crewai
