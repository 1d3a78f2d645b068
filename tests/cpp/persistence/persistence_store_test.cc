// PersistenceStore: kickoff task outputs with CrewAI's row semantics kept per kickoff, flow
// state and pending feedback, legacy long-term memory, validation, reopen, eviction,
// integrity check at start, backup, group commit.
#include "server/persistence/persistence_store.h"

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/persistence/persistence_db.h"
#include "tests/cpp/persistence/persistence_test_util.h"
#include "tests/cpp/testing/fake_clock.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai::persistence {
namespace {

using ::fast_crewai::testing::FakeClock;
using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::fast_crewai::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Ids;
using ::testing::IsEmpty;
using testing::IsOkAndHolds;
using testing::OpenOrDie;
using testing::Row;
using testing::TestOptions;

constexpr char kNs[] = "/home/u/.local/share/proj/latest_kickoff_task_outputs.db";

TaskOutputUpdate Replayed() {
  TaskOutputUpdate u;
  u.was_replayed = true;
  return u;
}
TaskOutputUpdate RenameTo(const std::string& task_id) {
  TaskOutputUpdate u;
  u.task_id = task_id;
  return u;
}
TaskOutputUpdate NewOutput(const std::string& json) {
  TaskOutputUpdate u;
  u.output_json = json;
  return u;
}

class PersistenceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(TestOptions(dir_.path(), &clock_));
    ASSERT_NE(store_, nullptr);
  }
  void Reopen() {
    if (store_ != nullptr) {
      ASSERT_OK(store_->Close());
    }
    store_.reset();
    store_ = OpenOrDie(TestOptions(dir_.path(), &clock_));
    ASSERT_NE(store_, nullptr);
  }
  std::shared_ptr<const KickoffSnapshot> Load(const KickoffSelector& selector) {
    absl::StatusOr<std::shared_ptr<const KickoffSnapshot>> k = store_->LoadTaskOutputs(selector);
    EXPECT_TRUE(k.ok()) << k.status();
    return k.ok() ? *k : nullptr;
  }

  TempDir dir_;
  FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};  // 2023-11-14 22:13:20 UTC
  std::unique_ptr<PersistenceStore> store_;
};

// ---- kickoff task outputs --------------------------------------------------------------

TEST_F(PersistenceStoreTest, RowsComeBackInCrewAIsLoadOrderWithTheirTimestamp) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", Row("t2", 2)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", Row("t0", 0)).status());
  clock_.Advance(absl::Seconds(61));
  ASSERT_OK_AND_ASSIGN(TaskOutputRow stored, store_->AddTaskOutput(kNs, "k1", Row("t1", 1)));
  EXPECT_EQ(stored.timestamp, "2023-11-14 22:14:21");
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", Row("t1b", 1)).status());  // same index: after t1

  auto k = Load(KickoffSelector::ById("k1"));
  ASSERT_NE(k, nullptr);
  EXPECT_THAT(Ids(k.get()), ElementsAre("t0@0", "t1@1", "t1b@1", "t2@2"));
  EXPECT_EQ(k->ns, kNs);
  const TaskOutputRow& first = k->rows[0]->row;
  EXPECT_EQ(first.timestamp, "2023-11-14 22:13:20");
  EXPECT_EQ(first.task_key, "key-t0");
  EXPECT_EQ(first.expected_output, "expected t0");
  EXPECT_EQ(first.output_json, R"({"raw": "out", "agent": "a", "messages": []})");
  EXPECT_EQ(first.inputs_json, R"({"topic": "otters"})");
  EXPECT_FALSE(first.was_replayed);
}

TEST_F(PersistenceStoreTest, AddReplacesTheRowOfTheSameTaskLikeInsertOrReplace) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", Row("a", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", Row("b", 0)).status());
  clock_.Advance(absl::Seconds(5));
  TaskOutputRow again = Row("a", 0, "second");
  again.task_key.reset();
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", again).status());
  auto k = Load(KickoffSelector::ById("k1"));
  // The replaced row is a new row: after "b" among equal indexes, new timestamp, NULL key.
  EXPECT_THAT(Ids(k.get()), ElementsAre("b@0", "a@0"));
  EXPECT_THAT(k->rows[1]->row.output_json, HasSubstr("second"));
  EXPECT_EQ(k->rows[1]->row.timestamp, "2023-11-14 22:13:25");
  EXPECT_FALSE(k->rows[1]->row.task_key.has_value());
  EXPECT_EQ(store_->GetStats().task_outputs, 2);
}

TEST_F(PersistenceStoreTest, ConcurrentKickoffsKeepSeparateLogs) {
  // CrewAI's single table would leave only one of these (issues #6650, #6704).
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(store_->AddTaskOutput(kNs, "alpha", Row(absl::StrCat("a", i), i)).status());
    ASSERT_OK(store_->AddTaskOutput(kNs, "beta", Row(absl::StrCat("b", i), i)).status());
  }
  EXPECT_THAT(Ids(Load(KickoffSelector::ById("alpha")).get()), ElementsAre("a0@0", "a1@1", "a2@2"));
  EXPECT_THAT(Ids(Load(KickoffSelector::ById("beta")).get()), ElementsAre("b0@0", "b1@1", "b2@2"));
}

TEST_F(PersistenceStoreTest, LatestKickoffOfANamespaceIsTheOneCreatedLast) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "first", Row("f0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "second", Row("s0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput("/other/project.db", "third", Row("x0", 0)).status());
  ASSERT_OK(
      store_->AddTaskOutput(kNs, "first", Row("f1", 1)).status());  // later write, older kickoff
  EXPECT_EQ(Load(KickoffSelector::Latest(kNs))->kickoff_id, "second");
  EXPECT_EQ(Load(KickoffSelector::Latest("/other/project.db"))->kickoff_id, "third");
  EXPECT_EQ(Load(KickoffSelector::Latest("/nobody.db")), nullptr);
  EXPECT_EQ(Load(KickoffSelector::ById("missing")), nullptr);
}

TEST_F(PersistenceStoreTest, ByTaskFindsTheKickoffThatRanTheTask) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k-old", Row("shared", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "k-old", Row("only-old", 1)).status());
  ASSERT_OK(store_->AddTaskOutput("/other.db", "k-new", Row("shared", 0)).status());
  ASSERT_OK(store_->AddTaskOutput("/other.db", "k-new", Row("only-new", 1)).status());
  EXPECT_EQ(Load(KickoffSelector::ByTask("only-old"))->kickoff_id, "k-old");
  EXPECT_EQ(Load(KickoffSelector::ByTask("only-new"))->kickoff_id, "k-new");
  EXPECT_EQ(Load(KickoffSelector::ByTask("shared"))->kickoff_id, "k-new");  // written last
  ASSERT_OK(store_->UpdateTaskOutputs("k-old", 0, Replayed()).status());
  EXPECT_EQ(Load(KickoffSelector::ByTask("shared"))->kickoff_id, "k-old");  // now k-old's is newer
  EXPECT_EQ(Load(KickoffSelector::ByTask("never")), nullptr);
}

TEST_F(PersistenceStoreTest, UpdateSetsColumnsOfEveryRowWithTheIndex) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("t0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("t1", 1)).status());
  clock_.Advance(absl::Minutes(1));
  TaskOutputUpdate update;
  update.output_json = R"({"raw": "replayed"})";
  update.was_replayed = true;
  update.inputs_json = R"({"topic": "seals"})";
  ASSERT_OK_AND_ASSIGN(std::vector<TaskOutputRow> updated,
                       store_->UpdateTaskOutputs("k", 1, update));
  ASSERT_EQ(updated.size(), 1u);
  EXPECT_EQ(updated[0].task_id, "t1");
  EXPECT_TRUE(updated[0].was_replayed);
  EXPECT_EQ(updated[0].timestamp, "2023-11-14 22:13:20");  // UPDATE keeps the timestamp
  auto k = Load(KickoffSelector::ById("k"));
  EXPECT_THAT(Ids(k.get()), ElementsAre("t0@0", "t1@1"));
  EXPECT_EQ(k->rows[1]->row.output_json, R"({"raw": "replayed"})");
  EXPECT_EQ(k->rows[1]->row.inputs_json, R"({"topic": "seals"})");
  EXPECT_EQ(k->rows[1]->row.expected_output, "expected t1");  // not given: kept
  EXPECT_FALSE(k->rows[0]->row.was_replayed);
}

TEST_F(PersistenceStoreTest, UpdateCanRenameTheTaskOfARow) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("old-id", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("other", 1)).status());
  ASSERT_OK(store_->UpdateTaskOutputs("k", 0, RenameTo("new-id")).status());
  EXPECT_EQ(Load(KickoffSelector::ByTask("old-id")), nullptr);
  EXPECT_EQ(Load(KickoffSelector::ByTask("new-id"))->kickoff_id, "k");
  EXPECT_THAT(store_->UpdateTaskOutputs("k", 0, RenameTo("other")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("update.task_id:")));
  Reopen();
  EXPECT_THAT(Ids(Load(KickoffSelector::ById("k")).get()), ElementsAre("new-id@0", "other@1"));
}

TEST_F(PersistenceStoreTest, UpdateOfAnUnknownIndexOrKickoffIsNotFoundAndChangesNothing) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("t0", 0)).status());
  EXPECT_THAT(store_->UpdateTaskOutputs("k", 7, Replayed()),
              StatusIs(absl::StatusCode::kNotFound,
                       "task_index: no row with task_index 7 in kickoff \"k\""));
  EXPECT_THAT(store_->UpdateTaskOutputs("nope", 0, Replayed()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("kickoff_id:")));
  EXPECT_THAT(store_->UpdateTaskOutputs("k", 0, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, "update: no column to set"));
  EXPECT_THAT(
      store_->UpdateTaskOutputs("k", 0, NewOutput("{bad")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("update.output_json: invalid JSON")));
  EXPECT_FALSE(Load(KickoffSelector::ById("k"))->rows[0]->row.was_replayed);
}

TEST_F(PersistenceStoreTest, DeleteAllOfANamespaceKeepsOtherProjects) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "a", Row("a0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "a", Row("a1", 1)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "b", Row("b0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput("/other.db", "c", Row("c0", 0)).status());
  EXPECT_THAT(store_->DeleteTaskOutputs(kNs, ""), IsOkAndHolds(3));
  EXPECT_EQ(Load(KickoffSelector::Latest(kNs)), nullptr);
  EXPECT_EQ(Load(KickoffSelector::ByTask("a0")), nullptr);
  EXPECT_NE(Load(KickoffSelector::ById("c")), nullptr);
  EXPECT_THAT(store_->DeleteTaskOutputs("/other.db", "c"), IsOkAndHolds(1));
  EXPECT_THAT(store_->DeleteTaskOutputs("/other.db", "c"), IsOkAndHolds(0));
  Reopen();
  EXPECT_EQ(store_->GetStats().kickoffs, 0);
  EXPECT_EQ(store_->GetStats().task_outputs, 0);
}

TEST_F(PersistenceStoreTest, ListKickoffsNewestFirst) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "a", Row("a0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput("/o.db", "b", Row("b0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "c", Row("c0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "c", Row("c1", 1)).status());
  ASSERT_OK_AND_ASSIGN(std::vector<KickoffInfo> mine, store_->ListKickoffs(kNs, false, 10));
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].kickoff_id, "c");
  EXPECT_EQ(mine[0].task_count, 2);
  EXPECT_EQ(mine[0].last_task_index, 1);
  EXPECT_EQ(mine[0].last_task_id, "c1");
  EXPECT_EQ(mine[1].kickoff_id, "a");
  ASSERT_OK_AND_ASSIGN(std::vector<KickoffInfo> all, store_->ListKickoffs("", true, 2));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].kickoff_id, "b");
  EXPECT_THAT(store_->ListKickoffs(kNs, false, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit:")));
}

TEST_F(PersistenceStoreTest, EverythingSurvivesReopenAndSequencesContinue) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", Row("t1", 1)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", Row("t0", 0)).status());
  ASSERT_OK(store_->AddTaskOutput(kNs, "k2", Row("u0", 0)).status());
  ASSERT_OK(store_->UpdateTaskOutputs("k2", 0, Replayed()).status());
  Reopen();
  EXPECT_THAT(Ids(Load(KickoffSelector::ById("k1")).get()), ElementsAre("t0@0", "t1@1"));
  EXPECT_TRUE(Load(KickoffSelector::ById("k2"))->rows[0]->row.was_replayed);
  EXPECT_EQ(Load(KickoffSelector::Latest(kNs))->kickoff_id, "k2");
  ASSERT_OK(store_->AddTaskOutput(kNs, "k3", Row("v0", 0)).status());
  EXPECT_EQ(Load(KickoffSelector::Latest(kNs))->kickoff_id, "k3");
  ASSERT_OK(store_->AddTaskOutput(kNs, "k1", Row("t0b", 0)).status());
  EXPECT_THAT(Ids(Load(KickoffSelector::ById("k1")).get()), ElementsAre("t0@0", "t0b@0", "t1@1"));
}

TEST_F(PersistenceStoreTest, OldestKickoffsAreEvictedBeyondTheLimit) {
  PersistenceStoreOptions options = TestOptions(dir_.path(), &clock_);
  options.max_kickoffs = 3;
  ASSERT_OK(store_->Close());
  store_ = OpenOrDie(options);
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(
        store_->AddTaskOutput(kNs, absl::StrCat("k", i), Row(absl::StrCat("t", i), 0)).status());
  }
  EXPECT_EQ(store_->GetStats().kickoffs, 3);
  EXPECT_EQ(store_->GetStats().evicted_kickoffs, 2);
  EXPECT_EQ(Load(KickoffSelector::ById("k0")), nullptr);
  EXPECT_EQ(Load(KickoffSelector::ById("k1")), nullptr);
  EXPECT_EQ(Load(KickoffSelector::ByTask("t1")), nullptr);
  EXPECT_NE(Load(KickoffSelector::ById("k2")), nullptr);
  ASSERT_OK(store_->Close());
  store_ = OpenOrDie(options);
  EXPECT_EQ(store_->GetStats().kickoffs, 3);
  EXPECT_EQ(Load(KickoffSelector::ById("k0")), nullptr);
  EXPECT_NE(Load(KickoffSelector::ById("k4")), nullptr);
}

TEST_F(PersistenceStoreTest, BadRowsAreRejectedNamingTheFieldAndNothingIsStored) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("keep", 0)).status());
  TaskOutputRow bad_json = Row("x", 1);
  bad_json.output_json = R"({"raw": "unterminated)";
  EXPECT_THAT(
      store_->AddTaskOutput(kNs, "k", bad_json),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row.output_json: invalid JSON")));
  TaskOutputRow bad_inputs = Row("x", 1);
  bad_inputs.inputs_json = "";
  EXPECT_THAT(store_->AddTaskOutput(kNs, "k", bad_inputs),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row.inputs_json:")));
  TaskOutputRow negative = Row("x", -1);
  EXPECT_THAT(store_->AddTaskOutput(kNs, "k", negative),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row.task_index:")));
  EXPECT_THAT(store_->AddTaskOutput(kNs, "k", Row("", 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "row.task_id: must not be empty"));
  EXPECT_THAT(store_->AddTaskOutput(kNs, "", Row("x", 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "kickoff_id: must not be empty"));
  EXPECT_THAT(store_->AddTaskOutput("ns\x01", "k", Row("x", 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("namespace:")));
  EXPECT_THAT(Ids(Load(KickoffSelector::ById("k")).get()), ElementsAre("keep@0"));
}

TEST_F(PersistenceStoreTest, AGivenTimestampIsKeptAndABadOneRejectedNamingIt) {
  // A row the client wrote to CrewAI's file while the daemon was away keeps its time.
  TaskOutputRow journaled = Row("late", 1);
  journaled.timestamp = "2023-11-14 21:59:58";
  ASSERT_OK_AND_ASSIGN(TaskOutputRow stored, store_->AddTaskOutput(kNs, "k", journaled));
  EXPECT_EQ(stored.timestamp, "2023-11-14 21:59:58");
  ASSERT_OK_AND_ASSIGN(stored, store_->AddTaskOutput(kNs, "k", Row("now", 0)));
  EXPECT_EQ(stored.timestamp, "2023-11-14 22:13:20");  // empty: the store's clock
  ASSERT_OK(store_->Close());
  store_ = OpenOrDie(TestOptions(dir_.path(), &clock_));  // and from SQLite after a restart
  auto k = Load(KickoffSelector::ById("k"));
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(k->rows.size(), 2u);
  EXPECT_EQ(k->rows[1]->row.timestamp, "2023-11-14 21:59:58");

  for (const char* bad : {"2023-11-14T21:59:58", "2023-11-14 21:59", "2023-13-01 00:00:00",
                          "2023-11-14 21:59:58.5", "2023-2-1 00:00:00", "yesterday"}) {
    TaskOutputRow row = Row("x", 2);
    row.timestamp = bad;
    EXPECT_THAT(store_->AddTaskOutput(kNs, "k", row),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row.timestamp: must be")))
        << bad;
    EXPECT_THAT(store_->AddTaskOutputs(kNs, "k", {Row("y", 3), row}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rows[1].timestamp:")))
        << bad;
  }
  EXPECT_THAT(Ids(Load(KickoffSelector::ById("k")).get()), ElementsAre("now@0", "late@1"));
}

TEST_F(PersistenceStoreTest, OversizedValuesAreResourceExhausted) {
  PersistenceStoreOptions options = TestOptions(dir_.path(), &clock_);
  options.max_value_bytes = 1000;
  ASSERT_OK(store_->Close());
  store_ = OpenOrDie(options);
  TaskOutputRow big = Row("t", 0);
  big.output_json = absl::StrCat(R"({"raw": ")", std::string(2000, 'x'), R"("})");
  EXPECT_THAT(store_->AddTaskOutput(kNs, "k", big),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("row.output_json: 2011 bytes is more than the limit of 1000")));
  EXPECT_THAT(store_->SaveFlowState("f", "m", std::string(1001, '1'), ""),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("state_json:")));
  EXPECT_EQ(store_->GetStats().kickoffs, 0);
}

// ---- flow state --------------------------------------------------------------------------

TEST_F(PersistenceStoreTest, FlowStateIsAnAppendOnlyLogReadLatestFirst) {
  EXPECT_THAT(store_->LoadFlowState("flow-1"), IsOkAndHolds(::testing::Eq(std::nullopt)));
  ASSERT_OK(store_->SaveFlowState("flow-1", "start", R"({"step": 1})", ""));
  ASSERT_OK(store_->SaveFlowState("flow-2", "start", R"({"other": true})", ""));
  ASSERT_OK(store_->SaveFlowState("flow-1", "next", R"({"step": 2})",
                                  "2026-01-02T03:04:05.000006+00:00"));
  ASSERT_OK_AND_ASSIGN(std::optional<FlowState> state, store_->LoadFlowState("flow-1"));
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->method_name, "next");
  EXPECT_EQ(state->state_json, R"({"step": 2})");
  EXPECT_EQ(state->timestamp, "2026-01-02T03:04:05.000006+00:00");
  ASSERT_OK_AND_ASSIGN(state, store_->LoadFlowState("flow-2"));
  EXPECT_EQ(state->timestamp, "2023-11-14T22:13:20.000000+00:00");  // "" = the store's now
  EXPECT_THAT(store_->SaveFlowState("flow-1", "m", "{oops", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("state_json: invalid JSON")));
  EXPECT_THAT(store_->SaveFlowState("", "m", "{}", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, "flow_uuid: must not be empty"));
  Reopen();
  ASSERT_OK_AND_ASSIGN(state, store_->LoadFlowState("flow-1"));
  EXPECT_EQ(state->state_json, R"({"step": 2})");
}

TEST_F(PersistenceStoreTest, PendingFeedbackSavesStateAndContextTogether) {
  EXPECT_THAT(store_->LoadPendingFeedback("f"), IsOkAndHolds(::testing::Eq(std::nullopt)));
  ASSERT_OK(store_->SavePendingFeedback(
      "f", "review", R"({"flow_id": "f", "method_name": "review"})", R"({"draft": "x"})", ""));
  ASSERT_OK_AND_ASSIGN(std::optional<PendingFeedback> pending, store_->LoadPendingFeedback("f"));
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->context_json, R"({"flow_id": "f", "method_name": "review"})");
  EXPECT_EQ(pending->state_json, R"({"draft": "x"})");
  ASSERT_OK_AND_ASSIGN(std::optional<FlowState> state, store_->LoadFlowState("f"));
  EXPECT_EQ(state->method_name, "review");  // the state was appended too
  // Replaced by a newer one.
  ASSERT_OK(store_->SavePendingFeedback("f", "review", R"({"v": 2})", R"({"draft": "y"})", ""));
  EXPECT_EQ((*store_->LoadPendingFeedback("f"))->state_json, R"({"draft": "y"})");
  EXPECT_THAT(store_->ClearPendingFeedback("f"), IsOkAndHolds(true));
  EXPECT_THAT(store_->ClearPendingFeedback("f"), IsOkAndHolds(false));
  EXPECT_THAT(store_->LoadPendingFeedback("f"), IsOkAndHolds(::testing::Eq(std::nullopt)));
  EXPECT_THAT(store_->SavePendingFeedback("f", "m", "[1]", "{}", ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "context_json: expected a JSON object, got an array"));
}

// ---- legacy long-term memory -------------------------------------------------------------

TEST_F(PersistenceStoreTest, LtmLoadOrdersLikeCrewAIsQuery) {
  // ORDER BY datetime DESC, score ASC; datetime is text (str(time.time())).
  ASSERT_OK(store_->SaveLtm("ns", "task", R"({"n": 1})", "1700000001.5", 8));
  ASSERT_OK(store_->SaveLtm("ns", "task", R"({"n": 2})", "1700000003.0", 9));
  ASSERT_OK(store_->SaveLtm("ns", "task", R"({"n": 3})", "1700000003.0", 2));
  ASSERT_OK(store_->SaveLtm("ns", "task", R"({"n": 4})", "999.0", 1));  // "999" > "17..." as text
  ASSERT_OK(store_->SaveLtm("ns", "other task", R"({"n": 5})", "1800000000.0", 1));
  ASSERT_OK(store_->SaveLtm("other-ns", "task", R"({"n": 6})", "1900000000.0", 1));
  ASSERT_OK_AND_ASSIGN(std::vector<LtmEntry> got, store_->LoadLtm("ns", "task", 3));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].metadata_json, R"({"n": 4})");
  EXPECT_EQ(got[1].metadata_json, R"({"n": 3})");
  EXPECT_EQ(got[1].score, 2);
  EXPECT_EQ(got[2].metadata_json, R"({"n": 2})");
  EXPECT_EQ(got[2].datetime, "1700000003.0");
  EXPECT_THAT(store_->LoadLtm("ns", "missing", 3), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->LoadLtm("ns", "task", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("latest_n:")));
  EXPECT_THAT(store_->SaveLtm("ns", "task", "not json", "1", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata_json:")));
  EXPECT_THAT(store_->SaveLtm("ns", "task", "{}", "1", std::nan("")),
              StatusIs(absl::StatusCode::kInvalidArgument, "score: not a finite number"));
  EXPECT_THAT(store_->ResetLtm("ns"), IsOkAndHolds(5));
  EXPECT_THAT(store_->LoadLtm("ns", "task", 3), IsOkAndHolds(IsEmpty()));
  EXPECT_EQ(store_->LoadLtm("other-ns", "task", 3)->size(), 1u);
}

// ---- start-up, integrity, backup --------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(PersistenceStoreTest, NotADatabaseIsDataLossAndTheFileIsLeftAlone) {
  ASSERT_OK(store_->Close());
  store_.reset();
  const std::string path = dir_.path() + "/persistence.db";
  const std::string garbage(8192, 'G');
  dir_.WriteFile("persistence.db", garbage);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  EXPECT_THAT(PersistenceStore::Open(TestOptions(dir_.path(), &clock_)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("persistence.db")));
  EXPECT_EQ(ReadFile(path), garbage);
}

TEST_F(PersistenceStoreTest, CorruptPagesFailTheIntegrityCheckAndTheFileIsLeftAlone) {
  // Damage a table that start-up does not read (legacy LTM): only the integrity check can
  // notice, and it must, before the store serves anything from the file.
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("t", 0)).status());
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(store_->SaveLtm("ns", "d", absl::StrCat(R"({"i": )", i, "}"), "1", 1));
  }
  ASSERT_OK(store_->Close());  // checkpoints: everything is in the main file
  store_.reset();
  const std::string path = dir_.path() + "/persistence.db";
  int64_t root = 0;
  int64_t page_size = 0;
  {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    root = db.execAndGet("SELECT rootpage FROM sqlite_master WHERE name = 'long_term_memories'")
               .getInt64();
    page_size = db.execAndGet("PRAGMA page_size").getInt64();
  }
  ASSERT_GT(root, 1);
  std::string bytes = ReadFile(path);
  const size_t offset = static_cast<size_t>((root - 1) * page_size);
  ASSERT_LT(offset + 16, bytes.size());
  // The b-tree page header: cell count and cell-content offset become nonsense.
  for (size_t i = 3; i < 8; ++i) bytes[offset + i] = static_cast<char>(0xFF);
  dir_.WriteFile("persistence.db", bytes);
  EXPECT_THAT(PersistenceStore::Open(TestOptions(dir_.path(), &clock_)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("integrity check failed")));
  EXPECT_EQ(ReadFile(path), bytes);  // never repaired, never wiped
  // With the check off the damage goes unnoticed at start (which is why it is on by default).
  PersistenceStoreOptions unchecked = TestOptions(dir_.path(), &clock_);
  unchecked.integrity_check = IntegrityCheckMode::kOff;
  EXPECT_OK(PersistenceStore::Open(unchecked).status());
}

TEST_F(PersistenceStoreTest, AnotherProgramsDatabaseIsRefused) {
  ASSERT_OK(store_->Close());
  store_.reset();
  const std::string path = dir_.path() + "/persistence.db";
  std::filesystem::remove(path);
  {
    SQLite::Database other(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    other.exec("PRAGMA application_id=1234; CREATE TABLE t(x)");
  }
  EXPECT_THAT(PersistenceStore::Open(TestOptions(dir_.path(), &clock_)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("another program")));
}

TEST_F(PersistenceStoreTest, NewerSchemaIsRefused) {
  ASSERT_OK(store_->Close());
  store_.reset();
  {
    SQLite::Database db(dir_.path() + "/persistence.db", SQLite::OPEN_READWRITE);
    db.exec(absl::StrCat("PRAGMA user_version=", kPersistenceDbSchemaVersion + 1));
  }
  EXPECT_THAT(PersistenceStore::Open(TestOptions(dir_.path(), &clock_)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("newer than this server")));
}

TEST_F(PersistenceStoreTest, BackupIsAConsistentCopyThatOpensAsAStore) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("t0", 0)).status());
  ASSERT_OK(store_->SaveFlowState("f", "m", R"({"a": 1})", ""));
  ASSERT_OK(store_->SaveLtm("ns", "d", "{}", "1", 1));
  TempDir backups;
  const std::string dest = backups.path() + "/copy.db";
  ASSERT_OK_AND_ASSIGN(BackupResult result, store_->Backup(dest, false));
  EXPECT_GT(result.pages, 0);
  EXPECT_EQ(result.bytes, static_cast<int64_t>(std::filesystem::file_size(dest)));
  // Writes after the backup are not in it.
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("t1", 1)).status());
  {
    SQLite::Database copy(dest, SQLite::OPEN_READONLY);
    EXPECT_EQ(copy.execAndGet("PRAGMA integrity_check").getString(), "ok");
    EXPECT_EQ(copy.execAndGet("SELECT COUNT(*) FROM kickoff_task_outputs").getInt(), 1);
  }
  // The copy is a working data directory.
  TempDir restored;
  std::filesystem::copy_file(dest, restored.path() + "/persistence.db");
  std::unique_ptr<PersistenceStore> from_backup = OpenOrDie(TestOptions(restored.path(), &clock_));
  ASSERT_NE(from_backup, nullptr);
  EXPECT_THAT(Ids(from_backup->LoadTaskOutputs(KickoffSelector::ById("k"))->get()),
              ElementsAre("t0@0"));
  EXPECT_EQ((*from_backup->LoadFlowState("f"))->state_json, R"({"a": 1})");

  EXPECT_THAT(store_->Backup(dest, false),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("dest_path:")));
  EXPECT_OK(store_->Backup(dest, true).status());
  EXPECT_THAT(
      store_->Backup("relative/copy.db", false),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dest_path: must be absolute")));
  EXPECT_THAT(store_->Backup(backups.path() + "/missing/copy.db", false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("does not exist")));
  EXPECT_THAT(store_->Backup(store_->path(), true),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data directory")));
  // A directory that exists but takes no files (procfs refuses even root): the caller must
  // choose another path, so not UNAVAILABLE, which clients read as "the daemon is away".
  EXPECT_THAT(store_->Backup("/proc/self/fast-crewai-copy.db", false),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("dest_path: cannot write the backup")));
}

TEST_F(PersistenceStoreTest, BackupIsOneSelfContainedFile) {
  ASSERT_OK(store_->AddTaskOutput(kNs, "k", Row("t0", 0)).status());
  TempDir backups;
  const std::string dest = backups.path() + "/copy.db";
  ASSERT_OK(store_->Backup(dest, false).status());
  {
    SQLite::Database copy(dest, SQLite::OPEN_READONLY);
    EXPECT_EQ(copy.execAndGet("PRAGMA journal_mode").getString(), "delete");
    EXPECT_EQ(copy.execAndGet("SELECT COUNT(*) FROM kickoff_task_outputs").getInt(), 1);
  }
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(backups.path())) {
    files.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(files, ElementsAre("copy.db"));  // no -wal, -shm or temporary file beside it
}

TEST_F(PersistenceStoreTest, BackupRefusesEveryPathInTheDataDirectory) {
  namespace fs = std::filesystem;
  // Another store's file (memory.db is the memory core's): never replaced, even with overwrite.
  const std::string other = dir_.path() + "/memory.db";
  { std::ofstream(other) << "another store's file"; }
  fs::create_directories(dir_.path() + "/sub");
  TempDir links;
  fs::create_directory_symlink(dir_.path(), links.path() + "/data");
  for (const std::string& dest :
       {other, dir_.path() + "/new.db", dir_.path() + "/sub/copy.db",
        dir_.path() + "/sub/../memory.db", links.path() + "/data/memory.db"}) {
    EXPECT_THAT(store_->Backup(dest, true),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("is inside the daemon's data directory")))
        << dest;
  }
  std::ifstream in(other);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "another store's file");
  EXPECT_FALSE(fs::exists(dir_.path() + "/new.db"));
  EXPECT_OK(store_->Backup(links.path() + "/copy.db", false).status());  // beside it is fine
}

TEST_F(PersistenceStoreTest, ClosedStoreRefusesCalls) {
  ASSERT_OK(store_->Close());
  EXPECT_THAT(store_->AddTaskOutput(kNs, "k", Row("t", 0)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(store_->LoadFlowState("f"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(store_->Close(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  store_.reset();
}

// ---- group commit ------------------------------------------------------------------------

TEST(PersistenceGroupCommitTest, ConcurrentWritersShareCommits) {
  TempDir dir;
  FakeClock clock;
  constexpr int kWriters = 12;
  PersistenceStoreOptions options = TestOptions(dir.path(), &clock);
  options.sync = SqliteSync::kFull;
  std::atomic<bool> first{true};
  std::atomic<int> started{0};
  // Hold the first commit until every writer is queued behind it.
  options.before_commit_hook = [&](int) {
    if (first.exchange(false)) {
      while (started.load() < kWriters) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  std::unique_ptr<PersistenceStore> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      started.fetch_add(1);
      if (t % 2 == 0) {
        EXPECT_OK(store->AddTaskOutput(kNs, absl::StrCat("k", t), Row("t", 0)).status());
      } else {
        EXPECT_OK(store->SaveFlowState(absl::StrCat("f", t), "m", "{}", ""));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const PersistenceStoreStats stats = store->GetStats();
  EXPECT_EQ(stats.committed_writes, kWriters);
  EXPECT_LE(stats.commits, 3);  // the first alone, the rest together (give or take one)
  EXPECT_EQ(stats.kickoffs, kWriters / 2);
  EXPECT_EQ(stats.pending_writes, 0);
}

TEST(PersistenceGroupCommitTest, WritesInOneGroupSeeEachOther) {
  // An add, then an update of the row it added, queued into the same group.
  TempDir dir;
  FakeClock clock;
  PersistenceStoreOptions options = TestOptions(dir.path(), &clock);
  std::atomic<bool> first{true};
  std::atomic<bool> release{false};
  options.before_commit_hook = [&](int) {
    if (first.exchange(false)) {
      while (!release.load()) std::this_thread::yield();
    }
  };
  std::unique_ptr<PersistenceStore> store = OpenOrDie(options);
  std::thread blocker([&] { EXPECT_OK(store->SaveFlowState("f", "m", "{}", "")); });
  while (first.load()) std::this_thread::yield();  // the blocker leads and waits
  std::thread adder([&] { EXPECT_OK(store->AddTaskOutput(kNs, "k", Row("t", 0)).status()); });
  while (store->GetStats().pending_writes < 2) std::this_thread::yield();
  std::thread updater([&] { EXPECT_OK(store->UpdateTaskOutputs("k", 0, Replayed()).status()); });
  while (store->GetStats().pending_writes < 3) std::this_thread::yield();
  release = true;
  blocker.join();
  adder.join();
  updater.join();
  EXPECT_TRUE((*store->LoadTaskOutputs(KickoffSelector::ById("k")))->rows[0]->row.was_replayed);
  EXPECT_EQ(store->GetStats().commits, 2);
}

}  // namespace
}  // namespace fast_crewai::persistence
