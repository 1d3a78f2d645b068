// File: sqlite_db.h
//
// Small shared SQLite vocabulary for the domain cores that keep one SQLite file each
// (memory.db, persistence.db, cache.db, scheduler.db): opening a database with the project's
// pragmas, mapping SQLiteCpp's exceptions to absl::Status once, and the schema version.
//
// SQLiteCpp reports every error by throwing SQLite::Exception. No exception may leave a
// module (house rule 4), so every call into SQLiteCpp is wrapped in RunSqlite(), which
// returns the mapped status.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
//                    OpenSqliteDatabase(path, SqliteOptions{}));
//   RETURN_IF_ERROR(RunSqlite("memory.db: create schema", [&] {
//     db->exec("CREATE TABLE IF NOT EXISTS t (x INTEGER)");
//   }));
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_SQLITE_DB_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_SQLITE_DB_H_

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fast_crewai::persistence {

// How hard a commit pushes data to stable storage (PRAGMA synchronous in WAL mode).
enum class SqliteSync {
  // The WAL is fsync'ed at every commit: a commit survives a power loss. Default.
  kFull,
  // The WAL is fsync'ed only at checkpoints: a commit survives a process crash (kill -9,
  // the data is in the OS page cache) but the last commits may be lost on power loss.
  kNormal,
};

struct SqliteOptions {
  // Default: kFull. Group commit amortises its fsync over all concurrent writers.
  SqliteSync sync = SqliteSync::kFull;
  // How long a statement waits for another connection's lock before failing with
  // SQLITE_BUSY (mapped to UNAVAILABLE). Default: 5000 ms.
  int busy_timeout_ms = 5000;
  // PRAGMA application_id written into a new file and checked on an existing one (0 = no
  // check). Guards against opening another program's SQLite file as ours.
  int32_t application_id = 0;
  // PRAGMA query_only: the connection refuses every write (a reader of a WAL file that a
  // writer connection of the same process owns). Default: false.
  bool query_only = false;
};

// How thoroughly CheckIntegrity() reads a file.
enum class IntegrityCheckMode {
  kOff,    // no check
  kQuick,  // PRAGMA quick_check: page structure and record format, O(file size), no index
           // cross-checks. Default for start-up.
  kFull,   // PRAGMA integrity_check: also verifies that every index matches its table.
};

// Opens (creating when missing) the SQLite file at `path` in WAL mode with `options`.
// Returns UNAVAILABLE when the file cannot be opened or locked, DATA_LOSS when it is not a
// database or its application_id belongs to another program (the file is left untouched).
absl::StatusOr<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(const std::string& path,
                                                                     const SqliteOptions& options);

// Maps an SQLite error to the canonical code by retry meaning; the message is
// "<context>: <sqlite message>".
//   BUSY, LOCKED, IOERR, FULL, CANTOPEN, READONLY, PERM, PROTOCOL -> UNAVAILABLE
//   CORRUPT, NOTADB                                              -> DATA_LOSS
//   NOMEM                                                        -> RESOURCE_EXHAUSTED
//   anything else (constraint, misuse, ...: a bug of ours)       -> INTERNAL
absl::Status SqliteErrorToStatus(int sqlite_error_code, absl::string_view sqlite_message,
                                 absl::string_view context);

// Runs `fn` (which calls SQLiteCpp) and converts any exception it throws into a status.
// Returns OK when `fn` returns normally.
template <typename Fn>
absl::Status RunSqlite(absl::string_view context, Fn&& fn) {
  try {
    std::forward<Fn>(fn)();
    return absl::OkStatus();
  } catch (const SQLite::Exception& e) {
    return SqliteErrorToStatus(e.getErrorCode(), e.what(), context);
  } catch (const std::bad_alloc& e) {
    return absl::ResourceExhaustedError(absl::StrCat(context, ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(context, ": ", e.what()));
  }
}

// PRAGMA user_version: the schema version of the file (0 for a new file).
absl::StatusOr<int> GetUserVersion(SQLite::Database& db);
absl::Status SetUserVersion(SQLite::Database& db, int version);

// The schema migration runner of every SQLite file of the daemon. `migrations[v]` (SQL, may hold
// several statements) upgrades schema version v to v + 1; the target version is
// migrations.size(). From the file's PRAGMA user_version, each missing step runs, in order, in
// its own IMMEDIATE transaction together with its new user_version, so a failed step leaves
// the file at the last complete version and a step never runs twice.
// Returns OK when the file is (now) at migrations.size(); FAILED_PRECONDITION "<label>: schema
// version N is newer than this server (M); ..." when the file was written by a newer server
// (nothing is run); otherwise the failing step's status, "<label>: migrate to schema N: ...".
//
// Example:
//   constexpr const char* kMigrations[] = {"CREATE TABLE t (x INTEGER)",     // 0 -> 1
//                                          "ALTER TABLE t ADD COLUMN y"};    // 1 -> 2
//   RETURN_IF_ERROR(RunMigrations(*db, "cache.db", kMigrations));
absl::Status RunMigrations(SQLite::Database& db, absl::string_view label,
                           absl::Span<const char* const> migrations);

// PRAGMA wal_checkpoint(TRUNCATE): moves the WAL into the main file and truncates it.
absl::Status CheckpointTruncate(SQLite::Database& db);

// Runs PRAGMA quick_check or integrity_check (per `mode`) on `db`. Returns OK when SQLite says
// "ok", DATA_LOSS "<label>: integrity check failed: <first problems>" when it reports
// problems or the file is too damaged to check, UNAVAILABLE on I/O errors. Never modifies
// the file.
absl::Status CheckIntegrity(SQLite::Database& db, IntegrityCheckMode mode, absl::string_view label);

// Result of BackupDatabase.
struct BackupResult {
  int64_t pages = 0;
  int64_t bytes = 0;
};

// Copies the whole of `source` (an open connection; its other connections may keep writing:
// the copy is the snapshot of one read transaction) into a new file at `dest_path` with the
// online backup API (sqlite3_backup_*). The copy is written to "<dest_path>.tmp-<pid>" and
// renamed over `dest_path` when complete, so `dest_path` never holds a partial copy; the copy
// is a plain (rollback-journal) SQLite file.
// Errors: UNAVAILABLE (I/O, busy), INTERNAL; the temporary file is removed on failure.
absl::StatusOr<BackupResult> BackupDatabase(SQLite::Database& source, const std::string& dest_path);

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_SQLITE_DB_H_
