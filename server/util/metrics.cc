#include "server/util/metrics.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace fast_crewai {
namespace {

constexpr std::array<absl::string_view, kStatusCodes> kCodeNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// A label value in the text format: backslash, double quote and newline escaped.
std::string LabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A sample value: integers without a fraction, others with enough digits to round-trip.
std::string Number(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v))) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrFormat("%.12g", v);
}

}  // namespace

void AppendMetricHeader(std::string* out, absl::string_view name, absl::string_view type,
                        absl::string_view help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void AppendMetricSample(std::string* out, absl::string_view name, absl::string_view labels,
                        double value) {
  if (labels.empty()) {
    absl::StrAppend(out, name, " ", Number(value), "\n");
  } else {
    absl::StrAppend(out, name, "{", labels, "} ", Number(value), "\n");
  }
}

void AppendMetricFamily(std::string* out, absl::string_view name, absl::string_view type,
                        absl::string_view help, std::initializer_list<MetricSample> samples) {
  AppendMetricHeader(out, name, type, help);
  for (const MetricSample& sample : samples) {
    AppendMetricSample(out, name, sample.labels, sample.value);
  }
}

absl::string_view StatusCodeName(int code) {
  return code >= 0 && code < kStatusCodes ? kCodeNames[code] : kCodeNames[2];
}

void LatencyHistogram::Observe(absl::Duration latency) {
  const double seconds = std::max(0.0, absl::ToDoubleSeconds(latency));
  const auto bound =
      std::lower_bound(kLatencyBucketsSeconds.begin(), kLatencyBucketsSeconds.end(), seconds);
  buckets_[bound - kLatencyBucketsSeconds.begin()].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(seconds * 1e6 + 0.5), std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum_seconds = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

void RpcMetrics::Method::Handled(int code, absl::Duration latency) {
  if (code < 0 || code >= kStatusCodes) code = 2;
  handled_[code].fetch_add(1, std::memory_order_relaxed);
  latency_.Observe(latency);
}

RpcMetrics::Method* RpcMetrics::Find(absl::string_view path, absl::string_view type) {
  const std::string key = absl::StrCat(type, " ", path);
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = methods_.find(key);
    if (it != methods_.end()) return it->second.get();
  }
  absl::MutexLock lock(&mu_);
  auto it = methods_.find(key);
  if (it != methods_.end()) return it->second.get();
  if (static_cast<int>(methods_.size()) >= max_methods_) {
    if (other_ == nullptr) other_ = std::make_unique<Method>("other", "other", "other");
    return other_.get();
  }
  absl::string_view service;
  absl::string_view method = path;
  if (absl::ConsumePrefix(&method, "/")) {
    const size_t slash = method.find('/');
    if (slash != absl::string_view::npos) {
      service = method.substr(0, slash);
      method = method.substr(slash + 1);
    } else {
      method = path;
    }
  }
  auto entry =
      std::make_unique<Method>(std::string(service), std::string(method), std::string(type));
  Method* out = entry.get();
  methods_.emplace(key, std::move(entry));
  return out;
}

std::string RpcMetrics::RenderPrometheus() const {
  std::vector<const Method*> methods;
  {
    absl::ReaderMutexLock lock(&mu_);
    methods.reserve(methods_.size() + 1);
    for (const auto& [key, method] : methods_) methods.push_back(method.get());
    if (other_ != nullptr) methods.push_back(other_.get());
  }
  std::sort(methods.begin(), methods.end(), [](const Method* a, const Method* b) {
    return std::tie(a->service_, a->method_, a->type_) <
           std::tie(b->service_, b->method_, b->type_);
  });
  auto labels = [](const Method* m) {
    return absl::StrCat("grpc_service=\"", LabelValue(m->service_), "\",grpc_method=\"",
                        LabelValue(m->method_), "\",grpc_type=\"", LabelValue(m->type_), "\"");
  };

  std::string out;
  AppendMetricHeader(&out, "grpc_server_started_total", "counter",
                     "Total number of RPCs started on the server.");
  for (const Method* m : methods) {
    absl::StrAppend(&out, "grpc_server_started_total{", labels(m), "} ",
                    m->started_.load(std::memory_order_relaxed), "\n");
  }
  AppendMetricHeader(&out, "grpc_server_handled_total", "counter",
                     "Total number of RPCs completed on the server, regardless of success or "
                     "failure.");
  for (const Method* m : methods) {
    for (int code = 0; code < kStatusCodes; ++code) {
      const uint64_t n = m->handled_[code].load(std::memory_order_relaxed);
      if (n == 0) continue;
      absl::StrAppend(&out, "grpc_server_handled_total{", labels(m), ",grpc_code=\"",
                      StatusCodeName(code), "\"} ", n, "\n");
    }
  }
  AppendMetricHeader(&out, "grpc_server_handling_seconds", "histogram",
                     "Histogram of response latency (seconds) of gRPC that had been "
                     "application-level handled by the server.");
  for (const Method* m : methods) {
    const LatencyHistogram::Snapshot s = m->latency_.Read();
    const std::string l = labels(m);
    for (size_t i = 0; i < kLatencyBucketsSeconds.size(); ++i) {
      absl::StrAppend(&out, "grpc_server_handling_seconds_bucket{", l, ",le=\"",
                      Number(kLatencyBucketsSeconds[i]), "\"} ", s.cumulative[i], "\n");
    }
    absl::StrAppend(&out, "grpc_server_handling_seconds_bucket{", l, ",le=\"+Inf\"} ", s.count,
                    "\n", "grpc_server_handling_seconds_sum{", l, "} ", Number(s.sum_seconds), "\n",
                    "grpc_server_handling_seconds_count{", l, "} ", s.count, "\n");
  }
  return out;
}

}  // namespace fast_crewai
