// File: grpc_log_bridge.h
//
// Routes gRPC's own logging (gpr_log) into the daemon's log sink (logging.h), so stderr carries
// one format. Kept apart from logging.h so that the cores, which log too, never see gRPC.
//
// Example (main.cc, before the first gRPC object is created):
//   SetLogLevel(config.logging.level);
//   InstallGrpcLogBridge(config.logging.level);
#ifndef FAST_CREWAI_SERVER_UTIL_GRPC_LOG_BRIDGE_H_
#define FAST_CREWAI_SERVER_UTIL_GRPC_LOG_BRIDGE_H_

#include "server/util/clock.h"
#include "server/util/logging.h"

namespace fast_crewai {

// Installs the bridge (fields `component=grpc file=... line=...`) and sets gRPC's own
// verbosity from `level`: kDebug lets all of gRPC's lines through; any other level only its
// errors (gRPC's info lines are debugging detail such as epoll fds and poller counts).
// Below kDebug, a line identical to one shown less than a minute ago (same source line and
// message, as a handshake error at each reconnection of a misconfigured client) is dropped; the
// next one shown carries `repeats_dropped=N`. `clock` (not owned, outliving the bridge's use)
// times that window.
// Thread-safe; the function is installed once, later calls change the verbosity and restart
// the repeat window.
void InstallGrpcLogBridge(LogLevel level, Clock* clock = RealClock::Get());

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_GRPC_LOG_BRIDGE_H_
