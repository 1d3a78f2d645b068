#include "server/util/error_details.h"

#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fast_crewai {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::Pair;

TEST(ErrorDetailsTest, SetAndGetRoundTrip) {
  absl::Status status = absl::FailedPreconditionError("records[0].embedding: wrong dimension");
  SetErrorDetail(status, kReasonDetail, "EMBEDDING_DIMENSION_MISMATCH");
  SetErrorDetail(status, kStoredDimDetail, "1536");
  SetErrorDetail(status, kNewDimDetail, "768");
  EXPECT_THAT(GetErrorDetail(status, "reason"),
              Optional(std::string("EMBEDDING_DIMENSION_MISMATCH")));
  EXPECT_THAT(GetErrorDetail(status, "stored-dim"), Optional(std::string("1536")));
  EXPECT_THAT(GetErrorDetail(status, "new_dim"), Optional(std::string("768")));
  EXPECT_EQ(GetErrorDetail(status, "absent"), std::nullopt);
  EXPECT_EQ(status.GetPayload("fast-crewai/reason").value_or(absl::Cord("")),
            absl::Cord("EMBEDDING_DIMENSION_MISMATCH"));
  // The code and message are untouched.
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "records[0].embedding: wrong dimension");
}

TEST(ErrorDetailsTest, KeysAreCanonicalized) {
  EXPECT_EQ(CanonicalErrorDetailKey("Stored_Dim"), "stored-dim");
  EXPECT_EQ(CanonicalErrorDetailKey("a.b c"), "a-b-c");
  absl::Status status = absl::InvalidArgumentError("x");
  SetErrorDetail(status, "Stored_Dim", "3");
  EXPECT_THAT(GetErrorDetails(status), ElementsAre(Pair("stored-dim", "3")));
}

TEST(ErrorDetailsTest, LaterValueReplacesEarlierOne) {
  absl::Status status = WithErrorDetail(absl::NotFoundError("x"), kReasonDetail, "A");
  SetErrorDetail(status, kReasonDetail, "B");
  EXPECT_THAT(GetErrorDetails(status), ElementsAre(Pair("reason", "B")));
}

TEST(ErrorDetailsTest, OkStatusCarriesNothing) {
  absl::Status status = absl::OkStatus();
  SetErrorDetail(status, kReasonDetail, "X");
  EXPECT_TRUE(status.ok());
  EXPECT_THAT(GetErrorDetails(status), IsEmpty());
}

TEST(ErrorDetailsTest, ListsOnlyOurPayloadsSortedByKey) {
  absl::Status status = absl::InternalError("x");
  status.SetPayload("type.googleapis.com/other", absl::Cord("ignored"));
  SetErrorDetail(status, "zeta", "1");
  SetErrorDetail(status, "alpha", "2");
  EXPECT_THAT(GetErrorDetails(status), ElementsAre(Pair("alpha", "2"), Pair("zeta", "1")));
}

}  // namespace
}  // namespace fast_crewai
