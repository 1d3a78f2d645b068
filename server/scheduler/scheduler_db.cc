#include "server/scheduler/scheduler_db.h"

#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "SQLiteCpp/Transaction.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace fast_crewai::scheduler {
namespace {

using persistence::CheckIntegrity;
using persistence::CheckpointTruncate;
using persistence::GetUserVersion;
using persistence::OpenSqliteDatabase;
using persistence::RunSqlite;
using persistence::SqliteOptions;

// Each entry migrates from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
      CREATE TABLE runs (
        run_seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        queue TEXT NOT NULL,
        state INTEGER NOT NULL,
        lease_millis INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        created_at_micros INTEGER NOT NULL,
        finished_at_micros INTEGER NOT NULL
      );
      CREATE TABLE run_labels (
        run_seq INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_seq, key)
      ) WITHOUT ROWID;
      CREATE TABLE nodes (
        run_seq INTEGER NOT NULL,
        node_index INTEGER NOT NULL,
        node_id TEXT NOT NULL,
        depends_on TEXT NOT NULL,
        payload BLOB NOT NULL,
        max_attempts INTEGER NOT NULL,
        state INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        worker_id TEXT NOT NULL,
        output BLOB,
        error TEXT NOT NULL,
        started_at_micros INTEGER NOT NULL,
        finished_at_micros INTEGER NOT NULL,
        PRIMARY KEY (run_seq, node_index)
      ) WITHOUT ROWID;
    )sql",
};
static_assert(std::size(kMigrations) == kSchedulerDbSchemaVersion);

std::string ColumnBytes(const SQLite::Column& column) {
  const void* data = column.getBlob();
  const int size = column.getBytes();
  return size > 0 ? std::string(static_cast<const char*>(data), static_cast<size_t>(size))
                  : std::string();
}

void BindText(SQLite::Statement& st, int index, const std::string& text) {
  st.bindNoCopy(index, text.data(), static_cast<int>(text.size()));
}

void BindBlob(SQLite::Statement& st, int index, const std::string& bytes) {
  // A zero-length blob must still be a blob, not NULL: pass a valid pointer.
  static const char kEmpty = 0;
  st.bindNoCopy(index, bytes.empty() ? static_cast<const void*>(&kEmpty) : bytes.data(),
                static_cast<int>(bytes.size()));
}

void Run(SQLite::Statement& st) {
  st.exec();
  st.reset();
  st.clearBindings();
}

bool ValidRunState(int v) { return v >= 1 && v <= 4; }
bool ValidNodeState(int v) { return v >= 1 && v <= 6; }

}  // namespace

absl::StatusOr<std::unique_ptr<SchedulerDb>> SchedulerDb::Open(const std::string& path,
                                                               const SchedulerDbOptions& options) {
  SqliteOptions sqlite_options;
  sqlite_options.sync = options.sync;
  sqlite_options.busy_timeout_ms = options.busy_timeout_ms;
  sqlite_options.application_id = kSchedulerDbApplicationId;
  absl::StatusOr<std::unique_ptr<SQLite::Database>> db = OpenSqliteDatabase(path, sqlite_options);
  if (!db.ok()) return db.status();
  std::unique_ptr<SchedulerDb> sdb(new SchedulerDb(path, *std::move(db)));
  // Before anything writes: a damaged file is reported, never "repaired" by a migration.
  absl::Status s = CheckIntegrity(*sdb->db_, options.integrity_check, path);
  if (!s.ok()) return s;
  s = sdb->Migrate();
  if (!s.ok()) return s;
  s = sdb->Prepare();
  if (!s.ok()) return s;
  return sdb;
}

SchedulerDb::~SchedulerDb() {
  FinalizeStatements();
  db_.reset();
}

void SchedulerDb::FinalizeStatements() {
  for (auto* st : {&upsert_run_, &insert_label_, &insert_node_, &update_node_, &delete_nodes_,
                   &delete_labels_, &delete_run_}) {
    st->reset();
  }
}

absl::Status SchedulerDb::Migrate() {
  absl::StatusOr<int> version = GetUserVersion(*db_);
  if (!version.ok()) return version.status();
  if (*version > kSchedulerDbSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": schema version ", *version, " is newer than this server (",
                     kSchedulerDbSchemaVersion, "); upgrade fast-crewai-server"));
  }
  for (int v = *version; v < kSchedulerDbSchemaVersion; ++v) {
    absl::Status s = RunSqlite(absl::StrCat(path_, ": migrate to schema ", v + 1), [&] {
      SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      db_->exec(kMigrations[v]);
      db_->exec(absl::StrCat("PRAGMA user_version=", v + 1));
      txn.commit();
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SchedulerDb::Prepare() {
  return RunSqlite(absl::StrCat(path_, ": prepare statements"), [&] {
    upsert_run_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
        INSERT OR REPLACE INTO runs(run_seq, run_id, name, queue, state, lease_millis,
            max_attempts, created_at_micros, finished_at_micros)
        VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    insert_label_ = std::make_unique<SQLite::Statement>(
        *db_, "INSERT OR REPLACE INTO run_labels(run_seq, key, value) VALUES(?, ?, ?)");
    insert_node_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
        INSERT OR REPLACE INTO nodes(run_seq, node_index, node_id, depends_on, payload,
            max_attempts, state, attempts, worker_id, output, error, started_at_micros,
            finished_at_micros)
        VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    update_node_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
        UPDATE nodes SET state = ?, attempts = ?, worker_id = ?, output = ?, error = ?,
            started_at_micros = ?, finished_at_micros = ?
        WHERE run_seq = ? AND node_index = ?)sql");
    delete_nodes_ =
        std::make_unique<SQLite::Statement>(*db_, "DELETE FROM nodes WHERE run_seq = ?");
    delete_labels_ =
        std::make_unique<SQLite::Statement>(*db_, "DELETE FROM run_labels WHERE run_seq = ?");
    delete_run_ = std::make_unique<SQLite::Statement>(*db_, "DELETE FROM runs WHERE run_seq = ?");
  });
}

absl::Status SchedulerDb::Load(const std::function<absl::Status(RunRow)>& on_run,
                               const std::function<absl::Status(NodeRow)>& on_node) {
  if (db_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
  absl::Status callback_status;
  absl::Status s = RunSqlite(absl::StrCat(path_, ": load runs"), [&] {
    SQLite::Statement labels(*db_,
                             "SELECT run_seq, key, value FROM run_labels ORDER BY run_seq, key");
    bool more_labels = labels.executeStep();
    SQLite::Statement q(*db_, R"sql(
        SELECT run_seq, run_id, name, queue, state, lease_millis, max_attempts,
               created_at_micros, finished_at_micros
        FROM runs ORDER BY run_seq)sql");
    while (callback_status.ok() && q.executeStep()) {
      RunRow r;
      r.run_seq = q.getColumn(0).getInt64();
      r.run_id = ColumnBytes(q.getColumn(1));
      r.name = ColumnBytes(q.getColumn(2));
      r.queue = ColumnBytes(q.getColumn(3));
      const int state = q.getColumn(4).getInt();
      if (!ValidRunState(state)) {
        callback_status = absl::DataLossError(
            absl::StrCat(path_, ": run ", r.run_id, " has an unknown state ", state));
        break;
      }
      r.state = static_cast<RunState>(state);
      r.lease_millis = q.getColumn(5).getInt64();
      r.max_attempts = q.getColumn(6).getInt();
      r.created_at_micros = q.getColumn(7).getInt64();
      r.finished_at_micros = q.getColumn(8).getInt64();
      while (more_labels && labels.getColumn(0).getInt64() < r.run_seq) {
        more_labels = labels.executeStep();
      }
      while (more_labels && labels.getColumn(0).getInt64() == r.run_seq) {
        r.labels.emplace_back(ColumnBytes(labels.getColumn(1)), ColumnBytes(labels.getColumn(2)));
        more_labels = labels.executeStep();
      }
      callback_status = on_run(std::move(r));
    }
  });
  if (!s.ok()) return s;
  if (!callback_status.ok()) return callback_status;
  s = RunSqlite(absl::StrCat(path_, ": load nodes"), [&] {
    SQLite::Statement q(*db_, R"sql(
        SELECT run_seq, node_index, node_id, depends_on, payload, max_attempts, state,
               attempts, worker_id, output, error, started_at_micros, finished_at_micros
        FROM nodes ORDER BY run_seq, node_index)sql");
    while (callback_status.ok() && q.executeStep()) {
      NodeRow n;
      n.run_seq = q.getColumn(0).getInt64();
      n.node_index = q.getColumn(1).getInt();
      n.node_id = ColumnBytes(q.getColumn(2));
      const std::string deps = ColumnBytes(q.getColumn(3));
      for (absl::string_view d : absl::StrSplit(deps, ',', absl::SkipEmpty())) {
        int index = 0;
        if (!absl::SimpleAtoi(d, &index)) {
          callback_status = absl::DataLossError(
              absl::StrCat(path_, ": node ", n.node_id, " has a bad depends_on \"", deps, "\""));
          break;
        }
        n.depends_on.push_back(index);
      }
      if (!callback_status.ok()) break;
      n.payload = std::make_shared<const std::string>(ColumnBytes(q.getColumn(4)));
      n.max_attempts = q.getColumn(5).getInt();
      const int state = q.getColumn(6).getInt();
      if (!ValidNodeState(state)) {
        callback_status = absl::DataLossError(
            absl::StrCat(path_, ": node ", n.node_id, " has an unknown state ", state));
        break;
      }
      n.state = static_cast<NodeState>(state);
      n.attempts = q.getColumn(7).getInt();
      n.worker_id = ColumnBytes(q.getColumn(8));
      if (!q.getColumn(9).isNull()) {
        n.output = std::make_shared<const std::string>(ColumnBytes(q.getColumn(9)));
      }
      n.error = ColumnBytes(q.getColumn(10));
      n.started_at_micros = q.getColumn(11).getInt64();
      n.finished_at_micros = q.getColumn(12).getInt64();
      callback_status = on_node(std::move(n));
    }
  });
  if (!s.ok()) return s;
  return callback_status;
}

absl::Status SchedulerDb::Write(const DbBatch& batch) {
  if (db_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
  if (batch.empty()) return absl::OkStatus();
  return RunSqlite(absl::StrCat(path_, ": write"), [&] {
    // A statement left mid-way by an earlier failed batch must be reset before binding.
    for (SQLite::Statement* st : {upsert_run_.get(), insert_label_.get(), insert_node_.get(),
                                  update_node_.get(), delete_nodes_.get(), delete_labels_.get(),
                                  delete_run_.get()}) {
      st->reset();
      st->clearBindings();
    }
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    for (int64_t seq : batch.delete_runs) {
      for (SQLite::Statement* st : {delete_nodes_.get(), delete_labels_.get(), delete_run_.get()}) {
        st->bind(1, seq);
        Run(*st);
      }
    }
    for (const auto& [r, insert] : batch.runs) {
      SQLite::Statement& st = *upsert_run_;
      st.bind(1, r.run_seq);
      BindText(st, 2, r.run_id);
      BindText(st, 3, r.name);
      BindText(st, 4, r.queue);
      st.bind(5, static_cast<int>(r.state));
      st.bind(6, r.lease_millis);
      st.bind(7, r.max_attempts);
      st.bind(8, r.created_at_micros);
      st.bind(9, r.finished_at_micros);
      Run(st);
      if (insert) {
        for (const auto& [key, value] : r.labels) {
          insert_label_->bind(1, r.run_seq);
          BindText(*insert_label_, 2, key);
          BindText(*insert_label_, 3, value);
          Run(*insert_label_);
        }
      }
    }
    for (const auto& [n, insert] : batch.nodes) {
      const std::string empty;
      if (insert) {
        SQLite::Statement& st = *insert_node_;
        const std::string deps = absl::StrJoin(n.depends_on, ",");
        st.bind(1, n.run_seq);
        st.bind(2, n.node_index);
        BindText(st, 3, n.node_id);
        BindText(st, 4, deps);
        BindBlob(st, 5, n.payload != nullptr ? *n.payload : empty);
        st.bind(6, n.max_attempts);
        st.bind(7, static_cast<int>(n.state));
        st.bind(8, n.attempts);
        BindText(st, 9, n.worker_id);
        if (n.output != nullptr) {
          BindBlob(st, 10, *n.output);
        } else {
          st.bind(10);
        }
        BindText(st, 11, n.error);
        st.bind(12, n.started_at_micros);
        st.bind(13, n.finished_at_micros);
        Run(st);  // `deps` is bound without a copy: run before it goes out of scope
      } else {
        SQLite::Statement& st = *update_node_;
        st.bind(1, static_cast<int>(n.state));
        st.bind(2, n.attempts);
        BindText(st, 3, n.worker_id);
        if (n.output != nullptr) {
          BindBlob(st, 4, *n.output);
        } else {
          st.bind(4);
        }
        BindText(st, 5, n.error);
        st.bind(6, n.started_at_micros);
        st.bind(7, n.finished_at_micros);
        st.bind(8, n.run_seq);
        st.bind(9, n.node_index);
        Run(st);
      }
    }
    txn.commit();
  });
}

absl::Status SchedulerDb::Close() {
  if (db_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
  FinalizeStatements();
  absl::Status s = CheckpointTruncate(*db_);
  absl::Status close_status = RunSqlite(absl::StrCat(path_, ": close"), [&] { db_.reset(); });
  db_.reset();
  return s.ok() ? close_status : s;
}

}  // namespace fast_crewai::scheduler
