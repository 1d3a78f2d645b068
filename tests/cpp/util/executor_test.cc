#include "server/util/executor.h"

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fast_crewai {
namespace {

TEST(InlineExecutorTest, RunsBeforeScheduleReturnsOnTheCallingThread) {
  InlineExecutor executor;
  std::thread::id ran_on;
  executor.Schedule([&ran_on] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(InlineExecutorTest, SwallowsExceptions) {
  InlineExecutor executor;
  EXPECT_NO_THROW(executor.Schedule([] { throw std::runtime_error("boom"); }));
}

TEST(ThreadPoolExecutorTest, RunsEveryClosureOnPoolThreads) {
  std::atomic<int> count{0};
  std::atomic<bool> ran_on_caller{false};
  const std::thread::id caller = std::this_thread::get_id();
  {
    ThreadPoolExecutor executor(3, "test-pool");
    EXPECT_EQ(executor.num_threads(), 3);
    for (int i = 0; i < 100; ++i) {
      executor.Schedule([&] {
        if (std::this_thread::get_id() == caller) ran_on_caller = true;
        ++count;
      });
    }
    executor.Shutdown();
    EXPECT_EQ(count.load(), 100);
  }
  EXPECT_FALSE(ran_on_caller.load());
}

TEST(ThreadPoolExecutorTest, UsesAllItsThreads) {
  constexpr int kThreads = 2;
  ThreadPoolExecutor executor(kThreads, "test-pool");
  absl::Mutex mu;
  int waiting = 0;
  absl::Notification release;
  for (int i = 0; i < kThreads; ++i) {
    executor.Schedule([&] {
      {
        absl::MutexLock lock(&mu);
        ++waiting;
      }
      release.WaitForNotification();
    });
  }
  // Both closures block at the same time, so they must be on different threads.
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n == kThreads; }, &waiting));
  }
  release.Notify();
}

TEST(ThreadPoolExecutorTest, ShutdownDrainsTheQueueBeforeReturning) {
  ThreadPoolExecutor executor(1, "test-pool");
  absl::Notification started;
  absl::Notification release;
  std::atomic<int> done{0};
  executor.Schedule([&] {
    started.Notify();
    release.WaitForNotification();
    ++done;
  });
  started.WaitForNotification();
  for (int i = 0; i < 10; ++i) executor.Schedule([&done] { ++done; });
  EXPECT_EQ(executor.QueueSizeForTesting(), 10u);

  std::thread stopper([&executor] { executor.Shutdown(); });
  release.Notify();
  stopper.join();
  EXPECT_EQ(done.load(), 11);
  EXPECT_EQ(executor.QueueSizeForTesting(), 0u);
}

TEST(ThreadPoolExecutorTest, AfterShutdownClosuresRunInlineAndAreNeverDropped) {
  ThreadPoolExecutor executor(2, "test-pool");
  executor.Shutdown();
  executor.Shutdown();  // Idempotent.
  std::thread::id ran_on;
  executor.Schedule([&ran_on] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(ThreadPoolExecutorTest, AnExceptionDoesNotKillTheWorker) {
  ThreadPoolExecutor executor(1, "test-pool");
  std::atomic<int> count{0};
  executor.Schedule([] { throw std::runtime_error("boom"); });
  executor.Schedule([] { throw 42; });
  executor.Schedule([&count] { ++count; });
  executor.Shutdown();
  EXPECT_EQ(count.load(), 1);
}

TEST(ThreadPoolExecutorTest, AcceptsMoveOnlyClosures) {
  ThreadPoolExecutor executor(1, "test-pool");
  auto value = std::make_unique<int>(5);
  std::atomic<int> seen{0};
  executor.Schedule([v = std::move(value), &seen] { seen = *v; });
  executor.Shutdown();
  EXPECT_EQ(seen.load(), 5);
}

TEST(ThreadPoolExecutorTest, DestructorShutsDown) {
  std::atomic<int> count{0};
  {
    ThreadPoolExecutor executor(2, "test-pool");
    for (int i = 0; i < 20; ++i) executor.Schedule([&count] { ++count; });
  }
  EXPECT_EQ(count.load(), 20);
}

}  // namespace
}  // namespace fast_crewai
