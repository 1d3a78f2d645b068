// File: scope.h
//
// Path-aware scope matching. CrewAI scopes are slash-separated paths ("/crew/x/agent/y").
// A prefix covers a scope when the scope IS the prefix or lies BELOW it, component-wise:
// "/a" covers "/a" and "/a/b" but not "/ab". Trailing slashes are ignored on both sides,
// and "", "/" (or any run of slashes) as a prefix cover everything.
#ifndef FAST_CREWAI_SERVER_MEMORY_SCOPE_H_
#define FAST_CREWAI_SERVER_MEMORY_SCOPE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace fast_crewai::memory {

// The canonical form of a prefix used by filters: "" for "everything" ("", "/", "//"),
// otherwise the path without trailing slashes and with a leading slash added when missing
// ("a/b/" -> "/a/b").
std::string NormalizeScopePrefix(absl::string_view prefix);

// The canonical form of a stored record scope: trailing slashes removed, "/" for the root.
// Record scopes start with "/" (validated on save).
std::string NormalizeScope(absl::string_view scope);

// True when the normalised record scope `scope` is `prefix` or below it.
// `prefix` is normalised (NormalizeScopePrefix); "" covers everything.
bool ScopeMatchesPrefix(absl::string_view scope, absl::string_view prefix);

// The immediate child of `parent` (normalised prefix, "" = root) on the path to the
// normalised scope `scope`, as a full path: ImmediateChild("/a/b/c", "/a") == "/a/b".
// nullopt when `scope` is `parent` itself or not below it (or the component is empty).
std::optional<std::string> ImmediateChild(absl::string_view scope, absl::string_view parent);

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_SCOPE_H_
