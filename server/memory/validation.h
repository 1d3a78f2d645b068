// File: validation.h
//
// Argument validation for the memory core. Every function returns INVALID_ARGUMENT whose
// message starts with the field path given by the caller ("records[2].embedding[7]: not a
// finite number"), or OK. Validation never depends on stored state; checks against stored
// state (the namespace's dimension) happen in MemoryStore.
#ifndef FAST_CREWAI_SERVER_MEMORY_VALIDATION_H_
#define FAST_CREWAI_SERVER_MEMORY_VALIDATION_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/memory/json.h"
#include "server/memory/types.h"

namespace fast_crewai::memory {

// A validated record with its metadata parsed once for filtering.
struct PreparedRecord {
  Record record;
  // The parsed metadata object; nullptr when it is empty ("" or "{}").
  std::shared_ptr<const JsonValue> metadata;
  // Its memory.db row (seq, > 0); set by the store's write leader, or by the load.
  int64_t row = 0;
};

// A validated RecordFilter in matching form.
struct ParsedFilter {
  // NormalizeScopePrefix() form: "" matches every scope.
  std::string scope_prefix;
  // Any-of; empty = no category criterion.
  std::vector<std::string> categories;
  // Top-level key -> value; empty = no metadata criterion.
  std::vector<std::pair<std::string, JsonValue>> metadata;

  bool matches_everything() const {
    return scope_prefix.empty() && categories.empty() && metadata.empty();
  }
};

absl::Status ValidateNamespace(absl::string_view name);

// `path` names the id in messages ("record_ids[3]", "records[0].id").
absl::Status ValidateRecordId(absl::string_view id, absl::string_view path);

// Validates every field of `record` and parses its metadata. `path` is the record's field
// path ("records[3]" or "record").
absl::StatusOr<PreparedRecord> PrepareRecord(Record record, absl::string_view path);

// Validates and normalises a filter; `path` is e.g. "filter".
absl::StatusOr<ParsedFilter> ParseFilter(const RecordFilter& filter, absl::string_view path);

// Validates a scope prefix used outside a filter (list, count, reset); returns its
// NormalizeScopePrefix() form.
absl::StatusOr<std::string> ParseScopePrefix(absl::string_view prefix, absl::string_view path);

// Length <= kMaxDimension, every value finite.
absl::Status ValidateEmbedding(const std::vector<float>& embedding, absl::string_view path);

// A timestamp's text: at most kMaxTimestampBytes of UTF-8 without control characters.
absl::Status ValidateTimestampText(absl::string_view text, absl::string_view path);

// FAILED_PRECONDITION for an embedding whose length differs from the namespace's dimension,
// carrying the error details (server/util/error_details.h) kReasonDetail =
// kEmbeddingDimensionMismatch, kStoredDimDetail and kNewDimDetail (decimal text), i.e. the
// payloads "fast-crewai/reason", "fast-crewai/stored-dim", "fast-crewai/new-dim". The message
// starts with `path`.
absl::Status DimensionMismatchError(int stored_dim, int new_dim, absl::string_view path);

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_VALIDATION_H_
