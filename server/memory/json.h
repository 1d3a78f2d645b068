// File: json.h
//
// A small JSON reader for record metadata and filters, with Python's equality semantics.
//
// CrewAI stores `MemoryRecord.metadata` as `json.dumps(metadata)` and filters with
// `record.metadata.get(k) == v` on `json.loads` results. To filter exactly as CrewAI does,
// values are parsed the way Python's `json` module parses them and compared with Python's
// `==`:
//   * numbers compare by mathematical value across int and float (1 == 1.0), integers of
//     any size compare exactly; booleans are the integers 0 and 1 (true == 1 == 1.0);
//     NaN equals nothing; -0.0 == 0;
//   * strings compare by content after unescaping ("\u00e9" == "é");
//   * arrays element-wise, objects by key set and values (order does not matter);
//   * duplicate object keys: the last one wins, as in json.loads;
//   * NaN, Infinity and -Infinity literals are accepted, as json.loads accepts them.
// The original text is what the store keeps and returns; JsonValue is only for filtering.
//
// Example:
//   absl::StatusOr<JsonValue> v = ParseJson(R"({"a": 1, "b": [true, null]})");
//   const JsonValue* a = v->Find("a");
//   PythonEquals(*a, *ParseJson("1.0"));  // true
#ifndef FAST_CREWAI_SERVER_MEMORY_JSON_H_
#define FAST_CREWAI_SERVER_MEMORY_JSON_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fast_crewai::memory {

class JsonValue {
 public:
  enum class Kind {
    kNull,
    kBool,
    kInt,     // integer within the signed 128-bit range: int_value()
    kBigInt,  // integer beyond it: canonical decimal text ("-" and digits) in string_value()
    kDouble,  // a JSON number with a fraction or exponent, or NaN/Infinity
    kString,
    kArray,
    kObject,
  };

  JsonValue() = default;

  Kind kind() const { return kind_; }
  bool bool_value() const { return bool_; }
  __int128 int_value() const { return int_; }
  double double_value() const { return double_; }
  const std::string& string_value() const { return string_; }
  const std::vector<JsonValue>& array() const { return array_; }
  // Sorted by key, keys unique.
  const std::vector<std::pair<std::string, JsonValue>>& object() const { return object_; }

  // The value under `key` of an object, or nullptr when absent or not an object.
  const JsonValue* Find(absl::string_view key) const;

  static JsonValue Null() { return JsonValue(); }
  static JsonValue Bool(bool b);
  static JsonValue Int(__int128 i);
  static JsonValue BigInt(std::string canonical_digits);
  static JsonValue Double(double d);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> elements);
  // Duplicate keys: the last one wins.
  static JsonValue Object(std::vector<std::pair<std::string, JsonValue>> members);

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  __int128 int_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> object_;
};

// Maximum nesting of arrays and objects accepted by ParseJson.
inline constexpr int kMaxJsonDepth = 128;

// Parses one JSON document. Returns INVALID_ARGUMENT with a message such as
// "invalid JSON at offset 7: expected ':'" when `text` is not JSON (or not UTF-8, or nests
// deeper than kMaxJsonDepth).
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

// Python's `a == b` for the decoded values (see the file comment).
bool PythonEquals(const JsonValue& a, const JsonValue& b);

// Appends `s` as a JSON string literal (with quotes) to `out`. Non-ASCII text is written
// as UTF-8, control characters as \u escapes.
void AppendJsonString(absl::string_view s, std::string* out);

// `["a","b"]` for a list of strings.
std::string WriteJsonStringArray(const std::vector<std::string>& strings);

// Parses a JSON array of strings. Returns INVALID_ARGUMENT for anything else.
absl::StatusOr<std::vector<std::string>> ParseJsonStringArray(absl::string_view text);

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_JSON_H_
