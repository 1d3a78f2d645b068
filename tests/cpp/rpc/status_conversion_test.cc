#include "server/rpc/status_conversion.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "fast_crewai/v1/server.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/util/error_details.h"

namespace fast_crewai {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;

TEST(ToGrpcStatusTest, MapsEveryCanonicalCode) {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), "field: problem");
    const grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
    EXPECT_EQ(converted.error_message(), "field: problem");
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ToGrpcStatusTest, TruncatesLongMessagesTo1024Bytes) {
  const std::string exact(kMaxErrorMessageBytes, 'a');
  EXPECT_EQ(ToGrpcStatus(absl::InternalError(exact)).error_message(), exact);

  const std::string long_message = "records[0].text: " + std::string(5000, 'b');
  const std::string converted = ToGrpcStatus(absl::InternalError(long_message)).error_message();
  EXPECT_EQ(converted.size(), kMaxErrorMessageBytes);
  EXPECT_EQ(converted.substr(0, 17), "records[0].text: ");
  EXPECT_EQ(converted.substr(converted.size() - kTruncationMarker.size()),
            std::string(kTruncationMarker));
}

TEST(TruncateForClientTest, NeverSplitsAUtf8Character) {
  // "é" is two bytes: at every budget the cut must back up to a character boundary.
  std::string text;
  for (int i = 0; i < 100; ++i) text += "\xc3\xa9";  // é
  for (size_t max = kTruncationMarker.size() + 1; max < kTruncationMarker.size() + 8; ++max) {
    const std::string cut = TruncateForClient(text, max);
    ASSERT_LE(cut.size(), max);
    const std::string body = cut.substr(0, cut.size() - kTruncationMarker.size());
    EXPECT_EQ(body.size() % 2, 0u) << "split a character at max=" << max;
  }
  EXPECT_EQ(TruncateForClient("short", 1024), "short");
}

TEST(ErrorDetailsAsMetadataTest, EveryDetailBecomesAFastCrewaiKey) {
  absl::Status status = absl::FailedPreconditionError("records[0].embedding: dimension");
  SetErrorDetail(status, kReasonDetail, "EMBEDDING_DIMENSION_MISMATCH");
  SetErrorDetail(status, kStoredDimDetail, "1536");
  SetErrorDetail(status, "new_dim", "768");
  SetErrorDetail(status, "custom", "v");
  EXPECT_THAT(ErrorDetailsAsMetadata(status),
              ElementsAre(Pair("fast-crewai-custom", "v"), Pair("fast-crewai-new-dim", "768"),
                          Pair("fast-crewai-reason", "EMBEDDING_DIMENSION_MISMATCH"),
                          Pair("fast-crewai-stored-dim", "1536")));
  EXPECT_THAT(ErrorDetailsAsMetadata(absl::OkStatus()), IsEmpty());
  EXPECT_THAT(ErrorDetailsAsMetadata(absl::InternalError("no details")), IsEmpty());
}

TEST(ErrorDetailsAsMetadataTest, ValuesAreTruncatedAndMadePrintable) {
  absl::Status status = absl::InternalError("x");
  SetErrorDetail(status, "long", std::string(3000, 'z'));
  SetErrorDetail(status, "binary", std::string("a\nb\x01\xff", 5));
  const auto metadata = ErrorDetailsAsMetadata(status);
  ASSERT_THAT(metadata, SizeIs(2));
  EXPECT_EQ(metadata[0], std::make_pair(std::string("fast-crewai-binary"), std::string("a?b??")));
  EXPECT_EQ(metadata[1].first, "fast-crewai-long");
  EXPECT_EQ(metadata[1].second.size(), kMaxErrorMessageBytes);
}

// A service whose only RPC fails with whatever status the test sets, through FinishWithStatus.
class FailingService final : public v1::ServerService::CallbackService {
 public:
  explicit FailingService(absl::Status status) : status_(std::move(status)) {}
  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const v1::GetServerInfoRequest*,
                                          v1::GetServerInfoResponse*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    FinishWithStatus(context, reactor, status_);
    return reactor;
  }

 private:
  const absl::Status status_;
};

TEST(FinishWithStatusTest, ClientSeesCodeMessageAndTrailingMetadata) {
  absl::Status status =
      absl::FailedPreconditionError("records[3].embedding: dimension 768, stored 1536");
  SetErrorDetail(status, kReasonDetail, "EMBEDDING_DIMENSION_MISMATCH");
  SetErrorDetail(status, kStoredDimDetail, "1536");
  SetErrorDetail(status, kNewDimDetail, "768");
  FailingService service(status);
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::ServerService::NewStub(server->InProcessChannel(grpc::ChannelArguments()));

  grpc::ClientContext context;
  v1::GetServerInfoResponse response;
  const grpc::Status result = stub->GetServerInfo(&context, {}, &response);
  EXPECT_EQ(result.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(result.error_message(), "records[3].embedding: dimension 768, stored 1536");
  const auto& trailers = context.GetServerTrailingMetadata();
  auto value = [&trailers](const std::string& key) {
    auto it = trailers.find(key);
    return it == trailers.end() ? std::string("<absent>")
                                : std::string(it->second.data(), it->second.size());
  };
  EXPECT_EQ(value("fast-crewai-reason"), "EMBEDDING_DIMENSION_MISMATCH");
  EXPECT_EQ(value("fast-crewai-stored-dim"), "1536");
  EXPECT_EQ(value("fast-crewai-new-dim"), "768");
  server->Shutdown();
}

}  // namespace
}  // namespace fast_crewai
