// What the client sees of the primary's stream while pgdual's own statement runs after its unit.
#include "proxy/route/own_statement_filter.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/backend_messages.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

/// One message of tag `tag` with `body`, as on the wire.
std::vector<std::byte> message(char tag, std::string_view body) {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  out.begin(tag);
  out.bytes(body);
  out.finish();
  return wire;
}

std::vector<std::byte> joined(std::initializer_list<std::vector<std::byte>> parts) {
  std::vector<std::byte> all;
  for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

/// Feeds `stream` to a started filter in pieces of `piece` bytes.
std::vector<std::byte> filtered(const std::vector<std::byte>& stream, std::size_t piece) {
  OwnStatementFilter filter;
  filter.start();
  std::vector<std::byte> out;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    filter.filter(protocol::Bytes{stream}.subspan(at, std::min(piece, stream.size() - at)), out);
  }
  CHECK_FALSE(filter.active());
  return out;
}

TEST_CASE("the own statement's answers are removed through its ReadyForQuery, cut anywhere", "[unit][route]") {
  const auto notification = message('A', std::string{"\0\0\0\1ch\0payload\0", 16});
  const auto after = message('N', "later notice");
  const auto stream = joined({message('T', "row description"), message('D', "row"), notification,
                              message('C', "SELECT 1"), message('Z', "I"), after});
  const auto expected = joined({notification, after});
  for (const std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{7}, stream.size()}) {
    INFO("pieces of " << piece);
    CHECK(filtered(stream, piece) == expected);
  }
}

TEST_CASE("an error and a notice of the own statement are removed, a ParameterStatus kept", "[unit][route]") {
  const auto status = message('S', std::string{"DateStyle\0ISO, MDY\0", 19});
  const auto stream = joined({message('N', "notice"), message('E', "error"), status, message('Z', "I")});
  CHECK(filtered(stream, 2) == status);
}

TEST_CASE("a filter not started passes everything", "[unit][route]") {
  OwnStatementFilter filter;
  const auto stream = message('Z', "I");
  std::vector<std::byte> out;
  filter.filter(stream, out);
  CHECK(out == stream);
}

}  // namespace
}  // namespace pgdual::proxy
