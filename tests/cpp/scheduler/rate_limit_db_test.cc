// The rate limits' journal (RateLimitDb) with a RateLimiter and a FakeClock: reservations
// written as they are made, a new limiter restored from the file keeps the window that a
// restart would otherwise reset (and a SIGKILLed writer loses none), old rows are ignored and
// pruned, Restore's checks, a journal that fails, and a damaged file refused at open.
#include "server/scheduler/rate_limit_db.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduler/rate_limiter.h"
#include "server/util/status_macros.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/kill_child.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::scheduler {
namespace {

using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::HasSubstr;

constexpr absl::Duration kWindow = absl::Seconds(60);

// A limiter journaled in `db`, restored from it as the daemon does at start.
std::unique_ptr<RateLimiter> RestoredLimiter(FakeClock* clock, RateLimitDb* db) {
  RateLimiterOptions options;
  options.journal = db;
  auto limiter = std::make_unique<RateLimiter>(clock, options);
  absl::StatusOr<RestoredRateLimits> restored =
      RestoreRateLimits(*db, *limiter, clock->NowMicros() - absl::ToInt64Microseconds(kWindow));
  EXPECT_OK(restored.status());
  if (restored.ok()) {
    EXPECT_EQ(restored->refused, 0);
  }
  return limiter;
}

class RateLimitDbTest : public ::testing::Test {
 protected:
  std::unique_ptr<RateLimitDb> OpenDb() {
    absl::StatusOr<std::unique_ptr<RateLimitDb>> db = RateLimitDb::Open(path_, {});
    EXPECT_OK(db.status());
    return db.ok() ? *std::move(db) : nullptr;
  }

  TempDir dir_;
  std::string path_ = dir_.path() + "/ratelimits.db";
  FakeClock clock_;
};

TEST_F(RateLimitDbTest, ARestoredLimiterKeepsTheWindowARestartWouldReset) {
  {
    std::unique_ptr<RateLimitDb> db = OpenDb();
    std::unique_ptr<RateLimiter> limiter = RestoredLimiter(&clock_, db.get());
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter->Acquire("openai:60", 3, 1));
      EXPECT_EQ(wait, absl::ZeroDuration());
      clock_.Advance(absl::Seconds(10));
    }
    ASSERT_OK_AND_ASSIGN(int64_t rows, db->CountForTesting());
    EXPECT_EQ(rows, 3);
  }
  // "Restart" at t=30 s: without the journal the next call would go at once.
  std::unique_ptr<RateLimitDb> db = OpenDb();
  std::unique_ptr<RateLimiter> limiter = RestoredLimiter(&clock_, db.get());
  ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter->Acquire("openai:60", 3, 1));
  EXPECT_EQ(wait, absl::Seconds(30));  // the token spent at 0 comes back at 60 s
  // A fresh limiter without the journal is what the daemon did before: a full window.
  RateLimiter forgetful(&clock_, RateLimiterOptions{});
  ASSERT_OK_AND_ASSIGN(wait, forgetful.Acquire("openai:60", 3, 1));
  EXPECT_EQ(wait, absl::ZeroDuration());
}

TEST_F(RateLimitDbTest, ReservationsAheadAndOfSeveralNamesComeBackInOrder) {
  {
    std::unique_ptr<RateLimitDb> db = OpenDb();
    std::unique_ptr<RateLimiter> limiter = RestoredLimiter(&clock_, db.get());
    for (int i = 0; i < 4; ++i) ASSERT_OK(limiter->Acquire("b", 2, 1).status());  // 2 ahead
    ASSERT_OK(limiter->Acquire("a", 5, 5).status());
  }
  clock_.Advance(absl::Seconds(1));
  std::unique_ptr<RateLimitDb> db = OpenDb();
  ASSERT_OK_AND_ASSIGN(std::vector<RateLimitGrant> grants, db->LoadAfter(0));
  // One row per call, by name then instant: "a" (5 permits); "b" twice at t0, twice at t0 + 60 s.
  ASSERT_EQ(grants.size(), 5u);
  EXPECT_EQ(grants[0].name, "a");
  EXPECT_EQ(grants[0].count, 5);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(grants[i].name, "b") << i;
  EXPECT_EQ(grants[2].at_micros, grants[1].at_micros);
  EXPECT_EQ(grants[3].at_micros, grants[1].at_micros + absl::ToInt64Microseconds(kWindow));
  EXPECT_EQ(grants[4].at_micros, grants[3].at_micros);
  std::unique_ptr<RateLimiter> limiter = RestoredLimiter(&clock_, db.get());
  // "b" holds two permits at t0 and two reserved at t0 + 60 s: the next waits until t0 + 120 s.
  ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter->Acquire("b", 2, 1));
  EXPECT_EQ(wait, absl::Seconds(119));
  ASSERT_OK_AND_ASSIGN(wait, limiter->Acquire("a", 5, 1));
  EXPECT_EQ(wait, absl::Seconds(59));
}

TEST_F(RateLimitDbTest, ReservationsAWindowOldAreNotRestoredAndOldRowsArePruned) {
  std::unique_ptr<RateLimitDb> db = OpenDb();
  {
    std::unique_ptr<RateLimiter> limiter = RestoredLimiter(&clock_, db.get());
    ASSERT_OK(limiter->Acquire("k", 1, 1).status());
  }
  clock_.Advance(kWindow);
  std::unique_ptr<RateLimiter> limiter = RestoredLimiter(&clock_, db.get());
  ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter->Acquire("k", 1, 1));
  EXPECT_EQ(wait, absl::ZeroDuration());
  // Rows two windows older than the newest are deleted every 1024 appends.
  clock_.Advance(3 * kWindow);
  for (int i = 0; i < 1024; ++i) {
    ASSERT_OK(db->Append("bulk", clock_.NowMicros(), 1));
  }
  ASSERT_OK_AND_ASSIGN(int64_t rows, db->CountForTesting());
  EXPECT_EQ(rows, 1024);  // the two old rows of "k" are gone
}

TEST_F(RateLimitDbTest, RestoreChecksItsArguments) {
  RateLimiter limiter(&clock_, RateLimiterOptions{});
  const int64_t now = clock_.NowMicros();
  EXPECT_THAT(limiter.Restore("", now, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name:")));
  EXPECT_THAT(limiter.Restore("k", now, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("count:")));
  ASSERT_OK(limiter.Restore("k", now, 1));
  EXPECT_THAT(limiter.Restore("k", now - 1, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at_micros:")));
  EXPECT_OK(limiter.Restore("k", now - absl::ToInt64Microseconds(kWindow), 1));  // ignored
  EXPECT_EQ(limiter.NamesForTesting(), 1u);
}

TEST_F(RateLimitDbTest, RowsTheLimiterRefusesAreSkippedAndCounted) {
  std::unique_ptr<RateLimitDb> db = OpenDb();
  const int64_t now = clock_.NowMicros();
  ASSERT_OK(db->Append("k", now, 0));  // not a reservation any limiter made
  ASSERT_OK(db->Append("k", now, 2));
  ASSERT_OK(db->Append("", now, 1));
  RateLimiter limiter(&clock_, RateLimiterOptions{});
  ASSERT_OK_AND_ASSIGN(RestoredRateLimits restored,
                       RestoreRateLimits(*db, limiter, now - absl::ToInt64Microseconds(kWindow)));
  EXPECT_EQ(restored.reservations, 3);
  EXPECT_EQ(restored.permits, 2);
  EXPECT_EQ(restored.refused, 2);
  ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter.Acquire("k", 2, 1));
  EXPECT_EQ(wait, kWindow);
}

// A journal that cannot write: the call is answered as without one.
class FailingJournal final : public RateLimitJournal {
 public:
  absl::Status Append(absl::string_view, int64_t, int64_t) override {
    ++calls;
    return absl::UnavailableError("ratelimits.db: disk I/O error");
  }
  int calls = 0;
};

TEST_F(RateLimitDbTest, AFailingJournalDoesNotFailTheCall) {
  FailingJournal journal;
  RateLimiterOptions options;
  options.journal = &journal;
  RateLimiter limiter(&clock_, options);
  ASSERT_OK_AND_ASSIGN(absl::Duration wait, limiter.Acquire("k", 1, 1));
  EXPECT_EQ(wait, absl::ZeroDuration());
  ASSERT_OK_AND_ASSIGN(wait, limiter.Acquire("k", 1, 1));
  EXPECT_EQ(wait, kWindow);  // the in-memory reservation stands
  EXPECT_EQ(journal.calls, 2);
}

TEST_F(RateLimitDbTest, EveryReservationAnsweredBeforeAKill9IsRestored) {
  // Four threads of a forked child reserve one permit at a time and report each answer; the
  // child is SIGKILLed after 500 answers, with reservations in flight.
  const std::string path = path_;
  ASSERT_OK_AND_ASSIGN(
      std::string acks, testing::ForkWritersThenKill(4, 500, [path]() -> testing::AckWriter {
        auto clock = std::make_shared<FakeClock>();
        std::shared_ptr<RateLimitDb> db(RateLimitDb::Open(path, {}).value_or(nullptr));
        if (db == nullptr) return nullptr;
        RateLimiterOptions options;
        options.journal = db.get();
        auto limiter = std::make_shared<RateLimiter>(clock.get(), options);
        return [clock, db, limiter](int thread, int i) -> absl::StatusOr<std::string> {
          RETURN_IF_ERROR(limiter->Acquire("k", 1000000, 1).status());
          return absl::StrCat("reserved ", thread, " ", i, "\n");
        };
      }));
  const int64_t answered = std::count(acks.begin(), acks.end(), '\n');
  ASSERT_GE(answered, 500);
  std::unique_ptr<RateLimitDb> db = OpenDb();
  ASSERT_OK_AND_ASSIGN(std::vector<RateLimitGrant> grants, db->LoadAfter(0));
  int64_t permits = 0;
  for (const RateLimitGrant& g : grants) permits += g.count;
  EXPECT_GE(permits, answered);
  // The file is whole after the kill.
  SQLite::Database check(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(check.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST_F(RateLimitDbTest, ADamagedFileIsRefusedAndLeftAsItIs) {
  { std::ofstream(path_, std::ios::binary) << std::string(8192, 'x'); }
  EXPECT_THAT(RateLimitDb::Open(path_, {}).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("ratelimits.db")));
  std::ifstream in(path_, std::ios::binary);
  const std::string contents((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(contents, std::string(8192, 'x'));
}

TEST_F(RateLimitDbTest, AnotherProgramsDatabaseIsRefused) {
  std::unique_ptr<RateLimitDb> db = OpenDb();
  db.reset();
  {
    SQLite::Database other(path_, SQLite::OPEN_READWRITE);
    other.exec("PRAGMA application_id=1234");
  }
  EXPECT_THAT(RateLimitDb::Open(path_, {}).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("application_id")));
}

}  // namespace
}  // namespace fast_crewai::scheduler
