#include "server/rpc/status_conversion.h"

#include "absl/strings/str_cat.h"
#include "server/util/logging.h"
#include "server/util/error_details.h"

namespace fast_crewai {

std::string TruncateForClient(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  if (max_bytes <= kTruncationMarker.size()) {
    return std::string(kTruncationMarker.substr(0, max_bytes));
  }
  size_t keep = max_bytes - kTruncationMarker.size();
  // Do not split a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  return absl::StrCat(text.substr(0, keep), kTruncationMarker);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // A bug or a damaged file: the operator must see it, not only the client.
  if (absl::IsInternal(status) || absl::IsDataLoss(status) || absl::IsUnknown(status)) {
    LogError("call failed", {{"code", absl::StatusCodeToString(status.code())},
                             {"error", status.message()}});
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      TruncateForClient(status.message()));
}

std::vector<std::pair<std::string, std::string>> ErrorDetailsAsMetadata(
    const absl::Status& status) {
  std::vector<std::pair<std::string, std::string>> metadata;
  if (status.ok()) return metadata;
  for (auto& [key, value] : GetErrorDetails(status)) {
    if (key.empty()) continue;
    std::string clean = TruncateForClient(value);
    for (char& c : clean) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    metadata.emplace_back(absl::StrCat(kErrorMetadataPrefix, key), std::move(clean));
  }
  return metadata;
}

void FinishWithStatus(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                      const absl::Status& status) {
  for (const auto& [key, value] : ErrorDetailsAsMetadata(status)) {
    context->AddTrailingMetadata(key, value);
  }
  reactor->Finish(ToGrpcStatus(status));
}

}  // namespace fast_crewai
