// MetricsHttpServer over real loopback sockets: the scrape, the statuses of everything else, a
// stalled client, a taken port, and Stop with a client connected.
#include "server/util/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/status_matchers.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A connected loopback socket, closed when it goes out of scope.
class Client {
 public:
  explicit Client(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() { ::close(fd_); }

  bool connected() const { return connected_; }
  void Send(const std::string& data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  }
  // Everything until the server closes the connection.
  std::string ReadAll() {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd_, buffer, sizeof buffer, 0)) > 0) out.append(buffer, n);
    return out;
  }

 private:
  const int fd_;
  bool connected_ = false;
};

std::string Exchange(int port, const std::string& request) {
  Client client(port);
  EXPECT_TRUE(client.connected());
  client.Send(request);
  return client.ReadAll();
}

std::unique_ptr<MetricsHttpServer> StartServer(std::atomic<int>* renders,
                                               absl::Duration timeout = absl::Seconds(2)) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server = MetricsHttpServer::Start(
      "127.0.0.1", 0,
      [renders] {
        renders->fetch_add(1);
        return std::string("up 1\n");
      },
      timeout);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(MetricsHttpServerTest, GetMetricsAnswersWithTheRenderedText) {
  std::atomic<int> renders{0};
  std::unique_ptr<MetricsHttpServer> server = StartServer(&renders);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  const std::string response =
      Exchange(server->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Length: 5\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\nup 1\n"));
  // A query string (Prometheus may add one) and a request sent in pieces.
  Client client(server->port());
  client.Send("GET /metrics?x=1 HTTP/1.0\r\n");
  absl::SleepFor(absl::Milliseconds(50));
  client.Send("\r\n");
  EXPECT_THAT(client.ReadAll(), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(renders.load(), 2);
}

TEST(MetricsHttpServerTest, EverythingElseGetsItsStatusAndNoMetrics) {
  std::atomic<int> renders{0};
  std::unique_ptr<MetricsHttpServer> server = StartServer(&renders);
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(Exchange(server->port(), "GET / HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 Not Found\r\n"));
  const std::string post = Exchange(server->port(), "POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(post, HasSubstr("Allow: GET\r\n"));
  EXPECT_THAT(Exchange(server->port(), "hello\r\n\r\n"), StartsWith("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(Exchange(server->port(), "GET metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(Exchange(server->port(), "GET /metrics SMTP\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request"));
  // A head that never ends within 8 KiB.
  EXPECT_THAT(Exchange(server->port(), "GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a')),
              StartsWith("HTTP/1.1 400 Bad Request"));
  EXPECT_EQ(renders.load(), 0);
  // Still serving.
  EXPECT_THAT(Exchange(server->port(), "GET /metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK"));
}

TEST(MetricsHttpServerTest, AStalledClientIsAnsweredWithATimeoutAndReleasesTheEndpoint) {
  std::atomic<int> renders{0};
  std::unique_ptr<MetricsHttpServer> server = StartServer(&renders, absl::Milliseconds(200));
  ASSERT_NE(server, nullptr);
  Client stalled(server->port());
  stalled.Send("GET /metrics HTTP/1.1\r\n");  // no blank line: the head never ends
  const absl::Time start = absl::Now();
  EXPECT_THAT(stalled.ReadAll(), StartsWith("HTTP/1.1 408 Request Timeout"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_THAT(Exchange(server->port(), "GET /metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK"));
}

TEST(MetricsHttpServerTest, ATakenPortIsUnavailableNamingTheOption) {
  std::atomic<int> renders{0};
  std::unique_ptr<MetricsHttpServer> first = StartServer(&renders);
  ASSERT_NE(first, nullptr);
  EXPECT_THAT(MetricsHttpServer::Start("127.0.0.1", first->port(), [] { return ""; }).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(absl::StrCat("metrics_listen 127.0.0.1:", first->port()))));
}

TEST(MetricsHttpServerTest, StopReturnsWithAnIdleClientConnectedAndIsIdempotent) {
  std::atomic<int> renders{0};
  std::unique_ptr<MetricsHttpServer> server = StartServer(&renders, absl::Milliseconds(300));
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  Client idle(port);
  ASSERT_TRUE(idle.connected());
  absl::SleepFor(absl::Milliseconds(20));  // let the thread take the connection
  const absl::Time start = absl::Now();
  server->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  server->Stop();
  server.reset();
  Client after(port);
  EXPECT_FALSE(after.connected());
}

}  // namespace
}  // namespace fast_crewai
