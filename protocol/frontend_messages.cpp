#include "protocol/frontend_messages.h"

#include "protocol/decode_helpers.h"
#include "protocol/message_tags.h"
#include "protocol/reader.h"

namespace pgdual::protocol {
namespace {

using detail::decode_empty;
using detail::encode_empty;
using detail::finished;

ObjectKind read_object_kind(Reader& in) noexcept {
  const auto kind = static_cast<ObjectKind>(in.uint8());
  if (in.ok() && kind != ObjectKind::statement && kind != ObjectKind::portal) {
    in.fail(CodecError::unexpected_value);
  }
  return kind;
}

template <class Message>
Expected<Message> decode_kind_and_name(Bytes body) noexcept {
  Reader in{body};
  Message message;
  message.kind = read_object_kind(in);
  message.name = in.cstring();
  return finished(in, message);
}

template <class Message>
void encode_kind_and_name(char tag, const Message& message, Writer& out) {
  out.begin(tag);
  out.uint8(static_cast<std::uint8_t>(message.kind));
  out.cstring(message.name);
  out.finish();
}

template <class Message>
Expected<FrontendMessage> as_frontend_message(Expected<Message> decoded) noexcept {
  if (!decoded) return unexpected{decoded.error()};
  return FrontendMessage{*decoded};
}

}  // namespace

Expected<Query> decode_query(Bytes body) noexcept {
  Reader in{body};
  Query message{in.cstring()};
  return finished(in, message);
}

Expected<Parse> decode_parse(Bytes body) noexcept {
  Reader in{body};
  Parse message;
  message.statement_name = in.cstring();
  message.query = in.cstring();
  message.parameter_type_oids = read_int32_array(in);
  return finished(in, message);
}

Expected<Bind> decode_bind(Bytes body) noexcept {
  Reader in{body};
  Bind message;
  message.portal_name = in.cstring();
  message.statement_name = in.cstring();
  message.parameter_formats = read_int16_array(in);
  message.parameters = read_value_list(in);
  message.result_formats = read_int16_array(in);
  return finished(in, message);
}

Expected<Describe> decode_describe(Bytes body) noexcept { return decode_kind_and_name<Describe>(body); }

Expected<Execute> decode_execute(Bytes body) noexcept {
  Reader in{body};
  Execute message;
  message.portal_name = in.cstring();
  message.max_rows = in.int32();
  return finished(in, message);
}

Expected<Close> decode_close(Bytes body) noexcept { return decode_kind_and_name<Close>(body); }

Expected<Flush> decode_flush(Bytes body) noexcept { return decode_empty<Flush>(body); }

Expected<Sync> decode_sync(Bytes body) noexcept { return decode_empty<Sync>(body); }

Expected<Terminate> decode_terminate(Bytes body) noexcept { return decode_empty<Terminate>(body); }

Expected<CopyFail> decode_copy_fail(Bytes body) noexcept {
  Reader in{body};
  CopyFail message{in.cstring()};
  return finished(in, message);
}

Expected<FunctionCall> decode_function_call(Bytes body) noexcept {
  Reader in{body};
  FunctionCall message;
  message.function_oid = in.int32();
  message.argument_formats = read_int16_array(in);
  message.arguments = read_value_list(in);
  message.result_format = in.int16();
  return finished(in, message);
}

void encode(const Query& message, Writer& out) {
  out.begin(frontend_tag::kQuery);
  out.cstring(message.query);
  out.finish();
}

void encode(const Parse& message, Writer& out) {
  out.begin(frontend_tag::kParse);
  out.cstring(message.statement_name);
  out.cstring(message.query);
  write_int32_array(out, message.parameter_type_oids);
  out.finish();
}

void encode(const Bind& message, Writer& out) {
  out.begin(frontend_tag::kBind);
  out.cstring(message.portal_name);
  out.cstring(message.statement_name);
  write_int16_array(out, message.parameter_formats);
  write_value_list(out, message.parameters);
  write_int16_array(out, message.result_formats);
  out.finish();
}

void encode(const Describe& message, Writer& out) { encode_kind_and_name(frontend_tag::kDescribe, message, out); }

void encode(const Execute& message, Writer& out) {
  out.begin(frontend_tag::kExecute);
  out.cstring(message.portal_name);
  out.int32(message.max_rows);
  out.finish();
}

void encode(const Close& message, Writer& out) { encode_kind_and_name(frontend_tag::kClose, message, out); }

void encode(const Flush&, Writer& out) { encode_empty(frontend_tag::kFlush, out); }

void encode(const Sync&, Writer& out) { encode_empty(frontend_tag::kSync, out); }

void encode(const Terminate&, Writer& out) { encode_empty(frontend_tag::kTerminate, out); }

void encode(const CopyFail& message, Writer& out) {
  out.begin(frontend_tag::kCopyFail);
  out.cstring(message.error_message);
  out.finish();
}

void encode(const FunctionCall& message, Writer& out) {
  out.begin(frontend_tag::kFunctionCall);
  out.int32(message.function_oid);
  write_int16_array(out, message.argument_formats);
  write_value_list(out, message.arguments);
  out.int16(message.result_format);
  out.finish();
}

Expected<FrontendMessage> decode_frontend_message(const Frame& frame) noexcept {
  switch (frame.tag) {
    case frontend_tag::kQuery: return as_frontend_message(decode_query(frame.body));
    case frontend_tag::kParse: return as_frontend_message(decode_parse(frame.body));
    case frontend_tag::kBind: return as_frontend_message(decode_bind(frame.body));
    case frontend_tag::kDescribe: return as_frontend_message(decode_describe(frame.body));
    case frontend_tag::kExecute: return as_frontend_message(decode_execute(frame.body));
    case frontend_tag::kClose: return as_frontend_message(decode_close(frame.body));
    case frontend_tag::kFlush: return as_frontend_message(decode_flush(frame.body));
    case frontend_tag::kSync: return as_frontend_message(decode_sync(frame.body));
    case frontend_tag::kTerminate: return as_frontend_message(decode_terminate(frame.body));
    case frontend_tag::kCopyData: return as_frontend_message(decode_copy_data(frame.body));
    case frontend_tag::kCopyDone: return as_frontend_message(decode_copy_done(frame.body));
    case frontend_tag::kCopyFail: return as_frontend_message(decode_copy_fail(frame.body));
    case frontend_tag::kFunctionCall: return as_frontend_message(decode_function_call(frame.body));
    default: return unexpected{CodecError::unknown_tag};
  }
}

void encode(const FrontendMessage& message, Writer& out) {
  std::visit([&out](const auto& alternative) { encode(alternative, out); }, message);
}

}  // namespace pgdual::protocol
