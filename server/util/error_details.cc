#include "server/util/error_details.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fast_crewai {

std::string CanonicalErrorDetailKey(absl::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      out.push_back(c);
    } else {
      out.push_back('-');
    }
  }
  return out;
}

void SetErrorDetail(absl::Status& status, absl::string_view key, absl::string_view value) {
  if (status.ok()) return;
  status.SetPayload(absl::StrCat(kErrorDetailTypeUrlPrefix, CanonicalErrorDetailKey(key)),
                    absl::Cord(value));
}

absl::Status WithErrorDetail(absl::Status status, absl::string_view key, absl::string_view value) {
  SetErrorDetail(status, key, value);
  return status;
}

std::optional<std::string> GetErrorDetail(const absl::Status& status, absl::string_view key) {
  auto payload =
      status.GetPayload(absl::StrCat(kErrorDetailTypeUrlPrefix, CanonicalErrorDetailKey(key)));
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

std::vector<std::pair<std::string, std::string>> GetErrorDetails(const absl::Status& status) {
  std::vector<std::pair<std::string, std::string>> details;
  status.ForEachPayload([&details](absl::string_view type_url, const absl::Cord& payload) {
    if (!absl::StartsWith(type_url, kErrorDetailTypeUrlPrefix)) return;
    type_url.remove_prefix(kErrorDetailTypeUrlPrefix.size());
    details.emplace_back(CanonicalErrorDetailKey(type_url), std::string(payload));
  });
  std::sort(details.begin(), details.end());
  return details;
}

}  // namespace fast_crewai
