// ValidateJsonText accepts what Python's json.loads accepts (the store hands the texts back
// to it) and rejects the rest with the field and byte offset.
#include "server/persistence/json_check.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/status_matchers.h"

namespace fast_crewai::persistence {
namespace {

using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::testing::HasSubstr;

TEST(JsonCheckTest, AcceptsWhatJsonLoadsAccepts) {
  for (const char* text : {
           R"({})",
           R"([])",
           R"("x")",
           "0",
           "-0",
           "1.5e-3",
           "-12E+4",
           "true",
           "false",
           "null",
           "NaN",
           "Infinity",
           "-Infinity",
           R"([NaN, -Infinity, 1])",
           R"( {"a": [1, {"b": null}], "c": "\u00e9\ud800\n\"", "a": 2} )",
           "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
           " \t\r\n[1]\n",
           R"({"description": "x", "summary": null, "messages": [{"role": "user"}]})",
       }) {
    EXPECT_THAT(ValidateJsonText(text, "f"), IsOk()) << text;
  }
}

TEST(JsonCheckTest, RejectsWhatJsonLoadsRejects) {
  for (const char* text : {
           "",
           " ",
           "{",
           "[1,]",
           R"({"a":1,})",
           "{'a': 1}",
           "01",
           "1.",
           ".5",
           "+1",
           "-",
           "tru",
           "nan",
           "inf",
           "[1] x",
           R"({"a" 1})",
           R"({1: 2})",
           "\"a\tb\"",
           R"("\x")",
           R"("\u12G4")",
           "\"unterminated",
           "/* c */ 1",
           "\"\xc3\x28\"",
           "\"\xed\xa0\x80\"",
       }) {
    EXPECT_THAT(
        ValidateJsonText(text, "row.output_json"),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row.output_json: invalid JSON")))
        << text;
  }
}

TEST(JsonCheckTest, MessageNamesFieldAndOffset) {
  EXPECT_THAT(ValidateJsonText(R"({"a" 1})", "state_json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "state_json: invalid JSON at byte 5: expected ':'"));
}

TEST(JsonCheckTest, DepthLimitWithoutRecursion) {
  std::string ok(kMaxJsonDepth, '[');
  ok += std::string(kMaxJsonDepth, ']');
  EXPECT_THAT(ValidateJsonText(ok, "f"), IsOk());
  std::string deep(200000, '[');
  deep += std::string(200000, ']');
  EXPECT_THAT(ValidateJsonText(deep, "f"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested too deeply")));
}

TEST(JsonCheckTest, ObjectCheck) {
  EXPECT_THAT(ValidateJsonObjectText(R"({"k": 1})", "context_json"), IsOk());
  EXPECT_THAT(ValidateJsonObjectText("[1]", "context_json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "context_json: expected a JSON object, got an array"));
}

}  // namespace
}  // namespace fast_crewai::persistence
