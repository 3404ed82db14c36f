#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

#include "protocol/arrays.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/expected.h"
#include "protocol/frame.h"
#include "protocol/writer.h"

namespace pgdual::protocol {

/// Messages the frontend sends once the session is established. The startup
/// packets are in startup.h, the 'p' authentication answers in
/// authentication.h, and CopyData / CopyDone (the same in both directions) in
/// backend_messages.h.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html
///
/// Every decoder takes the body of one frame (frame.h) and borrows from it;
/// every encoder appends one complete message, tag and length included.
/// Unless listed otherwise, a decoder fails with
///   CodecError::truncated           a field runs past the end of the body
///   CodecError::missing_terminator  a String field has no NUL
///   CodecError::trailing_bytes      bytes follow the last field
/// and never with need_more_input: the frame is already complete.

/// Query ('Q'): a simple-protocol query string, possibly several statements.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-QUERY
struct Query {
  std::string_view query;
};

/// Parse ('P'): create a prepared statement.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-PARSE
struct Parse {
  std::string_view statement_name;  ///< empty selects the unnamed statement
  std::string_view query;
  Int32Array parameter_type_oids;   ///< 0 leaves a type unspecified
};

/// Bind ('B'): create a portal from a prepared statement and parameter values.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-BIND
struct Bind {
  std::string_view portal_name;     ///< empty selects the unnamed portal
  std::string_view statement_name;  ///< empty selects the unnamed statement
  Int16Array parameter_formats;     ///< none: all text; one: applies to all; else one per parameter
  ValueList parameters;             ///< std::nullopt is NULL
  Int16Array result_formats;        ///< same convention as parameter_formats
};

/// What Describe and Close act on.
enum class ObjectKind : char { statement = 'S', portal = 'P' };

/// Describe ('D'): ask for a statement's or portal's description.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-DESCRIBE
struct Describe {
  ObjectKind kind = ObjectKind::statement;
  std::string_view name;
};

/// Execute ('E'): run a portal.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-EXECUTE
struct Execute {
  std::string_view portal_name;
  std::int32_t max_rows = 0;  ///< 0 means no limit
};

/// Close ('C'): close a prepared statement or portal.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-CLOSE
struct Close {
  ObjectKind kind = ObjectKind::statement;
  std::string_view name;
};

/// Flush ('H'): send what is pending; asks for no response itself.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-FLUSH
struct Flush {};
/// Sync ('S'): end of an extended-protocol batch; answered by ReadyForQuery.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-SYNC
struct Sync {};
/// Terminate ('X'): the client is closing the connection.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-TERMINATE
struct Terminate {};

/// CopyFail ('f'): abort COPY FROM STDIN with an error message.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-COPYFAIL
struct CopyFail {
  std::string_view error_message;
};

/// FunctionCall ('F'): the legacy fast-path function call.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-FUNCTIONCALL
struct FunctionCall {
  std::int32_t function_oid = 0;
  Int16Array argument_formats;  ///< same convention as Bind::parameter_formats
  ValueList arguments;
  std::int16_t result_format = 0;
};

[[nodiscard]] Expected<Query> decode_query(Bytes body) noexcept;
[[nodiscard]] Expected<Parse> decode_parse(Bytes body) noexcept;
/// @retval CodecError::negative_count  a parameter length below -1
[[nodiscard]] Expected<Bind> decode_bind(Bytes body) noexcept;
/// @retval CodecError::unexpected_value  a kind byte other than 'S' or 'P'
[[nodiscard]] Expected<Describe> decode_describe(Bytes body) noexcept;
[[nodiscard]] Expected<Execute> decode_execute(Bytes body) noexcept;
/// @retval CodecError::unexpected_value  a kind byte other than 'S' or 'P'
[[nodiscard]] Expected<Close> decode_close(Bytes body) noexcept;
[[nodiscard]] Expected<Flush> decode_flush(Bytes body) noexcept;
[[nodiscard]] Expected<Sync> decode_sync(Bytes body) noexcept;
[[nodiscard]] Expected<Terminate> decode_terminate(Bytes body) noexcept;
[[nodiscard]] Expected<CopyFail> decode_copy_fail(Bytes body) noexcept;
/// @retval CodecError::negative_count  an argument length below -1
[[nodiscard]] Expected<FunctionCall> decode_function_call(Bytes body) noexcept;

void encode(const Query& message, Writer& out);
void encode(const Parse& message, Writer& out);
void encode(const Bind& message, Writer& out);
void encode(const Describe& message, Writer& out);
void encode(const Execute& message, Writer& out);
void encode(const Close& message, Writer& out);
void encode(const Flush& message, Writer& out);
void encode(const Sync& message, Writer& out);
void encode(const Terminate& message, Writer& out);
void encode(const CopyFail& message, Writer& out);
void encode(const FunctionCall& message, Writer& out);

/// Any message a frontend may send once authentication is over.
using FrontendMessage = std::variant<Query, Parse, Bind, Describe, Execute, Close, Flush, Sync, Terminate,
                                     CopyData, CopyDone, CopyFail, FunctionCall>;

/// Decodes a frame from the frontend by its tag.
///
/// @retval CodecError::unknown_tag  not a frontend message tag; also 'p', whose
///         meaning depends on the authentication request it answers and which
///         PostgreSQL rejects once authentication is over
/// @retval the errors of the message's own decoder
[[nodiscard]] Expected<FrontendMessage> decode_frontend_message(const Frame& frame) noexcept;

void encode(const FrontendMessage& message, Writer& out);

}  // namespace pgdual::protocol
