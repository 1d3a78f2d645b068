#include "server/memory/validation.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/memory/json.h"
#include "server/memory/scope.h"
#include "server/memory/utf8.h"
#include "server/util/error_details.h"

namespace fast_crewai::memory {
namespace {

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

// Non-empty (when required), bounded, UTF-8, optionally without control characters.
absl::Status CheckText(absl::string_view text, absl::string_view path, size_t max_bytes,
                       bool allow_empty, bool allow_control) {
  if (text.empty() && !allow_empty) return Invalid(path, "must not be empty");
  if (text.size() > max_bytes) {
    return Invalid(path, absl::StrCat("longer than ", max_bytes, " bytes (", text.size(), ")"));
  }
  if (!IsValidUtf8(text)) return Invalid(path, "not valid UTF-8");
  if (!allow_control && HasControlChar(text)) return Invalid(path, "contains a control character");
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const JsonValue>> ParseMetadataObject(absl::string_view text,
                                                                     absl::string_view path) {
  if (text.empty()) return std::shared_ptr<const JsonValue>();
  if (text.size() > kMaxMetadataBytes) {
    return Invalid(path, absl::StrCat("longer than ", kMaxMetadataBytes, " bytes"));
  }
  absl::StatusOr<JsonValue> value = ParseJson(text);
  if (!value.ok()) return Invalid(path, value.status().message());
  if (value->kind() != JsonValue::Kind::kObject) return Invalid(path, "not a JSON object");
  if (value->object().empty()) return std::shared_ptr<const JsonValue>();
  return std::make_shared<const JsonValue>(std::move(*value));
}

}  // namespace

absl::Status ValidateNamespace(absl::string_view name) {
  return CheckText(name, "namespace", kMaxNamespaceBytes, /*allow_empty=*/false,
                   /*allow_control=*/false);
}

absl::Status ValidateRecordId(absl::string_view id, absl::string_view path) {
  return CheckText(id, path, kMaxIdBytes, /*allow_empty=*/false, /*allow_control=*/false);
}

absl::Status ValidateEmbedding(const std::vector<float>& embedding, absl::string_view path) {
  if (embedding.size() > static_cast<size_t>(kMaxDimension)) {
    return Invalid(
        path, absl::StrCat("more than ", kMaxDimension, " dimensions (", embedding.size(), ")"));
  }
  // First a branch-free pass the compiler vectorises (an exponent of all ones is NaN or
  // infinity), then, only when it found one, the index of the first.
  bool any_non_finite = false;
  for (const float value : embedding) {
    any_non_finite |= (std::bit_cast<uint32_t>(value) & 0x7f800000u) == 0x7f800000u;
  }
  if (!any_non_finite) return absl::OkStatus();
  for (size_t j = 0; j < embedding.size(); ++j) {
    if (!std::isfinite(embedding[j])) {
      return Invalid(absl::StrCat(path, "[", j, "]"), "not a finite number");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTimestampText(absl::string_view text, absl::string_view path) {
  return CheckText(text, path, kMaxTimestampBytes, /*allow_empty=*/true, /*allow_control=*/false);
}

absl::StatusOr<PreparedRecord> PrepareRecord(Record record, absl::string_view path) {
  absl::Status s = ValidateRecordId(record.id, absl::StrCat(path, ".id"));
  if (!s.ok()) return s;
  // Empty content is allowed: CrewAI's Memory stores it (remember("") reaches the storage),
  // and the daemon must not fail where CrewAI's own storage succeeds.
  s = CheckText(record.content, absl::StrCat(path, ".content"), kMaxContentBytes,
                /*allow_empty=*/true, /*allow_control=*/true);
  if (!s.ok()) return s;
  const std::string scope_path = absl::StrCat(path, ".scope");
  if (record.scope.empty() || record.scope.front() != '/') {
    return Invalid(scope_path, "must start with \"/\"");
  }
  s = CheckText(record.scope, scope_path, kMaxScopeBytes, false, false);
  if (!s.ok()) return s;
  if (record.categories.size() > kMaxCategories) {
    return Invalid(absl::StrCat(path, ".categories"),
                   absl::StrCat("more than ", kMaxCategories, " categories"));
  }
  // An empty category is kept, as CrewAI's own storage keeps it: CrewAI saves the categories its
  // LLM analysis returns unfiltered, and refusing one would refuse the whole remembered batch.
  for (size_t i = 0; i < record.categories.size(); ++i) {
    s = CheckText(record.categories[i], absl::StrCat(path, ".categories[", i, "]"),
                  kMaxCategoryBytes, /*allow_empty=*/true, /*allow_control=*/true);
    if (!s.ok()) return s;
  }
  if (!(record.importance >= 0.0 && record.importance <= 1.0)) {  // also rejects NaN
    return Invalid(absl::StrCat(path, ".importance"), "must be between 0 and 1");
  }
  s = ValidateTimestampText(record.created_at, absl::StrCat(path, ".created_at"));
  if (!s.ok()) return s;
  s = ValidateTimestampText(record.last_accessed, absl::StrCat(path, ".last_accessed"));
  if (!s.ok()) return s;
  if (record.source.has_value()) {
    s = CheckText(*record.source, absl::StrCat(path, ".source"), kMaxSourceBytes,
                  /*allow_empty=*/true, /*allow_control=*/true);
    if (!s.ok()) return s;
  }
  s = ValidateEmbedding(record.embedding, absl::StrCat(path, ".embedding"));
  if (!s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const JsonValue>> metadata =
      ParseMetadataObject(record.metadata_json, absl::StrCat(path, ".metadata_json"));
  if (!metadata.ok()) return metadata.status();
  return PreparedRecord{std::move(record), *std::move(metadata)};
}

absl::StatusOr<std::string> ParseScopePrefix(absl::string_view prefix, absl::string_view path) {
  absl::Status s = CheckText(prefix, path, kMaxScopeBytes, /*allow_empty=*/true, false);
  if (!s.ok()) return s;
  return NormalizeScopePrefix(prefix);
}

absl::StatusOr<ParsedFilter> ParseFilter(const RecordFilter& filter, absl::string_view path) {
  ParsedFilter out;
  absl::StatusOr<std::string> prefix =
      ParseScopePrefix(filter.scope_prefix, absl::StrCat(path, ".scope_prefix"));
  if (!prefix.ok()) return prefix.status();
  out.scope_prefix = *std::move(prefix);
  if (filter.categories.size() > kMaxCategories) {
    return Invalid(absl::StrCat(path, ".categories"),
                   absl::StrCat("more than ", kMaxCategories, " categories"));
  }
  for (size_t i = 0; i < filter.categories.size(); ++i) {
    absl::Status s = CheckText(filter.categories[i], absl::StrCat(path, ".categories[", i, "]"),
                               kMaxCategoryBytes, /*allow_empty=*/true, true);
    if (!s.ok()) return s;
  }
  out.categories = filter.categories;
  absl::StatusOr<std::shared_ptr<const JsonValue>> metadata =
      ParseMetadataObject(filter.metadata_filter_json, absl::StrCat(path, ".metadata_filter_json"));
  if (!metadata.ok()) return metadata.status();
  if (*metadata != nullptr) out.metadata = (*metadata)->object();
  return out;
}

absl::Status DimensionMismatchError(int stored_dim, int new_dim, absl::string_view path) {
  absl::Status status = absl::FailedPreconditionError(
      absl::StrCat(path, ": embedding dimension mismatch: the namespace stores ", stored_dim,
                   "-dimensional vectors, got a ", new_dim,
                   "-dimensional one (reset the namespace to change the dimension)"));
  SetErrorDetail(status, kReasonDetail, kEmbeddingDimensionMismatch);
  SetErrorDetail(status, kStoredDimDetail, absl::StrCat(stored_dim));
  SetErrorDetail(status, kNewDimDetail, absl::StrCat(new_dim));
  return status;
}

}  // namespace fast_crewai::memory
