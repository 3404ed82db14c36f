// TLS between clients and pgdual: psql and psycopg with sslmode require and verify-full against a CA
// made for the run, SCRAM-SHA-256-PLUS, tls.mode require, [[hba]] connection "tls", and a reload
// that swaps the certificate.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <string>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/harness/test_ca.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;

constexpr auto kClientTimeout = 60s;

/// pgdual's certificate and key, in files of the test's own: pgdual insists that its key file is
/// private to its owner, and a reload test rewrites them.
struct ProxyCertificate {
  TempDir dir{"pgdual-tls"};
  std::filesystem::path cert = dir.path() / "server.crt";
  std::filesystem::path key = dir.path() / "server.key";

  ProxyCertificate(const std::filesystem::path& cert_from, const std::filesystem::path& key_from) {
    replace_with(cert_from, key_from);
  }

  void replace_with(const std::filesystem::path& cert_from, const std::filesystem::path& key_from) const {
    std::filesystem::copy_file(cert_from, cert, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(key_from, key, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }

  [[nodiscard]] std::string tls_section(const std::string& mode) const {
    return "\n[tls]\nmode = \"" + mode + "\"\ncert_file = \"" + cert.string() + "\"\nkey_file = \"" + key.string() +
           "\"\n";
  }
};

ProxySettings with_tls(const ProxyCertificate& certificate, const std::string& mode, const std::string& more = "") {
  auto settings = IntegrationTest::default_settings();
  settings.extra = certificate.tls_section(mode) + more;
  return settings;
}

/// psql through pgdual with `options` added to its connection string.
RunResult psql_with(IntegrationTest& test, const std::string& database, const std::string& options,
                    const std::string& command) {
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-d", "dbname=" + database + " " + options, "-c", command},
                    test.through_proxy(database), kClientTimeout);
}

std::string verify_full(const std::filesystem::path& root) {
  return "sslmode=verify-full sslrootcert=" + root.string() + " host=localhost hostaddr=127.0.0.1";
}

constexpr const char* kConnectionInfo = "\\conninfo";

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "psql talks TLS to pgdual when it asks, and verify-full checks pgdual's certificate",
                 "[integration][tls]") {
  const auto database = fresh_database("tls_allow");
  const ProxyCertificate certificate{test_ca().server_cert, test_ca().server_key};
  start_proxy(with_tls(certificate, "allow"));

  const auto required = psql_with(*this, database, "sslmode=require", kConnectionInfo);
  INFO(required.describe());
  CHECK(required.exit_code == 0);
  CHECK_THAT(required.out, Contains("SSL connection (protocol: TLSv1."));

  const auto verified = psql_with(*this, database, verify_full(test_ca().root_cert), "SELECT current_user");
  INFO(verified.describe());
  CHECK(verified.out == "app\n");

  const auto unverified = psql_with(*this, database, verify_full(test_ca().unrelated_root_cert), "SELECT 1");
  INFO(unverified.describe());
  CHECK(unverified.exit_code == 2);
  CHECK_THAT(unverified.err, Contains("certificate verify failed"));

  const auto large =
      psql_with(*this, database, "sslmode=require", "SELECT repeat('x', 100000) FROM generate_series(1, 50)");
  CHECK(large.exit_code == 0);
  CHECK(large.out.size() == 50 * 100001);

  const auto plain = psql_with(*this, database, "sslmode=disable", kConnectionInfo);
  INFO(plain.describe());
  CHECK(plain.exit_code == 0);
  CHECK_THAT(plain.out, !Contains("SSL connection"));

  // libpq refuses to finish a login that did not bind the channel: success means SCRAM-SHA-256-PLUS.
  const auto bound = psql_with(*this, database, "sslmode=require channel_binding=require", "SELECT current_user");
  INFO(bound.describe());
  CHECK(bound.out == "app\n");

  const auto writes = psql_with(*this, database, "sslmode=require",
                                "CREATE TABLE notes (id int PRIMARY KEY, body text); "
                                "INSERT INTO notes SELECT g, md5(g::text) FROM generate_series(1, 500) g");
  INFO(writes.describe());
  CHECK(writes.exit_code == 0);
  CHECK(differing_tables(database).empty());
}

TEST_CASE_METHOD(IntegrationTest, "tls.mode require refuses plain clients, and [[hba]] may ask for TLS per rule",
                 "[integration][tls]") {
  const auto database = fresh_database("tls_require");
  const ProxyCertificate certificate{test_ca().server_cert, test_ca().server_key};
  {
    auto& proxy = start_proxy(with_tls(certificate, "require"));
    const auto plain = psql_with(*this, database, "sslmode=disable", "SELECT 1");
    INFO(plain.describe());
    CHECK(plain.exit_code == 2);
    CHECK_THAT(plain.err, Contains("pgdual accepts TLS connections only"));
    const auto preferred = psql_with(*this, database, "sslmode=prefer", kConnectionInfo);
    INFO(preferred.describe());
    CHECK_THAT(preferred.out, Contains("SSL connection"));
    proxy.stop();
  }
  const std::string tls_only_rule =
      "\n[[hba]]\nusers = [\"all\"]\ndatabases = [\"all\"]\naddress = \"127.0.0.0/8\"\nconnection = \"tls\"\n"
      "method = \"scram-sha-256\"\n";
  start_proxy(with_tls(certificate, "allow", tls_only_rule));
  const auto plain = psql_with(*this, database, "sslmode=disable", "SELECT 1");
  INFO(plain.describe());
  CHECK_THAT(plain.err, Contains("no pgdual [[hba]] entry for host \"127.0.0.1\", user \"app\", database \"" +
                                 database + "\", no encryption"));
  CHECK(psql_with(*this, database, "sslmode=require", "SELECT current_user").out == "app\n");
}

TEST_CASE_METHOD(IntegrationTest, "psycopg connects through pgdual with sslmode=verify-full", "[integration][tls]") {
  const auto database = fresh_database("tls_psycopg");
  const ProxyCertificate certificate{test_ca().server_cert, test_ca().server_key};
  start_proxy(with_tls(certificate, "require"));
  const std::string script =
      "import psycopg, sys\n"
      "with psycopg.connect(sys.argv[1]) as conn:\n"
      "    conn.execute('CREATE TABLE visits (id int PRIMARY KEY)')\n"
      "    conn.execute('INSERT INTO visits SELECT generate_series(1, 100)')\n"
      "    print(conn.pgconn.ssl_in_use, conn.execute('SELECT count(*) FROM visits').fetchone()[0])\n";
  // Debian's interpreter, which python3-psycopg installs for, whatever python3 is first on PATH.
  const auto conninfo = "dbname=" + database + " " + verify_full(test_ca().root_cert);
  const auto result = run_client({"/usr/bin/python3", "-c", script, conninfo}, through_proxy(database), kClientTimeout);
  INFO(result.describe());
  CHECK(result.out == "True 100\n");
  CHECK(differing_tables(database).empty());
}

TEST_CASE_METHOD(IntegrationTest, "A reload puts a new certificate in place for the next handshakes",
                 "[integration][tls]") {
  const auto database = fresh_database("tls_reload");
  const ProxyCertificate certificate{test_ca().server_cert, test_ca().server_key};
  auto& proxy = start_proxy(with_tls(certificate, "require"));
  REQUIRE(psql_with(*this, database, verify_full(test_ca().root_cert), "SELECT 1").out == "1\n");

  const TempDir made{"pgdual-tls-new"};
  const auto new_cert = made.path() / "new.crt";
  const auto new_key = made.path() / "new.key";
  const auto generated =
      run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
           "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", new_key.string(),
           "-out", new_cert.string()},
          {}, kClientTimeout);
  REQUIRE(generated.exit_code == 0);
  certificate.replace_with(new_cert, new_key);
  REQUIRE(::kill(proxy.pid(), SIGHUP) == 0);
  REQUIRE(proxy.log_shows_within("reloaded", 10s));

  const auto old_root = psql_with(*this, database, verify_full(test_ca().root_cert), "SELECT 1");
  INFO(old_root.describe());
  CHECK_THAT(old_root.err, Contains("certificate verify failed"));
  const auto new_root = psql_with(*this, database, verify_full(new_cert), "SELECT 1");
  INFO(new_root.describe());
  CHECK(new_root.out == "1\n");
}

TEST_CASE_METHOD(IntegrationTest, "Bytes sent in the clear behind an SSLRequest end the connection",
                 "[integration][tls]") {
  const ProxyCertificate certificate{test_ca().server_cert, test_ca().server_key};
  auto& proxy = start_proxy(with_tls(certificate, "allow"));
  // SSLRequest, with a Query smuggled behind it in the same packet (CVE-2021-23214).
  const std::string script =
      "import socket, struct, sys\n"
      "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)\n"
      "query = b'SELECT 1\\0'\n"
      "s.sendall(struct.pack('!ii', 8, 80877103) + b'Q' + struct.pack('!i', 4 + len(query)) + query)\n"
      "answer = b''\n"
      "while True:\n"
      "    part = s.recv(4096)\n"
      "    if not part: break\n"
      "    answer += part\n"
      "print(answer[:1].decode(), b'08P01' in answer, b'received unencrypted data after SSL request' in answer)\n";
  const auto result = run({"python3", "-c", script, std::to_string(proxy.port())}, {}, kClientTimeout);
  INFO(result.describe());
  CHECK(result.out == "E True True\n");
  CHECK(proxy.running());
}

}  // namespace pgdual::test
