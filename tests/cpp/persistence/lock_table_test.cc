// LockTable with a FakeClock: grant, FIFO waiting, wait timeouts, lease lapse and renewal,
// release of waiters, validation, and mutual exclusion under concurrent use.
#include "server/persistence/lock_table.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/status_matchers.h"

namespace fast_crewai::persistence {
namespace {

using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using State = AcquireResult::State;

// Records every callback as a line "<tag>:<event>".
struct Recorder {
  std::vector<std::string> events;
  LockCallbacks For(const std::string& tag) {
    LockCallbacks cb;
    cb.on_granted = [this, tag] { events.push_back(tag + ":granted"); };
    cb.on_timed_out = [this, tag](const LockHolderInfo& h) {
      events.push_back(tag + ":timed_out(" + h.holder + ")");
    };
    cb.on_lapsed = [this, tag] { events.push_back(tag + ":lapsed"); };
    return cb;
  }
};

class LockTableTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  LockTable table_{&clock_, LockTableOptions{}};
  Recorder rec_;
};

TEST_F(LockTableTest, FreeLockIsGrantedAtOnce) {
  auto r = table_.Acquire("sqlite:/a.db", "p1", absl::Seconds(10), absl::Seconds(5), rec_.For("a"));
  ASSERT_OK(r.status());
  EXPECT_EQ(r->state, State::kGranted);
  EXPECT_NE(r->ticket, 0u);
  EXPECT_EQ(r->lease, absl::Seconds(10));
  EXPECT_TRUE(rec_.events.empty());  // no callback for an immediate grant
  EXPECT_EQ(table_.GetStats().held, 1);
}

TEST_F(LockTableTest, DefaultLeaseWhenZero) {
  auto r = table_.Acquire("n", "p1", absl::ZeroDuration(), absl::ZeroDuration(), rec_.For("a"));
  ASSERT_OK(r.status());
  EXPECT_EQ(r->lease, LockTableOptions{}.default_lease);
}

TEST_F(LockTableTest, WaitersAreServedInFifoOrder) {
  auto a = table_.Acquire("n", "pa", absl::Seconds(10), absl::Seconds(5), rec_.For("a"));
  auto b = table_.Acquire("n", "pb", absl::Seconds(10), absl::Seconds(5), rec_.For("b"));
  auto c = table_.Acquire("n", "pc", absl::Seconds(10), absl::Seconds(5), rec_.For("c"));
  ASSERT_OK(c.status());
  EXPECT_EQ(b->state, State::kWaiting);
  EXPECT_EQ(c->state, State::kWaiting);
  EXPECT_EQ(b->current_holder.holder, "pa");
  EXPECT_TRUE(table_.Release(a->ticket));
  EXPECT_THAT(rec_.events, ElementsAre("b:granted"));
  EXPECT_TRUE(table_.Release(b->ticket));
  EXPECT_THAT(rec_.events, ElementsAre("b:granted", "c:granted"));
  EXPECT_TRUE(table_.Release(c->ticket));
  EXPECT_FALSE(table_.Release(c->ticket));  // idempotent
  EXPECT_EQ(table_.GetStats().held, 0);
}

TEST_F(LockTableTest, ZeroWaitFailsAtOnceWhenHeld) {
  auto a = table_.Acquire("n", "pa", absl::Seconds(10), absl::Seconds(5), rec_.For("a"));
  auto b = table_.Acquire("n", "pb", absl::Seconds(10), absl::ZeroDuration(), rec_.For("b"));
  ASSERT_OK(b.status());
  EXPECT_EQ(b->state, State::kTimedOut);
  EXPECT_EQ(b->ticket, 0u);
  EXPECT_EQ(b->current_holder.holder, "pa");
}

TEST_F(LockTableTest, WaiterTimesOutAtItsDeadline) {
  auto a = table_.Acquire("n", "pa", absl::Seconds(60), absl::Seconds(5), rec_.For("a"));
  auto b = table_.Acquire("n", "pb", absl::Seconds(10), absl::Seconds(2), rec_.For("b"));
  ASSERT_OK(b.status());
  EXPECT_EQ(table_.Tick(), absl::Seconds(2));  // the waiter's deadline comes first
  clock_.Advance(absl::Milliseconds(1999));
  table_.Tick();
  EXPECT_TRUE(rec_.events.empty());
  clock_.Advance(absl::Milliseconds(1));
  table_.Tick();
  EXPECT_THAT(rec_.events, ElementsAre("b:timed_out(pa)"));
  // The timed-out ticket is gone; the holder keeps the lock.
  EXPECT_FALSE(table_.Release(b->ticket));
  EXPECT_EQ(table_.GetStats().waiting, 0);
  EXPECT_EQ(table_.GetStats().timed_out_total, 1);
  EXPECT_OK(table_.Renew(a->ticket).status());
}

TEST_F(LockTableTest, LapsedLeaseFreesTheLockForTheNextWaiter) {
  auto a = table_.Acquire("n", "pa", absl::Seconds(3), absl::Seconds(5), rec_.For("a"));
  auto b = table_.Acquire("n", "pb", absl::Seconds(3), absl::Seconds(10), rec_.For("b"));
  ASSERT_OK(b.status());
  clock_.Advance(absl::Seconds(2));
  table_.Tick();
  EXPECT_TRUE(rec_.events.empty());
  clock_.Advance(absl::Seconds(1));
  table_.Tick();
  EXPECT_THAT(rec_.events, ElementsAre("a:lapsed", "b:granted"));
  EXPECT_THAT(table_.Renew(a->ticket), StatusIs(absl::StatusCode::kNotFound, HasSubstr("lapsed")));
  EXPECT_FALSE(table_.Release(a->ticket));  // a lapsed holder releases nothing
  std::vector<LockInfo> locks = table_.ListLocks();
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].holder.holder, "pb");
  EXPECT_EQ(locks[0].holder.lease_expiry, clock_.Now() + absl::Seconds(3));
}

TEST_F(LockTableTest, RenewalKeepsTheLease) {
  auto a = table_.Acquire("n", "pa", absl::Seconds(3), absl::Seconds(5), rec_.For("a"));
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Seconds(2));
    table_.Tick();
    ASSERT_OK_AND_ASSIGN(absl::Time expiry, table_.Renew(a->ticket));
    EXPECT_EQ(expiry, clock_.Now() + absl::Seconds(3));
  }
  EXPECT_TRUE(rec_.events.empty());
  EXPECT_EQ(table_.GetStats().held, 1);
}

TEST_F(LockTableTest, RenewWhileWaitingIsAPreconditionFailure) {
  auto a = table_.Acquire("n", "pa", absl::Seconds(3), absl::Seconds(5), rec_.For("a"));
  auto b = table_.Acquire("n", "pb", absl::Seconds(3), absl::Seconds(5), rec_.For("b"));
  EXPECT_THAT(table_.Renew(b->ticket),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("waiting")));
}

TEST_F(LockTableTest, ReleasingAWaiterLeavesTheQueue) {
  auto a = table_.Acquire("n", "pa", absl::Seconds(3), absl::Seconds(5), rec_.For("a"));
  auto b = table_.Acquire("n", "pb", absl::Seconds(3), absl::Seconds(5), rec_.For("b"));
  auto c = table_.Acquire("n", "pc", absl::Seconds(3), absl::Seconds(5), rec_.For("c"));
  EXPECT_TRUE(table_.Release(b->ticket));
  EXPECT_TRUE(table_.Release(a->ticket));
  EXPECT_THAT(rec_.events, ElementsAre("c:granted"));
}

TEST_F(LockTableTest, ExpiredWaiterIsSkippedWhenTheLockFrees) {
  auto a = table_.Acquire("n", "pa", absl::Seconds(60), absl::Seconds(5), rec_.For("a"));
  auto b = table_.Acquire("n", "pb", absl::Seconds(3), absl::Seconds(1), rec_.For("b"));
  auto c = table_.Acquire("n", "pc", absl::Seconds(3), absl::Seconds(10), rec_.For("c"));
  clock_.Advance(absl::Seconds(2));  // b's deadline passed, but no Tick ran
  EXPECT_TRUE(table_.Release(a->ticket));
  EXPECT_THAT(rec_.events, ElementsAre("b:timed_out(pa)", "c:granted"));
}

TEST_F(LockTableTest, IndependentNames) {
  auto a = table_.Acquire("x", "pa", absl::Seconds(3), absl::Seconds(5), rec_.For("a"));
  auto b = table_.Acquire("y", "pb", absl::Seconds(3), absl::Seconds(5), rec_.For("b"));
  EXPECT_EQ(a->state, State::kGranted);
  EXPECT_EQ(b->state, State::kGranted);
  EXPECT_EQ(table_.ListLocks().size(), 2u);
}

TEST_F(LockTableTest, ValidationNamesTheField) {
  EXPECT_THAT(table_.Acquire("", "p", absl::Seconds(1), absl::Seconds(1), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, "name: must not be empty"));
  EXPECT_THAT(table_.Acquire("a\nb", "p", absl::Seconds(1), absl::Seconds(1), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name: contains a control")));
  EXPECT_THAT(table_.Acquire("n", "p", absl::Milliseconds(10), absl::Seconds(1), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lease: 10ms is outside")));
  EXPECT_THAT(table_.Acquire("n", "p", absl::Hours(1), absl::Seconds(1), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lease:")));
  EXPECT_THAT(table_.Acquire("n", "p", absl::Seconds(1), absl::Seconds(-1), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wait_timeout:")));
  EXPECT_EQ(table_.GetStats().held, 0);
}

TEST_F(LockTableTest, TooManyTickets) {
  LockTableOptions options;
  options.max_tickets = 2;
  LockTable small(&clock_, options);
  ASSERT_OK(small.Acquire("n", "a", absl::Seconds(1), absl::Seconds(1), {}).status());
  ASSERT_OK(small.Acquire("n", "b", absl::Seconds(1), absl::Seconds(1), {}).status());
  EXPECT_THAT(small.Acquire("m", "c", absl::Seconds(1), absl::Seconds(1), {}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("name: too many")));
}

TEST_F(LockTableTest, TickReportsTheNextDeadline) {
  EXPECT_EQ(table_.Tick(), absl::InfiniteDuration());
  auto a = table_.Acquire("n", "pa", absl::Seconds(7), absl::Seconds(5), rec_.For("a"));
  EXPECT_EQ(table_.Tick(), absl::Seconds(7));
  clock_.Advance(absl::Seconds(3));
  EXPECT_EQ(table_.Tick(), absl::Seconds(4));
}

// Many threads contend for one lock, each releasing from inside its grant callback's
// consequences: never two holders at once, every acquire eventually served.
TEST(LockTableConcurrencyTest, MutualExclusion) {
  FakeClock clock;
  LockTable table(&clock, LockTableOptions{});
  std::atomic<int> holders{0};
  std::atomic<int> max_holders{0};
  std::atomic<int> completed{0};
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        // Shared with the callback, which may still be unlocking when this thread moves on.
        struct Signal {
          absl::Mutex mu;
          bool granted = false;
        };
        auto signal = std::make_shared<Signal>();
        LockCallbacks cb;
        cb.on_granted = [signal] {
          absl::MutexLock lock(&signal->mu);
          signal->granted = true;
        };
        auto r = table.Acquire("shared", absl::StrCat("t", t), absl::Seconds(60), absl::Hours(1),
                               std::move(cb));
        ASSERT_TRUE(r.ok());
        if (r->state == State::kWaiting) {
          absl::MutexLock lock(&signal->mu);
          signal->mu.Await(absl::Condition(&signal->granted));
        }
        const int now = holders.fetch_add(1) + 1;
        int prev = max_holders.load();
        while (now > prev && !max_holders.compare_exchange_weak(prev, now)) {
        }
        holders.fetch_sub(1);
        ASSERT_TRUE(table.Release(r->ticket));
        completed.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(max_holders.load(), 1);
  EXPECT_EQ(completed.load(), kThreads * kRounds);
  EXPECT_EQ(table.GetStats().held, 0);
  EXPECT_EQ(table.GetStats().granted_total, kThreads * kRounds);
}

}  // namespace
}  // namespace fast_crewai::persistence
