#include <array>
#include <cstddef>

#include <catch2/catch.hpp>

#include "proxy/auth/backend_auth.h"

using pgdual::proxy::md5_password_response;
using pgdual::proxy::ScramSha256Client;

namespace {

// The example exchange of RFC 7677 section 3.
constexpr auto kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr auto kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr auto kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

ScramSha256Client rfc_client() { return {"pencil", "rOprNGfwEbeRWgbNEkqO", "user"}; }

}  // namespace

TEST_CASE("SCRAM client reproduces the RFC 7677 example exchange", "[unit][proxy]") {
  auto client = rfc_client();
  CHECK(client.client_first_message() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto final_message = client.client_final_message(kServerFirst);
  REQUIRE(final_message);
  CHECK(*final_message == kClientFinal);
  CHECK(client.verify_server_final(kServerFinal));
}

TEST_CASE("SCRAM client rejects a server signature made without the password", "[unit][proxy]") {
  auto client = rfc_client();
  REQUIRE(client.client_final_message(kServerFirst));
  CHECK_FALSE(client.verify_server_final("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
  CHECK_FALSE(client.verify_server_final("e=invalid-proof"));
}

TEST_CASE("SCRAM client rejects server-first messages it did not ask for", "[unit][proxy]") {
  SECTION("a nonce that does not extend the client's") {
    auto client = rfc_client();
    CHECK_FALSE(client.client_final_message("r=somethingElse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  }
  SECTION("a missing salt") {
    auto client = rfc_client();
    CHECK_FALSE(client.client_final_message("r=rOprNGfwEbeRWgbNEkqOxyz,i=4096"));
  }
  SECTION("a zero or non-numeric iteration count") {
    auto client = rfc_client();
    CHECK_FALSE(client.client_final_message("r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0"));
    CHECK_FALSE(client.client_final_message("r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4x"));
  }
  SECTION("a verification before any exchange") {
    CHECK_FALSE(rfc_client().verify_server_final(kServerFinal));
  }
}

TEST_CASE("SCRAM client nonces are fresh for every login", "[unit][proxy]") {
  auto first = ScramSha256Client::with_random_nonce("secret").client_first_message();
  auto second = ScramSha256Client::with_random_nonce("secret").client_first_message();
  CHECK(first.starts_with("n,,n=,r="));
  CHECK(first != second);
}

TEST_CASE("md5 password answer matches PostgreSQL's construction", "[unit][proxy]") {
  // md5(md5("secret" + "alice") + salt), computed independently with
  // python3 -c "import hashlib; i=hashlib.md5(b'secretalice').hexdigest();
  //   print('md5'+hashlib.md5(i.encode()+bytes([1,2,3,4])).hexdigest())"
  const std::array<std::byte, 4> salt{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  CHECK(md5_password_response("alice", "secret", salt) == "md598a0412b9c31436fc53776e863350083");
}
