#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/frame.h"
#include "protocol/sql/pin_values.h"

namespace pgdual::proxy {

/// What pgdual sends the primary ahead of a unit's own messages, for itself; their answers are
/// pgdual's own and never reach the client (OwnAnswerFilter).
///
/// In statement mode, pinned copies of the prepared statements an extended-protocol unit binds: a
/// prepared statement serves many executions, so its text cannot carry one execution's now().
/// Instead, pgdual prepares a copy of the statement with the values pinned (sql::pin_times) under
/// a name of its own, sends that copy's Close and Parse ahead of the unit to both backends, and
/// binds the unit's portals to the copy.
///
/// In wal mode, the unit marker that tells the apply which transaction is the unit's
/// (docs/wal-mirror.md, "Acknowledgement"): messages ahead of an extended-protocol unit, or a
/// statement put before the text of a simple Query, whose error positions then move
/// (ErrorPositionShift).
struct UnitPrefix {
  std::vector<std::byte> statements;  ///< messages sent before the unit's own
  unsigned answers = 0;               ///< the answers they draw, and the marker statement in a Query's text
  /// The client's messages that go before `statements` (an extended-protocol unit's that open and
  /// set up its transaction), and the answers, to those or to the statements a marker in a Query's
  /// text follows, that come before its own.
  std::size_t frames_first = 0;
  unsigned client_answers_first = 0;
  std::unordered_map<std::string, std::string> renamed;  ///< the client's statement -> its pinned copy
  /// Characters put into the text of the unit's simple Query: the server's error positions past
  /// them count them, the client's must not.
  std::uint32_t text_shift = 0;

  /// Nothing goes ahead of the client's messages, which go as they came.
  [[nodiscard]] bool empty() const noexcept { return statements.empty() && renamed.empty(); }
};

/// Appends to `prefix` the messages that ready pgdual's own portal `name` for `statement`: its
/// statement and portal closed first (a unit cut short may have left them), then Parse and Bind,
/// four answers. The caller adds the Execute where it belongs.
void prepare_own_portal(std::string_view name, std::string_view statement, UnitPrefix& prefix);

/// The text and parameter types of a statement prepared before the unit, as its Parse message body.
using PreparedLookup = std::function<std::optional<protocol::Bytes>(std::string_view statement)>;
/// Whether a statement's text calls a value pin_times() replaces.
using NeedsPin = std::function<bool(std::string_view text)>;

/// Pins each statement `frames` bind whose text needs it, as the statement
/// stands at that Bind (parsed earlier in `frames`, or before the unit).
[[nodiscard]] UnitPrefix pin_statements(std::span<const protocol::Frame> frames, const sql::PinnedTimes& times,
                                           const PreparedLookup& prepared, const NeedsPin& needs_pin);

/// Appends the first `pins.frames_first` of `frames`, `pins.statements`, then the rest, each Bind
/// of a pinned statement bound to its copy.
void apply_pins(const UnitPrefix& pins, std::span<const protocol::Frame> frames, std::vector<std::byte>& out);

/// Removes pgdual's own answers from the start of a unit's answers in the primary's byte stream,
/// which arrives cut at any point: the CloseComplete and ParseComplete of pinned copies, and the
/// whole answer (row description, rows, tag) of a statement pgdual sent ahead of the client's, or
/// after the client's first statements in a Query's text. Notices and parameter statuses among
/// them pass through. Anything else where an own answer should be (an ErrorResponse when a copy
/// failed to prepare, or when a client's statement before the marker failed, which skips it) ends
/// the removal, and is the client's to see.
class OwnAnswerFilter {
 public:
  /// After `client_answers_first` answers to the client's messages (other than an error, which
  /// ends the removal), the next `answers` messages are pgdual's own.
  void expect(unsigned answers, unsigned client_answers_first = 0) noexcept {
    messages_left_ = answers;
    client_answers_left_ = client_answers_first;
    header_seen_ = 0;
    body_left_ = 0;
  }
  [[nodiscard]] bool active() const noexcept { return messages_left_ > 0; }
  /// Appends to `out` what of `chunk` the client is to see.
  void filter(protocol::Bytes chunk, std::vector<std::byte>& out);

 private:
  static constexpr std::size_t kHeaderSize = 5;  ///< tag and Int32 length

  /// Takes what it can of the message under way from the start of `chunk`, an own answer to drop
  /// or one passing through to `out`; returns the rest.
  [[nodiscard]] protocol::Bytes take_message(protocol::Bytes chunk, std::vector<std::byte>& out);

  unsigned messages_left_ = 0;  ///< own messages not yet wholly removed, the current one included
  unsigned client_answers_left_ = 0;  ///< answers to the client's still to pass before them
  std::size_t header_seen_ = 0;  ///< bytes of the current own message's header removed so far
  std::uint32_t length_ = 0;     ///< its length field, as far as read
  std::size_t body_left_ = 0;    ///< bytes of its body still to remove, once the header is whole
  bool passing_ = false;         ///< the current message is the client's (a notice): it passes through
  bool client_answer_ = false;   ///< the current message passing through answers the client's
};

}  // namespace pgdual::proxy
