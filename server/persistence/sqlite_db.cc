#include "server/persistence/sqlite_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "SQLiteCpp/Backup.h"
#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_join.h"

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

absl::StatusOr<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(const std::string& path,
                                                                     const SqliteOptions& options) {
  std::unique_ptr<SQLite::Database> db;
  int64_t application_id = 0;
  // Reads only, so that a file that is not ours is left exactly as it was. Reading the header
  // also reports a non-database here rather than later.
  absl::Status status = RunSqlite(absl::StrCat(path, ": open"), [&] {
    db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX,
        options.busy_timeout_ms);
    application_id = db->execAndGet("PRAGMA application_id").getInt64();
  });
  if (!status.ok()) return status;
  if (options.application_id != 0 && application_id != 0 &&
      application_id != options.application_id) {
    return absl::DataLossError(absl::StrCat(path, ": application_id: the file belongs to another "
                                            "program (application_id ", application_id, ")"));
  }

  status = RunSqlite(absl::StrCat(path, ": open"), [&] {
    SQLite::Statement mode(*db, "PRAGMA journal_mode=WAL");
    if (!mode.executeStep() || mode.getColumn(0).getString() != "wal") {
      throw std::runtime_error("cannot switch the journal to WAL mode");
    }
    db->exec(options.sync == SqliteSync::kFull ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL");
    if (options.query_only) db->exec("PRAGMA query_only=1");
    if (options.application_id != 0 && application_id == 0) {
      db->exec(absl::StrCat("PRAGMA application_id=", options.application_id));
    }
  });
  if (!status.ok()) return status;
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

absl::Status RunMigrations(SQLite::Database& db, absl::string_view label,
                           absl::Span<const char* const> migrations) {
  absl::StatusOr<int> version = GetUserVersion(db);
  if (!version.ok()) {
    return absl::Status(version.status().code(),
                        absl::StrCat(label, ": ", version.status().message()));
  }
  const int target = static_cast<int>(migrations.size());
  if (*version > target) {
    return absl::FailedPreconditionError(absl::StrCat(label, ": schema version ", *version,
                                                      " is newer than this server (", target,
                                                      "); upgrade fast-crewai-server"));
  }
  for (int v = *version; v < target; ++v) {
    absl::Status s = RunSqlite(absl::StrCat(label, ": migrate to schema ", v + 1), [&] {
      SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
      db.exec(migrations[static_cast<size_t>(v)]);
      db.exec(absl::StrCat("PRAGMA user_version=", v + 1));
      txn.commit();
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckpointTruncate(SQLite::Database& db) {
  return RunSqlite("PRAGMA wal_checkpoint(TRUNCATE)", [&] {
    SQLite::Statement checkpoint(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (checkpoint.executeStep() && checkpoint.getColumn(0).getInt() != 0) {
      throw SQLite::Exception("checkpoint blocked by another connection", SQLITE_BUSY);
    }
  });
}

absl::Status CheckIntegrity(SQLite::Database& db, IntegrityCheckMode mode,
                            absl::string_view label) {
  if (mode == IntegrityCheckMode::kOff) return absl::OkStatus();
  const char* pragma =
      mode == IntegrityCheckMode::kQuick ? "PRAGMA quick_check(20)" : "PRAGMA integrity_check(20)";
  std::vector<std::string> problems;
  absl::Status status = RunSqlite(pragma, [&] {
    SQLite::Statement check(db, pragma);
    while (check.executeStep()) problems.push_back(check.getColumn(0).getString());
  });
  if (!status.ok()) {
    // A file too damaged to be checked is as corrupt as one the check complains about.
    if (absl::IsInternal(status) || absl::IsDataLoss(status)) {
      return absl::DataLossError(
          absl::StrCat(label, ": integrity check failed: ", status.message()));
    }
    return absl::Status(status.code(), absl::StrCat(label, ": ", status.message()));
  }
  if (problems.size() == 1 && problems.front() == "ok") return absl::OkStatus();
  if (problems.empty()) problems.push_back("no result");
  for (std::string& problem : problems) {  // one line: SQLite's reports span several
    problem = absl::StrReplaceAll(problem, {{"\n", " "}});
    absl::StripAsciiWhitespace(&problem);
  }
  return absl::DataLossError(
      absl::StrCat(label, ": integrity check failed: ", absl::StrJoin(problems, "; ")));
}

absl::StatusOr<BackupResult> BackupDatabase(SQLite::Database& source,
                                            const std::string& dest_path) {
  const std::string tmp_path = absl::StrCat(dest_path, ".tmp-", ::getpid());
  std::remove(tmp_path.c_str());
  BackupResult result;
  absl::Status status = RunSqlite(absl::StrCat("backup to ", dest_path), [&] {
    SQLite::Database dest(tmp_path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    {
      SQLite::Backup backup(dest, "main", source, "main");
      // One step copies every page inside one read transaction of `source`: a consistent
      // snapshot, while WAL lets the source's writer go on.
      const int rc = backup.executeStep(-1);
      if (rc != SQLITE_DONE) {
        throw SQLite::Exception("backup did not complete", rc);
      }
      result.pages = backup.getTotalPageCount();
    }
    result.bytes = result.pages * dest.execAndGet("PRAGMA page_size").getInt64();
    // The copy has the source's WAL flag; a self-contained file opens without -wal and -shm
    // beside it (a read-only open, as the verification's, would leave them behind). Opening
    // it again in WAL mode is what the daemon does to its files.
    dest.exec("PRAGMA journal_mode=DELETE");
  });
  if (status.ok()) {
    // The copy was synced by its last commit; make the rename durable too.
    if (std::rename(tmp_path.c_str(), dest_path.c_str()) != 0) {
      status = absl::UnavailableError(
          absl::StrCat("backup to ", dest_path, ": cannot rename the finished copy into place"));
    } else {
      const std::string::size_type slash = dest_path.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : dest_path.substr(0, slash + 1);
      const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
      }
      return result;
    }
  }
  std::remove(tmp_path.c_str());
  std::remove(absl::StrCat(tmp_path, "-journal").c_str());
  std::remove(absl::StrCat(tmp_path, "-wal").c_str());
  std::remove(absl::StrCat(tmp_path, "-shm").c_str());
  return status;
}

}  // namespace fast_crewai::persistence
