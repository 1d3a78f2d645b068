#include "server/memory/memory_store.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/memory/distance.h"
#include "server/memory/memory_db.h"
#include "server/memory/namespace_index.h"
#include "server/memory/scope.h"
#include "server/memory/utf8.h"
#include "server/memory/validation.h"
#include "server/persistence/group_commit.h"
#include "server/util/status_macros.h"
#include "tbb/task_arena.h"

namespace fast_crewai::memory {
namespace {

absl::Status ValidateLimit(int limit, absl::string_view path) {
  if (limit < 1 || limit > kMaxLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must be between 1 and ", kMaxLimit, " (got ", limit, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateIds(const std::vector<std::string>& ids, absl::string_view path) {
  for (size_t i = 0; i < ids.size(); ++i) {
    absl::Status s = ValidateRecordId(ids[i], absl::StrCat(path, "[", i, "]"));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<std::string> Unique(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& id : ids) {
    if (seen.insert(id).second) out.push_back(id);
  }
  return out;
}

absl::Status Closed() { return absl::FailedPreconditionError("memory store is closed"); }

// Runs `fn` and maps any exception it throws (std::bad_alloc from a huge request, an
// exception from oneTBB) to a status, so that none leaves the module.
template <typename Fn>
auto Guard(absl::string_view call, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(call, ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(call, ": ", e.what()));
  }
}

class MemoryStoreImpl final : public MemoryStore {
 public:
  MemoryStoreImpl(const MemoryStoreOptions& options, std::unique_ptr<MemoryDb> db);
  ~MemoryStoreImpl() override;

  absl::Status LoadAll();

  absl::StatusOr<SaveResult> Save(absl::string_view ns, std::vector<Record> records) override;
  void SaveAsync(std::string ns, std::vector<Record> records, bool may_lead,
                 SaveDone done) override;
  void UpdateAsync(std::string ns, Record record, bool may_lead, UpdateDone done) override;
  void DeleteAsync(std::string ns, DeleteRequest request, bool may_lead, DeleteDone done) override;
  absl::StatusOr<SearchResult> Search(absl::string_view ns,
                                      const SearchRequest& request) const override;
  absl::StatusOr<int64_t> Delete(absl::string_view ns, const DeleteRequest& request) override;
  absl::Status Update(absl::string_view ns, Record record) override;
  absl::StatusOr<std::optional<Record>> GetRecord(absl::string_view ns,
                                                  absl::string_view id) const override;
  absl::StatusOr<ListRecordsResult> ListRecords(absl::string_view ns,
                                                const ListRecordsRequest& request) const override;
  absl::StatusOr<ScopeInfo> GetScopeInfo(absl::string_view ns,
                                         absl::string_view scope) const override;
  absl::StatusOr<std::vector<std::string>> ListScopes(absl::string_view ns,
                                                      absl::string_view parent) const override;
  absl::StatusOr<std::vector<CategoryCount>> ListCategories(
      absl::string_view ns, absl::string_view scope_prefix) const override;
  absl::StatusOr<int64_t> Count(absl::string_view ns,
                                absl::string_view scope_prefix) const override;
  absl::StatusOr<int64_t> Reset(absl::string_view ns, absl::string_view scope_prefix) override;
  absl::StatusOr<int64_t> TouchRecords(absl::string_view ns, const std::vector<std::string>& ids,
                                       absl::string_view last_accessed,
                                       int64_t last_accessed_micros) override;
  absl::StatusOr<NamespaceInfo> DescribeNamespace(absl::string_view ns) const override;
  MemoryStoreStats GetStats() const override;
  absl::Status Close() override;

 private:
  // The public calls run their Do* counterpart inside Guard(): no exception escapes.
  absl::StatusOr<SaveResult> DoSave(absl::string_view ns, std::vector<Record> records);
  absl::StatusOr<SearchResult> DoSearch(absl::string_view ns, const SearchRequest& request) const;
  absl::StatusOr<int64_t> DoDelete(absl::string_view ns, const DeleteRequest& request);
  absl::Status DoUpdate(absl::string_view ns, Record record);
  absl::StatusOr<std::optional<Record>> DoGetRecord(absl::string_view ns,
                                                    absl::string_view id) const;
  absl::StatusOr<ListRecordsResult> DoListRecords(absl::string_view ns,
                                                  const ListRecordsRequest& request) const;
  absl::StatusOr<ScopeInfo> DoGetScopeInfo(absl::string_view ns, absl::string_view scope) const;
  absl::StatusOr<std::vector<std::string>> DoListScopes(absl::string_view ns,
                                                        absl::string_view parent) const;
  absl::StatusOr<std::vector<CategoryCount>> DoListCategories(absl::string_view ns,
                                                              absl::string_view scope_prefix) const;
  absl::StatusOr<int64_t> DoCount(absl::string_view ns, absl::string_view scope_prefix) const;
  absl::StatusOr<int64_t> DoReset(absl::string_view ns, absl::string_view scope_prefix);
  absl::StatusOr<int64_t> DoTouchRecords(absl::string_view ns, const std::vector<std::string>& ids,
                                         absl::string_view last_accessed,
                                         int64_t last_accessed_micros);
  absl::StatusOr<NamespaceInfo> DoDescribeNamespace(absl::string_view ns) const;

  struct Namespace {
    Namespace(int64_t id, std::string n, const IndexOptions& options)
        : ns_id(id), name(std::move(n)), index(options) {}
    const int64_t ns_id;
    const std::string name;
    mutable absl::Mutex mu;
    NamespaceIndex index ABSL_GUARDED_BY(mu);
  };

  // One queued write call. A blocking writer lives on the caller's stack until `done`; a
  // callback writer is the heart of an AsyncWrite.
  struct Writer {
    enum class Kind { kSave, kUpdate, kDelete, kReset, kTouch };
    Kind kind;
    std::string ns;
    // kSave / kUpdate
    std::vector<PreparedRecord> records;
    int batch_dim = 0;           // 0 when no record has an embedding
    std::string batch_dim_path;  // "records[i].embedding" of the first embedding
    // kDelete / kReset (a scoped reset is a delete by scope)
    ParsedFilter filter;
    std::vector<std::string> ids;
    std::optional<int64_t> older_than;
    bool full_reset = false;
    // kTouch
    std::string touch_text;
    int64_t touch_micros = 0;

    // Results, written by the leader.
    absl::Status status;
    int64_t count = 0;
    int vector_dim = 0;
    bool done = false;  // written by the group-commit queue
    // Callback writers only (GroupCommitQueue::SubmitAsync): runs once after the group.
    absl::AnyInvocable<void()> complete;

    // The leader's plan.
    std::vector<MemoryOp> ops;
    Namespace* target = nullptr;
    std::unique_ptr<Namespace> created;  // set on the writer that creates the namespace
  };

  // A queued callback write (SaveAsync, UpdateAsync, DeleteAsync): owns its writer and the
  // caller's callback (the one matching writer.kind); deleted by its completion.
  struct AsyncWrite {
    Writer writer;
    SaveDone save_done;
    UpdateDone update_done;
    DeleteDone delete_done;

    // Reports the writer's result to the callback.
    void Report();
  };

  // The group-commit leader's view of one namespace: committed state plus this group's
  // earlier writes.
  struct Overlay {
    Namespace* ns = nullptr;              // the committed namespace, or
    std::unique_ptr<Namespace> creating;  // the one this group creates
    Namespace* target = nullptr;
    int64_t ns_id = 0;
    int dim = 0;
    bool cleared = false;  // a full reset earlier in the group: committed records are gone
    // id -> the pending record, or nullptr when deleted earlier in the group.
    absl::flat_hash_map<std::string, PreparedRecord*> pending;
  };
  using Overlays = absl::flat_hash_map<std::string, Overlay>;

  Namespace* FindNamespace(absl::string_view ns) const ABSL_LOCKS_EXCLUDED(ns_mu_);
  absl::Status CheckOpen() const {
    return closed_.load(std::memory_order_acquire) ? Closed() : absl::OkStatus();
  }
  // The first check of every call: the store is open and `ns` is a valid namespace name.
  absl::Status CheckRequest(absl::string_view ns) const {
    RETURN_IF_ERROR(CheckOpen());
    return ValidateNamespace(ns);
  }
  // `read(index)` under namespace `ns`'s reader lock, or `missing` when `ns` does not exist
  // (yet). Arguments are validated before: a missing namespace is no excuse for bad input.
  template <typename T, typename Read>
  absl::StatusOr<T> ReadIndex(absl::string_view ns, T missing, Read&& read) const
      ABSL_LOCKS_EXCLUDED(ns_mu_) {
    const Namespace* n = FindNamespace(ns);
    if (n == nullptr) return missing;
    absl::ReaderMutexLock lock(&n->mu);
    return read(n->index);
  }

  // Queues `w` and returns once its group has committed (or failed).
  absl::Status Submit(Writer* w) ABSL_LOCKS_EXCLUDED(leader_mu_);
  // Queues a prepared callback write; its completion reports and deletes it.
  void SubmitAsync(std::unique_ptr<AsyncWrite> write, bool may_lead)
      ABSL_LOCKS_EXCLUDED(leader_mu_);
  void ProcessGroup(const std::vector<Writer*>& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  Overlay* GetOverlay(Overlays& overlays, const std::string& ns, bool create)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  absl::Status Plan(Writer* w, Overlays& overlays) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  absl::Status PlanUpsert(Writer* w, Overlay* o) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  void PlanDelete(Writer* w, Overlay* o) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  void PlanFullReset(Writer* w, Overlay* o) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  void PlanTouch(Writer* w, Overlay* o);
  // RESOURCE_EXHAUSTED when adding `added` records to the group planned so far would pass
  // options_.max_records.
  absl::Status CheckCapacity(int64_t added) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);
  void Apply(Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(leader_mu_);

  // Validate a write and fill `w` with it. PrepareUpsert sets *no_write instead when the
  // batch is empty (the answer needs no commit).
  absl::Status PrepareUpsert(absl::string_view ns, std::vector<Record> records, bool is_update,
                             Writer* w, std::optional<SaveResult>* no_write) const;
  absl::Status PrepareDelete(absl::string_view ns, const DeleteRequest& request, Writer* w) const;

  const MemoryStoreOptions options_;
  mutable tbb::task_arena arena_;
  IndexOptions index_options_;

  InlineExecutor inline_executor_;  // leads callback writes when no write_executor is set
  persistence::GroupCommitQueue<Writer> writers_;
  std::atomic<bool> closed_{false};

  // Held by the group-commit leader while it plans, writes and applies a group.
  absl::Mutex leader_mu_;
  std::unique_ptr<MemoryDb> db_ ABSL_GUARDED_BY(leader_mu_);
  int64_t next_ns_id_ ABSL_GUARDED_BY(leader_mu_) = 1;
  int64_t next_row_ ABSL_GUARDED_BY(leader_mu_) = 1;  // memory.db seq of the next new record
  // Records of every namespace as committed, and the change the group being planned makes
  // (records it adds minus records it deletes); for options_.max_records.
  int64_t live_records_ ABSL_GUARDED_BY(leader_mu_) = 0;
  int64_t group_added_ ABSL_GUARDED_BY(leader_mu_) = 0;

  mutable absl::Mutex ns_mu_;
  // Namespaces are never removed (a full reset empties one), so the pointers stay valid.
  absl::flat_hash_map<std::string, std::unique_ptr<Namespace>> namespaces_ ABSL_GUARDED_BY(ns_mu_);

  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> committed_writes_{0};
  std::atomic<int64_t> failed_writes_{0};
};

int ResolveConcurrency(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

MemoryStoreImpl::MemoryStoreImpl(const MemoryStoreOptions& options, std::unique_ptr<MemoryDb> db)
    : options_(options),
      arena_(ResolveConcurrency(options.search_concurrency)),
      writers_(options.max_group_size),
      db_(std::move(db)) {
  writers_.EnableAsync(
      options.write_executor != nullptr ? options.write_executor : &inline_executor_,
      [this](const std::vector<Writer*>& group) {
        absl::MutexLock leader(&leader_mu_);
        ProcessGroup(group);
      });
  index_options_.parallel_min_bytes = options.parallel_scan_min_bytes;
  index_options_.approximate_min_candidates = options.approximate_min_candidates;
  index_options_.rerank_factor = options.rerank_factor;
  index_options_.arena = &arena_;
}

MemoryStoreImpl::~MemoryStoreImpl() {
  absl::MutexLock lock(&leader_mu_);
  db_.reset();  // closes without a checkpoint; the WAL is replayed on the next open
}

absl::Status MemoryStoreImpl::LoadAll() {
  absl::MutexLock leader(&leader_mu_);
  absl::flat_hash_map<int64_t, Namespace*> by_id;
  absl::Status s = db_->Load(
      [&](const MemoryDb::StoredNamespace& stored) -> absl::Status {
        auto ns = std::make_unique<Namespace>(stored.ns_id, stored.name, index_options_);
        if (stored.vector_dim < 0 || stored.vector_dim > kMaxDimension) {
          return absl::DataLossError(absl::StrCat("memory.db: namespace \"", stored.name,
                                                  "\" has dimension ", stored.vector_dim));
        }
        if (stored.vector_dim > 0) {
          absl::MutexLock lock(&ns->mu);
          ns->index.SetDim(stored.vector_dim);
        }
        by_id[stored.ns_id] = ns.get();
        next_ns_id_ = std::max(next_ns_id_, stored.ns_id + 1);
        absl::MutexLock lock(&ns_mu_);
        namespaces_[stored.name] = std::move(ns);
        return absl::OkStatus();
      },
      [&](int64_t ns_id, PreparedRecord record) -> absl::Status {
        auto it = by_id.find(ns_id);
        if (it == by_id.end()) {
          return absl::DataLossError(absl::StrCat("memory.db: record \"", record.record.id,
                                                  "\" belongs to unknown namespace #", ns_id));
        }
        Namespace* ns = it->second;
        absl::MutexLock lock(&ns->mu);
        const size_t size = record.record.embedding.size();
        if (size != 0 && size != static_cast<size_t>(ns->index.dim())) {
          return absl::DataLossError(absl::StrCat("memory.db: record \"", record.record.id,
                                                  "\" of namespace \"", ns->name, "\" has ", size,
                                                  " dimensions, the namespace ", ns->index.dim()));
        }
        next_row_ = std::max(next_row_, record.row + 1);
        ns->index.Upsert(std::move(record));
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  absl::MutexLock lock(&ns_mu_);
  for (auto& [name, ns] : namespaces_) {
    absl::MutexLock ns_lock(&ns->mu);
    ns->index.MaintainQuantizer();
    live_records_ += static_cast<int64_t>(ns->index.size());
  }
  return absl::OkStatus();
}

MemoryStoreImpl::Namespace* MemoryStoreImpl::FindNamespace(absl::string_view ns) const {
  absl::ReaderMutexLock lock(&ns_mu_);
  auto it = namespaces_.find(ns);
  return it == namespaces_.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------------------------------
// Group commit

absl::Status MemoryStoreImpl::Submit(Writer* w) {
  return writers_.Submit(w, Closed());  // processed as EnableAsync was told (constructor)
}

void MemoryStoreImpl::SubmitAsync(std::unique_ptr<AsyncWrite> write, bool may_lead) {
  AsyncWrite* raw = write.release();
  // A lambda holding one pointer is stored inline by AnyInvocable: nothing here can throw.
  raw->writer.complete = [raw] {
    std::unique_ptr<AsyncWrite> owned(raw);
    owned->Report();
  };
  // From here the queue owns the write; its completion deletes it.
  writers_.SubmitAsync(&raw->writer, Closed(), may_lead);
}

void MemoryStoreImpl::AsyncWrite::Report() {
  switch (writer.kind) {
    case Writer::Kind::kSave:
      if (writer.status.ok()) {
        save_done(SaveResult{writer.vector_dim});
      } else {
        save_done(writer.status);
      }
      return;
    case Writer::Kind::kUpdate:
      update_done(writer.status);
      return;
    case Writer::Kind::kDelete:
      if (writer.status.ok()) {
        delete_done(writer.count);
      } else {
        delete_done(writer.status);
      }
      return;
    case Writer::Kind::kReset:
    case Writer::Kind::kTouch:
      break;  // blocking writes only
  }
}

void MemoryStoreImpl::ProcessGroup(const std::vector<Writer*>& group) {
  Overlays overlays;
  group_added_ = 0;
  std::vector<Writer*> planned;
  std::vector<const MemoryOp*> ops;
  absl::Status status = Guard("write", [&]() -> absl::Status {
    for (Writer* w : group) {
      if (db_ == nullptr) {
        w->status = Closed();
        continue;
      }
      w->status = Plan(w, overlays);
      if (!w->status.ok()) {
        failed_writes_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (w->ops.empty()) continue;  // nothing to change (e.g. delete matched nothing)
      planned.push_back(w);
      for (const MemoryOp& op : w->ops) ops.push_back(&op);
    }
    if (!planned.empty() && options_.before_commit_hook) {
      options_.before_commit_hook(static_cast<int>(group.size()));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {  // planning ran out of memory: the whole group fails, nothing written
    for (Writer* w : group) {
      if (!w->status.ok()) continue;  // already failed and counted
      w->status = status;
      failed_writes_.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (planned.empty()) return;
  status = db_->Write(ops);  // RunSqlite inside: does not throw
  if (!status.ok()) {
    for (Writer* w : planned) w->status = status;
    failed_writes_.fetch_add(static_cast<int64_t>(planned.size()), std::memory_order_relaxed);
    return;  // nothing was applied: the group's namespaces and records stay invisible
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  // The group is durable now. Applying it only allocates; should that fail, the index would
  // disagree with the file, so the process stops and the next start rebuilds from the file.
  try {
    for (Writer* w : planned) Apply(w);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fast-crewai memory store: cannot apply a committed write: %s\n",
                 e.what());
    std::abort();
  }
  committed_writes_.fetch_add(static_cast<int64_t>(planned.size()), std::memory_order_relaxed);
}

MemoryStoreImpl::Overlay* MemoryStoreImpl::GetOverlay(Overlays& overlays, const std::string& ns,
                                                      bool create) {
  if (auto it = overlays.find(ns); it != overlays.end()) return &it->second;
  Namespace* existing = FindNamespace(ns);
  if (existing == nullptr && !create) return nullptr;
  Overlay& o = overlays[ns];
  if (existing != nullptr) {
    o.ns = existing;
    o.target = existing;
    o.ns_id = existing->ns_id;
    absl::ReaderMutexLock lock(&existing->mu);
    o.dim = existing->index.dim();
  } else {
    o.ns_id = next_ns_id_++;
    o.creating = std::make_unique<Namespace>(o.ns_id, ns, index_options_);
    o.target = o.creating.get();
  }
  return &o;
}

absl::Status MemoryStoreImpl::Plan(Writer* w, Overlays& overlays) {
  const bool upsert = w->kind == Writer::Kind::kSave || w->kind == Writer::Kind::kUpdate;
  Overlay* o = GetOverlay(overlays, w->ns, /*create=*/upsert);
  if (o == nullptr) return absl::OkStatus();  // nothing stored in that namespace: a no-op
  w->target = o->target;
  switch (w->kind) {
    case Writer::Kind::kSave:
    case Writer::Kind::kUpdate:
      return PlanUpsert(w, o);
    case Writer::Kind::kDelete:
      PlanDelete(w, o);
      return absl::OkStatus();
    case Writer::Kind::kReset:
      if (w->full_reset) {
        PlanFullReset(w, o);
      } else {
        PlanDelete(w, o);
      }
      return absl::OkStatus();
    case Writer::Kind::kTouch:
      PlanTouch(w, o);
      return absl::OkStatus();
  }
  return absl::InternalError("unknown write kind");
}

absl::Status MemoryStoreImpl::PlanUpsert(Writer* w, Overlay* o) {
  bool set_dim = false;
  if (w->batch_dim > 0) {
    if (o->dim == 0) {
      set_dim = true;
    } else if (o->dim != w->batch_dim) {
      return DimensionMismatchError(o->dim, w->batch_dim, w->batch_dim_path);
    }
  }
  // A record keeps its row when saved again; a new one (or one deleted earlier in the
  // group) gets the next row. Rows are looked up before anything is planned, so that a save
  // refused for capacity leaves the group's plan as it was.
  int64_t added = 0;  // records the write adds
  {
    std::optional<absl::ReaderMutexLock> committed;
    if (!o->cleared && o->ns != nullptr) committed.emplace(&o->ns->mu);
    for (PreparedRecord& record : w->records) {
      record.row = 0;
      if (auto it = o->pending.find(record.record.id); it != o->pending.end()) {
        if (it->second != nullptr) record.row = it->second->row;
      } else if (committed.has_value()) {
        record.row = o->ns->index.RowOf(record.record.id);
      }
      if (record.row == 0) ++added;
    }
  }
  RETURN_IF_ERROR(CheckCapacity(added));
  group_added_ += added;
  if (o->creating != nullptr) {  // the first write of a new namespace creates it
    MemoryOp create{MemoryOp::Kind::kCreateNamespace};
    create.ns_id = o->ns_id;
    create.name = w->ns;
    w->ops.push_back(std::move(create));
    w->created = std::move(o->creating);
  }
  if (set_dim) {
    MemoryOp op{MemoryOp::Kind::kSetDim};
    op.ns_id = o->ns_id;
    op.dim = w->batch_dim;
    w->ops.push_back(std::move(op));
    o->dim = w->batch_dim;
  }
  for (PreparedRecord& record : w->records) {
    if (record.row == 0) record.row = next_row_++;
    MemoryOp op{MemoryOp::Kind::kUpsert};
    op.ns_id = o->ns_id;
    op.record = &record;
    w->ops.push_back(std::move(op));
    o->pending[record.record.id] = &record;
  }
  w->vector_dim = o->dim;
  return absl::OkStatus();
}

void MemoryStoreImpl::PlanDelete(Writer* w, Overlay* o) {
  std::vector<std::pair<std::string, int64_t>> doomed;  // id, row
  std::vector<std::string> committed;  // ids whose current version is the committed one
  auto pending_matches = [&](const PreparedRecord* r) {
    return r != nullptr && RecordMatchesFilter(*r, w->filter, w->older_than);
  };
  if (!w->ids.empty()) {
    for (const std::string& id : w->ids) {  // unique
      if (auto it = o->pending.find(id); it != o->pending.end()) {
        if (pending_matches(it->second)) doomed.emplace_back(id, it->second->row);
      } else if (!o->cleared && o->ns != nullptr) {
        committed.push_back(id);
      }
    }
    if (!committed.empty()) {
      absl::ReaderMutexLock lock(&o->ns->mu);
      for (auto& id_row : o->ns->index.FilterIds(committed, w->filter, w->older_than)) {
        doomed.push_back(std::move(id_row));
      }
    }
  } else {
    if (!o->cleared && o->ns != nullptr) {
      absl::ReaderMutexLock lock(&o->ns->mu);
      for (auto& id_row : o->ns->index.MatchingIds(w->filter, w->older_than)) {
        if (o->pending.contains(id_row.first)) continue;
        doomed.push_back(std::move(id_row));
      }
    }
    for (const auto& [id, record] : o->pending) {
      if (pending_matches(record)) doomed.emplace_back(id, record->row);
    }
  }
  for (auto& [id, row] : doomed) {
    o->pending[id] = nullptr;
    MemoryOp op{MemoryOp::Kind::kDelete};
    op.ns_id = o->ns_id;
    op.id = std::move(id);
    op.row = row;
    w->ops.push_back(std::move(op));
  }
  w->count = static_cast<int64_t>(doomed.size());
  group_added_ -= w->count;
}

void MemoryStoreImpl::PlanFullReset(Writer* w, Overlay* o) {
  int64_t count = 0;
  if (!o->cleared && o->ns != nullptr) {
    absl::ReaderMutexLock lock(&o->ns->mu);
    count = static_cast<int64_t>(o->ns->index.size());
    for (const auto& [id, record] : o->pending) {
      if (o->ns->index.Contains(id)) {
        if (record == nullptr) --count;
      } else if (record != nullptr) {
        ++count;
      }
    }
  } else {
    for (const auto& [id, record] : o->pending) count += record != nullptr ? 1 : 0;
  }
  MemoryOp clear{MemoryOp::Kind::kDeleteAll};
  clear.ns_id = o->ns_id;
  w->ops.push_back(std::move(clear));
  MemoryOp free_dim{MemoryOp::Kind::kSetDim};
  free_dim.ns_id = o->ns_id;
  free_dim.dim = 0;
  w->ops.push_back(std::move(free_dim));
  o->cleared = true;
  o->pending.clear();
  o->dim = 0;
  w->count = count;
  group_added_ -= count;
}

absl::Status MemoryStoreImpl::CheckCapacity(int64_t added) const {
  if (options_.max_records <= 0 || added == 0) return absl::OkStatus();
  const int64_t held = live_records_ + group_added_;
  if (held + added <= options_.max_records) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "records: the memory store is full: it holds ", held, " records, this write would add ",
      added, " and memory_max_records is ", options_.max_records,
      "; delete records or raise memory_max_records"));
}

void MemoryStoreImpl::PlanTouch(Writer* w, Overlay* o) {
  for (const std::string& id : w->ids) {  // unique
    int64_t row = 0;  // 0: no such record
    if (auto it = o->pending.find(id); it != o->pending.end()) {
      if (it->second != nullptr) row = it->second->row;
    } else if (!o->cleared && o->ns != nullptr) {
      absl::ReaderMutexLock lock(&o->ns->mu);
      row = o->ns->index.RowOf(id);
    }
    if (row == 0) continue;
    MemoryOp op{MemoryOp::Kind::kTouch};
    op.ns_id = o->ns_id;
    op.id = id;
    op.row = row;
    op.text = &w->touch_text;
    op.micros = w->touch_micros;
    w->ops.push_back(std::move(op));
    ++w->count;
  }
}

void MemoryStoreImpl::Apply(Writer* w) {
  if (w->created != nullptr) {
    absl::MutexLock lock(&ns_mu_);
    namespaces_[w->ns] = std::move(w->created);
  }
  Namespace* ns = w->target;
  absl::MutexLock lock(&ns->mu);
  const int64_t before = static_cast<int64_t>(ns->index.size());
  for (MemoryOp& op : w->ops) {
    switch (op.kind) {
      case MemoryOp::Kind::kCreateNamespace:
        break;
      case MemoryOp::Kind::kSetDim:
        if (op.dim > 0) ns->index.SetDim(op.dim);  // 0 follows kDeleteAll, which freed it
        break;
      case MemoryOp::Kind::kUpsert:
        ns->index.Upsert(std::move(*op.record));
        break;
      case MemoryOp::Kind::kDelete:
        ns->index.Remove(op.id);
        break;
      case MemoryOp::Kind::kDeleteAll:
        ns->index.Clear();
        break;
      case MemoryOp::Kind::kTouch:
        ns->index.Touch(op.id, *op.text, op.micros);
        break;
    }
  }
  ns->index.MaintainQuantizer();
  live_records_ += static_cast<int64_t>(ns->index.size()) - before;
}

// ---------------------------------------------------------------------------------------
// Writes

absl::Status MemoryStoreImpl::PrepareUpsert(absl::string_view ns, std::vector<Record> records,
                                            bool is_update, Writer* w,
                                            std::optional<SaveResult>* no_write) const {
  absl::Status s = CheckRequest(ns);
  if (!s.ok()) return s;
  w->kind = is_update ? Writer::Kind::kUpdate : Writer::Kind::kSave;
  w->ns = std::string(ns);
  w->records.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string path = is_update ? std::string("record") : absl::StrCat("records[", i, "]");
    absl::StatusOr<PreparedRecord> prepared = PrepareRecord(std::move(records[i]), path);
    if (!prepared.ok()) return prepared.status();
    const int dim = static_cast<int>(prepared->record.embedding.size());
    if (dim > 0) {
      if (w->batch_dim == 0) {
        w->batch_dim = dim;
        w->batch_dim_path = absl::StrCat(path, ".embedding");
      } else if (dim != w->batch_dim) {
        return DimensionMismatchError(w->batch_dim, dim, absl::StrCat(path, ".embedding"));
      }
    }
    w->records.push_back(*std::move(prepared));
  }
  if (w->records.empty()) {
    Namespace* existing = FindNamespace(ns);
    if (existing == nullptr) {
      *no_write = SaveResult{0};
    } else {
      absl::ReaderMutexLock lock(&existing->mu);
      *no_write = SaveResult{existing->index.dim()};
    }
    return absl::OkStatus();
  }
  // Duplicate ids: the last occurrence wins.
  absl::flat_hash_map<std::string, size_t> last;
  for (size_t i = 0; i < w->records.size(); ++i) last[w->records[i].record.id] = i;
  if (last.size() != w->records.size()) {
    std::vector<PreparedRecord> unique;
    unique.reserve(last.size());
    for (size_t i = 0; i < w->records.size(); ++i) {
      if (last[w->records[i].record.id] == i) unique.push_back(std::move(w->records[i]));
    }
    w->records = std::move(unique);
  }
  return absl::OkStatus();
}

absl::Status MemoryStoreImpl::PrepareDelete(absl::string_view ns, const DeleteRequest& request,
                                            Writer* w) const {
  absl::Status s = CheckRequest(ns);
  if (!s.ok()) return s;
  absl::StatusOr<ParsedFilter> filter = ParseFilter(request.filter, "filter");
  if (!filter.ok()) return filter.status();
  s = ValidateIds(request.record_ids, "record_ids");
  if (!s.ok()) return s;
  w->kind = Writer::Kind::kDelete;
  w->ns = std::string(ns);
  w->filter = *std::move(filter);
  w->ids = Unique(request.record_ids);
  w->older_than = request.older_than_micros;
  return absl::OkStatus();
}

absl::StatusOr<SaveResult> MemoryStoreImpl::DoSave(absl::string_view ns,
                                                   std::vector<Record> records) {
  Writer w;
  std::optional<SaveResult> no_write;
  absl::Status s = PrepareUpsert(ns, std::move(records), /*is_update=*/false, &w, &no_write);
  if (!s.ok()) return s;
  if (no_write.has_value()) return *no_write;
  s = Submit(&w);
  if (!s.ok()) return s;
  return SaveResult{w.vector_dim};
}

absl::Status MemoryStoreImpl::DoUpdate(absl::string_view ns, Record record) {
  std::vector<Record> one;
  one.push_back(std::move(record));
  Writer w;
  std::optional<SaveResult> no_write;
  absl::Status s = PrepareUpsert(ns, std::move(one), /*is_update=*/true, &w, &no_write);
  if (!s.ok() || no_write.has_value()) return s;
  return Submit(&w);
}

absl::StatusOr<int64_t> MemoryStoreImpl::DoDelete(absl::string_view ns,
                                                  const DeleteRequest& request) {
  Writer w;
  absl::Status s = PrepareDelete(ns, request, &w);
  if (!s.ok()) return s;
  s = Submit(&w);
  if (!s.ok()) return s;
  return w.count;
}

void MemoryStoreImpl::SaveAsync(std::string ns, std::vector<Record> records, bool may_lead,
                                SaveDone done) {
  std::unique_ptr<AsyncWrite> write;
  std::optional<SaveResult> no_write;
  absl::Status s = Guard("Save", [&]() -> absl::Status {
    write = std::make_unique<AsyncWrite>();
    return PrepareUpsert(ns, std::move(records), /*is_update=*/false, &write->writer, &no_write);
  });
  if (!s.ok()) return done(s);
  if (no_write.has_value()) return done(*no_write);
  write->save_done = std::move(done);
  SubmitAsync(std::move(write), may_lead);
}

void MemoryStoreImpl::UpdateAsync(std::string ns, Record record, bool may_lead, UpdateDone done) {
  std::unique_ptr<AsyncWrite> write;
  std::optional<SaveResult> no_write;
  absl::Status s = Guard("Update", [&]() -> absl::Status {
    write = std::make_unique<AsyncWrite>();
    std::vector<Record> one;
    one.push_back(std::move(record));
    return PrepareUpsert(ns, std::move(one), /*is_update=*/true, &write->writer, &no_write);
  });
  if (!s.ok() || no_write.has_value()) return done(s);
  write->update_done = std::move(done);
  SubmitAsync(std::move(write), may_lead);
}

void MemoryStoreImpl::DeleteAsync(std::string ns, DeleteRequest request, bool may_lead,
                                  DeleteDone done) {
  std::unique_ptr<AsyncWrite> write;
  absl::Status s = Guard("Delete", [&]() -> absl::Status {
    write = std::make_unique<AsyncWrite>();
    return PrepareDelete(ns, request, &write->writer);
  });
  if (!s.ok()) return done(s);
  write->delete_done = std::move(done);
  SubmitAsync(std::move(write), may_lead);
}

absl::StatusOr<int64_t> MemoryStoreImpl::DoReset(absl::string_view ns,
                                                 absl::string_view scope_prefix) {
  absl::Status s = CheckRequest(ns);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> prefix = ParseScopePrefix(scope_prefix, "scope_prefix");
  if (!prefix.ok()) return prefix.status();
  Writer w;
  w.kind = Writer::Kind::kReset;
  w.ns = std::string(ns);
  w.full_reset = prefix->empty();
  w.filter.scope_prefix = *std::move(prefix);
  s = Submit(&w);
  if (!s.ok()) return s;
  return w.count;
}

absl::StatusOr<int64_t> MemoryStoreImpl::DoTouchRecords(absl::string_view ns,
                                                        const std::vector<std::string>& ids,
                                                        absl::string_view last_accessed,
                                                        int64_t last_accessed_micros) {
  absl::Status s = CheckRequest(ns);
  if (!s.ok()) return s;
  s = ValidateIds(ids, "record_ids");
  if (!s.ok()) return s;
  s = ValidateTimestampText(last_accessed, "last_accessed");
  if (!s.ok()) return s;
  if (ids.empty()) return 0;
  Writer w;
  w.kind = Writer::Kind::kTouch;
  w.ns = std::string(ns);
  w.ids = Unique(ids);
  w.touch_text = std::string(last_accessed);
  w.touch_micros = last_accessed_micros;
  s = Submit(&w);
  if (!s.ok()) return s;
  return w.count;
}

absl::Status MemoryStoreImpl::Close() {
  // New writes fail from now on; the queued ones finish first.
  if (!writers_.CloseAndDrain()) return Closed();
  closed_.store(true, std::memory_order_release);
  absl::MutexLock leader(&leader_mu_);
  if (db_ == nullptr) return Closed();
  absl::Status s = db_->Close();
  db_.reset();
  return s;
}

// ---------------------------------------------------------------------------------------
// Reads

absl::StatusOr<SearchResult> MemoryStoreImpl::DoSearch(absl::string_view ns,
                                                       const SearchRequest& request) const {
  absl::Status s = CheckRequest(ns);
  if (!s.ok()) return s;
  s = ValidateLimit(request.limit, "limit");
  if (!s.ok()) return s;
  if (!std::isfinite(request.min_score)) {
    return absl::InvalidArgumentError("min_score: not a finite number");
  }
  s = ValidateEmbedding(request.query_embedding, "query_embedding");
  if (!s.ok()) return s;
  if (request.query_text.size() > kMaxQueryTextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("query_text: longer than ", kMaxQueryTextBytes, " bytes"));
  }
  if (!IsValidUtf8(request.query_text)) {
    return absl::InvalidArgumentError("query_text: not valid UTF-8");
  }
  absl::StatusOr<ParsedFilter> filter = ParseFilter(request.filter, "filter");
  if (!filter.ok()) return filter.status();

  SearchMode mode = request.mode;
  if (mode == SearchMode::kAuto) {
    if (!request.query_embedding.empty()) {
      mode = SearchMode::kVector;
    } else if (!request.query_text.empty()) {
      mode = SearchMode::kLexical;
    } else {
      return absl::InvalidArgumentError(
          "query_embedding: must not be empty when query_text is empty");
    }
  }
  const bool needs_vector = mode == SearchMode::kVector || mode == SearchMode::kHybrid;
  const bool needs_text = mode == SearchMode::kLexical || mode == SearchMode::kHybrid;
  if (needs_vector && request.query_embedding.empty()) {
    return absl::InvalidArgumentError("query_embedding: must not be empty for this mode");
  }
  if (needs_text && request.query_text.empty()) {
    return absl::InvalidArgumentError("query_text: must not be empty for this mode");
  }

  Namespace* n = FindNamespace(ns);
  if (n == nullptr) return SearchResult{};
  absl::ReaderMutexLock lock(&n->mu);
  const int dim = n->index.dim();
  if (needs_vector && dim > 0 && request.query_embedding.size() != static_cast<size_t>(dim)) {
    return DimensionMismatchError(dim, static_cast<int>(request.query_embedding.size()),
                                  "query_embedding");
  }
  return n->index.Search(request, mode, *filter);
}

absl::StatusOr<std::optional<Record>> MemoryStoreImpl::DoGetRecord(absl::string_view ns,
                                                                   absl::string_view id) const {
  RETURN_IF_ERROR(CheckRequest(ns));
  RETURN_IF_ERROR(ValidateRecordId(id, "id"));
  return ReadIndex(ns, std::optional<Record>(), [&](const NamespaceIndex& index) {
    return index.Get(id, /*with_embedding=*/true);
  });
}

absl::StatusOr<ListRecordsResult> MemoryStoreImpl::DoListRecords(
    absl::string_view ns, const ListRecordsRequest& request) const {
  RETURN_IF_ERROR(CheckRequest(ns));
  ASSIGN_OR_RETURN(const std::string prefix,
                   ParseScopePrefix(request.scope_prefix, "scope_prefix"));
  const int limit = request.limit == 0 ? kDefaultListLimit : request.limit;
  RETURN_IF_ERROR(ValidateLimit(limit, "limit"));
  if (request.offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset: must not be negative (got ", request.offset, ")"));
  }
  return ReadIndex(ns, ListRecordsResult{{}, false, request.offset},
                   [&](const NamespaceIndex& index) {
                     return index.List(prefix, limit, request.offset, !request.omit_embeddings);
                   });
}

absl::StatusOr<ScopeInfo> MemoryStoreImpl::DoGetScopeInfo(absl::string_view ns,
                                                          absl::string_view scope) const {
  RETURN_IF_ERROR(CheckRequest(ns));
  ASSIGN_OR_RETURN(const std::string prefix, ParseScopePrefix(scope, "scope"));
  ScopeInfo empty;
  empty.path = prefix.empty() ? "/" : prefix;
  return ReadIndex(ns, empty,
                   [&](const NamespaceIndex& index) { return index.GetScopeInfo(empty.path); });
}

absl::StatusOr<std::vector<std::string>> MemoryStoreImpl::DoListScopes(
    absl::string_view ns, absl::string_view parent) const {
  RETURN_IF_ERROR(CheckRequest(ns));
  ASSIGN_OR_RETURN(const std::string prefix, ParseScopePrefix(parent, "parent"));
  return ReadIndex(ns, std::vector<std::string>(),
                   [&](const NamespaceIndex& index) { return index.ListScopes(prefix); });
}

absl::StatusOr<std::vector<CategoryCount>> MemoryStoreImpl::DoListCategories(
    absl::string_view ns, absl::string_view scope_prefix) const {
  RETURN_IF_ERROR(CheckRequest(ns));
  ASSIGN_OR_RETURN(const std::string prefix, ParseScopePrefix(scope_prefix, "scope_prefix"));
  return ReadIndex(ns, std::vector<CategoryCount>(),
                   [&](const NamespaceIndex& index) { return index.ListCategories(prefix); });
}

absl::StatusOr<int64_t> MemoryStoreImpl::DoCount(absl::string_view ns,
                                                 absl::string_view scope_prefix) const {
  RETURN_IF_ERROR(CheckRequest(ns));
  ASSIGN_OR_RETURN(const std::string prefix, ParseScopePrefix(scope_prefix, "scope_prefix"));
  return ReadIndex(ns, int64_t{0}, [&](const NamespaceIndex& index) {
    return static_cast<int64_t>(index.Count(prefix));
  });
}

absl::StatusOr<NamespaceInfo> MemoryStoreImpl::DoDescribeNamespace(absl::string_view ns) const {
  RETURN_IF_ERROR(CheckRequest(ns));
  return ReadIndex(ns, NamespaceInfo(), [](const NamespaceIndex& index) {
    NamespaceInfo info;
    info.exists = true;
    info.vector_dim = index.dim();
    info.record_count = static_cast<int64_t>(index.size());
    info.has_quantized_index = index.has_quantized_index();
    return info;
  });
}

// ---------------------------------------------------------------------------------------
// Public calls

absl::StatusOr<SaveResult> MemoryStoreImpl::Save(absl::string_view ns,
                                                 std::vector<Record> records) {
  return Guard("Save", [&] { return DoSave(ns, std::move(records)); });
}
absl::StatusOr<SearchResult> MemoryStoreImpl::Search(absl::string_view ns,
                                                     const SearchRequest& request) const {
  return Guard("Search", [&] { return DoSearch(ns, request); });
}
absl::StatusOr<int64_t> MemoryStoreImpl::Delete(absl::string_view ns,
                                                const DeleteRequest& request) {
  return Guard("Delete", [&] { return DoDelete(ns, request); });
}
absl::Status MemoryStoreImpl::Update(absl::string_view ns, Record record) {
  return Guard("Update", [&] { return DoUpdate(ns, std::move(record)); });
}
absl::StatusOr<std::optional<Record>> MemoryStoreImpl::GetRecord(absl::string_view ns,
                                                                 absl::string_view id) const {
  return Guard("GetRecord", [&] { return DoGetRecord(ns, id); });
}
absl::StatusOr<ListRecordsResult> MemoryStoreImpl::ListRecords(
    absl::string_view ns, const ListRecordsRequest& request) const {
  return Guard("ListRecords", [&] { return DoListRecords(ns, request); });
}
absl::StatusOr<ScopeInfo> MemoryStoreImpl::GetScopeInfo(absl::string_view ns,
                                                        absl::string_view scope) const {
  return Guard("GetScopeInfo", [&] { return DoGetScopeInfo(ns, scope); });
}
absl::StatusOr<std::vector<std::string>> MemoryStoreImpl::ListScopes(
    absl::string_view ns, absl::string_view parent) const {
  return Guard("ListScopes", [&] { return DoListScopes(ns, parent); });
}
absl::StatusOr<std::vector<CategoryCount>> MemoryStoreImpl::ListCategories(
    absl::string_view ns, absl::string_view scope_prefix) const {
  return Guard("ListCategories", [&] { return DoListCategories(ns, scope_prefix); });
}
absl::StatusOr<int64_t> MemoryStoreImpl::Count(absl::string_view ns,
                                               absl::string_view scope_prefix) const {
  return Guard("Count", [&] { return DoCount(ns, scope_prefix); });
}
absl::StatusOr<int64_t> MemoryStoreImpl::Reset(absl::string_view ns,
                                               absl::string_view scope_prefix) {
  return Guard("Reset", [&] { return DoReset(ns, scope_prefix); });
}
absl::StatusOr<int64_t> MemoryStoreImpl::TouchRecords(absl::string_view ns,
                                                      const std::vector<std::string>& ids,
                                                      absl::string_view last_accessed,
                                                      int64_t last_accessed_micros) {
  return Guard("TouchRecords",
               [&] { return DoTouchRecords(ns, ids, last_accessed, last_accessed_micros); });
}
absl::StatusOr<NamespaceInfo> MemoryStoreImpl::DescribeNamespace(absl::string_view ns) const {
  return Guard("DescribeNamespace", [&] { return DoDescribeNamespace(ns); });
}

MemoryStoreStats MemoryStoreImpl::GetStats() const {
  MemoryStoreStats stats;
  stats.commits = commits_.load(std::memory_order_relaxed);
  stats.committed_writes = committed_writes_.load(std::memory_order_relaxed);
  stats.failed_writes = failed_writes_.load(std::memory_order_relaxed);
  stats.pending_writes = writers_.pending();
  stats.simd = simd::BestKernels().name;
  stats.search_concurrency = arena_.max_concurrency();
  absl::ReaderMutexLock lock(&ns_mu_);
  stats.namespaces = static_cast<int64_t>(namespaces_.size());
  for (const auto& [name, ns] : namespaces_) {
    absl::ReaderMutexLock ns_lock(&ns->mu);
    stats.records += static_cast<int64_t>(ns->index.size());
  }
  return stats;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryStore>> MemoryStore::Open(const MemoryStoreOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: must not be empty");
  }
  if (options.search_concurrency < 0) {
    return absl::InvalidArgumentError("search_concurrency: must not be negative");
  }
  if (options.rerank_factor < 1) {
    return absl::InvalidArgumentError("rerank_factor: must be at least 1");
  }
  if (options.busy_timeout_ms < 0) {
    return absl::InvalidArgumentError("busy_timeout_ms: must not be negative");
  }
  if (options.max_group_size < 1) {
    return absl::InvalidArgumentError("max_group_size: must be at least 1");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(options.data_dir, ": cannot create the data directory: ", ec.message()));
  }
  const std::string path = (std::filesystem::path(options.data_dir) / "memory.db").string();
  absl::StatusOr<std::unique_ptr<MemoryDb>> db =
      MemoryDb::Open(path, options.sync, options.busy_timeout_ms, options.integrity_check);
  if (!db.ok()) return db.status();
  auto store = std::make_unique<MemoryStoreImpl>(options, *std::move(db));
  absl::Status s = store->LoadAll();
  if (!s.ok()) return s;
  return store;
}

}  // namespace fast_crewai::memory
