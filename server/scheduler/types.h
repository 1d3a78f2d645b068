// File: types.h
//
// The scheduler core's vocabulary: what a run and its nodes look like going in (RunSpec,
// NodeSpec) and coming out (RunInfo, NodeInfo, LeaseGrant). Plain C++ types, no protobuf; the
// rpc adapter (server/rpc/scheduler_service.cc) converts them from and to
// fast_crewai.v1 messages, whose comments (proto/fast_crewai/v1/scheduler.proto) are the
// contract these types implement.
//
// Payloads and outputs can be megabytes; they are shared (std::shared_ptr<const std::string>)
// between the core, its listings and leases so that handing them out copies nothing under the
// scheduler's lock.
#ifndef FAST_CREWAI_SERVER_SCHEDULER_TYPES_H_
#define FAST_CREWAI_SERVER_SCHEDULER_TYPES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace fast_crewai::scheduler {

// Numbered as fast_crewai.v1.RunState.
enum class RunState {
  kRunning = 1,    // some node has not finished
  kSucceeded = 2,  // every node succeeded
  kFailed = 3,     // a node failed for good (its dependents were cancelled)
  kCancelled = 4,  // CancelRun
};

// Numbered as fast_crewai.v1.NodeState.
enum class NodeState {
  kBlocked = 1,  // waiting for dependencies
  kReady = 2,    // in its queue, waiting for a worker
  kLeased = 3,   // held by a worker
  kSucceeded = 4,
  kFailed = 5,
  kCancelled = 6,
};

// True for the three final node states.
inline bool IsFinished(NodeState s) {
  return s == NodeState::kSucceeded || s == NodeState::kFailed || s == NodeState::kCancelled;
}

using SharedBytes = std::shared_ptr<const std::string>;

// One node of a CreateRun request.
struct NodeSpec {
  // 1..128 characters of [A-Za-z0-9._:/-], unique within the run.
  std::string node_id;
  // Ids of nodes of the same run that must succeed first (repeats are allowed and kept).
  std::vector<std::string> depends_on;
  // Opaque; at most SchedulerOptions::max_payload_bytes.
  std::string payload;
  // 0 = the run's max_attempts; else 1..100.
  int max_attempts = 0;
};

// A CreateRun request.
struct RunSpec {
  std::vector<NodeSpec> nodes;
  // "" = "default"; else as a node id.
  std::string queue;
  // At most 256 bytes.
  std::string name;
  // Zero = SchedulerOptions::default_lease; else 100 ms .. 1 h.
  absl::Duration lease = absl::ZeroDuration();
  // 0 = SchedulerOptions::default_max_attempts; else 1..100.
  int max_attempts = 0;
  // At most 32; keys and values at most 256 bytes. Sorted by key in RunInfo.
  std::vector<std::pair<std::string, std::string>> labels;
};

struct NodeCounts {
  int total = 0;
  int blocked = 0;
  int ready = 0;
  int leased = 0;
  int succeeded = 0;
  int failed = 0;
  int cancelled = 0;
};

struct RunInfo {
  std::string run_id;
  std::string name;
  std::string queue;
  RunState state = RunState::kRunning;
  NodeCounts counts;
  int64_t created_at_micros = 0;
  int64_t finished_at_micros = 0;  // 0 while running
  absl::Duration lease;
  int max_attempts = 0;
  std::vector<std::pair<std::string, std::string>> labels;
};

struct NodeInfo {
  std::string run_id;
  std::string node_id;
  std::vector<std::string> depends_on;
  NodeState state = NodeState::kBlocked;
  int attempts = 0;  // leases handed out so far
  int max_attempts = 0;
  std::string worker_id;  // holding or last holding
  SharedBytes payload;    // null unless asked for
  SharedBytes output;     // null unless asked for (and only once succeeded)
  std::string error;
  int64_t started_at_micros = 0;  // start of the latest lease
  int64_t finished_at_micros = 0;
};

// The output of one dependency, handed to the dependent's lease.
struct DependencyOutput {
  std::string node_id;
  SharedBytes output;
};

// One lease handed to a worker by LeaseNodes.
struct LeaseGrant {
  std::string lease_id;
  std::string run_id;
  std::string node_id;
  SharedBytes payload;
  int attempt = 0;  // 1 for the node's first lease
  absl::Duration lease;
  // In depends_on order.
  std::vector<DependencyOutput> dependency_outputs;
};

}  // namespace fast_crewai::scheduler

#endif  // FAST_CREWAI_SERVER_SCHEDULER_TYPES_H_
