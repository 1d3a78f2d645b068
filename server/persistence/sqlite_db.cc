#include "server/persistence/sqlite_db.h"

#include <sqlite3.h>

#include <memory>
#include <string>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace fast_crewai::persistence {

absl::Status SqliteErrorToStatus(int sqlite_error_code, absl::string_view sqlite_message,
                                 absl::string_view context) {
  std::string message = absl::StrCat(context, ": ", sqlite_message);
  switch (sqlite_error_code & 0xff) {  // the primary result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return absl::UnavailableError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(
    const std::string& path, const SqliteOptions& options) {
  std::unique_ptr<SQLite::Database> db;
  absl::Status status = RunSqlite(absl::StrCat(path, ": open"), [&] {
    db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX,
        options.busy_timeout_ms);
    // Touch the file so that a non-database is reported here rather than later.
    SQLite::Statement mode(*db, "PRAGMA journal_mode=WAL");
    if (!mode.executeStep() || mode.getColumn(0).getString() != "wal") {
      throw std::runtime_error("cannot switch the journal to WAL mode");
    }
    db->exec(options.sync == SqliteSync::kFull ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL");
  });
  if (!status.ok()) return status;

  if (options.application_id != 0) {
    status = RunSqlite(absl::StrCat(path, ": application_id"), [&] {
      const int64_t current = db->execAndGet("PRAGMA application_id").getInt64();
      if (current == 0) {
        db->exec(absl::StrCat("PRAGMA application_id=", options.application_id));
      } else if (current != options.application_id) {
        throw std::invalid_argument(absl::StrCat(
            "the file belongs to another program (application_id ", current, ")"));
      }
    });
    if (absl::IsInternal(status)) {
      return absl::FailedPreconditionError(status.message());
    }
    if (!status.ok()) return status;
  }
  return db;
}

absl::StatusOr<int> GetUserVersion(SQLite::Database& db) {
  int version = 0;
  absl::Status status = RunSqlite("PRAGMA user_version", [&] {
    version = static_cast<int>(db.execAndGet("PRAGMA user_version").getInt64());
  });
  if (!status.ok()) return status;
  return version;
}

absl::Status SetUserVersion(SQLite::Database& db, int version) {
  return RunSqlite("PRAGMA user_version",
                   [&] { db.exec(absl::StrCat("PRAGMA user_version=", version)); });
}

absl::Status CheckpointTruncate(SQLite::Database& db) {
  return RunSqlite("PRAGMA wal_checkpoint(TRUNCATE)", [&] {
    SQLite::Statement checkpoint(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (checkpoint.executeStep() && checkpoint.getColumn(0).getInt() != 0) {
      throw SQLite::Exception("checkpoint blocked by another connection", SQLITE_BUSY);
    }
  });
}

}  // namespace fast_crewai::persistence
