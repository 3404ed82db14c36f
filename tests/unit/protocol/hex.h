#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/writer.h"

namespace pgdual::protocol::test {

/// Bytes written as a readable table: hex digit pairs, 'quoted text' taken
/// byte for byte (no escapes), whitespace ignored, '#' starts a comment that
/// runs to the end of the line. "51 0000000d 'SELECT'" is 'Q', length 13, "SELECT".
/// Throws std::invalid_argument on anything else, so a typo fails the test.
inline std::vector<std::byte> bytes_from_hex(std::string_view table) {
  std::vector<std::byte> out;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < table.size();) {
    const char c = table[i];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#') {
      const auto end = table.find('\n', i);
      i = end == std::string_view::npos ? table.size() : end;
    } else if (c == '\'') {
      const auto end = table.find('\'', i + 1);
      if (end == std::string_view::npos) throw std::invalid_argument("unterminated quote in hex table");
      for (char text : table.substr(i + 1, end - i - 1)) out.push_back(static_cast<std::byte>(text));
      i = end + 1;
    } else {
      const int high = digit(c);
      const int low = i + 1 < table.size() ? digit(table[i + 1]) : -1;
      if (high < 0 || low < 0) throw std::invalid_argument("bad hex digit pair at offset " + std::to_string(i));
      out.push_back(static_cast<std::byte>(high * 16 + low));
      i += 2;
    }
  }
  return out;
}

/// The messages of a capture file written one per line in hex (as
/// tests/data/wire and tests/data/pgoutput hold them); lines starting with '#'
/// are comments. Throws std::invalid_argument if the file cannot be read.
inline std::vector<std::vector<std::byte>> hex_lines(const std::filesystem::path& path) {
  std::ifstream in{path};
  if (!in) throw std::invalid_argument("cannot read " + path.string());
  std::vector<std::vector<std::byte>> messages;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') messages.push_back(bytes_from_hex(line));
  }
  return messages;
}

/// Lower-case hex without separators: comparing these gives readable
/// failure messages where comparing byte vectors would not.
inline std::string to_hex(Bytes bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto byte : bytes) {
    const auto value = std::to_integer<unsigned>(byte);
    out.push_back(kDigits[value >> 4U]);
    out.push_back(kDigits[value & 0xfU]);
  }
  return out;
}

/// The wire bytes of one message, as its encoder writes them.
template <class Message>
std::vector<std::byte> encoded(const Message& message) {
  std::vector<std::byte> out;
  Writer writer{out};
  encode(message, writer);
  return out;
}

/// A tagged message around `body`: what a round trip must reproduce.
inline std::vector<std::byte> framed(char tag, Bytes body) {
  std::vector<std::byte> out;
  Writer writer{out};
  writer.begin(tag);
  writer.bytes(body);
  writer.finish();
  return out;
}

/// A row of a decode-and-round-trip table: a message body by its tag.
struct MessageRow {
  const char* name;
  char tag;
  const char* body;  ///< as bytes_from_hex reads it
};

/// A row of a rejection table: a malformed body and the error it must give.
struct RejectedMessageRow {
  const char* name;
  char tag;
  const char* body;
  CodecError error;
};

}  // namespace pgdual::protocol::test

// Codec errors print as their message in Catch's failure output.
template <>
struct Catch::StringMaker<std::error_code> {
  static std::string convert(const std::error_code& error) { return error.message(); }
};
