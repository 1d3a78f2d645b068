// RpcMetrics and LatencyHistogram: bucketing at the bounds, series per (path, type), the cap on
// distinct methods, unknown codes, label escaping, the text format, and concurrent recording.
#include "server/util/metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fast_crewai {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(LatencyHistogramTest, AnObservationCountsInTheFirstBucketWhoseBoundHoldsIt) {
  LatencyHistogram h;
  h.Observe(absl::Microseconds(100));  // exactly the first bound: le="0.0001"
  h.Observe(absl::Microseconds(101));  // just above it: le="0.00025"
  h.Observe(absl::Seconds(20));        // above the last bound: +Inf only
  h.Observe(absl::Microseconds(-5));   // a clock step backwards counts as zero
  const LatencyHistogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative[0], 2u);
  EXPECT_EQ(s.cumulative[1], 3u);
  EXPECT_EQ(s.cumulative[kLatencyBucketsSeconds.size() - 1], 3u);  // le="10"
  EXPECT_EQ(s.cumulative[kLatencyBucketsSeconds.size()], 4u);      // +Inf
  EXPECT_EQ(s.count, 4u);
  EXPECT_NEAR(s.sum_seconds, 20.000201, 1e-9);
}

TEST(RpcMetricsTest, OneSeriesPerPathAndType) {
  RpcMetrics metrics;
  RpcMetrics::Method* search = metrics.Find("/fast_crewai.v1.MemoryService/Search", "unary");
  EXPECT_EQ(metrics.Find("/fast_crewai.v1.MemoryService/Search", "unary"), search);
  EXPECT_NE(metrics.Find("/fast_crewai.v1.MemoryService/Search", "bidi_stream"), search);
  EXPECT_NE(metrics.Find("/fast_crewai.v1.MemoryService/Count", "unary"), search);
}

TEST(RpcMetricsTest, RendersStartedHandledAndTheHistogram) {
  RpcMetrics metrics;
  RpcMetrics::Method* m = metrics.Find("/fast_crewai.v1.MemoryService/Search", "unary");
  m->Started();
  m->Started();
  m->Handled(0, absl::Microseconds(300));
  m->Handled(3, absl::Milliseconds(2));
  const std::string text = metrics.RenderPrometheus();
  const std::string labels =
      "grpc_service=\"fast_crewai.v1.MemoryService\",grpc_method=\"Search\",grpc_type=\"unary\"";
  EXPECT_THAT(text, HasSubstr("# TYPE grpc_server_started_total counter\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{" + labels + "} 2\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{" + labels + ",grpc_code=\"OK\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{" + labels +
                              ",grpc_code=\"INVALID_ARGUMENT\"} 1\n"));
  // Only codes that occurred.
  EXPECT_THAT(text, Not(HasSubstr("grpc_code=\"NOT_FOUND\"")));
  EXPECT_THAT(text, HasSubstr("# TYPE grpc_server_handling_seconds histogram\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"0.00025\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"0.0025\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_sum{" + labels + "} 0.0023\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_count{" + labels + "} 2\n"));
}

TEST(RpcMetricsTest, ACodeOutsideTheKnownOnesCountsAsUnknown) {
  RpcMetrics metrics;
  metrics.Find("/s.S/M", "unary")->Handled(99, absl::ZeroDuration());
  metrics.Find("/s.S/M", "unary")->Handled(-1, absl::ZeroDuration());
  EXPECT_THAT(metrics.RenderPrometheus(), HasSubstr(",grpc_code=\"UNKNOWN\"} 2\n"));
  EXPECT_EQ(StatusCodeName(16), "UNAUTHENTICATED");
}

TEST(RpcMetricsTest, MethodsPastTheCapShareOneOtherSeries) {
  RpcMetrics metrics(/*max_methods=*/2);
  RpcMetrics::Method* a = metrics.Find("/s.S/A", "unary");
  RpcMetrics::Method* b = metrics.Find("/s.S/B", "unary");
  RpcMetrics::Method* c = metrics.Find("/s.S/C", "unary");
  RpcMetrics::Method* d = metrics.Find("/made.Up/Name", "bidi_stream");
  EXPECT_NE(a, b);
  EXPECT_EQ(c, d);
  EXPECT_EQ(metrics.Find("/s.S/A", "unary"), a);  // known ones keep their own
  c->Started();
  d->Started();
  const std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{grpc_service=\"other\",grpc_method="
                              "\"other\",grpc_type=\"other\"} 2\n"));
  EXPECT_THAT(text, Not(HasSubstr("Name")));
}

TEST(RpcMetricsTest, LabelValuesAreEscapedAndPathsWithoutAServiceAreKeptWhole) {
  RpcMetrics metrics;
  metrics.Find("/s.S/a\"b\\c\nd", "unary")->Started();
  metrics.Find("no-slash", "unary")->Started();
  const std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("grpc_method=\"a\\\"b\\\\c\\nd\""));
  EXPECT_THAT(text, HasSubstr("grpc_service=\"\",grpc_method=\"no-slash\""));
}

TEST(RpcMetricsTest, SeriesAreSortedByServiceAndMethod) {
  RpcMetrics metrics;
  metrics.Find("/b.S/Z", "unary")->Started();
  metrics.Find("/a.S/Y", "unary")->Started();
  const std::string text = metrics.RenderPrometheus();
  EXPECT_LT(text.find("grpc_service=\"a.S\""), text.find("grpc_service=\"b.S\""));
}

TEST(MetricTextTest, AFamilyIsItsHeaderThenOneLinePerSample) {
  std::string out;
  AppendMetricFamily(&out, "fast_crewai_things_total", "counter", "Things.",
                     {{"result=\"ok\"", 3}, {"result=\"failed\"", 0.25}});
  AppendMetricFamily(&out, "process_start_time_seconds", "gauge", "Start.", {{"", 1795706749.5}});
  EXPECT_EQ(out,
            "# HELP fast_crewai_things_total Things.\n"
            "# TYPE fast_crewai_things_total counter\n"
            "fast_crewai_things_total{result=\"ok\"} 3\n"
            "fast_crewai_things_total{result=\"failed\"} 0.25\n"
            "# HELP process_start_time_seconds Start.\n"
            "# TYPE process_start_time_seconds gauge\n"
            "process_start_time_seconds 1795706749.5\n");
}

TEST(RpcMetricsTest, ConcurrentCallsAreAllCounted) {
  RpcMetrics metrics;
  constexpr int kThreads = 4;
  constexpr int kCalls = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kCalls; ++i) {
        RpcMetrics::Method* m = metrics.Find(t % 2 == 0 ? "/s.S/Even" : "/s.S/Odd", "unary");
        m->Started();
        m->Handled(0, absl::Microseconds(i % 1000));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string text = metrics.RenderPrometheus();
  for (const char* name : {"Even", "Odd"}) {
    const std::string labels =
        absl::StrCat("grpc_service=\"s.S\",grpc_method=\"", name, "\",grpc_type=\"unary\"");
    EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_started_total{", labels, "} ", 2 * kCalls,
                                             "\n")));
    EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_handling_seconds_count{", labels, "} ",
                                             2 * kCalls, "\n")));
  }
}

}  // namespace
}  // namespace fast_crewai
