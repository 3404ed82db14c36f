#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/arrays.h"
#include "protocol/authentication.h"
#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/error_response.h"
#include "protocol/expected.h"
#include "protocol/frame.h"
#include "protocol/writer.h"

namespace pgdual::protocol {

/// Messages the backend sends once startup has begun, except the
/// Authentication* requests (authentication.h) and ErrorResponse /
/// NoticeResponse (error_response.h).
/// https://www.postgresql.org/docs/15/protocol-message-formats.html
///
/// Every decoder takes the body of one frame (frame.h) and borrows from it;
/// every encoder appends one complete message, tag and length included.
/// Unless listed otherwise, a decoder fails with
///   CodecError::truncated           a field runs past the end of the body
///   CodecError::missing_terminator  a String field has no NUL
///   CodecError::trailing_bytes      bytes follow the last field
/// and never with need_more_input: the frame is already complete.

/// ParameterStatus ('S'): a run-time parameter's current value.
struct ParameterStatus {
  std::string_view name;
  std::string_view value;
};

/// BackendKeyData ('K'): what a CancelRequest for this session must carry.
struct BackendKeyData {
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};

/// The transaction status indicator of ReadyForQuery.
enum class TransactionStatus : char { idle = 'I', in_transaction = 'T', failed = 'E' };

/// ReadyForQuery ('Z'): the backend is ready for a new query cycle.
struct ReadyForQuery {
  TransactionStatus status = TransactionStatus::idle;
};

[[nodiscard]] Expected<ParameterStatus> decode_parameter_status(Bytes body) noexcept;
[[nodiscard]] Expected<BackendKeyData> decode_backend_key_data(Bytes body) noexcept;
/// @retval CodecError::unexpected_value  a status byte other than 'I', 'T', 'E'
[[nodiscard]] Expected<ReadyForQuery> decode_ready_for_query(Bytes body) noexcept;

void encode(const ParameterStatus& message, Writer& out);
void encode(const BackendKeyData& message, Writer& out);
void encode(const ReadyForQuery& message, Writer& out);

/// One field of a RowDescription.
struct FieldDescription {
  std::string_view name;
  std::int32_t table_oid = 0;            ///< 0 when the field is not a table column
  std::int16_t column_attribute_number = 0;  ///< 0 when the field is not a table column
  std::int32_t data_type_oid = 0;
  std::int16_t data_type_size = 0;       ///< pg_type.typlen; negative for variable width
  std::int32_t type_modifier = 0;        ///< pg_attribute.atttypmod
  std::int16_t format_code = 0;          ///< 0 text, 1 binary; 0 in a Describe reply
};

/// RowDescription ('T'): the shape of the rows that follow.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-ROWDESCRIPTION
/// Sent once per result, so a vector (of borrowed names) is affordable.
struct RowDescription {
  std::vector<FieldDescription> fields;
};

/// DataRow ('D'): one row; the columns borrow from the frame.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-DATAROW
struct DataRow {
  ValueList columns;
};

/// A DataRow that outlives its frame (kept for comparison with the other
/// backend's answer, say). Converting copies every column.
struct OwnedDataRow {
  std::vector<std::optional<std::string>> columns;  ///< std::nullopt is NULL

  OwnedDataRow() = default;
  explicit OwnedDataRow(const DataRow& row);

  friend bool operator==(const OwnedDataRow&, const OwnedDataRow&) = default;
};

/// CommandComplete ('C'): e.g. "INSERT 0 1", "SELECT 5".
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-COMMANDCOMPLETE
struct CommandComplete {
  std::string_view command_tag;
};

/// Messages without a body.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-EMPTYQUERYRESPONSE
struct EmptyQueryResponse {};
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-PARSECOMPLETE
struct ParseComplete {};
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-BINDCOMPLETE
struct BindComplete {};
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-CLOSECOMPLETE
struct CloseComplete {};
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-NODATA
struct NoData {};
/// Execute stopped at its row limit; the portal can be executed again.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-PORTALSUSPENDED
struct PortalSuspended {};

/// ParameterDescription ('t'): the parameter types of a described statement.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-PARAMETERDESCRIPTION
struct ParameterDescription {
  Int32Array parameter_type_oids;
};

/// The body shared by CopyInResponse, CopyOutResponse and CopyBothResponse.
struct CopyResponseFormat {
  std::uint8_t overall_format = 0;  ///< 0 text, 1 binary
  Int16Array column_formats;        ///< all 0 when overall_format is 0
};

/// CopyInResponse ('G'): the backend is ready to receive COPY ... FROM STDIN data.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-COPYINRESPONSE
struct CopyInResponse : CopyResponseFormat {};
/// CopyOutResponse ('H'): COPY ... TO STDOUT data follows.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-COPYOUTRESPONSE
struct CopyOutResponse : CopyResponseFormat {};
/// CopyBothResponse ('W'): streaming replication starts.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-COPYBOTHRESPONSE
struct CopyBothResponse : CopyResponseFormat {};

/// CopyData ('d') and CopyDone ('c') are the same message in both directions;
/// frontend_messages.h uses these types too.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-COPYDATA
struct CopyData {
  Bytes data;
};
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-COPYDONE
struct CopyDone {};

/// NotificationResponse ('A'): a NOTIFY on a channel this session listens to.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-NOTIFICATIONRESPONSE
struct NotificationResponse {
  std::int32_t process_id = 0;  ///< the notifying backend
  std::string_view channel;
  std::string_view payload;
};

/// NegotiateProtocolVersion ('v'): the server does not support the requested
/// minor version or some protocol options ("_pq_." parameters).
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-NEGOTIATEPROTOCOLVERSION
struct NegotiateProtocolVersion {
  std::int32_t newest_minor_version = 0;
  std::vector<std::string_view> unrecognized_options;
};

/// FunctionCallResponse ('V'): the result of a FunctionCall.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-FUNCTIONCALLRESPONSE
struct FunctionCallResponse {
  Value result;  ///< std::nullopt for a NULL result
};

[[nodiscard]] Expected<RowDescription> decode_row_description(Bytes body) noexcept;
/// @retval CodecError::negative_count  a column length below -1
[[nodiscard]] Expected<DataRow> decode_data_row(Bytes body) noexcept;
[[nodiscard]] Expected<CommandComplete> decode_command_complete(Bytes body) noexcept;
[[nodiscard]] Expected<EmptyQueryResponse> decode_empty_query_response(Bytes body) noexcept;
[[nodiscard]] Expected<ParseComplete> decode_parse_complete(Bytes body) noexcept;
[[nodiscard]] Expected<BindComplete> decode_bind_complete(Bytes body) noexcept;
[[nodiscard]] Expected<CloseComplete> decode_close_complete(Bytes body) noexcept;
[[nodiscard]] Expected<NoData> decode_no_data(Bytes body) noexcept;
[[nodiscard]] Expected<PortalSuspended> decode_portal_suspended(Bytes body) noexcept;
[[nodiscard]] Expected<ParameterDescription> decode_parameter_description(Bytes body) noexcept;
/// @retval CodecError::unexpected_value  an overall format other than 0 or 1
[[nodiscard]] Expected<CopyInResponse> decode_copy_in_response(Bytes body) noexcept;
/// @retval CodecError::unexpected_value  an overall format other than 0 or 1
[[nodiscard]] Expected<CopyOutResponse> decode_copy_out_response(Bytes body) noexcept;
/// @retval CodecError::unexpected_value  an overall format other than 0 or 1
[[nodiscard]] Expected<CopyBothResponse> decode_copy_both_response(Bytes body) noexcept;
/// Never fails: any bytes are copy data.
[[nodiscard]] Expected<CopyData> decode_copy_data(Bytes body) noexcept;
[[nodiscard]] Expected<CopyDone> decode_copy_done(Bytes body) noexcept;
[[nodiscard]] Expected<NotificationResponse> decode_notification_response(Bytes body) noexcept;
/// @retval CodecError::negative_count  a negative option count
[[nodiscard]] Expected<NegotiateProtocolVersion> decode_negotiate_protocol_version(Bytes body) noexcept;
/// @retval CodecError::negative_count  a result length below -1
[[nodiscard]] Expected<FunctionCallResponse> decode_function_call_response(Bytes body) noexcept;

void encode(const RowDescription& message, Writer& out);
void encode(const DataRow& message, Writer& out);
void encode(const OwnedDataRow& message, Writer& out);
void encode(const CommandComplete& message, Writer& out);
void encode(const EmptyQueryResponse& message, Writer& out);
void encode(const ParseComplete& message, Writer& out);
void encode(const BindComplete& message, Writer& out);
void encode(const CloseComplete& message, Writer& out);
void encode(const NoData& message, Writer& out);
void encode(const PortalSuspended& message, Writer& out);
void encode(const ParameterDescription& message, Writer& out);
void encode(const CopyInResponse& message, Writer& out);
void encode(const CopyOutResponse& message, Writer& out);
void encode(const CopyBothResponse& message, Writer& out);
void encode(const CopyData& message, Writer& out);
void encode(const CopyDone& message, Writer& out);
void encode(const NotificationResponse& message, Writer& out);
void encode(const NegotiateProtocolVersion& message, Writer& out);
void encode(const FunctionCallResponse& message, Writer& out);

/// Any message a backend may send once it has received a StartupMessage.
using BackendMessage =
    std::variant<Authentication, BackendKeyData, ParameterStatus, ReadyForQuery, RowDescription, DataRow,
                 CommandComplete, EmptyQueryResponse, ParseComplete, BindComplete, CloseComplete, NoData,
                 PortalSuspended, ParameterDescription, CopyInResponse, CopyOutResponse, CopyBothResponse,
                 CopyData, CopyDone, NotificationResponse, NegotiateProtocolVersion, FunctionCallResponse,
                 ErrorResponse, NoticeResponse>;

/// Decodes a frame from the backend by its tag.
///
/// @retval CodecError::unknown_tag  not a backend message tag
/// @retval the errors of the message's own decoder
[[nodiscard]] Expected<BackendMessage> decode_backend_message(const Frame& frame) noexcept;

void encode(const BackendMessage& message, Writer& out);

}  // namespace pgdual::protocol
