// RunMigrations (sqlite_db.h): the one schema migration runner of memory.db, cache.db and
// persistence.db. Each migration appends its own number to a `steps` log, so a step that runs
// twice, out of order or not at all shows in the log.
#include "server/persistence/sqlite_db.h"

#include <memory>
#include <string>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::persistence {
namespace {

using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kThreeSteps[] = {
    "CREATE TABLE steps (n INTEGER NOT NULL); INSERT INTO steps VALUES (1);",  // 0 -> 1
    "INSERT INTO steps VALUES (2);",                                           // 1 -> 2
    "INSERT INTO steps VALUES (3);",                                           // 2 -> 3
};

class RunMigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SQLite::Database>> db =
        OpenSqliteDatabase(dir_.path() + "/test.db", SqliteOptions{});
    ASSERT_THAT(db.status(), IsOk());
    db_ = *std::move(db);
  }

  std::vector<int> Steps() {
    std::vector<int> out;
    SQLite::Statement q(*db_, "SELECT n FROM steps ORDER BY rowid");
    while (q.executeStep()) out.push_back(q.getColumn(0).getInt());
    return out;
  }

  int Version() {
    absl::StatusOr<int> v = GetUserVersion(*db_);
    EXPECT_THAT(v.status(), IsOk());
    return v.ok() ? *v : -1;
  }

  TempDir dir_;
  std::unique_ptr<SQLite::Database> db_;
};

TEST_F(RunMigrationsTest, NewFileRunsEveryStepOnceInOrder) {
  ASSERT_THAT(RunMigrations(*db_, "test.db", kThreeSteps), IsOk());
  EXPECT_THAT(Steps(), ElementsAre(1, 2, 3));
  EXPECT_EQ(Version(), 3);
}

TEST_F(RunMigrationsTest, CurrentFileRunsNothing) {
  ASSERT_THAT(RunMigrations(*db_, "test.db", kThreeSteps), IsOk());
  ASSERT_THAT(RunMigrations(*db_, "test.db", kThreeSteps), IsOk());
  EXPECT_THAT(Steps(), ElementsAre(1, 2, 3));
  EXPECT_EQ(Version(), 3);
}

TEST_F(RunMigrationsTest, OlderFileRunsOnlyTheMissingSteps) {
  ASSERT_THAT(RunMigrations(*db_, "test.db", absl::MakeConstSpan(kThreeSteps, 1)), IsOk());
  EXPECT_EQ(Version(), 1);
  ASSERT_THAT(RunMigrations(*db_, "test.db", kThreeSteps), IsOk());
  EXPECT_THAT(Steps(), ElementsAre(1, 2, 3));
  EXPECT_EQ(Version(), 3);
}

TEST_F(RunMigrationsTest, FailedStepLeavesTheLastCompleteVersion) {
  constexpr const char* kBroken[] = {
      "CREATE TABLE steps (n INTEGER NOT NULL); INSERT INTO steps VALUES (1);",
      "INSERT INTO steps VALUES (2); INSERT INTO no_such_table VALUES (0);",
      "INSERT INTO steps VALUES (3);",
  };
  EXPECT_THAT(RunMigrations(*db_, "test.db", kBroken),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("test.db: migrate to schema 2")));
  EXPECT_EQ(Version(), 1);
  EXPECT_THAT(Steps(), ElementsAre(1));  // step 2's first statement was rolled back
  // A fixed build continues from there.
  ASSERT_THAT(RunMigrations(*db_, "test.db", kThreeSteps), IsOk());
  EXPECT_THAT(Steps(), ElementsAre(1, 2, 3));
}

TEST_F(RunMigrationsTest, NewerFileIsRefusedUntouched) {
  ASSERT_THAT(RunMigrations(*db_, "test.db", kThreeSteps), IsOk());
  EXPECT_THAT(RunMigrations(*db_, "test.db", absl::MakeConstSpan(kThreeSteps, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("test.db: schema version 3 is newer than this server (2)")));
  EXPECT_EQ(Version(), 3);
  EXPECT_THAT(Steps(), ElementsAre(1, 2, 3));
}

}  // namespace
}  // namespace fast_crewai::persistence
