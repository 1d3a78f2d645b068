#include "server/rpc/auth.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "server/util/logging.h"

namespace fast_crewai {
namespace {

constexpr absl::string_view kExemptPrefixes[] = {
    "/grpc.health.v1.Health/",
    "/grpc.reflection.",
    "/fast_crewai.v1.ServerService/",
};

absl::string_view SliceView(const grpc_slice& slice) {
  return absl::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
                           GRPC_SLICE_LENGTH(slice));
}

// State of the C-core metadata processor: the expected token. Owned by gRPC core, which calls
// DestroyTokenProcessor when the credentials are released.
struct TokenProcessorState {
  std::string token;
};

// Runs on a gRPC thread for every incoming call, before the handler. Non-blocking: it only
// compares strings, so it answers inline.
void ProcessTokenMetadata(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md,
                          size_t num_md, grpc_process_auth_metadata_done_cb cb, void* user_data) {
  const auto* processor = static_cast<const TokenProcessorState*>(state);
  absl::string_view path;
  std::optional<absl::string_view> authorization;
  for (size_t i = 0; i < num_md; ++i) {
    const absl::string_view key = SliceView(md[i].key);
    if (key == ":path") {
      path = SliceView(md[i].value);
    } else if (key == "authorization" && !authorization.has_value()) {
      authorization = SliceView(md[i].value);
    }
  }
  const absl::Status status = CheckAuthorization(path, authorization, processor->token);
  if (status.ok()) {
    cb(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
    return;
  }
  LogDebug("rejected call without a valid token", {{"method", path}});
  const std::string message(status.message());
  cb(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_UNAUTHENTICATED, message.c_str());
}

void DestroyTokenProcessor(void* state) { delete static_cast<TokenProcessorState*>(state); }

// grpc::ServerCredentials over C-core credentials, so the C-core metadata processor can be used
// with plaintext too (see the file comment in auth.h).
class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  // The base class has initialized gRPC by the time the body runs, so the C core may be used.
  // REQUIRES: `options` passed the checks in MakeServerCredentials.
  explicit CoreServerCredentials(const ServerCredentialsOptions& options) {
    if (options.cert_chain_pem.empty()) {
      creds_ = grpc_insecure_server_credentials_create();
    } else {
      grpc_ssl_pem_key_cert_pair pair;
      pair.private_key = options.private_key_pem.c_str();
      pair.cert_chain = options.cert_chain_pem.c_str();
      const bool mutual = !options.client_ca_pem.empty();
      // gRPC core copies the PEM strings.
      creds_ = grpc_ssl_server_credentials_create_ex(
          mutual ? options.client_ca_pem.c_str() : nullptr, &pair, 1,
          mutual ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          nullptr);
    }
    if (creds_ != nullptr && !options.token.empty()) {
      grpc_auth_metadata_processor processor;
      processor.process = &ProcessTokenMetadata;
      processor.destroy = &DestroyTokenProcessor;
      processor.state = new TokenProcessorState{options.token};
      grpc_server_credentials_set_auth_metadata_processor(creds_, processor);
    }
  }
  ~CoreServerCredentials() override {
    if (creds_ != nullptr) grpc_server_credentials_release(creds_);
  }

  bool valid() const { return creds_ != nullptr; }

  // The token check is fixed at construction; a C++ processor is not supported here.
  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {
    LogError("SetAuthMetadataProcessor is not supported on fast-crewai server credentials");
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }

  grpc_server_credentials* creds_ = nullptr;  // Owned.
};

}  // namespace

bool IsAuthExemptMethod(absl::string_view path) {
  for (absl::string_view prefix : kExemptPrefixes) {
    if (absl::StartsWith(path, prefix)) return true;
  }
  return false;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Walk the longer input completely so the time does not depend on the first difference.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | (x ^ y);
  }
  return diff == 0;
}

absl::Status CheckAuthorization(absl::string_view path,
                                std::optional<absl::string_view> authorization,
                                absl::string_view token) {
  if (IsAuthExemptMethod(path)) return absl::OkStatus();
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "missing token: send metadata \"authorization: Bearer <token>\" (FAST_CREWAI_TOKEN)");
  }
  absl::string_view value = absl::StripAsciiWhitespace(*authorization);
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError(
        "malformed authorization metadata: expected \"Bearer <token>\"");
  }
  const absl::string_view presented = absl::StripAsciiWhitespace(value.substr(kScheme.size()));
  if (!ConstantTimeEquals(presented, token)) {
    return absl::UnauthenticatedError("invalid token");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerCredentialsOptions& options) {
  if (options.cert_chain_pem.empty() &&
      (!options.private_key_pem.empty() || !options.client_ca_pem.empty())) {
    return absl::InvalidArgumentError("TLS key or client CA given without a certificate chain");
  }
  if (!options.cert_chain_pem.empty() && options.private_key_pem.empty()) {
    return absl::InvalidArgumentError("TLS certificate chain given without a private key");
  }
  auto creds = std::make_shared<CoreServerCredentials>(options);
  if (!creds->valid()) {
    return absl::InvalidArgumentError("gRPC could not create the server credentials");
  }
  return creds;
}

}  // namespace fast_crewai
