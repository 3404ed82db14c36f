// The ClientKey pgdual recovers from a client's SCRAM proof (RFC 5802: ClientProof = ClientKey XOR
// HMAC(StoredKey, AuthMessage)) and the login it makes with it where the same verifier is stored.
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/sha256.h"
#include "proxy/auth/backend_auth.h"
#include "proxy/auth/client_auth.h"
#include "proxy/auth/scram_secret.h"

namespace pgdual::proxy {
namespace {

// RFC 7677 section 3 (user "user", password "pencil") and the verifier PostgreSQL stores for it.
constexpr std::string_view kRfcClientFirstBare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcWithoutProof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcProof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kPencilVerifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

std::vector<std::byte> bytes_of(std::string_view text) {
  const auto bytes = std::as_bytes(std::span{text});
  return {bytes.begin(), bytes.end()};
}

ScramNonceSource fixed_nonce(std::string_view nonce) {
  return [nonce] { return std::string{nonce}; };
}

/// Runs `client` against `server` to the end; the server-final-message, or the failure's SQLSTATE.
std::string exchange(ScramSha256Client& client, ScramSha256Server& server) {
  const auto first = server.first("SCRAM-SHA-256", client.client_first_message());
  REQUIRE(first);
  const auto final_message = client.client_final_message(*first);
  REQUIRE(final_message);
  const auto outcome = server.final(*final_message);
  if (!outcome) return outcome.error().sqlstate;
  REQUIRE(client.verify_server_final(*outcome));
  return *outcome;
}

conflict::Digest client_key_of(std::string_view password, const ScramVerifier& verifier) {
  return conflict::hmac_sha256(scram_salted_password(password, verifier.salt, verifier.iterations), "Client Key");
}

TEST_CASE("RFC 7677's proof, XORed with its ClientSignature, gives a ClientKey that hashes to the StoredKey",
          "[unit][auth][auth_query]") {
  const auto verifier = parse_scram_verifier(kPencilVerifier);
  REQUIRE(verifier);
  const auto proof = base64_decode(kRfcProof);
  REQUIRE(proof);
  conflict::Digest proof_bytes{};
  std::copy(proof->begin(), proof->end(), proof_bytes.begin());
  const auto auth_message =
      std::string{kRfcClientFirstBare} + "," + std::string{kRfcServerFirst} + "," + std::string{kRfcWithoutProof};

  const auto client_key = xor_client_signature(proof_bytes, verifier->stored_key, auth_message);
  CHECK(conflict::sha256(client_key) == verifier->stored_key);
  CHECK(client_key == client_key_of("pencil", *verifier));
  CHECK(xor_client_signature(client_key, verifier->stored_key, auth_message) == proof_bytes);
}

TEST_CASE("The ClientKey a client proved logs in to another server that stores the same verifier",
          "[unit][auth][auth_query]") {
  const auto verifier = make_scram_verifier("s3cret", bytes_of("sixteen-byte-slt"), 4096);
  ScramSha256Server at_pgdual{"alice", verifier, {}, fixed_nonce("pgdual-nonce")};
  auto client = ScramSha256Client::with_random_nonce("s3cret");
  REQUIRE(exchange(client, at_pgdual).starts_with("v="));
  const auto key = at_pgdual.client_key();
  REQUIRE(key != nullptr);
  CHECK(key->client_key() == client_key_of("s3cret", verifier));

  ScramSha256Server at_backend{"alice", verifier, {}, fixed_nonce("backend-nonce")};
  auto on_behalf = ScramSha256Client::with_random_nonce({}, key);
  CHECK(exchange(on_behalf, at_backend).starts_with("v="));
}

TEST_CASE("No ClientKey comes out of a wrong proof or an unknown user's exchange", "[unit][auth][auth_query]") {
  const auto verifier = make_scram_verifier("s3cret", bytes_of("sixteen-byte-slt"), 4096);
  ScramSha256Server wrong{"alice", verifier, {}, fixed_nonce("n1")};
  auto guesser = ScramSha256Client::with_random_nonce("guess");
  const auto first = wrong.first("SCRAM-SHA-256", guesser.client_first_message());
  REQUIRE(first);
  const auto final_message = guesser.client_final_message(*first);
  REQUIRE(final_message);
  CHECK(wrong.final(*final_message).error().sqlstate == "28P01");
  CHECK(wrong.client_key() == nullptr);

  const std::vector<std::byte> secret(32, std::byte{7});
  auto unknown = ScramSha256Server::for_unknown_user("nobody", secret);
  auto client = ScramSha256Client::with_random_nonce("anything");
  CHECK(exchange(client, unknown) == "28P01");
  CHECK(unknown.client_key() == nullptr);
}

TEST_CASE("A ClientKey is not offered to a server whose salt or iteration count differ",
          "[unit][auth][auth_query]") {
  const auto verifier = make_scram_verifier("s3cret", bytes_of("sixteen-byte-slt"), 4096);
  const auto key = std::make_shared<const ScramClientKey>(client_key_of("s3cret", verifier), verifier);
  const auto other_salt = make_scram_verifier("s3cret", bytes_of("another-16b-salt"), 4096);
  const auto other_count = make_scram_verifier("s3cret", bytes_of("sixteen-byte-slt"), 8192);
  for (const auto& stored : {other_salt, other_count}) {
    ScramSha256Server backend{"alice", stored, {}, fixed_nonce("backend-nonce")};
    auto client = ScramSha256Client::with_random_nonce({}, key);
    const auto first = backend.first("SCRAM-SHA-256", client.client_first_message());
    REQUIRE(first);
    const auto final_message = client.client_final_message(*first);
    REQUIRE_FALSE(final_message);
    CHECK(final_message.error() == std::make_error_code(std::errc::invalid_argument));
  }
}

}  // namespace
}  // namespace pgdual::proxy
