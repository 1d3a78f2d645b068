// File: errno_text.h
//
// The text of an errno value for error messages and log fields ("No such file or directory").
// std::strerror may return a buffer shared by every thread, and the daemon formats errno text
// from several threads (start-up checks, the metrics endpoint's own thread), so this one
// helper uses the re-entrant strerror_r into a buffer of its own.
//
// Example:
//   if (::open(path, O_RDONLY) < 0) return absl::NotFoundError(ErrnoText(errno));
//
// Thread-safety: a pure function; safe from any thread.
#ifndef FAST_CREWAI_SERVER_UTIL_ERRNO_TEXT_H_
#define FAST_CREWAI_SERVER_UTIL_ERRNO_TEXT_H_

#include <string>

namespace fast_crewai {

// The system's description of `error`; "Unknown error N" for a value it does not know.
std::string ErrnoText(int error);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_ERRNO_TEXT_H_
