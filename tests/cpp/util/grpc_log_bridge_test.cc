#include "server/util/grpc_log_bridge.h"

#include <grpc/support/log.h>

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/fake_clock.h"

namespace fast_crewai {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;

class CapturingSink : public LogSink {
 public:
  void Write(absl::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_;
};

TEST(GrpcLogBridgeTest, RoutesGprLogIntoTheSink) {
  CapturingSink sink;
  LogSink* previous = SetLogSink(&sink);
  SetLogLevel(LogLevel::kInfo);
  InstallGrpcLogBridge(LogLevel::kInfo);
  InstallGrpcLogBridge(LogLevel::kInfo);  // Idempotent.

  gpr_log(GPR_ERROR, "bind failed: %s (%d)", "Address already in use", 98);
  gpr_log(GPR_INFO, "grpc epoll fd: %d", 4);  // Below gRPC's verbosity at kInfo: not formatted.

  const std::vector<std::string> lines = sink.lines();
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], MatchesRegex("ts=\\S+Z level=error msg=\"bind failed: Address already in "
                                     "use \\(98\\)\" component=grpc "
                                     "file=grpc_log_bridge_test\\.cc line=[0-9]+"));
  SetLogSink(previous);
}

TEST(GrpcLogBridgeTest, DebugLevelLetsGrpcDebugLinesThrough) {
  CapturingSink sink;
  LogSink* previous = SetLogSink(&sink);
  SetLogLevel(LogLevel::kDebug);
  InstallGrpcLogBridge(LogLevel::kDebug);
  gpr_log(GPR_DEBUG, "detail %d", 1);
  const std::vector<std::string> lines = sink.lines();
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("level=debug msg=\"detail 1\" component=grpc"));

  // Back to info: gRPC's debug and info lines are no longer produced.
  SetLogLevel(LogLevel::kInfo);
  InstallGrpcLogBridge(LogLevel::kInfo);
  gpr_log(GPR_DEBUG, "hidden");
  EXPECT_THAT(sink.lines(), SizeIs(1));
  SetLogSink(previous);
}

TEST(GrpcLogBridgeTest, RepeatsOfOneLineWithinAMinuteAreDroppedAndCounted) {
  CapturingSink sink;
  LogSink* previous = SetLogSink(&sink);
  SetLogLevel(LogLevel::kInfo);
  testing::FakeClock clock;
  InstallGrpcLogBridge(LogLevel::kInfo, &clock);

  // One call site, as gRPC logs a failed handshake at each reconnection of a client.
  auto handshake_failed = [] { gpr_log(GPR_ERROR, "Handshake failed: %s", "wrong version"); };
  handshake_failed();
  clock.Advance(absl::Seconds(5));
  handshake_failed();
  gpr_log(GPR_ERROR, "Handshake failed: %s", "other");  // Another message: shown.
  handshake_failed();
  EXPECT_THAT(sink.lines(), SizeIs(2));

  clock.Advance(absl::Minutes(1));
  handshake_failed();
  const std::vector<std::string> lines = sink.lines();
  ASSERT_THAT(lines, SizeIs(3));
  EXPECT_THAT(lines[0], Not(HasSubstr("repeats_dropped")));
  EXPECT_THAT(lines[1], HasSubstr("msg=\"Handshake failed: other\""));
  EXPECT_THAT(lines[2], MatchesRegex(".*msg=\"Handshake failed: wrong version\".* "
                                     "repeats_dropped=2"));

  // At debug level every line is shown.
  SetLogLevel(LogLevel::kDebug);
  InstallGrpcLogBridge(LogLevel::kDebug, &clock);
  handshake_failed();
  handshake_failed();
  EXPECT_THAT(sink.lines(), SizeIs(5));
  SetLogLevel(LogLevel::kInfo);
  InstallGrpcLogBridge(LogLevel::kInfo);
  SetLogSink(previous);
}

}  // namespace
}  // namespace fast_crewai
