// File: persistence_service.h
//
// PersistenceServiceImpl: the gRPC adapter of fast_crewai.v1.PersistenceService over a
// persistence::PersistenceStore and a persistence::LockTable.
//  * Kickoff reads (LoadTaskOutputs, FindKickoffForTask, ListKickoffs) are bounded in-memory
//    work and finish inline on the gRPC thread.
//  * Small task-output writes (AddTaskOutput, AddTaskOutputs up to kInlineWriteBytes) park no
//    thread: the handler validates and queues the write (PersistenceStore::AddTaskOutputsAsync)
//    and the reactor is finished by the group's leader once the rows are durable. When the
//    write queue is empty the handler's own gRPC thread leads that one group (one commit,
//    one fsync: the only wait a gRPC thread ever makes here, and only one at a time, as only
//    the head of the queue leads); groups queued behind it are led by a task on the executor.
//    This saves the executor hop and the parked thread per write.
//  * Other writes (they wait for their group commit), SQLite reads (flow state, long-term
//    memory) and Backup run on the injected executor.
//  * HoldLock is a bidirectional stream per held lock: its reactor asks the LockTable and is
//    called back when the lock is granted, the wait times out or the lease lapses; no thread
//    waits for a lock. A background "lock reaper" thread owned by the adapter calls
//    LockTable::Tick() every `reaper_interval` (lapsed leases, expired waits).
// Validation lives in the cores; errors go through the one status conversion
// (status_conversion.h).
//
// Thread-safety: safe for concurrent RPCs; the store, the lock table, the executor and the
// clock must outlive it. The destructor stops the reaper.
#ifndef FAST_CREWAI_SERVER_RPC_PERSISTENCE_SERVICE_H_
#define FAST_CREWAI_SERVER_RPC_PERSISTENCE_SERVICE_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fast_crewai/v1/persistence.grpc.pb.h"
#include "server/persistence/lock_table.h"
#include "server/persistence/persistence_store.h"
#include "server/util/clock.h"
#include "server/util/executor.h"

namespace fast_crewai {

class PersistenceServiceImpl final : public v1::PersistenceService::CallbackService {
 public:
  // Task-output writes whose request is at most this large are queued from the gRPC thread
  // (validation, a JSON scan of the values, is cheap at this size); larger ones are validated
  // and written on the executor.
  static constexpr size_t kInlineWriteBytes = 64 << 10;

  // Nothing is owned. Starts the lock reaper thread.
  PersistenceServiceImpl(persistence::PersistenceStore* store, persistence::LockTable* locks,
                         Executor* executor, Clock* clock,
                         absl::Duration reaper_interval = absl::Milliseconds(50));
  // Stops the reaper. REQUIRES: no RPC in progress (the server has shut down).
  ~PersistenceServiceImpl() override;

  grpc::ServerUnaryReactor* AddTaskOutput(grpc::CallbackServerContext* context,
                                          const v1::AddTaskOutputRequest* request,
                                          v1::AddTaskOutputResponse* response) override;
  grpc::ServerUnaryReactor* AddTaskOutputs(grpc::CallbackServerContext* context,
                                           const v1::AddTaskOutputsRequest* request,
                                           v1::AddTaskOutputsResponse* response) override;
  grpc::ServerUnaryReactor* LoadTaskOutputs(grpc::CallbackServerContext* context,
                                            const v1::LoadTaskOutputsRequest* request,
                                            v1::LoadTaskOutputsResponse* response) override;
  grpc::ServerUnaryReactor* UpdateTaskOutput(grpc::CallbackServerContext* context,
                                             const v1::UpdateTaskOutputRequest* request,
                                             v1::UpdateTaskOutputResponse* response) override;
  grpc::ServerUnaryReactor* DeleteTaskOutputs(grpc::CallbackServerContext* context,
                                              const v1::DeleteTaskOutputsRequest* request,
                                              v1::DeleteTaskOutputsResponse* response) override;
  grpc::ServerUnaryReactor* FindKickoffForTask(grpc::CallbackServerContext* context,
                                               const v1::FindKickoffForTaskRequest* request,
                                               v1::FindKickoffForTaskResponse* response) override;
  grpc::ServerUnaryReactor* ListKickoffs(grpc::CallbackServerContext* context,
                                         const v1::ListKickoffsRequest* request,
                                         v1::ListKickoffsResponse* response) override;
  grpc::ServerUnaryReactor* SaveFlowState(grpc::CallbackServerContext* context,
                                          const v1::SaveFlowStateRequest* request,
                                          v1::SaveFlowStateResponse* response) override;
  grpc::ServerUnaryReactor* LoadFlowState(grpc::CallbackServerContext* context,
                                          const v1::LoadFlowStateRequest* request,
                                          v1::LoadFlowStateResponse* response) override;
  grpc::ServerUnaryReactor* SavePendingFeedback(grpc::CallbackServerContext* context,
                                                const v1::SavePendingFeedbackRequest* request,
                                                v1::SavePendingFeedbackResponse* response) override;
  grpc::ServerUnaryReactor* LoadPendingFeedback(grpc::CallbackServerContext* context,
                                                const v1::LoadPendingFeedbackRequest* request,
                                                v1::LoadPendingFeedbackResponse* response) override;
  grpc::ServerUnaryReactor* ClearPendingFeedback(
      grpc::CallbackServerContext* context, const v1::ClearPendingFeedbackRequest* request,
      v1::ClearPendingFeedbackResponse* response) override;
  grpc::ServerBidiReactor<v1::LockRequest, v1::LockResponse>* HoldLock(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* SaveLongTermMemory(grpc::CallbackServerContext* context,
                                               const v1::SaveLongTermMemoryRequest* request,
                                               v1::SaveLongTermMemoryResponse* response) override;
  grpc::ServerUnaryReactor* LoadLongTermMemory(grpc::CallbackServerContext* context,
                                               const v1::LoadLongTermMemoryRequest* request,
                                               v1::LoadLongTermMemoryResponse* response) override;
  grpc::ServerUnaryReactor* ResetLongTermMemory(grpc::CallbackServerContext* context,
                                                const v1::ResetLongTermMemoryRequest* request,
                                                v1::ResetLongTermMemoryResponse* response) override;
  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* context,
                                   const v1::BackupRequest* request,
                                   v1::BackupResponse* response) override;

 private:
  void ReaperLoop();

  persistence::PersistenceStore* const store_;
  persistence::LockTable* const locks_;
  Executor* const executor_;
  Clock* const clock_;
  const absl::Duration reaper_interval_;

  absl::Mutex reaper_mu_;
  bool stopping_ ABSL_GUARDED_BY(reaper_mu_) = false;
  std::thread reaper_;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_PERSISTENCE_SERVICE_H_
