// File: rate_limit_db.h
//
// RateLimitDb: <data_dir>/ratelimits.db, the journal of the shared rate limits' reservations
// (RateLimiter's "Restarts"). Each reservation is one row (name, instant, permits) inserted in
// its own transaction with synchronous=NORMAL: it is in the WAL before AcquireRateLimit
// answers, so it survives kill -9 of the daemon (a power loss may drop the last ones, which
// only matters within that one window). At start the daemon reads the rows of the last window
// back into a new RateLimiter. Rows older than two windows are deleted as it goes, so the file
// stays the size of a couple of windows of reservations.
//
// Schema (PRAGMA user_version = 1, PRAGMA application_id = kRateLimitDbApplicationId):
//   grants(name TEXT, at_micros INTEGER, count INTEGER), indexed by at_micros.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<RateLimitDb> db, RateLimitDb::Open(path, {}));
//   RateLimiterOptions options;
//   options.journal = db.get();
//   RateLimiter limiter(clock, options);
//   ASSIGN_OR_RETURN(std::vector<RateLimitGrant> grants, db->LoadSince(now - window));
//   for (const RateLimitGrant& g : grants) RETURN_IF_ERROR(limiter.Restore(g.name, ...));
//
// Errors: UNAVAILABLE (the file cannot be opened, locked or written), DATA_LOSS (a damaged
// file at Open: never repaired or wiped), FAILED_PRECONDITION (another program's file, or a
// schema newer than this server).
//
// Thread-safety: every method is thread-safe (one connection behind a mutex).
#ifndef FAST_CREWAI_SERVER_SCHEDULER_RATE_LIMIT_DB_H_
#define FAST_CREWAI_SERVER_SCHEDULER_RATE_LIMIT_DB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/persistence/sqlite_db.h"
#include "server/scheduler/rate_limiter.h"

namespace fast_crewai::scheduler {

inline constexpr int32_t kRateLimitDbApplicationId = 0x4643524C;  // "FCRL"
inline constexpr int kRateLimitDbSchemaVersion = 1;

struct RateLimitDbOptions {
  // The limits' window: rows older than two windows are deleted. Default: 60 s.
  absl::Duration window = absl::Seconds(60);
  // Start-up integrity check. Default: kQuick.
  persistence::IntegrityCheckMode integrity_check = persistence::IntegrityCheckMode::kQuick;
  int busy_timeout_ms = 5000;
};

// One journaled reservation.
struct RateLimitGrant {
  std::string name;
  int64_t at_micros = 0;
  int64_t count = 0;
};

class RateLimitDb final : public RateLimitJournal {
 public:
  // Opens (creating when missing) the journal at `path`.
  static absl::StatusOr<std::unique_ptr<RateLimitDb>> Open(const std::string& path,
                                                           const RateLimitDbOptions& options);
  ~RateLimitDb() override;
  RateLimitDb(const RateLimitDb&) = delete;
  RateLimitDb& operator=(const RateLimitDb&) = delete;

  // The reservations later than `after_micros`, by name, then instant (the order Restore
  // needs).
  absl::StatusOr<std::vector<RateLimitGrant>> LoadAfter(int64_t after_micros);

  // Inserts one reservation; every 1024 inserts also deletes the rows two windows older than
  // it.
  absl::Status Append(absl::string_view name, int64_t at_micros, int64_t count) override;

  // Rows in the file. For tests.
  absl::StatusOr<int64_t> CountForTesting();

  const std::string& path() const { return path_; }

 private:
  RateLimitDb(std::string path, std::unique_ptr<SQLite::Database> db, int64_t retain_micros);

  const std::string path_;
  const std::string append_context_;  // "<path>: append", built once: Append runs per call
  const int64_t retain_micros_;
  absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
  std::optional<SQLite::Statement> insert_ ABSL_GUARDED_BY(mu_);
  std::optional<SQLite::Statement> prune_ ABSL_GUARDED_BY(mu_);
  int64_t appends_ ABSL_GUARDED_BY(mu_) = 0;
};

// What RestoreRateLimits put back.
struct RestoredRateLimits {
  int64_t reservations = 0;  // journal rows read
  int64_t permits = 0;       // permits restored
  int64_t refused = 0;       // rows the limiter refused (logged)
};

// Gives `limiter` (new, not yet serving) the journal's reservations later than `after_micros`
// (a window before now), as a starting daemon does. A row the limiter refuses (an instant
// before the name's last one, written before the clock stepped back) is skipped and logged.
// Errors: LoadAfter's.
absl::StatusOr<RestoredRateLimits> RestoreRateLimits(RateLimitDb& db, RateLimiter& limiter,
                                                     int64_t after_micros);

}  // namespace fast_crewai::scheduler

#endif  // FAST_CREWAI_SERVER_SCHEDULER_RATE_LIMIT_DB_H_
