// File: string_escape.h
//
// One quoted-string escaper for the daemon's text outputs: JSON string literals
// (server/memory/json.h) and logfmt values (server/util/logging.h) were each escaping `"`, `\`,
// \n, \r, \t and control characters with their own copy of the same loop. They differ only in
// how a remaining control character (below 0x20, or 0x7F) is written, which is the style below.
// Every other byte, including UTF-8 sequences, is copied unchanged.
//
// Example:
//   std::string out;
//   AppendQuotedEscaped("a\"b\x01", ControlEscape::kJsonUnicode, &out);  // "a\"b\u0001"
//   AppendQuotedEscaped("a\"b\x01", ControlEscape::kHex, &out);          // "a\"b\x01"
//
// Thread-safety: a pure function.
#ifndef FAST_CREWAI_SERVER_UTIL_STRING_ESCAPE_H_
#define FAST_CREWAI_SERVER_UTIL_STRING_ESCAPE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace fast_crewai {

// How a control character without a short escape is written.
enum class ControlEscape {
  kJsonUnicode,  // \u00XX (JSON)
  kHex,          // \xXX (logfmt, C-like)
};

// Appends `s` in double quotes to `out`, with `"` and `\` backslash-escaped, newline, carriage
// return and tab as \n \r \t, and any other byte below 0x20 or equal to 0x7F in `style`.
void AppendQuotedEscaped(absl::string_view s, ControlEscape style, std::string* out);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_STRING_ESCAPE_H_
