#include "server/memory/json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/memory/utf8.h"
#include "server/util/string_escape.h"

namespace fast_crewai::memory {
namespace {

constexpr double kTwoPow127 = 170141183460469231731687303715884105728.0;

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    if (!ParseValue(0, &value)) return Error();
    SkipSpace();
    if (pos_ != text_.size()) {
      error_ = "unexpected data after the JSON value";
      return Error();
    }
    return value;
  }

 private:
  absl::Status Error() const {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON at offset ", pos_, ": ", error_));
  }

  bool Fail(const char* message) {
    error_ = message;
    return false;
  }

  void SkipSpace() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  bool Consume(absl::string_view literal) {
    if (text_.substr(pos_, literal.size()) == literal) {
      pos_ += literal.size();
      return true;
    }
    return false;
  }

  bool ParseValue(int depth, JsonValue* out) {
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end of input");
    const char c = text_[pos_];
    switch (c) {
      case '{':
        return ParseObject(depth, out);
      case '[':
        return ParseArray(depth, out);
      case '"': {
        std::string s;
        if (!ParseString(&s)) return false;
        *out = JsonValue::String(std::move(s));
        return true;
      }
      case 't':
        if (!Consume("true")) return Fail("invalid literal");
        *out = JsonValue::Bool(true);
        return true;
      case 'f':
        if (!Consume("false")) return Fail("invalid literal");
        *out = JsonValue::Bool(false);
        return true;
      case 'n':
        if (!Consume("null")) return Fail("invalid literal");
        *out = JsonValue::Null();
        return true;
      case 'N':
        if (!Consume("NaN")) return Fail("invalid literal");
        *out = JsonValue::Double(std::nan(""));
        return true;
      case 'I':
        if (!Consume("Infinity")) return Fail("invalid literal");
        *out = JsonValue::Double(HUGE_VAL);
        return true;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
        return Fail("unexpected character");
    }
  }

  bool ParseObject(int depth, JsonValue* out) {
    if (depth >= kMaxJsonDepth) return Fail("nesting too deep");
    ++pos_;  // '{'
    std::vector<std::pair<std::string, JsonValue>> members;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      *out = JsonValue::Object(std::move(members));
      return true;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected a string key");
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      JsonValue value;
      if (!ParseValue(depth + 1, &value)) return false;
      members.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (pos_ >= text_.size()) return Fail("unexpected end of input");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == '}') {
        ++pos_;
        break;
      }
      return Fail("expected ',' or '}'");
    }
    *out = JsonValue::Object(std::move(members));
    return true;
  }

  bool ParseArray(int depth, JsonValue* out) {
    if (depth >= kMaxJsonDepth) return Fail("nesting too deep");
    ++pos_;  // '['
    std::vector<JsonValue> elements;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      *out = JsonValue::Array(std::move(elements));
      return true;
    }
    while (true) {
      JsonValue value;
      if (!ParseValue(depth + 1, &value)) return false;
      elements.push_back(std::move(value));
      SkipSpace();
      if (pos_ >= text_.size()) return Fail("unexpected end of input");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == ']') {
        ++pos_;
        break;
      }
      return Fail("expected ',' or ']'");
    }
    *out = JsonValue::Array(std::move(elements));
    return true;
  }

  bool ParseHex4(char32_t* out) {
    if (pos_ + 4 > text_.size()) return Fail("truncated \\u escape");
    char32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text_[pos_ + k];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<char32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<char32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<char32_t>(c - 'A' + 10);
      } else {
        return Fail("invalid \\u escape");
      }
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size()) return Fail("unterminated string");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= text_.size()) return Fail("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          char32_t cp;
          if (!ParseHex4(&cp)) return false;
          // A high surrogate followed by an escaped low surrogate is one code point; a lone
          // surrogate is kept as is (Python does the same).
          if (cp >= 0xD800 && cp <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
            const size_t save = pos_;
            pos_ += 2;
            char32_t low;
            if (!ParseHex4(&low)) return false;
            if (low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;
            }
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          --pos_;
          return Fail("invalid escape");
      }
    }
  }

  bool ParseNumber(JsonValue* out) {
    const size_t start = pos_;
    bool negative = false;
    if (text_[pos_] == '-') {
      negative = true;
      ++pos_;
      if (Consume("Infinity")) {
        *out = JsonValue::Double(-HUGE_VAL);
        return true;
      }
    }
    if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') {
      return Fail("invalid number");
    }
    const size_t digits_start = pos_;
    if (text_[pos_] == '0') {
      ++pos_;
    } else {
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    }
    const size_t digits_end = pos_;
    bool is_float = false;
    if (pos_ + 1 < text_.size() && text_[pos_] == '.' && text_[pos_ + 1] >= '0' &&
        text_[pos_ + 1] <= '9') {
      is_float = true;
      pos_ += 2;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-')) ++p;
      if (p < text_.size() && text_[p] >= '0' && text_[p] <= '9') {
        is_float = true;
        while (p < text_.size() && text_[p] >= '0' && text_[p] <= '9') ++p;
        pos_ = p;
      }
    }
    if (is_float) {
      const std::string literal(text_.substr(start, pos_ - start));
      *out = JsonValue::Double(std::strtod(literal.c_str(), nullptr));
      return true;
    }
    // An integer: exact within 128 bits, canonical text beyond.
    const absl::string_view digits = text_.substr(digits_start, digits_end - digits_start);
    unsigned __int128 magnitude = 0;
    bool overflow = false;
    const unsigned __int128 limit = (static_cast<unsigned __int128>(1) << 127);
    for (const char d : digits) {
      const unsigned digit = static_cast<unsigned>(d - '0');
      if (magnitude > (limit - digit) / 10) {  // magnitude * 10 + digit > limit
        overflow = true;
        break;
      }
      magnitude = magnitude * 10 + digit;
    }
    if (!overflow && (negative || magnitude < limit)) {
      __int128 v =
          negative ? -static_cast<__int128>(magnitude - 1) - 1 : static_cast<__int128>(magnitude);
      if (negative && magnitude == 0) v = 0;
      *out = JsonValue::Int(v);
      return true;
    }
    *out = JsonValue::BigInt(absl::StrCat(negative ? "-" : "", digits));
    return true;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  const char* error_ = "";
};

// Decimal text of an integral double with |d| >= 2^127.
std::string IntegralDoubleToDecimal(double d) {
  int exponent;
  const double fraction = std::frexp(std::fabs(d), &exponent);  // |d| = fraction * 2^exponent
  uint64_t mantissa = static_cast<uint64_t>(std::ldexp(fraction, 53));
  int shift = exponent - 53;                      // >= 75 here
  std::string digits = std::to_string(mantissa);  // most significant first
  for (; shift > 0; --shift) {
    int carry = 0;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
      const int v = (*it - '0') * 2 + carry;
      *it = static_cast<char>('0' + v % 10);
      carry = v / 10;
    }
    if (carry) digits.insert(digits.begin(), static_cast<char>('0' + carry));
  }
  return d < 0 ? "-" + digits : digits;
}

bool IntEqualsDouble(__int128 i, double d) {
  if (!std::isfinite(d) || d != std::trunc(d)) return false;
  if (d >= kTwoPow127 || d < -kTwoPow127) return false;
  return static_cast<__int128>(d) == i;
}

bool BigIntEqualsDouble(const std::string& big, double d) {
  if (!std::isfinite(d) || d != std::trunc(d)) return false;
  if (d < kTwoPow127 && d >= -kTwoPow127) return false;  // an Int, never a BigInt
  return IntegralDoubleToDecimal(d) == big;
}

bool IsNumeric(JsonValue::Kind k) {
  return k == JsonValue::Kind::kBool || k == JsonValue::Kind::kInt ||
         k == JsonValue::Kind::kBigInt || k == JsonValue::Kind::kDouble;
}

bool NumericEquals(const JsonValue& a, const JsonValue& b) {
  using Kind = JsonValue::Kind;
  // Booleans are the integers 0 and 1.
  auto as_int = [](const JsonValue& v) -> __int128 {
    return v.kind() == Kind::kBool ? (v.bool_value() ? 1 : 0) : v.int_value();
  };
  const bool a_int = a.kind() == Kind::kBool || a.kind() == Kind::kInt;
  const bool b_int = b.kind() == Kind::kBool || b.kind() == Kind::kInt;
  if (a_int && b_int) return as_int(a) == as_int(b);
  if (a.kind() == Kind::kDouble && b.kind() == Kind::kDouble) {
    return a.double_value() == b.double_value();
  }
  if (a_int && b.kind() == Kind::kDouble) return IntEqualsDouble(as_int(a), b.double_value());
  if (b_int && a.kind() == Kind::kDouble) return IntEqualsDouble(as_int(b), a.double_value());
  if (a.kind() == Kind::kBigInt && b.kind() == Kind::kBigInt) {
    return a.string_value() == b.string_value();
  }
  if (a.kind() == Kind::kBigInt && b.kind() == Kind::kDouble) {
    return BigIntEqualsDouble(a.string_value(), b.double_value());
  }
  if (b.kind() == Kind::kBigInt && a.kind() == Kind::kDouble) {
    return BigIntEqualsDouble(b.string_value(), a.double_value());
  }
  return false;  // BigInt vs Int/Bool: a BigInt lies outside the Int range
}

}  // namespace

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Int(__int128 i) {
  JsonValue v;
  v.kind_ = Kind::kInt;
  v.int_ = i;
  return v;
}

JsonValue JsonValue::BigInt(std::string canonical_digits) {
  JsonValue v;
  v.kind_ = Kind::kBigInt;
  v.string_ = std::move(canonical_digits);
  return v;
}

JsonValue JsonValue::Double(double d) {
  JsonValue v;
  v.kind_ = Kind::kDouble;
  v.double_ = d;
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> elements) {
  JsonValue v;
  v.kind_ = Kind::kArray;
  v.array_ = std::move(elements);
  return v;
}

JsonValue JsonValue::Object(std::vector<std::pair<std::string, JsonValue>> members) {
  JsonValue v;
  v.kind_ = Kind::kObject;
  std::stable_sort(members.begin(), members.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  // Keep the last of each run of equal keys.
  for (size_t i = 0; i < members.size(); ++i) {
    if (i + 1 < members.size() && members[i + 1].first == members[i].first) continue;
    v.object_.push_back(std::move(members[i]));
  }
  return v;
}

const JsonValue* JsonValue::Find(absl::string_view key) const {
  if (kind_ != Kind::kObject) return nullptr;
  auto it = std::lower_bound(
      object_.begin(), object_.end(), key,
      [](const auto& member, absl::string_view k) { return absl::string_view(member.first) < k; });
  if (it == object_.end() || it->first != key) return nullptr;
  return &it->second;
}

absl::StatusOr<JsonValue> ParseJson(absl::string_view text) {
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("invalid JSON: not valid UTF-8");
  return Parser(text).ParseDocument();
}

bool PythonEquals(const JsonValue& a, const JsonValue& b) {
  using Kind = JsonValue::Kind;
  if (IsNumeric(a.kind()) && IsNumeric(b.kind())) return NumericEquals(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kNull:
      return true;
    case Kind::kString:
      return a.string_value() == b.string_value();
    case Kind::kArray: {
      if (a.array().size() != b.array().size()) return false;
      for (size_t i = 0; i < a.array().size(); ++i) {
        if (!PythonEquals(a.array()[i], b.array()[i])) return false;
      }
      return true;
    }
    case Kind::kObject: {
      if (a.object().size() != b.object().size()) return false;
      for (size_t i = 0; i < a.object().size(); ++i) {
        if (a.object()[i].first != b.object()[i].first) return false;
        if (!PythonEquals(a.object()[i].second, b.object()[i].second)) return false;
      }
      return true;
    }
    default:
      return false;  // numeric kinds handled above
  }
}

void AppendJsonString(absl::string_view s, std::string* out) {
  AppendQuotedEscaped(s, ControlEscape::kJsonUnicode, out);
}

std::string WriteJsonStringArray(const std::vector<std::string>& strings) {
  std::string out = "[";
  for (size_t i = 0; i < strings.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(strings[i], &out);
  }
  out.push_back(']');
  return out;
}

absl::StatusOr<std::vector<std::string>> ParseJsonStringArray(absl::string_view text) {
  absl::StatusOr<JsonValue> value = ParseJson(text);
  if (!value.ok()) return value.status();
  if (value->kind() != JsonValue::Kind::kArray) {
    return absl::InvalidArgumentError("expected a JSON array of strings");
  }
  std::vector<std::string> out;
  out.reserve(value->array().size());
  for (const JsonValue& element : value->array()) {
    if (element.kind() != JsonValue::Kind::kString) {
      return absl::InvalidArgumentError("expected a JSON array of strings");
    }
    out.push_back(element.string_value());
  }
  return out;
}

}  // namespace fast_crewai::memory
