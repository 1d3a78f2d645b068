#include "server/persistence/validation.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/persistence/types.h"

namespace fast_crewai::persistence {

absl::Status ValidateIdentifier(absl::string_view value, absl::string_view field,
                                bool allow_empty) {
  if (value.empty()) {
    if (allow_empty) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  }
  if (value.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", value.size(), " bytes is longer than the limit of ", kMaxIdBytes));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": contains a control character at byte ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSize(absl::string_view value, absl::string_view field, int64_t max_bytes) {
  if (static_cast<int64_t>(value.size()) <= max_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(field, ": ", value.size(),
                                                   " bytes is more than the limit of ", max_bytes,
                                                   " (persistence_max_value_bytes)"));
}

}  // namespace fast_crewai::persistence
