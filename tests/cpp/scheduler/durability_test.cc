// Acknowledged scheduler calls survive SIGKILL: a forked child creates runs and completes
// nodes from four threads (group commit, synchronous=FULL) and reports each acknowledged
// CreateRun / CompleteNode on a pipe; the parent SIGKILLs it mid-stream, checks the file with
// PRAGMA integrity_check, reopens it and finds every acknowledged run and output.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduler/scheduler.h"
#include "server/util/status_macros.h"
#include "tests/cpp/scheduler/scheduler_test_util.h"
#include "tests/cpp/testing/kill_child.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::scheduler {
namespace {

using ::fast_crewai::testing::AckWriter;
using ::fast_crewai::testing::ForkWritersThenKill;
using ::fast_crewai::testing::TempDir;
using testing::LeaseNow;
using testing::Node;
using testing::Spec;
using testing::TestOptions;

constexpr int kThreads = 4;
constexpr size_t kKillAfter = 200;

TEST(SchedulerDurabilityTest, AcknowledgedCallsSurviveSigkill) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(
      const std::string acks, ForkWritersThenKill(kThreads, kKillAfter, [&]() -> AckWriter {
        SchedulerOptions options = TestOptions(dir.path(), RealClock::Get());
        options.sync = persistence::SqliteSync::kFull;
        absl::StatusOr<std::unique_ptr<Scheduler>> opened = Scheduler::Open(options);
        if (!opened.ok()) return nullptr;
        std::shared_ptr<Scheduler> scheduler = std::move(*opened);
        return [scheduler](int t, int i) -> absl::StatusOr<std::string> {
          const std::string queue = absl::StrCat("q", t);  // one queue per thread: no stealing
          ASSIGN_OR_RETURN(
              const RunInfo run,
              scheduler->CreateRun(Spec({Node("first"), Node("second", {"first"})}, queue)));
          ASSIGN_OR_RETURN(const std::vector<LeaseGrant> leases, LeaseNow(*scheduler, 1, queue));
          if (leases.size() != 1) return absl::InternalError("expected one lease");
          const std::string output = absl::StrCat("out-", t, "-", i);
          RETURN_IF_ERROR(scheduler->CompleteNode(leases[0].lease_id, output).status());
          // The oldest ready node of the queue: this run's first, or an earlier run's second.
          return absl::StrCat("run ", run.run_id, "\n", "done ", leases[0].run_id, " ",
                              leases[0].node_id, " ", output, "\n");
        };
      }));

  const std::string path = dir.path() + "/scheduler.db";
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);  // replays the WAL
    EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  absl::StatusOr<std::unique_ptr<Scheduler>> reopened =
      Scheduler::Open(TestOptions(dir.path(), RealClock::Get()));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  Scheduler& s = **reopened;
  size_t runs = 0, outputs = 0;
  for (absl::string_view line : absl::StrSplit(acks, '\n', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts[0] == "run") {
      ++runs;
      EXPECT_OK(s.GetRun(parts[1])) << "acknowledged run lost";
    } else if (parts.size() == 4 && parts[0] == "done") {
      ++outputs;
      ListNodesOptions options;
      options.include_output = true;
      absl::StatusOr<NodePage> page = s.ListNodes(parts[1], options);
      ASSERT_TRUE(page.ok()) << page.status();
      ASSERT_EQ(page->nodes.size(), 2u);
      const int index = parts[2] == "first" ? 0 : 1;
      const NodeInfo& node = page->nodes[index];
      EXPECT_EQ(node.state, NodeState::kSucceeded) << line;
      ASSERT_NE(node.output, nullptr) << line;
      EXPECT_EQ(*node.output, parts[3]);
      if (index == 0) {
        EXPECT_NE(page->nodes[1].state, NodeState::kBlocked) << "its dependent was unblocked";
      }
    }
  }
  EXPECT_GE(runs + outputs, kKillAfter);
  EXPECT_GT(outputs, 0u);
  EXPECT_OK(s.Close());
}

}  // namespace
}  // namespace fast_crewai::scheduler
