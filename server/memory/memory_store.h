// File: memory_store.h
//
// MemoryStore: CrewAI's unified-memory records for every client process, one store per
// namespace, durable in SQLite and searched in memory. This is the domain core behind
// fast_crewai.v1.MemoryService; it has no gRPC or protobuf inside.
//
// The operations mirror CrewAI's StorageBackend protocol (crewai/memory/storage/backend.py)
// plus touch_records, a lexical (BM25) and a hybrid search mode, and DescribeNamespace.
// Namespaces are created by the first write that stores something; reads of an unknown
// namespace answer as for an empty one and create nothing.
//
// Example:
//   MemoryStoreOptions options;
//   options.data_dir = "/var/lib/fast-crewai";
//   ASSIGN_OR_RETURN(std::unique_ptr<MemoryStore> store, MemoryStore::Open(options));
//   Record r;
//   r.id = "r1"; r.content = "the sky is blue"; r.scope = "/crew/a";
//   r.embedding = {0.1f, 0.2f, 0.3f};
//   RETURN_IF_ERROR(store->Save("my-app", {r}).status());
//   SearchRequest q;
//   q.query_embedding = {0.1f, 0.2f, 0.25f};
//   q.filter.scope_prefix = "/crew";
//   ASSIGN_OR_RETURN(SearchResult found, store->Search("my-app", q));
//   RETURN_IF_ERROR(store->Close());
//
// ---------------------------------------------------------------------------------------
// Semantics
//
// Scores. kVector: 1 / (1 + squared L2 distance) on float32, LanceDB's default score that
// CrewAI's thresholds are tuned to, in (0, 1]. kLexical: BM25 (k1 = 1.2, b = 0.75; see
// text_index.h) divided by sum over the unique query tokens of idf * (k1 + 1), which no
// document reaches, so scores lie in [0, 1) and 1 would mean "every query token, with
// infinite frequency, in a zero-length document"; only documents containing a query token
// are returned. kHybrid: reciprocal-rank fusion, sum over both lists of 1 / (60 + rank),
// each list taken max(limit, 100) deep, divided by 2 / 61 so that rank 1 in both lists
// scores 1.0 (rank 1 in one list only: 0.5). min_score applies to the mode's own score.
// Results are ordered by descending score, ties by ascending id.
//
// Filters (RecordFilter; every given criterion must hold) are applied BEFORE ranking, so a
// search returns `limit` results whenever at least `limit` records pass the filter and
// min_score. Scope prefixes are path-aware (scope.h). Categories are any-of. Metadata
// filter: every top-level key must be present with a value equal under Python's `==`
// (json.h); a missing key equals only null.
//
// Exact and approximate search. By default a vector search is an exact float32 scan over
// the records passing the filter (SIMD kernel chosen for the CPU at run time, parallel in a
// oneTBB arena above parallel_scan_min_bytes of vectors); it runs at the machine's memory
// bandwidth. When at least approximate_min_candidates records pass the filter (and the
// rescoring pool below is at most a quarter of them), a first pass over a scalar-quantized
// copy (uint8 per dimension, per-dimension min/step: 4x fewer bytes, scored with an integer
// dot product) keeps max(limit * rerank_factor, 128) candidates, which are then rescored
// exactly in float32, so returned scores are always exact; records whose values fell
// outside the quantizer's trained range are always rescored. SearchResult::approximate
// reports it; SearchStrategy forces either path. The quantized copy is built on the write
// path, under the namespace's lock, when a write crosses the threshold, when the namespace
// has doubled since the last build, or when out-of-range rows pile up (two passes over the
// namespace's vectors; searches of that namespace wait meanwhile). Why a quantized pass rather than
// HNSW: filters stay exact and are applied before ranking (HNSW with a selective filter loses
// recall or needs a fallback), deletes and updates need no graph repair, memory grows by 25%
// instead of a graph, and recall@10 against exact search is >= 0.99 on random and clustered data
// (the unit tests measure it; 1.0 on both at 20k x 128).
//
// Dimensions. The first saved non-empty embedding fixes the namespace's dimension; all
// non-empty embeddings in one batch must agree. A save, update or search with another
// dimension fails with FAILED_PRECONDITION carrying the error details
// (server/util/error_details.h) reason = "EMBEDDING_DIMENSION_MISMATCH", stored-dim and
// new-dim (decimal text); the Python side raises CrewAI's
// EmbeddingDimensionMismatchError(stored, new).
// Records saved without an embedding are stored zero-filled once the dimension is known
// (and kept without a vector before). A vector search while the dimension is unknown
// returns no results. A full Reset frees the dimension.
//
// Validation. Every argument is validated before anything is written (a whole batch is
// validated before any of it is stored); errors are INVALID_ARGUMENT with the field path
// first ("records[2].embedding[7]: not a finite number"). Empty content is valid.
// Limits are in types.h. Duplicate
// ids within one Save batch: the last occurrence wins (the batch is an ordered sequence of
// upserts).
//
// Durability and consistency. Every write (Save, Update, Delete, Reset, TouchRecords) is
// committed to <data_dir>/memory.db (SQLite, WAL) before it returns OK, then applied to
// the in-memory index before it returns, so any call that starts after a write returned
// sees it (read-after-write), and searches never see uncommitted data. With
// SqliteSync::kFull (the default) the WAL is fsync'ed at each commit, so an acknowledged
// write survives kill -9 and power loss; kNormal survives kill -9 only. Group commit:
// concurrent writers queue; the writer at the head of the queue (the leader, on its own
// thread: the store owns no thread) takes every queued write (up to max_group_size),
// writes them in ONE transaction, commits once, applies them in order and wakes the
// others, so concurrent writers share one fsync. If the commit fails every write of the
// group fails with the same status and nothing of it is visible. Callback writes
// (SaveAsync, UpdateAsync, DeleteAsync) share the same queue and order without blocking
// their caller: their group is led by the caller itself when the queue was empty (no thread
// hand-off), else by a task on options.write_executor. Open() rebuilds every namespace from
// the file.
//
// Errors. INVALID_ARGUMENT (bad argument), FAILED_PRECONDITION (dimension mismatch; store
// closed), UNAVAILABLE (SQLite busy or I/O error: retry), DATA_LOSS (corrupt file),
// INTERNAL (a bug). No exception leaves this module.
//
// ---------------------------------------------------------------------------------------
// Deliberate differences from CrewAI's LanceDBStorage (crewai 1.15.30,
// memory/storage/lancedb_storage.py), each because the LanceDB behaviour is a bug or an
// artefact of its storage:
//  1. Scope prefixes are path components everywhere: "/a" matches "/a" and "/a/b" but not
//     "/ab" (LanceDB: SQL `LIKE 'p%'` in search, list_records, list_categories,
//     get_scope_info, count and delete, so "/a" also matches "/ab"; reset uses a string
//     range that keeps "/ab" but deletes "/a-b", "/a.b", "/a b").
//  2. Delete combines every given criterion with AND. LanceDB: with record_ids and no
//     categories/metadata it deletes by id only, ignoring scope_prefix and older_than; with
//     categories or metadata it ignores record_ids; with scope_prefix it builds
//     `scope LIKE 'p%' OR scope = '/' AND created_at < t`, which also deletes every
//     root-scope record and applies older_than to root records only (crewAI issue #7419).
//  3. Filters apply before ranking: categories and metadata are post-filters over the
//     nearest limit*3 rows in LanceDB, which returns fewer than `limit` results although
//     more records match.
//  4. Save upserts by id (LanceDB appends, so a re-saved id becomes a duplicate row); the
//     last occurrence of an id within one batch wins.
//  5. Update is one atomic replace (LanceDB: delete then add, two commits, so a concurrent
//     reader can miss the record).
//  6. A save of records without embeddings into a namespace of unknown dimension keeps the
//     dimension unknown (LanceDB creates its table with 3072 dimensions, so a later
//     1536-d save fails).
//  7. touch_records takes the timestamp from the caller (LanceDB: utcnow() in the storage
//     process) so the text stays the client's own ISO form; it returns the number touched.
//  8. list_records is exactly newest first across the whole scope, ties by id; Count and
//     GetScopeInfo count every record (LanceDB caps its scans at 50,000 rows).
//  9. ListCategories counts records carrying a category (a category listed twice in one
//     record counts once; LanceDB counts occurrences) and is returned sorted by name
//     (LanceDB: scan order, which a Python dict comparison ignores).
// 10. Writes by one process are visible to every other process at once (LanceDB handles
//     see other processes' writes only after reopening the table).
// 11. Ties in search results are ordered by id (LanceDB: unspecified).
// 12. Validation rejects what LanceDB would store or choke on: NaN/Inf in embeddings, scopes
//     not starting with "/", ids/namespaces with control characters, list limits outside
//     1..10000 (LanceDB's list_records returns [] for limit <= 0; its search raises, as the
//     daemon does). Empty content is stored, as LanceDB stores it.
#ifndef FAST_CREWAI_SERVER_MEMORY_MEMORY_STORE_H_
#define FAST_CREWAI_SERVER_MEMORY_MEMORY_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/memory/types.h"
#include "server/persistence/sqlite_db.h"
#include "server/util/executor.h"

namespace fast_crewai::memory {

struct MemoryStoreOptions {
  // ---- Parameters that affect behaviour ----

  // Directory of the store file <data_dir>/memory.db; created when missing. Required.
  std::string data_dir;
  // Durability of each commit. Default: kFull (survives power loss; group commit amortises
  // the fsync). kNormal survives a process crash only.
  persistence::SqliteSync sync = persistence::SqliteSync::kFull;
  // How long a write waits for another connection's lock on memory.db (normally there is
  // none: the daemon holds <data_dir>/LOCK) before failing with UNAVAILABLE. Default: 5000.
  int busy_timeout_ms = 5000;
  // How an existing memory.db is checked before anything reads it: a damaged file fails Open
  // with DATA_LOSS and is left untouched. Default: kQuick (PRAGMA quick_check).
  persistence::IntegrityCheckMode integrity_check = persistence::IntegrityCheckMode::kQuick;
  // At most this many records in the store, over every namespace (0 = no limit). A save or
  // update that would add records beyond it fails with RESOURCE_EXHAUSTED and stores nothing;
  // saving records that exist already, deleting and resetting always work. A file holding
  // more at start is loaded whole. Default: 0.
  int64_t max_records = 0;

  // ---- Parameters that affect performance ----

  // Threads of the search arena (tbb::task_arena), including the calling thread.
  // 0 = std::thread::hardware_concurrency(). 1 disables parallel scans.
  int search_concurrency = 0;
  // A scan reading at least this many bytes of vectors runs in parallel (about a
  // millisecond of memory bandwidth; below it the fork/join costs more than it saves).
  // Default: 8 MiB.
  int64_t parallel_scan_min_bytes = 8 << 20;
  // A namespace with at least this many records keeps a quantized index, and a kAuto
  // search with at least this many candidates uses it. Default: 50000.
  int64_t approximate_min_candidates = 50000;
  // The quantized pass keeps max(limit * rerank_factor, 128) candidates for exact
  // rescoring. Default: 16.
  int rerank_factor = 16;
  // At most this many queued writes share one transaction. Default: 256.
  int max_group_size = 256;
  // Where callback writes (SaveAsync, UpdateAsync, DeleteAsync) are led when their caller may
  // not lead them (the write queue was busy, or the caller said so): a leader task here
  // commits group after group while callback writes are queued. Not owned; must outlive the
  // store. Default: nullptr = the submitting thread always leads (tests).
  Executor* write_executor = nullptr;

  // ---- Testing ----

  // Called by the group-commit leader, on its thread, just before it writes a group of
  // `group_size` writes. Default: none.
  std::function<void(int group_size)> before_commit_hook;
};

struct MemoryStoreStats {
  // SQLite transactions committed by group commit (one per group).
  int64_t commits = 0;
  // Write calls acknowledged OK that changed something (Save/Update/Delete/Reset/Touch).
  int64_t committed_writes = 0;
  // Write calls that failed after validation (dimension mismatch, SQLite error).
  int64_t failed_writes = 0;
  // Write calls queued or being committed right now.
  int64_t pending_writes = 0;
  int64_t namespaces = 0;
  int64_t records = 0;
  // The distance kernel in use: "avx512", "avx2" or "scalar".
  std::string simd;
  int search_concurrency = 0;
};

// Thread-safety: a MemoryStore is safe for concurrent use by any number of threads without
// external synchronisation. Reads of one namespace run concurrently with each other; a
// write blocks the calling thread until its group has committed (milliseconds with fsync),
// so call writes from a thread that may block (an executor), never from a gRPC reactor; a
// reactor uses the callback writes (SaveAsync, UpdateAsync, DeleteAsync), which wait for at
// most the one group they lead. Searches over large namespaces use the store's oneTBB arena.
class MemoryStore {
 public:
  // Opens <options.data_dir>/memory.db (creating the directory and the file when missing,
  // migrating an older schema) and rebuilds every namespace in memory.
  // Errors: INVALID_ARGUMENT (bad options), UNAVAILABLE (cannot create/open/lock the file),
  // DATA_LOSS (the file fails options.integrity_check, a stored record is corrupt, or the
  // file is another program's), FAILED_PRECONDITION (a newer schema).
  static absl::StatusOr<std::unique_ptr<MemoryStore>> Open(const MemoryStoreOptions& options);

  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;
  // Closes the file without a checkpoint when Close() was not called (safe: the WAL is
  // replayed on the next Open).
  // REQUIRES: no call is in progress.
  virtual ~MemoryStore() = default;

  // Upserts `records` (by id) into `ns`, creating the namespace on first use. Returns the
  // namespace's dimension after the save. An empty batch changes nothing.
  // Errors: INVALID_ARGUMENT ("records[i].<field>: ..."), FAILED_PRECONDITION
  // (dimension mismatch with payloads), UNAVAILABLE/DATA_LOSS/INTERNAL (storage).
  virtual absl::StatusOr<SaveResult> Save(absl::string_view ns, std::vector<Record> records) = 0;

  using SaveDone = absl::AnyInvocable<void(absl::StatusOr<SaveResult>)>;
  using UpdateDone = absl::AnyInvocable<void(absl::Status)>;
  using DeleteDone = absl::AnyInvocable<void(absl::StatusOr<int64_t>)>;

  // Callback flavours of Save, Update and Delete for callers that must not wait for a commit
  // (gRPC reactors), with the same results and errors. Validation runs on the calling thread:
  // a bad request, or one with nothing to write, calls `done` before this returns. Otherwise
  // the write is queued, in one order with every other write, and `done` runs exactly once,
  // when its group has committed (durable and visible) or failed, on the thread of that
  // group's leader: this thread, before returning, when the write queue was empty and
  // `may_lead` (it leads that one group: a bounded wait of one commit); otherwise a leader
  // task on options.write_executor. Never throws.
  virtual void SaveAsync(std::string ns, std::vector<Record> records, bool may_lead,
                         SaveDone done) = 0;
  virtual void UpdateAsync(std::string ns, Record record, bool may_lead, UpdateDone done) = 0;
  virtual void DeleteAsync(std::string ns, DeleteRequest request, bool may_lead,
                           DeleteDone done) = 0;

  // Ranks the records of `ns` passing `request.filter` (see "Semantics"). An unknown
  // namespace, or a vector search before the dimension is known, returns no results.
  // Errors: INVALID_ARGUMENT (limit outside 1..10000, non-finite min_score or query value,
  // missing query for the mode, bad filter), FAILED_PRECONDITION (query dimension).
  virtual absl::StatusOr<SearchResult> Search(absl::string_view ns,
                                              const SearchRequest& request) const = 0;

  // Deletes the records passing every given criterion of `request` and returns how many
  // were deleted. No criterion at all deletes every record (the dimension stays).
  virtual absl::StatusOr<int64_t> Delete(absl::string_view ns, const DeleteRequest& request) = 0;

  // Replaces the record with the same id, or inserts it when absent.
  // Errors: as Save, with "record.<field>" paths.
  virtual absl::Status Update(absl::string_view ns, Record record) = 0;

  // The record `id` of `ns` with its embedding, or nullopt when absent.
  virtual absl::StatusOr<std::optional<Record>> GetRecord(absl::string_view ns,
                                                          absl::string_view id) const = 0;

  // Records under `request.scope_prefix`, newest first (created_at_micros DESC, id ASC),
  // paged by limit/offset.
  virtual absl::StatusOr<ListRecordsResult> ListRecords(
      absl::string_view ns, const ListRecordsRequest& request) const = 0;

  // CrewAI's get_scope_info: `scope` ("" or "/" = root; trailing "/" ignored; a leading "/"
  // added when missing) and everything below it.
  virtual absl::StatusOr<ScopeInfo> GetScopeInfo(absl::string_view ns,
                                                 absl::string_view scope) const = 0;

  // Sorted immediate child scopes of `parent` ("" or "/" = root), as full paths.
  virtual absl::StatusOr<std::vector<std::string>> ListScopes(absl::string_view ns,
                                                              absl::string_view parent) const = 0;

  // Category -> number of records under `scope_prefix` carrying it, sorted by category.
  virtual absl::StatusOr<std::vector<CategoryCount>> ListCategories(
      absl::string_view ns, absl::string_view scope_prefix) const = 0;

  // Number of records under `scope_prefix` ("" or "/" = all).
  virtual absl::StatusOr<int64_t> Count(absl::string_view ns,
                                        absl::string_view scope_prefix) const = 0;

  // Deletes every record under `scope_prefix` and returns how many. "" or "/" resets the
  // whole namespace and frees its dimension.
  virtual absl::StatusOr<int64_t> Reset(absl::string_view ns, absl::string_view scope_prefix) = 0;

  // Sets last_accessed (text and micros) of the existing records among `ids`; returns how
  // many were touched. Unknown ids are ignored.
  virtual absl::StatusOr<int64_t> TouchRecords(absl::string_view ns,
                                               const std::vector<std::string>& ids,
                                               absl::string_view last_accessed,
                                               int64_t last_accessed_micros) = 0;

  // Facts about `ns`; exists = false (and zeros) for a namespace never written.
  virtual absl::StatusOr<NamespaceInfo> DescribeNamespace(absl::string_view ns) const = 0;

  virtual MemoryStoreStats GetStats() const = 0;

  // Waits for queued writes, checkpoints the WAL into memory.db (TRUNCATE) and closes the
  // file. Every later call fails with FAILED_PRECONDITION. Returns the checkpoint's error,
  // if any (the file is closed anyway).
  virtual absl::Status Close() = 0;
};

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_MEMORY_STORE_H_
