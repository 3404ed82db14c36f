#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

/// The DDL that pgdual's sessions carry through the primary's WAL (docs/wal-mirror.md, "What WAL does
/// not carry"): in the same transaction as a client's DDL, just before it, a transactional logical
/// message with prefix conflict::kSchemaChangeMessagePrefix whose content is
///
///   <role> '\n' <search_path> '\n' <statement text>
///
/// the role being the primary's current_user, the search_path its current_setting('search_path'),
/// and the text as the client sent it (newlines and several statements included). Pure: the apply
/// (ApplyConnection) runs what this decodes.
namespace pgdual::proxy {

/// One decoded message; the views borrow from its content.
struct DdlMessage {
  std::string_view role;         ///< never empty
  std::string_view search_path;  ///< may be empty: the primary's session had none
  std::string_view statement;    ///< never blank
};

/// Why content is no DDL message; never quotes the content, which holds statement constants.
using DdlMessageError = std::string;

/// Fails on fewer than two newlines, an empty role, a statement of nothing but white space, or a NUL
/// byte anywhere (the statement could not be sent whole).
[[nodiscard]] tl::expected<DdlMessage, DdlMessageError> decode_ddl_message(std::string_view content);

/// Whether `statement` may travel in a non-transactional message, to run on the mirror outside any
/// transaction block: one statement, that libpg_query parses, that changes the schema and must run
/// alone (CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY). pgdual sends every other DDL inside
/// its transaction, which a non-transactional message is decoded apart from, even rolled back.
[[nodiscard]] bool runs_alone(std::string_view statement);

/// What reports and logs may say of `statement`: libpg_query's normalized text (constants replaced
/// by $n, comments removed), or, for a text it cannot parse (syntax newer than its PostgreSQL, say),
/// its first words while they are letters only, two at most and upper-cased ("CREATE TABLE"), or
/// "DDL" when there are none.
[[nodiscard]] std::string ddl_summary(std::string_view statement);

}  // namespace pgdual::proxy
