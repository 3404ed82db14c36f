#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/sha256.h"
#include "proxy/auth/backend_auth.h"
#include "proxy/auth/client_auth.h"

using pgdual::conflict::Digest;
using pgdual::conflict::hmac_sha256;
using pgdual::conflict::sha256;
using pgdual::proxy::AuthFailure;
using pgdual::proxy::check_md5_response;
using pgdual::proxy::make_scram_verifier;
using pgdual::proxy::Md5Secret;
using pgdual::proxy::parse_scram_verifier;
using pgdual::proxy::ScramSha256Client;
using pgdual::proxy::ScramSha256Server;
using pgdual::proxy::ScramVerifier;

namespace {

// RFC 7677 section 3: user "user", password "pencil".
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// The same secret as PostgreSQL stores it. StoredKey and ServerKey computed
// independently with Python's hashlib (pbkdf2_hmac, hmac, sha256); the RFC
// exchange above, signed with them, confirms them.
constexpr std::string_view kPencilVerifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

constexpr std::string_view kServerNonce = "S3rv3rN0nce";
constexpr std::string_view kClientNonce = "cl13ntN0nce";

std::vector<std::byte> bytes_of(std::string_view text) {
  const auto bytes = std::as_bytes(std::span{text});
  return {bytes.begin(), bytes.end()};
}

ScramVerifier verifier_for(std::string_view password) {
  return make_scram_verifier(password, bytes_of("fixed-test-salt!"), 4096);
}

pgdual::proxy::ScramNonceSource fixed_nonce(std::string_view nonce) {
  return [nonce] { return std::string{nonce}; };
}

ScramSha256Server server_for(std::string_view password, std::vector<std::byte> certificate_hash = {}) {
  return {"alice", verifier_for(password), std::move(certificate_hash), fixed_nonce(kServerNonce)};
}

/// A client-final-message computed by hand, for the exchanges
/// ScramSha256Client does not make (channel binding, forged attributes).
std::string client_final_for(std::string_view password, std::string_view client_first_bare,
                             std::string_view server_first, std::string_view channel_binding) {
  using namespace pgdual::proxy;
  const auto verifier = verifier_for(password);
  const auto nonce = server_first.substr(2, server_first.find(',') - 2);
  const auto without_proof = "c=" + std::string{channel_binding} + ",r=" + std::string{nonce};
  const auto salted = scram_salted_password(password, verifier.salt, verifier.iterations);
  const auto client_key = hmac_sha256(salted, "Client Key");
  const auto auth_message =
      std::string{client_first_bare} + "," + std::string{server_first} + "," + without_proof;
  const auto signature = hmac_sha256(sha256(client_key), auth_message);
  Digest proof{};
  for (std::size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ signature[i];
  return without_proof + ",p=" + base64_encode(proof);
}

std::string plain_client_first() { return "n,,n=,r=" + std::string{kClientNonce}; }
std::string full_nonce() { return std::string{kClientNonce} + std::string{kServerNonce}; }

void check_failure(const pgdual::Expected<std::string, AuthFailure>& result, std::string_view sqlstate,
                   std::string_view message, std::string_view detail = {}) {
  REQUIRE_FALSE(result);
  CHECK(result.error().sqlstate == sqlstate);
  CHECK(result.error().message == message);
  CHECK(result.error().detail == detail);
}

/// The server after a correct client-first-message, for tests of final().
ScramSha256Server server_awaiting_final() {
  auto server = server_for("secret");
  REQUIRE(server.first("SCRAM-SHA-256", plain_client_first()));
  return server;
}

}  // namespace

TEST_CASE("SCRAM server reproduces the RFC 7677 example exchange", "[unit][auth]") {
  const auto verifier = parse_scram_verifier(kPencilVerifier);
  REQUIRE(verifier);
  ScramSha256Server server{"user", *verifier, {}, fixed_nonce(kRfcServerNonce)};
  const auto server_first = server.first("SCRAM-SHA-256", kRfcClientFirst);
  REQUIRE(server_first);
  CHECK(*server_first == kRfcServerFirst);
  const auto server_final = server.final(kRfcClientFinal);
  REQUIRE(server_final);
  CHECK(*server_final == kRfcServerFinal);
}

TEST_CASE("SCRAM verifier made from pencil matches the RFC 7677 keys", "[unit][auth]") {
  const auto salt = pgdual::proxy::base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  REQUIRE(salt);
  const auto verifier = make_scram_verifier("pencil", *salt);
  CHECK(verifier.iterations == 4096);
  CHECK(pgdual::proxy::base64_encode(verifier.stored_key) == "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
  CHECK(pgdual::proxy::base64_encode(verifier.server_key) == "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
  CHECK(to_string(verifier) == kPencilVerifier);
}

TEST_CASE("SCRAM verifier survives a round trip through its text form", "[unit][auth]") {
  const auto original = make_scram_verifier("correct horse", pgdual::proxy::random_scram_salt(), 5000);
  CHECK(original.salt.size() == 16);
  const auto parsed = parse_scram_verifier(to_string(original));
  REQUIRE(parsed);
  CHECK(parsed->iterations == 5000);
  CHECK(parsed->salt == original.salt);
  CHECK(parsed->stored_key == original.stored_key);
  CHECK(parsed->server_key == original.server_key);
}

TEST_CASE("SCRAM verifier parsing names what is wrong without repeating the secret", "[unit][auth]") {
  const auto error_for = [](std::string_view text) {
    const auto parsed = parse_scram_verifier(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().find("WG5d8") == std::string::npos);
    return parsed.error();
  };
  const std::string keys = "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  CHECK(error_for("md5abc").starts_with("not a SCRAM-SHA-256 verifier"));
  CHECK(error_for("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==").find("expected SCRAM-SHA-256$") !=
        std::string::npos);
  CHECK(error_for("SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys).find("expected") != std::string::npos);
  CHECK(error_for("SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys).find("iteration count") != std::string::npos);
  CHECK(error_for("SCRAM-SHA-256$-5:W22ZaJ0SNY7soEsUEjb6gQ==" + keys).find("iteration count") !=
        std::string::npos);
  CHECK(error_for("SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys).find("iteration count") !=
        std::string::npos);
  CHECK(error_for("SCRAM-SHA-256$4096:W22Z*J0SNY7soEsUEjb6gQ==" + keys).find("salt") != std::string::npos);
  CHECK(error_for("SCRAM-SHA-256$4096:" + keys).find("salt") != std::string::npos);
  CHECK(error_for("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3Otc:"
                  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")
            .find("StoredKey") != std::string::npos);
  CHECK(error_for("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPL=")
            .find("ServerKey") != std::string::npos);
}

TEST_CASE("SCRAM server lets the existing client in with the right password", "[unit][auth]") {
  auto server = server_for("s3cret");
  auto client = ScramSha256Client::with_random_nonce("s3cret");
  const auto server_first = server.first("SCRAM-SHA-256", client.client_first_message());
  REQUIRE(server_first);
  const auto client_final = client.client_final_message(*server_first);
  REQUIRE(client_final);
  const auto server_final = server.final(*client_final);
  REQUIRE(server_final);
  CHECK(client.verify_server_final(*server_final));
}

TEST_CASE("SCRAM server refuses a wrong password at the final message with 28P01", "[unit][auth]") {
  auto server = server_for("s3cret");
  auto client = ScramSha256Client::with_random_nonce("guess");
  const auto server_first = server.first("SCRAM-SHA-256", client.client_first_message());
  REQUIRE(server_first);
  const auto client_final = client.client_final_message(*server_first);
  REQUIRE(client_final);
  check_failure(server.final(*client_final), "28P01", "password authentication failed for user \"alice\"");
}

TEST_CASE("SCRAM server answers an unknown user exactly like a wrong password", "[unit][auth]") {
  const auto secret = bytes_of("a server secret of some length");
  auto unknown = ScramSha256Server::for_unknown_user("alice", secret, {}, fixed_nonce(kServerNonce));
  auto known = server_for("s3cret");
  const auto unknown_first = unknown.first("SCRAM-SHA-256", plain_client_first());
  const auto known_first = known.first("SCRAM-SHA-256", plain_client_first());
  REQUIRE(unknown_first);
  REQUIRE(known_first);
  CHECK(unknown_first->size() == known_first->size());
  CHECK(unknown_first->ends_with(",i=4096"));

  const auto bare = plain_client_first().substr(3);
  const auto unknown_result = unknown.final(client_final_for("s3cret", bare, *unknown_first, "biws"));
  const auto known_result = known.final(client_final_for("wrong", bare, *known_first, "biws"));
  check_failure(unknown_result, "28P01", "password authentication failed for user \"alice\"");
  REQUIRE_FALSE(known_result);
  CHECK(unknown_result.error().message == known_result.error().message);
  CHECK(unknown_result.error().sqlstate == known_result.error().sqlstate);
}

TEST_CASE("SCRAM mock verifier is stable per user and secret", "[unit][auth]") {
  const auto secret = bytes_of("a server secret of some length");
  const auto other_secret = bytes_of("another secret of the same len");
  using pgdual::proxy::mock_scram_verifier;
  CHECK(mock_scram_verifier("bob", secret).salt == mock_scram_verifier("bob", secret).salt);
  CHECK(mock_scram_verifier("bob", secret).salt.size() == 16);
  CHECK(mock_scram_verifier("bob", secret).salt != mock_scram_verifier("carol", secret).salt);
  CHECK(mock_scram_verifier("bob", secret).salt != mock_scram_verifier("bob", other_secret).salt);
}

TEST_CASE("SCRAM server offers -PLUS only with a certificate hash", "[unit][auth]") {
  CHECK(server_for("x").mechanisms() == std::vector<std::string>{"SCRAM-SHA-256"});
  CHECK(server_for("x", bytes_of("hash")).mechanisms() ==
        std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
}

TEST_CASE("SCRAM server binds the exchange to its TLS certificate", "[unit][auth]") {
  const auto certificate_hash = bytes_of("0123456789abcdef0123456789abcdef");
  auto server = server_for("s3cret", certificate_hash);
  const std::string client_first = "p=tls-server-end-point,,n=,r=" + std::string{kClientNonce};
  const auto server_first = server.first("SCRAM-SHA-256-PLUS", client_first);
  REQUIRE(server_first);
  std::string cbind_input = "p=tls-server-end-point,,";
  cbind_input.append(reinterpret_cast<const char*>(certificate_hash.data()), certificate_hash.size());
  const auto cbind = pgdual::proxy::base64_encode(std::as_bytes(std::span{cbind_input}));

  SECTION("the right certificate hash passes") {
    CHECK(server.final(client_final_for("s3cret", client_first.substr(24), *server_first, cbind)));
  }
  SECTION("another certificate's hash (a man in the middle) fails with 28000") {
    const auto other = pgdual::proxy::base64_encode(bytes_of("p=tls-server-end-point,,another certificate"));
    check_failure(server.final(client_final_for("s3cret", client_first.substr(24), *server_first, other)),
                  "28000", "SCRAM channel binding check failed");
  }
}

TEST_CASE("SCRAM server refuses channel-binding flags that contradict the offer", "[unit][auth]") {
  const auto nonce = std::string{kClientNonce};
  SECTION("'y' while the server offers -PLUS is a downgrade: 28000") {
    check_failure(server_for("x", bytes_of("hash")).first("SCRAM-SHA-256", "y,,n=,r=" + nonce), "28000",
                  "SCRAM channel binding negotiation error",
                  "The client supports SCRAM channel binding but thinks the server does not.  "
                  "However, this server does support channel binding.");
  }
  SECTION("'y' without TLS is accepted, and final must repeat it") {
    auto server = server_for("s3cret");
    const auto server_first = server.first("SCRAM-SHA-256", "y,,n=,r=" + nonce);
    REQUIRE(server_first);
    CHECK(server.final(client_final_for("s3cret", "n=,r=" + nonce, *server_first, "eSws")));
  }
  SECTION("'y' first and 'n' (biws) in final") {
    auto server = server_for("s3cret");
    const auto server_first = server.first("SCRAM-SHA-256", "y,,n=,r=" + nonce);
    REQUIRE(server_first);
    check_failure(server.final(client_final_for("s3cret", "n=,r=" + nonce, *server_first, "biws")), "08P01",
                  "unexpected SCRAM channel-binding attribute in client-final-message");
  }
  SECTION("'p' with the plain mechanism") {
    check_failure(server_for("x", bytes_of("hash")).first("SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=" + nonce),
                  "08P01", "malformed SCRAM message",
                  "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes "
                  "channel binding data.");
  }
  SECTION("'n' with the -PLUS mechanism") {
    check_failure(server_for("x", bytes_of("hash")).first("SCRAM-SHA-256-PLUS", "n,,n=,r=" + nonce), "08P01",
                  "malformed SCRAM message",
                  "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel "
                  "binding data.");
  }
  SECTION("-PLUS without TLS") {
    check_failure(server_for("x").first("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=" + nonce), "08P01",
                  "client selected an invalid SASL authentication mechanism");
  }
  SECTION("a binding type other than tls-server-end-point") {
    check_failure(server_for("x", bytes_of("hash")).first("SCRAM-SHA-256-PLUS", "p=tls-unique,,n=,r=" + nonce),
                  "08P01", "unsupported SCRAM channel-binding type \"tls-unique\"");
  }
}

TEST_CASE("SCRAM server refuses malformed client-first-messages", "[unit][auth]") {
  auto server = server_for("x");
  SECTION("an unknown mechanism") {
    check_failure(server.first("SCRAM-SHA-1", plain_client_first()), "08P01",
                  "client selected an invalid SASL authentication mechanism");
  }
  SECTION("an empty message") {
    check_failure(server.first("SCRAM-SHA-256", ""), "08P01", "malformed SCRAM message", "The message is empty.");
  }
  SECTION("a NUL byte inside") {
    check_failure(server.first("SCRAM-SHA-256", std::string_view{"n,,n=\0,r=abc", 12}), "08P01",
                  "malformed SCRAM message", "Message length does not match input length.");
  }
  SECTION("an unknown channel-binding flag") {
    check_failure(server.first("SCRAM-SHA-256", "x,,n=,r=abc"), "08P01", "malformed SCRAM message",
                  "Unexpected channel-binding flag \"'x'\".");
  }
  SECTION("a missing comma after the flag") {
    check_failure(server.first("SCRAM-SHA-256", "n"), "08P01", "malformed SCRAM message",
                  "Comma expected, but found character \"0x00\".");
  }
  SECTION("an authorization identity") {
    check_failure(server.first("SCRAM-SHA-256", "n,a=bob,n=,r=abc"), "0A000",
                  "client uses authorization identity, but it is not supported");
  }
  SECTION("a mandatory extension") {
    check_failure(server.first("SCRAM-SHA-256", "n,,m=ext,n=,r=abc"), "0A000",
                  "client requires an unsupported SCRAM extension");
  }
  SECTION("a missing user attribute") {
    check_failure(server.first("SCRAM-SHA-256", "n,,r=abc"), "08P01", "malformed SCRAM message",
                  "Expected attribute \"n\" but found \"'r'\".");
  }
  SECTION("a missing nonce") {
    check_failure(server.first("SCRAM-SHA-256", "n,,n="), "08P01", "malformed SCRAM message",
                  "Expected attribute \"r\" but found \"0x00\".");
  }
  SECTION("an attribute without '='") {
    check_failure(server.first("SCRAM-SHA-256", "n,,n=,rabc"), "08P01", "malformed SCRAM message",
                  "Expected character \"=\" for attribute \"r\".");
  }
  SECTION("a non-printable nonce") {
    check_failure(server.first("SCRAM-SHA-256", "n,,n=,r=ab\x01"), "08P01",
                  "non-printable characters in SCRAM nonce");
  }
  SECTION("a broken extension after the nonce") {
    check_failure(server.first("SCRAM-SHA-256", "n,,n=,r=abc,1=x"), "08P01", "malformed SCRAM message",
                  "Attribute expected, but found invalid character \"'1'\".");
  }
  SECTION("a second client-first-message") {
    REQUIRE(server.first("SCRAM-SHA-256", plain_client_first()));
    check_failure(server.first("SCRAM-SHA-256", plain_client_first()), "08P01", "invalid SCRAM exchange state");
  }
}

TEST_CASE("SCRAM server ignores the SCRAM user name and optional extensions", "[unit][auth]") {
  auto server = server_for("s3cret");
  const std::string client_first = "n,,n=someone-else,r=" + std::string{kClientNonce} + ",x=extension";
  const auto server_first = server.first("SCRAM-SHA-256", client_first);
  REQUIRE(server_first);
  CHECK(*server_first == "r=" + full_nonce() + ",s=" + pgdual::proxy::base64_encode(bytes_of("fixed-test-salt!")) +
                             ",i=4096");
  CHECK(server.final(client_final_for("s3cret", client_first.substr(3), *server_first, "biws")));
}

TEST_CASE("SCRAM server refuses malformed client-final-messages", "[unit][auth]") {
  auto server = server_awaiting_final();
  const auto nonce = full_nonce();
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  SECTION("final before first") {
    check_failure(server_for("x").final("c=biws,r=" + nonce + "," + proof), "08P01", "invalid SCRAM exchange state");
  }
  SECTION("a missing channel-binding attribute") {
    check_failure(server.final("r=" + nonce + "," + proof), "08P01", "malformed SCRAM message",
                  "Expected attribute \"c\" but found \"'r'\".");
  }
  SECTION("a missing proof") {
    check_failure(server.final("c=biws,r=" + nonce), "08P01", "malformed SCRAM message",
                  "Attribute expected, but found end of string.");
  }
  SECTION("a nonce the server did not extend") {
    check_failure(server.final("c=biws,r=" + std::string{kClientNonce} + "forged," + proof), "08P01",
                  "invalid SCRAM response", "Nonce does not match.");
  }
  SECTION("a nonce without the client's part") {
    check_failure(server.final("c=biws,r=" + std::string{kServerNonce} + "," + proof), "08P01",
                  "invalid SCRAM response", "Nonce does not match.");
  }
  SECTION("a proof that is not base64") {
    check_failure(server.final("c=biws,r=" + nonce + ",p=not*base64!"), "08P01", "malformed SCRAM message",
                  "Malformed proof in client-final-message.");
  }
  SECTION("a proof of the wrong length") {
    check_failure(server.final("c=biws,r=" + nonce + ",p=AAAA"), "08P01", "malformed SCRAM message",
                  "Malformed proof in client-final-message.");
  }
  SECTION("garbage after the proof") {
    check_failure(server.final("c=biws,r=" + nonce + "," + proof + ",x"), "08P01", "malformed SCRAM message",
                  "Garbage found at the end of client-final-message.");
  }
  SECTION("a garbage proof of the right shape") {
    check_failure(server.final("c=biws,r=" + nonce + "," + proof), "28P01",
                  "password authentication failed for user \"alice\"");
  }
  SECTION("a second final after a failure") {
    REQUIRE_FALSE(server.final("c=biws,r=" + nonce + "," + proof));
    check_failure(server.final("c=biws,r=" + nonce + "," + proof), "08P01", "invalid SCRAM exchange state");
  }
}

TEST_CASE("SCRAM server refuses a proof replayed from an earlier exchange", "[unit][auth]") {
  auto earlier = server_for("s3cret");
  const auto earlier_first = earlier.first("SCRAM-SHA-256", plain_client_first());
  REQUIRE(earlier_first);
  const auto recorded = client_final_for("s3cret", plain_client_first().substr(3), *earlier_first, "biws");
  REQUIRE(earlier.final(recorded));

  ScramSha256Server later{"alice", verifier_for("s3cret"), {}, fixed_nonce("aDifferentNonce")};
  const auto later_first = later.first("SCRAM-SHA-256", plain_client_first());
  REQUIRE(later_first);
  SECTION("the whole message: its nonce is stale") {
    check_failure(later.final(recorded), "08P01", "invalid SCRAM response", "Nonce does not match.");
  }
  SECTION("its proof under the new nonce") {
    const auto proof = recorded.substr(recorded.find(",p="));
    check_failure(later.final("c=biws,r=" + std::string{kClientNonce} + "aDifferentNonce" + proof), "28P01",
                  "password authentication failed for user \"alice\"");
  }
}

TEST_CASE("md5 answers are checked against a cleartext password or a stored hash", "[unit][auth]") {
  const std::array<std::byte, 4> salt{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  // See backend_auth_test.cpp for this value's independent computation.
  constexpr std::string_view kAnswer = "md598a0412b9c31436fc53776e863350083";
  const auto stored = Md5Secret::from_stored("md54a0a68b43b6cd5cf266fa02f196e2371");  // md5("secretalice")
  REQUIRE(stored);
  CHECK(stored->password_hash == Md5Secret::from_password("alice", "secret").password_hash);

  CHECK(check_md5_response("alice", "secret", salt, kAnswer));
  CHECK(check_md5_response(*stored, salt, kAnswer));
  CHECK_FALSE(check_md5_response("alice", "Secret", salt, kAnswer));
  CHECK_FALSE(check_md5_response("bob", "secret", salt, kAnswer));
  CHECK_FALSE(check_md5_response(*stored, {}, kAnswer));
  CHECK_FALSE(check_md5_response(*stored, salt, "md598a0412b9c31436fc53776e86335008"));
  CHECK_FALSE(check_md5_response(*stored, salt, ""));
  CHECK_FALSE(check_md5_response(Md5Secret{}, salt, pgdual::proxy::md5_salted_response("", salt)));
}

TEST_CASE("md5 stored hashes must have PostgreSQL's form", "[unit][auth]") {
  CHECK_FALSE(Md5Secret::from_stored("secret"));
  CHECK_FALSE(Md5Secret::from_stored("md5"));
  CHECK_FALSE(Md5Secret::from_stored("md54A0A68B43B6CD5CF266FA02F196E2371"));
  CHECK_FALSE(Md5Secret::from_stored("md54a0a68b43b6cd5cf266fa02f196e237"));
  CHECK_FALSE(Md5Secret::from_stored("md54a0a68b43b6cd5cf266fa02f196e23711"));
  CHECK_FALSE(Md5Secret::from_stored("sha4a0a68b43b6cd5cf266fa02f196e2371"));
  const auto error = Md5Secret::from_stored("md5zzzz68b43b6cd5cf266fa02f196e2371");
  REQUIRE_FALSE(error);
  CHECK(error.error().find("zzzz") == std::string::npos);
}
