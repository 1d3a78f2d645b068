// File: kill_child.h
//
// The kill -9 durability tests. A forked child writes from several threads and reports each
// acknowledged write as a line on a pipe; the parent reads the lines, SIGKILLs the child once
// `kill_after` lines have arrived (mid-stream, with writes in flight), keeps reading until EOF
// (lines already in the pipe were acknowledged too) and reaps the child.
//
//   ForkWritersThenKill: both sides (fork, the child's writer threads, the parent's reading).
//   ReadAcksThenKill:    the parent side alone.
//
// Example:
//   ASSERT_OK_AND_ASSIGN(std::string acks, ForkWritersThenKill(4, 300, [&]() -> AckWriter {
//     auto store = std::shared_ptr<Store>(Store::Open(...).value_or(nullptr));
//     if (store == nullptr) return nullptr;  // the child exits 3
//     return [store](int thread, int i) -> absl::StatusOr<std::string> {
//       RETURN_IF_ERROR(store->Write(thread, i));
//       return absl::StrCat("wrote ", thread, " ", i, "\n");
//     };
//   }));
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
#include <functional>
#include <string>
#include <thread>
#include <vector>

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
    if (!killed && static_cast<size_t>(std::count(acks.begin(), acks.end(), '\n')) >= kill_after) {
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

// One step of a child's writer thread: make write `i` of thread `thread` and, once it is
// acknowledged, return the text that reports it (one or more '\n'-terminated lines). An error
// ends the child (exit 4), which ForkWritersThenKill reports as a failed precondition.
using AckWriter = std::function<absl::StatusOr<std::string>(int thread, int i)>;

// Forks; the child calls `make_writer` (which opens the store in the child; a null writer exits
// 3), then runs `threads` threads, each calling the writer for i = 0, 1, 2, ... and writing
// each report to the pipe (a failed pipe write exits 5). The parent returns what
// ReadAcksThenKill(…, kill_after) returns.
inline absl::StatusOr<std::string> ForkWritersThenKill(
    int threads, size_t kill_after, const std::function<AckWriter()>& make_writer) {
  int fds[2];
  if (::pipe(fds) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    ::close(fds[0]);
    const AckWriter writer = make_writer();
    if (writer == nullptr) ::_exit(3);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&writer, fd = fds[1], t] {
        for (int i = 0;; ++i) {
          absl::StatusOr<std::string> report = writer(t, i);
          if (!report.ok()) ::_exit(4);
          if (::write(fd, report->data(), report->size()) != static_cast<ssize_t>(report->size())) {
            ::_exit(5);
          }
        }
      });
    }
    for (std::thread& worker : workers) worker.join();
    ::_exit(0);
  }
  ::close(fds[1]);
  return ReadAcksThenKill(fds[0], pid, kill_after);
}

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_KILL_CHILD_H_
