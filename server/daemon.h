// File: daemon.h
//
// Daemon: the composition root (TF Serving's Server). It owns everything with a lifetime: the
// data directory and its LOCK, the domain cores and their executors, the gRPC service adapters
// and the grpc::Server. It is the only place where the pieces meet.
//
// Start() order: data dir (created, checked writable) -> LOCK (flock; a second daemon on the
// same directory fails) -> cores -> credentials (TLS, token) -> services -> grpc::Server on TCP
// and/or a Unix socket (mode set right after bind) -> health SERVING.
// Shutdown() order: health NOT_SERVING -> grpc::Server::Shutdown(now + grace) (in-flight calls
// may finish, later ones are refused) -> closers (executors drain, cores checkpoint and close
// their SQLite files) in reverse order of registration -> LOCK released. Data is never deleted.
//
// Example (main.cc):
//   ASSIGN_OR_RETURN(std::unique_ptr<Daemon> daemon, Daemon::Start(config, RealClock::Get()));
//   ... wait for SIGTERM ...
//   daemon->Shutdown(config.runtime.grace_period);
//
// Adapters must Finish() every reactor, also for calls cancelled by the deadline: gRPC's
// Shutdown() returns only when every callback RPC is done.
//
// Thread-safety: Start() creates; Shutdown() and MarkNotServing() may be called from any thread
// (Shutdown is idempotent); the accessors are safe at any time after Start().
#ifndef FAST_CREWAI_SERVER_DAEMON_H_
#define FAST_CREWAI_SERVER_DAEMON_H_

#include <grpcpp/server.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/cache/tool_cache.h"
#include "server/persistence/lock_table.h"
#include "server/persistence/persistence_store.h"
#include "server/config/config.h"
#include "server/memory/memory_store.h"
#include "server/rpc/cache_service.h"
#include "server/rpc/server_service.h"
#include "server/rpc/scheduler_service.h"
#include "server/scheduler/rate_limit_db.h"
#include "server/scheduler/rate_limiter.h"
#include "server/scheduler/scheduler.h"
#include "server/util/executor.h"
#include "server/util/metrics.h"
#include "server/util/metrics_http.h"
#include "server/util/clock.h"
#include "server/util/ticker.h"

namespace fast_crewai {

class Daemon {
 public:
  // Starts a daemon serving `config`. `clock` is not owned and must outlive the daemon.
  // `config` should come from LoadConfig (Start does not re-validate values); tests may use
  // port 0 in config.listen.address to get a free port (see tcp_address()).
  // Errors (all mean exit code 1):
  //   FailedPreconditionError  data_dir unusable (not a directory, not writable) or LOCK held
  //                            by another daemon; the message names the directory.
  //   UnavailableError         a listen address or the Unix socket cannot be bound:
  //                            "listen 127.0.0.1:50051: address already in use or unavailable".
  //   InvalidArgumentError     TLS files unreadable.
  // On error everything acquired so far is released; nothing in data_dir is deleted.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const Config& config, Clock* clock);

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Calls Shutdown(absl::ZeroDuration()) if Shutdown was not called.
  ~Daemon();

  // Reports NOT_SERVING for "" and every service on the health service. The first step of
  // Shutdown(); callable earlier so that clients stop sending new work.
  void MarkNotServing();

  // Stops the daemon: MarkNotServing(), then refuses new calls and waits up to `grace` for
  // in-flight calls (cancelling the rest), then runs the closers, then releases LOCK.
  // Idempotent; later calls return at once.
  void Shutdown(absl::Duration grace);

  // The bound TCP address with the actual port ("127.0.0.1:43817" when port 0 was asked for);
  // "" when TCP is disabled.
  const std::string& tcp_address() const { return tcp_address_; }

  // The bound metrics endpoint ("127.0.0.1:9464"); "" when --metrics_listen is not set.
  const std::string& metrics_address() const { return metrics_address_; }

  // The Unix socket path; "" when none.
  const std::string& unix_socket() const { return config_.listen.unix_socket; }

  // Absolute path of the data directory.
  const std::string& data_dir() const { return data_dir_; }

  bool auth_required() const { return config_.auth.required(); }
  bool tls() const { return config_.tls.enabled(); }

  // The server, e.g. for InProcessChannel() in tests (which bypasses the token check). Valid
  // until the Daemon is destroyed; stopped after Shutdown().
  grpc::Server* server() const { return server_.get(); }

  // The service states reported by health and GetServerInfo.
  const ServiceStates& service_states() const { return states_; }

 private:
  Daemon(const Config& config, Clock* clock);

  absl::Status Init();
  absl::Status PrepareDataDir();
  absl::Status AcquireLock();
  void ReleaseLock();
  // Loads the TLS files, builds the credentials and checks the listen addresses.
  absl::Status PrepareListeners();
  absl::Status BuildCoresAndServices();
  absl::Status BuildAndStartServer();
  // With --metrics_listen: creates the RPC metrics and binds their HTTP endpoint.
  absl::Status StartMetrics();
  // The text GET /metrics answers with.
  std::string RenderMetrics() const;

  // Registers `service` under its full name for serving and health reporting.
  void AddService(std::unique_ptr<grpc::Service> service, absl::string_view full_name,
                  bool implemented);

  // Adds work to run on Shutdown after the server has stopped, in reverse order of
  // registration (so an executor registered after the core it feeds is drained first).
  void AddCloser(absl::AnyInvocable<void()> closer);

  const Config config_;
  Clock* const clock_;
  const absl::Time start_time_;
  std::string data_dir_;
  std::string tcp_address_;
  std::string metrics_address_;
  int lock_fd_ = -1;

  // Cores and the executors their adapters hand work to. Declared before services_ and
  // server_ so that they are destroyed after them.
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  // Only with --metrics_listen. The endpoint stops after the server (scrapes work during the
  // grace period); the metrics outlive both.
  std::unique_ptr<RpcMetrics> rpc_metrics_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  // Set once the cores below exist; RenderMetrics (the endpoint's thread) reads them only then.
  std::atomic<bool> stores_ready_{false};
  std::unique_ptr<memory::MemoryStore> memory_store_;
  std::unique_ptr<ThreadPoolExecutor> memory_executor_;
  std::unique_ptr<cache::ToolCache> tool_cache_;
  std::unique_ptr<Ticker> cache_ticker_;
  std::unique_ptr<ThreadPoolExecutor> cache_executor_;  // Only with cache_persist.
  CacheServiceImpl* cache_service_ = nullptr;            // Owned by services_.
  std::unique_ptr<persistence::PersistenceStore> persistence_store_;
  std::unique_ptr<persistence::LockTable> lock_table_;
  std::unique_ptr<ThreadPoolExecutor> persistence_executor_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<Ticker> scheduler_ticker_;
  std::unique_ptr<ThreadPoolExecutor> scheduler_executor_;
  std::unique_ptr<scheduler::RateLimitDb> rate_limit_db_;  // Outlives rate_limiter_.
  std::unique_ptr<scheduler::RateLimiter> rate_limiter_;
  SchedulerServiceImpl* scheduler_service_ = nullptr;  // Owned by services_.

  ServiceStates states_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::vector<absl::AnyInvocable<void()>> closers_;
  std::unique_ptr<grpc::Server> server_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_DAEMON_H_
