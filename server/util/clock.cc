#include "server/util/clock.h"

#include "absl/time/clock.h"

namespace fast_crewai {

RealClock* RealClock::Get() {
  static RealClock* const clock = new RealClock();
  return clock;
}

int64_t RealClock::NowMicros() { return absl::ToUnixMicros(absl::Now()); }

}  // namespace fast_crewai
