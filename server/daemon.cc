#include "server/daemon.h"

#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "fast_crewai/v1/cache.grpc.pb.h"
#include "fast_crewai/v1/memory.grpc.pb.h"
#include "server/rpc/memory_service.h"
#include "server/rpc/cache_service.h"
#include "fast_crewai/v1/persistence.grpc.pb.h"
#include "server/rpc/persistence_service.h"
#include "server/rpc/scheduler_service.h"
#include "fast_crewai/v1/scheduler.grpc.pb.h"
#include "fast_crewai/v1/server.grpc.pb.h"
#include "server/rpc/auth.h"
#include "server/rpc/metrics_interceptor.h"
#include "server/util/errno_text.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"
#include "server/version.h"

namespace fast_crewai {
namespace {

// Largest request or response, in bytes. Memory records carry embeddings and text; a batch of
// a few thousand stays well below this.
constexpr int kMaxMessageBytes = 64 * 1024 * 1024;
// Threads running memory RPCs. Writers block until their group commits, and every writer
// waiting at once joins the same transaction, so this bounds how many writes share an fsync.
constexpr int kMemoryExecutorThreads = 16;

// Linking grpc++_reflection registers its plugin for every ServerBuilder in the process; this
// option takes it out again for one builder (--reflection=false).
class DisableReflectionOption final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
                                    return plugin->name() == "proto_server_reflection";
                                  }),
                   plugins->end());
  }
};

absl::Status ReadPemFile(absl::string_view option, const std::string& path, std::string* out) {
  if (path.empty()) return absl::OkStatus();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", option, ": cannot read \"", path, "\": ", ErrnoText(errno)));
  }
  std::string contents;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("--", option, ": cannot read \"", path, "\": ", ErrnoText(error)));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (contents.find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", option, ": \"", path, "\" is not a PEM file"));
  }
  *out = std::move(contents);
  return absl::OkStatus();
}

persistence::IntegrityCheckMode CheckMode(IntegrityCheck check) {
  switch (check) {
    case IntegrityCheck::kOff:
      return persistence::IntegrityCheckMode::kOff;
    case IntegrityCheck::kFull:
      return persistence::IntegrityCheckMode::kFull;
    case IntegrityCheck::kQuick:
      break;
  }
  return persistence::IntegrityCheckMode::kQuick;
}

// Refuses to start over a live socket or over a file that is not a socket. gRPC replaces an
// existing socket file when it binds, which would silently steal the address from a running
// daemon; a stale socket (nobody accepting) is fine to replace.
absl::Status CheckUnixSocketPath(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return absl::UnavailableError(
          absl::StrCat("unix_socket ", path, ": cannot use: ", ErrnoText(errno)));
    }
    const std::filesystem::path parent =
        std::filesystem::absolute(std::filesystem::path(path)).parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(parent, ec)) {
      return absl::UnavailableError(
          absl::StrCat("unix_socket ", path, ": directory ", parent.string(), " does not exist"));
    }
    return absl::OkStatus();
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::UnavailableError(
        absl::StrCat("unix_socket ", path, ": exists and is not a socket; not replacing it"));
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::OkStatus();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  if (live) {
    return absl::UnavailableError(
        absl::StrCat("unix_socket ", path, ": another process is listening on it"));
  }
  return absl::OkStatus();
}

// Binds each address `address` resolves to, as gRPC will, and reports the common failures in one
// clear line before gRPC logs its own multi-line error. Port 0 always succeeds. Failures this
// check does not recognise are left for gRPC to report.
absl::Status CheckTcpAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return absl::OkStatus();
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port == "0") return absl::OkStatus();
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* results = nullptr;
  const int gai =
      ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &results);
  if (gai != 0) {
    return absl::UnavailableError(
        absl::StrCat("listen ", address, ": cannot resolve \"", host, "\": ", gai_strerror(gai)));
  }
  absl::Status status = absl::OkStatus();
  for (addrinfo* ai = results; ai != nullptr && status.ok(); ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;  // e.g. no IPv6 on this machine; gRPC skips it too.
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      switch (errno) {
        case EADDRINUSE:
          status = absl::UnavailableError(
              absl::StrCat("listen ", address, ": address already in use or unavailable"));
          break;
        case EADDRNOTAVAIL:
          status = absl::UnavailableError(absl::StrCat(
              "listen ", address, ": address unavailable (not an address of this machine)"));
          break;
        case EACCES:
          status = absl::UnavailableError(absl::StrCat(
              "listen ", address, ": permission denied (ports below 1024 need privileges)"));
          break;
        default:
          break;
      }
    }
    ::close(fd);
  }
  ::freeaddrinfo(results);
  return status;
}

// "127.0.0.1:0" + 43817 -> "127.0.0.1:43817"; "[::1]:0" + 43817 -> "[::1]:43817".
std::string WithPort(absl::string_view address, int port) {
  const size_t colon = address.rfind(':');
  return absl::StrCat(address.substr(0, colon), ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const Config& config, Clock* clock) {
  std::unique_ptr<Daemon> daemon = absl::WrapUnique(new Daemon(config, clock));
  absl::Status status = daemon->Init();
  if (!status.ok()) {
    daemon->Shutdown(absl::ZeroDuration());
    return status;
  }
  return daemon;
}

Daemon::Daemon(const Config& config, Clock* clock)
    : config_(config), clock_(clock), start_time_(clock->Now()) {}

Daemon::~Daemon() { Shutdown(absl::ZeroDuration()); }

absl::Status Daemon::Init() {
  RETURN_IF_ERROR(PrepareDataDir());
  RETURN_IF_ERROR(AcquireLock());
  // Addresses and certificates are checked before any store is opened, so a bad listener
  // fails at once, with one line, without loading (or touching) any data.
  RETURN_IF_ERROR(PrepareListeners());
  RETURN_IF_ERROR(BuildCoresAndServices());
  stores_ready_.store(true, std::memory_order_release);
  RETURN_IF_ERROR(BuildAndStartServer());
  return absl::OkStatus();
}

absl::Status Daemon::PrepareDataDir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::absolute(config_.storage.data_dir, ec);
  if (ec) dir = config_.storage.data_dir;
  data_dir_ = dir.lexically_normal().string();
  while (data_dir_.size() > 1 && data_dir_.back() == '/') data_dir_.pop_back();
  const std::string prefix = absl::StrCat("data_dir ", data_dir_, ": ");

  struct stat st;
  if (::stat(data_dir_.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(prefix, "exists and is not a directory"));
    }
  } else if (errno == ENOENT) {
    fs::create_directories(fs::path(data_dir_).parent_path(), ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(prefix, "cannot create: ", ec.message()));
    }
    // Owner only: the directory holds every agent's memories.
    if (::mkdir(data_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, "cannot create: ", ErrnoText(errno)));
    }
  } else {
    return absl::FailedPreconditionError(absl::StrCat(prefix, "cannot use: ", ErrnoText(errno)));
  }

  // Writable? access(2) says yes to root even on a read-only mount, so really create a file.
  std::random_device random;
  const std::string probe = absl::StrCat(data_dir_, "/.write-check-", ::getpid(), "-", random());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(prefix, "not writable: ", ErrnoText(errno)));
  }
  const bool wrote = ::write(fd, "ok", 2) == 2;
  const int write_errno = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (!wrote) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, "not writable: ", ErrnoText(write_errno)));
  }
  return absl::OkStatus();
}

absl::Status Daemon::AcquireLock() {
  const std::string lock_path = absl::StrCat(data_dir_, "/LOCK");
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir ", data_dir_, ": cannot open ", lock_path, ": ", ErrnoText(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder;
    char buffer[32] = {};
    if (::pread(fd, buffer, sizeof(buffer) - 1, 0) > 0) {
      int pid = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(buffer), &pid) && pid > 0) {
        holder = absl::StrCat(" (pid ", pid, ")");
      }
    }
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("data_dir ", data_dir_, ": another fast-crewai-server", holder, " holds ",
                       lock_path, "; stop it or choose another --data_dir"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir ", data_dir_, ": cannot lock ", lock_path, ": ", ErrnoText(error)));
  }
  // Record the holder for the message above; informational only, the flock is what counts.
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    LogWarning("could not write pid to LOCK", {{"path", lock_path}, {"error", ErrnoText(errno)}});
  }
  lock_fd_ = fd;
  return absl::OkStatus();
}

void Daemon::ReleaseLock() {
  if (lock_fd_ < 0) return;
  // The LOCK file stays (leveldb does the same): removing it would race with a new daemon.
  ::flock(lock_fd_, LOCK_UN);
  ::close(lock_fd_);
  lock_fd_ = -1;
}

void Daemon::AddService(std::unique_ptr<grpc::Service> service, absl::string_view full_name,
                        bool implemented) {
  states_.Add(full_name, implemented);
  services_.push_back(std::move(service));
}

void Daemon::AddCloser(absl::AnyInvocable<void()> closer) { closers_.push_back(std::move(closer)); }

absl::Status Daemon::BuildCoresAndServices() {
  // ===== Cores ===============================================================================
  // Each core is built from its Config sub-struct and a path under data_dir_. Closers run in
  // reverse order of registration: an executor registered after the core it feeds is drained
  // (its queued RPCs finish) before the core checkpoints and closes its SQLite file.
  memory::MemoryStoreOptions memory_options;
  memory_options.data_dir = data_dir_;
  memory_options.search_concurrency = config_.memory.search_threads;
  memory_options.max_records = config_.memory.max_records;
  memory_options.integrity_check = CheckMode(config_.memory.integrity_check);
  memory_options.sync = config_.memory.sync_full ? persistence::SqliteSync::kFull
                                                 : persistence::SqliteSync::kNormal;
  // Writes block on group commit, so the pool must be wide enough for concurrent writers to
  // meet in one transaction; searches use the store's own oneTBB arena for their scans. It
  // also leads queued callback-write groups (its closer is registered after the store's: it
  // drains first).
  memory_executor_ = std::make_unique<ThreadPoolExecutor>(kMemoryExecutorThreads, "memory-rpc");
  memory_options.write_executor = memory_executor_.get();
  ASSIGN_OR_RETURN(memory_store_, memory::MemoryStore::Open(memory_options));
  AddCloser([this] {
    absl::Status closed = memory_store_->Close();
    if (closed.ok()) {
      LogInfo("memory store closed", {{"file", data_dir_ + "/memory.db"}});
    } else {
      LogError("memory store close failed", {{"error", closed.ToString()}});
    }
  });
  AddCloser([this] { memory_executor_->Shutdown(); });

  // Tool-result cache: in memory, written through to cache.db with --cache_persist. Its ticker
  // (leases, waits, expiry) stops before the cache closes; the executor (cache.db writes)
  // drains before both.
  cache::ToolCacheOptions cache_options;
  cache_options.max_bytes = config_.cache.max_bytes;
  cache_options.namespace_max_bytes = config_.cache.namespace_max_bytes;
  cache_options.max_value_bytes = config_.cache.max_value_bytes;
  cache_options.default_ttl = config_.cache.default_ttl;
  cache_options.persist = config_.cache.persist;
  cache_options.data_dir = data_dir_;
  ASSIGN_OR_RETURN(tool_cache_, cache::ToolCache::Open(cache_options, clock_));
  AddCloser([this] {
    absl::Status closed = tool_cache_->Close();
    if (!closed.ok()) LogError("tool cache close failed", {{"error", closed.ToString()}});
  });
  cache_ticker_ = Ticker::For(tool_cache_.get(), "cache-ticker", clock_);
  AddCloser([this] { cache_ticker_->Stop(); });
  if (config_.cache.persist) {
    cache_executor_ = std::make_unique<ThreadPoolExecutor>(2, "cache-rpc");
    AddCloser([this] { cache_executor_->Shutdown(); });
  }

  // Persistence: kickoff task outputs, flow state, legacy LTM in persistence.db (integrity
  // checked first: a damaged file is DATA_LOSS, exit code 3), and the in-memory lock table.
  // Writes block on group commit, like memory's, so the pool is as wide.
  persistence::PersistenceStoreOptions persistence_options;
  persistence_options.data_dir = data_dir_;
  persistence_options.clock = clock_;
  persistence_options.sync = config_.persistence.sync_full ? persistence::SqliteSync::kFull
                                                           : persistence::SqliteSync::kNormal;
  persistence_options.integrity_check = CheckMode(config_.persistence.integrity_check);
  persistence_options.max_kickoffs = config_.persistence.max_kickoffs;
  persistence_options.max_value_bytes = config_.persistence.max_value_bytes;
  // Leads queued task-output groups (its closer is registered after the store's: it drains
  // first).
  persistence_executor_ =
      std::make_unique<ThreadPoolExecutor>(kMemoryExecutorThreads, "persist-rpc");
  persistence_options.write_executor = persistence_executor_.get();
  ASSIGN_OR_RETURN(persistence_store_, persistence::PersistenceStore::Open(persistence_options));
  AddCloser([this] {
    absl::Status closed = persistence_store_->Close();
    if (closed.ok()) {
      LogInfo("persistence store closed", {{"file", persistence_store_->path()}});
    } else {
      LogError("persistence store close failed", {{"error", closed.ToString()}});
    }
  });
  AddCloser([this] { persistence_executor_->Shutdown(); });
  persistence::LockTableOptions lock_options;
  lock_options.default_lease = config_.persistence.lock_lease;
  lock_table_ = std::make_unique<persistence::LockTable>(clock_, lock_options);

  // Scheduler: runs of task nodes and worker leases in scheduler.db (quick_check at start: a
  // damaged file is DATA_LOSS), and the in-memory shared rate limits. Its ticker (lapsing
  // leases, long polls running out, background writes) stops before it closes. A call's commit
  // is written by its own gRPC thread when no other commit is under way; one executor thread
  // leads the commits queued behind a busy one (its closer is registered after the
  // scheduler's: it drains first).
  scheduler::SchedulerOptions scheduler_options;
  scheduler_options.data_dir = data_dir_;
  scheduler_options.clock = clock_;
  scheduler_options.default_lease = config_.scheduler.lease;
  scheduler_options.default_max_attempts = config_.scheduler.max_attempts;
  scheduler_options.max_payload_bytes = config_.scheduler.max_payload_bytes;
  scheduler_options.max_finished_runs = config_.scheduler.max_runs;
  scheduler_options.sync = config_.scheduler.sync_full ? persistence::SqliteSync::kFull
                                                       : persistence::SqliteSync::kNormal;
  scheduler_executor_ = std::make_unique<ThreadPoolExecutor>(1, "sched-commit");
  scheduler_options.write_executor = scheduler_executor_.get();
  ASSIGN_OR_RETURN(scheduler_, scheduler::Scheduler::Open(scheduler_options));
  AddCloser([this] {
    absl::Status closed = scheduler_->Close();
    if (closed.ok()) {
      LogInfo("scheduler closed", {{"file", scheduler_->path()}});
    } else {
      LogError("scheduler close failed", {{"error", closed.ToString()}});
    }
  });
  scheduler_ticker_ = Ticker::For(scheduler_.get(), "sched-ticker", clock_);
  AddCloser([this] { scheduler_ticker_->Stop(); });
  AddCloser([this] { scheduler_executor_->Shutdown(); });
  // Shared rate limits, journaled in ratelimits.db: a restart goes on with the last window's
  // reservations instead of a full window (quick_check at start, as scheduler.db).
  scheduler::RateLimitDbOptions rate_limit_db_options;
  ASSIGN_OR_RETURN(rate_limit_db_, scheduler::RateLimitDb::Open(data_dir_ + "/ratelimits.db",
                                                                rate_limit_db_options));
  scheduler::RateLimiterOptions rate_limiter_options;
  rate_limiter_options.window = rate_limit_db_options.window;
  rate_limiter_options.journal = rate_limit_db_.get();
  rate_limiter_ = std::make_unique<scheduler::RateLimiter>(clock_, rate_limiter_options);
  ASSIGN_OR_RETURN(
      scheduler::RestoredRateLimits restored,
      scheduler::RestoreRateLimits(*rate_limit_db_, *rate_limiter_,
                                   clock_->NowMicros() -
                                       absl::ToInt64Microseconds(rate_limiter_options.window)));
  if (restored.reservations > 0) {
    LogInfo("rate limits restored", {{"file", rate_limit_db_->path()},
                                     {"reservations", restored.reservations},
                                     {"permits", restored.permits},
                                     {"refused", restored.refused}});
  }

  // ===== Service adapters ====================================================================
  // One line per service. Replace an Unimplemented* placeholder with the real adapter (and
  // implemented=true) when its core is wired above.
  AddService(std::make_unique<ServerServiceImpl>(
                 ServerInfo{kVersion, config_.auth.required(), config_.tls.enabled()}, clock_,
                 start_time_, &states_),
             v1::ServerService::service_full_name(), /*implemented=*/true);
  AddService(std::make_unique<MemoryServiceImpl>(memory_store_.get(), memory_executor_.get()),
             v1::MemoryService::service_full_name(), /*implemented=*/true);
  auto cache_service =
      std::make_unique<CacheServiceImpl>(tool_cache_.get(), cache_executor_.get(), clock_);
  cache_service_ = cache_service.get();
  AddService(std::move(cache_service), v1::CacheService::service_full_name(),
             /*implemented=*/true);
  AddService(std::make_unique<PersistenceServiceImpl>(persistence_store_.get(), lock_table_.get(),
                                                      persistence_executor_.get(), clock_),
             v1::PersistenceService::service_full_name(), /*implemented=*/true);
  auto scheduler_service = std::make_unique<SchedulerServiceImpl>(
      scheduler_.get(), rate_limiter_.get());
  scheduler_service_ = scheduler_service.get();
  AddService(std::move(scheduler_service), v1::SchedulerService::service_full_name(),
             /*implemented=*/true);
  return absl::OkStatus();
}

absl::Status Daemon::PrepareListeners() {
  ServerCredentialsOptions credentials_options;
  credentials_options.token = config_.auth.token;
  RETURN_IF_ERROR(
      ReadPemFile("tls_cert", config_.tls.cert_file, &credentials_options.cert_chain_pem));
  RETURN_IF_ERROR(
      ReadPemFile("tls_key", config_.tls.key_file, &credentials_options.private_key_pem));
  RETURN_IF_ERROR(
      ReadPemFile("tls_client_ca", config_.tls.client_ca_file, &credentials_options.client_ca_pem));
  ASSIGN_OR_RETURN(credentials_, MakeServerCredentials(credentials_options));

  const std::string& address = config_.listen.address;
  const std::string& socket_path = config_.listen.unix_socket;
  if (address.empty() && socket_path.empty()) {
    return absl::InvalidArgumentError("nothing to listen on: set --listen or --unix_socket");
  }
  if (!address.empty()) RETURN_IF_ERROR(CheckTcpAddress(address));
  if (!socket_path.empty()) RETURN_IF_ERROR(CheckUnixSocketPath(socket_path));
  return StartMetrics();
}

absl::Status Daemon::StartMetrics() {
  if (config_.listen.metrics_address.empty()) return absl::OkStatus();
  // The option was checked when the configuration was read ("host:port", "[v6]:port"); port 0
  // (a free one) is for tests, as with --listen.
  const std::string& address = config_.listen.metrics_address;
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen ", address, ": expected host:port"));
  }
  absl::string_view host = absl::string_view(address).substr(0, colon);
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  rpc_metrics_ = std::make_unique<RpcMetrics>();
  // Bound before any store opens (a taken port fails the start at once); until the stores
  // exist it answers with the RPC series only.
  ASSIGN_OR_RETURN(metrics_http_,
                   MetricsHttpServer::Start(host, port, [this] { return RenderMetrics(); }));
  metrics_address_ = WithPort(address, metrics_http_->port());
  return absl::OkStatus();
}

std::string Daemon::RenderMetrics() const {
  std::string out = rpc_metrics_->RenderPrometheus();
  AppendMetricFamily(&out, "fast_crewai_build_info", "gauge", "The daemon's version; always 1.",
                     {{absl::StrCat("version=\"", kVersion, "\""), 1}});
  AppendMetricFamily(&out, "process_start_time_seconds", "gauge",
                     "Start time of the process since the Unix epoch in seconds.",
                     {{"", absl::ToDoubleSeconds(start_time_ - absl::UnixEpoch())}});
  if (!stores_ready_.load(std::memory_order_acquire)) return out;
  if (memory_store_ != nullptr) {
    const memory::MemoryStoreStats m = memory_store_->GetStats();
    AppendMetricFamily(&out, "fast_crewai_memory_records", "gauge", "Memory records stored.",
                       {{"", static_cast<double>(m.records)}});
    if (config_.memory.max_records > 0) {  // absent: no limit
      AppendMetricFamily(&out, "fast_crewai_memory_max_records", "gauge",
                         "memory_max_records: the most memory records the store takes.",
                         {{"", static_cast<double>(config_.memory.max_records)}});
    }
    AppendMetricFamily(&out, "fast_crewai_memory_namespaces", "gauge", "Memory namespaces.",
                       {{"", static_cast<double>(m.namespaces)}});
    AppendMetricFamily(&out, "fast_crewai_memory_writes_total", "counter",
                       "Memory write calls committed (ok) or failed after validation (failed).",
                       {{"result=\"ok\"", static_cast<double>(m.committed_writes)},
                        {"result=\"failed\"", static_cast<double>(m.failed_writes)}});
    AppendMetricFamily(&out, "fast_crewai_memory_commits_total", "counter",
                       "SQLite transactions of memory writes (one per group commit).",
                       {{"", static_cast<double>(m.commits)}});
    AppendMetricFamily(&out, "fast_crewai_memory_pending_writes", "gauge",
                       "Memory write calls queued or being committed.",
                       {{"", static_cast<double>(m.pending_writes)}});
  }
  if (persistence_store_ != nullptr) {
    const persistence::PersistenceStoreStats p = persistence_store_->GetStats();
    AppendMetricFamily(&out, "fast_crewai_persistence_kickoffs", "gauge",
                       "Kickoff replay logs kept.", {{"", static_cast<double>(p.kickoffs)}});
    AppendMetricFamily(&out, "fast_crewai_persistence_task_outputs", "gauge",
                       "Task outputs in the kept replay logs.",
                       {{"", static_cast<double>(p.task_outputs)}});
    AppendMetricFamily(
        &out, "fast_crewai_persistence_writes_total", "counter",
        "Persistence write calls committed (ok) or failed after validation (failed).",
        {{"result=\"ok\"", static_cast<double>(p.committed_writes)},
         {"result=\"failed\"", static_cast<double>(p.failed_writes)}});
    AppendMetricFamily(&out, "fast_crewai_persistence_commits_total", "counter",
                       "SQLite transactions of persistence writes (one per group commit).",
                       {{"", static_cast<double>(p.commits)}});
  }
  if (tool_cache_ != nullptr) {
    const cache::CacheStats c = tool_cache_->Stats("");
    AppendMetricFamily(&out, "fast_crewai_cache_lookups_total", "counter",
                       "Tool-cache lookups that found an entry (hit) or not (miss).",
                       {{"result=\"hit\"", static_cast<double>(c.hits)},
                        {"result=\"miss\"", static_cast<double>(c.misses)}});
    AppendMetricFamily(&out, "fast_crewai_cache_entries", "gauge", "Tool-cache entries.",
                       {{"", static_cast<double>(c.entries)}});
    AppendMetricFamily(&out, "fast_crewai_cache_bytes", "gauge", "Bytes of tool-cache entries.",
                       {{"", static_cast<double>(c.bytes)}});
    AppendMetricFamily(&out, "fast_crewai_cache_removed_total", "counter",
                       "Tool-cache entries evicted for space or expired.",
                       {{"reason=\"evicted\"", static_cast<double>(c.evictions)},
                        {"reason=\"expired\"", static_cast<double>(c.expirations)}});
  }
  if (scheduler_ != nullptr) {
    const scheduler::SchedulerStats s = scheduler_->GetStats();
    AppendMetricFamily(&out, "fast_crewai_scheduler_runs", "gauge",
                       "Scheduler runs kept, and running.",
                       {{"state=\"all\"", static_cast<double>(s.runs)},
                        {"state=\"running\"", static_cast<double>(s.running_runs)}});
    AppendMetricFamily(&out, "fast_crewai_scheduler_nodes", "gauge",
                       "Nodes ready to lease, and leased to a worker.",
                       {{"state=\"ready\"", static_cast<double>(s.ready_nodes)},
                        {"state=\"leased\"", static_cast<double>(s.leased_nodes)}});
    AppendMetricFamily(&out, "fast_crewai_scheduler_lease_streams", "gauge",
                       "Open StreamLeases streams (one per worker slot).",
                       {{"", static_cast<double>(s.lease_streams)}});
    AppendMetricFamily(&out, "fast_crewai_scheduler_leases_total", "counter",
                       "Leases granted to workers, and leases that lapsed.",
                       {{"result=\"granted\"", static_cast<double>(s.leases_granted)},
                        {"result=\"lapsed\"", static_cast<double>(s.leases_lapsed)}});
  }
  return out;
}

absl::Status Daemon::BuildAndStartServer() {
  const std::string& address = config_.listen.address;
  const std::string& socket_path = config_.listen.unix_socket;
  const std::shared_ptr<grpc::ServerCredentials>& credentials = credentials_;

  grpc::EnableDefaultHealthCheckService(true);
  // Registers the reflection plugin once per process (idempotent); it also keeps the linker from
  // dropping grpc++_reflection.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!config_.runtime.reflection) builder.SetOption(std::make_unique<DisableReflectionOption>());
  // gRPC sets SO_REUSEPORT by default, which would let a second daemon bind the same port and
  // silently share the traffic. One daemon per address.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Clients ping every 60 s while a call is open (client/python/fast_crewai/client/channel.py).
  // A long-lived stream may carry no data for minutes (the StreamLeases of an idle worker, the
  // WatchRun of a long run); with gRPC's default (one such ping per 5 min, then GOAWAY
  // "too_many_pings") the connection, and every stream on it, would be dropped.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 30000);
  // Caps the threads gRPC may create for sync work (reflection, health); handlers of the
  // callback services run on gRPC's own small pool and hand blocking work to our executors.
  grpc::ResourceQuota quota("fast-crewai-server");
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  quota.SetMaxThreads(std::max(8, 4 * cpus));
  builder.SetResourceQuota(quota);
  if (rpc_metrics_ != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<MetricsInterceptorFactory>(rpc_metrics_.get(), clock_));
    builder.experimental().SetInterceptorCreators(std::move(factories));
  }
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);

  int selected_port = 0;
  if (!address.empty()) builder.AddListeningPort(address, credentials, &selected_port);
  if (!socket_path.empty()) builder.AddListeningPort("unix:" + socket_path, credentials);
  for (const std::unique_ptr<grpc::Service>& service : services_) {
    builder.RegisterService(service.get());
  }

  // The socket is created by bind() with 0777 & ~umask: make that owner-only, then set the
  // configured mode. umask is process-wide; nothing else creates files at this point.
  const mode_t old_umask = ::umask(0177);
  server_ = builder.BuildAndStart();
  ::umask(old_umask);
  if (server_ == nullptr || (!address.empty() && selected_port == 0)) {
    server_.reset();
    std::string what;
    if (!address.empty()) absl::StrAppend(&what, "listen ", address);
    if (!socket_path.empty()) {
      absl::StrAppend(&what, what.empty() ? "" : " or ", "unix_socket ", socket_path);
    }
    std::string hint;
    if (config_.tls.enabled()) hint = " (or the TLS certificate and key do not match; see log)";
    return absl::UnavailableError(
        absl::StrCat(what, ": address already in use or unavailable", hint));
  }
  if (!socket_path.empty() && ::chmod(socket_path.c_str(), config_.listen.unix_socket_mode) != 0) {
    return absl::UnavailableError(
        absl::StrCat("unix_socket ", socket_path, ": cannot set its mode: ", ErrnoText(errno)));
  }
  if (!address.empty()) tcp_address_ = WithPort(address, selected_port);

  states_.AttachHealthService(server_->GetHealthCheckService());
  states_.SetAllServing(true);
  return absl::OkStatus();
}

void Daemon::MarkNotServing() { states_.SetAllServing(false); }

void Daemon::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  MarkNotServing();
  // Cache invalidation streams never end by themselves; end them so they do not hold the
  // shutdown for the whole grace period.
  if (cache_service_ != nullptr) cache_service_->EndWatches();
  // Likewise long-polling LeaseNodes calls and WatchRun streams.
  if (scheduler_service_ != nullptr) scheduler_service_->EndStreams();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
    server_->Wait();
    states_.AttachHealthService(nullptr);
  }
  if (metrics_http_ != nullptr) metrics_http_->Stop();
  // Reverse order of registration: executors drain before the cores they feed are closed.
  for (auto it = closers_.rbegin(); it != closers_.rend(); ++it) (*it)();
  closers_.clear();
  ReleaseLock();
}

}  // namespace fast_crewai
