#include "server/rpc/cache_service.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "fast_crewai/v1/cache.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cache/tool_cache.h"
#include "server/util/executor.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::TempDir;
using ::testing::HasSubstr;

v1::CacheKey Key(const std::string& tool, const std::string& input, const std::string& ns = "ns") {
  v1::CacheKey key;
  key.set_namespace_(ns);
  key.set_tool(tool);
  key.set_input(input);
  return key;
}

// An asynchronous Get whose answer the test can wait for.
struct PendingGet {
  grpc::ClientContext context;
  v1::CacheGetRequest request;
  v1::CacheGetResponse response;
  grpc::Status status;
  absl::Notification done;
};

class CacheServiceTest : public ::testing::Test {
 protected:
  void StartServer(cache::ToolCacheOptions options = {}, bool with_executor = false) {
    options.random_seed = 11;
    auto cache = cache::ToolCache::Open(options, &clock_);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = *std::move(cache);
    if (with_executor) executor_ = std::make_unique<ThreadPoolExecutor>(2, "test-cache");
    service_ = std::make_unique<CacheServiceImpl>(cache_.get(), executor_.get(), &clock_);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::CacheService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    if (executor_ != nullptr) executor_->Shutdown();
    if (cache_ != nullptr) {
      ASSERT_OK(cache_->Close());
    }
  }

  grpc::Status Put(const v1::CacheKey& key, const std::string& value, int64_t ttl_millis = 0,
                   uint64_t lease_id = 0, v1::CachePutResponse* response = nullptr) {
    grpc::ClientContext context;
    v1::CachePutRequest request;
    *request.mutable_key() = key;
    request.set_value(value);
    request.set_content_type("application/json");
    request.set_ttl_millis(ttl_millis);
    request.set_lease_id(lease_id);
    v1::CachePutResponse ignored;
    return stub_->Put(&context, request, response != nullptr ? response : &ignored);
  }

  grpc::Status Get(const v1::CacheKey& key, v1::CacheGetResponse* response, bool claim = false) {
    grpc::ClientContext context;
    v1::CacheGetRequest request;
    *request.mutable_key() = key;
    request.set_claim(claim);
    return stub_->Get(&context, request, response);
  }

  std::unique_ptr<PendingGet> StartGet(const v1::CacheKey& key, int64_t wait_millis,
                                       absl::Duration deadline = absl::Seconds(30)) {
    auto pending = std::make_unique<PendingGet>();
    *pending->request.mutable_key() = key;
    pending->request.set_claim(true);
    pending->request.set_wait_millis(wait_millis);
    pending->context.set_deadline(std::chrono::system_clock::now() +
                                  absl::ToChronoNanoseconds(deadline));
    PendingGet* raw = pending.get();
    stub_->async()->Get(&raw->context, &raw->request, &raw->response, [raw](grpc::Status s) {
      raw->status = std::move(s);
      raw->done.Notify();
    });
    return pending;
  }

  v1::CacheStatsResponse Stats(const std::string& ns = "") {
    grpc::ClientContext context;
    v1::CacheStatsRequest request;
    request.set_namespace_(ns);
    v1::CacheStatsResponse response;
    EXPECT_TRUE(stub_->Stats(&context, request, &response).ok());
    return response;
  }

  void WaitForWaiters(int64_t n) {
    for (int i = 0; i < 1000 && Stats().waiters() != n; ++i) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(Stats().waiters(), n);
  }

  FakeClock clock_;
  std::unique_ptr<cache::ToolCache> cache_;
  std::unique_ptr<ThreadPoolExecutor> executor_;
  std::unique_ptr<CacheServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::CacheService::Stub> stub_;
};

TEST_F(CacheServiceTest, PutThenGetRoundTrip) {
  StartServer();
  v1::CachePutResponse put;
  ASSERT_TRUE(Put(Key("search", R"({"q": "x"})"), R"("result")", 60000, 0, &put).ok());
  EXPECT_TRUE(put.stored());
  EXPECT_EQ(put.expires_in_millis(), 60000);
  clock_.Advance(absl::Seconds(15));
  v1::CacheGetResponse got;
  ASSERT_TRUE(Get(Key("search", R"({"q": "x"})"), &got).ok());
  EXPECT_TRUE(got.found());
  EXPECT_EQ(got.value(), R"("result")");
  EXPECT_EQ(got.content_type(), "application/json");
  EXPECT_EQ(got.expires_in_millis(), 45000);
  v1::CacheGetResponse miss;
  ASSERT_TRUE(Get(Key("search", "other"), &miss).ok());
  EXPECT_FALSE(miss.found());
  EXPECT_FALSE(miss.claimed());
  clock_.Advance(absl::Seconds(45));
  ASSERT_TRUE(Get(Key("search", R"({"q": "x"})"), &got).ok());
  EXPECT_FALSE(got.found());
}

TEST_F(CacheServiceTest, BadInputGetsTheRightCodeNamingTheFieldAndTheDaemonKeepsServing) {
  cache::ToolCacheOptions options;
  options.max_value_bytes = 1000;
  StartServer(options);
  grpc::Status s = Put(Key("", "i"), "v");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("key.tool: must not be empty"));
  s = Put(Key("t", "i", ""), "v");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("key.namespace"));
  s = Put(Key("t", "i"), "v", -1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("ttl_millis: -1 is out of range"));
  s = Put(Key("t", "i"), "v", int64_t{1} << 60);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("ttl_millis"));
  s = Put(Key("t", "i"), std::string(1001, 'x'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("limit of 1000 bytes (cache_max_value_bytes)"));

  grpc::ClientContext context;
  v1::CacheGetRequest request;
  *request.mutable_key() = Key("t", "i");
  request.set_wait_millis(-5);
  v1::CacheGetResponse response;
  s = stub_->Get(&context, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("wait_millis"));

  grpc::ClientContext configure_context;
  v1::CacheConfigureNamespaceRequest configure;
  configure.set_namespace_("n");
  configure.set_default_ttl_millis(-1);
  v1::CacheConfigureNamespaceResponse configured;
  s = stub_->ConfigureNamespace(&configure_context, configure, &configured);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("default_ttl_millis"));

  // Nothing stored, and the service still works.
  EXPECT_EQ(Stats().entries(), 0);
  ASSERT_TRUE(Put(Key("t", "i"), "ok").ok());
  EXPECT_EQ(Stats().entries(), 1);
}

TEST_F(CacheServiceTest, WaitingGetsHoldNoServerThreadAndAllGetThePutValue) {
  StartServer();
  v1::CacheGetResponse claim;
  ASSERT_TRUE(Get(Key("slow_tool", "x"), &claim, /*claim=*/true).ok());
  ASSERT_TRUE(claim.claimed());
  EXPECT_EQ(claim.lease_millis(), 60000);

  // Far more waiting calls than the callback server has threads.
  std::vector<std::unique_ptr<PendingGet>> waiters;
  for (int i = 0; i < 64; ++i) waiters.push_back(StartGet(Key("slow_tool", "x"), 30000));
  // The server still answers other calls at once.
  for (int i = 0; i < 5; ++i) {
    v1::CacheGetResponse other;
    ASSERT_TRUE(Get(Key("other", absl::StrCat(i)), &other).ok());
  }
  // Wait until every waiter is parked.
  for (int i = 0; i < 1000 && Stats().waiters() < 64; ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(Stats().waiters(), 64);
  for (auto& w : waiters) EXPECT_FALSE(w->done.HasBeenNotified());

  v1::CachePutResponse put;
  ASSERT_TRUE(Put(Key("slow_tool", "x"), "42", 0, claim.lease_id(), &put).ok());
  EXPECT_EQ(put.woken_waiters(), 64);
  for (auto& w : waiters) {
    ASSERT_TRUE(w->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    ASSERT_TRUE(w->status.ok()) << w->status.error_message();
    EXPECT_TRUE(w->response.found());
    EXPECT_TRUE(w->response.waited());
    EXPECT_EQ(w->response.value(), "42");
  }
}

TEST_F(CacheServiceTest, ReleaseClaimHandsTheClaimToAWaiter) {
  StartServer();
  v1::CacheGetResponse claim;
  ASSERT_TRUE(Get(Key("t", "x"), &claim, true).ok());
  auto waiter = StartGet(Key("t", "x"), 30000);
  WaitForWaiters(1);

  grpc::ClientContext context;
  v1::CacheReleaseClaimRequest release;
  *release.mutable_key() = Key("t", "x");
  release.set_lease_id(claim.lease_id());
  v1::CacheReleaseClaimResponse released;
  ASSERT_TRUE(stub_->ReleaseClaim(&context, release, &released).ok());
  EXPECT_TRUE(released.released());
  ASSERT_TRUE(waiter->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(waiter->response.claimed());
  EXPECT_NE(waiter->response.lease_id(), claim.lease_id());
}

TEST_F(CacheServiceTest, WaitRunsOutOnTick) {
  StartServer();
  v1::CacheGetResponse claim;
  ASSERT_TRUE(Get(Key("t", "x"), &claim, true).ok());
  auto waiter = StartGet(Key("t", "x"), 2000);
  WaitForWaiters(1);
  clock_.Advance(absl::Seconds(2));
  cache_->Tick();
  ASSERT_TRUE(waiter->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(waiter->status.ok());
  EXPECT_FALSE(waiter->response.found());
  EXPECT_FALSE(waiter->response.claimed());
  EXPECT_TRUE(waiter->response.in_flight());
}

TEST_F(CacheServiceTest, ClientDeadlineCancelsTheWaitAndFreesIt) {
  StartServer();
  v1::CacheGetResponse claim;
  ASSERT_TRUE(Get(Key("t", "x"), &claim, true).ok());
  auto waiter = StartGet(Key("t", "x"), 60000, absl::Milliseconds(200));
  ASSERT_TRUE(waiter->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(waiter->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server dropped the waiter (OnCancel runs asynchronously): the Put wakes nobody.
  WaitForWaiters(0);
  v1::CachePutResponse put;
  ASSERT_TRUE(Put(Key("t", "x"), "v", 0, claim.lease_id(), &put).ok());
  EXPECT_EQ(put.woken_waiters(), 0);
}

TEST_F(CacheServiceTest, ShutdownFinishesParkedCalls) {
  StartServer();
  v1::CacheGetResponse claim;
  ASSERT_TRUE(Get(Key("t", "x"), &claim, true).ok());
  auto waiter = StartGet(Key("t", "x"), 60000);
  WaitForWaiters(1);
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  ASSERT_TRUE(waiter->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(waiter->status.ok());
  server_.reset();
}

TEST_F(CacheServiceTest, StatsListNamespacesAndClearRemoves) {
  StartServer();
  ASSERT_TRUE(Put(Key("t", "1", "a"), "v").ok());
  ASSERT_TRUE(Put(Key("t", "2", "a"), "v").ok());
  ASSERT_TRUE(Put(Key("t", "1", "b"), "v").ok());
  v1::CacheGetResponse got;
  ASSERT_TRUE(Get(Key("t", "1", "a"), &got).ok());
  v1::CacheStatsResponse all = Stats();
  EXPECT_EQ(all.entries(), 3);
  EXPECT_EQ(all.hits(), 1);
  EXPECT_EQ(all.max_bytes(), int64_t{256} << 20);
  ASSERT_EQ(all.namespaces_size(), 2);
  EXPECT_EQ(all.namespaces(0).namespace_(), "a");
  EXPECT_EQ(all.namespaces(0).entries(), 2);
  EXPECT_EQ(all.namespaces(1).namespace_(), "b");
  EXPECT_EQ(Stats("a").namespaces_size(), 0);

  grpc::ClientContext context;
  v1::CacheClearRequest clear;
  clear.set_namespace_("a");
  v1::CacheClearResponse cleared;
  ASSERT_TRUE(stub_->Clear(&context, clear, &cleared).ok());
  EXPECT_EQ(cleared.removed(), 2);
  EXPECT_EQ(Stats().entries(), 1);
}

TEST_F(CacheServiceTest, WatchInvalidationsStreamsPutsAndClears) {
  StartServer();
  grpc::ClientContext all_context, filtered_context;
  v1::CacheWatchRequest all_request, filtered_request;
  filtered_request.add_namespaces("other");
  auto all = stub_->WatchInvalidations(&all_context, all_request);
  auto filtered = stub_->WatchInvalidations(&filtered_context, filtered_request);
  v1::CacheInvalidation message;
  ASSERT_TRUE(all->Read(&message));
  EXPECT_TRUE(message.subscribed());
  EXPECT_EQ(message.keys_size(), 0);
  ASSERT_TRUE(filtered->Read(&message));
  EXPECT_TRUE(message.subscribed());

  ASSERT_TRUE(Put(Key("t", "1"), "v").ok());
  ASSERT_TRUE(all->Read(&message));
  ASSERT_EQ(message.keys_size(), 1);
  EXPECT_EQ(message.keys(0).namespace_(), "ns");
  EXPECT_EQ(message.keys(0).tool(), "t");
  EXPECT_EQ(message.keys(0).input(), "1");

  grpc::ClientContext clear_context;
  v1::CacheClearRequest clear;
  clear.set_namespace_("ns");
  v1::CacheClearResponse cleared;
  ASSERT_TRUE(stub_->Clear(&clear_context, clear, &cleared).ok());
  ASSERT_TRUE(all->Read(&message));
  ASSERT_EQ(message.cleared_namespaces_size(), 1);
  EXPECT_EQ(message.cleared_namespaces(0), "ns");

  // The filtered watcher saw none of "ns"; it sees its own namespace and clear-all.
  ASSERT_TRUE(Put(Key("t", "1", "other"), "v").ok());
  ASSERT_TRUE(filtered->Read(&message));
  ASSERT_EQ(message.keys_size(), 1);
  EXPECT_EQ(message.keys(0).namespace_(), "other");
  grpc::ClientContext clear_all_context;
  clear.set_namespace_("");
  ASSERT_TRUE(stub_->Clear(&clear_all_context, clear, &cleared).ok());
  ASSERT_TRUE(filtered->Read(&message));
  EXPECT_TRUE(message.cleared_all());

  all_context.TryCancel();
  while (all->Read(&message)) {
  }
  EXPECT_EQ(all->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The filtered stream ends with the server.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  while (filtered->Read(&message)) {
  }
  EXPECT_FALSE(filtered->Finish().ok());
  server_.reset();
}

TEST_F(CacheServiceTest, AWatchOfMalformedNamespacesIsRefusedNamingTheField) {
  StartServer();
  auto refused = [&](const v1::CacheWatchRequest& request) {
    grpc::ClientContext context;  // a watch that is not refused ends at its deadline
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    auto watcher = stub_->WatchInvalidations(&context, request);
    v1::CacheInvalidation message;
    EXPECT_FALSE(watcher->Read(&message));  // no `subscribed` message
    return watcher->Finish();
  };
  v1::CacheWatchRequest empty_name;
  empty_name.add_namespaces("a");
  empty_name.add_namespaces("");
  grpc::Status status = refused(empty_name);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("namespaces[1]: must not be empty"));

  v1::CacheWatchRequest long_name;
  long_name.add_namespaces(std::string(cache::kMaxNamespaceBytes + 1, 'n'));
  status = refused(long_name);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("namespaces[0]: 257 bytes"));

  v1::CacheWatchRequest too_many;
  for (int i = 0; i < 1025; ++i) too_many.add_namespaces(absl::StrCat("n", i));
  status = refused(too_many);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("namespaces: 1025 given, at most 1024"));

  // The service goes on: a valid watch subscribes.
  grpc::ClientContext context;
  v1::CacheWatchRequest valid;
  valid.add_namespaces("a");
  auto watcher = stub_->WatchInvalidations(&context, valid);
  v1::CacheInvalidation message;
  ASSERT_TRUE(watcher->Read(&message));
  EXPECT_TRUE(message.subscribed());
  context.TryCancel();
}

TEST_F(CacheServiceTest, ASlowWatcherGetsAResetInsteadOfUnboundedMemory) {
  StartServer();
  grpc::ClientContext context;
  auto watcher = stub_->WatchInvalidations(&context, v1::CacheWatchRequest());
  v1::CacheInvalidation message;
  ASSERT_TRUE(watcher->Read(&message));
  ASSERT_TRUE(message.subscribed());
  // Many clears (one message each) while the client reads nothing.
  for (size_t i = 0; i < 3 * kMaxQueuedInvalidations; ++i) {
    ASSERT_OK(cache_->Clear(absl::StrCat("n", i)).status());
  }
  bool reset = false;
  int messages = 0;
  while (!reset && watcher->Read(&message)) {
    ++messages;
    reset = message.reset();
  }
  EXPECT_TRUE(reset);
  EXPECT_LE(messages, static_cast<int>(2 * kMaxQueuedInvalidations));
  context.TryCancel();
  while (watcher->Read(&message)) {
  }
  watcher->Finish().IgnoreError();
}

TEST_F(CacheServiceTest, PersistentCacheWritesOnTheExecutor) {
  TempDir dir;
  cache::ToolCacheOptions options;
  options.persist = true;
  options.data_dir = dir.path();
  StartServer(options, /*with_executor=*/true);
  ASSERT_TRUE(Put(Key("t", "x"), "durable").ok());
  grpc::ClientContext context;
  v1::CacheConfigureNamespaceRequest configure;
  configure.set_namespace_("ns");
  configure.set_max_bytes(1 << 20);
  v1::CacheConfigureNamespaceResponse configured;
  ASSERT_TRUE(stub_->ConfigureNamespace(&context, configure, &configured).ok());
  server_->Shutdown(std::chrono::system_clock::now());
  executor_->Shutdown();
  ASSERT_OK(cache_->Close());
  auto reopened = cache::ToolCache::Open(options, &clock_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Get(cache::CacheKey{"ns", "t", "x"})->value, "durable");
  EXPECT_EQ((*reopened)->Stats("ns").max_bytes, 1 << 20);
}

}  // namespace
}  // namespace fast_crewai
