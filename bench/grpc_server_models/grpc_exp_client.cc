// Experiment client: N threads, each with its own channel (own TCP connection),
// doing blocking unary Bench.Call back to back.
//
//   grpc_exp_client --addr=ADDR --threads=N --seconds=S [--warmup=CALLS] [--method=Call|Other]
//
// Protocol: after warm-up prints "WARM" and waits for one line on stdin, then runs
// S seconds and prints "DONE <calls> <rows_per_s> <p50_us> <p99_us> <errors>".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "exp.grpc.pb.h"

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:50999", method = "Call";
  int threads = 1, warmup = 300;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    std::string k = a.substr(0, eq), v = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (k == "--addr") addr = v;
    else if (k == "--threads") threads = std::atoi(v.c_str());
    else if (k == "--seconds") seconds = std::atof(v.c_str());
    else if (k == "--warmup") warmup = std::atoi(v.c_str());
    else if (k == "--method") method = v;
    else { std::fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
  }
  std::vector<std::unique_ptr<grpcexp::Bench::Stub>> stubs;
  for (int i = 0; i < threads; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.exp_channel_id", i);  // distinct args -> distinct subchannel/connection
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(grpcexp::Bench::NewStub(
        grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args)));
  }
  grpcexp::Req req;
  req.set_payload(std::string(200, 'p'));
  std::atomic<long> errors{0};
  auto call = [&](grpcexp::Bench::Stub* s) -> bool {
    grpc::ClientContext ctx;
    grpcexp::Resp resp;
    grpc::Status st = method == "Other" ? s->Other(&ctx, req, &resp) : s->Call(&ctx, req, &resp);
    if (!st.ok()) {
      if (errors++ < 3) std::fprintf(stderr, "rpc error: %s\n", st.error_message().c_str());
      return false;
    }
    return true;
  };
  {
    std::vector<std::thread> ws;
    for (int t = 0; t < threads; ++t)
      ws.emplace_back([&, t] { for (int i = 0; i < warmup; ++i) call(stubs[t].get()); });
    for (auto& w : ws) w.join();
  }
  std::printf("WARM\n");
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);

  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::vector<float>> lat(threads);
  const auto start = Clock::now();
  std::vector<std::thread> ws;
  for (int t = 0; t < threads; ++t)
    ws.emplace_back([&, t] {
      lat[t].reserve(200000);
      for (;;) {
        auto t0 = Clock::now();
        if (t0 >= end) break;
        if (!call(stubs[t].get())) continue;  // only successful calls are counted
        lat[t].push_back(std::chrono::duration<float, std::micro>(Clock::now() - t0).count());
      }
    });
  for (auto& w : ws) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<float> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[static_cast<size_t>(p * (all.size() - 1))]; };
  std::printf("DONE %zu %.1f %.1f %.1f %ld\n", all.size(), all.size() / elapsed, pct(0.5), pct(0.99),
              errors.load());
  std::fflush(stdout);
  return 0;
}
