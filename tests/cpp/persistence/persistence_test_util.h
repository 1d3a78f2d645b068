// Helpers shared by the persistence core tests.
#ifndef FAST_CREWAI_TESTS_CPP_PERSISTENCE_PERSISTENCE_TEST_UTIL_H_
#define FAST_CREWAI_TESTS_CPP_PERSISTENCE_PERSISTENCE_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/persistence/persistence_store.h"
#include "server/util/clock.h"

namespace fast_crewai::persistence::testing {

// Matches an OK absl::StatusOr<T> whose value matches `m`.
MATCHER_P(IsOkAndHolds, m, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(m, *arg, result_listener);
}

inline PersistenceStoreOptions TestOptions(const std::string& dir, Clock* clock) {
  PersistenceStoreOptions options;
  options.data_dir = dir;
  options.clock = clock;
  options.sync = SqliteSync::kNormal;  // fast; durability tests ask for kFull
  return options;
}

inline std::unique_ptr<PersistenceStore> OpenOrDie(const PersistenceStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<PersistenceStore>> store = PersistenceStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

inline TaskOutputRow Row(const std::string& task_id, int64_t task_index,
                         const std::string& raw = "out") {
  TaskOutputRow row;
  row.task_id = task_id;
  row.task_key = "key-" + task_id;
  row.expected_output = "expected " + task_id;
  row.output_json = absl::StrCat(R"({"raw": ")", raw, R"(", "agent": "a", "messages": []})");
  row.task_index = task_index;
  row.inputs_json = R"({"topic": "otters"})";
  return row;
}

// "task_id@task_index" of each row, in load order.
inline std::vector<std::string> Ids(const KickoffSnapshot* k) {
  std::vector<std::string> out;
  if (k == nullptr) return out;
  for (const auto& row : k->rows) {
    out.push_back(absl::StrCat(row->row.task_id, "@", row->row.task_index));
  }
  return out;
}

}  // namespace fast_crewai::persistence::testing

#endif  // FAST_CREWAI_TESTS_CPP_PERSISTENCE_PERSISTENCE_TEST_UTIL_H_
