#include "server/memory/json.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/status_matchers.h"

namespace fast_crewai::memory {
namespace {

using ::fast_crewai::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

JsonValue Parse(const std::string& text) {
  absl::StatusOr<JsonValue> v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() ? *std::move(v) : JsonValue();
}

// Python's `json.loads(a) == json.loads(b)`.
bool PyEq(const std::string& a, const std::string& b) { return PythonEquals(Parse(a), Parse(b)); }

TEST(JsonTest, ParsesEveryKind) {
  const JsonValue v = Parse(R"( {"n": null, "t": true, "f": false, "i": -42, "d": 2.5e1,
                                 "s": "a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "a": [1, [2]],
                                 "o": {"k": {}}} )");
  ASSERT_EQ(v.kind(), JsonValue::Kind::kObject);
  EXPECT_EQ(v.Find("n")->kind(), JsonValue::Kind::kNull);
  EXPECT_TRUE(v.Find("t")->bool_value());
  EXPECT_FALSE(v.Find("f")->bool_value());
  EXPECT_EQ(v.Find("i")->kind(), JsonValue::Kind::kInt);
  EXPECT_TRUE(v.Find("i")->int_value() == -42);
  EXPECT_EQ(v.Find("d")->kind(), JsonValue::Kind::kDouble);
  EXPECT_EQ(v.Find("d")->double_value(), 25.0);
  EXPECT_EQ(v.Find("s")->string_value(), "a\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(v.Find("a")->array().size(), 2u);
  EXPECT_EQ(v.Find("o")->Find("k")->kind(), JsonValue::Kind::kObject);
  EXPECT_EQ(v.Find("missing"), nullptr);
}

TEST(JsonTest, AcceptsPythonNonFiniteLiterals) {
  EXPECT_TRUE(std::isnan(Parse("NaN").double_value()));
  EXPECT_EQ(Parse("Infinity").double_value(), HUGE_VAL);
  EXPECT_EQ(Parse("-Infinity").double_value(), -HUGE_VAL);
  EXPECT_EQ(Parse("1e400").double_value(), HUGE_VAL);  // float('1e400') == inf
}

TEST(JsonTest, DuplicateKeysLastWins) {
  const JsonValue v = Parse(R"({"a": 1, "b": 2, "a": 3})");
  ASSERT_EQ(v.object().size(), 2u);
  EXPECT_TRUE(v.Find("a")->int_value() == 3);
}

TEST(JsonTest, RejectsMalformedInput) {
  for (const char* bad :
       {"", "{", "{\"a\" 1}", "{\"a\":1,}", "[1 2]", "01", "1.", "-", "tru", "\"\x01\"", "\"\\x\"",
        "\"\\u12\"", "{} x", "nan", "'a'", "\"unterminated"}) {
    EXPECT_THAT(ParseJson(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON")))
        << bad;
  }
  EXPECT_THAT(ParseJson("\"\xC3\x28\""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST(JsonTest, RejectsExcessiveNesting) {
  const std::string deep =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  EXPECT_THAT(ParseJson(deep), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deep")));
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(ParseJson(ok).ok());
}

TEST(JsonTest, PythonNumericEquality) {
  EXPECT_TRUE(PyEq("1", "1.0"));
  EXPECT_TRUE(PyEq("1", "true"));
  EXPECT_TRUE(PyEq("1.0", "true"));
  EXPECT_TRUE(PyEq("0", "false"));
  EXPECT_TRUE(PyEq("0", "-0.0"));
  EXPECT_TRUE(PyEq("1e2", "100"));
  EXPECT_FALSE(PyEq("1", "1.5"));
  EXPECT_FALSE(PyEq("2", "true"));
  EXPECT_FALSE(PyEq("NaN", "NaN"));
  EXPECT_TRUE(PyEq("Infinity", "1e999"));
  EXPECT_FALSE(PyEq("1", "\"1\""));
  EXPECT_FALSE(PyEq("null", "0"));
  EXPECT_FALSE(PyEq("false", "null"));
  // 2**53 + 1 is not equal to the float 2**53 (exact int/float comparison, as in Python).
  EXPECT_FALSE(PyEq("9007199254740993", "9007199254740992.0"));
  EXPECT_TRUE(PyEq("9007199254740992", "9007199254740992.0"));
  // Beyond 64 bits.
  EXPECT_TRUE(PyEq("18446744073709551616", "18446744073709551616.0"));
  // Beyond 128 bits: 2**130 == 1.361129467683754e+39 (exact power of two).
  EXPECT_TRUE(PyEq("1361129467683753853853498429727072845824", "1.361129467683754e+39"));
  EXPECT_FALSE(PyEq("1361129467683753853853498429727072845825", "1.361129467683754e+39"));
  EXPECT_TRUE(
      PyEq("1361129467683753853853498429727072845825", "1361129467683753853853498429727072845825"));
  EXPECT_FALSE(PyEq("-1361129467683753853853498429727072845824",
                    "1361129467683753853853498429727072845824"));
  // The int128 boundary itself.
  EXPECT_TRUE(PyEq("-170141183460469231731687303715884105728", "-1.7014118346046923e+38"));
  EXPECT_TRUE(PyEq("170141183460469231731687303715884105728", "1.7014118346046923e+38"));
}

TEST(JsonTest, PythonContainerEquality) {
  EXPECT_TRUE(
      PyEq(R"({"a": [1, {"b": null}], "c": "x"})", R"({"c": "x", "a": [1.0, {"b": null}]})"));
  EXPECT_FALSE(PyEq(R"({"a": 1})", R"({"a": 1, "b": 2})"));
  EXPECT_FALSE(PyEq("[1, 2]", "[2, 1]"));
  EXPECT_TRUE(PyEq("[true]", "[1]"));
  EXPECT_TRUE(PyEq(R"("\u00e9")", "\"\xC3\xA9\""));
  EXPECT_FALSE(PyEq("{}", "[]"));
  EXPECT_TRUE(PyEq(R"("\ud800")", R"("\ud800")"));  // lone surrogates compare equal
}

TEST(JsonTest, StringArrayRoundTrip) {
  const std::vector<std::string> in = {"plain", "quote\"back\\slash", "new\nline",
                                       "\x01",  "caf\xC3\xA9",        ""};
  const std::string text = WriteJsonStringArray(in);
  absl::StatusOr<std::vector<std::string>> out = ParseJsonStringArray(text);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, in);
  EXPECT_EQ(WriteJsonStringArray({}), "[]");
  EXPECT_THAT(ParseJsonStringArray("[1]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("array of strings")));
  EXPECT_THAT(*ParseJsonStringArray(R"(["a","b"])"), ElementsAre("a", "b"));
}

}  // namespace
}  // namespace fast_crewai::memory
