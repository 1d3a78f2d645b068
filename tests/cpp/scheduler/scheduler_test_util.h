// Helpers shared by the scheduler core's tests.
#ifndef FAST_CREWAI_TESTS_CPP_SCHEDULER_SCHEDULER_TEST_UTIL_H_
#define FAST_CREWAI_TESTS_CPP_SCHEDULER_SCHEDULER_TEST_UTIL_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/scheduler/scheduler.h"

namespace fast_crewai::scheduler::testing {

inline SchedulerOptions TestOptions(const std::string& dir, Clock* clock) {
  SchedulerOptions options;
  options.data_dir = dir;
  options.clock = clock;
  options.sync = persistence::SqliteSync::kNormal;
  options.max_payload_bytes = 1024;
  return options;
}

inline NodeSpec Node(std::string id, std::vector<std::string> deps = {},
                     std::string payload = "") {
  NodeSpec n;
  n.node_id = std::move(id);
  n.depends_on = std::move(deps);
  n.payload = payload.empty() ? "payload-" + n.node_id : std::move(payload);
  return n;
}

inline RunSpec Spec(std::vector<NodeSpec> nodes, std::string queue = "") {
  RunSpec spec;
  spec.nodes = std::move(nodes);
  spec.queue = std::move(queue);
  return spec;
}

// LeaseNodes without waiting; returns what the callback got.
inline absl::StatusOr<std::vector<LeaseGrant>> LeaseNow(Scheduler& s, int max_nodes = 1,
                                                        const std::string& queue = "",
                                                        const std::string& worker = "w1") {
  std::optional<absl::StatusOr<std::vector<LeaseGrant>>> got;
  const uint64_t id = s.LeaseNodes({worker, queue, max_nodes, absl::ZeroDuration()},
                                   [&](absl::StatusOr<std::vector<LeaseGrant>> r) {
                                     got = std::move(r);
                                   });
  if (id != 0 || !got.has_value()) return absl::InternalError("LeaseNodes did not answer at once");
  return *std::move(got);
}

}  // namespace fast_crewai::scheduler::testing

#endif  // FAST_CREWAI_TESTS_CPP_SCHEDULER_SCHEDULER_TEST_UTIL_H_
