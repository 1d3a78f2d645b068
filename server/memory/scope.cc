#include "server/memory/scope.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fast_crewai::memory {

std::string NormalizeScopePrefix(absl::string_view prefix) {
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.empty()) return "";
  if (prefix.front() != '/') return absl::StrCat("/", prefix);
  return std::string(prefix);
}

std::string NormalizeScope(absl::string_view scope) {
  while (scope.size() > 1 && scope.back() == '/') scope.remove_suffix(1);
  if (scope.empty()) return "/";
  return std::string(scope);
}

bool ScopeMatchesPrefix(absl::string_view scope, absl::string_view prefix) {
  if (prefix.empty()) return true;
  if (!absl::StartsWith(scope, prefix)) return false;
  return scope.size() == prefix.size() || scope[prefix.size()] == '/';
}

std::optional<std::string> ImmediateChild(absl::string_view scope, absl::string_view parent) {
  if (!absl::StartsWith(scope, parent)) return std::nullopt;
  absl::string_view rest = scope.substr(parent.size());
  if (rest.empty() || rest.front() != '/') return std::nullopt;
  rest.remove_prefix(1);
  const size_t slash = rest.find('/');
  const absl::string_view component = rest.substr(0, slash);
  if (component.empty()) return std::nullopt;
  return absl::StrCat(parent, "/", component);
}

}  // namespace fast_crewai::memory
