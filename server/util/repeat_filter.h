// File: repeat_filter.h
//
// RepeatFilter: lets the first of a run of identical log lines through and holds back the
// repeats for a while, counting them, so that one cause repeated many times a minute (a client
// reconnecting every few seconds with the wrong TLS setting) makes one line a window instead of
// flooding the log. The next line let through for the key carries the count of those held back.
//
// Example:
//   RepeatFilter filter(RealClock::Get(), absl::Minutes(1), /*max_keys=*/256);
//   if (std::optional<int64_t> held = filter.Admit(key)) {
//     Log(level, message, {{"repeated", *held}});  // *held lines were dropped since the last.
//   }
//
// Thread-safety: thread-safe.
#ifndef FAST_CREWAI_SERVER_UTIL_REPEAT_FILTER_H_
#define FAST_CREWAI_SERVER_UTIL_REPEAT_FILTER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/util/clock.h"

namespace fast_crewai {

class RepeatFilter {
 public:
  // A key let through at time t is held back until t + `window`. At most `max_keys` keys are
  // remembered; when a new key finds the table full, the table is emptied first (so a flood
  // of distinct lines is never held back, and memory stays bounded). `clock` is not owned.
  RepeatFilter(Clock* clock, absl::Duration window, size_t max_keys);

  RepeatFilter(const RepeatFilter&) = delete;
  RepeatFilter& operator=(const RepeatFilter&) = delete;

  // std::nullopt when a line with this key was let through less than `window` ago (this one
  // is counted and should be dropped); otherwise the number of lines with this key dropped
  // since the last one let through (0 for a key seen for the first time).
  std::optional<int64_t> Admit(absl::string_view key) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    absl::Time shown;  // When the last line with this key was let through.
    int64_t held = 0;  // Lines dropped since then.
  };

  Clock* const clock_;
  const absl::Duration window_;
  const size_t max_keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_REPEAT_FILTER_H_
