// File: health_client.h
//
// A grpc.health.v1.Health/Check client. Debian ships no C++ code for health.proto, so the two
// tiny messages are encoded by hand:
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }  // 1 SERVING, 2 NOT_SERVING
// Used by `fast-crewai-server --probe` (the container HEALTHCHECK) and by the tests.
//
// Example:
//   absl::StatusOr<HealthStatus> s = CheckHealth(channel, "fast_crewai.v1.MemoryService");
//   if (s.ok() && *s == HealthStatus::kServing) ...
#ifndef FAST_CREWAI_SERVER_RPC_HEALTH_CLIENT_H_
#define FAST_CREWAI_SERVER_RPC_HEALTH_CLIENT_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fast_crewai {

enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// "SERVING", "NOT_SERVING", ...
absl::string_view HealthStatusName(HealthStatus status);

// Calls Health/Check for `service` ("" = the whole server). Returns the status enum, or the
// RPC's error as an absl::Status (NOT_FOUND for a name the server never registered,
// UNAVAILABLE when nothing listens, DEADLINE_EXCEEDED after `timeout`).
absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service,
                                         absl::Duration timeout = absl::Seconds(5));

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_HEALTH_CLIENT_H_
