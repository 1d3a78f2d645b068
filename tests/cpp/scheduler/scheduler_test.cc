// Scheduler core with a FakeClock and a temp scheduler.db: graph validation (cycles name
// their nodes), ready order, leases (renew, lapse, retry, exhaustion), completion twice,
// cancellation, dependency outputs, failure cascades, long polls (hand-off and time-out),
// watches, listings, pruning, and restart (reopen the same file).
#include "server/scheduler/scheduler.h"

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/util/error_details.h"
#include "server/util/executor.h"
#include "tests/cpp/scheduler/scheduler_test_util.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::scheduler {
namespace {

using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::LeaseNow;
using testing::Node;
using testing::Spec;
using testing::TestOptions;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void TearDown() override {
    if (scheduler_ != nullptr) {
      EXPECT_OK(scheduler_->Close());
    }
  }

  void Reopen(std::optional<SchedulerOptions> options = std::nullopt) {
    if (scheduler_ != nullptr) {
      ASSERT_OK(scheduler_->Close());
    }
    scheduler_.reset();
    auto opened = Scheduler::Open(options.value_or(TestOptions(dir_.path(), &clock_)));
    ASSERT_TRUE(opened.ok()) << opened.status();
    scheduler_ = *std::move(opened);
  }

  RunInfo Create(RunSpec spec) {
    absl::StatusOr<RunInfo> run = scheduler_->CreateRun(std::move(spec));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : RunInfo{};
  }

  std::vector<std::string> LeaseIds(int max, const std::string& queue = "") {
    std::vector<std::string> ids;
    absl::StatusOr<std::vector<LeaseGrant>> grants = LeaseNow(*scheduler_, max, queue);
    EXPECT_TRUE(grants.ok()) << grants.status();
    if (grants.ok()) {
      for (const LeaseGrant& g : *grants) ids.push_back(g.node_id);
    }
    return ids;
  }

  LeaseGrant LeaseOne(const std::string& queue = "") {
    absl::StatusOr<std::vector<LeaseGrant>> grants = LeaseNow(*scheduler_, 1, queue);
    EXPECT_TRUE(grants.ok() && grants->size() == 1)
        << (grants.ok() ? absl::StrCat(grants->size(), " leases") : grants.status().ToString());
    return grants.ok() && grants->size() == 1 ? (*grants)[0] : LeaseGrant{};
  }

  NodeInfo GetNode(const std::string& run_id, const std::string& node_id) {
    ListNodesOptions options;
    options.include_output = true;
    options.include_payload = true;
    absl::StatusOr<NodePage> page = scheduler_->ListNodes(run_id, options);
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const NodeInfo& n : page->nodes) {
        if (n.node_id == node_id) return n;
      }
    }
    ADD_FAILURE() << "no node " << node_id;
    return NodeInfo{};
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Scheduler> scheduler_;
};

// ---- validation ----

TEST_F(SchedulerTest, CycleIsRejectedNamingItsNodes) {
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("start"), Node("a", {"start", "c"}),
                                          Node("b", {"a"}), Node("c", {"b"}),
                                          Node("after", {"c"})})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "nodes[1].depends_on: dependency cycle \"a\" -> \"c\" -> \"b\" -> \"a\""));
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("self", {"self"})})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dependency cycle \"self\" -> \"self\"")));
  ASSERT_OK_AND_ASSIGN(RunPage page, scheduler_->ListRuns(Page{}, {}));
  EXPECT_TRUE(page.runs.empty()) << "a rejected run must leave nothing behind";
}

TEST_F(SchedulerTest, MalformedGraphsAreRejectedNamingTheField) {
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("a"), Node("b", {"a", "zz"})})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "nodes[1].depends_on[1]: unknown node \"zz\""));
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("a"), Node("a")})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nodes[1].node_id:")));
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("a b")})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("nodes[0].node_id: character ' ' at offset 1")));
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("")})),
              StatusIs(absl::StatusCode::kInvalidArgument, "nodes[0].node_id: must not be empty"));
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node(std::string(129, 'x'))})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nodes[0].node_id:")));
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("a")}, "bad queue")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("queue:")));
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("a"), Node("b", {}, std::string(1025, 'p'))})),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("nodes[1].payload: 1025 bytes is more than the limit of 1024")));
  RunSpec lease = Spec({Node("a")});
  lease.lease = absl::Milliseconds(50);
  EXPECT_THAT(scheduler_->CreateRun(lease),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lease_millis:")));
  RunSpec attempts = Spec({Node("a")});
  attempts.max_attempts = 101;
  EXPECT_THAT(scheduler_->CreateRun(attempts),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_attempts:")));
  RunSpec node_attempts = Spec({Node("a")});
  node_attempts.nodes[0].max_attempts = -1;
  EXPECT_THAT(scheduler_->CreateRun(node_attempts),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nodes[0].max_attempts:")));
  RunSpec name = Spec({Node("a")});
  name.name = std::string(257, 'n');
  EXPECT_THAT(scheduler_->CreateRun(name),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name:")));
  RunSpec labels = Spec({Node("a")});
  for (int i = 0; i < 33; ++i) labels.labels.push_back({absl::StrCat("k", i), "v"});
  EXPECT_THAT(scheduler_->CreateRun(labels),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("labels:")));
  SchedulerOptions small = TestOptions(dir_.path(), &clock_);
  small.max_nodes_per_run = 2;
  Reopen(small);
  absl::StatusOr<RunInfo> too_many = scheduler_->CreateRun(Spec({Node("a"), Node("b"), Node("c")}));
  EXPECT_THAT(too_many,
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("nodes: 3 nodes")));
  EXPECT_EQ(GetErrorDetail(too_many.status(), kReasonDetail), kPayloadTooLarge);
}

TEST_F(SchedulerTest, EmptyRunSucceedsAtOnce) {
  RunInfo run = Create(Spec({}));
  EXPECT_EQ(run.state, RunState::kSucceeded);
  EXPECT_NE(run.finished_at_micros, 0);
}

// ---- order, leases, outputs ----

TEST_F(SchedulerTest, ReadyOrderIsRunCreationThenNodeOrder) {
  RunInfo first = Create(Spec({Node("a1"), Node("a2", {"a1"}), Node("a3")}));
  RunInfo second = Create(Spec({Node("b1"), Node("b2")}));
  EXPECT_EQ(first.counts.ready, 2);
  EXPECT_EQ(first.counts.blocked, 1);
  LeaseGrant a1 = LeaseOne();
  EXPECT_EQ(a1.node_id, "a1");
  ASSERT_OK(scheduler_->CompleteNode(a1.lease_id, "out-a1"));
  // a2 became ready after b1 and b2, but its run is older: it goes before them.
  EXPECT_THAT(LeaseIds(10), ElementsAre("a2", "a3", "b1", "b2"));
  // Queues are separate.
  Create(Spec({Node("q1")}, "other"));
  EXPECT_TRUE(LeaseIds(10).empty());
  EXPECT_THAT(LeaseIds(10, "other"), ElementsAre("q1"));
}

TEST_F(SchedulerTest, LeaseCarriesPayloadAttemptAndDependencyOutputsInOrder) {
  RunSpec spec = Spec({Node("x"), Node("y"), Node("z", {"y", "x"}, "zzz")});
  spec.lease = absl::Seconds(7);
  RunInfo run = Create(spec);
  std::vector<LeaseGrant> first = *LeaseNow(*scheduler_, 2);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_OK(scheduler_->CompleteNode(first[0].lease_id, "X-out"));
  ASSERT_OK(scheduler_->CompleteNode(first[1].lease_id, std::string("Y\0out", 5)));
  LeaseGrant z = LeaseOne();
  EXPECT_EQ(z.run_id, run.run_id);
  EXPECT_EQ(z.node_id, "z");
  EXPECT_EQ(*z.payload, "zzz");
  EXPECT_EQ(z.attempt, 1);
  EXPECT_EQ(z.lease, absl::Seconds(7));
  ASSERT_EQ(z.dependency_outputs.size(), 2u);
  EXPECT_EQ(z.dependency_outputs[0].node_id, "y");
  EXPECT_EQ(*z.dependency_outputs[0].output, std::string("Y\0out", 5));
  EXPECT_EQ(z.dependency_outputs[1].node_id, "x");
  EXPECT_EQ(*z.dependency_outputs[1].output, "X-out");
  ASSERT_OK_AND_ASSIGN(RunInfo done, scheduler_->CompleteNode(z.lease_id, "Z"));
  EXPECT_EQ(done.state, RunState::kSucceeded);
  EXPECT_EQ(done.counts.succeeded, 3);
}

TEST_F(SchedulerTest, CompletingTwiceOrAnUnknownLeaseFails) {
  Create(Spec({Node("a")}));
  LeaseGrant a = LeaseOne();
  ASSERT_OK(scheduler_->CompleteNode(a.lease_id, "ok"));
  EXPECT_THAT(scheduler_->CompleteNode(a.lease_id, "again"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("completed already")));
  EXPECT_THAT(scheduler_->FailNode(a.lease_id, "boom", false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("completed already")));
  EXPECT_THAT(scheduler_->CompleteNode("no-such-lease", ""),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("lease_id:")));
  EXPECT_THAT(scheduler_->CompleteNode("run-0000000000000000/0/1", ""),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("lease_id:")));
  EXPECT_THAT(scheduler_->CompleteNode("", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, "lease_id: must not be empty"));
  EXPECT_EQ(GetNode(a.run_id, "a").output != nullptr ? *GetNode(a.run_id, "a").output : "",
            "ok");
}

// A worker repeats CompleteNode/FailNode when it did not hear the answer (a lost reply, or a
// failed commit whose change a later commit wrote): the repeat of the very call gets the
// answer the call had, also after a restart; anything else about an ended lease is refused.
TEST_F(SchedulerTest, RepeatingTheCallThatEndedALeaseGetsTheSameAnswer) {
  RunSpec spec = Spec({Node("a"), Node("b"), Node("c"), Node("d")});
  spec.max_attempts = 2;
  RunInfo run = Create(spec);
  LeaseGrant a = LeaseOne();
  LeaseGrant b = LeaseOne();
  LeaseGrant c = LeaseOne();
  ASSERT_OK_AND_ASSIGN(RunInfo completed, scheduler_->CompleteNode(a.lease_id, "A"));
  ASSERT_OK_AND_ASSIGN(RunInfo repeated, scheduler_->CompleteNode(a.lease_id, "A"));
  EXPECT_EQ(repeated.counts.succeeded, 1);
  EXPECT_EQ(repeated.counts.leased, completed.counts.leased);
  EXPECT_EQ(*GetNode(run.run_id, "a").output, "A");

  ASSERT_OK_AND_ASSIGN(FailResult failed, scheduler_->FailNode(b.lease_id, "fatal", false));
  ASSERT_OK_AND_ASSIGN(FailResult failed_again, scheduler_->FailNode(b.lease_id, "fatal", false));
  EXPECT_FALSE(failed_again.will_retry);
  EXPECT_EQ(failed_again.run.counts.failed, 1);

  ASSERT_OK_AND_ASSIGN(FailResult retry, scheduler_->FailNode(c.lease_id, "flaky", true));
  ASSERT_TRUE(retry.will_retry);
  ASSERT_OK_AND_ASSIGN(FailResult retry_again, scheduler_->FailNode(c.lease_id, "flaky", true));
  EXPECT_TRUE(retry_again.will_retry);
  EXPECT_EQ(GetNode(run.run_id, "c").attempts, 1) << "a repeat must not use an attempt";

  // Not the same call: refused as before.
  EXPECT_THAT(scheduler_->CompleteNode(a.lease_id, "other output"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("completed already")));
  EXPECT_THAT(scheduler_->FailNode(a.lease_id, "A", false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("completed already")));
  EXPECT_THAT(scheduler_->CompleteNode(b.lease_id, "fatal"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("failed already")));
  EXPECT_THAT(scheduler_->FailNode(b.lease_id, "other error", false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("failed already")));

  // Once the retried node is leased again, its old lease's repeat is refused (the answer
  // would no longer be true: the node is running again).
  LeaseGrant c2 = LeaseOne();
  ASSERT_EQ(c2.node_id, "c");
  EXPECT_THAT(scheduler_->FailNode(c.lease_id, "flaky", true),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("leased again")));

  // A lapsed lease is not a repeat, whatever the worker says.
  LeaseGrant d = LeaseOne();
  clock_.Advance(absl::Minutes(10));
  scheduler_->Tick();
  EXPECT_THAT(scheduler_->FailNode(d.lease_id, GetNode(run.run_id, "d").error, true),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lapsed")));

  // After a restart (state read back from scheduler.db) the repeats still get their answer.
  Reopen();
  ASSERT_OK_AND_ASSIGN(RunInfo after_restart, scheduler_->CompleteNode(a.lease_id, "A"));
  EXPECT_EQ(after_restart.counts.succeeded, 1);
  ASSERT_OK_AND_ASSIGN(FailResult failed_after, scheduler_->FailNode(b.lease_id, "fatal", false));
  EXPECT_FALSE(failed_after.will_retry);
  EXPECT_THAT(scheduler_->CompleteNode(a.lease_id, "other output"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no longer held")));
}

TEST_F(SchedulerTest, OversizedOutputIsRefusedAndTheLeaseStaysHeld) {
  Create(Spec({Node("a")}));
  LeaseGrant a = LeaseOne();
  absl::StatusOr<RunInfo> refused = scheduler_->CompleteNode(a.lease_id, std::string(1025, 'o'));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                HasSubstr("output: 1025 bytes is more than the limit of 1024")));
  // The reason tells a worker that repeating the call will not help.
  EXPECT_EQ(GetErrorDetail(refused.status(), kReasonDetail), kPayloadTooLarge);
  ASSERT_OK(scheduler_->CompleteNode(a.lease_id, "small"));
}

TEST_F(SchedulerTest, OnlyTheHoldingWorkerRenewsALease) {
  RunSpec spec = Spec({Node("a")});
  spec.lease = absl::Seconds(10);
  RunInfo run = Create(spec);
  LeaseGrant a = LeaseOne();  // held by "w1"
  clock_.Advance(absl::Seconds(8));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> lost, scheduler_->RenewLeases("w2", {a.lease_id}));
  EXPECT_THAT(lost, ElementsAre(a.lease_id));
  // w2's renewal did not extend it: it lapses 10 s after it was taken.
  clock_.Advance(absl::Seconds(3));
  scheduler_->Tick();
  NodeInfo node = GetNode(run.run_id, "a");
  EXPECT_EQ(node.state, NodeState::kReady);
  EXPECT_THAT(node.error, HasSubstr("lease lapsed"));
}

TEST_F(SchedulerTest, RenewalKeepsALeaseLapseRetriesThenFails) {
  RunSpec spec = Spec({Node("a"), Node("b", {"a"}), Node("solo")});
  spec.lease = absl::Seconds(10);
  spec.max_attempts = 2;
  RunInfo run = Create(spec);
  LeaseGrant a1 = LeaseOne();
  ASSERT_EQ(a1.node_id, "a");
  // Renewed every 8 s, it survives 40 s.
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(8));
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> lost,
                         scheduler_->RenewLeases("w1", {a1.lease_id, "bogus"}));
    EXPECT_THAT(lost, ElementsAre("bogus"));
    scheduler_->Tick();
  }
  EXPECT_EQ(GetNode(run.run_id, "a").state, NodeState::kLeased);
  // Unrenewed, it lapses: back to ready, attempt 1 of 2 used.
  clock_.Advance(absl::Seconds(10));
  scheduler_->Tick();
  NodeInfo a = GetNode(run.run_id, "a");
  EXPECT_EQ(a.state, NodeState::kReady);
  EXPECT_EQ(a.attempts, 1);
  EXPECT_THAT(a.error, HasSubstr("lease lapsed"));
  EXPECT_THAT(scheduler_->CompleteNode(a1.lease_id, "late"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lapsed")));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> lost, scheduler_->RenewLeases("w1", {a1.lease_id}));
  EXPECT_THAT(lost, ElementsAre(a1.lease_id));
  // Second and last attempt lapses too: the node fails, b is cancelled, solo still runs.
  LeaseGrant a2 = LeaseOne();
  ASSERT_EQ(a2.node_id, "a");
  EXPECT_EQ(a2.attempt, 2);
  EXPECT_THAT(scheduler_->CompleteNode(a1.lease_id, "late"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("leased again")));
  clock_.Advance(absl::Seconds(11));
  scheduler_->Tick();
  EXPECT_EQ(GetNode(run.run_id, "a").state, NodeState::kFailed);
  EXPECT_EQ(GetNode(run.run_id, "b").state, NodeState::kCancelled);
  EXPECT_THAT(GetNode(run.run_id, "b").error, HasSubstr("dependency \"a\" failed"));
  ASSERT_OK_AND_ASSIGN(RunInfo running, scheduler_->GetRun(run.run_id));
  EXPECT_EQ(running.state, RunState::kRunning);  // solo is still to run
  LeaseGrant solo = LeaseOne();
  ASSERT_EQ(solo.node_id, "solo");
  ASSERT_OK_AND_ASSIGN(RunInfo finished, scheduler_->CompleteNode(solo.lease_id, "s"));
  EXPECT_EQ(finished.state, RunState::kFailed);
  EXPECT_EQ(finished.counts.failed, 1);
  EXPECT_EQ(finished.counts.cancelled, 1);
  EXPECT_EQ(finished.counts.succeeded, 1);
}

TEST_F(SchedulerTest, ExpiredLeaseIsRefusedEvenBeforeTheTickerRuns) {
  RunSpec spec = Spec({Node("a")});
  spec.lease = absl::Seconds(1);
  Create(spec);
  LeaseGrant a = LeaseOne();
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(scheduler_->CompleteNode(a.lease_id, "late"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lapsed")));
}

TEST_F(SchedulerTest, FailNodeRetriesWhileAttemptsRemain) {
  RunSpec spec = Spec({Node("a"), Node("b", {"a"})});
  spec.max_attempts = 2;
  RunInfo run = Create(spec);
  LeaseGrant a1 = LeaseOne();
  ASSERT_OK_AND_ASSIGN(FailResult r1, scheduler_->FailNode(a1.lease_id, "flaky", true));
  EXPECT_TRUE(r1.will_retry);
  EXPECT_EQ(r1.run.counts.ready, 1);
  EXPECT_THAT(scheduler_->FailNode(a1.lease_id, "again", true),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("failed already")));
  LeaseGrant a2 = LeaseOne();
  EXPECT_EQ(a2.attempt, 2);
  ASSERT_OK_AND_ASSIGN(FailResult r2, scheduler_->FailNode(a2.lease_id, "still flaky", true));
  EXPECT_FALSE(r2.will_retry);  // attempts used up
  EXPECT_EQ(r2.run.state, RunState::kFailed);
  EXPECT_EQ(GetNode(run.run_id, "a").error, "still flaky");
  EXPECT_EQ(GetNode(run.run_id, "b").state, NodeState::kCancelled);
  // A non-retryable failure fails at once.
  RunInfo other = Create(Spec({Node("c")}));
  LeaseGrant c = LeaseOne();
  ASSERT_OK_AND_ASSIGN(FailResult r3, scheduler_->FailNode(c.lease_id, "fatal", false));
  EXPECT_FALSE(r3.will_retry);
  EXPECT_EQ(r3.run.state, RunState::kFailed);
  EXPECT_EQ(other.run_id, r3.run.run_id);
}

TEST_F(SchedulerTest, CancelRunLosesLeasesAndIsIdempotent) {
  RunInfo run = Create(Spec({Node("a"), Node("b"), Node("c", {"a"})}));
  LeaseGrant a = LeaseOne();
  ASSERT_OK_AND_ASSIGN(RunInfo cancelled, scheduler_->CancelRun(run.run_id, "user stop"));
  EXPECT_EQ(cancelled.state, RunState::kCancelled);
  EXPECT_EQ(cancelled.counts.cancelled, 3);
  EXPECT_THAT(scheduler_->CompleteNode(a.lease_id, "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cancelled")));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> lost, scheduler_->RenewLeases("w1", {a.lease_id}));
  EXPECT_THAT(lost, ElementsAre(a.lease_id));
  EXPECT_TRUE(LeaseIds(10).empty()) << "b must have left the queue";
  EXPECT_EQ(GetNode(run.run_id, "b").error, "user stop");
  ASSERT_OK_AND_ASSIGN(RunInfo again, scheduler_->CancelRun(run.run_id, ""));
  EXPECT_EQ(again.state, RunState::kCancelled);
  EXPECT_THAT(scheduler_->CancelRun("run-nope", ""),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("run_id:")));
}

// ---- long polls ----

TEST_F(SchedulerTest, ParkedWaiterGetsANewNodeAtOnceAndTimesOutEmpty) {
  std::optional<absl::StatusOr<std::vector<LeaseGrant>>> got;
  const uint64_t wait_id = scheduler_->LeaseNodes(
      {"w9", "", 5, absl::Seconds(30)},
      [&](absl::StatusOr<std::vector<LeaseGrant>> r) { got = std::move(r); });
  ASSERT_NE(wait_id, 0u);
  EXPECT_FALSE(got.has_value());
  EXPECT_EQ(scheduler_->NextDeadline(), clock_.Now() + absl::Seconds(30));
  RunInfo run = Create(Spec({Node("a"), Node("b"), Node("c", {"a"})}));
  ASSERT_TRUE(got.has_value()) << "CreateRun must hand ready nodes to the parked worker";
  ASSERT_OK(*got);
  ASSERT_EQ((*got)->size(), 2u);
  EXPECT_EQ((**got)[0].node_id, "a");
  EXPECT_EQ((**got)[1].node_id, "b");
  EXPECT_EQ(GetNode(run.run_id, "a").worker_id, "w9");
  EXPECT_FALSE(scheduler_->CancelLeaseWait(wait_id));

  // A second waiter times out with an empty answer at its deadline, not before.
  got.reset();
  scheduler_->LeaseNodes({"w9", "", 1, absl::Seconds(5)},
                         [&](absl::StatusOr<std::vector<LeaseGrant>> r) { got = std::move(r); });
  clock_.Advance(absl::Seconds(4));
  scheduler_->Tick();
  EXPECT_FALSE(got.has_value());
  clock_.Advance(absl::Seconds(1));
  scheduler_->Tick();
  ASSERT_TRUE(got.has_value());
  ASSERT_OK(*got);
  EXPECT_TRUE((*got)->empty());
}

TEST_F(SchedulerTest, WaitersAreServedFirstComeFirstServedAndCanBeWithdrawn) {
  std::vector<std::string> order;
  const auto record = [&](const std::string& who) {
    return [&order, who](absl::StatusOr<std::vector<LeaseGrant>> r) {
      if (r.ok() && !r->empty()) order.push_back(who + ":" + (*r)[0].node_id);
    };
  };
  scheduler_->LeaseNodes({"first", "", 1, absl::Seconds(30)}, record("first"));
  const uint64_t gone = scheduler_->LeaseNodes({"gone", "", 1, absl::Seconds(30)}, record("gone"));
  scheduler_->LeaseNodes({"third", "", 1, absl::Seconds(30)}, record("third"));
  EXPECT_TRUE(scheduler_->CancelLeaseWait(gone));
  EXPECT_FALSE(scheduler_->CancelLeaseWait(gone));
  Create(Spec({Node("n1"), Node("n2"), Node("n3")}));
  EXPECT_THAT(order, ElementsAre("first:n1", "third:n2"));
  EXPECT_THAT(LeaseIds(5), ElementsAre("n3"));
}

TEST_F(SchedulerTest, CompletionWakesAWaiterForTheDependent) {
  Create(Spec({Node("a"), Node("b", {"a"})}));
  LeaseGrant a = LeaseOne();
  std::optional<absl::StatusOr<std::vector<LeaseGrant>>> got;
  scheduler_->LeaseNodes({"w2", "", 1, absl::Seconds(30)},
                         [&](absl::StatusOr<std::vector<LeaseGrant>> r) { got = std::move(r); });
  EXPECT_FALSE(got.has_value());
  ASSERT_OK(scheduler_->CompleteNode(a.lease_id, "A!"));
  ASSERT_TRUE(got.has_value());
  ASSERT_OK(*got);
  ASSERT_EQ((*got)->size(), 1u);
  EXPECT_EQ((**got)[0].node_id, "b");
  EXPECT_EQ(*(**got)[0].dependency_outputs[0].output, "A!");
}

TEST_F(SchedulerTest, LeaseNodesValidation) {
  const auto expect_invalid = [&](LeaseQuery q, const std::string& field) {
    std::optional<absl::Status> status;
    EXPECT_EQ(scheduler_->LeaseNodes(q,
                                     [&](absl::StatusOr<std::vector<LeaseGrant>> r) {
                                       status = r.status();
                                     }),
              0u);
    ASSERT_TRUE(status.has_value());
    EXPECT_THAT(*status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field)));
  };
  expect_invalid({"w", "", 1001, absl::ZeroDuration()}, "max_nodes:");
  expect_invalid({"w", "", 1, absl::Seconds(61)}, "wait_millis:");
  expect_invalid({"w", "b@d", 1, absl::ZeroDuration()}, "queue:");
  expect_invalid({std::string(257, 'w'), "", 1, absl::ZeroDuration()}, "worker_id:");
}

TEST_F(SchedulerTest, EndStreamsAnswersParkedWaiters) {
  std::optional<absl::Status> status;
  scheduler_->LeaseNodes({"w", "", 1, absl::Seconds(30)},
                         [&](absl::StatusOr<std::vector<LeaseGrant>> r) { status = r.status(); });
  scheduler_->EndStreams(absl::UnavailableError("shutting down"));
  ASSERT_TRUE(status.has_value());
  EXPECT_THAT(*status, StatusIs(absl::StatusCode::kUnavailable, "shutting down"));
}

// ---- lease streams ----

// Records what a lease stream's callback got: node ids per delivery, the grants, the end.
struct StreamLog {
  std::vector<std::vector<std::string>> deliveries;
  std::vector<LeaseGrant> grants;
  std::optional<absl::Status> ended;

  LeaseStreamCallback Callback() {
    return [this](absl::StatusOr<std::vector<LeaseGrant>> r) {
      if (!r.ok()) {
        ended = r.status();
        return;
      }
      std::vector<std::string>& ids = deliveries.emplace_back();
      for (LeaseGrant& g : *r) {
        ids.push_back(g.node_id);
        grants.push_back(std::move(g));
      }
    };
  }
};

TEST_F(SchedulerTest, LeaseStreamPushesReadyNodesUpToItsCredits) {
  StreamLog log;
  absl::StatusOr<uint64_t> id = scheduler_->OpenLeaseStream({"ws", ""}, log.Callback());
  ASSERT_OK(id);
  ASSERT_OK(scheduler_->AddLeaseCredits(*id, 2));
  EXPECT_TRUE(log.deliveries.empty());
  RunInfo run = Create(Spec({Node("a"), Node("b"), Node("c"), Node("d", {"a"})}));
  // CreateRun pushes at once, as many as the credits: one delivery of two leases.
  ASSERT_EQ(log.deliveries.size(), 1u);
  EXPECT_THAT(log.deliveries[0], ElementsAre("a", "b"));
  EXPECT_EQ(GetNode(run.run_id, "a").worker_id, "ws");
  EXPECT_EQ(GetNode(run.run_id, "c").state, NodeState::kReady);  // no credit left for it
  // A credit granted while a node is ready is served before AddLeaseCredits returns.
  ASSERT_OK(scheduler_->AddLeaseCredits(*id, 2));
  ASSERT_EQ(log.deliveries.size(), 2u);
  EXPECT_THAT(log.deliveries[1], ElementsAre("c"));
  // The credit left over waits for the next ready node (d, once a succeeds).
  ASSERT_OK(scheduler_->CompleteNode(log.grants[0].lease_id, "A"));
  ASSERT_EQ(log.deliveries.size(), 3u);
  EXPECT_THAT(log.deliveries[2], ElementsAre("d"));
  EXPECT_EQ(*log.grants[3].dependency_outputs[0].output, "A");
  EXPECT_EQ(scheduler_->GetStats().lease_streams, 1);
  scheduler_->CloseLeaseStream(*id, /*lapse_held=*/false);
  EXPECT_EQ(scheduler_->GetStats().lease_streams, 0);
}

TEST_F(SchedulerTest, LeaseStreamsAndParkedCallsAreServedInTurn) {
  std::vector<std::string> order;
  scheduler_->LeaseNodes({"first", "", 1, absl::Seconds(30)},
                         [&](absl::StatusOr<std::vector<LeaseGrant>> r) {
                           if (r.ok() && !r->empty()) order.push_back("first:" + (*r)[0].node_id);
                         });
  StreamLog log;
  absl::StatusOr<uint64_t> id = scheduler_->OpenLeaseStream({"ws", "q"}, log.Callback());
  ASSERT_OK(id);
  ASSERT_OK(scheduler_->AddLeaseCredits(*id, 1));
  Create(Spec({Node("n1"), Node("n2"), Node("n3")}));  // queue "default": not the stream's
  EXPECT_THAT(order, ElementsAre("first:n1"));
  EXPECT_TRUE(log.deliveries.empty());
  Create(Spec({Node("m1"), Node("m2")}, "q"));
  ASSERT_EQ(log.deliveries.size(), 1u);
  EXPECT_THAT(log.deliveries[0], ElementsAre("m1"));
  EXPECT_THAT(LeaseIds(5, "q"), ElementsAre("m2"));
  scheduler_->CloseLeaseStream(*id, /*lapse_held=*/false);
}

TEST_F(SchedulerTest, ABrokenLeaseStreamLapsesItsHeldLeasesAtOnce) {
  StreamLog log;
  absl::StatusOr<uint64_t> id = scheduler_->OpenLeaseStream({"ws", ""}, log.Callback());
  ASSERT_OK(id);
  ASSERT_OK(scheduler_->AddLeaseCredits(*id, 3));
  RunSpec spec = Spec({Node("a"), Node("b"), Node("c")});
  spec.nodes[2].max_attempts = 1;
  RunInfo run = Create(std::move(spec));
  ASSERT_EQ(log.grants.size(), 3u);
  ASSERT_OK(scheduler_->CompleteNode(log.grants[0].lease_id, "A"));  // ended: not returned
  scheduler_->CloseLeaseStream(*id, /*lapse_held=*/true);
  EXPECT_FALSE(log.ended.has_value());  // closing is the adapter's doing: no callback
  // b is ready again at once (no lease time waited out), with its attempt used...
  NodeInfo b = GetNode(run.run_id, "b");
  EXPECT_EQ(b.state, NodeState::kReady);
  EXPECT_EQ(b.attempts, 1);
  EXPECT_THAT(b.error, HasSubstr("lease returned: the lease stream of worker \"ws\" ended"));
  // ...c had no attempt left and failed for good; a kept its output.
  EXPECT_EQ(GetNode(run.run_id, "c").state, NodeState::kFailed);
  EXPECT_EQ(GetNode(run.run_id, "a").state, NodeState::kSucceeded);
  // The old lease is refused; the node goes to the next worker.
  EXPECT_THAT(scheduler_->CompleteNode(log.grants[1].lease_id, "late").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lapsed")));
  LeaseGrant again = LeaseOne();
  EXPECT_EQ(again.node_id, "b");
  EXPECT_EQ(again.attempt, 2);
  // Closing again, or an unknown stream, is a no-op; the stream takes no more credits.
  scheduler_->CloseLeaseStream(*id, /*lapse_held=*/true);
  EXPECT_THAT(scheduler_->AddLeaseCredits(*id, 1), StatusIs(absl::StatusCode::kNotFound, HasSubstr("closed")));
}

TEST_F(SchedulerTest, AStoppedLeaseStreamGetsNothingMoreAndACleanCloseKeepsItsLeases) {
  StreamLog log;
  absl::StatusOr<uint64_t> id = scheduler_->OpenLeaseStream({"ws", ""}, log.Callback());
  ASSERT_OK(id);
  ASSERT_OK(scheduler_->AddLeaseCredits(*id, 2));
  RunInfo run = Create(Spec({Node("a")}));
  ASSERT_EQ(log.grants.size(), 1u);
  scheduler_->StopLeaseStream(*id);  // one credit left, withdrawn
  RunInfo other = Create(Spec({Node("x")}));
  EXPECT_EQ(log.grants.size(), 1u);
  EXPECT_EQ(GetNode(other.run_id, "x").state, NodeState::kReady);
  EXPECT_THAT(scheduler_->AddLeaseCredits(*id, 1), StatusIs(absl::StatusCode::kNotFound, HasSubstr("closed")));
  scheduler_->CloseLeaseStream(*id, /*lapse_held=*/false);
  EXPECT_EQ(GetNode(run.run_id, "a").state, NodeState::kLeased);
  ASSERT_OK(scheduler_->CompleteNode(log.grants[0].lease_id, "A"));
}

TEST_F(SchedulerTest, LeaseStreamValidationNamesTheField) {
  StreamLog log;
  EXPECT_THAT(scheduler_->OpenLeaseStream({"w", "b@d"}, log.Callback()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("queue:")));
  EXPECT_THAT(scheduler_->OpenLeaseStream({std::string(257, 'w'), ""}, log.Callback()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker_id:")));
  absl::StatusOr<uint64_t> id = scheduler_->OpenLeaseStream({"w", ""}, log.Callback());
  ASSERT_OK(id);
  for (int bad : {0, -1, 1001}) {
    EXPECT_THAT(scheduler_->AddLeaseCredits(*id, bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("credits:")))
        << bad;
  }
  ASSERT_OK(scheduler_->AddLeaseCredits(*id, 1000));
  EXPECT_THAT(scheduler_->AddLeaseCredits(*id, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("credits: 1000 outstanding plus 1")));
  EXPECT_THAT(scheduler_->AddLeaseCredits(*id + 100, 1), StatusIs(absl::StatusCode::kNotFound, HasSubstr("closed")));
  scheduler_->CloseLeaseStream(*id, /*lapse_held=*/true);
}

TEST_F(SchedulerTest, EndStreamsEndsLeaseStreamsAndTheirLeasesStayHeld) {
  StreamLog log;
  absl::StatusOr<uint64_t> id = scheduler_->OpenLeaseStream({"w", ""}, log.Callback());
  ASSERT_OK(id);
  ASSERT_OK(scheduler_->AddLeaseCredits(*id, 2));
  RunInfo run = Create(Spec({Node("a")}));
  scheduler_->EndStreams(absl::UnavailableError("shutting down"));
  ASSERT_TRUE(log.ended.has_value());
  EXPECT_THAT(*log.ended, StatusIs(absl::StatusCode::kUnavailable, "shutting down"));
  Create(Spec({Node("b")}));
  EXPECT_EQ(log.grants.size(), 1u);  // nothing after the end
  scheduler_->CloseLeaseStream(*id, /*lapse_held=*/true);  // gone already: a no-op
  EXPECT_EQ(GetNode(run.run_id, "a").state, NodeState::kLeased);
  ASSERT_OK(scheduler_->CompleteNode(log.grants[0].lease_id, "A"));
}

// ---- watches ----

TEST_F(SchedulerTest, WatchSendsEverythingFirstThenChangesAndEndsWhenTheRunFinishes) {
  RunInfo run = Create(Spec({Node("a"), Node("b", {"a"})}));
  std::vector<WatchEvent> events;
  WatchOptions options;
  options.include_output = true;
  ASSERT_OK_AND_ASSIGN(uint64_t id, scheduler_->Watch(run.run_id, options,
                                                      [&](const WatchEvent& e) {
                                                        events.push_back(e);
                                                      }));
  EXPECT_NE(id, 0u);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].nodes.size(), 2u);
  EXPECT_FALSE(events[0].last);
  LeaseGrant a = LeaseOne();
  ASSERT_EQ(events.size(), 2u);
  ASSERT_EQ(events[1].nodes.size(), 1u);
  EXPECT_EQ(events[1].nodes[0].state, NodeState::kLeased);
  ASSERT_OK(scheduler_->CompleteNode(a.lease_id, "A"));
  ASSERT_EQ(events.size(), 3u);
  ASSERT_EQ(events[2].nodes.size(), 2u);  // a succeeded and b became ready: one event
  EXPECT_EQ(events[2].nodes[0].state, NodeState::kSucceeded);
  EXPECT_EQ(*events[2].nodes[0].output, "A");
  EXPECT_EQ(events[2].nodes[1].state, NodeState::kReady);
  LeaseGrant b = LeaseOne();
  ASSERT_OK(scheduler_->CompleteNode(b.lease_id, "B"));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_TRUE(events[4].last);
  EXPECT_EQ(events[4].run.state, RunState::kSucceeded);
  EXPECT_EQ(scheduler_->GetStats().watchers, 0);
  // Watching a finished run: one event, the last.
  std::vector<WatchEvent> late;
  ASSERT_OK(scheduler_->Watch(run.run_id, {}, [&](const WatchEvent& e) { late.push_back(e); }));
  ASSERT_EQ(late.size(), 1u);
  EXPECT_TRUE(late[0].last);
  EXPECT_EQ(late[0].nodes[0].output, nullptr) << "output only when asked for";
  EXPECT_THAT(scheduler_->Watch("run-nope", {}, [](const WatchEvent&) {}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("run_id:")));
}

TEST_F(SchedulerTest, UnwatchStopsEvents) {
  RunInfo run = Create(Spec({Node("a")}));
  int events = 0;
  ASSERT_OK_AND_ASSIGN(uint64_t id,
                       scheduler_->Watch(run.run_id, {}, [&](const WatchEvent&) { ++events; }));
  scheduler_->Unwatch(id);
  LeaseOne();
  EXPECT_EQ(events, 1);
}

// ---- listings and retention ----

TEST_F(SchedulerTest, ListingsPaginateNewestFirstAndFilter) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    RunSpec spec = Spec({Node("n")});
    spec.name = absl::StrCat("run ", i);
    spec.labels = {{"k", absl::StrCat(i)}};
    ids.push_back(Create(spec).run_id);
  }
  ASSERT_OK(scheduler_->CancelRun(ids[1], ""));
  ASSERT_OK_AND_ASSIGN(RunPage page, scheduler_->ListRuns(Page{0, 2}, {}));
  ASSERT_EQ(page.runs.size(), 2u);
  EXPECT_EQ(page.runs[0].run_id, ids[4]);
  EXPECT_EQ(page.runs[1].run_id, ids[3]);
  EXPECT_TRUE(page.has_more);
  ASSERT_OK_AND_ASSIGN(page, scheduler_->ListRuns(Page{page.next_offset, 10}, {}));
  ASSERT_EQ(page.runs.size(), 3u);
  EXPECT_FALSE(page.has_more);
  EXPECT_EQ(page.runs[2].run_id, ids[0]);
  EXPECT_EQ(page.runs[2].labels[0].second, "0");
  ASSERT_OK_AND_ASSIGN(page, scheduler_->ListRuns(Page{}, {RunState::kCancelled}));
  ASSERT_EQ(page.runs.size(), 1u);
  EXPECT_EQ(page.runs[0].run_id, ids[1]);
  EXPECT_THAT(scheduler_->ListRuns(Page{0, 1001}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page.limit:")));

  RunInfo big = Create(Spec({Node("n0"), Node("n1", {"n0"}), Node("n2"), Node("n3")}));
  ListNodesOptions options;
  options.page = Page{1, 2};
  ASSERT_OK_AND_ASSIGN(NodePage nodes, scheduler_->ListNodes(big.run_id, options));
  ASSERT_EQ(nodes.nodes.size(), 2u);
  EXPECT_EQ(nodes.nodes[0].node_id, "n1");
  EXPECT_THAT(nodes.nodes[0].depends_on, ElementsAre("n0"));
  EXPECT_EQ(nodes.nodes[0].payload, nullptr);
  EXPECT_TRUE(nodes.has_more);
  EXPECT_EQ(nodes.next_offset, 3);
  options = ListNodesOptions{};
  options.states = {NodeState::kBlocked};
  ASSERT_OK_AND_ASSIGN(nodes, scheduler_->ListNodes(big.run_id, options));
  ASSERT_EQ(nodes.nodes.size(), 1u);
  EXPECT_EQ(nodes.nodes[0].node_id, "n1");
}

TEST_F(SchedulerTest, OldestFinishedRunsArePruned) {
  SchedulerOptions options = TestOptions(dir_.path(), &clock_);
  options.max_finished_runs = 2;
  Reopen(options);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Create(Spec({Node("n")})).run_id);
  // Finish them in the order 2, 0, 3; 1 keeps running.
  for (int i : {2, 0, 3}) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_OK(scheduler_->CancelRun(ids[i], ""));
  }
  EXPECT_THAT(scheduler_->GetRun(ids[2]), StatusIs(absl::StatusCode::kNotFound, HasSubstr("")));
  ASSERT_OK(scheduler_->GetRun(ids[0]));
  ASSERT_OK(scheduler_->GetRun(ids[1]));
  ASSERT_OK(scheduler_->GetRun(ids[3]));
  EXPECT_EQ(scheduler_->GetStats().pruned_runs, 1);
  // The deletion reached the file.
  Reopen(options);
  EXPECT_THAT(scheduler_->GetRun(ids[2]), StatusIs(absl::StatusCode::kNotFound, HasSubstr("")));
  ASSERT_OK_AND_ASSIGN(RunPage page, scheduler_->ListRuns(Page{}, {}));
  EXPECT_EQ(page.runs.size(), 3u);
}

// ---- restart ----

TEST_F(SchedulerTest, RestartResumesRunsAndMakesLeasedNodesReadyAgain) {
  RunSpec spec = Spec({Node("a"), Node("b", {"a"}), Node("c"), Node("d", {"b", "c"})});
  spec.name = "resume me";
  spec.labels = {{"crew", "research"}};
  spec.lease = absl::Seconds(20);
  RunInfo run = Create(spec);
  LeaseGrant a = LeaseOne();
  ASSERT_OK(scheduler_->CompleteNode(a.lease_id, "A-output"));
  LeaseGrant b = LeaseOne();  // leased when the daemon "stops"
  ASSERT_EQ(b.node_id, "b");
  LeaseGrant c = LeaseOne();
  ASSERT_EQ(c.node_id, "c");
  ASSERT_OK_AND_ASSIGN(FailResult retry, scheduler_->FailNode(c.lease_id, "flaky", true));
  ASSERT_TRUE(retry.will_retry);

  Reopen();
  ASSERT_OK_AND_ASSIGN(RunInfo back, scheduler_->GetRun(run.run_id));
  EXPECT_EQ(back.name, "resume me");
  EXPECT_EQ(back.state, RunState::kRunning);
  EXPECT_EQ(back.lease, absl::Seconds(20));
  ASSERT_EQ(back.labels.size(), 1u);
  EXPECT_EQ(back.labels[0].second, "research");
  EXPECT_EQ(back.created_at_micros, run.created_at_micros);
  EXPECT_EQ(back.counts.succeeded, 1);
  EXPECT_EQ(back.counts.ready, 2);
  EXPECT_EQ(back.counts.blocked, 1);
  EXPECT_EQ(back.counts.leased, 0);
  NodeInfo nb = GetNode(run.run_id, "b");
  EXPECT_EQ(nb.state, NodeState::kReady);
  EXPECT_EQ(nb.attempts, 1) << "the attempt count is kept";
  EXPECT_EQ(GetNode(run.run_id, "c").error, "flaky");
  EXPECT_EQ(*GetNode(run.run_id, "a").output, "A-output");
  EXPECT_EQ(*GetNode(run.run_id, "d").payload, "payload-d");
  EXPECT_THAT(scheduler_->CompleteNode(b.lease_id, "late"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("restarted")));
  // The run goes on to the end.
  LeaseGrant b2 = LeaseOne();
  EXPECT_EQ(b2.node_id, "b");
  EXPECT_EQ(b2.attempt, 2);
  EXPECT_EQ(*b2.dependency_outputs[0].output, "A-output");
  ASSERT_OK(scheduler_->CompleteNode(b2.lease_id, "B"));
  LeaseGrant c2 = LeaseOne();
  ASSERT_OK(scheduler_->CompleteNode(c2.lease_id, "C"));
  LeaseGrant d = LeaseOne();
  EXPECT_EQ(d.node_id, "d");
  ASSERT_OK_AND_ASSIGN(RunInfo done, scheduler_->CompleteNode(d.lease_id, "D"));
  EXPECT_EQ(done.state, RunState::kSucceeded);
  // New runs after a restart get fresh sequence numbers: order stays by creation.
  RunInfo later = Create(Spec({Node("z")}));
  ASSERT_OK_AND_ASSIGN(RunPage page, scheduler_->ListRuns(Page{}, {}));
  EXPECT_EQ(page.runs[0].run_id, later.run_id);
}

TEST_F(SchedulerTest, ApplyServesWaitersAtOnceAndSyncMakesItDurable) {
  int commits = 0;
  SchedulerOptions options = TestOptions(dir_.path(), &clock_);
  options.before_commit_hook = [&commits] { ++commits; };
  options.flush_delay = absl::Hours(1);  // no background write in this test
  Reopen(options);
  std::optional<absl::StatusOr<std::vector<LeaseGrant>>> got;
  scheduler_->LeaseNodes({"w", "", 1, absl::Seconds(30)},
                         [&](absl::StatusOr<std::vector<LeaseGrant>> r) { got = std::move(r); });
  ASSERT_OK_AND_ASSIGN(RunInfo run, scheduler_->ApplyCreateRun(Spec({Node("a"), Node("b", {"a"})})));
  ASSERT_TRUE(got.has_value() && got->ok() && (*got)->size() == 1) << "served before any commit";
  EXPECT_EQ(commits, 0);
  ASSERT_OK_AND_ASSIGN(RunInfo applied, scheduler_->ApplyCompleteNode((**got)[0].lease_id, "A"));
  EXPECT_EQ(applied.counts.ready, 1);
  EXPECT_EQ(commits, 0);
  ASSERT_OK(scheduler_->Sync());
  EXPECT_EQ(commits, 1) << "one commit for both changes";
  ASSERT_OK(scheduler_->Sync());  // nothing new: no transaction
  EXPECT_EQ(commits, 1);
  Reopen();
  EXPECT_EQ(*GetNode(run.run_id, "a").output, "A");
  EXPECT_EQ(GetNode(run.run_id, "b").state, NodeState::kReady);
}

// What one SyncAsync callback saw.
struct SyncReport {
  absl::Mutex mu;
  std::optional<absl::Status> status ABSL_GUARDED_BY(mu);
  std::thread::id thread ABSL_GUARDED_BY(mu);

  absl::AnyInvocable<void(absl::Status)> Callback() {
    return [this](absl::Status s) {
      absl::MutexLock lock(&mu);
      status = std::move(s);
      thread = std::this_thread::get_id();
    };
  }
  bool Done() {
    absl::MutexLock lock(&mu);
    return status.has_value();
  }
  // The status, once reported (waits up to 10 s).
  absl::Status Wait() {
    absl::MutexLock lock(&mu);
    auto reported = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return status.has_value(); };
    if (!mu.AwaitWithTimeout(absl::Condition(&reported), absl::Seconds(10))) {
      return absl::DeadlineExceededError("no report");
    }
    return *status;
  }
};

TEST_F(SchedulerTest, SyncAsyncCommitsOnTheCallingThreadWhenNoCommitIsUnderWay) {
  int commits = 0;
  SchedulerOptions options = TestOptions(dir_.path(), &clock_);
  options.before_commit_hook = [&commits] { ++commits; };
  options.flush_delay = absl::Hours(1);
  Reopen(options);
  ASSERT_OK_AND_ASSIGN(RunInfo run, scheduler_->ApplyCreateRun(Spec({Node("a")})));
  SyncReport report;
  scheduler_->SyncAsync(/*may_lead=*/true, report.Callback());
  ASSERT_TRUE(report.Done()) << "led and reported before SyncAsync returned";
  EXPECT_OK(report.Wait());
  {
    absl::MutexLock lock(&report.mu);
    EXPECT_EQ(report.thread, std::this_thread::get_id());
  }
  EXPECT_EQ(commits, 1);
  Reopen();
  EXPECT_EQ(GetNode(run.run_id, "a").state, NodeState::kReady);
}

TEST_F(SchedulerTest, SyncAsyncBehindABusyCommitJoinsOneGroupLedByTheWriteExecutor) {
  ThreadPoolExecutor executor(1, "sched-test");
  std::atomic<int> commits{0};
  absl::Notification first_commit_entered;
  absl::Notification release_first_commit;
  SchedulerOptions options = TestOptions(dir_.path(), &clock_);
  options.write_executor = &executor;
  options.flush_delay = absl::Hours(1);
  options.before_commit_hook = [&] {
    if (commits.fetch_add(1) == 0) {
      first_commit_entered.Notify();
      release_first_commit.WaitForNotification();
    }
  };
  Reopen(options);
  // A blocking CreateRun leads the first commit and stays in it.
  std::string first_id;
  std::thread blocking([&] {
    absl::StatusOr<RunInfo> first = scheduler_->CreateRun(Spec({Node("a")}));
    ASSERT_TRUE(first.ok()) << first.status();
    first_id = first->run_id;
  });
  first_commit_entered.WaitForNotification();
  ASSERT_OK_AND_ASSIGN(RunInfo second, scheduler_->ApplyCreateRun(Spec({Node("b")})));
  SyncReport second_report;
  scheduler_->SyncAsync(/*may_lead=*/true, second_report.Callback());
  ASSERT_OK_AND_ASSIGN(RunInfo third, scheduler_->ApplyCreateRun(Spec({Node("c")})));
  SyncReport third_report;
  scheduler_->SyncAsync(/*may_lead=*/true, third_report.Callback());
  EXPECT_FALSE(second_report.Done()) << "queued behind the busy commit, not led here";
  EXPECT_FALSE(third_report.Done());
  release_first_commit.Notify();
  blocking.join();
  EXPECT_OK(second_report.Wait());
  EXPECT_OK(third_report.Wait());
  EXPECT_EQ(commits.load(), 2) << "both queued syncs share the second commit";
  for (SyncReport* report : {&second_report, &third_report}) {
    absl::MutexLock lock(&report->mu);
    EXPECT_NE(report->thread, std::this_thread::get_id());
  }
  ASSERT_OK(scheduler_->Close());
  scheduler_.reset();
  executor.Shutdown();
  Reopen();
  for (const std::string& id : {first_id, second.run_id, third.run_id}) {
    EXPECT_OK(scheduler_->GetRun(id).status()) << id;
  }
}

TEST_F(SchedulerTest, ARunWhoseCreationCannotBeWrittenIsCancelledAndStaysCancelled) {
  int commits = 0;
  SchedulerOptions options = TestOptions(dir_.path(), &clock_);
  options.flush_delay = absl::Hours(1);
  options.before_commit_hook = [&commits] {
    if (++commits == 1) throw std::runtime_error("disk on fire");
  };
  Reopen(options);
  std::optional<absl::StatusOr<std::vector<LeaseGrant>>> got;
  scheduler_->LeaseNodes({"w", "", 1, absl::Seconds(30)},
                         [&](absl::StatusOr<std::vector<LeaseGrant>> r) { got = std::move(r); });
  absl::StatusOr<RunInfo> unwritten = scheduler_->CreateRun(Spec({Node("a"), Node("b")}));
  EXPECT_THAT(unwritten, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("disk on fire")));
  // Not a size limit: nothing tells the caller that the same request would be refused again.
  EXPECT_EQ(GetErrorDetail(unwritten.status(), kReasonDetail), std::nullopt);
  // The waiting worker was served before the commit, and loses that lease now.
  ASSERT_TRUE(got.has_value() && got->ok() && (*got)->size() == 1);
  EXPECT_THAT(scheduler_->CompleteNode((**got)[0].lease_id, "A"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("")));
  EXPECT_THAT(LeaseIds(5), ::testing::IsEmpty()) << "nothing of the run is handed out again";
  ASSERT_OK_AND_ASSIGN(RunPage page, scheduler_->ListRuns(Page{}, {}));
  ASSERT_EQ(page.runs.size(), 1u);
  const std::string run_id = page.runs[0].run_id;
  EXPECT_EQ(page.runs[0].state, RunState::kCancelled);
  ASSERT_OK(scheduler_->Sync());  // the next commit writes the run, cancelled
  Reopen();
  ASSERT_OK_AND_ASSIGN(RunInfo reopened, scheduler_->GetRun(run_id));
  EXPECT_EQ(reopened.state, RunState::kCancelled);
  for (const char* id : {"a", "b"}) {
    NodeInfo node = GetNode(run_id, id);
    EXPECT_EQ(node.state, NodeState::kCancelled) << id;
    EXPECT_THAT(node.error, HasSubstr("could not be written: scheduler: cannot plan a write: "
                                      "disk on fire"))
        << id;
  }
  EXPECT_THAT(LeaseIds(5), ::testing::IsEmpty());
}

TEST_F(SchedulerTest, BackgroundChangesAreWrittenByTick) {
  RunInfo run = Create(Spec({Node("a")}));
  LeaseOne();  // a lease changes attempts; no call waits for that write
  clock_.Advance(absl::Seconds(1));
  scheduler_->Tick();  // flush_delay (200 ms) has passed: written now
  {
    SQLite::Database raw(scheduler_->path(), SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("SELECT attempts FROM nodes").getInt(), 1);
  }
  EXPECT_EQ(GetNode(run.run_id, "a").attempts, 1);
}

TEST_F(SchedulerTest, ClosedSchedulerRefusesCalls) {
  ASSERT_OK(scheduler_->Close());
  EXPECT_THAT(scheduler_->CreateRun(Spec({Node("a")})),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  SyncReport report;
  scheduler_->SyncAsync(/*may_lead=*/true, report.Callback());
  EXPECT_THAT(report.Wait(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(scheduler_->Close(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("")));
  scheduler_.reset();
}

TEST_F(SchedulerTest, ADamagedFileIsReportedAndLeftAlone) {
  const std::string path = scheduler_->path();
  ASSERT_OK(scheduler_->Close());
  scheduler_.reset();
  {
    std::string garbage(8192, 'x');
    dir_.WriteFile("scheduler.db", garbage);
  }
  auto opened = Scheduler::Open(TestOptions(dir_.path(), &clock_));
  EXPECT_THAT(opened, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("")));
}

}  // namespace
}  // namespace fast_crewai::scheduler
