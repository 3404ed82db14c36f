#pragma once

/// The tag byte of every tagged message of protocol 3.0, named as the
/// PostgreSQL docs name the messages (PostgreSQL's own PqMsg_* constants).
/// https://www.postgresql.org/docs/15/protocol-message-formats.html
///
/// Tags are only unique per direction: 'C', 'D', 'E', 'H' and 'S' mean
/// different messages depending on who sent them ('d' and 'c' are CopyData
/// and CopyDone both ways), hence one namespace per direction. Startup-phase packets
/// (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) have no tag.
namespace pgdual::protocol {

/// Messages the client (frontend) sends.
namespace frontend_tag {
inline constexpr char kBind = 'B';
inline constexpr char kClose = 'C';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyFail = 'f';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kFlush = 'H';
inline constexpr char kFunctionCall = 'F';
inline constexpr char kParse = 'P';
inline constexpr char kQuery = 'Q';
inline constexpr char kSync = 'S';
inline constexpr char kTerminate = 'X';
/// GSSResponse, PasswordMessage, SASLInitialResponse and SASLResponse share
/// one tag; the authentication request being answered says which it is.
inline constexpr char kGSSResponse = 'p';
inline constexpr char kPasswordMessage = 'p';
inline constexpr char kSASLInitialResponse = 'p';
inline constexpr char kSASLResponse = 'p';

/// Whether `tag` is a message a client may send once logged in. PostgreSQL ends the session
/// with "invalid frontend message type" (08P01) on any other, 'p' included.
[[nodiscard]] constexpr bool allowed_after_login(char tag) noexcept {
  switch (tag) {
    case kBind:
    case kClose:
    case kCopyData:
    case kCopyDone:
    case kCopyFail:
    case kDescribe:
    case kExecute:
    case kFlush:
    case kFunctionCall:
    case kParse:
    case kQuery:
    case kSync:
    case kTerminate:
      return true;
    default:
      return false;
  }
}
}  // namespace frontend_tag

/// Messages the server (backend) sends.
namespace backend_tag {
/// AuthenticationOk, AuthenticationSASL, ...: the Int32 after the length says which.
inline constexpr char kAuthenticationRequest = 'R';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kDataRow = 'D';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kNegotiateProtocolVersion = 'v';
inline constexpr char kNoData = 'n';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kParameterDescription = 't';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kParseComplete = '1';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kRowDescription = 'T';
}  // namespace backend_tag

}  // namespace pgdual::protocol
