#include "server/rpc/scheduler_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/rpc/dispatch.h"
#include "server/rpc/status_conversion.h"
#include "server/rpc/wait_reactor.h"
#include "server/rpc/write_queue.h"
#include "server/util/status_macros.h"

namespace fast_crewai {
namespace {

namespace sc = ::fast_crewai::scheduler;

// The core numbers its states as the proto does (the casts below rely on it).
static_assert(static_cast<int>(sc::RunState::kRunning) == v1::RUN_STATE_RUNNING &&
              static_cast<int>(sc::RunState::kCancelled) == v1::RunState_MAX);
static_assert(static_cast<int>(sc::NodeState::kBlocked) == v1::NODE_STATE_BLOCKED &&
              static_cast<int>(sc::NodeState::kCancelled) == v1::NodeState_MAX);

// ---- proto <-> core conversions (the only ones in the server) ----

sc::RunSpec FromProto(const v1::CreateRunRequest& in) {
  sc::RunSpec spec;
  spec.nodes.reserve(in.nodes_size());
  for (const v1::TaskNode& n : in.nodes()) {
    sc::NodeSpec& node = spec.nodes.emplace_back();
    node.node_id = n.node_id();
    node.depends_on.assign(n.depends_on().begin(), n.depends_on().end());
    node.payload = n.payload();
    node.max_attempts = n.max_attempts();
  }
  spec.queue = in.queue();
  spec.name = in.name();
  spec.lease = absl::Milliseconds(in.lease_millis());
  spec.max_attempts = in.max_attempts();
  spec.labels.assign(in.labels().begin(), in.labels().end());
  return spec;
}

void ToProto(const sc::RunInfo& in, v1::Run* out) {
  out->set_run_id(in.run_id);
  out->set_name(in.name);
  out->set_queue(in.queue);
  out->set_state(static_cast<v1::RunState>(in.state));
  v1::NodeCounts* c = out->mutable_counts();
  c->set_total(in.counts.total);
  c->set_blocked(in.counts.blocked);
  c->set_ready(in.counts.ready);
  c->set_leased(in.counts.leased);
  c->set_succeeded(in.counts.succeeded);
  c->set_failed(in.counts.failed);
  c->set_cancelled(in.counts.cancelled);
  out->set_created_at_micros(in.created_at_micros);
  out->set_finished_at_micros(in.finished_at_micros);
  out->set_lease_millis(absl::ToInt64Milliseconds(in.lease));
  out->set_max_attempts(in.max_attempts);
  for (const auto& [key, value] : in.labels) (*out->mutable_labels())[key] = value;
}

void ToProto(const sc::NodeInfo& in, v1::Node* out) {
  out->set_run_id(in.run_id);
  out->set_node_id(in.node_id);
  for (const std::string& d : in.depends_on) out->add_depends_on(d);
  out->set_state(static_cast<v1::NodeState>(in.state));
  out->set_attempts(in.attempts);
  out->set_max_attempts(in.max_attempts);
  out->set_worker_id(in.worker_id);
  if (in.payload != nullptr) out->set_payload(*in.payload);
  if (in.output != nullptr) out->set_output(*in.output);
  out->set_error(in.error);
  out->set_started_at_micros(in.started_at_micros);
  out->set_finished_at_micros(in.finished_at_micros);
}

void ToProto(const sc::LeaseGrant& in, v1::Lease* out) {
  out->set_lease_id(in.lease_id);
  out->set_run_id(in.run_id);
  out->set_node_id(in.node_id);
  if (in.payload != nullptr) out->set_payload(*in.payload);
  out->set_attempt(in.attempt);
  out->set_lease_millis(absl::ToInt64Milliseconds(in.lease));
  for (const sc::DependencyOutput& d : in.dependency_outputs) {
    v1::NodeOutput* o = out->add_dependency_outputs();
    o->set_node_id(d.node_id);
    if (d.output != nullptr) o->set_output(*d.output);
  }
}

sc::Page FromProto(const v1::PageRequest& in) { return sc::Page{in.offset(), in.limit()}; }

template <typename Enum, typename Proto>
absl::StatusOr<std::vector<Enum>> States(const Proto& states, int max) {
  std::vector<Enum> out;
  for (int i = 0; i < states.size(); ++i) {
    const int v = states.Get(i);
    if (v < 1 || v > max) {
      return absl::InvalidArgumentError(absl::StrCat("states[", i, "]: unknown state ", v));
    }
    out.push_back(static_cast<Enum>(v));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// LeaseNodes: answered at once, or parked in the core until a node becomes ready, the wait
// runs out, the call is cancelled or the daemon stops. Exactly one of the core's callback and
// a successful CancelLeaseWait finishes it; it deletes itself in OnDone (always last).
class LeaseReactor final : public WaitReactor {
 public:
  LeaseReactor(sc::Scheduler* scheduler, const v1::LeaseNodesRequest* request,
               v1::LeaseNodesResponse* response)
      : WaitReactor("cancelled while waiting for a node"),
        scheduler_(scheduler),
        response_(response) {
    sc::LeaseQuery query;
    query.worker_id = request->worker_id();
    query.queue = request->queue();
    query.max_nodes = request->max_nodes();
    query.wait = absl::Milliseconds(request->wait_millis());
    Registered(scheduler_->LeaseNodes(
        query, [this](absl::StatusOr<std::vector<sc::LeaseGrant>> result) {
          Complete(std::move(result));
        }));
  }

 private:
  bool CancelWait(uint64_t wait_id) override { return scheduler_->CancelLeaseWait(wait_id); }

  void Complete(absl::StatusOr<std::vector<sc::LeaseGrant>> result) {
    MarkFinished();
    if (!result.ok()) {
      Finish(ToGrpcStatus(result.status()));
      return;
    }
    response_->mutable_leases()->Reserve(static_cast<int>(result->size()));
    for (const sc::LeaseGrant& g : *result) ToProto(g, response_->add_leases());
    Finish(grpc::Status::OK);
  }

  sc::Scheduler* const scheduler_;
  v1::LeaseNodesResponse* const response_;
};

// ---------------------------------------------------------------------------------------
// StreamLeases: each request message adds credits to the core's lease stream (the first one
// opens it); the core pushes leases through Deliver (under its lock) and they leave one
// write at a time. Lock order: the scheduler's lock, then mu_; the reactor never calls the
// scheduler with mu_ held. The worker closing its side stops the deliveries and ends the
// stream with OK once the leases in flight are written (they stay held: the worker runs
// them). A stream that breaks or is cancelled, or a refused message, closes the core stream
// with its held leases lapsing at once. The reactor deletes itself in OnDone (always last).
class LeaseStreamReactor final
    : public grpc::ServerBidiReactor<v1::StreamLeasesRequest, v1::StreamLeasesResponse> {
 public:
  LeaseStreamReactor(grpc::CallbackServerContext* context, sc::Scheduler* scheduler)
      : context_(context), scheduler_(scheduler) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the worker closed its side (or the stream broke: OnCancel/OnDone lapse)
      const uint64_t id = StreamId();
      if (id != 0) scheduler_->StopLeaseStream(id);
      absl::MutexLock lock(&mu_);
      writes_.Finish(this, grpc::Status::OK);
      return;
    }
    absl::Status s = Apply();
    if (!s.ok()) {
      End(ToGrpcStatus(s));
      return;
    }
    absl::MutexLock lock(&mu_);
    if (!writes_.finishing()) StartRead(&request_);  // one read at a time: only here
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writes_.WriteDone();
      if (ok) {
        writes_.Pump(this);
        return;
      }
    }
    End(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    // A stream that ended cleanly leaves its leases with the worker; once CloseLeaseStream
    // returns the core never calls Deliver again.
    const uint64_t id = StreamId();
    if (id != 0) scheduler_->CloseLeaseStream(id, /*lapse_held=*/context_->IsCancelled());
    delete this;
  }

 private:
  uint64_t StreamId() {
    absl::MutexLock lock(&mu_);
    return stream_id_;
  }

  // Reads request_ (only OnReadDone touches it, one read at a time).
  absl::Status Apply() {
    uint64_t stream_id = 0;
    {
      absl::MutexLock lock(&mu_);
      stream_id = stream_id_;
    }
    if (stream_id == 0) {
      worker_id_ = request_.worker_id();
      queue_ = request_.queue();
      sc::LeaseStreamQuery query{worker_id_, queue_};
      ASSIGN_OR_RETURN(uint64_t id, scheduler_->OpenLeaseStream(
                                        query, [this](absl::StatusOr<std::vector<sc::LeaseGrant>>
                                                          leases) { Deliver(std::move(leases)); }));
      absl::MutexLock lock(&mu_);
      stream_id_ = stream_id = id;
    } else if (!request_.worker_id().empty() && request_.worker_id() != worker_id_) {
      return absl::InvalidArgumentError("worker_id: cannot change on an open stream");
    } else if (!request_.queue().empty() && request_.queue() != queue_) {
      return absl::InvalidArgumentError("queue: cannot change on an open stream");
    }
    return scheduler_->AddLeaseCredits(stream_id, request_.credits());
  }

  // Called by the core (its lock held).
  void Deliver(absl::StatusOr<std::vector<sc::LeaseGrant>> leases) {
    absl::MutexLock lock(&mu_);
    if (!leases.ok()) {  // the daemon is stopping
      writes_.Finish(this, ToGrpcStatus(leases.status()));
      return;
    }
    v1::StreamLeasesResponse* message = writes_.Add();
    if (message == nullptr) return;
    message->mutable_leases()->Reserve(static_cast<int>(leases->size()));
    for (const sc::LeaseGrant& g : *leases) ToProto(g, message->add_leases());
    writes_.Pump(this);
  }

  // Closes the core stream, its held leases lapsing at once (also those queued here, which
  // the worker will never see), and finishes with `status`.
  void End(grpc::Status status) {
    const uint64_t id = StreamId();
    if (id != 0) scheduler_->CloseLeaseStream(id, /*lapse_held=*/true);
    absl::MutexLock lock(&mu_);
    writes_.Clear();
    writes_.Finish(this, std::move(status));
  }

  grpc::CallbackServerContext* const context_;
  sc::Scheduler* const scheduler_;
  v1::StreamLeasesRequest request_;  // the read in flight; OnReadDone only
  std::string worker_id_;            // OnReadDone only
  std::string queue_;                // OnReadDone only
  absl::Mutex mu_;
  uint64_t stream_id_ ABSL_GUARDED_BY(mu_) = 0;
  WriteQueue<v1::StreamLeasesResponse> writes_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------------------
// WatchRun: the core calls Enqueue (under its lock, in order); messages leave one write at a
// time. Lock order: the scheduler's lock, then mu_. The reactor never calls the scheduler
// with mu_ held.
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchRunResponse> {
 public:
  WatchReactor(sc::Scheduler* scheduler, const v1::WatchRunRequest* request)
      : scheduler_(scheduler) {
    sc::WatchOptions options;
    options.include_output = request->include_output();
    absl::StatusOr<uint64_t> id = scheduler_->Watch(
        request->run_id(), options, [this](const sc::WatchEvent& event) { Enqueue(event); });
    absl::MutexLock lock(&mu_);
    if (!id.ok()) {
      writes_.Finish(this, ToGrpcStatus(id.status()));
      return;
    }
    watch_id_ = *id;
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writes_.WriteDone();
    if (!ok) {
      writes_.Clear();
      writes_.Finish(this, grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      return;
    }
    writes_.Pump(this);
  }

  void OnCancel() override {
    uint64_t id = 0;
    {
      absl::MutexLock lock(&mu_);
      id = watch_id_;
    }
    if (id != 0) scheduler_->Unwatch(id);
    absl::MutexLock lock(&mu_);
    writes_.Clear();
    writes_.Finish(this, grpc::Status::CANCELLED);
  }

  void OnDone() override {
    uint64_t id = 0;
    {
      absl::MutexLock lock(&mu_);
      id = watch_id_;
    }
    // Once Unwatch returns the core never calls Enqueue again.
    if (id != 0) scheduler_->Unwatch(id);
    delete this;
  }

 private:
  void Enqueue(const sc::WatchEvent& event) {
    absl::MutexLock lock(&mu_);
    if (writes_.finishing()) return;
    if (!event.end_status.ok()) {  // the daemon is stopping
      writes_.Clear();
      writes_.Finish(this, ToGrpcStatus(event.end_status));
      return;
    }
    if (writes_.size() >= kMaxQueuedWatchMessages) {
      writes_.Clear();
      writes_.Finish(this, grpc::Status(grpc::StatusCode::ABORTED,
                                        "the watcher fell behind; call WatchRun again to resync"));
      return;
    }
    v1::WatchRunResponse* message = writes_.Add();
    ToProto(event.run, message->mutable_run());
    message->mutable_nodes()->Reserve(static_cast<int>(event.nodes.size()));
    for (const sc::NodeInfo& n : event.nodes) ToProto(n, message->add_nodes());
    if (event.last) writes_.Finish(this, grpc::Status::OK);  // after the queued messages
    writes_.Pump(this);
  }

  sc::Scheduler* const scheduler_;
  absl::Mutex mu_;
  uint64_t watch_id_ ABSL_GUARDED_BY(mu_) = 0;
  WriteQueue<v1::WatchRunResponse> writes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

SchedulerServiceImpl::SchedulerServiceImpl(scheduler::Scheduler* scheduler,
                                           scheduler::RateLimiter* limiter)
    : scheduler_(scheduler), limiter_(limiter) {}

template <typename Apply>
grpc::ServerUnaryReactor* SchedulerServiceImpl::ApplyThenSync(
    grpc::CallbackServerContext* context, Apply apply,
    absl::AnyInvocable<void(const absl::Status&)> on_unwritten) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status applied = apply();
  if (!applied.ok()) {
    FinishWithStatus(context, reactor, applied);
    return reactor;
  }
  // The change is visible (and parked workers have their leases); the reply waits for the
  // disk. This thread writes the group when no commit is under way (one fsync, no thread hop);
  // otherwise the commit joins the next group and its leader finishes the call. Not skipped
  // when the call was cancelled meanwhile: the change is made, so it is written.
  scheduler_->SyncAsync(/*may_lead=*/true, [context, reactor, on_unwritten = std::move(
                                                                  on_unwritten)](
                                               absl::Status synced) mutable {
    if (!synced.ok() && on_unwritten) on_unwritten(synced);
    FinishWithStatus(context, reactor, synced);
  });
  return reactor;
}

void SchedulerServiceImpl::EndStreams() {
  scheduler_->EndStreams(absl::UnavailableError("the daemon is shutting down"));
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::CreateRun(grpc::CallbackServerContext* context,
                                                          const v1::CreateRunRequest* request,
                                                          v1::CreateRunResponse* response) {
  // A run whose creation cannot be written is abandoned (cancelled) before the caller hears of
  // the error, so that no worker runs it after the caller fell back.
  return ApplyThenSync(
      context,
      [this, request, response]() -> absl::Status {
        ASSIGN_OR_RETURN(sc::RunInfo run, scheduler_->ApplyCreateRun(FromProto(*request)));
        response->set_run_id(run.run_id);
        ToProto(run, response->mutable_run());
        return absl::OkStatus();
      },
      [this, response](const absl::Status& why) {
        scheduler_->AbandonRun(response->run_id(), why);
      });
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::GetRun(grpc::CallbackServerContext* context,
                                                       const v1::GetRunRequest* request,
                                                       v1::GetRunResponse* response) {
  return FinishInline(context, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(sc::RunInfo run, scheduler_->GetRun(request->run_id()));
    ToProto(run, response->mutable_run());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::ListRuns(grpc::CallbackServerContext* context,
                                                         const v1::ListRunsRequest* request,
                                                         v1::ListRunsResponse* response) {
  return FinishInline(context, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<sc::RunState> states,
                     States<sc::RunState>(request->states(), v1::RunState_MAX));
    ASSIGN_OR_RETURN(sc::RunPage page, scheduler_->ListRuns(FromProto(request->page()), states));
    response->mutable_runs()->Reserve(static_cast<int>(page.runs.size()));
    for (const sc::RunInfo& run : page.runs) ToProto(run, response->add_runs());
    response->mutable_page()->set_has_more(page.has_more);
    response->mutable_page()->set_next_offset(page.next_offset);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::ListNodes(grpc::CallbackServerContext* context,
                                                          const v1::ListNodesRequest* request,
                                                          v1::ListNodesResponse* response) {
  return FinishInline(context, [this, request, response]() -> absl::Status {
    sc::ListNodesOptions options;
    ASSIGN_OR_RETURN(options.states, States<sc::NodeState>(request->states(), v1::NodeState_MAX));
    options.page = FromProto(request->page());
    options.include_payload = request->include_payload();
    options.include_output = request->include_output();
    ASSIGN_OR_RETURN(sc::NodePage page, scheduler_->ListNodes(request->run_id(), options));
    response->mutable_nodes()->Reserve(static_cast<int>(page.nodes.size()));
    for (const sc::NodeInfo& node : page.nodes) ToProto(node, response->add_nodes());
    response->mutable_page()->set_has_more(page.has_more);
    response->mutable_page()->set_next_offset(page.next_offset);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::CancelRun(grpc::CallbackServerContext* context,
                                                          const v1::CancelRunRequest* request,
                                                          v1::CancelRunResponse* response) {
  return ApplyThenSync(context, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(sc::RunInfo run,
                     scheduler_->ApplyCancelRun(request->run_id(), request->reason()));
    ToProto(run, response->mutable_run());
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::WatchRunResponse>* SchedulerServiceImpl::WatchRun(
    grpc::CallbackServerContext* /*context*/, const v1::WatchRunRequest* request) {
  return new WatchReactor(scheduler_, request);
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::LeaseNodes(grpc::CallbackServerContext* /*context*/,
                                                           const v1::LeaseNodesRequest* request,
                                                           v1::LeaseNodesResponse* response) {
  return new LeaseReactor(scheduler_, request, response);
}

grpc::ServerBidiReactor<v1::StreamLeasesRequest, v1::StreamLeasesResponse>*
SchedulerServiceImpl::StreamLeases(grpc::CallbackServerContext* context) {
  return new LeaseStreamReactor(context, scheduler_);
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::RenewLeases(grpc::CallbackServerContext* context,
                                                            const v1::RenewLeasesRequest* request,
                                                            v1::RenewLeasesResponse* response) {
  return FinishInline(context, [this, request, response]() -> absl::Status {
    std::vector<std::string> ids(request->lease_ids().begin(), request->lease_ids().end());
    ASSIGN_OR_RETURN(std::vector<std::string> lost,
                     scheduler_->RenewLeases(request->worker_id(), ids));
    for (std::string& id : lost) response->add_lost_lease_ids(std::move(id));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::CompleteNode(
    grpc::CallbackServerContext* context, const v1::CompleteNodeRequest* request,
    v1::CompleteNodeResponse* response) {
  return ApplyThenSync(context, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(sc::RunInfo run,
                     scheduler_->ApplyCompleteNode(request->lease_id(), request->output()));
    ToProto(run, response->mutable_run());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::FailNode(grpc::CallbackServerContext* context,
                                                         const v1::FailNodeRequest* request,
                                                         v1::FailNodeResponse* response) {
  return ApplyThenSync(context, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(sc::FailResult result, scheduler_->ApplyFailNode(request->lease_id(),
                                                                      request->error(),
                                                                      request->retryable()));
    response->set_will_retry(result.will_retry);
    ToProto(result.run, response->mutable_run());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SchedulerServiceImpl::AcquireRateLimit(
    grpc::CallbackServerContext* context, const v1::AcquireRateLimitRequest* request,
    v1::AcquireRateLimitResponse* response) {
  return FinishInline(context, [this, request, response]() -> absl::Status {
    ASSIGN_OR_RETURN(absl::Duration wait, limiter_->Acquire(request->name(),
                                                            request->per_minute(),
                                                            request->permits()));
    // Rounded up: a caller that waits the answer never goes early.
    const int64_t micros = absl::ToInt64Microseconds(wait);
    response->set_wait_millis((micros + 999) / 1000);
    return absl::OkStatus();
  });
}

}  // namespace fast_crewai
