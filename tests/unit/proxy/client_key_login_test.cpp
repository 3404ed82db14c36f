// A backend login with a looked-up role's ClientKey (docs/auth-lookup.md) towards a server that asks
// for a password instead of SCRAM: pgdual has no password to give, and says so naming the backend.
#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "proxy/auth/backend_auth.h"
#include "proxy/auth/client_auth.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/net/wire_io.h"
#include "tests/unit/proxy/fake_postgres.h"

namespace pgdual::proxy {
namespace {

using namespace std::chrono_literals;

std::vector<std::byte> bytes_of(std::string_view text) {
  const auto bytes = std::as_bytes(std::span{text});
  return {bytes.begin(), bytes.end()};
}

Awaitable<void> log_in(const config::BackendConfig& backend, BackendLogin login) {
  static_cast<void>(co_await BackendConnection::open(backend, nullptr, login, 1 << 20));
}

}  // namespace

TEST_CASE("A ClientKey login to a server that asks for a cleartext password fails naming the backend and role",
          "[unit][auth][auth_query]") {
  asio::io_context io;
  test::FakePostgres peer{io, "unused", {}};
  const auto verifier = make_scram_verifier("s3cret", bytes_of("sixteen-byte-slt"), 4096);
  const auto client_key =
      conflict::hmac_sha256(scram_salted_password("s3cret", verifier.salt, verifier.iterations), "Client Key");
  BackendLogin login{.user = "nurse",
                     .password = {},
                     .protocol_version = protocol::kProtocolVersion3,
                     .parameters = {{"user", "nurse"}, {"database", "chart"}},
                     .scram_client_key = std::make_shared<const ScramClientKey>(client_key, verifier)};
  config::BackendConfig backend{.name = "cloud", .host = "127.0.0.1", .port = peer.port()};

  asio::co_spawn(io, peer.serve(), asio::detached);
  std::exception_ptr failure;
  bool done = false;
  asio::co_spawn(io, log_in(backend, login), [&](std::exception_ptr error) {
    failure = error;
    done = true;
  });
  io.run_for(20s);
  REQUIRE(done);
  REQUIRE(failure);
  try {
    std::rethrow_exception(failure);
  } catch (const SessionError& error) {
    CHECK(std::string{error.sqlstate()} == "28000");
    CHECK(std::string{error.what()}.starts_with("pgdual cannot log in to backend \"cloud\" at 127.0.0.1:" +
                                                std::to_string(peer.port()) +
                                                " as role \"nurse\": the server asks for a cleartext password; give "
                                                "the role there the verifier it has on the primary"));
  }
  CHECK(peer.password_received().empty());
}

}  // namespace pgdual::proxy
