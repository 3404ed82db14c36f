#pragma once

namespace pgdual::protocol::sqlstate {

// The SQLSTATEs pgdual itself answers with, named as PostgreSQL's errcodes.txt names them, so
// that a client sees the code PostgreSQL would send in the same case. What an error code means
// for pgdual's decisions is judged in one place, conflict/error_class.h, not here.
// https://www.postgresql.org/docs/15/errcodes-appendix.html

/// What the WAL mirror reports for an UPDATE or DELETE that found no row on the mirror.
inline constexpr char kNoData[] = "02000";
inline constexpr char kConnectionFailure[] = "08006";
inline constexpr char kProtocolViolation[] = "08P01";
inline constexpr char kFeatureNotSupported[] = "0A000";
inline constexpr char kInvalidParameterValue[] = "22023";
inline constexpr char kInvalidTextRepresentation[] = "22P02";
inline constexpr char kForeignKeyViolation[] = "23503";
inline constexpr char kUniqueViolation[] = "23505";
inline constexpr char kIdleInTransactionSessionTimeout[] = "25P03";
inline constexpr char kInvalidAuthorizationSpecification[] = "28000";
inline constexpr char kInvalidPassword[] = "28P01";
inline constexpr char kInsufficientPrivilege[] = "42501";
inline constexpr char kSyntaxError[] = "42601";
inline constexpr char kUndefinedObject[] = "42704";
inline constexpr char kTooManyConnections[] = "53300";
inline constexpr char kObjectNotInPrerequisiteState[] = "55000";
/// PAUSE WRITES whose running write transactions did not end within its timeout.
inline constexpr char kLockNotAvailable[] = "55P03";
inline constexpr char kQueryCanceled[] = "57014";
inline constexpr char kAdminShutdown[] = "57P01";
/// The server takes no sessions yet: pgdual while a database's WAL mirror has no slot.
inline constexpr char kCannotConnectNow[] = "57P03";
inline constexpr char kIdleSessionTimeout[] = "57P05";
inline constexpr char kConfigFileError[] = "F0000";
/// What an ErrorResponse without a code field is taken for.
inline constexpr char kInternalError[] = "XX000";

}  // namespace pgdual::protocol::sqlstate
