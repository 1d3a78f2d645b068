#include "server/util/repeat_filter.h"

namespace fast_crewai {

RepeatFilter::RepeatFilter(Clock* clock, absl::Duration window, size_t max_keys)
    : clock_(clock), window_(window), max_keys_(max_keys) {}

std::optional<int64_t> RepeatFilter::Admit(absl::string_view key) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) entries_.clear();
    entries_.emplace(key, Entry{now, 0});
    return 0;
  }
  Entry& entry = it->second;
  if (now - entry.shown < window_) {
    ++entry.held;
    return std::nullopt;
  }
  const int64_t held = entry.held;
  entry = Entry{now, 0};
  return held;
}

}  // namespace fast_crewai
