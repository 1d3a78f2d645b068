// File: test_certs.h
//
// A throw-away PKI for TLS tests, made with the `openssl` command-line tool: a CA, a server
// certificate for localhost / 127.0.0.1 and a client certificate, all signed by the CA.
//
// Example:
//   TempDir dir;
//   ASSERT_OK_AND_ASSIGN(TestCerts certs, MakeTestCerts(dir.path()));
//   options.cert_chain_pem = ReadFileOrDie(certs.server_cert);
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_TEST_CERTS_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_TEST_CERTS_H_

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace fast_crewai::testing {

struct TestCerts {
  std::string ca_cert;  // Paths of PEM files.
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
};

// Creates the files in `dir`. Returns InternalError naming the failing command.
inline absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string commands[] = {
      absl::StrCat("openssl req -x509 ", ec, " -keyout ", dir, "/ca.key -out ", dir,
                   "/ca.pem -days 2 -subj /CN=fast-crewai-test-ca"),
      absl::StrCat("openssl req ", ec, " -keyout ", dir, "/server.key -out ", dir,
                   "/server.csr -subj /CN=localhost"),
      absl::StrCat("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ", dir, "/server.ext"),
      absl::StrCat("openssl x509 -req -in ", dir, "/server.csr -CA ", dir, "/ca.pem -CAkey ", dir,
                   "/ca.key -CAcreateserial -out ", dir, "/server.pem -days 2 -extfile ", dir,
                   "/server.ext"),
      absl::StrCat("openssl req ", ec, " -keyout ", dir, "/client.key -out ", dir,
                   "/client.csr -subj /CN=fast-crewai-test-client"),
      absl::StrCat("printf 'extendedKeyUsage=clientAuth\\n' > ", dir, "/client.ext"),
      absl::StrCat("openssl x509 -req -in ", dir, "/client.csr -CA ", dir, "/ca.pem -CAkey ", dir,
                   "/ca.key -CAcreateserial -out ", dir, "/client.pem -days 2 -extfile ", dir,
                   "/client.ext"),
  };
  for (const std::string& command : commands) {
    if (std::system(absl::StrCat(command, " >/dev/null 2>&1").c_str()) != 0) {
      return absl::InternalError(absl::StrCat("failed: ", command));
    }
  }
  return TestCerts{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key", dir + "/client.pem",
                   dir + "/client.key"};
}

// Returns the contents of `path`, or "" when it cannot be read.
inline std::string ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_TEST_CERTS_H_
