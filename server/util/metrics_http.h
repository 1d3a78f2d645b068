// File: metrics_http.h
//
// MetricsHttpServer: the smallest HTTP/1.1 server a Prometheus scrape needs. One thread accepts
// one connection at a time and answers `GET /metrics` (any query string) with the text that
// `render` returns, then closes the connection. Anything else gets a status and no body worth
// reading: 404 for another path, 405 for another method, 400 for a request it cannot parse or
// whose head is over 8 KiB, 408 when the head does not arrive within `io_timeout`. A client that
// stalls holds the endpoint for at most `io_timeout` per read or write.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<MetricsHttpServer> http,
//                    MetricsHttpServer::Start("127.0.0.1", 9464,
//                                             [&] { return metrics.RenderPrometheus(); }));
//   ...
//   http->Stop();
//
// Thread-safety: Stop() and port() may be called from any thread; `render` is called on the
// server's thread.
#ifndef FAST_CREWAI_SERVER_UTIL_METRICS_HTTP_H_
#define FAST_CREWAI_SERVER_UTIL_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fast_crewai {

class MetricsHttpServer {
 public:
  // Binds `host` (a numeric address or a name; "" = every interface) and `port` (0 = a free
  // one), listens and starts the thread. Errors: UNAVAILABLE naming the address when it cannot
  // be resolved or bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      absl::string_view host, int port, std::function<std::string()> render,
      absl::Duration io_timeout = absl::Seconds(2));

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;
  // Calls Stop().
  ~MetricsHttpServer();

  // The bound port (the chosen one when 0 was asked for).
  int port() const { return port_; }

  // Stops accepting, finishes the request in progress (bounded by io_timeout), joins the
  // thread and closes the socket. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  MetricsHttpServer(int listen_fd, int wake_read_fd, int wake_write_fd, int port,
                    std::function<std::string()> render, absl::Duration io_timeout);

  void Serve();
  void Answer(int fd);

  const int listen_fd_;
  const int wake_read_fd_;  // a pipe: Stop() writes a byte, Serve()'s poll wakes
  const int wake_write_fd_;
  const int port_;
  const std::function<std::string()> render_;
  const absl::Duration io_timeout_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_UTIL_METRICS_HTTP_H_
