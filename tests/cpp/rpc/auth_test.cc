#include "server/rpc/auth.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "fast_crewai/v1/cache.grpc.pb.h"
#include "fast_crewai/v1/server.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/health_client.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"
#include "tests/cpp/testing/test_certs.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::CheckHealth;
using ::fast_crewai::testing::HealthStatus;
using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "correct-horse-battery-staple";

TEST(ConstantTimeEqualsTest, ComparesLikeOperatorEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0", 2), "a"));
}

TEST(IsAuthExemptMethodTest, HealthReflectionAndServerServiceOnly) {
  EXPECT_TRUE(IsAuthExemptMethod("/grpc.health.v1.Health/Check"));
  EXPECT_TRUE(IsAuthExemptMethod("/grpc.health.v1.Health/Watch"));
  EXPECT_TRUE(IsAuthExemptMethod("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
  EXPECT_TRUE(IsAuthExemptMethod("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
  EXPECT_TRUE(IsAuthExemptMethod("/fast_crewai.v1.ServerService/GetServerInfo"));
  EXPECT_FALSE(IsAuthExemptMethod("/fast_crewai.v1.MemoryService/Search"));
  EXPECT_FALSE(IsAuthExemptMethod("/fast_crewai.v1.ServerServiceX/GetServerInfo"));
  EXPECT_FALSE(IsAuthExemptMethod("/grpc.health.v1.HealthX/Check"));
  EXPECT_FALSE(IsAuthExemptMethod(""));
}

TEST(CheckAuthorizationTest, Cases) {
  const std::string path = "/fast_crewai.v1.CacheService/Get";
  EXPECT_THAT(CheckAuthorization(path, absl::StrCat("Bearer ", kToken), kToken), IsOk());
  EXPECT_THAT(CheckAuthorization(path, absl::StrCat("bearer  ", kToken, " "), kToken), IsOk());
  EXPECT_THAT(CheckAuthorization("/grpc.health.v1.Health/Check", std::nullopt, kToken), IsOk());
  EXPECT_THAT(CheckAuthorization(path, std::nullopt, kToken),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("missing token")));
  EXPECT_THAT(
      CheckAuthorization(path, kToken, kToken),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expected \"Bearer <token>\"")));
  EXPECT_THAT(CheckAuthorization(path, "Basic dXNlcjpwYXNz", kToken),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("malformed")));
  EXPECT_THAT(CheckAuthorization(path, "Bearer nope", kToken),
              StatusIs(absl::StatusCode::kUnauthenticated, "invalid token"));
  EXPECT_THAT(CheckAuthorization(path, "Bearer ", kToken),
              StatusIs(absl::StatusCode::kUnauthenticated, Not(HasSubstr(kToken))));
  EXPECT_THAT(CheckAuthorization(path, absl::StrCat("Bearer ", kToken, "x"), kToken),
              StatusIs(absl::StatusCode::kUnauthenticated, Not(HasSubstr(kToken))));
}

TEST(MakeServerCredentialsTest, RejectsIncompleteTls) {
  ServerCredentialsOptions key_only;
  key_only.private_key_pem = "-----BEGIN PRIVATE KEY-----";
  EXPECT_THAT(MakeServerCredentials(key_only),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without a certificate")));
  ServerCredentialsOptions cert_only;
  cert_only.cert_chain_pem = "-----BEGIN CERTIFICATE-----";
  EXPECT_THAT(MakeServerCredentials(cert_only),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without a private key")));
}

// CacheService with one working RPC (Stats -> OK) and the rest UNIMPLEMENTED.
class TestCacheService final : public v1::CacheService::CallbackService {
 public:
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::CacheStatsRequest*, v1::CacheStatsResponse*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

class TestServerService final : public v1::ServerService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const v1::GetServerInfoRequest*,
                                          v1::GetServerInfoResponse* response) override {
    response->set_version("test");
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// A real server on an ephemeral loopback port (the auth filter does not run for in-process
// channels, so these tests must go over a socket).
class AuthServer {
 public:
  explicit AuthServer(const ServerCredentialsOptions& options) {
    grpc::EnableDefaultHealthCheckService(true);
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = MakeServerCredentials(options);
    EXPECT_THAT(creds, IsOk());
    if (!creds.ok()) return;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *creds, &port_);
    builder.RegisterService(&cache_);
    builder.RegisterService(&server_service_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    EXPECT_NE(port_, 0);
  }
  ~AuthServer() {
    if (server_ != nullptr) server_->Shutdown();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  TestCacheService cache_;
  TestServerService server_service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// gRPC C++ 1.51 clients fail to match an IP-address SAN ("No match found for server name:
// 127.0.0.1"), so TLS channels connect to 127.0.0.1 and verify the certificate as "localhost".
std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address,
                                          const grpc::SslCredentialsOptions& options) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

grpc::Status CallStats(const std::shared_ptr<grpc::Channel>& channel,
                       std::optional<std::string> authorization) {
  auto stub = v1::CacheService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (authorization.has_value()) context.AddMetadata("authorization", *authorization);
  v1::CacheStatsResponse response;
  return stub->Stats(&context, {}, &response);
}

grpc::Status CallGet(const std::shared_ptr<grpc::Channel>& channel,
                     std::optional<std::string> authorization) {
  auto stub = v1::CacheService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (authorization.has_value()) context.AddMetadata("authorization", *authorization);
  v1::CacheGetResponse response;
  return stub->Get(&context, {}, &response);
}

grpc::Status CallServerInfo(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::ServerService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetServerInfoResponse response;
  return stub->GetServerInfo(&context, {}, &response);
}

// The point of CoreServerCredentials: gRPC C++ 1.51 cannot put a metadata processor on
// InsecureServerCredentials(), yet the token must be enforced on plaintext too.
TEST(TokenAuthTest, PlaintextServerEnforcesTheTokenOnEveryNonExemptCall) {
  ServerCredentialsOptions options;
  options.token = kToken;
  AuthServer server(options);
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());

  grpc::Status no_token = CallStats(channel, std::nullopt);
  EXPECT_EQ(no_token.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(no_token.error_message(), HasSubstr("missing token"));

  grpc::Status wrong = CallStats(channel, "Bearer wrong-token");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wrong.error_message(), "invalid token");

  EXPECT_TRUE(CallStats(channel, absl::StrCat("Bearer ", kToken)).ok());

  // Methods nobody implemented are guarded too: the token check comes first.
  EXPECT_EQ(CallGet(channel, std::nullopt).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CallGet(channel, absl::StrCat("Bearer ", kToken)).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  // Exempt: health and ServerService.
  EXPECT_THAT(CheckHealth(channel, ""), testing::IsOk());
  EXPECT_EQ(*CheckHealth(channel, ""), HealthStatus::kServing);
  EXPECT_TRUE(CallServerInfo(channel).ok());
}

TEST(TokenAuthTest, WithoutATokenEverythingIsOpen) {
  AuthServer server(ServerCredentialsOptions{});
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(CallStats(channel, std::nullopt).ok());
  EXPECT_TRUE(CallStats(channel, "Bearer anything").ok());
}

TEST(TokenAuthTest, TlsAndMutualTlsServersEnforceTheTokenToo) {
  testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(testing::TestCerts certs, testing::MakeTestCerts(dir.path()));
  ServerCredentialsOptions options;
  options.token = kToken;
  options.cert_chain_pem = testing::ReadFileToString(certs.server_cert);
  options.private_key_pem = testing::ReadFileToString(certs.server_key);

  grpc::SslCredentialsOptions client_tls;
  client_tls.pem_root_certs = testing::ReadFileToString(certs.ca_cert);
  {
    AuthServer server(options);
    auto channel = TlsChannel(server.address(), client_tls);
    EXPECT_EQ(CallStats(channel, std::nullopt).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_TRUE(CallStats(channel, absl::StrCat("Bearer ", kToken)).ok());
    EXPECT_TRUE(CallServerInfo(channel).ok());
    // A plaintext client cannot talk to a TLS server.
    auto plaintext = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
    EXPECT_EQ(CallStats(plaintext, absl::StrCat("Bearer ", kToken)).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  options.client_ca_pem = testing::ReadFileToString(certs.ca_cert);
  {
    AuthServer server(options);
    // No client certificate: the handshake fails.
    auto anonymous = TlsChannel(server.address(), client_tls);
    EXPECT_EQ(CallServerInfo(anonymous).error_code(), grpc::StatusCode::UNAVAILABLE);
    grpc::SslCredentialsOptions with_cert = client_tls;
    with_cert.pem_cert_chain = testing::ReadFileToString(certs.client_cert);
    with_cert.pem_private_key = testing::ReadFileToString(certs.client_key);
    auto channel = TlsChannel(server.address(), with_cert);
    EXPECT_EQ(CallStats(channel, std::nullopt).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_TRUE(CallStats(channel, absl::StrCat("Bearer ", kToken)).ok());
  }
}

}  // namespace
}  // namespace fast_crewai
