// TLS from pgdual to its backends, as libpq's sslmode: two servers of their own that accept TCP
// logins over TLS only, with certificates from the run's test CA; and fake servers in this
// process for the answers no real server gives.
#include <catch2/catch.hpp>

#include <poll.h>

#include <array>
#include <chrono>
#include <exception>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "protocol/error_response.h"
#include "protocol/writer.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/backend/backend_tls.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/harness/test_ca.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using proxy::Awaitable;
using proxy::use_awaitable;
namespace asio = proxy::asio;
namespace ssl = proxy::ssl;
using proxy::tcp;

/// Two servers that take TCP logins over TLS only, each with the app role; started on first use.
struct TlsBackends {
  TlsBackends() {
    onprem.create_role(kAppUser, kAppPassword);
    cloud.create_role(kAppUser, kAppPassword);
  }

  static ServerTls server_tls() {
    return ServerTls{.cert_file = test_ca().server_cert, .key_file = test_ca().server_key, .tls_only = true};
  }

  PgCluster onprem{"tls-onprem", server_tls()};
  PgCluster cloud{"tls-cloud", server_tls()};
};

TlsBackends& tls_backends() {
  static TlsBackends servers;
  return servers;
}

/// The lines of a [backends.*] table that ask for `mode`, trusting `root` when given.
std::string ssl_lines(const std::string& mode, const std::filesystem::path& root = {}) {
  std::string lines = "sslmode = \"" + mode + "\"\n";
  if (!root.empty()) lines += "sslrootcert = \"" + root.string() + "\"\n";
  return lines;
}

/// pgdual in front of the TLS servers, reaching both by `host` with `lines` in their tables.
ProxySettings tls_settings(const std::string& host, const std::string& lines) {
  auto settings = IntegrationTest::default_settings();
  settings.onprem_port = tls_backends().onprem.port();
  settings.cloud_port = tls_backends().cloud.port();
  settings.onprem_host = settings.cloud_host = host;
  settings.onprem_lines = settings.cloud_lines = lines;
  return settings;
}

/// A new database on both TLS servers with pgdual's ledger, made by `pgdual init` under
/// `settings`: libpq (conflict/jobs/pg_client.h) with the backends' TLS settings.
std::string tls_database(const std::string& label, const ProxySettings& settings) {
  static int created = 0;
  const auto name = "tls_" + std::to_string(++created) + "_" + label;
  tls_backends().onprem.create_database(name, kAppUser);
  tls_backends().cloud.create_database(name, kAppUser);
  TempDir dir{"pgdual-tls-init"};
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(settings, 6432));
  const auto init = run({PGDUAL_BINARY, "init", "--config", config.string(), "--database", name}, {}, 60s);
  INFO(init.describe());
  REQUIRE(init.exit_code == 0);
  return name;
}

/// How many of the app role's sessions on `database` of `server` are, and are not, on TLS.
std::string app_sessions_by_tls(const PgCluster& server, const std::string& database) {
  return server.run_sql(database,
                        "SELECT count(*) FILTER (WHERE s.ssl) || ' on TLS, ' || count(*) FILTER (WHERE NOT s.ssl) || "
                        "' plain' FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                        "WHERE a.usename = 'app' AND a.datname = current_database()");
}

/// libpq's message for a login through `endpoint` in plain text, with the SQLSTATE (verbose
/// errors), or "" when the login succeeds. libpq formats the server's errors with the verbosity
/// the connection has then, so it is set before the first answer arrives.
std::string login_error(const Endpoint& endpoint) {
  const auto port = std::to_string(endpoint.port);
  const std::array<const char*, 8> keywords{"host", "port", "user", "password", "dbname", "sslmode",
                                            "connect_timeout", nullptr};
  const std::array<const char*, 8> values{endpoint.host.c_str(), port.c_str(), endpoint.user.c_str(),
                                          endpoint.password.c_str(), endpoint.database.c_str(), "disable",
                                          "30", nullptr};
  std::unique_ptr<PGconn, decltype(&PQfinish)> connection{PQconnectStartParams(keywords.data(), values.data(), 0),
                                                          &PQfinish};
  if (PQstatus(connection.get()) == CONNECTION_BAD) return PQerrorMessage(connection.get());
  PQsetErrorVerbosity(connection.get(), PQERRORS_VERBOSE);
  for (auto status = PGRES_POLLING_WRITING; status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED;) {
    pollfd socket{.fd = PQsocket(connection.get()),
                  .events = static_cast<short>(status == PGRES_POLLING_READING ? POLLIN : POLLOUT),
                  .revents = 0};
    static_cast<void>(poll(&socket, 1, 30'000));
    status = PQconnectPoll(connection.get());
  }
  return PQstatus(connection.get()) == CONNECTION_OK ? std::string{} : PQerrorMessage(connection.get());
}

/// The message of what `operation` threw on `io`, "" when it threw nothing; whatever else waits
/// on `io` (a fake server) is left unfinished.
std::string failure_of(asio::io_context& io, Awaitable<void> operation) {
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(operation), [&](std::exception_ptr error) {
    failure = std::move(error);
    io.stop();
  });
  io.run();
  if (!failure) return {};
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& error) {
    return error.what();
  }
}

/// The refusal fake_backend() sends over TLS once the handshake is done.
constexpr const char* kFakeRefusal = "28000 refused by the fake server";

/// A server that reads one SSLRequest and answers `answer` in one write. Given `tls`, it then
/// handshakes as a TLS server and answers the StartupMessage with kFakeRefusal. Then it reads
/// until the client hangs up.
Awaitable<void> fake_backend(tcp::acceptor& acceptor, std::string answer, std::shared_ptr<ssl::context> tls) {
  auto socket = co_await acceptor.async_accept(use_awaitable);
  std::array<unsigned char, 8> request{};
  co_await asio::async_read(socket, asio::buffer(request), use_awaitable);
  // Length 8, then 1234 << 16 | 5679: https://www.postgresql.org/docs/15/protocol-message-formats.html
  CHECK(request == std::array<unsigned char, 8>{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f});
  co_await asio::async_write(socket, asio::buffer(answer), use_awaitable);
  std::array<char, 1024> ignored{};
  if (!tls) {
    for (;;) co_await socket.async_read_some(asio::buffer(ignored), use_awaitable);
  }
  ssl::stream<tcp::socket> stream{std::move(socket), *tls};
  co_await stream.async_handshake(ssl::stream_base::server, use_awaitable);
  co_await stream.async_read_some(asio::buffer(ignored), use_awaitable);  // the StartupMessage
  std::vector<std::byte> refusal;
  protocol::Writer out{refusal};
  protocol::encode(protocol::make_error("FATAL", "28000", "refused by the fake server"), out);
  co_await asio::async_write(stream, asio::buffer(refusal), use_awaitable);
  for (;;) co_await stream.async_read_some(asio::buffer(ignored), use_awaitable);
}

/// A TLS server context with the test CA's server certificate.
std::shared_ptr<ssl::context> server_context() {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->use_certificate_chain_file(test_ca().server_cert.string());
  context->use_private_key_file(test_ca().server_key.string(), ssl::context::pem);
  return context;
}

/// The backend "onprem" where `acceptor` listens, with `mode`, trusting `root` when given.
config::BackendConfig backend_at(const tcp::acceptor& acceptor, config::SslMode mode,
                                 const std::filesystem::path& root = {}) {
  config::BackendConfig backend{.name = "onprem",
                                .host = acceptor.local_endpoint().address().to_string(),
                                .port = acceptor.local_endpoint().port(),
                                .connect_timeout = 10s};
  backend.sslmode = mode;
  if (!root.empty()) backend.sslrootcert_pem = read_file(root);
  return backend;
}

/// BackendConnection::open to `backend` as the app user.
Awaitable<void> open_backend(config::BackendConfig backend) {
  const proxy::BackendLogin login{.user = kAppUser,
                                  .password = kAppPassword,
                                  .protocol_version = 196608,  // 3.0
                                  .parameters = {{"user", kAppUser}}};
  auto tls = proxy::make_backend_tls(backend);
  auto connection = co_await proxy::BackendConnection::open(backend, tls, login, 1 << 20);
  static_cast<void>(connection);
}

tcp::acceptor listening_on(asio::io_context& io, const std::string& address) {
  return tcp::acceptor{io, tcp::endpoint{asio::ip::make_address(address), 0}};
}

// Records the server name a TLS client sent into the std::string at `into`: "(none)" without one.
int record_server_name(SSL* connection, int* /*alert*/, void* into) {
  const char* name = SSL_get_servername(connection, TLSEXT_NAMETYPE_host_name);
  *static_cast<std::string*>(into) = name != nullptr ? name : "(none)";
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "pgdual writes to and reads from TLS-only backends in each sslmode that encrypts",
                 "[integration][tls]") {
  const auto& ca = test_ca();
  struct Mode {
    std::string host;
    std::string lines;
  };
  // verify-full by IP address too: the certificate names 127.0.0.1 as well as localhost.
  for (const auto& [host, lines] : {Mode{"127.0.0.1", ssl_lines("require")},
                                    Mode{"localhost", ssl_lines("verify-ca", ca.root_cert)},
                                    Mode{"localhost", ssl_lines("verify-full", ca.root_cert)},
                                    Mode{"127.0.0.1", ssl_lines("verify-full", ca.root_cert)}}) {
    INFO("host " << host << ", " << lines);
    const auto settings = tls_settings(host, lines);
    const auto database = tls_database("modes", settings);
    auto& proxy = start_proxy(settings);
    auto client = client_of(proxy, database);
    CHECK(client.query_value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "t");
    client.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)");
    client.execute("INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 20) g");
    client.execute("UPDATE notes SET body = 'changed' WHERE id % 5 = 0");
    CHECK(client.query_value("SELECT count(*) FROM notes WHERE body = 'changed'") == "4");
    CHECK(tls_backends().cloud.run_sql(database, "SELECT count(*) FROM notes") == "20\n");
    CHECK(differing_tables(database, tls_backends().onprem, tls_backends().cloud).empty());
    CHECK(app_sessions_by_tls(tls_backends().onprem, database) == "1 on TLS, 0 plain\n");
    CHECK(app_sessions_by_tls(tls_backends().cloud, database) == "1 on TLS, 0 plain\n");
    proxy.stop();
    INFO(proxy.log());
    CHECK_FALSE(std::regex_search(proxy.log(), std::regex{R"(\.\d{3} (warning|error|critical) )"}));
  }
}

TEST_CASE_METHOD(IntegrationTest, "pgdual verify and ledger pruning reach TLS-only backends as the proxy does",
                 "[integration][tls]") {
  auto settings = tls_settings("localhost", ssl_lines("verify-full", test_ca().root_cert));
  settings.ledger_prune_interval_ms = 1000;
  const auto database = tls_database("verify", settings);
  for (const auto* server : {&tls_backends().onprem, &tls_backends().cloud}) {
    static_cast<void>(server->run_sql(database, "INSERT INTO pgdual.ledger (idempotency_key, applied_at) VALUES ("
                                                "'01890a5d-ac96-774b-bcce-b302099a0001', now() - interval '10 days')"));
  }
  auto& proxy = start_proxy(settings);
  auto client = client_of(proxy, database);
  client.execute("CREATE TABLE t (id int PRIMARY KEY, v text)");
  client.execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g");
  const auto verify = [&] {
    return run({PGDUAL_BINARY, "verify", "--config", proxy.config_file().string(), "--database", database}, {}, 60s);
  };
  const auto same = verify();
  INFO(same.describe());
  CHECK(same.exit_code == 0);
  static_cast<void>(tls_backends().cloud.run_sql(database, "DELETE FROM t WHERE id = 7"));
  const auto differs = verify();
  INFO(differs.describe());
  CHECK(differs.exit_code == 1);

  INFO(proxy.log());
  for (const auto* backend : {"onprem", "cloud"}) {
    CHECK(proxy.log_shows_within("ledger pruning: 1 entries deleted in database \"" + database + "\" on backend \"" +
                                     backend + "\"",
                                 10s));
  }
}

TEST_CASE_METHOD(IntegrationTest, "A backend whose certificate does not chain to sslrootcert is unavailable",
                 "[integration][tls]") {
  const auto& ca = test_ca();
  const auto settings = tls_settings("localhost", ssl_lines("verify-full", ca.root_cert));
  const auto database = tls_database("unrelated_root", settings);

  SECTION("the primary: the client gets 08006 naming it") {
    auto untrusting = settings;
    untrusting.onprem_lines = ssl_lines("verify-full", ca.unrelated_root_cert);
    auto& proxy = start_proxy(untrusting);
    const auto error = login_error(proxy.endpoint(kAppUser, kAppPassword, database));
    INFO(error);
    CHECK(error.find("FATAL:  08006: TLS handshake with backend \"onprem\" at localhost:" +
                     std::to_string(tls_backends().onprem.port()) + " failed: certificate verify failed") !=
          std::string::npos);
  }
  SECTION("the mirror: the session goes on without it, and says why") {
    auto untrusting = settings;
    untrusting.cloud_lines = ssl_lines("verify-ca", ca.unrelated_root_cert);
    auto& proxy = start_proxy(untrusting);
    auto client = client_of(proxy, database);
    CHECK(client.query_value("SELECT 1") == "1");
    INFO(proxy.log());
    CHECK(proxy.log_shows_within("the mirror is unavailable: TLS handshake with backend \"cloud\"", 10s));
  }
}

TEST_CASE_METHOD(IntegrationTest, "sslmode require against a server without TLS fails with 08006 and says why",
                 "[integration][tls]") {
  const auto database = fresh_database("tls_refused");
  auto settings = default_settings();
  settings.onprem_lines = ssl_lines("require");
  auto& proxy = start_proxy(settings);
  const auto error = login_error(proxy.endpoint(kAppUser, kAppPassword, database));
  INFO(error);
  CHECK(error.find("FATAL:  08006: backend \"onprem\" at 127.0.0.1:" + std::to_string(backends().onprem.port()) +
                   ": server does not support SSL, but SSL was required") != std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "With sslmode disable a TLS-only backend refuses pgdual's login itself",
                 "[integration][tls]") {
  const auto database = tls_database("plain_refused", tls_settings("localhost", ssl_lines("verify-full",
                                                                                          test_ca().root_cert)));
  auto& proxy = start_proxy(tls_settings("127.0.0.1", ""));
  const auto error = login_error(proxy.endpoint(kAppUser, kAppPassword, database));
  INFO(error);
  CHECK(error.find("FATAL:  28000: no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"" + database +
                   "\", no encryption") != std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "A client's cancel reaches TLS-only backends in plain text",
                 "[integration][tls]") {
  const auto settings = tls_settings("localhost", ssl_lines("verify-full", test_ca().root_cert));
  const auto database = tls_database("cancel", settings);
  auto& proxy = start_proxy(settings);
  const auto endpoint = proxy.endpoint(kAppUser, kAppPassword, database);
  const auto port = std::to_string(endpoint.port);
  const std::array<const char*, 7> keywords{"host", "port", "user", "password", "dbname", "sslmode", nullptr};
  const std::array<const char*, 7> values{endpoint.host.c_str(), port.c_str(), kAppUser, kAppPassword,
                                          database.c_str(), "disable", nullptr};
  std::unique_ptr<PGconn, decltype(&PQfinish)> connection{PQconnectdbParams(keywords.data(), values.data(), 0),
                                                          &PQfinish};
  REQUIRE(PQstatus(connection.get()) == CONNECTION_OK);
  REQUIRE(PQsendQuery(connection.get(), "SELECT pg_sleep(30)") == 1);
  REQUIRE(wait_until(
      [&] {
        return tls_backends().onprem.run_sql(database, "SELECT count(*) FROM pg_stat_activity WHERE query = "
                                                       "'SELECT pg_sleep(30)' AND state = 'active'") == "1\n";
      },
      10s));
  std::unique_ptr<PGcancel, decltype(&PQfreeCancel)> cancel{PQgetCancel(connection.get()), &PQfreeCancel};
  std::array<char, 256> cancel_error{};
  REQUIRE(PQcancel(cancel.get(), cancel_error.data(), static_cast<int>(cancel_error.size())) == 1);
  std::unique_ptr<PGresult, decltype(&PQclear)> result{PQgetResult(connection.get()), &PQclear};
  const char* sqlstate = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
  CHECK(std::string{sqlstate != nullptr ? sqlstate : "(none)"} == "57014");
  while (std::unique_ptr<PGresult, decltype(&PQclear)>{PQgetResult(connection.get()), &PQclear}) {
  }
}

TEST_CASE("BackendConnection::open reads one byte of answer to its SSLRequest, and only 'S' goes on",
          "[integration][tls]") {
  struct Row {
    std::string answer;
    std::string message;
  };
  // libpq's wording for each; the byte after 'S' arrives before the handshake, in the clear.
  for (const auto& [answer, message] :
       {Row{"N", "server does not support SSL, but SSL was required"},
        Row{"E", "server sent an error response during SSL exchange"},
        Row{"X", "received invalid response to SSL negotiation"},
        Row{"SZ", "received unencrypted data after SSL response"}}) {
    INFO("answer " << answer);
    asio::io_context io;
    auto acceptor = listening_on(io, "127.0.0.1");
    const auto backend = backend_at(acceptor, config::SslMode::require);
    asio::co_spawn(io, fake_backend(acceptor, answer, nullptr), asio::detached);
    CHECK(failure_of(io, open_backend(backend)) ==
          "backend \"onprem\" at 127.0.0.1:" + std::to_string(backend.port) + ": " + message);
  }
}

TEST_CASE("After 'S' the login goes over TLS, checked as sslmode says", "[integration][tls]") {
  for (const auto mode : {config::SslMode::require, config::SslMode::verify_ca, config::SslMode::verify_full}) {
    INFO("sslmode " << static_cast<int>(mode));
    asio::io_context io;
    auto acceptor = listening_on(io, "127.0.0.1");
    const auto backend = backend_at(acceptor, mode, test_ca().root_cert);
    asio::co_spawn(io, fake_backend(acceptor, "S", server_context()), asio::detached);
    CHECK(failure_of(io, open_backend(backend)) == kFakeRefusal);
  }
}

TEST_CASE("connect_timeout bounds the TLS handshake", "[integration][tls]") {
  asio::io_context io;
  auto acceptor = listening_on(io, "127.0.0.1");
  auto backend = backend_at(acceptor, config::SslMode::require);
  backend.connect_timeout = 300ms;
  asio::co_spawn(io, fake_backend(acceptor, "S", nullptr), asio::detached);  // says yes, then never handshakes
  CHECK(failure_of(io, open_backend(backend)) == "could not log in to backend \"onprem\" at 127.0.0.1:" +
                                                     std::to_string(backend.port) + ": no answer within 300 ms");
}

TEST_CASE("verify-full refuses a certificate that does not name the host, verify-ca does not ask",
          "[integration][tls]") {
  for (const auto mode : {config::SslMode::verify_full, config::SslMode::verify_ca}) {
    INFO("sslmode " << static_cast<int>(mode));
    asio::io_context io;
    auto acceptor = listening_on(io, "127.0.0.2");  // loopback too, but not in the certificate
    const auto backend = backend_at(acceptor, mode, test_ca().root_cert);
    asio::co_spawn(io, fake_backend(acceptor, "S", server_context()), asio::detached);
    const auto expected = mode == config::SslMode::verify_ca
                              ? std::string{kFakeRefusal}
                              : "TLS handshake with backend \"onprem\" at 127.0.0.2:" + std::to_string(backend.port) +
                                    " failed: certificate verify failed (SSL routines)";
    CHECK(failure_of(io, open_backend(backend)) == expected);
  }
}

TEST_CASE("sslsni names the host in the TLS handshake, and false leaves the name out", "[integration][tls]") {
  for (const bool sni : {true, false}) {
    INFO("sslsni " << sni);
    asio::io_context io;
    auto acceptor = listening_on(io, "127.0.0.1");
    auto backend = backend_at(acceptor, config::SslMode::verify_full, test_ca().root_cert);
    backend.host = "localhost";
    backend.sslsni = sni;
    auto server = server_context();
    std::string seen = "(not asked)";
    // SSL_CTX_set_tlsext_servername_callback and _arg, without the macros' C casts.
    SSL_CTX_callback_ctrl(server->native_handle(), SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                          reinterpret_cast<void (*)()>(record_server_name));
    SSL_CTX_ctrl(server->native_handle(), SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, &seen);
    asio::co_spawn(io, fake_backend(acceptor, "S", server), asio::detached);
    CHECK(failure_of(io, open_backend(backend)) == kFakeRefusal);
    CHECK(seen == (sni ? "localhost" : "(none)"));
  }
}

}  // namespace pgdual::test
