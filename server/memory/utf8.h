// File: utf8.h
//
// Minimal UTF-8 helpers for validation, the JSON parser and the BM25 tokenizer.
#ifndef FAST_CREWAI_SERVER_MEMORY_UTF8_H_
#define FAST_CREWAI_SERVER_MEMORY_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace fast_crewai::memory {

// Returns true when `text` is well-formed UTF-8 (no overlong forms, no surrogates, no code
// points above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// Returns true when `text` contains a C0 control character (U+0000..U+001F) or DEL (U+007F).
bool HasControlChar(absl::string_view text);

// Decodes the code point starting at `text[*pos]` and advances `*pos` past it.
// REQUIRES: `text` is valid UTF-8 and *pos < text.size().
char32_t DecodeUtf8(absl::string_view text, size_t* pos);

// Appends the UTF-8 encoding of `cp` to `out`. Surrogate code points (which only a JSON
// "\udXXX" escape without its pair can produce) are encoded as three bytes, as Python keeps
// them in a str, so equal escapes still compare equal.
void AppendUtf8(char32_t cp, std::string* out);

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_UTF8_H_
