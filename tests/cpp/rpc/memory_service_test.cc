// MemoryServiceImpl through an in-process channel, on the write paths: small writes are
// queued from the gRPC thread and finished by their group's leader (no executor hop), large
// writes and deletes by filter go through the executor; both give the same answers, errors
// name the field, and a dimension mismatch carries its trailing metadata either way.
#include "server/rpc/memory_service.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "fast_crewai/v1/memory.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/memory/memory_store.h"
#include "server/util/executor.h"
#include "tests/cpp/testing/in_process_server.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::StartInProcess;
using ::fast_crewai::testing::StopInProcess;
using ::fast_crewai::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kNs[] = "lancedb:/tmp/memory";

// Counts the closures the adapter hands to its executor, and runs them on a pool.
class CountingExecutor final : public Executor {
 public:
  void Schedule(absl::AnyInvocable<void()> fn) override {
    scheduled_.fetch_add(1);
    pool_.Schedule(std::move(fn));
  }
  int scheduled() const { return scheduled_.load(); }
  void Shutdown() { pool_.Shutdown(); }

 private:
  std::atomic<int> scheduled_{0};
  ThreadPoolExecutor pool_{2, "test-memory"};
};

v1::MemoryRecord Record(const std::string& id, int dim, float value = 0.5f) {
  v1::MemoryRecord r;
  r.set_id(id);
  r.set_content("content of " + id);
  r.set_scope("/crew/a");
  r.set_metadata_json(R"({"k": 1})");
  r.set_importance(0.5);
  r.set_created_at("2026-01-01T00:00:00");
  r.set_created_at_micros(1);
  r.set_last_accessed("2026-01-01T00:00:00");
  r.set_last_accessed_micros(1);
  std::vector<float> values(static_cast<size_t>(dim), value);
  std::string packed(values.size() * sizeof(float), '\0');
  std::memcpy(packed.data(), values.data(), packed.size());
  r.set_embedding_f32(std::move(packed));
  return r;
}

class MemoryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::MemoryStoreOptions options;
    options.data_dir = dir_.path();
    options.sync = persistence::SqliteSync::kNormal;
    options.write_executor = &executor_;
    auto store = memory::MemoryStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    service_ = std::make_unique<MemoryServiceImpl>(store_.get(), &executor_);
    ASSERT_NO_FATAL_FAILURE(StartInProcess(service_.get(), &server_));
    stub_ = v1::MemoryService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    StopInProcess(server_.get());
    service_.reset();
    executor_.Shutdown();
    ASSERT_OK(store_->Close());
  }

  grpc::Status Save(std::vector<v1::MemoryRecord> records, v1::SaveRecordsResponse* response,
                    std::multimap<std::string, std::string>* trailers = nullptr) {
    grpc::ClientContext ctx;
    v1::SaveRecordsRequest request;
    request.set_namespace_(kNs);
    for (v1::MemoryRecord& r : records) *request.add_records() = std::move(r);
    grpc::Status status = stub_->SaveRecords(&ctx, request, response);
    if (trailers != nullptr) {
      for (const auto& [key, value] : ctx.GetServerTrailingMetadata()) {
        trailers->emplace(std::string(key.data(), key.size()),
                          std::string(value.data(), value.size()));
      }
    }
    return status;
  }
  int64_t Count() {
    grpc::ClientContext ctx;
    v1::CountRequest request;
    request.set_namespace_(kNs);
    v1::CountResponse response;
    EXPECT_TRUE(stub_->Count(&ctx, request, &response).ok());
    return response.count();
  }
  std::string Content(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetRecordRequest request;
    request.set_namespace_(kNs);
    request.set_id(id);
    v1::GetRecordResponse response;
    EXPECT_TRUE(stub_->GetRecord(&ctx, request, &response).ok());
    return response.found() ? response.record().content() : "<absent>";
  }

  TempDir dir_;
  CountingExecutor executor_;
  std::unique_ptr<memory::MemoryStore> store_;
  std::unique_ptr<MemoryServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MemoryService::Stub> stub_;
};

TEST_F(MemoryServiceTest, SmallWritesNeedNoExecutorAndAreVisibleOnceAcknowledged) {
  v1::SaveRecordsResponse saved;
  ASSERT_TRUE(Save({Record("a", 1536), Record("b", 1536)}, &saved).ok());
  EXPECT_EQ(saved.vector_dim(), 1536);

  grpc::ClientContext update_ctx;
  v1::UpdateRecordRequest update;
  update.set_namespace_(kNs);
  *update.mutable_record() = Record("b", 1536);
  update.mutable_record()->set_content("updated");
  v1::UpdateRecordResponse updated;
  ASSERT_TRUE(stub_->UpdateRecord(&update_ctx, update, &updated).ok());

  grpc::ClientContext delete_ctx;
  v1::DeleteRecordsRequest del;
  del.set_namespace_(kNs);
  del.add_record_ids("a");
  del.add_record_ids("missing");
  v1::DeleteRecordsResponse deleted;
  ASSERT_TRUE(stub_->DeleteRecords(&delete_ctx, del, &deleted).ok());
  EXPECT_EQ(deleted.deleted(), 1);
  // The three writes were queued and led from the gRPC thread: nothing went to the executor.
  EXPECT_EQ(executor_.scheduled(), 0);

  EXPECT_EQ(Content("a"), "<absent>");
  EXPECT_EQ(Content("b"), "updated");
  EXPECT_EQ(Count(), 1);
}

TEST_F(MemoryServiceTest, LargeSavesAndDeletesByFilterRunOnTheExecutor) {
  // 50 records of 1536 dimensions: about 310 KB, above kInlineWriteBytes.
  std::vector<v1::MemoryRecord> records;
  for (int i = 0; i < 50; ++i) records.push_back(Record(absl::StrCat("r", i), 1536));
  v1::SaveRecordsRequest probe;
  for (const v1::MemoryRecord& r : records) *probe.add_records() = r;
  ASSERT_GT(probe.ByteSizeLong(), MemoryServiceImpl::kInlineWriteBytes);
  v1::SaveRecordsResponse saved;
  ASSERT_TRUE(Save(records, &saved).ok());
  EXPECT_EQ(saved.vector_dim(), 1536);
  EXPECT_EQ(executor_.scheduled(), 1);

  grpc::ClientContext delete_ctx;
  v1::DeleteRecordsRequest del;
  del.set_namespace_(kNs);
  del.mutable_filter()->set_scope_prefix("/crew");
  v1::DeleteRecordsResponse deleted;
  ASSERT_TRUE(stub_->DeleteRecords(&delete_ctx, del, &deleted).ok());
  EXPECT_EQ(deleted.deleted(), 50);
  EXPECT_EQ(executor_.scheduled(), 2);
}

TEST_F(MemoryServiceTest, BadSmallWritesFailWithTheFieldOnEitherSideOfTheCore) {
  v1::SaveRecordsResponse saved;
  // Rejected by the adapter's conversion (a partial float).
  v1::MemoryRecord torn = Record("t", 4);
  torn.mutable_embedding_f32()->pop_back();
  grpc::Status status = Save({Record("ok", 4), torn}, &saved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("records[1].embedding_f32"));
  // Rejected by the core's validation.
  v1::MemoryRecord no_slash = Record("s", 4);
  no_slash.set_scope("crew");
  status = Save({Record("ok", 4), no_slash}, &saved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("records[1].scope"));
  grpc::ClientContext update_ctx;
  v1::UpdateRecordRequest update;
  update.set_namespace_(kNs);
  *update.mutable_record() = Record("", 4);
  v1::UpdateRecordResponse updated;
  status = stub_->UpdateRecord(&update_ctx, update, &updated);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("record.id"));
  EXPECT_EQ(Count(), 0);
  EXPECT_EQ(executor_.scheduled(), 1);  // only the Count
}

TEST_F(MemoryServiceTest, DimensionMismatchCarriesItsMetadataOnTheInlineAndExecutorPaths) {
  v1::SaveRecordsResponse saved;
  ASSERT_TRUE(Save({Record("a", 8)}, &saved).ok());
  std::multimap<std::string, std::string> small_trailers;
  grpc::Status small = Save({Record("b", 16)}, &saved, &small_trailers);
  std::vector<v1::MemoryRecord> many;
  for (int i = 0; i < 50; ++i) many.push_back(Record(absl::StrCat("m", i), 1536));
  std::multimap<std::string, std::string> large_trailers;
  grpc::Status large = Save(many, &saved, &large_trailers);
  EXPECT_EQ(executor_.scheduled(), 1);  // the large one
  for (auto* trailers : {&small_trailers, &large_trailers}) {
    EXPECT_EQ(trailers->count("fast-crewai-reason"), 1u);
    EXPECT_EQ(trailers->find("fast-crewai-reason")->second, "EMBEDDING_DIMENSION_MISMATCH");
    EXPECT_EQ(trailers->find("fast-crewai-stored-dim")->second, "8");
  }
  EXPECT_EQ(small.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(small_trailers.find("fast-crewai-new-dim")->second, "16");
  EXPECT_EQ(large.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(large_trailers.find("fast-crewai-new-dim")->second, "1536");
  EXPECT_EQ(Count(), 1);
}

}  // namespace
}  // namespace fast_crewai
