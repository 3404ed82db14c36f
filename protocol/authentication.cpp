#include "protocol/authentication.h"

#include <algorithm>

#include "protocol/reader.h"

namespace pgdual::protocol {
namespace {

// Request codes of the 'R' message.
constexpr std::int32_t kOk = 0;
constexpr std::int32_t kCleartextPassword = 3;
constexpr std::int32_t kMd5Password = 5;
constexpr std::int32_t kSasl = 10;
constexpr std::int32_t kSaslContinue = 11;
constexpr std::int32_t kSaslFinal = 12;

template <class Message>
Expected<Authentication> finished(Reader& in, Message message) {
  if (auto error = in.finish()) return unexpected{*error};
  // Built in place: moving a temporary variant in trips GCC 12's
  // -Wmaybe-uninitialized under -fsanitize=address (a false positive).
  return Expected<Authentication>{tl::in_place, std::move(message)};
}

Expected<Authentication> decode_sasl(Reader& in) {
  AuthenticationSASL message;
  for (;;) {
    auto mechanism = in.cstring();
    if (!in.ok() || mechanism.empty()) break;
    message.mechanisms.push_back(mechanism);
  }
  return finished(in, std::move(message));
}

void begin_request(Writer& out, std::int32_t code) {
  out.begin(backend_tag::kAuthenticationRequest);
  out.int32(code);
}

}  // namespace

Expected<Authentication> decode_authentication(Bytes body) noexcept {
  Reader in{body};
  const auto code = in.int32();
  switch (code) {
    case kOk: return finished(in, AuthenticationOk{});
    case kCleartextPassword: return finished(in, AuthenticationCleartextPassword{});
    case kMd5Password: {
      AuthenticationMD5Password message;
      auto salt = in.bytes(message.salt.size());
      std::copy(salt.begin(), salt.end(), message.salt.begin());
      return finished(in, message);
    }
    case kSasl: return decode_sasl(in);
    case kSaslContinue: return finished(in, AuthenticationSASLContinue{in.rest()});
    case kSaslFinal: return finished(in, AuthenticationSASLFinal{in.rest()});
    default:
      if (!in.ok()) return unexpected{*in.finish()};
      return finished(in, AuthenticationOther{code, in.rest()});
  }
}

void encode(const AuthenticationOk&, Writer& out) {
  begin_request(out, kOk);
  out.finish();
}

void encode(const AuthenticationCleartextPassword&, Writer& out) {
  begin_request(out, kCleartextPassword);
  out.finish();
}

void encode(const AuthenticationMD5Password& message, Writer& out) {
  begin_request(out, kMd5Password);
  out.bytes(Bytes{message.salt});
  out.finish();
}

void encode(const AuthenticationSASL& message, Writer& out) {
  begin_request(out, kSasl);
  for (auto mechanism : message.mechanisms) out.cstring(mechanism);
  out.uint8(0);
  out.finish();
}

void encode(const AuthenticationSASLContinue& message, Writer& out) {
  begin_request(out, kSaslContinue);
  out.bytes(message.data);
  out.finish();
}

void encode(const AuthenticationSASLFinal& message, Writer& out) {
  begin_request(out, kSaslFinal);
  out.bytes(message.data);
  out.finish();
}

void encode(const AuthenticationOther& message, Writer& out) {
  begin_request(out, message.code);
  out.bytes(message.data);
  out.finish();
}

void encode(const Authentication& message, Writer& out) {
  std::visit([&out](const auto& request) { encode(request, out); }, message);
}

Expected<PasswordMessage> decode_password_message(Bytes body) noexcept {
  Reader in{body};
  PasswordMessage message{in.cstring()};
  if (auto error = in.finish()) return unexpected{*error};
  return message;
}

Expected<SASLInitialResponse> decode_sasl_initial_response(Bytes body) noexcept {
  Reader in{body};
  SASLInitialResponse message;
  message.mechanism = in.cstring();
  const auto length = in.int32();
  if (length < -1) in.fail(CodecError::negative_count);
  message.has_data = length >= 0;
  if (message.has_data) message.data = in.bytes(static_cast<std::size_t>(length));
  if (auto error = in.finish()) return unexpected{*error};
  return message;
}

Expected<SASLResponse> decode_sasl_response(Bytes body) noexcept { return SASLResponse{body}; }

void encode(const PasswordMessage& message, Writer& out) {
  out.begin(frontend_tag::kPasswordMessage);
  out.cstring(message.password);
  out.finish();
}

void encode(const SASLInitialResponse& message, Writer& out) {
  out.begin(frontend_tag::kSASLInitialResponse);
  out.cstring(message.mechanism);
  if (message.has_data) {
    out.int32(static_cast<std::int32_t>(message.data.size()));
    out.bytes(message.data);
  } else {
    out.int32(-1);
  }
  out.finish();
}

void encode(const SASLResponse& message, Writer& out) {
  out.begin(frontend_tag::kSASLResponse);
  out.bytes(message.data);
  out.finish();
}

}  // namespace pgdual::protocol
