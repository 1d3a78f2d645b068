// Feasibility check: one service whose method Call is served through the async
// completion-queue API and whose method Other is served through the callback API,
// on the same server (gRPC 1.51). Exits 0 only if both methods answer correctly
// from several client threads and the server shuts down cleanly.
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "exp.grpc.pb.h"

namespace {

// Order matters in 1.51: WithAsyncMethod_Call<CallbackService> compiles but
// crashes (SIGSEGV in RegisteredAsyncRequest::IssueRequest) because
// SetServerApiType(ASYNC) drops the handler only when the method was SYNC, so the
// method keeps its callback handler, is registered as a callback method and never
// gets a server tag. Starting from AsyncService (handlers dropped) and adding the
// callback methods on top works.
using HybridBase = grpcexp::Bench::WithCallbackMethod_Other<grpcexp::Bench::AsyncService>;

class HybridService final : public HybridBase {
 public:
  grpc::ServerUnaryReactor* Other(grpc::CallbackServerContext* ctx, const grpcexp::Req* req,
                                  grpcexp::Resp* resp) override {
    resp->set_seq(2000000 + static_cast<long>(req->payload().size()));
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

class AsyncCall {
 public:
  AsyncCall(HybridService* svc, grpc::ServerCompletionQueue* cq)
      : svc_(svc), cq_(cq), responder_(&ctx_) {
    svc_->RequestCall(&ctx_, &req_, &responder_, cq_, cq_, this);
  }
  void Proceed(bool ok) {
    if (finishing_ || !ok) {
      delete this;
      return;
    }
    new AsyncCall(svc_, cq_);
    finishing_ = true;
    resp_.set_seq(1000000 + static_cast<long>(req_.payload().size()));
    responder_.Finish(resp_, grpc::Status::OK, this);
  }

 private:
  HybridService* svc_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  grpcexp::Req req_;
  grpcexp::Resp resp_;
  grpc::ServerAsyncResponseWriter<grpcexp::Resp> responder_;
  bool finishing_ = false;
};

}  // namespace

int main() {
  HybridService svc;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&svc);
  auto cq = builder.AddCompletionQueue();
  auto server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "BuildAndStart failed\n");
    return 1;
  }
  for (int i = 0; i < 4; ++i) new AsyncCall(&svc, cq.get());
  std::thread cq_thread([&] {
    void* tag;
    bool ok;
    while (cq->Next(&tag, &ok)) static_cast<AsyncCall*>(tag)->Proceed(ok);
  });

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  auto stub = grpcexp::Bench::NewStub(channel);
  std::atomic<int> failures{0}, async_ok{0}, cb_ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        grpcexp::Req req;
        req.set_payload(std::string(t * 10 + i % 7, 'x'));
        const long n = static_cast<long>(req.payload().size());
        grpc::ClientContext c1, c2;
        grpcexp::Resp r1, r2;
        grpc::Status s1 = stub->Call(&c1, req, &r1);
        grpc::Status s2 = stub->Other(&c2, req, &r2);
        if (s1.ok() && r1.seq() == 1000000 + n) ++async_ok; else ++failures;
        if (s2.ok() && r2.seq() == 2000000 + n) ++cb_ok; else ++failures;
      }
    });
  for (auto& c : clients) c.join();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  cq->Shutdown();
  cq_thread.join();
  std::printf("hybrid: async Call ok=%d, callback Other ok=%d, failures=%d\n", async_ok.load(),
              cb_ok.load(), failures.load());
  return failures == 0 && async_ok == 800 && cb_ok == 800 ? 0 : 1;
}
