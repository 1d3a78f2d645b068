// File: status_macros.h
//
// RETURN_IF_ERROR and ASSIGN_OR_RETURN, which Abseil 20220623 does not ship.
//
// Example:
//   absl::StatusOr<int> ParsePort(absl::string_view s);
//   absl::Status Listen(absl::string_view s) {
//     ASSIGN_OR_RETURN(int port, ParsePort(s));
//     RETURN_IF_ERROR(Bind(port));
//     return absl::OkStatus();
//   }
#ifndef FAST_CREWAI_SERVER_UTIL_STATUS_MACROS_H_
#define FAST_CREWAI_SERVER_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FAST_CREWAI_CONCAT_INNER_(a, b) a##b
#define FAST_CREWAI_CONCAT_(a, b) FAST_CREWAI_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    const ::absl::Status fast_crewai_status_ = (expr);         \
    if (!fast_crewai_status_.ok()) return fast_crewai_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status, otherwise
// moves the value into `lhs` (a declaration or an existing variable).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(FAST_CREWAI_CONCAT_(fast_crewai_statusor_, __LINE__), lhs, rexpr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = std::move(statusor).value()

#endif  // FAST_CREWAI_SERVER_UTIL_STATUS_MACROS_H_
