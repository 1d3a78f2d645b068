#include "server/rpc/server_service.h"

#include <algorithm>
#include <utility>

#include "server/rpc/status_conversion.h"

namespace fast_crewai {

void ServiceStates::Add(absl::string_view name, bool implemented) {
  absl::MutexLock lock(&mu_);
  for (State& state : states_) {
    if (state.name == name) {
      state.implemented = implemented;
      if (!implemented) state.serving = false;
      PushLocked(state);
      return;
    }
  }
  states_.push_back(State{std::string(name), implemented, false});
  PushLocked(states_.back());
}

void ServiceStates::AttachHealthService(grpc::HealthCheckServiceInterface* health) {
  absl::MutexLock lock(&mu_);
  health_ = health;
  if (health_ == nullptr) return;
  health_->SetServingStatus("", overall_serving_);
  for (const State& state : states_) PushLocked(state);
}

void ServiceStates::SetServing(absl::string_view name, bool serving) {
  absl::MutexLock lock(&mu_);
  for (State& state : states_) {
    if (state.name == name) {
      state.serving = serving && state.implemented;
      PushLocked(state);
      return;
    }
  }
}

void ServiceStates::SetAllServing(bool serving) {
  absl::MutexLock lock(&mu_);
  overall_serving_ = serving;
  if (health_ != nullptr) health_->SetServingStatus("", serving);
  for (State& state : states_) {
    state.serving = serving && state.implemented;
    PushLocked(state);
  }
}

std::vector<ServiceStates::State> ServiceStates::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return states_;
}

bool ServiceStates::overall_serving() const {
  absl::MutexLock lock(&mu_);
  return overall_serving_;
}

void ServiceStates::PushLocked(const State& state) {
  if (health_ != nullptr) health_->SetServingStatus(state.name, state.serving);
}

ServerServiceImpl::ServerServiceImpl(ServerInfo info, Clock* clock, absl::Time start_time,
                                     const ServiceStates* states)
    : info_(std::move(info)), clock_(clock), start_time_(start_time), states_(states) {}

grpc::ServerUnaryReactor* ServerServiceImpl::GetServerInfo(
    grpc::CallbackServerContext* context, const v1::GetServerInfoRequest* /*request*/,
    v1::GetServerInfoResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  response->set_version(info_.version);
  const absl::Duration uptime = clock_->Now() - start_time_;
  response->set_uptime_seconds(
      std::max<int64_t>(0, absl::ToInt64Seconds(absl::Floor(uptime, absl::Seconds(1)))));
  response->set_start_time_unix(absl::ToUnixSeconds(start_time_));
  for (const ServiceStates::State& state : states_->Snapshot()) {
    v1::ServiceState* out = response->add_services();
    out->set_name(state.name);
    out->set_implemented(state.implemented);
    out->set_health(state.serving ? "SERVING" : "NOT_SERVING");
  }
  response->set_auth_required(info_.auth_required);
  response->set_tls(info_.tls);
  FinishWithStatus(context, reactor, absl::OkStatus());
  return reactor;
}

}  // namespace fast_crewai
