// PersistenceServiceImpl through an in-process channel: proto conversions, status codes with
// field names, and the HoldLock stream (grant, FIFO hand-over, timeout, release, cancel,
// lease lapse and renewal with a FakeClock driving the reaper).
#include "server/rpc/persistence_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "fast_crewai/v1/persistence.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/persistence/lock_table.h"
#include "server/persistence/persistence_store.h"
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
using ::testing::HasSubstr;

constexpr char kNs[] = "/proj/latest_kickoff_task_outputs.db";

class PersistenceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    persistence::PersistenceStoreOptions options;
    options.data_dir = dir_.path();
    options.clock = &clock_;
    options.sync = persistence::SqliteSync::kNormal;
    options.max_value_bytes = 4096;
    auto store = persistence::PersistenceStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    locks_ = std::make_unique<persistence::LockTable>(&clock_, persistence::LockTableOptions{});
    service_ = std::make_unique<PersistenceServiceImpl>(store_.get(), locks_.get(), &executor_,
                                                        &clock_, absl::Milliseconds(2));
    ASSERT_NO_FATAL_FAILURE(StartInProcess(service_.get(), &server_));
    stub_ = v1::PersistenceService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    StopInProcess(server_.get());
    service_.reset();
    executor_.Shutdown();
    ASSERT_OK(store_->Close());
  }

  v1::TaskOutputRow Row(const std::string& task_id, int index) {
    v1::TaskOutputRow row;
    row.set_task_id(task_id);
    row.set_task_key("key-" + task_id);
    row.set_expected_output("expected");
    row.set_output_json(R"({"raw": "r"})");
    row.set_task_index(index);
    row.set_inputs_json("{}");
    return row;
  }

  grpc::Status Add(const std::string& kickoff, const v1::TaskOutputRow& row,
                   v1::AddTaskOutputResponse* response = nullptr) {
    grpc::ClientContext ctx;
    v1::AddTaskOutputRequest request;
    request.set_kickoff_id(kickoff);
    request.set_namespace_(kNs);
    *request.mutable_row() = row;
    v1::AddTaskOutputResponse ignored;
    return stub_->AddTaskOutput(&ctx, request, response ? response : &ignored);
  }

  // Waits (real time) until `pred` holds; the reaper ticks every 2 ms.
  template <typename Pred>
  bool Eventually(Pred pred) {
    return PollUntil(pred, absl::Seconds(1));
  }

  TempDir dir_;
  FakeClock clock_;
  ThreadPoolExecutor executor_{4, "test-persist"};
  std::unique_ptr<persistence::PersistenceStore> store_;
  std::unique_ptr<persistence::LockTable> locks_;
  std::unique_ptr<PersistenceServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::PersistenceService::Stub> stub_;
};

TEST_F(PersistenceServiceTest, TaskOutputsRoundTrip) {
  v1::AddTaskOutputResponse added;
  ASSERT_TRUE(Add("k1", Row("t1", 1), &added).ok());
  EXPECT_EQ(added.row().timestamp(), "2023-11-14 22:13:20");
  v1::TaskOutputRow keyless = Row("t0", 0);
  keyless.clear_task_key();
  ASSERT_TRUE(Add("k1", keyless).ok());

  for (int selector = 0; selector < 3; ++selector) {
    grpc::ClientContext ctx;
    v1::LoadTaskOutputsRequest request;
    if (selector == 0) request.set_kickoff_id("k1");
    if (selector == 1) request.set_task_id("t1");
    if (selector == 2) request.set_namespace_(kNs);
    v1::LoadTaskOutputsResponse response;
    ASSERT_TRUE(stub_->LoadTaskOutputs(&ctx, request, &response).ok());
    EXPECT_TRUE(response.found());
    EXPECT_EQ(response.kickoff_id(), "k1");
    EXPECT_EQ(response.namespace_(), kNs);
    ASSERT_EQ(response.rows_size(), 2);
    EXPECT_EQ(response.rows(0).task_id(), "t0");
    EXPECT_FALSE(response.rows(0).has_task_key());  // NULL stays NULL
    EXPECT_EQ(response.rows(1).task_key(), "key-t1");
    EXPECT_EQ(response.rows(1).output_json(), R"({"raw": "r"})");
  }

  grpc::ClientContext update_ctx;
  v1::UpdateTaskOutputRequest update;
  update.set_kickoff_id("k1");
  update.set_task_index(1);
  update.set_was_replayed(true);
  update.set_output_json(R"({"raw": "again"})");
  v1::UpdateTaskOutputResponse updated;
  ASSERT_TRUE(stub_->UpdateTaskOutput(&update_ctx, update, &updated).ok());
  ASSERT_EQ(updated.rows_size(), 1);
  EXPECT_TRUE(updated.rows(0).was_replayed());
  EXPECT_EQ(updated.rows(0).expected_output(), "expected");  // not in the request: kept

  grpc::ClientContext find_ctx;
  v1::FindKickoffForTaskRequest find;
  find.set_task_id("t0");
  v1::FindKickoffForTaskResponse found;
  ASSERT_TRUE(stub_->FindKickoffForTask(&find_ctx, find, &found).ok());
  EXPECT_TRUE(found.found());
  EXPECT_EQ(found.kickoff_id(), "k1");

  grpc::ClientContext list_ctx;
  v1::ListKickoffsRequest list;
  list.set_namespace_(kNs);
  v1::ListKickoffsResponse listed;
  ASSERT_TRUE(stub_->ListKickoffs(&list_ctx, list, &listed).ok());
  ASSERT_EQ(listed.kickoffs_size(), 1);
  EXPECT_EQ(listed.kickoffs(0).task_count(), 2);

  grpc::ClientContext delete_ctx;
  v1::DeleteTaskOutputsRequest del;
  del.set_namespace_(kNs);
  v1::DeleteTaskOutputsResponse deleted;
  ASSERT_TRUE(stub_->DeleteTaskOutputs(&delete_ctx, del, &deleted).ok());
  EXPECT_EQ(deleted.deleted_rows(), 2);

  grpc::ClientContext missing_ctx;
  v1::LoadTaskOutputsRequest missing;
  missing.set_task_id("t0");
  v1::LoadTaskOutputsResponse none;
  ASSERT_TRUE(stub_->LoadTaskOutputs(&missing_ctx, missing, &none).ok());
  EXPECT_FALSE(none.found());
  EXPECT_EQ(none.rows_size(), 0);
}

TEST_F(PersistenceServiceTest, BadInputGetsTheRightCodeNamingTheField) {
  ASSERT_TRUE(Add("k", Row("t", 0)).ok());
  v1::TaskOutputRow bad = Row("u", 1);
  bad.set_output_json("{\"raw\": ");
  grpc::Status s = Add("k", bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("row.output_json: invalid JSON"));

  v1::TaskOutputRow big = Row("u", 1);
  big.set_output_json(absl::StrCat("\"", std::string(5000, 'x'), "\""));
  s = Add("k", big);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("row.output_json: 5002 bytes"));

  grpc::ClientContext ctx;
  v1::UpdateTaskOutputRequest update;
  update.set_kickoff_id("k");
  update.set_task_index(9);
  update.set_was_replayed(true);
  v1::UpdateTaskOutputResponse ignored;
  s = stub_->UpdateTaskOutput(&ctx, update, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("task_index: no row with task_index 9"));

  grpc::ClientContext flow_ctx;
  v1::SaveFlowStateRequest flow;
  flow.set_flow_uuid("f");
  flow.set_method_name("m");
  flow.set_state_json("[1,");
  v1::SaveFlowStateResponse flow_response;
  s = stub_->SaveFlowState(&flow_ctx, flow, &flow_response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("state_json:"));

  // Nothing of the rejected requests was stored.
  EXPECT_EQ(store_->GetStats().task_outputs, 1);
}

TEST_F(PersistenceServiceTest, FlowStatePendingFeedbackAndLongTermMemory) {
  {
    grpc::ClientContext ctx;
    v1::SavePendingFeedbackRequest request;
    request.set_flow_uuid("f");
    request.set_method_name("review");
    request.set_context_json(R"({"flow_id": "f"})");
    request.set_state_json(R"({"x": 1})");
    v1::SavePendingFeedbackResponse response;
    ASSERT_TRUE(stub_->SavePendingFeedback(&ctx, request, &response).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::LoadFlowStateRequest request;
    request.set_flow_uuid("f");
    v1::LoadFlowStateResponse response;
    ASSERT_TRUE(stub_->LoadFlowState(&ctx, request, &response).ok());
    EXPECT_TRUE(response.found());
    EXPECT_EQ(response.method_name(), "review");
    EXPECT_EQ(response.state_json(), R"({"x": 1})");
  }
  {
    grpc::ClientContext ctx;
    v1::LoadPendingFeedbackRequest request;
    request.set_flow_uuid("f");
    v1::LoadPendingFeedbackResponse response;
    ASSERT_TRUE(stub_->LoadPendingFeedback(&ctx, request, &response).ok());
    EXPECT_TRUE(response.found());
    EXPECT_EQ(response.context_json(), R"({"flow_id": "f"})");
  }
  {
    grpc::ClientContext ctx;
    v1::ClearPendingFeedbackRequest request;
    request.set_flow_uuid("f");
    v1::ClearPendingFeedbackResponse response;
    ASSERT_TRUE(stub_->ClearPendingFeedback(&ctx, request, &response).ok());
    EXPECT_TRUE(response.cleared());
  }
  for (double score : {3.0, 1.0}) {
    grpc::ClientContext ctx;
    v1::SaveLongTermMemoryRequest request;
    request.set_namespace_("ltm");
    request.set_task_description("d");
    request.set_metadata_json(absl::StrCat(R"({"s": )", score, "}"));
    request.set_datetime("1700000000.0");
    request.set_score(score);
    v1::SaveLongTermMemoryResponse response;
    ASSERT_TRUE(stub_->SaveLongTermMemory(&ctx, request, &response).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::LoadLongTermMemoryRequest request;
    request.set_namespace_("ltm");
    request.set_task_description("d");
    request.set_latest_n(5);
    v1::LoadLongTermMemoryResponse response;
    ASSERT_TRUE(stub_->LoadLongTermMemory(&ctx, request, &response).ok());
    ASSERT_EQ(response.entries_size(), 2);
    EXPECT_EQ(response.entries(0).score(), 1.0);  // same datetime: score ASC
  }
  {
    grpc::ClientContext ctx;
    v1::BackupRequest request;
    request.set_dest_path("relative.db");
    v1::BackupResponse response;
    grpc::Status s = stub_->Backup(&ctx, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("dest_path:"));
  }
  {
    TempDir backups;
    grpc::ClientContext ctx;
    v1::BackupRequest request;
    request.set_dest_path(backups.path() + "/b.db");
    v1::BackupResponse response;
    ASSERT_TRUE(stub_->Backup(&ctx, request, &response).ok());
    EXPECT_GT(response.bytes(), 0);
    EXPECT_EQ(response.source_path(), store_->path());
  }
}

// ---- HoldLock -----------------------------------------------------------------------------

using LockStream = grpc::ClientReaderWriter<v1::LockRequest, v1::LockResponse>;

struct LockClient {
  grpc::ClientContext ctx;
  std::unique_ptr<LockStream> stream;

  bool Acquire(v1::PersistenceService::Stub* stub, const std::string& name, int64_t wait_ms,
               int64_t lease_ms, const std::string& holder) {
    stream = stub->HoldLock(&ctx);
    v1::LockRequest request;
    request.mutable_acquire()->set_name(name);
    request.mutable_acquire()->set_wait_timeout_ms(wait_ms);
    request.mutable_acquire()->set_lease_ms(lease_ms);
    request.mutable_acquire()->set_holder(holder);
    return stream->Write(request);
  }
  v1::LockResponse Read() {
    v1::LockResponse response;
    if (!stream->Read(&response)) response.Clear();
    return response;
  }
  bool Send(v1::LockRequest::KindCase kind) {
    v1::LockRequest request;
    if (kind == v1::LockRequest::kHeartbeat) request.mutable_heartbeat();
    if (kind == v1::LockRequest::kRelease) request.mutable_release();
    return stream->Write(request);
  }
};

TEST_F(PersistenceServiceTest, LockIsHandedOverInOrderAndReleased) {
  LockClient a;
  ASSERT_TRUE(a.Acquire(stub_.get(), "sqlite:/x.db", 1000, 5000, "A"));
  ASSERT_TRUE(a.Read().has_acquired());

  LockClient b;
  ASSERT_TRUE(b.Acquire(stub_.get(), "sqlite:/x.db", 60000, 5000, "B"));
  v1::LockResponse b_first;
  std::thread reader([&] { b_first = b.Read(); });
  ASSERT_TRUE(Eventually([&] { return locks_->GetStats().waiting == 1; }));
  EXPECT_FALSE(b_first.has_acquired());

  ASSERT_TRUE(a.Send(v1::LockRequest::kRelease));
  EXPECT_TRUE(a.Read().has_released());
  a.stream->WritesDone();
  EXPECT_TRUE(a.stream->Finish().ok());
  reader.join();
  EXPECT_TRUE(b_first.has_acquired());

  // B half-closes instead of sending release: that releases too.
  b.stream->WritesDone();
  EXPECT_TRUE(b.stream->Finish().ok());
  EXPECT_TRUE(Eventually([&] { return locks_->GetStats().held == 0; }));
}

TEST_F(PersistenceServiceTest, WaitTimesOutNamingTheHolder) {
  LockClient a;
  ASSERT_TRUE(a.Acquire(stub_.get(), "n", 1000, 5000, "holder-A"));
  ASSERT_TRUE(a.Read().has_acquired());
  LockClient zero_wait;
  ASSERT_TRUE(zero_wait.Acquire(stub_.get(), "n", 0, 5000, "B"));
  v1::LockResponse r = zero_wait.Read();
  ASSERT_TRUE(r.has_timed_out());
  EXPECT_EQ(r.timed_out().holder(), "holder-A");
  EXPECT_TRUE(zero_wait.stream->Finish().ok());

  LockClient waiter;
  ASSERT_TRUE(waiter.Acquire(stub_.get(), "n", 500, 5000, "C"));
  ASSERT_TRUE(Eventually([&] { return locks_->GetStats().waiting == 1; }));
  clock_.Advance(absl::Milliseconds(600));  // the reaper times the wait out
  r = waiter.Read();
  ASSERT_TRUE(r.has_timed_out());
  EXPECT_EQ(r.timed_out().waited_ms(), 600);
  EXPECT_TRUE(waiter.stream->Finish().ok());
  EXPECT_EQ(locks_->GetStats().held, 1);  // A still holds it
}

TEST_F(PersistenceServiceTest, CancelledHolderFreesTheLock) {
  LockClient a;
  ASSERT_TRUE(a.Acquire(stub_.get(), "n", 1000, 60000, "A"));
  ASSERT_TRUE(a.Read().has_acquired());
  LockClient b;
  ASSERT_TRUE(b.Acquire(stub_.get(), "n", 60000, 5000, "B"));
  ASSERT_TRUE(Eventually([&] { return locks_->GetStats().waiting == 1; }));
  a.ctx.TryCancel();  // as when the client process dies
  EXPECT_TRUE(b.Read().has_acquired());
  EXPECT_EQ(a.stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  b.ctx.TryCancel();
  b.stream->Finish().IgnoreError();
  EXPECT_TRUE(Eventually([&] { return locks_->GetStats().held == 0; }));
}

TEST_F(PersistenceServiceTest, SilentHolderLosesTheLockWhenItsLeaseLapses) {
  LockClient a;
  ASSERT_TRUE(a.Acquire(stub_.get(), "n", 1000, 1000, "A"));
  ASSERT_TRUE(a.Read().has_acquired());
  LockClient b;
  ASSERT_TRUE(b.Acquire(stub_.get(), "n", 60000, 5000, "B"));
  ASSERT_TRUE(Eventually([&] { return locks_->GetStats().waiting == 1; }));

  // Heartbeats keep the lease across several lease lengths.
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Milliseconds(600));
    ASSERT_TRUE(a.Send(v1::LockRequest::kHeartbeat));
    ASSERT_TRUE(Eventually([&] {
      auto locks = locks_->ListLocks();
      return !locks.empty() && locks[0].holder.lease_expiry == clock_.Now() + absl::Seconds(1);
    }));
  }
  EXPECT_EQ(locks_->ListLocks()[0].holder.holder, "A");

  clock_.Advance(absl::Milliseconds(1001));  // silence: the lease lapses
  EXPECT_TRUE(b.Read().has_acquired());
  v1::LockResponse none;
  EXPECT_FALSE(a.stream->Read(&none));
  grpc::Status lapsed = a.stream->Finish();
  EXPECT_EQ(lapsed.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(lapsed.error_message(), HasSubstr("lease lapsed"));
  EXPECT_EQ(locks_->ListLocks()[0].holder.holder, "B");
  b.ctx.TryCancel();
  b.stream->Finish().IgnoreError();
}

TEST_F(PersistenceServiceTest, BadAcquireIsInvalidArgumentNamingTheField) {
  LockClient a;
  ASSERT_TRUE(a.Acquire(stub_.get(), "", 1000, 1000, "A"));
  v1::LockResponse none;
  EXPECT_FALSE(a.stream->Read(&none));
  grpc::Status s = a.stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "acquire.name: must not be empty");

  LockClient b;
  ASSERT_TRUE(b.Acquire(stub_.get(), "n", 1000, 10, "B"));  // lease below the minimum
  EXPECT_FALSE(b.stream->Read(&none));
  s = b.stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("acquire.lease:"));
  EXPECT_EQ(locks_->GetStats().held, 0);
}

}  // namespace
}  // namespace fast_crewai
