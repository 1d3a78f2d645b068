// File: auth.h
//
// Server credentials for the daemon: plaintext or TLS (optionally mutual TLS), plus the bearer
// token check.
//
// The token check runs in gRPC core's server auth filter, before any handler, so it covers every
// registered service (including the not-yet-implemented ones) with no code in the adapters. It
// reads the ":path" pseudo-header to exempt grpc.health.v1.Health/*, grpc.reflection.* and
// fast_crewai.v1.ServerService/*. gRPC C++ 1.51 cannot attach an AuthMetadataProcessor to
// InsecureServerCredentials() (it asserts), but the C core supports a processor on insecure
// credentials; CoreServerCredentials below wraps C-core credentials to reach it, for plaintext
// and TLS alike (tests/cpp/rpc/auth_test.cc checks both).
//
// Calls through grpc::Server::InProcessChannel() bypass the auth filter; use them only in
// tests of things other than auth.
//
// Example:
//   ServerCredentialsOptions options;
//   options.token = config.auth.token;
//   ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
//                    MakeServerCredentials(options));
//   builder.AddListeningPort("127.0.0.1:50051", creds);
#ifndef FAST_CREWAI_SERVER_RPC_AUTH_H_
#define FAST_CREWAI_SERVER_RPC_AUTH_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fast_crewai {

// Transport security and token for MakeServerCredentials.
struct ServerCredentialsOptions {
  // Required bearer token; "" disables the check.
  std::string token;
  // PEM contents (not paths). TLS is on when cert_chain_pem is non-empty.
  std::string cert_chain_pem;
  std::string private_key_pem;
  // When non-empty, clients must present a certificate signed by one of these CAs.
  std::string client_ca_pem;
};

// True for ":path" values that never need a token: "/grpc.health.v1.Health/<any>",
// "/grpc.reflection.<any>" and "/fast_crewai.v1.ServerService/<any>".
bool IsAuthExemptMethod(absl::string_view path);

// Compares in time that depends only on the lengths, not on where the inputs differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Checks one call: OK when `path` is exempt or `authorization` is "Bearer <token>" (scheme
// case-insensitive) with the right token; otherwise UnauthenticatedError whose message explains
// what to send. Never includes either token in the message.
// REQUIRES: !token.empty().
absl::Status CheckAuthorization(absl::string_view path,
                                std::optional<absl::string_view> authorization,
                                absl::string_view token);

// Builds plaintext or TLS server credentials with the token check installed when
// options.token is set. Returns InvalidArgumentError when TLS material is incomplete (a
// certificate without a key); malformed PEM is reported by gRPC when the port is added.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerCredentialsOptions& options);

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_AUTH_H_
