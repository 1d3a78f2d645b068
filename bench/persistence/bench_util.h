// File: bench_util.h
//
// What the two persistence benchmarks (persistence_bench: the store alone; daemon_write_bench:
// through the daemon) write and where.
//
// Example:
//   const std::string dir = bench::FreshDir("fast-crewai-persistence-bench", "store");
//   store->AddTaskOutput(ns, kickoff, Row(task_id, i, bench::TaskOutputJson()));
#ifndef FAST_CREWAI_BENCH_PERSISTENCE_BENCH_UTIL_H_
#define FAST_CREWAI_BENCH_PERSISTENCE_BENCH_UTIL_H_

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fast_crewai::bench {

// A task output of about 1 KB, the size of a short CrewAI TaskOutput as JSON.
inline std::string TaskOutputJson() {
  return absl::StrCat(R"({"raw": ")", std::string(900, 'x'), R"(", "agent": "Researcher"})");
}

// A new directory `<$TMPDIR or /tmp>/<prefix>-<name>.XXXXXX`: both sides of a comparison use
// the same disk. Exits the process when it cannot be made.
inline std::string FreshDir(absl::string_view prefix, absl::string_view name) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/", prefix,
                                   "-", name, ".XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return templ;
}

}  // namespace fast_crewai::bench

#endif  // FAST_CREWAI_BENCH_PERSISTENCE_BENCH_UTIL_H_
