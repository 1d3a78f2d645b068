// File: in_process_server.h
//
// StartInProcess / StopInProcess: the gRPC server of a service adapter test, reached through an
// in-process channel (no port), started in SetUp and stopped in TearDown the same way by every
// adapter test.
//
// Example:
//   void SetUp() override {
//     ASSERT_NO_FATAL_FAILURE(StartInProcess(service_.get(), &server_));
//     stub_ = v1::MemoryService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
//   }
//   void TearDown() override { StopInProcess(server_.get()); ... }
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_IN_PROCESS_SERVER_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_IN_PROCESS_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "gtest/gtest.h"

namespace fast_crewai::testing {

// Starts a server for `service` (not owned: it must outlive the server) into `*server`; a fatal
// test failure when it cannot start.
inline void StartInProcess(grpc::Service* service, std::unique_ptr<grpc::Server>* server) {
  grpc::ServerBuilder builder;
  builder.RegisterService(service);
  *server = builder.BuildAndStart();
  ASSERT_NE(*server, nullptr);
}

// Shuts `server` down, giving the calls in flight a second to finish, and waits for it.
inline void StopInProcess(grpc::Server* server) {
  if (server == nullptr) return;
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
}

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_IN_PROCESS_SERVER_H_
