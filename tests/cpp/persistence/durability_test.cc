// Acknowledged writes survive SIGKILL of the writing process: a forked child writes task
// outputs, flow states and LTM entries from four threads (group commit, synchronous=FULL)
// and reports each acknowledged write on a pipe; the parent SIGKILLs it mid-stream, reopens
// the store, finds every acknowledged write and PRAGMA integrity_check says ok.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/persistence/persistence_store.h"
#include "server/util/status_macros.h"
#include "tests/cpp/persistence/persistence_test_util.h"
#include "tests/cpp/testing/kill_child.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::persistence {
namespace {

using ::fast_crewai::testing::AckWriter;
using ::fast_crewai::testing::ForkWritersThenKill;
using ::fast_crewai::testing::TempDir;
using testing::OpenOrDie;
using testing::Row;
using testing::TestOptions;

constexpr char kNs[] = "/proj/latest_kickoff_task_outputs.db";
constexpr int kThreads = 4;
constexpr size_t kKillAfter = 300;

TEST(PersistenceDurabilityTest, AcknowledgedWritesSurviveSigkill) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(
      const std::string acks, ForkWritersThenKill(kThreads, kKillAfter, [&]() -> AckWriter {
        PersistenceStoreOptions options = TestOptions(dir.path(), RealClock::Get());
        options.sync = SqliteSync::kFull;
        absl::StatusOr<std::unique_ptr<PersistenceStore>> opened = PersistenceStore::Open(options);
        if (!opened.ok()) return nullptr;
        std::shared_ptr<PersistenceStore> store = std::move(*opened);
        return [store](int t, int i) -> absl::StatusOr<std::string> {
          switch (i % 3) {
            case 0:  // one kickoff per thread, growing
              RETURN_IF_ERROR(store
                                  ->AddTaskOutput(kNs, absl::StrCat("kick-", t),
                                                  Row(absl::StrCat("task-", t, "-", i), i,
                                                      absl::StrCat("payload-", t, "-", i)))
                                  .status());
              return absl::StrCat("row ", t, " ", i, "\n");
            case 1:
              RETURN_IF_ERROR(store->SaveFlowState(absl::StrCat("flow-", t), "step",
                                                   absl::StrCat(R"({"i": )", i, "}"), ""));
              return absl::StrCat("flow ", t, " ", i, "\n");
            default:
              RETURN_IF_ERROR(store->SaveLtm("ltm", absl::StrCat("desc-", t),
                                             absl::StrCat(R"({"i": )", i, "}"),
                                             absl::StrCat(1000000 + i), 1.0));
              return absl::StrCat("ltm ", t, " ", i, "\n");
          }
        };
      }));

  // Last acknowledged i per (kind, thread); every write of a thread before it was acked too.
  int last_row[kThreads], last_flow[kThreads], last_ltm[kThreads];
  std::fill(std::begin(last_row), std::end(last_row), -1);
  std::fill(std::begin(last_flow), std::end(last_flow), -1);
  std::fill(std::begin(last_ltm), std::end(last_ltm), -1);
  size_t acked = 0;
  for (absl::string_view line : absl::StrSplit(acks, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    ASSERT_EQ(parts.size(), 3u) << line;
    int t = 0, i = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &t) && absl::SimpleAtoi(parts[2], &i));
    int* last = parts[0] == "row" ? last_row : parts[0] == "flow" ? last_flow : last_ltm;
    last[t] = std::max(last[t], i);
    ++acked;
  }
  ASSERT_GE(acked, kKillAfter);

  const std::string path = dir.path() + "/persistence.db";
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);  // replays the WAL
    EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  std::unique_ptr<PersistenceStore> store = OpenOrDie(TestOptions(dir.path(), RealClock::Get()));
  ASSERT_NE(store, nullptr);
  for (int t = 0; t < kThreads; ++t) {
    if (last_row[t] >= 0) {
      auto k = store->LoadTaskOutputs(KickoffSelector::ById(absl::StrCat("kick-", t)));
      ASSERT_TRUE(k.ok() && *k != nullptr) << "kickoff of thread " << t << " lost";
      std::vector<int> indexes;
      for (const auto& row : (*k)->rows) {
        indexes.push_back(static_cast<int>(row->row.task_index));
        EXPECT_EQ(row->row.task_id, absl::StrCat("task-", t, "-", row->row.task_index));
        EXPECT_THAT(row->row.output_json,
                    ::testing::HasSubstr(absl::StrCat("payload-", t, "-", row->row.task_index)));
      }
      for (int i = 0; i <= last_row[t]; i += 3) {
        EXPECT_TRUE(std::find(indexes.begin(), indexes.end(), i) != indexes.end())
            << "acknowledged row lost: thread " << t << " index " << i;
      }
    }
    if (last_flow[t] >= 0) {
      auto state = store->LoadFlowState(absl::StrCat("flow-", t));
      ASSERT_TRUE(state.ok() && state->has_value()) << "flow of thread " << t << " lost";
      int got = -1;
      std::string digits((*state)->state_json);
      digits.erase(
          std::remove_if(digits.begin(), digits.end(), [](char c) { return c < '0' || c > '9'; }),
          digits.end());
      ASSERT_TRUE(absl::SimpleAtoi(digits, &got));
      EXPECT_GE(got, last_flow[t]) << "latest acknowledged flow state lost";
    }
    if (last_ltm[t] >= 0) {
      auto entries = store->LoadLtm("ltm", absl::StrCat("desc-", t), kMaxLtmLoad);
      ASSERT_TRUE(entries.ok());
      EXPECT_GE(static_cast<int>(entries->size()), last_ltm[t] / 3 + 1)
          << "acknowledged LTM entries lost: thread " << t;
    }
  }
}

}  // namespace
}  // namespace fast_crewai::persistence
