#include "server/util/errno_text.h"

#include <string.h>

#include <string>

namespace fast_crewai {
namespace {

// strerror_r has two signatures: GNU's returns the text (which may or may not be `buffer`),
// POSIX's returns 0 and fills `buffer`. Overloads on the return type pick the right reading.
[[maybe_unused]] const char* TextOf(const char* gnu_result, const char* /*buffer*/) {
  return gnu_result;
}
[[maybe_unused]] const char* TextOf(int posix_result, const char* buffer) {
  return posix_result == 0 ? buffer : nullptr;
}

}  // namespace

std::string ErrnoText(int error) {
  char buffer[256];
  buffer[0] = '\0';
  const char* text = TextOf(::strerror_r(error, buffer, sizeof buffer), buffer);
  if (text == nullptr || *text == '\0') return "Unknown error " + std::to_string(error);
  return text;
}

}  // namespace fast_crewai
