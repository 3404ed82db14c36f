#include "proxy/auth/client_auth.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <optional>
#include <cstdio>
#include <utility>

#include "conflict/sha256.h"
#include "protocol/authentication.h"
#include "protocol/sqlstate.h"
#include "proxy/auth/backend_auth.h"

namespace pgdual::proxy {
namespace {

constexpr std::string_view kTlsServerEndPoint = "tls-server-end-point";
constexpr std::string_view kVerifierPrefix = "SCRAM-SHA-256$";
constexpr std::size_t kScramSaltLength = 16;  // SCRAM_DEFAULT_SALT_LEN in PostgreSQL

constexpr std::string_view kInvalidPassword = protocol::sqlstate::kInvalidPassword;
constexpr std::string_view kProtocolViolation = protocol::sqlstate::kProtocolViolation;
constexpr std::string_view kInvalidAuthorization = protocol::sqlstate::kInvalidAuthorizationSpecification;
constexpr std::string_view kFeatureNotSupported = protocol::sqlstate::kFeatureNotSupported;

unexpected<AuthFailure> fail(std::string_view sqlstate, std::string message, std::string detail = {}) {
  return unexpected{AuthFailure{std::string{sqlstate}, std::move(message), std::move(detail)}};
}

unexpected<AuthFailure> malformed(std::string detail) {
  return fail(kProtocolViolation, "malformed SCRAM message", std::move(detail));
}

/// A byte for an error detail, as PostgreSQL's sanitize_char: 'c' when
/// printable, 0x63 otherwise.
std::string sanitize(char c) {
  if (c >= 0x21 && c <= 0x7e) return {'\'', c, '\''};
  std::array<char, 5> hex{};
  std::snprintf(hex.data(), hex.size(), "0x%02x", static_cast<unsigned char>(c));
  return hex.data();
}

/// Text for an error message, as PostgreSQL's sanitize_str: at most 30
/// characters, each non-printable one replaced with '?'.
std::string sanitize(std::string_view text) {
  std::string out{text.substr(0, 30)};
  std::replace_if(out.begin(), out.end(), [](char c) { return c < 0x21 || c > 0x7e; }, '?');
  return out;
}

/// RFC 5802's "printable": ASCII 0x21-0x7E except ','.
bool is_scram_printable(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x21 && c <= 0x7e && c != ','; });
}

bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/// PostgreSQL parses SCRAM messages as C strings, so it turns away empty ones
/// and ones with a NUL byte inside; the parsers below rely on that too.
Expected<void, AuthFailure> check_message_bytes(std::string_view message) {
  if (message.empty()) return malformed("The message is empty.");
  if (message.find('\0') != std::string_view::npos) return malformed("Message length does not match input length.");
  return {};
}

/// Reads a SCRAM message attribute by attribute, with the errors of
/// PostgreSQL's read_attr_value() and read_any_attr(). peek() gives '\0' at
/// the end, which check_message_bytes() keeps unambiguous.
class AttributeReader {
 public:
  explicit AttributeReader(std::string_view message) : message_{message} {}

  [[nodiscard]] char peek() const { return at_end() ? '\0' : message_[position_]; }
  [[nodiscard]] bool at_end() const { return position_ >= message_.size(); }
  [[nodiscard]] std::size_t position() const { return position_; }
  [[nodiscard]] std::string_view rest() const { return message_.substr(position_); }
  void skip() { ++position_; }

  /// The value of the attribute that must come next, `name`.
  Expected<std::string_view, AuthFailure> value_of(char name) {
    if (peek() != name) {
      return malformed(std::string{"Expected attribute \""} + name + "\" but found \"" + sanitize(peek()) + "\".");
    }
    skip();
    return value_after(name);
  }

  /// Whatever attribute comes next, as (name, value).
  Expected<std::pair<char, std::string_view>, AuthFailure> any() {
    const char name = peek();
    if (at_end()) return malformed("Attribute expected, but found end of string.");
    if (!is_alpha(name)) {
      return malformed("Attribute expected, but found invalid character \"" + sanitize(name) + "\".");
    }
    skip();
    auto value = value_after(name);
    if (!value) return unexpected{std::move(value.error())};
    return std::pair{name, *value};
  }

 private:
  /// Reads "=value" up to the next ',' (which it consumes) or the end.
  Expected<std::string_view, AuthFailure> value_after(char name) {
    if (peek() != '=') return malformed(std::string{"Expected character \"=\" for attribute \""} + name + "\".");
    skip();
    const auto end = std::min(message_.find(',', position_), message_.size());
    const auto value = message_.substr(position_, end - position_);
    position_ = std::min(end + 1, message_.size());
    return value;
  }

  std::string_view message_;
  std::size_t position_ = 0;
};

/// Reads the gs2-header's trailing "," after a flag, refusing an authzid.
Expected<void, AuthFailure> read_gs2_header_end(AttributeReader& reader) {
  if (reader.peek() == 'a') {
    return fail(kFeatureNotSupported, "client uses authorization identity, but it is not supported");
  }
  if (reader.peek() != ',') {
    return malformed("Unexpected attribute \"" + sanitize(reader.peek()) + "\" in client-first-message.");
  }
  reader.skip();
  return {};
}

/// Reads the gs2-header ("n,,", "y,," or "p=tls-server-end-point,,") and
/// returns its channel-binding flag, refusing flags that contradict the
/// mechanism the client chose or the server's offer.
Expected<char, AuthFailure> read_gs2_header(AttributeReader& reader, bool channel_binding_in_use,
                                            bool offers_plus) {
  static constexpr auto kPlusWithoutBinding =
      "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.";
  const char flag = reader.peek();
  switch (flag) {
    case 'n':
    case 'y':
      if (channel_binding_in_use) return malformed(kPlusWithoutBinding);
      // "y": the client can bind but believes this server cannot. When the
      // server did offer -PLUS, someone removed it from the list in transit.
      if (flag == 'y' && offers_plus) {
        return fail(kInvalidAuthorization, "SCRAM channel binding negotiation error",
                    "The client supports SCRAM channel binding but thinks the server does not.  "
                    "However, this server does support channel binding.");
      }
      reader.skip();
      if (reader.peek() != ',') {
        return malformed("Comma expected, but found character \"" + sanitize(reader.peek()) + "\".");
      }
      reader.skip();
      break;
    case 'p': {
      if (!channel_binding_in_use) {
        return malformed(
            "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel "
            "binding data.");
      }
      const auto type = reader.value_of('p');
      if (!type) return unexpected{type.error()};
      if (*type != kTlsServerEndPoint) {
        return fail(kProtocolViolation, "unsupported SCRAM channel-binding type \"" + sanitize(*type) + "\"");
      }
      break;
    }
    default:
      return malformed("Unexpected channel-binding flag \"" + sanitize(flag) + "\".");
  }
  if (auto end = read_gs2_header_end(reader); !end) return unexpected{std::move(end.error())};
  return flag;
}

std::optional<int> parse_positive_int(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 1) return std::nullopt;
  return value;
}

std::optional<std::array<std::byte, 32>> decode_key(std::string_view text) {
  const auto bytes = base64_decode(text);
  if (!bytes || bytes->size() != 32) return std::nullopt;
  std::array<std::byte, 32> key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

/// Splits "left<separator>right"; nullopt when the separator is missing.
std::optional<std::pair<std::string_view, std::string_view>> split(std::string_view text, char separator) {
  const auto at = text.find(separator);
  if (at == std::string_view::npos) return std::nullopt;
  return std::pair{text.substr(0, at), text.substr(at + 1)};
}

}  // namespace

AuthFailure password_authentication_failed(std::string_view user) {
  return {std::string{kInvalidPassword}, "password authentication failed for user \"" + std::string{user} + "\"", {}};
}

Expected<ScramVerifier, std::string> parse_scram_verifier(std::string_view text) {
  if (!text.starts_with(kVerifierPrefix)) {
    return unexpected{std::string{"not a SCRAM-SHA-256 verifier: it must start with \"SCRAM-SHA-256$\""}};
  }
  const auto halves = split(text.substr(kVerifierPrefix.size()), '$');
  const auto parameters = halves ? split(halves->first, ':') : std::nullopt;
  const auto keys = halves ? split(halves->second, ':') : std::nullopt;
  if (!parameters || !keys) {
    return unexpected{std::string{
        "malformed SCRAM-SHA-256 verifier: expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"}};
  }
  const auto iterations = parse_positive_int(parameters->first);
  if (!iterations) {
    return unexpected{std::string{"malformed SCRAM-SHA-256 verifier: the iteration count is not a positive integer"}};
  }
  auto salt = base64_decode(parameters->second);
  if (!salt || salt->empty()) {
    return unexpected{std::string{"malformed SCRAM-SHA-256 verifier: the salt is not non-empty base64"}};
  }
  const auto stored_key = decode_key(keys->first);
  if (!stored_key) {
    return unexpected{std::string{"malformed SCRAM-SHA-256 verifier: StoredKey is not 32 bytes of base64"}};
  }
  const auto server_key = decode_key(keys->second);
  if (!server_key) {
    return unexpected{std::string{"malformed SCRAM-SHA-256 verifier: ServerKey is not 32 bytes of base64"}};
  }
  return ScramVerifier{*iterations, std::move(*salt), *stored_key, *server_key};
}

std::string to_string(const ScramVerifier& verifier) {
  return std::string{kVerifierPrefix} + std::to_string(verifier.iterations) + ":" + base64_encode(verifier.salt) +
         "$" + base64_encode(verifier.stored_key) + ":" + base64_encode(verifier.server_key);
}

ScramVerifier make_scram_verifier(std::string_view password, std::span<const std::byte> salt, int iterations) {
  assert(iterations >= 1 && !salt.empty());  // the documented precondition
  const auto salted_password = scram_salted_password(password, salt, iterations);
  const auto client_key = conflict::hmac_sha256(salted_password, "Client Key");
  return {iterations, {salt.begin(), salt.end()}, conflict::sha256(client_key),
          conflict::hmac_sha256(salted_password, "Server Key")};
}

std::vector<std::byte> random_scram_salt() { return random_bytes(kScramSaltLength); }

ScramVerifier mock_scram_verifier(std::string_view user, std::span<const std::byte> server_secret, int iterations) {
  // Keyed by the secret, so nobody can tell a mock salt from a real one by
  // recomputing it. The keys never let a proof through (the exchange is
  // doomed), but are derived too so that nothing about them is special.
  const auto salt = conflict::hmac_sha256(server_secret, "pgdual mock salt:" + std::string{user});
  return {iterations,
          {salt.begin(), salt.begin() + kScramSaltLength},
          conflict::hmac_sha256(server_secret, "pgdual mock StoredKey:" + std::string{user}),
          conflict::hmac_sha256(server_secret, "pgdual mock ServerKey:" + std::string{user})};
}

ScramSha256Server::ScramSha256Server(std::string user, ScramVerifier verifier,
                                     std::vector<std::byte> tls_server_end_point, ScramNonceSource nonce_source)
    : ScramSha256Server{std::move(user), std::move(verifier), std::move(tls_server_end_point),
                        std::move(nonce_source), false} {}

ScramSha256Server::ScramSha256Server(std::string user, ScramVerifier verifier,
                                     std::vector<std::byte> tls_server_end_point, ScramNonceSource nonce_source,
                                     bool doomed)
    : user_{std::move(user)},
      verifier_{std::move(verifier)},
      tls_server_end_point_{std::move(tls_server_end_point)},
      nonce_source_{nonce_source ? std::move(nonce_source) : ScramNonceSource{random_scram_nonce}},
      doomed_{doomed} {}

ScramSha256Server ScramSha256Server::for_unknown_user(std::string user, std::span<const std::byte> server_secret,
                                                      std::vector<std::byte> tls_server_end_point,
                                                      ScramNonceSource nonce_source) {
  auto verifier = mock_scram_verifier(user, server_secret);
  return {std::move(user), std::move(verifier), std::move(tls_server_end_point), std::move(nonce_source), true};
}

std::vector<std::string> ScramSha256Server::mechanisms() const {
  if (offers_plus()) return {std::string{protocol::kScramSha256PlusName}, std::string{protocol::kScramSha256Name}};
  return {std::string{protocol::kScramSha256Name}};
}

Expected<std::string, AuthFailure> ScramSha256Server::first(std::string_view mechanism,
                                                           std::string_view client_first) {
  if (step_ != Step::awaiting_first) return fail(kProtocolViolation, "invalid SCRAM exchange state");
  step_ = Step::finished;  // until it succeeds: a failure ends the exchange
  if (auto read = read_client_first(mechanism, client_first); !read) return unexpected{std::move(read.error())};

  server_nonce_ = nonce_source_();
  server_first_ = "r=" + client_nonce_ + server_nonce_ + ",s=" + base64_encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  step_ = Step::awaiting_final;
  return server_first_;
}

Expected<void, AuthFailure> ScramSha256Server::read_client_first(std::string_view mechanism,
                                                                std::string_view client_first) {
  if (mechanism == protocol::kScramSha256PlusName && offers_plus()) {
    channel_binding_in_use_ = true;
  } else if (mechanism != protocol::kScramSha256Name) {
    return fail(kProtocolViolation, "client selected an invalid SASL authentication mechanism");
  }
  if (auto bytes = check_message_bytes(client_first); !bytes) return bytes;

  AttributeReader reader{client_first};
  const auto flag = read_gs2_header(reader, channel_binding_in_use_, offers_plus());
  if (!flag) return unexpected{flag.error()};
  channel_binding_flag_ = *flag;

  client_first_bare_ = std::string{reader.rest()};
  if (reader.peek() == 'm') return fail(kFeatureNotSupported, "client requires an unsupported SCRAM extension");
  // PostgreSQL takes the user from the startup packet and ignores this one.
  if (auto ignored_user = reader.value_of('n'); !ignored_user) return unexpected{std::move(ignored_user.error())};
  const auto nonce = reader.value_of('r');
  if (!nonce) return unexpected{nonce.error()};
  if (!is_scram_printable(*nonce)) return fail(kProtocolViolation, "non-printable characters in SCRAM nonce");
  client_nonce_ = std::string{*nonce};
  // Optional extensions may follow; like PostgreSQL, read and ignore them.
  while (!reader.at_end()) {
    if (auto extension = reader.any(); !extension) return unexpected{std::move(extension.error())};
  }
  return {};
}

Expected<std::string, AuthFailure> ScramSha256Server::final(std::string_view client_final) {
  if (step_ != Step::awaiting_final) return fail(kProtocolViolation, "invalid SCRAM exchange state");
  step_ = Step::finished;
  if (auto bytes = check_message_bytes(client_final); !bytes) return unexpected{std::move(bytes.error())};

  AttributeReader reader{client_final};
  const auto binding = reader.value_of('c');
  if (!binding) return unexpected{binding.error()};
  if (auto checked = check_channel_binding(*binding); !checked) return unexpected{std::move(checked.error())};
  const auto nonce = reader.value_of('r');
  if (!nonce) return unexpected{nonce.error()};

  // Skip extensions up to the proof, which must come last.
  std::size_t proof_start = 0;
  std::pair<char, std::string_view> attribute{};
  do {
    proof_start = reader.position();
    auto next = reader.any();
    if (!next) return unexpected{std::move(next.error())};
    attribute = *next;
  } while (attribute.first != 'p');
  const auto proof = decode_key(attribute.second);
  if (!proof) return malformed("Malformed proof in client-final-message.");
  if (!reader.at_end()) return malformed("Garbage found at the end of client-final-message.");

  if (*nonce != client_nonce_ + server_nonce_) {
    return fail(kProtocolViolation, "invalid SCRAM response", "Nonce does not match.");
  }
  // proof_start follows the ',' that ends client-final-message-without-proof.
  return check_proof(client_final.substr(0, proof_start - 1), *proof);
}

Expected<void, AuthFailure> ScramSha256Server::check_channel_binding(std::string_view attribute) const {
  if (channel_binding_in_use_) {
    // cbind-input: the gs2-header the client sent, then the certificate hash.
    std::string input{"p=tls-server-end-point,,"};
    input.append(reinterpret_cast<const char*>(tls_server_end_point_.data()), tls_server_end_point_.size());
    if (attribute != base64_encode(std::as_bytes(std::span{input}))) {
      return fail(kInvalidAuthorization, "SCRAM channel binding check failed");
    }
    return {};
  }
  // Without binding, "c=" must repeat the first message's gs2-header:
  // "biws" is base64("n,,"), "eSws" base64("y,,").
  const bool repeats_flag =
      (attribute == "biws" && channel_binding_flag_ == 'n') || (attribute == "eSws" && channel_binding_flag_ == 'y');
  if (!repeats_flag) {
    return fail(kProtocolViolation, "unexpected SCRAM channel-binding attribute in client-final-message");
  }
  return {};
}

Expected<std::string, AuthFailure> ScramSha256Server::check_proof(std::string_view without_proof,
                                                                 const std::array<std::byte, 32>& proof) {
  const auto auth_message = client_first_bare_ + "," + server_first_ + "," + std::string{without_proof};
  auto client_key = xor_client_signature(proof, verifier_.stored_key, auth_message);
  const auto presented_stored_key = conflict::sha256(client_key);
  // Compute and compare even for an unknown user, so both take the same time.
  const bool proof_matches =
      CRYPTO_memcmp(presented_stored_key.data(), verifier_.stored_key.data(), presented_stored_key.size()) == 0;
  if (proof_matches && !doomed_) client_key_ = std::make_shared<const ScramClientKey>(client_key, verifier_);
  wipe(client_key);
  if (!proof_matches || doomed_) return unexpected{password_authentication_failed(user_)};
  return "v=" + base64_encode(conflict::hmac_sha256(verifier_.server_key, auth_message));
}

Md5Secret Md5Secret::from_password(std::string_view user, std::string_view password) {
  return {md5_hex(std::string{password} + std::string{user})};
}

Expected<Md5Secret, std::string> Md5Secret::from_stored(std::string_view stored) {
  const auto hash = stored.substr(std::min<std::size_t>(3, stored.size()));
  const bool well_formed = stored.starts_with("md5") && hash.size() == 32 &&
                           std::all_of(hash.begin(), hash.end(), [](char c) {
                             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                           });
  if (!well_formed) {
    return unexpected{std::string{"not an md5 password hash: expected \"md5\" and 32 lowercase hex digits"}};
  }
  return Md5Secret{std::string{hash}};
}

bool check_md5_response(const Md5Secret& secret, std::array<std::byte, 4> salt, std::string_view response) {
  // An empty (default) secret would accept md5(salt), which anyone can compute.
  if (secret.password_hash.size() != 32) return false;
  const auto expected = md5_salted_response(secret.password_hash, salt);
  return response.size() == expected.size() &&
         CRYPTO_memcmp(response.data(), expected.data(), expected.size()) == 0;
}

bool check_md5_response(std::string_view user, std::string_view password, std::array<std::byte, 4> salt,
                        std::string_view response) {
  return check_md5_response(Md5Secret::from_password(user, password), salt, response);
}

}  // namespace pgdual::proxy
