// File: health_client.h
//
// The tests' name for the daemon's own health client (server/rpc/health_client.h).
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_HEALTH_CLIENT_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_HEALTH_CLIENT_H_

#include "server/rpc/health_client.h"

namespace fast_crewai::testing {

using ::fast_crewai::CheckHealth;
using ::fast_crewai::HealthStatus;

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_HEALTH_CLIENT_H_
