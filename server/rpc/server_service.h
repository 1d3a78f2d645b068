// File: server_service.h
//
// ServiceStates: which services this daemon hosts, whether each is implemented, and whether it
// is serving; mirrored into gRPC's health service (names "" and "fast_crewai.v1.<X>Service").
//
// ServerServiceImpl: fast_crewai.v1.ServerService (version, uptime, the services and their
// health, whether a token and TLS are required). Needs no token.
//
// Example (the daemon):
//   ServiceStates states;
//   states.Add("fast_crewai.v1.CacheService", /*implemented=*/false);
//   ServerServiceImpl server_service({kVersion, auth_required, tls}, clock, clock->Now(), &states);
//   ... build and start the grpc::Server ...
//   states.AttachHealthService(server->GetHealthCheckService());
//   states.SetAllServing(true);   // implemented services -> SERVING, the others NOT_SERVING
#ifndef FAST_CREWAI_SERVER_RPC_SERVER_SERVICE_H_
#define FAST_CREWAI_SERVER_RPC_SERVER_SERVICE_H_

#include <grpcpp/health_check_service_interface.h>

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fast_crewai/v1/server.grpc.pb.h"
#include "server/util/clock.h"

namespace fast_crewai {

// Thread-safe.
class ServiceStates {
 public:
  struct State {
    std::string name;
    bool implemented = false;
    bool serving = false;
  };

  // Adds a service, not serving. Adding a name twice updates `implemented`.
  void Add(absl::string_view name, bool implemented);

  // Mirrors every state (and the overall "" status) into `health` from now on, starting with
  // the current ones. `health` may be nullptr (detaches). Not owned; must stay valid until
  // detached or until this object is destroyed.
  void AttachHealthService(grpc::HealthCheckServiceInterface* health);

  // Serving state of one service. An unimplemented service always stays NOT_SERVING.
  // Unknown names are ignored.
  void SetServing(absl::string_view name, bool serving);

  // Sets every implemented service, and the overall "" status, to `serving`; unimplemented ones
  // to NOT_SERVING.
  void SetAllServing(bool serving);

  // The states, in the order added.
  std::vector<State> Snapshot() const;

  // The overall ("") status.
  bool overall_serving() const;

 private:
  void PushLocked(const State& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<State> states_ ABSL_GUARDED_BY(mu_);
  bool overall_serving_ ABSL_GUARDED_BY(mu_) = false;
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// Facts reported by GetServerInfo that do not change while the daemon runs.
struct ServerInfo {
  std::string version;
  bool auth_required = false;
  bool tls = false;
};

// Answers GetServerInfo inline (bounded in-memory work). Thread-safe.
class ServerServiceImpl final : public v1::ServerService::CallbackService {
 public:
  // `clock` and `states` are not owned and must outlive this object. `start_time` is when the
  // daemon started; uptime is clock->Now() - start_time.
  ServerServiceImpl(ServerInfo info, Clock* clock, absl::Time start_time,
                    const ServiceStates* states);

  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const v1::GetServerInfoRequest* request,
                                          v1::GetServerInfoResponse* response) override;

 private:
  const ServerInfo info_;
  Clock* const clock_;
  const absl::Time start_time_;
  const ServiceStates* const states_;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_SERVER_SERVICE_H_
