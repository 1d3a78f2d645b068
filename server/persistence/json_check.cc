#include "server/persistence/json_check.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fast_crewai::persistence {
namespace {

// A single-pass, non-recursive checker: a stack of open containers and a cursor.
class Checker {
 public:
  explicit Checker(absl::string_view text) : text_(text) {}

  // On success returns the first character of the top-level value ('{', '[', '"', ...).
  // On failure `error_` holds what was expected and pos_ where.
  bool Run(char* first) {
    SkipWhitespace();
    if (pos_ < text_.size()) *first = text_[pos_];
    if (!Value()) return false;
    SkipWhitespace();
    if (pos_ != text_.size()) return Fail("unexpected text after the value");
    return true;
  }

  size_t pos() const { return pos_; }
  const std::string& error() const { return error_; }

 private:
  enum class Container : uint8_t { kObject, kArray };

  bool Fail(absl::string_view what) {
    error_ = std::string(what);
    return false;
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd()) {
      const char c = Peek();
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  bool Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return Fail("expected a value");
    pos_ += word.size();
    return true;
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  bool Number() {
    if (Peek() == '-') ++pos_;
    if (AtEnd() || !IsDigit(Peek())) return Fail("expected a digit");
    if (Peek() == '0') {
      ++pos_;
    } else {
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && Peek() == '.') {
      ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return Fail("expected a digit after '.'");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return Fail("expected a digit in the exponent");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    return true;
  }

  static bool IsHex(char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  // One UTF-8 encoded code point starting at pos_ (a byte >= 0x80).
  bool Utf8Sequence() {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text_[pos_ + i]); };
    const unsigned char lead = byte(0);
    size_t length = 0;
    uint32_t min = 0;
    uint32_t cp = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2, min = 0x80, cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3, min = 0x800, cp = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4, min = 0x10000, cp = lead & 0x07;
    } else {
      return Fail("invalid UTF-8");
    }
    if (pos_ + length > text_.size()) return Fail("invalid UTF-8");
    for (size_t i = 1; i < length; ++i) {
      if ((byte(i) & 0xC0) != 0x80) return Fail("invalid UTF-8");
      cp = (cp << 6) | (byte(i) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return Fail("invalid UTF-8");
    }
    pos_ += length;
    return true;
  }

  // A string starting at the opening quote.
  bool String() {
    ++pos_;  // '"'
    while (true) {
      if (AtEnd()) return Fail("unterminated string");
      const auto c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in a string (escape it)");
      if (c == '\\') {
        ++pos_;
        if (AtEnd()) return Fail("unterminated string");
        const char e = Peek();
        if (e == 'u') {
          ++pos_;
          for (int i = 0; i < 4; ++i) {
            if (AtEnd() || !IsHex(Peek())) return Fail("invalid \\u escape");
            ++pos_;
          }
          continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
            e != 't') {
          return Fail("invalid escape");
        }
        ++pos_;
        continue;
      }
      if (c >= 0x80) {
        if (!Utf8Sequence()) return false;
        continue;
      }
      ++pos_;
    }
  }

  // Expects an object key, then ':' (whitespace around both).
  bool KeyAndColon() {
    SkipWhitespace();
    if (AtEnd() || Peek() != '"') return Fail("expected a string key");
    if (!String()) return false;
    SkipWhitespace();
    if (AtEnd() || Peek() != ':') return Fail("expected ':'");
    ++pos_;
    return true;
  }

  // Parses one value, iteratively for containers.
  bool Value() {
    std::vector<Container> stack;
    while (true) {
      // ---- expect a value at pos_ ----
      SkipWhitespace();
      if (AtEnd()) return Fail("expected a value");
      switch (Peek()) {
        case '{':
          ++pos_;
          if (stack.size() >= kMaxJsonDepth) return Fail("nested too deeply");
          SkipWhitespace();
          if (!AtEnd() && Peek() == '}') {
            ++pos_;
            break;  // an empty object is a complete value
          }
          stack.push_back(Container::kObject);
          if (!KeyAndColon()) return false;
          continue;  // the member's value
        case '[':
          ++pos_;
          if (stack.size() >= kMaxJsonDepth) return Fail("nested too deeply");
          SkipWhitespace();
          if (!AtEnd() && Peek() == ']') {
            ++pos_;
            break;  // an empty array is a complete value
          }
          stack.push_back(Container::kArray);
          continue;  // the first element
        case '"':
          if (!String()) return false;
          break;
        case 't':
          if (!Literal("true")) return false;
          break;
        case 'f':
          if (!Literal("false")) return false;
          break;
        case 'n':
          if (!Literal("null")) return false;
          break;
        case 'N':
          if (!Literal("NaN")) return false;
          break;
        case 'I':
          if (!Literal("Infinity")) return false;
          break;
        case '-':
          if (text_.substr(pos_, 9) == "-Infinity") {
            pos_ += 9;
          } else if (!Number()) {
            return false;
          }
          break;
        default:
          if (!IsDigit(Peek())) return Fail("expected a value");
          if (!Number()) return false;
          break;
      }
      // ---- a value just ended: close containers as far as possible ----
      while (true) {
        if (stack.empty()) return true;
        SkipWhitespace();
        if (AtEnd()) {
          return Fail(stack.back() == Container::kObject ? "expected ',' or '}'"
                                                         : "expected ',' or ']'");
        }
        const char c = Peek();
        if (stack.back() == Container::kObject) {
          if (c == '}') {
            ++pos_;
            stack.pop_back();
            continue;
          }
          if (c != ',') return Fail("expected ',' or '}'");
          ++pos_;
          if (!KeyAndColon()) return false;
          break;  // the next member's value
        }
        if (c == ']') {
          ++pos_;
          stack.pop_back();
          continue;
        }
        if (c != ',') return Fail("expected ',' or ']'");
        ++pos_;
        break;  // the next element
      }
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

absl::Status Check(absl::string_view text, absl::string_view field, char* first) {
  Checker checker(text);
  if (checker.Run(first)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": invalid JSON at byte ", checker.pos(), ": ", checker.error()));
}

const char* KindName(char first) {
  switch (first) {
    case '[':
      return "an array";
    case '"':
      return "a string";
    case 't':
    case 'f':
      return "a boolean";
    case 'n':
      return "null";
    default:
      return "a number";
  }
}

}  // namespace

absl::Status ValidateJsonText(absl::string_view text, absl::string_view field) {
  char first = 0;
  return Check(text, field, &first);
}

absl::Status ValidateJsonObjectText(absl::string_view text, absl::string_view field) {
  char first = 0;
  absl::Status status = Check(text, field, &first);
  if (!status.ok()) return status;
  if (first != '{') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected a JSON object, got ", KindName(first)));
  }
  return absl::OkStatus();
}

}  // namespace fast_crewai::persistence
