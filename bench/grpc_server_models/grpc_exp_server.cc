// Experiment server: one unary method (Bench.Call) served by one of several
// gRPC 1.51 server models, with a handler that simulates a durable commit.
//
//   grpc_exp_server --addr=ADDR --model=cb|sync|async --handler=empty|inline|group
//                   [--cqs=N] [--threads_per_cq=N] [--min_pollers=N] [--max_pollers=N]
//                   [--opt=latency|throughput|blend] [--file=PATH]
//
// Protocol on stdin/stdout (for the driver): prints "READY" once serving; on each
// line read from stdin prints "STAT <utime_us> <stime_us> <nvcsw> <nivcsw> <threads>"
// (getrusage(RUSAGE_SELF): all threads of the process, dead ones included);
// on EOF or "QUIT" shuts down.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "exp.grpc.pb.h"

namespace {

struct Flags {
  std::string addr = "127.0.0.1:50999";
  std::string model = "cb";
  std::string handler = "empty";
  std::string opt;
  std::string file = "/tmp/grpc_exp.dat";
  int cqs = 1;
  int threads_per_cq = 1;
  int min_pollers = -1;
  int max_pollers = -1;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      std::string p = std::string("--") + name + "=";
      return a.rfind(p, 0) == 0 ? argv[i] + p.size() : nullptr;
    };
    if (auto v = val("addr")) f.addr = v;
    else if (auto v = val("model")) f.model = v;
    else if (auto v = val("handler")) f.handler = v;
    else if (auto v = val("opt")) f.opt = v;
    else if (auto v = val("file")) f.file = v;
    else if (auto v = val("cqs")) f.cqs = std::atoi(v);
    else if (auto v = val("threads_per_cq")) f.threads_per_cq = std::atoi(v);
    else if (auto v = val("min_pollers")) f.min_pollers = std::atoi(v);
    else if (auto v = val("max_pollers")) f.max_pollers = std::atoi(v);
    else { std::fprintf(stderr, "unknown flag %s\n", argv[i]); std::exit(2); }
  }
  return f;
}

// The simulated store: append `n` records of 1 KiB and fdatasync once.
class DurableFile {
 public:
  explicit DurableFile(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd_ < 0) { std::perror("open"); std::exit(1); }
    std::memset(rec_, 'x', sizeof(rec_));
  }
  ~DurableFile() { ::close(fd_); }
  void Commit(int n) {
    std::vector<char> buf;
    const char* p = rec_;
    size_t len = sizeof(rec_);
    if (n > 1) {
      buf.resize(sizeof(rec_) * n, 'x');
      p = buf.data();
      len = buf.size();
    }
    if (::write(fd_, p, len) != static_cast<ssize_t>(len)) std::perror("write");
    if (::fdatasync(fd_) != 0) std::perror("fdatasync");
    // Keep the file small: start over every ~64 MiB.
    if (++commits_ % 65536 == 0) (void)::ftruncate(fd_, 0);
  }

 private:
  int fd_;
  long commits_ = 0;
  char rec_[1024];
};

// One thread that drains everything queued, commits it with one fdatasync and
// then runs each item's completion (group commit).
class CommitThread {
 public:
  explicit CommitThread(DurableFile* file) : file_(file), th_([this] { Run(); }) {}
  ~CommitThread() {
    { std::lock_guard<std::mutex> l(mu_); stop_ = true; }
    cv_.notify_one();
    th_.join();
  }
  void Enqueue(std::function<void()> done) {
    { std::lock_guard<std::mutex> l(mu_); q_.push_back(std::move(done)); }
    cv_.notify_one();
  }

 private:
  void Run() {
    std::deque<std::function<void()>> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return stop_ || !q_.empty(); });
        if (q_.empty() && stop_) return;
        batch.swap(q_);
      }
      file_->Commit(static_cast<int>(batch.size()));
      for (auto& d : batch) d();
      batch.clear();
    }
  }
  DurableFile* file_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::thread th_;
};

std::atomic<long> g_seq{0};

// ---- model 1: callback API -------------------------------------------------
class CbService final : public grpcexp::Bench::CallbackService {
 public:
  CbService(const std::string& handler, DurableFile* file, CommitThread* ct)
      : handler_(handler), file_(file), ct_(ct) {}
  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, const grpcexp::Req*,
                                 grpcexp::Resp* resp) override {
    auto* r = ctx->DefaultReactor();
    resp->set_seq(++g_seq);
    if (handler_ == "group") {
      ct_->Enqueue([r] { r->Finish(grpc::Status::OK); });
      return r;
    }
    if (handler_ == "inline") file_->Commit(1);
    r->Finish(grpc::Status::OK);
    return r;
  }

 private:
  std::string handler_;
  DurableFile* file_;
  CommitThread* ct_;
};

// ---- model 2: sync API -------------------------------------------------------
class SyncService final : public grpcexp::Bench::Service {
 public:
  SyncService(const std::string& handler, DurableFile* file, CommitThread* ct)
      : handler_(handler), file_(file), ct_(ct) {}
  grpc::Status Call(grpc::ServerContext*, const grpcexp::Req*, grpcexp::Resp* resp) override {
    resp->set_seq(++g_seq);
    if (handler_ == "inline") {
      file_->Commit(1);
    } else if (handler_ == "group") {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      ct_->Enqueue([&] {
        std::lock_guard<std::mutex> l(mu);
        done = true;
        cv.notify_one();
      });
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return done; });
    }
    return grpc::Status::OK;
  }

 private:
  std::string handler_;
  DurableFile* file_;
  CommitThread* ct_;
};

// ---- model 3: async completion-queue API ---------------------------------------
class AsyncCall {
 public:
  AsyncCall(grpcexp::Bench::AsyncService* svc, grpc::ServerCompletionQueue* cq,
            const std::string* handler, DurableFile* file, CommitThread* ct)
      : svc_(svc), cq_(cq), handler_(handler), file_(file), ct_(ct), responder_(&ctx_) {
    svc_->RequestCall(&ctx_, &req_, &responder_, cq_, cq_, this);
  }
  // Called from the CQ thread for each event tagged with this.
  void Proceed(bool ok) {
    if (state_ == kFinishing || !ok) {
      delete this;
      return;
    }
    // New call arrived: re-arm a fresh request slot, then serve this one.
    new AsyncCall(svc_, cq_, handler_, file_, ct_);
    state_ = kFinishing;
    resp_.set_seq(++g_seq);
    if (*handler_ == "group") {
      ct_->Enqueue([this] { responder_.Finish(resp_, grpc::Status::OK, this); });
      return;
    }
    if (*handler_ == "inline") file_->Commit(1);
    responder_.Finish(resp_, grpc::Status::OK, this);
  }

 private:
  enum State { kWaiting, kFinishing };
  grpcexp::Bench::AsyncService* svc_;
  grpc::ServerCompletionQueue* cq_;
  const std::string* handler_;
  DurableFile* file_;
  CommitThread* ct_;
  grpc::ServerContext ctx_;
  grpcexp::Req req_;
  grpcexp::Resp resp_;
  grpc::ServerAsyncResponseWriter<grpcexp::Resp> responder_;
  State state_ = kWaiting;
};

void PrintStat() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  long threads = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, "Threads:", 8) == 0) threads = std::atol(line + 8);
    std::fclose(f);
  }
  std::printf("STAT %ld %ld %ld %ld %ld\n",
              ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
              ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec, ru.ru_nvcsw, ru.ru_nivcsw,
              threads);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f = ParseFlags(argc, argv);
  DurableFile file(f.file);
  std::unique_ptr<CommitThread> ct;
  if (f.handler == "group") ct = std::make_unique<CommitThread>(&file);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(f.addr, grpc::InsecureServerCredentials());
  if (!f.opt.empty()) builder.AddChannelArgument(GRPC_ARG_OPTIMIZATION_TARGET, f.opt);
  if (f.min_pollers > 0)
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, f.min_pollers);
  if (f.max_pollers > 0)
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, f.max_pollers);

  std::unique_ptr<grpc::Service> svc;
  grpcexp::Bench::AsyncService* async_svc = nullptr;
  if (f.model == "cb") {
    svc = std::make_unique<CbService>(f.handler, &file, ct.get());
  } else if (f.model == "sync") {
    svc = std::make_unique<SyncService>(f.handler, &file, ct.get());
  } else if (f.model == "async") {
    auto a = std::make_unique<grpcexp::Bench::AsyncService>();
    async_svc = a.get();
    svc = std::move(a);
  } else {
    std::fprintf(stderr, "bad model\n");
    return 2;
  }
  builder.RegisterService(svc.get());
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  if (async_svc)
    for (int i = 0; i < f.cqs; ++i) cqs.push_back(builder.AddCompletionQueue());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "BuildAndStart failed for %s\n", f.addr.c_str());
    return 1;
  }
  std::vector<std::thread> cq_threads;
  for (auto& cq : cqs) {
    // Several armed request slots per CQ so concurrent clients never wait on re-arming.
    for (int k = 0; k < 32; ++k) new AsyncCall(async_svc, cq.get(), &f.handler, &file, ct.get());
    for (int t = 0; t < f.threads_per_cq; ++t)
      cq_threads.emplace_back([q = cq.get()] {
        void* tag;
        bool ok;
        while (q->Next(&tag, &ok)) static_cast<AsyncCall*>(tag)->Proceed(ok);
      });
  }
  std::printf("READY\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line) && line != "QUIT") PrintStat();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  for (auto& cq : cqs) cq->Shutdown();
  for (auto& t : cq_threads) t.join();
  ct.reset();
  return 0;
}
