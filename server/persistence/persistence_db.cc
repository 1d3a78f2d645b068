#include "server/persistence/persistence_db.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "SQLiteCpp/Transaction.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fast_crewai::persistence {
namespace {

// Each entry migrates from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
      CREATE TABLE kickoffs (
        kickoff_id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        created_seq INTEGER NOT NULL,
        created_at_micros INTEGER NOT NULL
      );
      CREATE TABLE kickoff_task_outputs (
        kickoff_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        task_key TEXT,
        expected_output TEXT NOT NULL,
        output TEXT NOT NULL,
        task_index INTEGER NOT NULL,
        inputs TEXT NOT NULL,
        was_replayed INTEGER NOT NULL,
        timestamp TEXT NOT NULL,
        insert_seq INTEGER NOT NULL,
        write_seq INTEGER NOT NULL,
        PRIMARY KEY (kickoff_id, task_id)
      );
      CREATE TABLE flow_states (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        flow_uuid TEXT NOT NULL,
        method_name TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        state_json TEXT NOT NULL
      );
      CREATE INDEX idx_flow_states_uuid ON flow_states(flow_uuid, id);
      CREATE TABLE pending_feedback (
        flow_uuid TEXT PRIMARY KEY,
        context_json TEXT NOT NULL,
        state_json TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE long_term_memories (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        namespace TEXT NOT NULL,
        task_description TEXT NOT NULL,
        metadata TEXT NOT NULL,
        datetime TEXT NOT NULL,
        score REAL NOT NULL
      );
      CREATE INDEX idx_ltm_description ON long_term_memories(namespace, task_description);
    )sql",
};
static_assert(std::size(kMigrations) == kPersistenceDbSchemaVersion);

std::string ColumnText(const SQLite::Column& column) {
  const void* data = column.getBlob();  // the bytes as stored, NULs included
  const int size = column.getBytes();
  return size > 0 ? std::string(static_cast<const char*>(data), static_cast<size_t>(size))
                  : std::string();
}

void BindText(SQLite::Statement& st, int index, absl::string_view text) {
  st.bindNoCopy(index, text.data(), static_cast<int>(text.size()));
}

}  // namespace

class PersistenceDb::ReaderLease {
 public:
  ReaderLease(PersistenceDb* db, Reader* reader) : db_(db), reader_(reader) {}
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;
  ~ReaderLease() { db_->ReleaseReader(reader_); }
  SQLite::Database& db() { return *reader_->db; }

 private:
  PersistenceDb* db_;
  Reader* reader_;
};

absl::StatusOr<std::unique_ptr<PersistenceDb>> PersistenceDb::Open(
    const std::string& path, const PersistenceDbOptions& options) {
  SqliteOptions sqlite_options;
  sqlite_options.sync = options.sync;
  sqlite_options.busy_timeout_ms = options.busy_timeout_ms;
  sqlite_options.application_id = kPersistenceDbApplicationId;
  absl::StatusOr<std::unique_ptr<SQLite::Database>> db = OpenSqliteDatabase(path, sqlite_options);
  if (!db.ok()) return db.status();
  std::unique_ptr<PersistenceDb> pdb(new PersistenceDb(path, *std::move(db)));
  // Before anything writes: a damaged file is reported, never "repaired" by a migration.
  absl::Status s = CheckIntegrity(*pdb->db_, options.integrity_check, path);
  if (!s.ok()) return s;
  s = pdb->Migrate();
  if (!s.ok()) return s;
  s = pdb->Prepare();
  if (!s.ok()) return s;
  SqliteOptions reader_options = sqlite_options;
  reader_options.application_id = 0;  // checked by the writer
  reader_options.query_only = true;
  const int readers = std::max(1, options.readers);
  absl::MutexLock lock(&pdb->readers_mu_);
  for (int i = 0; i < readers; ++i) {
    absl::StatusOr<std::unique_ptr<SQLite::Database>> reader =
        OpenSqliteDatabase(path, reader_options);
    if (!reader.ok()) return reader.status();
    auto r = std::make_unique<Reader>();
    r->db = *std::move(reader);
    pdb->free_readers_.push_back(r.get());
    pdb->readers_.push_back(std::move(r));
  }
  return pdb;
}

PersistenceDb::~PersistenceDb() {
  FinalizeStatements();
  absl::MutexLock lock(&readers_mu_);
  free_readers_.clear();
  readers_.clear();
  db_.reset();
}

void PersistenceDb::FinalizeStatements() {
  // Statements must be finalised before their connection closes.
  for (auto* st :
       {&insert_kickoff_, &delete_kickoff_rows_, &delete_kickoff_, &upsert_row_, &delete_row_,
        &append_flow_state_, &upsert_pending_, &delete_pending_, &insert_ltm_, &delete_ltm_}) {
    st->reset();
  }
}

absl::Status PersistenceDb::Migrate() { return RunMigrations(*db_, path_, kMigrations); }

absl::Status PersistenceDb::Prepare() {
  return RunSqlite(absl::StrCat(path_, ": prepare statements"), [&] {
    insert_kickoff_ = std::make_unique<SQLite::Statement>(
        *db_,
        "INSERT OR REPLACE INTO kickoffs(kickoff_id, namespace, created_seq, created_at_micros) "
        "VALUES(?, ?, ?, ?)");
    delete_kickoff_rows_ = std::make_unique<SQLite::Statement>(
        *db_, "DELETE FROM kickoff_task_outputs WHERE kickoff_id = ?");
    delete_kickoff_ =
        std::make_unique<SQLite::Statement>(*db_, "DELETE FROM kickoffs WHERE kickoff_id = ?");
    upsert_row_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
        INSERT OR REPLACE INTO kickoff_task_outputs(kickoff_id, task_id, task_key,
            expected_output, output, task_index, inputs, was_replayed, timestamp, insert_seq,
            write_seq)
        VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    delete_row_ = std::make_unique<SQLite::Statement>(
        *db_, "DELETE FROM kickoff_task_outputs WHERE kickoff_id = ? AND task_id = ?");
    append_flow_state_ = std::make_unique<SQLite::Statement>(
        *db_,
        "INSERT INTO flow_states(flow_uuid, method_name, timestamp, state_json) "
        "VALUES(?, ?, ?, ?)");
    upsert_pending_ = std::make_unique<SQLite::Statement>(
        *db_,
        "INSERT OR REPLACE INTO pending_feedback(flow_uuid, context_json, state_json, created_at) "
        "VALUES(?, ?, ?, ?)");
    delete_pending_ = std::make_unique<SQLite::Statement>(
        *db_, "DELETE FROM pending_feedback WHERE flow_uuid = ?");
    insert_ltm_ = std::make_unique<SQLite::Statement>(
        *db_,
        "INSERT INTO long_term_memories(namespace, task_description, metadata, datetime, score) "
        "VALUES(?, ?, ?, ?, ?)");
    delete_ltm_ = std::make_unique<SQLite::Statement>(
        *db_, "DELETE FROM long_term_memories WHERE namespace = ?");
  });
}

absl::Status PersistenceDb::LoadKickoffs(
    const std::function<absl::Status(KickoffSnapshot)>& on_kickoff,
    const std::function<absl::Status(const std::string&, StoredTaskOutput)>& on_row) {
  if (db_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
  absl::Status callback_status;
  absl::Status s = RunSqlite(absl::StrCat(path_, ": load kickoffs"), [&] {
    SQLite::Statement q(*db_,
                        "SELECT kickoff_id, namespace, created_seq, created_at_micros "
                        "FROM kickoffs ORDER BY created_seq");
    while (callback_status.ok() && q.executeStep()) {
      KickoffSnapshot k;
      k.kickoff_id = ColumnText(q.getColumn(0));
      k.ns = ColumnText(q.getColumn(1));
      k.created_seq = q.getColumn(2).getInt64();
      k.created_at_micros = q.getColumn(3).getInt64();
      callback_status = on_kickoff(std::move(k));
    }
  });
  if (!s.ok()) return s;
  if (!callback_status.ok()) return callback_status;
  s = RunSqlite(absl::StrCat(path_, ": load task outputs"), [&] {
    SQLite::Statement q(*db_, R"sql(
        SELECT kickoff_id, task_id, task_key, expected_output, output, task_index, inputs,
               was_replayed, timestamp, insert_seq, write_seq
        FROM kickoff_task_outputs ORDER BY kickoff_id, task_index, insert_seq)sql");
    while (callback_status.ok() && q.executeStep()) {
      const std::string kickoff_id = ColumnText(q.getColumn(0));
      StoredTaskOutput stored;
      TaskOutputRow& r = stored.row;
      r.task_id = ColumnText(q.getColumn(1));
      if (!q.getColumn(2).isNull()) r.task_key = ColumnText(q.getColumn(2));
      r.expected_output = ColumnText(q.getColumn(3));
      r.output_json = ColumnText(q.getColumn(4));
      r.task_index = q.getColumn(5).getInt64();
      r.inputs_json = ColumnText(q.getColumn(6));
      r.was_replayed = q.getColumn(7).getInt() != 0;
      r.timestamp = ColumnText(q.getColumn(8));
      stored.insert_seq = q.getColumn(9).getInt64();
      stored.write_seq = q.getColumn(10).getInt64();
      callback_status = on_row(kickoff_id, std::move(stored));
    }
  });
  if (!s.ok()) return s;
  return callback_status;
}

absl::StatusOr<int64_t> PersistenceDb::MaxSequence() {
  int64_t max = 0;
  absl::Status s = RunSqlite(absl::StrCat(path_, ": max sequence"), [&] {
    max = db_->execAndGet(R"sql(
        SELECT MAX(COALESCE((SELECT MAX(write_seq) FROM kickoff_task_outputs), 0),
                   COALESCE((SELECT MAX(insert_seq) FROM kickoff_task_outputs), 0),
                   COALESCE((SELECT MAX(created_seq) FROM kickoffs), 0)))sql")
              .getInt64();
  });
  if (!s.ok()) return s;
  return max;
}

absl::Status PersistenceDb::Write(const std::vector<const DbOp*>& ops) {
  if (db_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
  return RunSqlite(absl::StrCat(path_, ": write"), [&] {
    // A statement left mid-way by an earlier failed group must be reset before binding.
    for (SQLite::Statement* st :
         {insert_kickoff_.get(), delete_kickoff_rows_.get(), delete_kickoff_.get(),
          upsert_row_.get(), delete_row_.get(), append_flow_state_.get(), upsert_pending_.get(),
          delete_pending_.get(), insert_ltm_.get(), delete_ltm_.get()}) {
      st->reset();
      st->clearBindings();
    }
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    const auto run = [](SQLite::Statement& st) {
      st.exec();
      st.reset();
      st.clearBindings();
    };
    for (const DbOp* op : ops) {
      if (const auto* o = std::get_if<InsertKickoffOp>(op)) {
        SQLite::Statement& st = *insert_kickoff_;
        BindText(st, 1, o->kickoff->kickoff_id);
        BindText(st, 2, o->kickoff->ns);
        st.bind(3, static_cast<int64_t>(o->kickoff->created_seq));
        st.bind(4, static_cast<int64_t>(o->kickoff->created_at_micros));
        run(st);
      } else if (const auto* o = std::get_if<DeleteKickoffOp>(op)) {
        BindText(*delete_kickoff_rows_, 1, o->kickoff_id);
        run(*delete_kickoff_rows_);
        BindText(*delete_kickoff_, 1, o->kickoff_id);
        run(*delete_kickoff_);
      } else if (const auto* o = std::get_if<UpsertTaskOutputOp>(op)) {
        SQLite::Statement& st = *upsert_row_;
        const TaskOutputRow& r = o->row->row;
        BindText(st, 1, *o->kickoff_id);
        BindText(st, 2, r.task_id);
        if (r.task_key.has_value()) {
          BindText(st, 3, *r.task_key);
        } else {
          st.bind(3);
        }
        BindText(st, 4, r.expected_output);
        BindText(st, 5, r.output_json);
        st.bind(6, static_cast<int64_t>(r.task_index));
        BindText(st, 7, r.inputs_json);
        st.bind(8, r.was_replayed ? 1 : 0);
        BindText(st, 9, r.timestamp);
        st.bind(10, static_cast<int64_t>(o->row->insert_seq));
        st.bind(11, static_cast<int64_t>(o->row->write_seq));
        run(st);
      } else if (const auto* o = std::get_if<DeleteTaskOutputOp>(op)) {
        BindText(*delete_row_, 1, o->kickoff_id);
        BindText(*delete_row_, 2, o->task_id);
        run(*delete_row_);
      } else if (const auto* o = std::get_if<AppendFlowStateOp>(op)) {
        SQLite::Statement& st = *append_flow_state_;
        BindText(st, 1, o->state->flow_uuid);
        BindText(st, 2, o->state->method_name);
        BindText(st, 3, o->state->timestamp);
        BindText(st, 4, o->state->state_json);
        run(st);
      } else if (const auto* o = std::get_if<UpsertPendingFeedbackOp>(op)) {
        SQLite::Statement& st = *upsert_pending_;
        BindText(st, 1, o->pending->flow_uuid);
        BindText(st, 2, o->pending->context_json);
        BindText(st, 3, o->pending->state_json);
        BindText(st, 4, o->pending->created_at);
        run(st);
      } else if (const auto* o = std::get_if<DeletePendingFeedbackOp>(op)) {
        BindText(*delete_pending_, 1, *o->flow_uuid);
        run(*delete_pending_);
      } else if (const auto* o = std::get_if<InsertLtmOp>(op)) {
        SQLite::Statement& st = *insert_ltm_;
        BindText(st, 1, *o->ns);
        BindText(st, 2, *o->task_description);
        BindText(st, 3, o->entry->metadata_json);
        BindText(st, 4, o->entry->datetime);
        st.bind(5, o->entry->score);
        run(st);
      } else if (const auto* o = std::get_if<DeleteLtmOp>(op)) {
        BindText(*delete_ltm_, 1, *o->ns);
        run(*delete_ltm_);
      }
    }
    txn.commit();
  });
}

absl::StatusOr<PersistenceDb::Reader*> PersistenceDb::AcquireReader() {
  absl::MutexLock lock(&readers_mu_);
  const auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(readers_mu_) {
    return closed_ || !free_readers_.empty();
  };
  readers_mu_.Await(absl::Condition(&available));
  if (closed_) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
  Reader* r = free_readers_.back();
  free_readers_.pop_back();
  return r;
}

void PersistenceDb::ReleaseReader(Reader* reader) {
  absl::MutexLock lock(&readers_mu_);
  free_readers_.push_back(reader);
}

absl::StatusOr<std::optional<FlowState>> PersistenceDb::ReadLatestFlowState(
    absl::string_view flow_uuid) {
  absl::StatusOr<Reader*> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  ReaderLease lease(this, *reader);
  std::optional<FlowState> out;
  absl::Status s = RunSqlite(absl::StrCat(path_, ": load flow state"), [&] {
    SQLite::Statement q(lease.db(),
                        "SELECT id, method_name, timestamp, state_json FROM flow_states "
                        "WHERE flow_uuid = ? ORDER BY id DESC LIMIT 1");
    BindText(q, 1, flow_uuid);
    if (q.executeStep()) {
      FlowState f;
      f.id = q.getColumn(0).getInt64();
      f.flow_uuid = std::string(flow_uuid);
      f.method_name = ColumnText(q.getColumn(1));
      f.timestamp = ColumnText(q.getColumn(2));
      f.state_json = ColumnText(q.getColumn(3));
      out = std::move(f);
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<PendingFeedback>> PersistenceDb::ReadPendingFeedback(
    absl::string_view flow_uuid) {
  absl::StatusOr<Reader*> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  ReaderLease lease(this, *reader);
  std::optional<PendingFeedback> out;
  absl::Status s = RunSqlite(absl::StrCat(path_, ": load pending feedback"), [&] {
    SQLite::Statement q(lease.db(),
                        "SELECT context_json, state_json, created_at FROM pending_feedback "
                        "WHERE flow_uuid = ?");
    BindText(q, 1, flow_uuid);
    if (q.executeStep()) {
      PendingFeedback p;
      p.flow_uuid = std::string(flow_uuid);
      p.context_json = ColumnText(q.getColumn(0));
      p.state_json = ColumnText(q.getColumn(1));
      p.created_at = ColumnText(q.getColumn(2));
      out = std::move(p);
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<LtmEntry>> PersistenceDb::ReadLtm(absl::string_view ns,
                                                             absl::string_view task_description,
                                                             int64_t latest_n) {
  absl::StatusOr<Reader*> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  ReaderLease lease(this, *reader);
  std::vector<LtmEntry> out;
  absl::Status s = RunSqlite(absl::StrCat(path_, ": load long-term memories"), [&] {
    SQLite::Statement q(lease.db(),
                        "SELECT metadata, datetime, score FROM long_term_memories "
                        "WHERE namespace = ? AND task_description = ? "
                        "ORDER BY datetime DESC, score ASC, id ASC LIMIT ?");
    BindText(q, 1, ns);
    BindText(q, 2, task_description);
    q.bind(3, static_cast<int64_t>(latest_n));
    while (q.executeStep()) {
      LtmEntry e;
      e.metadata_json = ColumnText(q.getColumn(0));
      e.datetime = ColumnText(q.getColumn(1));
      e.score = q.getColumn(2).getDouble();
      out.push_back(std::move(e));
    }
  });
  if (!s.ok()) return s;
  return out;
}

namespace {
absl::StatusOr<int64_t> Count(PersistenceDb* /*db*/, SQLite::Database& conn, const char* sql,
                              absl::string_view label, absl::string_view arg, bool bind_arg) {
  int64_t n = 0;
  absl::Status s = RunSqlite(label, [&] {
    SQLite::Statement q(conn, sql);
    if (bind_arg) BindText(q, 1, arg);
    if (q.executeStep()) n = q.getColumn(0).getInt64();
  });
  if (!s.ok()) return s;
  return n;
}
}  // namespace

absl::StatusOr<int64_t> PersistenceDb::CountLtm(absl::string_view ns) {
  absl::StatusOr<Reader*> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  ReaderLease lease(this, *reader);
  return Count(this, lease.db(), "SELECT COUNT(*) FROM long_term_memories WHERE namespace = ?",
               "count long-term memories", ns, true);
}

absl::StatusOr<int64_t> PersistenceDb::CountFlowStates() {
  absl::StatusOr<Reader*> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  ReaderLease lease(this, *reader);
  return Count(this, lease.db(), "SELECT COUNT(*) FROM flow_states", "count flow states", "",
               false);
}

absl::StatusOr<int64_t> PersistenceDb::CountPendingFeedback() {
  absl::StatusOr<Reader*> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  ReaderLease lease(this, *reader);
  return Count(this, lease.db(), "SELECT COUNT(*) FROM pending_feedback", "count pending feedback",
               "", false);
}

absl::StatusOr<BackupResult> PersistenceDb::Backup(const std::string& dest_path) {
  absl::StatusOr<Reader*> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  ReaderLease lease(this, *reader);
  return BackupDatabase(lease.db(), dest_path);
}

absl::Status PersistenceDb::Close() {
  if (db_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
  {
    absl::MutexLock lock(&readers_mu_);
    // Wait for reads in progress, then close the readers first so the checkpoint below can
    // truncate the WAL.
    const auto all_free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(readers_mu_) {
      return free_readers_.size() == readers_.size();
    };
    readers_mu_.Await(absl::Condition(&all_free));
    closed_ = true;
    free_readers_.clear();
    readers_.clear();
  }
  FinalizeStatements();
  absl::Status s = CheckpointTruncate(*db_);
  absl::Status close_status = RunSqlite(absl::StrCat(path_, ": close"), [&] { db_.reset(); });
  db_.reset();
  return s.ok() ? close_status : s;
}

}  // namespace fast_crewai::persistence
