#include "server/scheduler/rate_limit_db.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/util/logging.h"

namespace fast_crewai::scheduler {
namespace {

using persistence::RunSqlite;

constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
      CREATE TABLE grants (
        name TEXT NOT NULL,
        at_micros INTEGER NOT NULL,
        count INTEGER NOT NULL
      );
      CREATE INDEX grants_by_time ON grants (at_micros);
    )sql",
};
static_assert(std::size(kMigrations) == kRateLimitDbSchemaVersion);

// Deletes old rows once per this many appends.
constexpr int64_t kPruneEvery = 1024;

}  // namespace

absl::StatusOr<std::unique_ptr<RateLimitDb>> RateLimitDb::Open(const std::string& path,
                                                               const RateLimitDbOptions& options) {
  persistence::SqliteOptions sqlite_options;
  sqlite_options.sync = persistence::SqliteSync::kNormal;
  sqlite_options.busy_timeout_ms = options.busy_timeout_ms;
  sqlite_options.application_id = kRateLimitDbApplicationId;
  absl::StatusOr<std::unique_ptr<SQLite::Database>> db =
      persistence::OpenSqliteDatabase(path, sqlite_options);
  if (!db.ok()) return db.status();
  // Before anything writes: a damaged file is reported, never "repaired".
  absl::Status s = persistence::CheckIntegrity(**db, options.integrity_check, path);
  if (!s.ok()) return s;
  s = persistence::RunMigrations(**db, path, kMigrations);
  if (!s.ok()) return s;
  const int64_t retain = 2 * std::max<int64_t>(1, absl::ToInt64Microseconds(options.window));
  std::unique_ptr<RateLimitDb> rdb(new RateLimitDb(path, *std::move(db), retain));
  absl::MutexLock lock(&rdb->mu_);
  s = RunSqlite(absl::StrCat(path, ": prepare statements"), [&] {
    rdb->insert_.emplace(*rdb->db_,
                         "INSERT INTO grants (name, at_micros, count) VALUES (?1, ?2, ?3)");
    rdb->prune_.emplace(*rdb->db_, "DELETE FROM grants WHERE at_micros < ?1");
  });
  if (!s.ok()) return s;
  return rdb;
}

RateLimitDb::RateLimitDb(std::string path, std::unique_ptr<SQLite::Database> db,
                         int64_t retain_micros)
    : path_(std::move(path)),
      append_context_(absl::StrCat(path_, ": append")),
      retain_micros_(retain_micros),
      db_(std::move(db)) {}

RateLimitDb::~RateLimitDb() {
  absl::MutexLock lock(&mu_);
  insert_.reset();  // statements are finalised before the connection closes
  prune_.reset();
  db_.reset();
}

absl::StatusOr<std::vector<RateLimitGrant>> RateLimitDb::LoadAfter(int64_t after_micros) {
  absl::MutexLock lock(&mu_);
  std::vector<RateLimitGrant> grants;
  absl::Status s = RunSqlite(absl::StrCat(path_, ": load"), [&] {
    SQLite::Statement select(*db_,
                             "SELECT name, at_micros, count FROM grants WHERE at_micros > ?1 "
                             "ORDER BY name, at_micros");
    select.bind(1, static_cast<int64_t>(after_micros));
    while (select.executeStep()) {
      grants.push_back(RateLimitGrant{select.getColumn(0).getString(),
                                      select.getColumn(1).getInt64(),
                                      select.getColumn(2).getInt64()});
    }
  });
  if (!s.ok()) return s;
  return grants;
}

absl::Status RateLimitDb::Append(absl::string_view name, int64_t at_micros, int64_t count) {
  absl::MutexLock lock(&mu_);
  return RunSqlite(append_context_, [&] {
    insert_->bindNoCopy(1, name.data(), static_cast<int>(name.size()));
    insert_->bind(2, static_cast<int64_t>(at_micros));
    insert_->bind(3, static_cast<int64_t>(count));
    // Reset even when exec throws, so the statement is usable for the next append.
    struct Reset {
      SQLite::Statement& st;
      ~Reset() { st.tryReset(); }
    } reset{*insert_};
    insert_->exec();
    if (++appends_ % kPruneEvery == 0) {
      Reset prune_reset{*prune_};
      prune_->bind(1, static_cast<int64_t>(at_micros - retain_micros_));
      prune_->exec();
    }
  });
}

absl::StatusOr<int64_t> RateLimitDb::CountForTesting() {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  absl::Status s = RunSqlite(absl::StrCat(path_, ": count"), [&] {
    n = db_->execAndGet("SELECT COUNT(*) FROM grants").getInt64();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<RestoredRateLimits> RestoreRateLimits(RateLimitDb& db, RateLimiter& limiter,
                                                     int64_t after_micros) {
  absl::StatusOr<std::vector<RateLimitGrant>> grants = db.LoadAfter(after_micros);
  if (!grants.ok()) return grants.status();
  RestoredRateLimits restored;
  for (const RateLimitGrant& grant : *grants) {
    ++restored.reservations;
    absl::Status s = limiter.Restore(grant.name, grant.at_micros, grant.count);
    if (s.ok()) {
      restored.permits += grant.count;
    } else {
      ++restored.refused;
      LogWarning("rate limit reservation not restored",
                 {{"file", db.path()}, {"name", grant.name}, {"error", s.ToString()}});
    }
  }
  return restored;
}

}  // namespace fast_crewai::scheduler
