// File: status_matchers.h
//
// gMock matchers for absl::Status and absl::StatusOr<T> (absl ships these only since 2024;
// leveldb's util/testutil.h shows how small they are).
//
// Example:
//   EXPECT_THAT(store.Put(key, value), IsOk());
//   EXPECT_THAT(ParsePort("99999"),
//               StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("99999")));
//   ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(...));
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_STATUS_MATCHERS_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fast_crewai::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an OK absl::Status or absl::StatusOr<T>.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

// Matches a status (or StatusOr) whose code is `code` and whose message matches
// `message_matcher` (a string or any gMock string matcher).
MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher, negation)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

}  // namespace fast_crewai::testing

#define FAST_CREWAI_TESTING_CONCAT_INNER_(a, b) a##b
#define FAST_CREWAI_TESTING_CONCAT_(a, b) FAST_CREWAI_TESTING_CONCAT_INNER_(a, b)

// ASSERT_OK(expr): fails the test (fatally) unless `expr` is an OK status.
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::fast_crewai::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::fast_crewai::testing::IsOk())

// ASSERT_OK_AND_ASSIGN(lhs, rexpr): asserts that the StatusOr `rexpr` is OK and moves its
// value into `lhs` (a declaration or an existing variable).
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(FAST_CREWAI_TESTING_CONCAT_(status_or_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  ASSERT_TRUE(statusor.ok()) << statusor.status();       \
  lhs = std::move(statusor).value()

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_STATUS_MATCHERS_H_
