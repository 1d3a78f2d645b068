#include "server/rpc/persistence_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/rpc/dispatch.h"
#include "server/rpc/status_conversion.h"
#include "server/util/status_macros.h"

namespace fast_crewai {
namespace {

namespace ps = ::fast_crewai::persistence;

// ---- proto <-> core conversions (the only ones in the server) ----

ps::TaskOutputRow FromProto(const v1::TaskOutputRow& in) {
  ps::TaskOutputRow out;
  out.task_id = in.task_id();
  if (in.has_task_key()) out.task_key = in.task_key();
  out.expected_output = in.expected_output();
  out.output_json = in.output_json();
  out.task_index = in.task_index();
  out.inputs_json = in.inputs_json();
  out.was_replayed = in.was_replayed();
  out.timestamp = in.timestamp();
  return out;
}

void ToProto(const ps::TaskOutputRow& in, v1::TaskOutputRow* out) {
  out->set_task_id(in.task_id);
  if (in.task_key.has_value()) out->set_task_key(*in.task_key);
  out->set_expected_output(in.expected_output);
  out->set_output_json(in.output_json);
  out->set_task_index(static_cast<int32_t>(in.task_index));
  out->set_inputs_json(in.inputs_json);
  out->set_was_replayed(in.was_replayed);
  out->set_timestamp(in.timestamp);
}

ps::TaskOutputUpdate FromProto(const v1::UpdateTaskOutputRequest& in) {
  ps::TaskOutputUpdate out;
  if (in.has_task_id()) out.task_id = in.task_id();
  if (in.has_task_key()) out.task_key = in.task_key();
  if (in.has_expected_output()) out.expected_output = in.expected_output();
  if (in.has_output_json()) out.output_json = in.output_json();
  if (in.has_inputs_json()) out.inputs_json = in.inputs_json();
  if (in.has_was_replayed()) out.was_replayed = in.was_replayed();
  return out;
}

absl::Duration Millis(int64_t ms) { return absl::Milliseconds(ms); }

// ---------------------------------------------------------------------------------------
// HoldLock: one reactor per stream, i.e. per held (or awaited) lock.
//
// Every reactor operation (StartWrite, StartRead, Finish) is issued with mu_ held, so none
// can race with Finish; LockTable calls are made without mu_ (the table runs other
// sessions' callbacks synchronously, and those take their own session's mu_). The reactor
// keeps itself alive through self_ until OnDone; the table's callbacks hold weak pointers.
class LockSession final : public grpc::ServerBidiReactor<v1::LockRequest, v1::LockResponse>,
                          public std::enable_shared_from_this<LockSession> {
 public:
  static LockSession* Start(ps::LockTable* table, Clock* clock) {
    auto session = std::shared_ptr<LockSession>(new LockSession(table, clock));
    absl::MutexLock lock(&session->mu_);
    session->self_ = session;
    session->StartReadLocked();
    return session.get();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed, cancelled or vanished
      End(grpc::Status::OK);
      return;
    }
    switch (request_.kind_case()) {
      case v1::LockRequest::kAcquire:
        HandleAcquire(request_.acquire());
        break;
      case v1::LockRequest::kHeartbeat:
        HandleHeartbeat();
        break;
      case v1::LockRequest::kRelease: {
        v1::LockResponse released;
        released.mutable_released();
        End(grpc::Status::OK, std::move(released));
        break;
      }
      default:
        End(ToGrpcStatus(
            absl::InvalidArgumentError("kind: expected acquire, heartbeat or release")));
        break;
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) outbox_.clear();  // the stream is broken; only Finish remains
    PumpLocked();
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    std::shared_ptr<LockSession> self;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      self = std::move(self_);
    }
    // `self` goes out of scope here; a table callback holding a locked weak pointer keeps
    // the object alive until it returns (and it does nothing once done_ is set).
  }

 private:
  enum class Phase { kStart, kWaiting, kHolding, kEnded };

  LockSession(ps::LockTable* table, Clock* clock) : table_(table), clock_(clock) {}

  void HandleAcquire(const v1::AcquireLock& acquire) {
    bool duplicate = false;
    {
      absl::MutexLock lock(&mu_);
      duplicate = phase_ != Phase::kStart || acquiring_;
      if (!duplicate) started_ = clock_->Now();
      acquiring_ = true;
    }
    if (duplicate) {
      End(ToGrpcStatus(absl::FailedPreconditionError(
          "acquire: this stream already asked for a lock; open one stream per lock")));
      return;
    }
    if (acquire.wait_timeout_ms() < 0 || acquire.lease_ms() < 0) {
      End(ToGrpcStatus(absl::InvalidArgumentError(
          acquire.lease_ms() < 0 ? "acquire.lease_ms: must not be negative"
                                 : "acquire.wait_timeout_ms: must not be negative")));
      return;
    }
    std::weak_ptr<LockSession> weak = weak_from_this();
    ps::LockCallbacks callbacks;
    callbacks.on_granted = [weak] {
      if (auto s = weak.lock()) s->OnGranted();
    };
    callbacks.on_timed_out = [weak](const ps::LockHolderInfo& holder) {
      if (auto s = weak.lock()) s->OnTimedOut(holder);
    };
    callbacks.on_lapsed = [weak] {
      if (auto s = weak.lock()) s->OnLapsed();
    };
    absl::StatusOr<ps::AcquireResult> result =
        table_->Acquire(acquire.name(), acquire.holder(), Millis(acquire.lease_ms()),
                        Millis(acquire.wait_timeout_ms()), std::move(callbacks));
    if (!result.ok()) {
      // Field paths of the core are relative to the acquire message.
      End(ToGrpcStatus(absl::Status(result.status().code(),
                                    absl::StrCat("acquire.", result.status().message()))));
      return;
    }
    uint64_t orphan = 0;  // a ticket granted after the stream ended
    {
      absl::MutexLock lock(&mu_);
      lease_ = result->lease;
      if (phase_ == Phase::kEnded) {
        orphan = result->ticket;  // cancelled, or timed out before the ticket was known here
      } else {
        switch (result->state) {
          case ps::AcquireResult::State::kGranted:
            phase_ = Phase::kHolding;
            ticket_ = result->ticket;
            SendLocked(AcquiredLocked());
            StartReadLocked();
            break;
          case ps::AcquireResult::State::kWaiting:
            // on_granted may already have run, before the ticket was known here: it set the
            // phase to kHolding and queued the answer.
            ticket_ = result->ticket;
            if (phase_ == Phase::kStart) phase_ = Phase::kWaiting;
            StartReadLocked();
            break;
          case ps::AcquireResult::State::kTimedOut:
            SendTimedOutLocked(result->current_holder);
            break;
        }
      }
    }
    if (orphan != 0) table_->Release(orphan);
  }

  void HandleHeartbeat() {
    uint64_t ticket = 0;
    {
      absl::MutexLock lock(&mu_);
      if (phase_ == Phase::kHolding) ticket = ticket_;
      StartReadLocked();
    }
    // A failed renewal means the lease lapsed just now: on_lapsed ends the stream.
    if (ticket != 0) table_->Renew(ticket).IgnoreError();
  }

  // Callbacks from the LockTable (any thread, no table lock held).
  void OnGranted() {
    absl::MutexLock lock(&mu_);
    if (phase_ == Phase::kWaiting || phase_ == Phase::kStart) {
      phase_ = Phase::kHolding;
      SendLocked(AcquiredLocked());
    }
  }

  void OnTimedOut(const ps::LockHolderInfo& holder) {
    absl::MutexLock lock(&mu_);
    // kStart: the wait ended before HandleAcquire learnt its ticket.
    if (phase_ != Phase::kWaiting && phase_ != Phase::kStart) return;
    ticket_ = 0;  // the table already forgot it
    SendTimedOutLocked(holder);
  }

  void OnLapsed() {
    absl::MutexLock lock(&mu_);
    if (phase_ != Phase::kHolding) return;
    ticket_ = 0;
    EndLocked(ToGrpcStatus(
        absl::AbortedError(absl::StrCat("lease lapsed: no message from the holder for ",
                                        absl::FormatDuration(lease_), "; the lock was released"))));
  }

  // ---- helpers (mu_ held) ----

  v1::LockResponse AcquiredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::LockResponse r;
    r.mutable_acquired()->set_lease_ms(absl::ToInt64Milliseconds(lease_));
    r.mutable_acquired()->set_waited_ms(absl::ToInt64Milliseconds(clock_->Now() - started_));
    return r;
  }

  void SendTimedOutLocked(const ps::LockHolderInfo& holder) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::LockResponse r;
    r.mutable_timed_out()->set_holder(holder.holder);
    r.mutable_timed_out()->set_waited_ms(absl::ToInt64Milliseconds(clock_->Now() - started_));
    SendLocked(std::move(r));
    EndLocked(grpc::Status::OK);
  }

  void SendLocked(v1::LockResponse response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_.has_value() || done_) return;
    outbox_.push_back(std::move(response));
    PumpLocked();
  }

  void StartReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_.has_value() || done_) return;
    StartRead(&request_);
  }

  // Issues the next write, or Finish once every queued write is out.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (write_in_flight_ || finish_called_ || done_) return;
    if (!outbox_.empty()) {
      writing_ = std::move(outbox_.front());
      outbox_.pop_front();
      write_in_flight_ = true;
      StartWrite(&writing_);
      return;
    }
    if (finish_.has_value()) {
      finish_called_ = true;
      Finish(*finish_);
    }
  }

  // Ends the session: gives the ticket back (outside mu_) and finishes with `status` after
  // `last` (if any) is written. Later calls do nothing.
  void End(grpc::Status status, std::optional<v1::LockResponse> last = std::nullopt) {
    uint64_t ticket = 0;
    {
      absl::MutexLock lock(&mu_);
      if (phase_ == Phase::kEnded) return;
      ticket = ticket_;
      ticket_ = 0;
      phase_ = Phase::kEnded;
    }
    if (ticket != 0) table_->Release(ticket);
    absl::MutexLock lock(&mu_);
    if (last.has_value()) SendLocked(std::move(*last));
    FinishLocked(std::move(status));
  }

  // As End, for callers holding mu_ whose ticket the table already dropped (timed out,
  // lapsed) or who never had one.
  void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ticket_ = 0;
    phase_ = Phase::kEnded;
    FinishLocked(std::move(status));
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_.has_value()) return;
    finish_ = std::move(status);
    PumpLocked();
  }

  ps::LockTable* const table_;
  Clock* const clock_;

  absl::Mutex mu_;
  std::shared_ptr<LockSession> self_ ABSL_GUARDED_BY(mu_);
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kStart;
  bool acquiring_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t ticket_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration lease_ ABSL_GUARDED_BY(mu_);
  absl::Time started_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::LockResponse> outbox_ ABSL_GUARDED_BY(mu_);
  v1::LockResponse writing_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  // Written by gRPC between StartRead and OnReadDone only.
  v1::LockRequest request_;
};

}  // namespace

PersistenceServiceImpl::PersistenceServiceImpl(persistence::PersistenceStore* store,
                                               persistence::LockTable* locks, Executor* executor,
                                               Clock* clock, absl::Duration reaper_interval)
    : store_(store),
      locks_(locks),
      executor_(executor),
      clock_(clock),
      reaper_interval_(reaper_interval),
      reaper_([this] { ReaperLoop(); }) {}

PersistenceServiceImpl::~PersistenceServiceImpl() {
  {
    absl::MutexLock lock(&reaper_mu_);
    stopping_ = true;
  }
  reaper_.join();
}

void PersistenceServiceImpl::ReaperLoop() {
  absl::MutexLock lock(&reaper_mu_);
  while (!stopping_) {
    reaper_mu_.Unlock();
    const absl::Duration next = locks_->Tick();
    reaper_mu_.Lock();
    const absl::Duration wait = std::min(next, reaper_interval_);
    reaper_mu_.AwaitWithTimeout(absl::Condition(&stopping_), std::max(wait, absl::Milliseconds(1)));
  }
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::AddTaskOutput(
    grpc::CallbackServerContext* context, const v1::AddTaskOutputRequest* request,
    v1::AddTaskOutputResponse* response) {
  if (request->ByteSizeLong() > kInlineWriteBytes) {
    return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
      ASSIGN_OR_RETURN(ps::TaskOutputRow stored,
                       store_->AddTaskOutput(request->namespace_(), request->kickoff_id(),
                                             FromProto(request->row())));
      ToProto(stored, response->mutable_row());
      return absl::OkStatus();
    });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::vector<ps::TaskOutputRow> rows;
  rows.push_back(FromProto(request->row()));
  store_->AddTaskOutputsAsync(
      request->namespace_(), request->kickoff_id(), std::move(rows), /*batch=*/false,
      /*may_lead=*/true,
      [context, reactor, response](absl::StatusOr<std::vector<ps::TaskOutputRow>> stored) {
        if (stored.ok()) ToProto(stored->front(), response->mutable_row());
        FinishWithStatus(context, reactor, stored.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::AddTaskOutputs(
    grpc::CallbackServerContext* context, const v1::AddTaskOutputsRequest* request,
    v1::AddTaskOutputsResponse* response) {
  const auto rows_from_proto = [request] {
    std::vector<ps::TaskOutputRow> rows;
    rows.reserve(static_cast<size_t>(request->rows_size()));
    for (const v1::TaskOutputRow& row : request->rows()) rows.push_back(FromProto(row));
    return rows;
  };
  if (request->ByteSizeLong() > kInlineWriteBytes) {
    return DispatchOnExecutor(
        context, executor_, [this, request, response, rows_from_proto]() -> absl::Status {
          ASSIGN_OR_RETURN(std::vector<ps::TaskOutputRow> stored,
                           store_->AddTaskOutputs(request->namespace_(), request->kickoff_id(),
                                                  rows_from_proto()));
          for (const ps::TaskOutputRow& row : stored) ToProto(row, response->add_rows());
          return absl::OkStatus();
        });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  store_->AddTaskOutputsAsync(
      request->namespace_(), request->kickoff_id(), rows_from_proto(), /*batch=*/true,
      /*may_lead=*/true,
      [context, reactor, response](absl::StatusOr<std::vector<ps::TaskOutputRow>> stored) {
        if (stored.ok()) {
          for (const ps::TaskOutputRow& row : *stored) ToProto(row, response->add_rows());
        }
        FinishWithStatus(context, reactor, stored.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::LoadTaskOutputs(
    grpc::CallbackServerContext* context, const v1::LoadTaskOutputsRequest* request,
    v1::LoadTaskOutputsResponse* response) {
  return FinishInline(context, [this, request, response]() -> absl::Status {
    ps::KickoffSelector selector;
    if (!request->kickoff_id().empty()) {
      selector = ps::KickoffSelector::ById(request->kickoff_id());
    } else if (!request->task_id().empty()) {
      selector = ps::KickoffSelector::ByTask(request->task_id());
    } else {
      selector = ps::KickoffSelector::Latest(request->namespace_());
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const ps::KickoffSnapshot> kickoff,
                     store_->LoadTaskOutputs(selector));
    response->set_found(kickoff != nullptr);
    if (kickoff == nullptr) return absl::OkStatus();
    response->set_kickoff_id(kickoff->kickoff_id);
    response->set_namespace_(kickoff->ns);
    response->mutable_rows()->Reserve(static_cast<int>(kickoff->rows.size()));
    for (const auto& row : kickoff->rows) ToProto(row->row, response->add_rows());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::UpdateTaskOutput(
    grpc::CallbackServerContext* context, const v1::UpdateTaskOutputRequest* request,
    v1::UpdateTaskOutputResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<ps::TaskOutputRow> rows,
                     store_->UpdateTaskOutputs(request->kickoff_id(), request->task_index(),
                                               FromProto(*request)));
    for (const ps::TaskOutputRow& row : rows) ToProto(row, response->add_rows());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::DeleteTaskOutputs(
    grpc::CallbackServerContext* context, const v1::DeleteTaskOutputsRequest* request,
    v1::DeleteTaskOutputsResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t deleted,
                     store_->DeleteTaskOutputs(request->namespace_(), request->kickoff_id()));
    response->set_deleted_rows(deleted);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::FindKickoffForTask(
    grpc::CallbackServerContext* context, const v1::FindKickoffForTaskRequest* request,
    v1::FindKickoffForTaskResponse* response) {
  return FinishInline(context, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(std::shared_ptr<const ps::KickoffSnapshot> kickoff,
                     store_->LoadTaskOutputs(ps::KickoffSelector::ByTask(request->task_id())));
    response->set_found(kickoff != nullptr);
    if (kickoff != nullptr) {
      response->set_kickoff_id(kickoff->kickoff_id);
      response->set_namespace_(kickoff->ns);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::ListKickoffs(
    grpc::CallbackServerContext* context, const v1::ListKickoffsRequest* request,
    v1::ListKickoffsResponse* response) {
  return FinishInline(context, [this, request, response]() -> absl::Status {
    const int64_t limit = request->limit() == 0 ? 100 : request->limit();
    ASSIGN_OR_RETURN(std::vector<ps::KickoffInfo> kickoffs,
                     store_->ListKickoffs(request->namespace_(), request->all_namespaces(), limit));
    for (const ps::KickoffInfo& k : kickoffs) {
      v1::KickoffSummary* out = response->add_kickoffs();
      out->set_kickoff_id(k.kickoff_id);
      out->set_namespace_(k.ns);
      out->set_created_at_micros(k.created_at_micros);
      out->set_task_count(k.task_count);
      out->set_last_task_index(static_cast<int32_t>(k.last_task_index));
      out->set_last_task_id(k.last_task_id);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::SaveFlowState(
    grpc::CallbackServerContext* context, const v1::SaveFlowStateRequest* request,
    v1::SaveFlowStateResponse* /*response*/) {
  return DispatchOnExecutor(context, executor_, [this, request]() -> absl::Status {
    return store_->SaveFlowState(request->flow_uuid(), request->method_name(),
                                 request->state_json(), request->timestamp());
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::LoadFlowState(
    grpc::CallbackServerContext* context, const v1::LoadFlowStateRequest* request,
    v1::LoadFlowStateResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<ps::FlowState> state,
                     store_->LoadFlowState(request->flow_uuid()));
    response->set_found(state.has_value());
    if (state.has_value()) {
      response->set_state_json(std::move(state->state_json));
      response->set_method_name(std::move(state->method_name));
      response->set_timestamp(std::move(state->timestamp));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::SavePendingFeedback(
    grpc::CallbackServerContext* context, const v1::SavePendingFeedbackRequest* request,
    v1::SavePendingFeedbackResponse* /*response*/) {
  return DispatchOnExecutor(context, executor_, [this, request]() -> absl::Status {
    return store_->SavePendingFeedback(request->flow_uuid(), request->method_name(),
                                       request->context_json(), request->state_json(),
                                       request->created_at());
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::LoadPendingFeedback(
    grpc::CallbackServerContext* context, const v1::LoadPendingFeedbackRequest* request,
    v1::LoadPendingFeedbackResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<ps::PendingFeedback> pending,
                     store_->LoadPendingFeedback(request->flow_uuid()));
    response->set_found(pending.has_value());
    if (pending.has_value()) {
      response->set_context_json(std::move(pending->context_json));
      response->set_state_json(std::move(pending->state_json));
      response->set_created_at(std::move(pending->created_at));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::ClearPendingFeedback(
    grpc::CallbackServerContext* context, const v1::ClearPendingFeedbackRequest* request,
    v1::ClearPendingFeedbackResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(bool cleared, store_->ClearPendingFeedback(request->flow_uuid()));
    response->set_cleared(cleared);
    return absl::OkStatus();
  });
}

grpc::ServerBidiReactor<v1::LockRequest, v1::LockResponse>* PersistenceServiceImpl::HoldLock(
    grpc::CallbackServerContext* context) {
  return LockSession::Start(locks_, clock_);
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::SaveLongTermMemory(
    grpc::CallbackServerContext* context, const v1::SaveLongTermMemoryRequest* request,
    v1::SaveLongTermMemoryResponse* /*response*/) {
  return DispatchOnExecutor(context, executor_, [this, request]() -> absl::Status {
    return store_->SaveLtm(request->namespace_(), request->task_description(),
                           request->metadata_json(), request->datetime(), request->score());
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::LoadLongTermMemory(
    grpc::CallbackServerContext* context, const v1::LoadLongTermMemoryRequest* request,
    v1::LoadLongTermMemoryResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(
        std::vector<ps::LtmEntry> entries,
        store_->LoadLtm(request->namespace_(), request->task_description(), request->latest_n()));
    for (ps::LtmEntry& e : entries) {
      v1::LongTermMemoryEntry* out = response->add_entries();
      out->set_metadata_json(std::move(e.metadata_json));
      out->set_datetime(std::move(e.datetime));
      out->set_score(e.score);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::ResetLongTermMemory(
    grpc::CallbackServerContext* context, const v1::ResetLongTermMemoryRequest* request,
    v1::ResetLongTermMemoryResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t deleted, store_->ResetLtm(request->namespace_()));
    response->set_deleted(deleted);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PersistenceServiceImpl::Backup(grpc::CallbackServerContext* context,
                                                         const v1::BackupRequest* request,
                                                         v1::BackupResponse* response) {
  return DispatchOnExecutor(context, executor_, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(ps::BackupResult result,
                     store_->Backup(request->dest_path(), request->overwrite()));
    response->set_pages(result.pages);
    response->set_bytes(result.bytes);
    response->set_source_path(store_->path());
    return absl::OkStatus();
  });
}

}  // namespace fast_crewai
