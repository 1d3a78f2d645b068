#include "server/rpc/server_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "fast_crewai/v1/server.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/health_client.h"
#include "tests/cpp/testing/status_matchers.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::CheckHealth;
using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::HealthStatus;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;

constexpr char kMemory[] = "fast_crewai.v1.MemoryService";
constexpr char kCache[] = "fast_crewai.v1.CacheService";

auto StateIs(const std::string& name, bool implemented, bool serving) {
  return AllOf(Field(&ServiceStates::State::name, name),
               Field(&ServiceStates::State::implemented, implemented),
               Field(&ServiceStates::State::serving, serving));
}

TEST(ServiceStatesTest, UnimplementedServicesNeverServe) {
  ServiceStates states;
  states.Add(kMemory, true);
  states.Add(kCache, false);
  EXPECT_THAT(states.Snapshot(),
              ElementsAre(StateIs(kMemory, true, false), StateIs(kCache, false, false)));
  EXPECT_FALSE(states.overall_serving());

  states.SetAllServing(true);
  EXPECT_TRUE(states.overall_serving());
  EXPECT_THAT(states.Snapshot(),
              ElementsAre(StateIs(kMemory, true, true), StateIs(kCache, false, false)));

  states.SetServing(kCache, true);
  states.SetServing("fast_crewai.v1.Unknown", true);
  EXPECT_THAT(states.Snapshot(),
              ElementsAre(StateIs(kMemory, true, true), StateIs(kCache, false, false)));

  states.SetServing(kMemory, false);
  EXPECT_THAT(states.Snapshot()[0], StateIs(kMemory, true, false));

  // Re-adding updates `implemented` in place.
  states.Add(kCache, true);
  states.SetAllServing(true);
  EXPECT_THAT(states.Snapshot(),
              ElementsAre(StateIs(kMemory, true, true), StateIs(kCache, true, true)));
}

class ServerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    states_.Add("fast_crewai.v1.ServerService", true);
    states_.Add(kMemory, true);
    states_.Add(kCache, false);
    service_ = std::make_unique<ServerServiceImpl>(ServerInfo{"1.2.3", true, false}, &clock_,
                                                   clock_.Now(), &states_);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    states_.AttachHealthService(server_->GetHealthCheckService());
    states_.SetAllServing(true);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override {
    states_.AttachHealthService(nullptr);
    server_->Shutdown();
  }

  v1::GetServerInfoResponse GetInfo() {
    auto stub = v1::ServerService::NewStub(channel_);
    grpc::ClientContext context;
    v1::GetServerInfoResponse response;
    grpc::Status status = stub->GetServerInfo(&context, {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  ServiceStates states_;
  std::unique_ptr<ServerServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServerServiceTest, ReportsVersionUptimeAndFlags) {
  v1::GetServerInfoResponse info = GetInfo();
  EXPECT_EQ(info.version(), "1.2.3");
  EXPECT_EQ(info.uptime_seconds(), 0);
  EXPECT_EQ(info.start_time_unix(), 1'800'000'000);
  EXPECT_TRUE(info.auth_required());
  EXPECT_FALSE(info.tls());

  clock_.Advance(absl::Seconds(90) + absl::Milliseconds(999));
  info = GetInfo();
  EXPECT_EQ(info.uptime_seconds(), 90);
  EXPECT_EQ(info.start_time_unix(), 1'800'000'000);
}

TEST_F(ServerServiceTest, ListsServicesWithImplementedAndHealth) {
  v1::GetServerInfoResponse info = GetInfo();
  ASSERT_EQ(info.services_size(), 3);
  EXPECT_EQ(info.services(0).name(), "fast_crewai.v1.ServerService");
  EXPECT_EQ(info.services(1).name(), kMemory);
  EXPECT_TRUE(info.services(1).implemented());
  EXPECT_EQ(info.services(1).health(), "SERVING");
  EXPECT_EQ(info.services(2).name(), kCache);
  EXPECT_FALSE(info.services(2).implemented());
  EXPECT_EQ(info.services(2).health(), "NOT_SERVING");

  states_.SetAllServing(false);
  info = GetInfo();
  EXPECT_EQ(info.services(1).health(), "NOT_SERVING");
}

TEST_F(ServerServiceTest, HealthServiceMirrorsTheStates) {
  EXPECT_EQ(*CheckHealth(channel_, ""), HealthStatus::kServing);
  EXPECT_EQ(*CheckHealth(channel_, kMemory), HealthStatus::kServing);
  EXPECT_EQ(*CheckHealth(channel_, kCache), HealthStatus::kNotServing);
  EXPECT_THAT(CheckHealth(channel_, "fast_crewai.v1.NoSuchService"),
              testing::StatusIs(absl::StatusCode::kNotFound, ::testing::_));

  states_.SetServing(kMemory, false);
  EXPECT_EQ(*CheckHealth(channel_, kMemory), HealthStatus::kNotServing);
  states_.SetAllServing(false);
  EXPECT_EQ(*CheckHealth(channel_, ""), HealthStatus::kNotServing);
}

}  // namespace
}  // namespace fast_crewai
