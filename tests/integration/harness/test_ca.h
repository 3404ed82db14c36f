#pragma once

#include <filesystem>

namespace pgdual::test {

/// Certificates for TLS tests, made with the `openssl` command line into a temp dir of their own
/// the first time test_ca() is called, and removed when the test binary exits. All files are PEM
/// and owned by the user running the tests, keys with mode 0600 (as pgdual's tls.key_file must
/// be), in a directory only that user may enter: a PostgreSQL server running as another OS user
/// gets its own copy (PgCluster's ServerTls).
///
/// Keys are ECDSA P-256; certificates are valid from now for 30 days.
struct TestCa {
  std::filesystem::path root_cert;  ///< the root CA's self-signed certificate: what clients trust
  /// A server certificate signed by the root, for DNS:localhost and IP:127.0.0.1 (and CN=localhost).
  std::filesystem::path server_cert;
  std::filesystem::path server_key;  ///< server_cert's private key, unencrypted
  /// A second, unrelated root CA's certificate: trusting it instead of root_cert must fail
  /// verification of server_cert.
  std::filesystem::path unrelated_root_cert;
};

/// The run's certificates, made on the first call (thread-safe). Throws std::runtime_error with
/// openssl's output when a step fails.
[[nodiscard]] const TestCa& test_ca();

}  // namespace pgdual::test
