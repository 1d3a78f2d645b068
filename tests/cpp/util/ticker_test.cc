// Ticker: ticks at the core's deadline, re-reads it when woken, registers and unregisters the
// core's wakeup. Real time (the ticker waits on its own thread); every wait is bounded by
// PollUntil, and the max interval is an hour so that only deadlines and wakeups can tick.
#include "server/util/ticker.h"

#include <atomic>
#include <functional>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/poll.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::PollUntil;

// A core with one deadline that it moves itself, as the cache and the scheduler do.
class FakeCore {
 public:
  absl::Time NextDeadline() {
    absl::MutexLock lock(&mu_);
    return deadline_;
  }
  void Tick() {
    {
      absl::MutexLock lock(&mu_);
      if (absl::Now() >= deadline_) deadline_ = absl::InfiniteFuture();
    }
    ticks_.fetch_add(1);
  }
  void SetWakeup(std::function<void()> wakeup) {
    absl::MutexLock lock(&mu_);
    wakeup_ = std::move(wakeup);
  }
  // Sets a deadline and wakes the ticker, if one is registered.
  void DueAt(absl::Time at) {
    absl::MutexLock lock(&mu_);
    deadline_ = at;
    if (wakeup_) wakeup_();
  }
  bool registered() {
    absl::MutexLock lock(&mu_);
    return wakeup_ != nullptr;
  }
  int ticks() const { return ticks_.load(); }

 private:
  absl::Mutex mu_;
  absl::Time deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::function<void()> wakeup_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> ticks_{0};
};

TEST(TickerTest, WakeupMakesItTickAtTheNewDeadline) {
  FakeCore core;
  std::unique_ptr<Ticker> ticker = Ticker::For(&core, "test-ticker", RealClock::Get(),
                                               /*max_interval=*/absl::Hours(1));
  EXPECT_TRUE(core.registered());
  // Asleep for an hour; the wakeup makes it read the new deadline, 20 ms away.
  absl::SleepFor(absl::Milliseconds(20));
  const int before = core.ticks();
  core.DueAt(absl::Now() + absl::Milliseconds(20));
  EXPECT_TRUE(PollUntil([&] { return core.ticks() > before; }, absl::Seconds(5)));
  ticker->Stop();
}

TEST(TickerTest, TicksAtTheDeadlineNotBefore) {
  FakeCore core;
  core.DueAt(absl::Now() + absl::Seconds(1));
  std::unique_ptr<Ticker> ticker =
      Ticker::For(&core, "test-ticker", RealClock::Get(), absl::Hours(1));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(core.ticks(), 0);
  EXPECT_TRUE(PollUntil([&] { return core.ticks() == 1; }, absl::Seconds(5)));
  EXPECT_EQ(core.NextDeadline(), absl::InfiniteFuture());
  ticker->Stop();
}

TEST(TickerTest, StopJoinsThenUnregistersAndIsIdempotent) {
  FakeCore core;
  std::unique_ptr<Ticker> ticker =
      Ticker::For(&core, "test-ticker", RealClock::Get(), absl::Hours(1));
  ticker->Stop();
  EXPECT_FALSE(core.registered());
  const int ticks = core.ticks();
  core.DueAt(absl::Now());
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(core.ticks(), ticks);  // no thread left to tick
  ticker->Stop();
}

TEST(TickerTest, PlainTargetTicksEveryMaxInterval) {
  std::atomic<int> ticks{0};
  Ticker ticker("plain", {[] { return absl::InfiniteFuture(); }, [&] { ticks.fetch_add(1); }, {}},
                RealClock::Get(), absl::Milliseconds(5));
  EXPECT_TRUE(PollUntil([&] { return ticks.load() >= 3; }, absl::Seconds(5)));
  ticker.Stop();
}

}  // namespace
}  // namespace fast_crewai
