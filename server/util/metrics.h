// File: metrics.h
//
// RpcMetrics: per-method call counters and latency histograms of the daemon's RPCs, rendered in
// the Prometheus text exposition format (version 0.0.4). The names follow the gRPC server
// metrics Prometheus users already chart (go-grpc-prometheus):
//
//   grpc_server_started_total{grpc_service, grpc_method, grpc_type}
//   grpc_server_handled_total{grpc_service, grpc_method, grpc_type, grpc_code}
//   grpc_server_handling_seconds_bucket{grpc_service, grpc_method, grpc_type, le}  (+ _sum, _count)
//
// Knows nothing of gRPC itself: callers pass the method path ("/pkg.Service/Method"), a type
// name and the numeric status code (0-16). rpc/metrics_interceptor.h feeds it from the server.
//
// Example:
//   RpcMetrics metrics;
//   RpcMetrics::Method* m = metrics.Find("/fast_crewai.v1.MemoryService/Search", "unary");
//   m->Started();
//   m->Handled(/*code=*/0, absl::Microseconds(850));
//   std::string text = metrics.RenderPrometheus();
//
// Thread-safety: every method is thread-safe. Recording is lock-free (relaxed atomics); Find
// takes a reader lock once per call (a writer lock the first time a method is seen).
#ifndef FAST_CREWAI_SERVER_UTIL_METRICS_H_
#define FAST_CREWAI_SERVER_UTIL_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fast_crewai {

// Upper bounds of the latency buckets, in seconds (the +Inf bucket is implicit).
inline constexpr std::array<double, 16> kLatencyBucketsSeconds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

// The number of gRPC status codes (OK = 0 ... UNAUTHENTICATED = 16).
inline constexpr int kStatusCodes = 17;

// A latency histogram with the buckets above. Lock-free.
class LatencyHistogram {
 public:
  struct Snapshot {
    // cumulative[i]: observations <= kLatencyBucketsSeconds[i]; the last entry is +Inf (= count).
    std::array<uint64_t, kLatencyBucketsSeconds.size() + 1> cumulative{};
    double sum_seconds = 0;
    uint64_t count = 0;
  };

  void Observe(absl::Duration latency);
  Snapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, kLatencyBucketsSeconds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_micros_{0};
};

class RpcMetrics {
 public:
  // One method's counters. Stable address for the RpcMetrics' lifetime.
  class Method {
   public:
    Method(std::string service, std::string method, std::string type)
        : service_(std::move(service)), method_(std::move(method)), type_(std::move(type)) {}

    void Started() { started_.fetch_add(1, std::memory_order_relaxed); }
    // `code` outside 0..16 counts as UNKNOWN (2).
    void Handled(int code, absl::Duration latency);

   private:
    friend class RpcMetrics;
    const std::string service_;
    const std::string method_;
    const std::string type_;
    std::atomic<uint64_t> started_{0};
    std::array<std::atomic<uint64_t>, kStatusCodes> handled_{};
    LatencyHistogram latency_;
  };

  // At most `max_methods` distinct (path, type) pairs get their own series; later ones share
  // one series with grpc_service="other", grpc_method="other", so that a client calling made-up
  // method names cannot grow the registry without bound.
  explicit RpcMetrics(int max_methods = 256) : max_methods_(max_methods) {}
  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;

  // The counters of `path` ("/pkg.Service/Method"; anything else is kept whole as the method
  // with an empty service) called as `type` ("unary", "client_stream", "server_stream",
  // "bidi_stream"). Never null.
  Method* Find(absl::string_view path, absl::string_view type) ABSL_LOCKS_EXCLUDED(mu_);

  // Every series, methods sorted by service, method and type; only codes that occurred.
  std::string RenderPrometheus() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const int max_methods_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Method> other_ ABSL_GUARDED_BY(mu_);
};

// The name of status code `code` as Prometheus users see it ("OK", "INVALID_ARGUMENT", ...).
absl::string_view StatusCodeName(int code);

// The text format's lines, for the daemon's other series (its stores' statistics) and for
// RpcMetrics itself. `labels` is written already (`result="ok"`; "" for none); a value with no
// fraction is written as an integer.
struct MetricSample {
  absl::string_view labels;
  double value = 0;
};
void AppendMetricHeader(std::string* out, absl::string_view name, absl::string_view type,
                        absl::string_view help);
void AppendMetricSample(std::string* out, absl::string_view name, absl::string_view labels,
                        double value);
// A family whose samples all carry its name: the header, then one line per sample.
void AppendMetricFamily(std::string* out, absl::string_view name, absl::string_view type,
                        absl::string_view help, std::initializer_list<MetricSample> samples);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_METRICS_H_
