#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/outcome.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/error_response.h"
#include "protocol/frame.h"
#include "protocol/writer.h"

namespace pgdual::conflict::test {

/// The rows-digest key every test builder uses: 32 bytes, as the minimum.
inline constexpr std::string_view kRowsDigestKey = "pgdual-unit-test-rows-digest-key";

inline protocol::Bytes rows_digest_key() { return protocol::as_bytes(kRowsDigestKey); }

/// What one backend sends for one write unit, written as a readable script
/// and encoded with protocol/'s own encoders:
///   Answer{}.complete("INSERT 0 1").ready('I')
class Answer {
 public:
  Answer& complete(std::string_view tag) {
    encode_message(protocol::CommandComplete{tag});
    return *this;
  }
  /// A DataRow; std::nullopt columns are NULL.
  Answer& row(std::vector<std::optional<std::string>> columns) {
    protocol::OwnedDataRow row;
    row.columns = std::move(columns);
    encode_message(row);
    return *this;
  }
  /// An ErrorResponse with `fields` beyond SQLSTATE and message (code, value).
  Answer& error(std::string_view sqlstate, std::string_view message,
                std::vector<protocol::ErrorField> fields = {}) {
    auto response = protocol::make_error("ERROR", sqlstate, message);
    response.fields.insert(response.fields.end(), fields.begin(), fields.end());
    encode_message(response);
    return *this;
  }
  Answer& ready(char status) {
    encode_message(protocol::ReadyForQuery{static_cast<protocol::TransactionStatus>(status)});
    return *this;
  }
  Answer& notice(std::string_view message) {
    encode_message(protocol::NoticeResponse{protocol::make_error("NOTICE", "00000", message)});
    return *this;
  }
  Answer& cut_off(Reachability reachability) {
    reachability_ = reachability;
    return *this;
  }

  [[nodiscard]] const std::vector<std::byte>& bytes() const { return bytes_; }

  /// Feeds every message, in order, to `builder` and returns its outcome.
  [[nodiscard]] Outcome fold(OutcomeBuilder& builder) const {
    protocol::Bytes rest{bytes_};
    while (!rest.empty()) {
      const auto frame = protocol::peek_frame(rest, protocol::kDefaultMaxMessageBody);
      REQUIRE(frame);
      REQUIRE(builder.add(*frame));
      rest = rest.subspan(frame->wire_size());
    }
    if (reachability_) builder.set_reachability(*reachability_);
    return builder.finish();
  }
  [[nodiscard]] Outcome outcome() const {
    OutcomeBuilder builder{rows_digest_key()};
    return fold(builder);
  }

 private:
  template <class Message>
  void encode_message(const Message& message) {
    protocol::Writer writer{bytes_};
    encode(message, writer);
  }

  std::vector<std::byte> bytes_;
  std::optional<Reachability> reachability_;
};

}  // namespace pgdual::conflict::test
