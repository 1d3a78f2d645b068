// File: memory_service.h
//
// MemoryServiceImpl: the gRPC adapter of fast_crewai.v1.MemoryService over a
// memory::MemoryStore. Each RPC converts its request to core types, runs the core call,
// converts the result and finishes with the one status conversion (status_conversion.h).
// Validation lives in the core.
//  * Small writes (SaveRecords and UpdateRecord up to kInlineWriteBytes, DeleteRecords by
//    record ids up to that size) park no thread: the handler converts, validates and queues
//    the write (MemoryStore::SaveAsync / UpdateAsync / DeleteAsync), and the reactor is
//    finished by the group's leader once the write is committed and visible. When the write
//    queue is empty the handler's own gRPC thread leads that one group (one commit: the only
//    wait a gRPC thread makes here, and only the head of the queue leads); groups queued
//    behind it are led by a task on the store's write executor. This saves the executor hop
//    (two thread wake-ups) per write. The leader also applies its group to the in-memory
//    index, which includes the rare rebuild of a namespace's quantized copy (when it reaches
//    50,000 records and each time it doubles: a one-off of up to a few hundred ms at 100k x
//    1536), so that rebuild can occupy a gRPC thread once in a while.
//  * Everything else (larger writes, deletes by filter, which scan the namespace, resets,
//    touches and every read, some of which scan for milliseconds) runs on the injected
//    executor.
//
// Thread-safety: safe for concurrent RPCs; the store and the executor must outlive it.
#ifndef FAST_CREWAI_SERVER_RPC_MEMORY_SERVICE_H_
#define FAST_CREWAI_SERVER_RPC_MEMORY_SERVICE_H_

#include "fast_crewai/v1/memory.grpc.pb.h"
#include "server/memory/memory_store.h"
#include "server/util/executor.h"

namespace fast_crewai {

class MemoryServiceImpl final : public v1::MemoryService::CallbackService {
 public:
  // Write requests whose serialized size is at most this are converted, validated and queued
  // on the gRPC thread (about 40 records of 1536 dimensions, or 20 of 3072: tens of
  // microseconds of work); larger ones are converted and written on the executor.
  static constexpr size_t kInlineWriteBytes = 256 << 10;

  // `store` and `executor` are not owned.
  MemoryServiceImpl(memory::MemoryStore* store, Executor* executor);

  grpc::ServerUnaryReactor* SaveRecords(grpc::CallbackServerContext* context,
                                        const v1::SaveRecordsRequest* request,
                                        v1::SaveRecordsResponse* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const v1::SearchRequest* request,
                                   v1::SearchResponse* response) override;
  grpc::ServerUnaryReactor* DeleteRecords(grpc::CallbackServerContext* context,
                                          const v1::DeleteRecordsRequest* request,
                                          v1::DeleteRecordsResponse* response) override;
  grpc::ServerUnaryReactor* UpdateRecord(grpc::CallbackServerContext* context,
                                         const v1::UpdateRecordRequest* request,
                                         v1::UpdateRecordResponse* response) override;
  grpc::ServerUnaryReactor* GetRecord(grpc::CallbackServerContext* context,
                                      const v1::GetRecordRequest* request,
                                      v1::GetRecordResponse* response) override;
  grpc::ServerUnaryReactor* ListRecords(grpc::CallbackServerContext* context,
                                        const v1::ListRecordsRequest* request,
                                        v1::ListRecordsResponse* response) override;
  grpc::ServerUnaryReactor* GetScopeInfo(grpc::CallbackServerContext* context,
                                         const v1::GetScopeInfoRequest* request,
                                         v1::GetScopeInfoResponse* response) override;
  grpc::ServerUnaryReactor* ListScopes(grpc::CallbackServerContext* context,
                                       const v1::ListScopesRequest* request,
                                       v1::ListScopesResponse* response) override;
  grpc::ServerUnaryReactor* ListCategories(grpc::CallbackServerContext* context,
                                           const v1::ListCategoriesRequest* request,
                                           v1::ListCategoriesResponse* response) override;
  grpc::ServerUnaryReactor* Count(grpc::CallbackServerContext* context,
                                  const v1::CountRequest* request,
                                  v1::CountResponse* response) override;
  grpc::ServerUnaryReactor* Reset(grpc::CallbackServerContext* context,
                                  const v1::ResetRequest* request,
                                  v1::ResetResponse* response) override;
  grpc::ServerUnaryReactor* TouchRecords(grpc::CallbackServerContext* context,
                                         const v1::TouchRecordsRequest* request,
                                         v1::TouchRecordsResponse* response) override;
  grpc::ServerUnaryReactor* DescribeNamespace(grpc::CallbackServerContext* context,
                                              const v1::DescribeNamespaceRequest* request,
                                              v1::DescribeNamespaceResponse* response) override;

 private:
  memory::MemoryStore* const store_;
  Executor* const executor_;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_MEMORY_SERVICE_H_
