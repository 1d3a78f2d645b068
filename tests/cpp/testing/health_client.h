// File: health_client.h
//
// A grpc.health.v1.Health/Check client for tests. Debian ships no C++ code for health.proto, so
// the two tiny messages are encoded by hand:
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }  // 1 SERVING, 2 NOT_SERVING
//
// Example:
//   EXPECT_THAT(CheckHealth(*channel, "fast_crewai.v1.MemoryService"),
//               IsOkAndHolds(HealthStatus::kNotServing));
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_HEALTH_CLIENT_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_HEALTH_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace fast_crewai::testing {

enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// Calls Health/Check for `service` ("" = the whole server) with an optional bearer token.
// Returns the status enum, or the RPC's error as an absl::Status (e.g. NOT_FOUND for a name the
// server never registered, UNAVAILABLE when nothing listens).
inline absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                                const std::string& service,
                                                absl::Duration timeout = absl::Seconds(5)) {
  // The service name is short (< 128 bytes), so its length is a one-byte varint.
  std::string request;
  request.push_back('\x0a');  // field 1, wire type 2 (length-delimited)
  request.push_back(static_cast<char>(service.size()));
  request += service;
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;

  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return absl::InternalError("cannot read response");
  std::string response;
  for (const grpc::Slice& s : slices) {
    response.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  if (response.empty()) return HealthStatus::kUnknown;  // proto3 default value 0.
  if (response.size() != 2 || response[0] != '\x08') {
    return absl::InternalError("unexpected HealthCheckResponse encoding");
  }
  return static_cast<HealthStatus>(response[1]);
}

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_HEALTH_CLIENT_H_
