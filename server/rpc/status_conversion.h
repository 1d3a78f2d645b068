// File: status_conversion.h
//
// The one conversion from absl::Status (what cores return) to what a gRPC client sees
// (TF Serving's grpc_status_util). The code maps 1:1 (absl codes are google.rpc.Code); the
// message is cut to 1024 bytes; every error detail (server/util/error_details.h) becomes
// trailing metadata "fast-crewai-<key>". INTERNAL, DATA_LOSS and UNKNOWN are also logged
// (level error, "call failed").
//
// Example (an adapter method):
//   grpc::ServerUnaryReactor* GetRecord(grpc::CallbackServerContext* context,
//                                       const v1::GetRecordRequest* request,
//                                       v1::GetRecordResponse* response) override {
//     grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
//     absl::Status status = ...;  // call the core, fill *response
//     FinishWithStatus(context, reactor, status);
//     return reactor;
//   }
#ifndef FAST_CREWAI_SERVER_RPC_STATUS_CONVERSION_H_
#define FAST_CREWAI_SERVER_RPC_STATUS_CONVERSION_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fast_crewai {

// Longest status message and metadata value sent to clients, in bytes.
inline constexpr size_t kMaxErrorMessageBytes = 1024;

// Appended to a message that was cut.
inline constexpr absl::string_view kTruncationMarker = "...[truncated]";

// Prefix of every trailing-metadata key carrying an error detail.
inline constexpr absl::string_view kErrorMetadataPrefix = "fast-crewai-";

// Returns `text` if it fits in `max_bytes`, otherwise a prefix ending on a UTF-8 character
// boundary followed by kTruncationMarker, `max_bytes` long at most.
std::string TruncateForClient(absl::string_view text, size_t max_bytes = kMaxErrorMessageBytes);

// Same code, truncated message. Payloads are not included (see ErrorDetailsAsMetadata).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The status's error details as trailing metadata: ("fast-crewai-<key>", value) pairs, sorted.
// Values are truncated and characters that gRPC does not allow in a text header value (outside
// 0x20-0x7e) are replaced by '?'. Empty for an OK status.
std::vector<std::pair<std::string, std::string>> ErrorDetailsAsMetadata(const absl::Status& status);

// Adds ErrorDetailsAsMetadata(status) to `context`'s trailing metadata and finishes `reactor`
// with ToGrpcStatus(status). Call at most once per RPC, from any thread.
void FinishWithStatus(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                      const absl::Status& status);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_STATUS_CONVERSION_H_
