#include "server/util/string_escape.h"

#include <string>

#include "gtest/gtest.h"

namespace fast_crewai {
namespace {

std::string Escape(absl::string_view s, ControlEscape style) {
  std::string out = "prefix:";
  AppendQuotedEscaped(s, style, &out);
  return out;
}

TEST(StringEscapeTest, PlainTextAndUtf8AreQuotedUnchanged) {
  EXPECT_EQ(Escape("", ControlEscape::kJsonUnicode), "prefix:\"\"");
  EXPECT_EQ(Escape("caf\xC3\xA9 ok", ControlEscape::kHex), "prefix:\"caf\xC3\xA9 ok\"");
}

TEST(StringEscapeTest, ShortEscapesAreTheSameInBothStyles) {
  for (ControlEscape style : {ControlEscape::kJsonUnicode, ControlEscape::kHex}) {
    EXPECT_EQ(Escape("a\"b\\c\nd\re\tf", style), "prefix:\"a\\\"b\\\\c\\nd\\re\\tf\"");
  }
}

TEST(StringEscapeTest, OtherControlCharactersFollowTheStyle) {
  const std::string controls("\x00\x01\x1f\x7f", 4);
  EXPECT_EQ(Escape(controls, ControlEscape::kJsonUnicode),
            "prefix:\"\\u0000\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(Escape(controls, ControlEscape::kHex), "prefix:\"\\x00\\x01\\x1f\\x7f\"");
  // 0x20 (space) and 0x80+ bytes are not control characters.
  EXPECT_EQ(Escape(" \x80", ControlEscape::kHex), "prefix:\" \x80\"");
}

}  // namespace
}  // namespace fast_crewai
