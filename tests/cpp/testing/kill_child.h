// File: kill_child.h
//
// ReadAcksThenKill: the parent side of the kill -9 durability tests. A forked child writes one
// line to a pipe per acknowledged write; the parent reads the lines, SIGKILLs the child once
// `kill_after` lines have arrived (mid-stream, with writes in flight), keeps reading until EOF
// (lines already in the pipe were acknowledged too) and reaps the child.
//
// Example:
//   ::close(fds[1]);
//   ASSERT_OK_AND_ASSIGN(std::string acks, ReadAcksThenKill(fds[0], pid, 300));
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_KILL_CHILD_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_KILL_CHILD_H_

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace fast_crewai::testing {

// Returns everything read from `fd` (which it closes). An error when the kill failed or the
// child ended any other way than by that SIGKILL (it exited or crashed before `kill_after`
// acknowledgements, so the test would prove nothing).
inline absl::StatusOr<std::string> ReadAcksThenKill(int fd, pid_t pid, size_t kill_after) {
  std::string acks;
  char buf[4096];
  bool killed = false;
  absl::Status kill_error;
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;  // EOF once the child is gone
    acks.append(buf, static_cast<size_t>(n));
    if (!killed &&
        static_cast<size_t>(std::count(acks.begin(), acks.end(), '\n')) >= kill_after) {
      if (::kill(pid, SIGKILL) != 0) {
        kill_error = absl::InternalError(absl::StrCat("kill: ", std::strerror(errno)));
      }
      killed = true;
    }
  }
  ::close(fd);
  int wstatus = 0;
  if (::waitpid(pid, &wstatus, 0) != pid) {
    return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
  }
  if (!kill_error.ok()) return kill_error;
  if (!WIFSIGNALED(wstatus)) {
    return absl::FailedPreconditionError(
        absl::StrCat("child exited with ", WEXITSTATUS(wstatus), " before it was killed"));
  }
  if (WTERMSIG(wstatus) != SIGKILL) {
    return absl::FailedPreconditionError(
        absl::StrCat("child died of signal ", WTERMSIG(wstatus), ", not SIGKILL"));
  }
  return acks;
}

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_KILL_CHILD_H_
