// File: memory_service.h
//
// MemoryServiceImpl: the gRPC adapter of fast_crewai.v1.MemoryService over a
// memory::MemoryStore. Each RPC converts its request to core types, runs the core call on
// the injected executor (writes block on group commit and large searches scan for
// milliseconds, so no gRPC thread ever runs them), converts the result and finishes with the
// one status conversion (status_conversion.h). Validation lives in the core.
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
