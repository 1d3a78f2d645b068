// File: json_check.h
//
// ValidateJsonText: does a text parse as JSON the way Python's json.loads() parses it? The
// persistence store keeps the JSON texts its clients produced (json.dumps output: CrewAI's
// task outputs and inputs, flow states, feedback contexts, long-term-memory metadata) byte for
// byte and hands them back to json.loads(), so it checks exactly that they will load again.
//
// Accepted, as by json.loads (strict=True, its default): RFC 8259 JSON, any value at the top
// level, plus the constants NaN, Infinity and -Infinity (json.dumps writes them for float
// nan/inf), \uXXXX escapes including unpaired surrogates, and duplicate object keys. Rejected:
// raw control characters (U+0000..U+001F) inside strings, trailing commas, single quotes,
// comments, leading zeros, text after the value other than whitespace, invalid UTF-8.
//
// Example:
//   RETURN_IF_ERROR(ValidateJsonText(row.output_json, "row.output_json"));
//   // -> INVALID_ARGUMENT "row.output_json: invalid JSON at byte 12: expected ':'"
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_JSON_CHECK_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_JSON_CHECK_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fast_crewai::persistence {

// Deepest nesting of arrays and objects accepted: every value Python's json.dumps writes and
// json.loads reads with the default recursion limit (both fail somewhat below 1000 levels), so
// nothing CrewAI's own SQLite file would keep is refused. The check keeps its own stack.
inline constexpr size_t kMaxJsonDepth = 1000;

// Returns OK when `text` is one JSON value (see the file comment), else INVALID_ARGUMENT
// "<field>: invalid JSON at byte <offset>: <what was expected>". An empty text is invalid.
absl::Status ValidateJsonText(absl::string_view text, absl::string_view field);

// Same check; additionally requires the value to be a JSON object ("<field>: expected a JSON
// object, got an array").
absl::Status ValidateJsonObjectText(absl::string_view text, absl::string_view field);

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_JSON_CHECK_H_
