#include "protocol/backend_messages.h"

#include <algorithm>

#include "protocol/decode_helpers.h"
#include "protocol/message_tags.h"
#include "protocol/reader.h"

namespace pgdual::protocol {
namespace {

// The smallest FieldDescription: an empty name's NUL plus the fixed fields.
constexpr std::size_t kMinFieldDescriptionSize = 1 + 4 + 2 + 4 + 2 + 4 + 2;

using detail::decode_empty;
using detail::encode_empty;
using detail::finished;

template <class Message>
Expected<Message> decode_copy_response(Bytes body) noexcept {
  Reader in{body};
  Message message;
  message.overall_format = in.uint8();
  message.column_formats = read_int16_array(in);
  if (message.overall_format > 1) in.fail(CodecError::unexpected_value);
  return finished(in, message);
}

void encode_copy_response(char tag, const CopyResponseFormat& message, Writer& out) {
  out.begin(tag);
  out.uint8(message.overall_format);
  write_int16_array(out, message.column_formats);
  out.finish();
}

FieldDescription read_field_description(Reader& in) noexcept {
  FieldDescription field;
  field.name = in.cstring();
  field.table_oid = in.int32();
  field.column_attribute_number = in.int16();
  field.data_type_oid = in.int32();
  field.data_type_size = in.int16();
  field.type_modifier = in.int32();
  field.format_code = in.int16();
  return field;
}

template <class Message>
Expected<BackendMessage> as_backend_message(Expected<Message> decoded) noexcept {
  if (!decoded) return unexpected{decoded.error()};
  return BackendMessage{std::move(*decoded)};
}

}  // namespace

OwnedDataRow::OwnedDataRow(const DataRow& row) {
  columns.reserve(row.columns.size());
  for (const auto column : row.columns) {
    if (column) {
      columns.emplace_back(std::in_place, as_text(*column));
    } else {
      columns.emplace_back(std::nullopt);
    }
  }
}

Expected<ParameterStatus> decode_parameter_status(Bytes body) noexcept {
  Reader in{body};
  ParameterStatus message;
  message.name = in.cstring();
  message.value = in.cstring();
  return finished(in, message);
}

Expected<BackendKeyData> decode_backend_key_data(Bytes body) noexcept {
  Reader in{body};
  BackendKeyData message;
  message.process_id = in.int32();
  message.secret_key = in.int32();
  return finished(in, message);
}

Expected<ReadyForQuery> decode_ready_for_query(Bytes body) noexcept {
  Reader in{body};
  const auto status = static_cast<TransactionStatus>(in.uint8());
  switch (status) {
    case TransactionStatus::idle:
    case TransactionStatus::in_transaction:
    case TransactionStatus::failed:
      break;
    default:
      in.fail(CodecError::unexpected_value);
  }
  return finished(in, ReadyForQuery{status});
}

void encode(const ParameterStatus& message, Writer& out) {
  out.begin(backend_tag::kParameterStatus);
  out.cstring(message.name);
  out.cstring(message.value);
  out.finish();
}

void encode(const BackendKeyData& message, Writer& out) {
  out.begin(backend_tag::kBackendKeyData);
  out.int32(message.process_id);
  out.int32(message.secret_key);
  out.finish();
}

void encode(const ReadyForQuery& message, Writer& out) {
  out.begin(backend_tag::kReadyForQuery);
  out.uint8(static_cast<std::uint8_t>(message.status));
  out.finish();
}

Expected<RowDescription> decode_row_description(Bytes body) noexcept {
  Reader in{body};
  const auto count = in.count16();
  RowDescription message;
  // The count comes off the wire: reserve no more than the body can hold.
  message.fields.reserve(std::min<std::size_t>(count, in.remaining() / kMinFieldDescriptionSize));
  for (std::size_t i = 0; i < count && in.ok(); ++i) message.fields.push_back(read_field_description(in));
  return finished(in, std::move(message));
}

Expected<DataRow> decode_data_row(Bytes body) noexcept {
  Reader in{body};
  DataRow message{read_value_list(in)};
  return finished(in, message);
}

Expected<CommandComplete> decode_command_complete(Bytes body) noexcept {
  Reader in{body};
  CommandComplete message{in.cstring()};
  return finished(in, message);
}

Expected<EmptyQueryResponse> decode_empty_query_response(Bytes body) noexcept {
  return decode_empty<EmptyQueryResponse>(body);
}

Expected<ParseComplete> decode_parse_complete(Bytes body) noexcept { return decode_empty<ParseComplete>(body); }

Expected<BindComplete> decode_bind_complete(Bytes body) noexcept { return decode_empty<BindComplete>(body); }

Expected<CloseComplete> decode_close_complete(Bytes body) noexcept { return decode_empty<CloseComplete>(body); }

Expected<NoData> decode_no_data(Bytes body) noexcept { return decode_empty<NoData>(body); }

Expected<PortalSuspended> decode_portal_suspended(Bytes body) noexcept {
  return decode_empty<PortalSuspended>(body);
}

Expected<ParameterDescription> decode_parameter_description(Bytes body) noexcept {
  Reader in{body};
  ParameterDescription message{read_int32_array(in)};
  return finished(in, message);
}

Expected<CopyInResponse> decode_copy_in_response(Bytes body) noexcept {
  return decode_copy_response<CopyInResponse>(body);
}

Expected<CopyOutResponse> decode_copy_out_response(Bytes body) noexcept {
  return decode_copy_response<CopyOutResponse>(body);
}

Expected<CopyBothResponse> decode_copy_both_response(Bytes body) noexcept {
  return decode_copy_response<CopyBothResponse>(body);
}

Expected<CopyData> decode_copy_data(Bytes body) noexcept { return CopyData{body}; }

Expected<CopyDone> decode_copy_done(Bytes body) noexcept { return decode_empty<CopyDone>(body); }

Expected<NotificationResponse> decode_notification_response(Bytes body) noexcept {
  Reader in{body};
  NotificationResponse message;
  message.process_id = in.int32();
  message.channel = in.cstring();
  message.payload = in.cstring();
  return finished(in, message);
}

Expected<NegotiateProtocolVersion> decode_negotiate_protocol_version(Bytes body) noexcept {
  Reader in{body};
  NegotiateProtocolVersion message;
  message.newest_minor_version = in.int32();
  const auto count = in.int32();
  if (count < 0) in.fail(CodecError::negative_count);
  for (std::int32_t i = 0; i < count && in.ok(); ++i) message.unrecognized_options.push_back(in.cstring());
  return finished(in, std::move(message));
}

Expected<FunctionCallResponse> decode_function_call_response(Bytes body) noexcept {
  Reader in{body};
  FunctionCallResponse message{read_value(in)};
  return finished(in, message);
}

void encode(const RowDescription& message, Writer& out) {
  out.begin(backend_tag::kRowDescription);
  write_count16(out, message.fields.size());
  for (const auto& field : message.fields) {
    out.cstring(field.name);
    out.int32(field.table_oid);
    out.int16(field.column_attribute_number);
    out.int32(field.data_type_oid);
    out.int16(field.data_type_size);
    out.int32(field.type_modifier);
    out.int16(field.format_code);
  }
  out.finish();
}

void encode(const DataRow& message, Writer& out) {
  out.begin(backend_tag::kDataRow);
  write_value_list(out, message.columns);
  out.finish();
}

void encode(const OwnedDataRow& message, Writer& out) {
  out.begin(backend_tag::kDataRow);
  write_count16(out, message.columns.size());
  for (const auto& column : message.columns) {
    write_value(out, column ? Value{as_bytes(*column)} : std::nullopt);
  }
  out.finish();
}

void encode(const CommandComplete& message, Writer& out) {
  out.begin(backend_tag::kCommandComplete);
  out.cstring(message.command_tag);
  out.finish();
}

void encode(const EmptyQueryResponse&, Writer& out) { encode_empty(backend_tag::kEmptyQueryResponse, out); }

void encode(const ParseComplete&, Writer& out) { encode_empty(backend_tag::kParseComplete, out); }

void encode(const BindComplete&, Writer& out) { encode_empty(backend_tag::kBindComplete, out); }

void encode(const CloseComplete&, Writer& out) { encode_empty(backend_tag::kCloseComplete, out); }

void encode(const NoData&, Writer& out) { encode_empty(backend_tag::kNoData, out); }

void encode(const PortalSuspended&, Writer& out) { encode_empty(backend_tag::kPortalSuspended, out); }

void encode(const ParameterDescription& message, Writer& out) {
  out.begin(backend_tag::kParameterDescription);
  write_int32_array(out, message.parameter_type_oids);
  out.finish();
}

void encode(const CopyInResponse& message, Writer& out) {
  encode_copy_response(backend_tag::kCopyInResponse, message, out);
}

void encode(const CopyOutResponse& message, Writer& out) {
  encode_copy_response(backend_tag::kCopyOutResponse, message, out);
}

void encode(const CopyBothResponse& message, Writer& out) {
  encode_copy_response(backend_tag::kCopyBothResponse, message, out);
}

void encode(const CopyData& message, Writer& out) {
  out.begin(backend_tag::kCopyData);
  out.bytes(message.data);
  out.finish();
}

void encode(const CopyDone&, Writer& out) { encode_empty(backend_tag::kCopyDone, out); }

void encode(const NotificationResponse& message, Writer& out) {
  out.begin(backend_tag::kNotificationResponse);
  out.int32(message.process_id);
  out.cstring(message.channel);
  out.cstring(message.payload);
  out.finish();
}

void encode(const NegotiateProtocolVersion& message, Writer& out) {
  out.begin(backend_tag::kNegotiateProtocolVersion);
  out.int32(message.newest_minor_version);
  out.int32(static_cast<std::int32_t>(message.unrecognized_options.size()));
  for (auto option : message.unrecognized_options) out.cstring(option);
  out.finish();
}

void encode(const FunctionCallResponse& message, Writer& out) {
  out.begin(backend_tag::kFunctionCallResponse);
  write_value(out, message.result);
  out.finish();
}

Expected<BackendMessage> decode_backend_message(const Frame& frame) noexcept {
  const auto body = frame.body;
  switch (frame.tag) {
    case backend_tag::kAuthenticationRequest: return as_backend_message(decode_authentication(body));
    case backend_tag::kBackendKeyData: return as_backend_message(decode_backend_key_data(body));
    case backend_tag::kParameterStatus: return as_backend_message(decode_parameter_status(body));
    case backend_tag::kReadyForQuery: return as_backend_message(decode_ready_for_query(body));
    case backend_tag::kRowDescription: return as_backend_message(decode_row_description(body));
    case backend_tag::kDataRow: return as_backend_message(decode_data_row(body));
    case backend_tag::kCommandComplete: return as_backend_message(decode_command_complete(body));
    case backend_tag::kEmptyQueryResponse: return as_backend_message(decode_empty_query_response(body));
    case backend_tag::kParseComplete: return as_backend_message(decode_parse_complete(body));
    case backend_tag::kBindComplete: return as_backend_message(decode_bind_complete(body));
    case backend_tag::kCloseComplete: return as_backend_message(decode_close_complete(body));
    case backend_tag::kNoData: return as_backend_message(decode_no_data(body));
    case backend_tag::kPortalSuspended: return as_backend_message(decode_portal_suspended(body));
    case backend_tag::kParameterDescription: return as_backend_message(decode_parameter_description(body));
    case backend_tag::kCopyInResponse: return as_backend_message(decode_copy_in_response(body));
    case backend_tag::kCopyOutResponse: return as_backend_message(decode_copy_out_response(body));
    case backend_tag::kCopyBothResponse: return as_backend_message(decode_copy_both_response(body));
    case backend_tag::kCopyData: return as_backend_message(decode_copy_data(body));
    case backend_tag::kCopyDone: return as_backend_message(decode_copy_done(body));
    case backend_tag::kNotificationResponse: return as_backend_message(decode_notification_response(body));
    case backend_tag::kNegotiateProtocolVersion: return as_backend_message(decode_negotiate_protocol_version(body));
    case backend_tag::kFunctionCallResponse: return as_backend_message(decode_function_call_response(body));
    case backend_tag::kErrorResponse: return as_backend_message(decode_error_response(body));
    case backend_tag::kNoticeResponse: return as_backend_message(decode_notice_response(body));
    default: return unexpected{CodecError::unknown_tag};
  }
}

void encode(const BackendMessage& message, Writer& out) {
  std::visit([&out](const auto& alternative) { encode(alternative, out); }, message);
}

}  // namespace pgdual::protocol
