// File: error_details.h
//
// Machine-readable error details carried on an absl::Status, for the cores to attach and the
// RPC layer to forward. A detail is a payload under the type URL "fast-crewai/<key>"; the one
// conversion point (server/rpc/status_conversion.h) sends each as trailing metadata
// "fast-crewai-<key>", so clients can branch on a reason without parsing messages.
//
// Keys are lowercase ASCII letters, digits and '-' (gRPC metadata key rules); SetErrorDetail
// lowercases and maps '_' and other characters to '-'. Values are short printable ASCII.
//
// Example (a core):
//   absl::Status s = absl::FailedPreconditionError(
//       "records[0].embedding: dimension 768 does not match the stored dimension 1536");
//   SetErrorDetail(s, kReasonDetail, "EMBEDDING_DIMENSION_MISMATCH");
//   SetErrorDetail(s, kStoredDimDetail, "1536");
//   SetErrorDetail(s, kNewDimDetail, "768");
//   return s;
// The client then sees trailing metadata fast-crewai-reason: EMBEDDING_DIMENSION_MISMATCH,
// fast-crewai-stored-dim: 1536, fast-crewai-new-dim: 768.
#ifndef FAST_CREWAI_SERVER_UTIL_ERROR_DETAILS_H_
#define FAST_CREWAI_SERVER_UTIL_ERROR_DETAILS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fast_crewai {

// Type-URL prefix of every detail payload.
inline constexpr absl::string_view kErrorDetailTypeUrlPrefix = "fast-crewai/";

// Well-known keys.
// A stable UPPER_SNAKE_CASE reason, e.g. "EMBEDDING_DIMENSION_MISMATCH".
inline constexpr absl::string_view kReasonDetail = "reason";
// Decimal dimensions for EMBEDDING_DIMENSION_MISMATCH.
inline constexpr absl::string_view kStoredDimDetail = "stored-dim";
inline constexpr absl::string_view kNewDimDetail = "new-dim";

// Returns `key` in canonical form: lowercase, with every character outside [a-z0-9-] replaced
// by '-'. "stored_dim" -> "stored-dim".
std::string CanonicalErrorDetailKey(absl::string_view key);

// Attaches `value` under `key` (canonicalized), replacing an existing value. No-op on an OK
// status (absl::Status cannot carry payloads when OK).
void SetErrorDetail(absl::Status& status, absl::string_view key, absl::string_view value);

// Same as SetErrorDetail, returning the status, for `return WithErrorDetail(...)` chains.
absl::Status WithErrorDetail(absl::Status status, absl::string_view key, absl::string_view value);

// Returns the value under `key` (canonicalized), or nullopt when absent.
std::optional<std::string> GetErrorDetail(const absl::Status& status, absl::string_view key);

// Every detail as (canonical key, value) pairs, sorted by key. Payloads whose type URL does not
// start with kErrorDetailTypeUrlPrefix are not included.
std::vector<std::pair<std::string, std::string>> GetErrorDetails(const absl::Status& status);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_ERROR_DETAILS_H_
