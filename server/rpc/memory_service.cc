#include "server/rpc/memory_service.h"

#include <bit>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/rpc/dispatch.h"
#include "server/rpc/status_conversion.h"
#include "server/util/status_macros.h"

namespace fast_crewai {
namespace {

namespace mem = ::fast_crewai::memory;

// ---- proto <-> core conversions (the only ones in the server) ----

static_assert(std::endian::native == std::endian::little,
              "embedding_f32 fields are little-endian float32, copied as they are");

// An embedding sent either as `repeated float <name>` or as `bytes <name>_f32` (packed
// little-endian float32). `path` names the repeated field ("records[3].embedding").
absl::StatusOr<std::vector<float>> EmbeddingFromProto(
    const google::protobuf::RepeatedField<float>& values, const std::string& packed,
    absl::string_view path) {
  if (packed.empty()) return std::vector<float>(values.begin(), values.end());
  if (!values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, "_f32: set together with ", path,
                                                   "; send the embedding in one of them"));
  }
  if (packed.size() % sizeof(float) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, "_f32: ", packed.size(),
                     " bytes, not a multiple of 4 (little-endian float32 values)"));
  }
  std::vector<float> out(packed.size() / sizeof(float));
  std::memcpy(out.data(), packed.data(), packed.size());
  return out;
}

// `path` names the record in error messages ("records[3]", "record").
absl::StatusOr<mem::Record> FromProto(const v1::MemoryRecord& in, absl::string_view path) {
  mem::Record out;
  ASSIGN_OR_RETURN(out.embedding,
                   EmbeddingFromProto(in.embedding(), in.embedding_f32(),
                                      absl::StrCat(path, ".embedding")));
  out.id = in.id();
  out.content = in.content();
  out.scope = in.scope();
  out.categories.assign(in.categories().begin(), in.categories().end());
  out.metadata_json = in.metadata_json();
  out.importance = in.importance();
  out.created_at = in.created_at();
  out.created_at_micros = in.created_at_micros();
  out.last_accessed = in.last_accessed();
  out.last_accessed_micros = in.last_accessed_micros();
  if (in.has_source()) out.source = in.source();
  out.is_private = in.private_();
  return out;
}

// `packed`: the embedding goes into embedding_f32 (the request asked for packed_embeddings).
void ToProto(mem::Record&& in, bool packed, v1::MemoryRecord* out) {
  out->set_id(std::move(in.id));
  out->set_content(std::move(in.content));
  out->set_scope(std::move(in.scope));
  for (std::string& c : in.categories) out->add_categories(std::move(c));
  out->set_metadata_json(std::move(in.metadata_json));
  out->set_importance(in.importance);
  out->set_created_at(std::move(in.created_at));
  out->set_created_at_micros(in.created_at_micros);
  out->set_last_accessed(std::move(in.last_accessed));
  out->set_last_accessed_micros(in.last_accessed_micros);
  if (in.source.has_value()) out->set_source(std::move(*in.source));
  out->set_private_(in.is_private);
  if (packed) {
    out->set_embedding_f32(reinterpret_cast<const char*>(in.embedding.data()),
                           in.embedding.size() * sizeof(float));
  } else {
    out->mutable_embedding()->Assign(in.embedding.begin(), in.embedding.end());
  }
}

absl::StatusOr<std::vector<mem::Record>> RecordsFromProto(const v1::SaveRecordsRequest& request) {
  std::vector<mem::Record> records;
  records.reserve(static_cast<size_t>(request.records_size()));
  for (int i = 0; i < request.records_size(); ++i) {
    ASSIGN_OR_RETURN(mem::Record record,
                     FromProto(request.records(i), absl::StrCat("records[", i, "]")));
    records.push_back(std::move(record));
  }
  return records;
}

mem::RecordFilter FromProto(const v1::RecordFilter& in) {
  mem::RecordFilter out;
  out.scope_prefix = in.scope_prefix();
  out.categories.assign(in.categories().begin(), in.categories().end());
  out.metadata_filter_json = in.metadata_filter_json();
  return out;
}

mem::DeleteRequest FromProto(const v1::DeleteRecordsRequest& in) {
  mem::DeleteRequest out;
  out.filter = FromProto(in.filter());
  out.record_ids.assign(in.record_ids().begin(), in.record_ids().end());
  if (in.older_than_micros() != 0) out.older_than_micros = in.older_than_micros();
  return out;
}

mem::SearchMode FromProto(v1::SearchMode mode) {
  switch (mode) {
    case v1::SEARCH_MODE_VECTOR:
      return mem::SearchMode::kVector;
    case v1::SEARCH_MODE_LEXICAL:
      return mem::SearchMode::kLexical;
    case v1::SEARCH_MODE_HYBRID:
      return mem::SearchMode::kHybrid;
    default:
      return mem::SearchMode::kAuto;
  }
}

}  // namespace

MemoryServiceImpl::MemoryServiceImpl(memory::MemoryStore* store, Executor* executor)
    : store_(store), executor_(executor) {}

grpc::ServerUnaryReactor* MemoryServiceImpl::SaveRecords(grpc::CallbackServerContext* context,
                                                         const v1::SaveRecordsRequest* request,
                                                         v1::SaveRecordsResponse* response) {
  if (request->ByteSizeLong() > kInlineWriteBytes) {
    return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<mem::Record> records, RecordsFromProto(*request));
      ASSIGN_OR_RETURN(mem::SaveResult result,
                       store_->Save(request->namespace_(), std::move(records)));
      response->set_vector_dim(result.vector_dim);
      return absl::OkStatus();
    });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::vector<mem::Record>> records = RecordsFromProto(*request);
  if (!records.ok()) {
    FinishWithStatus(context, reactor, records.status());
    return reactor;
  }
  store_->SaveAsync(request->namespace_(), *std::move(records), /*may_lead=*/true,
                    [context, reactor, response](absl::StatusOr<mem::SaveResult> result) {
                      if (result.ok()) response->set_vector_dim(result->vector_dim);
                      FinishWithStatus(context, reactor, result.status());
                    });
  return reactor;
}

grpc::ServerUnaryReactor* MemoryServiceImpl::Search(grpc::CallbackServerContext* context,
                                                    const v1::SearchRequest* request,
                                                    v1::SearchResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    mem::SearchRequest query;
    ASSIGN_OR_RETURN(query.query_embedding,
                     EmbeddingFromProto(request->query_embedding(),
                                        request->query_embedding_f32(), "query_embedding"));
    query.query_text = request->query_text();
    query.mode = FromProto(request->mode());
    query.filter = FromProto(request->filter());
    query.limit = request->limit();
    query.min_score = request->min_score();
    query.omit_embeddings = request->omit_embeddings();
    ASSIGN_OR_RETURN(mem::SearchResult result, store_->Search(request->namespace_(), query));
    response->set_approximate(result.approximate);
    response->mutable_results()->Reserve(static_cast<int>(result.results.size()));
    for (mem::ScoredRecord& scored : result.results) {
      v1::ScoredRecord* out = response->add_results();
      out->set_score(scored.score);
      ToProto(std::move(scored.record), request->packed_embeddings(), out->mutable_record());
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::DeleteRecords(grpc::CallbackServerContext* context,
                                                           const v1::DeleteRecordsRequest* request,
                                                           v1::DeleteRecordsResponse* response) {
  // Without ids a delete scans the namespace for matches: that runs on the executor.
  if (request->record_ids().empty() || request->ByteSizeLong() > kInlineWriteBytes) {
    return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
      ASSIGN_OR_RETURN(int64_t deleted, store_->Delete(request->namespace_(), FromProto(*request)));
      response->set_deleted(deleted);
      return absl::OkStatus();
    });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  store_->DeleteAsync(request->namespace_(), FromProto(*request), /*may_lead=*/true,
                      [context, reactor, response](absl::StatusOr<int64_t> deleted) {
                        if (deleted.ok()) response->set_deleted(*deleted);
                        FinishWithStatus(context, reactor, deleted.status());
                      });
  return reactor;
}

grpc::ServerUnaryReactor* MemoryServiceImpl::UpdateRecord(grpc::CallbackServerContext* context,
                                                          const v1::UpdateRecordRequest* request,
                                                          v1::UpdateRecordResponse* /*response*/) {
  if (request->ByteSizeLong() > kInlineWriteBytes) {
    return DispatchOnExecutor(context, executor_, [this, request]() -> absl::Status {
      ASSIGN_OR_RETURN(mem::Record record, FromProto(request->record(), "record"));
      return store_->Update(request->namespace_(), std::move(record));
    });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<mem::Record> record = FromProto(request->record(), "record");
  if (!record.ok()) {
    FinishWithStatus(context, reactor, record.status());
    return reactor;
  }
  store_->UpdateAsync(
      request->namespace_(), *std::move(record), /*may_lead=*/true,
      [context, reactor](absl::Status status) { FinishWithStatus(context, reactor, status); });
  return reactor;
}

grpc::ServerUnaryReactor* MemoryServiceImpl::GetRecord(grpc::CallbackServerContext* context,
                                                       const v1::GetRecordRequest* request,
                                                       v1::GetRecordResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<mem::Record> record,
                     store_->GetRecord(request->namespace_(), request->id()));
    response->set_found(record.has_value());
    if (record.has_value()) {
      ToProto(std::move(*record), request->packed_embeddings(), response->mutable_record());
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::ListRecords(grpc::CallbackServerContext* context,
                                                         const v1::ListRecordsRequest* request,
                                                         v1::ListRecordsResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    mem::ListRecordsRequest list;
    list.scope_prefix = request->scope_prefix();
    list.limit = request->page().limit();
    list.offset = request->page().offset();
    list.omit_embeddings = request->omit_embeddings();
    ASSIGN_OR_RETURN(mem::ListRecordsResult result,
                     store_->ListRecords(request->namespace_(), list));
    for (mem::Record& record : result.records) {
      ToProto(std::move(record), request->packed_embeddings(), response->add_records());
    }
    response->mutable_page_info()->set_has_more(result.has_more);
    response->mutable_page_info()->set_next_offset(result.next_offset);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::GetScopeInfo(grpc::CallbackServerContext* context,
                                                          const v1::GetScopeInfoRequest* request,
                                                          v1::GetScopeInfoResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(mem::ScopeInfo info, store_->GetScopeInfo(request->namespace_(), request->scope()));
    response->set_path(std::move(info.path));
    response->set_record_count(info.record_count);
    for (std::string& c : info.categories) response->add_categories(std::move(c));
    response->set_oldest_record(std::move(info.oldest_record));
    response->set_newest_record(std::move(info.newest_record));
    for (std::string& s : info.child_scopes) response->add_child_scopes(std::move(s));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::ListScopes(grpc::CallbackServerContext* context,
                                                        const v1::ListScopesRequest* request,
                                                        v1::ListScopesResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<std::string> scopes,
                     store_->ListScopes(request->namespace_(), request->parent()));
    for (std::string& s : scopes) response->add_scopes(std::move(s));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::ListCategories(
    grpc::CallbackServerContext* context, const v1::ListCategoriesRequest* request,
    v1::ListCategoriesResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<mem::CategoryCount> counts,
                     store_->ListCategories(request->namespace_(), request->scope_prefix()));
    for (mem::CategoryCount& c : counts) {
      v1::CategoryCount* out = response->add_categories();
      out->set_category(std::move(c.category));
      out->set_count(c.count);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::Count(grpc::CallbackServerContext* context,
                                                   const v1::CountRequest* request,
                                                   v1::CountResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t count, store_->Count(request->namespace_(), request->scope_prefix()));
    response->set_count(count);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::Reset(grpc::CallbackServerContext* context,
                                                   const v1::ResetRequest* request,
                                                   v1::ResetResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t deleted, store_->Reset(request->namespace_(), request->scope_prefix()));
    response->set_deleted(deleted);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::TouchRecords(grpc::CallbackServerContext* context,
                                                          const v1::TouchRecordsRequest* request,
                                                          v1::TouchRecordsResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    std::vector<std::string> ids(request->record_ids().begin(), request->record_ids().end());
    ASSIGN_OR_RETURN(int64_t touched,
                     store_->TouchRecords(request->namespace_(), ids, request->last_accessed(),
                                          request->last_accessed_micros()));
    response->set_touched(touched);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MemoryServiceImpl::DescribeNamespace(
    grpc::CallbackServerContext* context, const v1::DescribeNamespaceRequest* request,
    v1::DescribeNamespaceResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(mem::NamespaceInfo info, store_->DescribeNamespace(request->namespace_()));
    response->set_exists(info.exists);
    response->set_vector_dim(info.vector_dim);
    response->set_record_count(info.record_count);
    response->set_packed_embeddings(true);
    return absl::OkStatus();
  });
}

}  // namespace fast_crewai
