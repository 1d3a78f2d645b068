// fast-crewai-server: configuration -> Daemon::Start -> wait for SIGTERM/SIGINT -> Shutdown.
//
// Exit codes: 0 clean stop, 1 start failure (port taken, data dir unusable, LOCK held),
// 2 usage or configuration error (one line on stderr naming the option; also an option whose
// value Daemon::Start found unusable: INVALID_ARGUMENT), 3 a database file is damaged or is
// another program's (a core returned absl::DataLossError from Daemon::Start).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/config/config.h"
#include "server/daemon.h"
#include "server/rpc/health_client.h"
#include "server/util/clock.h"
#include "server/util/grpc_log_bridge.h"
#include "server/util/logging.h"
#include "server/version.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitStartFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitCorruptDatabase = 3;

// One plaintext health check of the daemon at `address` ("" service = the whole server), for
// container HEALTHCHECKs: prints SERVING and returns 0, or prints why not and returns 1.
int Probe(const std::string& address) {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  absl::StatusOr<fast_crewai::HealthStatus> health =
      fast_crewai::CheckHealth(channel, "", absl::Seconds(2));
  if (!health.ok()) {
    std::cerr << "fast-crewai-server: probe " << address << ": " << health.status().message()
              << "\n";
    return kExitStartFailure;
  }
  std::cout << fast_crewai::HealthStatusName(*health) << "\n";
  return *health == fast_crewai::HealthStatus::kServing ? kExitOk : kExitStartFailure;
}

void PrintError(absl::string_view message) {
  const std::string line = absl::StrCat("fast-crewai-server: ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

const char* SignalName(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "unknown";
  }
}

int Run(int argc, char** argv) {
  // Block the stop signals before any thread exists, so every thread (gRPC's, the executors')
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client vanishing mid-write must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<fast_crewai::Config> config =
      fast_crewai::LoadConfig(argc, argv, fast_crewai::ProcessEnvironment());
  if (!config.ok()) {
    PrintError(config.status().message());
    return kExitUsage;
  }
  switch (config->command) {
    case fast_crewai::Config::Command::kHelp:
      std::cout << fast_crewai::HelpText();
      return kExitOk;
    case fast_crewai::Config::Command::kVersion:
      std::cout << fast_crewai::VersionText() << "\n";
      return kExitOk;
    case fast_crewai::Config::Command::kHelpMarkdown:
      std::cout << fast_crewai::HelpMarkdown();
      return kExitOk;
    case fast_crewai::Config::Command::kProbe:
      return Probe(config->probe_address);
    case fast_crewai::Config::Command::kServe:
      break;
  }

  // Debian's Abseil is built with Mutex deadlock detection on: every lock and unlock of our
  // mutexes and gRPC's updates a global lock graph. It is a debugging aid; the unit tests keep
  // it (they do not run this main), the daemon turns it off: 10% less CPU per call
  // (daemon_write_bench, 16 writers: 80-83 against 83-90 us per durable row, empty calls 20-22
  // against 25 us).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  fast_crewai::SetLogLevel(config->runtime.log_level);
  fast_crewai::InstallGrpcLogBridge(config->runtime.log_level);

  absl::StatusOr<std::unique_ptr<fast_crewai::Daemon>> daemon =
      fast_crewai::Daemon::Start(*config, fast_crewai::RealClock::Get());
  if (!daemon.ok()) {
    PrintError(daemon.status().message());
    switch (daemon.status().code()) {
      case absl::StatusCode::kDataLoss:  // a damaged file, or another program's
        return kExitCorruptDatabase;
      case absl::StatusCode::kInvalidArgument:  // an option's value (e.g. a TLS file's content)
        return kExitUsage;
      default:
        return kExitStartFailure;
    }
  }
  fast_crewai::LogInfo("serving", {{"version", fast_crewai::kVersion},
                                   {"listen", (*daemon)->tcp_address()},
                                   {"unix_socket", (*daemon)->unix_socket()},
                                   {"data_dir", (*daemon)->data_dir()},
                                   {"auth", (*daemon)->auth_required() ? "on" : "off"},
                                   {"tls", (*daemon)->tls() ? "on" : "off"}});
  if (!(*daemon)->metrics_address().empty()) {
    fast_crewai::LogInfo(
        "serving metrics",
        {{"url", absl::StrCat("http://", (*daemon)->metrics_address(), "/metrics")}});
  }

  int signal = 0;
  while (sigwait(&stop_signals, &signal) != 0) {
  }
  fast_crewai::LogInfo("shutting down",
                       {{"signal", SignalName(signal)},
                        {"grace_period", absl::FormatDuration(config->runtime.grace_period)}});
  (*daemon)->Shutdown(config->runtime.grace_period);
  daemon->reset();
  fast_crewai::LogInfo("stopped", {{"exit_code", kExitOk}});
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
