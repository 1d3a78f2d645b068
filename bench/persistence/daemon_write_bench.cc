// Durable one-row writes through the real daemon from C++ gRPC clients, against SQLite
// synchronous=FULL one row per transaction, side by side in one run (built, never run by the
// tests):
//
//   build/bench/persistence/daemon_write_bench [--writers=1,4,8,16,32] [--seconds=2]
//       [--rounds=3] [--server=PATH]
//
// It starts fast-crewai-server (--server, else $FAST_CREWAI_SERVER_BIN, else the binary of this
// build tree) on a free 127.0.0.1 port with --persistence_sync=full and a fresh data dir, then,
// for each writer count N, in interleaved rounds:
//  * daemon: N client threads, each with its own channel (its own TCP connection, as N CrewAI
//            processes would have), each issuing blocking one-row AddTaskOutput unary calls and
//            waiting for each acknowledgement (durable: committed with fsync; concurrent writes
//            share a commit: group commit). ~1 KB rows, a new kickoff every 10 rows.
//  * SQLite: N threads, each with its own connection to one WAL file, synchronous=FULL,
//            BEGIN IMMEDIATE / INSERT one ~1 KB row / COMMIT (what each CrewAI add() is).
// Prints rows/s (medians over rounds), the ratio daemon / SQLite, and the daemon's CPU time
// per row (from /proc/<pid>/stat); then, for scale, the same clients making empty
// LoadTaskOutputs calls (the cost of any unary call, nothing written). Both sides use $TMPDIR
// (default /tmp): the same disk.
// Client threads and the daemon share the machine's cores, as they would on one host.
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/persistence/bench_util.h"
#include "fast_crewai/v1/persistence.grpc.pb.h"
#include "grpcpp/grpcpp.h"

extern char** environ;

namespace {

namespace v1 = ::fast_crewai::v1;
using Clock = std::chrono::steady_clock;

constexpr char kDirPrefix[] = "fast-crewai-daemon-write-bench";

struct Options {
  std::vector<int> writers = {1, 4, 8, 16, 32};
  double seconds = 2.0;
  int rounds = 3;
  std::string server;
};

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("free port");
    std::exit(1);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// User + system CPU seconds of process `pid` so far.
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close_paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

class Daemon {
 public:
  Daemon(const std::string& binary, const std::string& data_dir) {
    endpoint_ = absl::StrCat("127.0.0.1:", FreePort());
    std::vector<std::string> args = {binary,
                                     absl::StrCat("--listen=", endpoint_),
                                     absl::StrCat("--data_dir=", data_dir),
                                     "--log_level=warning",
                                     "--persistence_sync=full",
                                     "--persistence_max_kickoffs=1000000"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      std::fprintf(stderr, "cannot start %s\n", binary.c_str());
      std::exit(1);
    }
    auto channel = grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials());
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
      std::fprintf(stderr, "fast-crewai-server did not start on %s\n", endpoint_.c_str());
      Stop();
      std::exit(1);
    }
  }
  ~Daemon() { Stop(); }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  const std::string& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }

 private:
  std::string endpoint_;
  pid_t pid_ = -1;
};

// Runs `threads` copies of `body(slot, stop)` (each returns its row count) for `seconds` after
// all are ready; returns rows per second.
template <typename Body>
double RunThreads(int threads, double seconds, Body body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::vector<int64_t> counts(static_cast<size_t>(threads), 0);
  std::vector<std::thread> pool;
  for (int slot = 0; slot < threads; ++slot) {
    pool.emplace_back([&, slot] { counts[slot] = body(slot, ready, go, stop); });
  }
  while (ready.load() < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const Clock::time_point start = Clock::now();
  go.store(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (std::thread& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  return static_cast<double>(total) / elapsed;
}

void WaitForGo(std::atomic<int>& ready, std::atomic<bool>& go) {
  ready.fetch_add(1);
  while (!go.load()) std::this_thread::yield();
}

// N client threads, each with its own channel (its own TCP connection), each making blocking
// unary calls one at a time: `write` (one AddTaskOutput row, acknowledged once durable) or, with
// `floor`, an empty LoadTaskOutputs (answered from memory on the gRPC thread: what any unary call
// costs, nothing persisted). Returns calls per second.
double RunDaemonClients(const std::string& endpoint, int writers, double seconds, int round,
                        bool floor) {
  const std::string payload = fast_crewai::bench::TaskOutputJson();
  return RunThreads(writers, seconds, [&](int slot, std::atomic<int>& ready,
                                          std::atomic<bool>& go, std::atomic<bool>& stop) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per writer
    auto stub = v1::PersistenceService::NewStub(
        grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args));
    const std::string prefix = absl::StrCat("r", round, "-n", writers, "-w", slot, "-");
    int64_t n = 0;
    const auto call = [&]() {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      grpc::Status s;
      if (floor) {
        v1::LoadTaskOutputsRequest request;
        request.set_kickoff_id("no-such-kickoff");
        v1::LoadTaskOutputsResponse response;
        s = stub->LoadTaskOutputs(&context, request, &response);
      } else {
        v1::AddTaskOutputRequest request;
        request.set_namespace_("/bench/durable");
        request.set_kickoff_id(absl::StrCat(prefix, "k", n / 10));
        v1::TaskOutputRow* row = request.mutable_row();
        row->set_task_id(absl::StrCat(prefix, "t", n));
        row->set_expected_output("e");
        row->set_output_json(payload);
        row->set_task_index(static_cast<int32_t>(n % 10));
        row->set_inputs_json("{}");
        v1::AddTaskOutputResponse response;
        s = stub->AddTaskOutput(&context, request, &response);
      }
      if (!s.ok()) {
        std::fprintf(stderr, "call failed: %s\n", s.error_message().c_str());
        std::exit(1);
      }
      ++n;
    };
    call();  // connect before the clock starts
    WaitForGo(ready, go);
    const int64_t first = n;
    while (!stop.load(std::memory_order_relaxed)) call();
    return n - first;
  });
}

double RunSqliteWriters(const std::string& path, int writers, double seconds) {
  const std::string payload = fast_crewai::bench::TaskOutputJson();
  return RunThreads(writers, seconds, [&](int slot, std::atomic<int>& ready,
                                          std::atomic<bool>& go, std::atomic<bool>& stop) {
    int64_t n = 0;
    try {  // SQLiteCpp throws; a bench thread reports and stops the run instead
      fast_crewai::bench::SqlitePeerWriter writer(path);
      WaitForGo(ready, go);
      while (!stop.load(std::memory_order_relaxed)) {
        writer.Write(slot, n, payload);
        ++n;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "SQLite writer failed: %s\n", e.what());
      std::exit(1);
    }
    return n;
  });
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

bool ParseArgs(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (name == "--writers") {
      options->writers.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(part, &n) || n < 1) return false;
        options->writers.push_back(n);
      }
    } else if (name == "--seconds") {
      if (!absl::SimpleAtod(value, &options->seconds) || options->seconds <= 0) return false;
    } else if (name == "--rounds") {
      if (!absl::SimpleAtoi(value, &options->rounds) || options->rounds < 1) return false;
    } else if (name == "--server") {
      options->server = value;
    } else {
      return false;
    }
  }
  return !options->writers.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseArgs(argc, argv, &options)) {
    std::fprintf(stderr,
                 "usage: %s [--writers=1,4,8,16,32] [--seconds=2] [--rounds=3] [--server=PATH]\n",
                 argv[0]);
    return 2;
  }
  if (options.server.empty()) {
    const char* env = std::getenv("FAST_CREWAI_SERVER_BIN");
    options.server = env != nullptr && *env != '\0' ? env : FAST_CREWAI_SERVER_BIN_DEFAULT;
  }
  const std::string daemon_dir = fast_crewai::bench::FreshDir(kDirPrefix, "daemon");
  const std::string sqlite_dir = fast_crewai::bench::FreshDir(kDirPrefix, "sqlite");
  const std::string sqlite_path = absl::StrCat(sqlite_dir, "/full.db");
  try {
    fast_crewai::bench::CreateSqlitePeer(sqlite_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cannot create %s: %s\n", sqlite_path.c_str(), e.what());
    return 1;
  }
  std::map<int, std::vector<double>> daemon_rates, sqlite_rates, daemon_cpu_us;
  std::map<int, std::vector<double>> floor_rates, floor_cpu_us;
  {
    Daemon daemon(options.server, daemon_dir);
    // Runs the clients and records calls/s and the daemon's CPU per call (over the whole run,
    // connecting included, per call of the timed part).
    const auto measure = [&](int writers, int round, bool floor, std::vector<double>* rates,
                             std::vector<double>* cpu_us) {
      const double cpu_before = CpuSeconds(daemon.pid());
      const Clock::time_point start = Clock::now();
      const double rate = RunDaemonClients(daemon.endpoint(), writers, options.seconds, round,
                                           floor);
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      rates->push_back(rate);
      cpu_us->push_back((CpuSeconds(daemon.pid()) - cpu_before) * 1e6 / (rate * elapsed));
    };
    // Interleaved: each round runs every writer count on both sides in turn, so that a noisy
    // neighbour or a slow disk spell hits both alike.
    for (int round = 0; round < options.rounds; ++round) {
      for (int writers : options.writers) {
        measure(writers, round, /*floor=*/false, &daemon_rates[writers], &daemon_cpu_us[writers]);
        sqlite_rates[writers].push_back(RunSqliteWriters(sqlite_path, writers, options.seconds));
        measure(writers, round, /*floor=*/true, &floor_rates[writers], &floor_cpu_us[writers]);
      }
    }
  }
  std::filesystem::remove_all(daemon_dir);
  std::filesystem::remove_all(sqlite_dir);

  std::printf(
      "== Durable writes, one row per call, C++ gRPC clients: rows/s, writer threads "
      "(median of %d interleaved rounds x %g s)\n",
      options.rounds, options.seconds);
  std::printf("%-12s  %19s  %21s  %7s  %16s\n", "", "daemon group commit",
              "SQLite FULL 1 row/txn", "ratio", "daemon CPU/row");
  for (int writers : options.writers) {
    const double ours = Median(daemon_rates[writers]);
    const double peer = Median(sqlite_rates[writers]);
    std::printf("%2d writer%-3s  %17.0f/s  %19.0f/s  %6.2fx  %13.0f us\n", writers,
                writers > 1 ? "s" : "", ours, peer, peer > 0 ? ours / peer : 0.0,
                Median(daemon_cpu_us[writers]));
  }
  std::printf(
      "\n== For scale, NOT a write: the same clients making empty LoadTaskOutputs calls "
      "(answered from memory), calls/s\n");
  std::printf("%-12s  %19s  %21s\n", "", "empty unary calls", "daemon CPU/call");
  for (int writers : options.writers) {
    std::printf("%2d client%-3s  %17.0f/s  %18.0f us\n", writers, writers > 1 ? "s" : "",
                Median(floor_rates[writers]), Median(floor_cpu_us[writers]));
  }
  return 0;
}
