// SchedulerServiceImpl through an in-process channel: proto conversions, status codes with
// field names, the LeaseNodes long poll (hand-off, time-out, client deadline), the
// StreamLeases stream (credits, clean end, cancellation, bad input), the WatchRun stream, leases end to end with dependency outputs, and AcquireRateLimit.
#include "server/rpc/scheduler_service.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fast_crewai/v1/scheduler.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduler/rate_limiter.h"
#include "server/scheduler/scheduler.h"
#include "server/util/executor.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/in_process_server.h"
#include "tests/cpp/testing/poll.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::PollUntil;
using ::fast_crewai::testing::StartInProcess;
using ::fast_crewai::testing::StopInProcess;
using ::fast_crewai::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SchedulerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scheduler::SchedulerOptions options;
    options.data_dir = dir_.path();
    options.clock = &clock_;
    options.sync = persistence::SqliteSync::kNormal;
    options.max_payload_bytes = 4096;
    options.write_executor = &executor_;
    options.before_commit_hook = [this] {
      if (fail_next_commit_.exchange(false)) throw std::runtime_error("disk on fire");
    };
    auto opened = scheduler::Scheduler::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    scheduler_ = *std::move(opened);
    limiter_ = std::make_unique<scheduler::RateLimiter>(&clock_, scheduler::RateLimiterOptions{});
    service_ = std::make_unique<SchedulerServiceImpl>(scheduler_.get(), limiter_.get());
    ASSERT_NO_FATAL_FAILURE(StartInProcess(service_.get(), &server_));
    stub_ = v1::SchedulerService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    service_->EndStreams();
    StopInProcess(server_.get());
    service_.reset();
    executor_.Shutdown();
    ASSERT_OK(scheduler_->Close());
  }

  static v1::TaskNode Node(const std::string& id, std::vector<std::string> deps = {}) {
    v1::TaskNode n;
    n.set_node_id(id);
    for (const std::string& d : deps) n.add_depends_on(d);
    n.set_payload("{\"task\": \"" + id + "\"}");
    return n;
  }

  grpc::Status Create(std::vector<v1::TaskNode> nodes, v1::CreateRunResponse* response,
                      const std::string& queue = "") {
    grpc::ClientContext ctx;
    v1::CreateRunRequest request;
    for (auto& n : nodes) *request.add_nodes() = n;
    request.set_queue(queue);
    request.set_name("test run");
    (*request.mutable_labels())["crew"] = "research";
    return stub_->CreateRun(&ctx, request, response);
  }

  grpc::Status Lease(v1::LeaseNodesResponse* response, int max_nodes = 1, int64_t wait_millis = 0,
                     int deadline_ms = 10000) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
    v1::LeaseNodesRequest request;
    request.set_worker_id("host:42");
    request.set_max_nodes(max_nodes);
    request.set_wait_millis(wait_millis);
    return stub_->LeaseNodes(&ctx, request, response);
  }

  grpc::Status Complete(const std::string& lease_id, const std::string& output,
                        v1::CompleteNodeResponse* response = nullptr) {
    grpc::ClientContext ctx;
    v1::CompleteNodeRequest request;
    request.set_lease_id(lease_id);
    request.set_output(output);
    v1::CompleteNodeResponse ignored;
    return stub_->CompleteNode(&ctx, request, response ? response : &ignored);
  }

  // Polls (real time) until `pred` holds.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    return PollUntil(pred, absl::Seconds(4));
  }

  TempDir dir_;
  FakeClock clock_;
  std::atomic<bool> fail_next_commit_{false};  // the next commit throws (a failed write)
  ThreadPoolExecutor executor_{4, "sched-test"};
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<scheduler::RateLimiter> limiter_;
  std::unique_ptr<SchedulerServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::SchedulerService::Stub> stub_;
};

TEST_F(SchedulerServiceTest, RunLifecycleWithDependencyOutputs) {
  v1::CreateRunResponse created;
  ASSERT_TRUE(Create({Node("research"), Node("write", {"research"})}, &created).ok());
  EXPECT_FALSE(created.run_id().empty());
  EXPECT_EQ(created.run().run_id(), created.run_id());
  EXPECT_EQ(created.run().state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(created.run().queue(), "default");
  EXPECT_EQ(created.run().counts().total(), 2);
  EXPECT_EQ(created.run().counts().ready(), 1);
  EXPECT_EQ(created.run().lease_millis(), 30000);
  EXPECT_EQ(created.run().max_attempts(), 3);
  EXPECT_EQ(created.run().labels().at("crew"), "research");

  v1::LeaseNodesResponse leased;
  ASSERT_TRUE(Lease(&leased).ok());
  ASSERT_EQ(leased.leases_size(), 1);
  const v1::Lease& first = leased.leases(0);
  EXPECT_EQ(first.node_id(), "research");
  EXPECT_EQ(first.payload(), "{\"task\": \"research\"}");
  EXPECT_EQ(first.attempt(), 1);
  EXPECT_EQ(first.lease_millis(), 30000);
  ASSERT_TRUE(Complete(first.lease_id(), "findings").ok());

  ASSERT_TRUE(Lease(&leased).ok());
  ASSERT_EQ(leased.leases_size(), 1);
  const v1::Lease& second = leased.leases(0);
  EXPECT_EQ(second.node_id(), "write");
  ASSERT_EQ(second.dependency_outputs_size(), 1);
  EXPECT_EQ(second.dependency_outputs(0).node_id(), "research");
  EXPECT_EQ(second.dependency_outputs(0).output(), "findings");
  v1::CompleteNodeResponse done;
  ASSERT_TRUE(Complete(second.lease_id(), "article", &done).ok());
  EXPECT_EQ(done.run().state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_GT(done.run().finished_at_micros(), 0);

  grpc::ClientContext ctx;
  v1::ListNodesRequest list;
  list.set_run_id(created.run_id());
  list.set_include_output(true);
  v1::ListNodesResponse nodes;
  ASSERT_TRUE(stub_->ListNodes(&ctx, list, &nodes).ok());
  ASSERT_EQ(nodes.nodes_size(), 2);
  EXPECT_EQ(nodes.nodes(0).state(), v1::NODE_STATE_SUCCEEDED);
  EXPECT_EQ(nodes.nodes(0).output(), "findings");
  EXPECT_EQ(nodes.nodes(0).payload(), "") << "payload only when asked for";
  EXPECT_EQ(nodes.nodes(0).worker_id(), "host:42");
  EXPECT_THAT(nodes.nodes(1).depends_on(), ElementsAre("research"));

  grpc::ClientContext list_ctx;
  v1::ListRunsRequest runs_request;
  runs_request.add_states(v1::RUN_STATE_SUCCEEDED);
  v1::ListRunsResponse runs;
  ASSERT_TRUE(stub_->ListRuns(&list_ctx, runs_request, &runs).ok());
  ASSERT_EQ(runs.runs_size(), 1);
  EXPECT_EQ(runs.runs(0).name(), "test run");
  EXPECT_FALSE(runs.page().has_more());
}

TEST_F(SchedulerServiceTest, ErrorsCarryTheRightCodeAndField) {
  v1::CreateRunResponse created;
  grpc::Status cycle = Create({Node("a", {"b"}), Node("b", {"a"})}, &created);
  EXPECT_EQ(cycle.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(cycle.error_message(), "nodes[0].depends_on: dependency cycle \"a\" -> \"b\" -> \"a\"");
  v1::TaskNode big = Node("big");
  big.set_payload(std::string(5000, 'x'));
  grpc::Status too_big = Create({big}, &created);
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(too_big.error_message(), HasSubstr("nodes[0].payload:"));
  EXPECT_EQ(Create({Node("a", {"nope"})}, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  grpc::Status unknown = Complete("run-ffffffffffffffff/0/1", "x");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(unknown.error_message(), HasSubstr("lease_id:"));

  ASSERT_TRUE(Create({Node("a")}, &created).ok());
  v1::LeaseNodesResponse leased;
  ASSERT_TRUE(Lease(&leased).ok());
  ASSERT_TRUE(Complete(leased.leases(0).lease_id(), "1").ok());
  grpc::Status twice = Complete(leased.leases(0).lease_id(), "2");
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(twice.error_message(), HasSubstr("completed already"));

  grpc::ClientContext ctx;
  v1::GetRunRequest get;
  get.set_run_id("run-missing");
  v1::GetRunResponse got;
  EXPECT_EQ(stub_->GetRun(&ctx, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext list_ctx;
  v1::ListRunsRequest bad_states;
  bad_states.add_states(static_cast<v1::RunState>(9));
  v1::ListRunsResponse runs;
  grpc::Status bad = stub_->ListRuns(&list_ctx, bad_states, &runs);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("states[0]:"));

  v1::LeaseNodesResponse ignored;
  grpc::Status wait = Lease(&ignored, 1, 70000);
  EXPECT_EQ(wait.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(wait.error_message(), HasSubstr("wait_millis:"));
}

TEST_F(SchedulerServiceTest, ConcurrentWritesAreOnDiskWhenAcknowledged) {
  constexpr int kClients = 8;
  constexpr int kRunsEach = 10;
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < kRunsEach; ++i) {
        v1::CreateRunResponse response;
        if (Create({Node("a")}, &response).ok()) acknowledged.fetch_add(1);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  ASSERT_EQ(acknowledged.load(), kClients * kRunsEach);
  // Read the file, not the scheduler: every acknowledged run is committed already.
  SQLite::Database raw(scheduler_->path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT COUNT(*) FROM runs").getInt(), kClients * kRunsEach);
}

TEST_F(SchedulerServiceTest, ARunWhoseCreationCannotBeWrittenIsAnErrorAndCancelled) {
  fail_next_commit_ = true;
  v1::CreateRunResponse response;
  grpc::Status status = Create({Node("a")}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("disk on fire"));
  grpc::ClientContext ctx;
  v1::ListRunsResponse runs;
  ASSERT_TRUE(stub_->ListRuns(&ctx, v1::ListRunsRequest(), &runs).ok());
  ASSERT_EQ(runs.runs_size(), 1);
  EXPECT_EQ(runs.runs(0).state(), v1::RUN_STATE_CANCELLED);
  v1::LeaseNodesResponse leases;
  ASSERT_TRUE(Lease(&leases).ok());
  EXPECT_EQ(leases.leases_size(), 0) << "nothing of the abandoned run is handed out";
  ASSERT_TRUE(Create({Node("b")}, &response).ok()) << "the next commit works";
}

// A worker whose CompleteNode got an error repeats it: the repeat is answered OK once the
// completion is on disk, instead of "completed already" (the failed call's change was kept
// in memory).
TEST_F(SchedulerServiceTest, ACompletionWhoseCommitFailedIsAnsweredWhenTheWorkerRepeatsIt) {
  v1::CreateRunResponse created;
  ASSERT_TRUE(Create({Node("a")}, &created).ok());
  v1::LeaseNodesResponse leased;
  ASSERT_TRUE(Lease(&leased).ok());
  ASSERT_EQ(leased.leases_size(), 1);
  const std::string lease_id = leased.leases(0).lease_id();

  fail_next_commit_ = true;
  grpc::Status failed = Complete(lease_id, "the output");
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.error_message(), HasSubstr("disk on fire"));

  v1::CompleteNodeResponse repeated;
  grpc::Status status = Complete(lease_id, "the output", &repeated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(repeated.run().state(), v1::RUN_STATE_SUCCEEDED);
  SQLite::Database raw(scheduler_->path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT output FROM nodes").getString(), "the output");

  grpc::Status other = Complete(lease_id, "another output");
  EXPECT_EQ(other.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(other.error_message(), HasSubstr("completed already"));
}

TEST_F(SchedulerServiceTest, ParkedLeaseNodesIsAnsweredByCreateRun) {
  v1::LeaseNodesResponse leased;
  grpc::Status status;
  std::thread worker([&] { status = Lease(&leased, 4, 60000); });
  ASSERT_TRUE(WaitFor([&] { return scheduler_->GetStats().waiters == 1; }));
  v1::CreateRunResponse created;
  ASSERT_TRUE(Create({Node("a"), Node("b"), Node("c", {"a"})}, &created).ok());
  worker.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(leased.leases_size(), 2);
  EXPECT_EQ(leased.leases(0).node_id(), "a");
  EXPECT_EQ(leased.leases(1).node_id(), "b");
}

TEST_F(SchedulerServiceTest, ParkedLeaseNodesTimesOutEmptyAndHonoursTheClientDeadline) {
  v1::LeaseNodesResponse leased;
  grpc::Status status;
  std::thread worker([&] { status = Lease(&leased, 1, 5000); });
  ASSERT_TRUE(WaitFor([&] { return scheduler_->GetStats().waiters == 1; }));
  clock_.Advance(absl::Seconds(5));
  scheduler_->Tick();
  worker.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(leased.leases_size(), 0);

  // The client gives up first: the call ends DEADLINE_EXCEEDED and the waiter is withdrawn.
  grpc::Status cancelled = Lease(&leased, 1, 60000, /*deadline_ms=*/100);
  EXPECT_EQ(cancelled.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitFor([&] { return scheduler_->GetStats().waiters == 0; }));
}

TEST_F(SchedulerServiceTest, WatchRunStreamsChangesAndEndsWhenTheRunFinishes) {
  v1::CreateRunResponse created;
  ASSERT_TRUE(Create({Node("a"), Node("b", {"a"})}, &created).ok());
  grpc::ClientContext ctx;
  v1::WatchRunRequest request;
  request.set_run_id(created.run_id());
  request.set_include_output(true);
  std::unique_ptr<grpc::ClientReader<v1::WatchRunResponse>> reader =
      stub_->WatchRun(&ctx, request);
  v1::WatchRunResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(message.nodes_size(), 2);
  EXPECT_EQ(message.run().state(), v1::RUN_STATE_RUNNING);

  v1::LeaseNodesResponse leased;
  ASSERT_TRUE(Lease(&leased).ok());
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_EQ(message.nodes_size(), 1);
  EXPECT_EQ(message.nodes(0).state(), v1::NODE_STATE_LEASED);
  ASSERT_TRUE(Complete(leased.leases(0).lease_id(), "A").ok());
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_EQ(message.nodes_size(), 2);
  EXPECT_EQ(message.nodes(0).output(), "A");
  EXPECT_EQ(message.nodes(1).state(), v1::NODE_STATE_READY);

  ASSERT_TRUE(Lease(&leased).ok());
  grpc::ClientContext fail_ctx;
  v1::FailNodeRequest fail;
  fail.set_lease_id(leased.leases(0).lease_id());
  fail.set_error("bad output");
  v1::FailNodeResponse failed;
  ASSERT_TRUE(stub_->FailNode(&fail_ctx, fail, &failed).ok());
  EXPECT_FALSE(failed.will_retry());
  EXPECT_EQ(failed.run().state(), v1::RUN_STATE_FAILED);
  v1::WatchRunResponse last;
  while (reader->Read(&message)) last = message;
  EXPECT_EQ(last.run().state(), v1::RUN_STATE_FAILED);
  EXPECT_TRUE(reader->Finish().ok());

  // Unknown run: NOT_FOUND on the stream.
  grpc::ClientContext missing_ctx;
  v1::WatchRunRequest missing;
  missing.set_run_id("run-missing");
  auto missing_reader = stub_->WatchRun(&missing_ctx, missing);
  EXPECT_FALSE(missing_reader->Read(&message));
  EXPECT_EQ(missing_reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SchedulerServiceTest, EndStreamsEndsWatchesWithUnavailable) {
  v1::CreateRunResponse created;
  ASSERT_TRUE(Create({Node("a")}, &created).ok());
  grpc::ClientContext ctx;
  v1::WatchRunRequest request;
  request.set_run_id(created.run_id());
  auto reader = stub_->WatchRun(&ctx, request);
  v1::WatchRunResponse message;
  ASSERT_TRUE(reader->Read(&message));
  service_->EndStreams();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// ---- StreamLeases ----

v1::StreamLeasesRequest Credits(int credits, const std::string& worker = "",
                                const std::string& queue = "") {
  v1::StreamLeasesRequest r;
  r.set_worker_id(worker);
  r.set_queue(queue);
  r.set_credits(credits);
  return r;
}

TEST_F(SchedulerServiceTest, StreamLeasesPushesALeasePerCreditAndACleanEndKeepsThem) {
  grpc::ClientContext ctx;
  auto stream = stub_->StreamLeases(&ctx);
  ASSERT_TRUE(stream->Write(Credits(1, "host:7", "q")));
  ASSERT_TRUE(WaitFor([&] { return scheduler_->GetStats().lease_streams == 1; }));
  v1::CreateRunResponse created;
  ASSERT_TRUE(Create({Node("a"), Node("b", {"a"}), Node("c")}, &created, "q").ok());
  v1::StreamLeasesResponse message;
  ASSERT_TRUE(stream->Read(&message));  // pushed by CreateRun, one credit: one lease
  ASSERT_EQ(message.leases_size(), 1);
  EXPECT_EQ(message.leases(0).node_id(), "a");
  EXPECT_EQ(message.leases(0).payload(), "{\"task\": \"a\"}");
  EXPECT_EQ(message.leases(0).attempt(), 1);
  const std::string lease_a = message.leases(0).lease_id();
  ASSERT_TRUE(stream->Write(Credits(2)));  // later messages may leave worker and queue empty
  ASSERT_TRUE(stream->Read(&message));
  ASSERT_EQ(message.leases_size(), 1);
  EXPECT_EQ(message.leases(0).node_id(), "c");
  const std::string lease_c = message.leases(0).lease_id();
  ASSERT_TRUE(Complete(lease_a, "A").ok());  // b becomes ready: the credit left takes it
  ASSERT_TRUE(stream->Read(&message));
  ASSERT_EQ(message.leases_size(), 1);
  EXPECT_EQ(message.leases(0).node_id(), "b");
  EXPECT_EQ(message.leases(0).dependency_outputs(0).output(), "A");
  // The worker closes its side: the stream ends OK and its leases stay held.
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&message));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(WaitFor([&] { return scheduler_->GetStats().lease_streams == 0; }));
  EXPECT_TRUE(Complete(lease_c, "C").ok());
  EXPECT_TRUE(Complete(message.leases(0).lease_id(), "B").ok());
}

TEST_F(SchedulerServiceTest, ACancelledStreamLapsesItsHeldLeasesAtOnce) {
  v1::CreateRunResponse created;
  ASSERT_TRUE(Create({Node("a")}, &created).ok());
  auto ctx = std::make_unique<grpc::ClientContext>();
  auto stream = stub_->StreamLeases(ctx.get());
  ASSERT_TRUE(stream->Write(Credits(1, "doomed")));
  v1::StreamLeasesResponse message;
  ASSERT_TRUE(stream->Read(&message));
  ASSERT_EQ(message.leases_size(), 1);
  ctx->TryCancel();  // as a worker that dies: no half-close
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // Back in the queue long before its 30 s lease could lapse (the fake clock never moves).
  v1::LeaseNodesResponse leased;
  ASSERT_TRUE(WaitFor([&] {
    leased.Clear();
    return Lease(&leased).ok() && leased.leases_size() == 1;
  }));
  EXPECT_EQ(leased.leases(0).node_id(), "a");
  EXPECT_EQ(leased.leases(0).attempt(), 2);
  EXPECT_EQ(Complete(message.leases(0).lease_id(), "late").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(SchedulerServiceTest, StreamLeasesRefusesBadInputNamingTheField) {
  const auto refused = [&](std::vector<v1::StreamLeasesRequest> requests) {
    grpc::ClientContext ctx;
    auto stream = stub_->StreamLeases(&ctx);
    for (const auto& r : requests) stream->Write(r);
    v1::StreamLeasesResponse message;
    while (stream->Read(&message)) {
    }
    return stream->Finish();
  };
  grpc::Status s = refused({Credits(0, "w")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("credits: 0 is out of range"));
  s = refused({Credits(-3, "w")});
  EXPECT_THAT(s.error_message(), HasSubstr("credits: -3"));
  s = refused({Credits(1001, "w")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  s = refused({Credits(1, "w", "b@d")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("queue:"));
  s = refused({Credits(1, "w", "q"), Credits(1, "", "other")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("queue: cannot change"));
  s = refused({Credits(1, "w", "q"), Credits(1, "v")});
  EXPECT_THAT(s.error_message(), HasSubstr("worker_id: cannot change"));
  s = refused({Credits(600, "w"), Credits(600)});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("credits: 600 outstanding plus 600"));
  EXPECT_TRUE(WaitFor([&] { return scheduler_->GetStats().lease_streams == 0; }));
  // The daemon is still serving.
  v1::CreateRunResponse created;
  EXPECT_TRUE(Create({Node("a")}, &created).ok());
}

TEST_F(SchedulerServiceTest, EndStreamsEndsLeaseStreamsWithUnavailable) {
  grpc::ClientContext ctx;
  auto stream = stub_->StreamLeases(&ctx);
  ASSERT_TRUE(stream->Write(Credits(1, "w")));
  ASSERT_TRUE(WaitFor([&] { return scheduler_->GetStats().lease_streams == 1; }));
  service_->EndStreams();
  v1::StreamLeasesResponse message;
  while (stream->Read(&message)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SchedulerServiceTest, RenewLeasesReportsLostLeases) {
  v1::CreateRunResponse created;
  ASSERT_TRUE(Create({Node("a")}, &created).ok());
  v1::LeaseNodesResponse leased;
  ASSERT_TRUE(Lease(&leased).ok());
  grpc::ClientContext ctx;
  v1::RenewLeasesRequest renew;
  renew.set_worker_id("host:42");
  renew.add_lease_ids(leased.leases(0).lease_id());
  renew.add_lease_ids("gone");
  v1::RenewLeasesResponse renewed;
  ASSERT_TRUE(stub_->RenewLeases(&ctx, renew, &renewed).ok());
  EXPECT_THAT(renewed.lost_lease_ids(), ElementsAre("gone"));

  grpc::ClientContext cancel_ctx;
  v1::CancelRunRequest cancel;
  cancel.set_run_id(created.run_id());
  v1::CancelRunResponse cancelled;
  ASSERT_TRUE(stub_->CancelRun(&cancel_ctx, cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.run().state(), v1::RUN_STATE_CANCELLED);
  grpc::ClientContext again;
  v1::RenewLeasesResponse lost;
  ASSERT_TRUE(stub_->RenewLeases(&again, renew, &lost).ok());
  EXPECT_EQ(lost.lost_lease_ids_size(), 2);
}

TEST_F(SchedulerServiceTest, AcquireRateLimitAnswersWaitsRoundedUp) {
  const auto acquire = [&](int per_minute, int permits, int64_t* wait) {
    grpc::ClientContext ctx;
    v1::AcquireRateLimitRequest request;
    request.set_name("openai:key");
    request.set_per_minute(per_minute);
    request.set_permits(permits);
    v1::AcquireRateLimitResponse response;
    grpc::Status s = stub_->AcquireRateLimit(&ctx, request, &response);
    *wait = response.wait_millis();
    return s;
  };
  int64_t wait = -1;
  ASSERT_TRUE(acquire(2, 0, &wait).ok());
  EXPECT_EQ(wait, 0);
  clock_.Advance(absl::Microseconds(1500));
  ASSERT_TRUE(acquire(2, 1, &wait).ok());
  EXPECT_EQ(wait, 0);
  ASSERT_TRUE(acquire(2, 1, &wait).ok());
  EXPECT_EQ(wait, 59999);  // 60 s after the first, 1.5 ms have passed: 59998.5 rounded up
  clock_.Advance(absl::Microseconds(300));
  ASSERT_TRUE(acquire(2, 1, &wait).ok());
  EXPECT_EQ(wait, 60000);  // 60 s after the second (1.5 ms), now 1.8 ms: 59999.7 rounded up
  grpc::Status bad = acquire(0, 1, &wait);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("per_minute:"));
}

}  // namespace
}  // namespace fast_crewai
