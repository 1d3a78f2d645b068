// File: validation.h
//
// Argument checks shared by the persistence core's stores. Every error is INVALID_ARGUMENT or
// RESOURCE_EXHAUSTED and its message starts with the field path given by the caller:
//   "kickoff_id: must not be empty"
//   "row.output_json: 20000000 bytes is more than the limit of 16777216
//   (persistence_max_value_bytes)"
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_VALIDATION_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_VALIDATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fast_crewai::persistence {

// An identifier: 1..kMaxIdBytes bytes, no ASCII control characters (U+0000..U+001F, U+007F).
// With `allow_empty`, "" is accepted too.
absl::Status ValidateIdentifier(absl::string_view value, absl::string_view field,
                                bool allow_empty = false);

// A free-text value (task descriptions, expected outputs, timestamps): at most `max_bytes`
// bytes, else RESOURCE_EXHAUSTED naming `field` and the limit.
absl::Status ValidateSize(absl::string_view value, absl::string_view field, int64_t max_bytes);

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_VALIDATION_H_
