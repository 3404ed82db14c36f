#include "conflict/json.h"

#include <algorithm>

#include "conflict/conflict_error.h"

namespace pgdual::conflict::json {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr int kMaxDepth = 32;
constexpr std::string_view kLineSeparator = "\xE2\x80\xA8";       // U+2028
constexpr std::string_view kParagraphSeparator = "\xE2\x80\xA9";  // U+2029

void append_unicode_escape(std::string& out, unsigned code) {
  out.append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHexDigits[(code >> static_cast<unsigned>(shift)) & 0xfU]);
}

unsigned byte_at(std::string_view text, std::size_t at) { return static_cast<unsigned char>(text[at]); }

// The length of the well-formed UTF-8 sequence starting at `at` (2..4), or 0.
// Table 3-7 of the Unicode Standard: the second byte's range depends on the
// lead byte, which rules out overlong forms, surrogates and > U+10FFFF.
std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const unsigned lead = byte_at(text, at);
  std::size_t length = 0;
  unsigned second_low = 0x80;
  unsigned second_high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_low = 0xA0;
    if (lead == 0xED) second_high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_low = 0x90;
    if (lead == 0xF4) second_high = 0x8F;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  const unsigned second = byte_at(text, at + 1);
  if (second < second_low || second > second_high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if ((byte_at(text, at + i) & 0xC0U) != 0x80U) return 0;
  }
  return length;
}

void append_ascii(std::string& out, char c) {
  switch (c) {
    case '"': out.append("\\\""); return;
    case '\\': out.append("\\\\"); return;
    case '\n': out.append("\\n"); return;
    case '\r': out.append("\\r"); return;
    case '\t': out.append("\\t"); return;
    case '\b': out.append("\\b"); return;
    case '\f': out.append("\\f"); return;
    default:
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        append_unicode_escape(out, static_cast<unsigned char>(c));
      } else {
        out.push_back(c);
      }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, unsigned code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0U | (code >> 6U)));
    out.push_back(static_cast<char>(0x80U | (code & 0x3FU)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0U | (code >> 12U)));
    out.push_back(static_cast<char>(0x80U | ((code >> 6U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (code & 0x3FU)));
  } else {
    out.push_back(static_cast<char>(0xF0U | (code >> 18U)));
    out.push_back(static_cast<char>(0x80U | ((code >> 12U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | ((code >> 6U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (code & 0x3FU)));
  }
}

// Recursive descent over one document. Every method returns false on the
// first malformed byte; the position is then meaningless.
class Parser {
 public:
  explicit Parser(std::string_view text) noexcept : text_{text} {}

  bool document(Value& out) {
    skip_space();
    if (!value(out, 0)) return false;
    skip_space();
    return at_ == text_.size();
  }

 private:
  bool value(Value& out, int depth) {
    if (depth > kMaxDepth || at_ == text_.size()) return false;
    switch (text_[at_]) {
      case '{': return object(out.data.emplace<Object>(), depth + 1);
      case '[': return array(out.data.emplace<Array>(), depth + 1);
      case '"': return string(out.data.emplace<std::string>());
      case 't': out.data = true; return literal("true");
      case 'f': out.data = false; return literal("false");
      case 'n': out.data = nullptr; return literal("null");
      default: return number(out.data.emplace<std::uint64_t>());
    }
  }

  bool object(Object& out, int depth) {
    ++at_;
    skip_space();
    if (eat('}')) return true;
    do {
      skip_space();
      std::string key;
      if (!string(key)) return false;
      const auto duplicate = std::ranges::any_of(out, [&](const auto& member) { return member.first == key; });
      if (duplicate) return false;
      skip_space();
      if (!eat(':')) return false;
      skip_space();
      auto& member = out.emplace_back(std::move(key), Value{});
      if (!value(member.second, depth)) return false;
      skip_space();
    } while (eat(','));
    return eat('}');
  }

  bool array(Array& out, int depth) {
    ++at_;
    skip_space();
    if (eat(']')) return true;
    do {
      skip_space();
      if (!value(out.emplace_back(), depth)) return false;
      skip_space();
    } while (eat(','));
    return eat(']');
  }

  bool string(std::string& out) {
    if (!eat('"')) return false;
    while (at_ < text_.size()) {
      const char c = text_[at_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out.push_back(c);
      } else if (!escape(out)) {
        return false;
      }
    }
    return false;
  }

  bool escape(std::string& out) {
    if (at_ == text_.size()) return false;
    switch (text_[at_++]) {
      case '"': out.push_back('"'); return true;
      case '\\': out.push_back('\\'); return true;
      case '/': out.push_back('/'); return true;
      case 'b': out.push_back('\b'); return true;
      case 'f': out.push_back('\f'); return true;
      case 'n': out.push_back('\n'); return true;
      case 'r': out.push_back('\r'); return true;
      case 't': out.push_back('\t'); return true;
      case 'u': return unicode_escape(out);
      default: return false;
    }
  }

  bool unicode_escape(std::string& out) {
    unsigned code = 0;
    if (!hex4(code)) return false;
    if (code >= 0xDC00 && code <= 0xDFFF) return false;
    if (code >= 0xD800 && code <= 0xDBFF) {
      unsigned low = 0;
      if (!eat('\\') || !eat('u') || !hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
      code = 0x10000 + ((code - 0xD800) << 10U) + (low - 0xDC00);
    }
    append_utf8(out, code);
    return true;
  }

  bool hex4(unsigned& code) {
    if (text_.size() - at_ < 4) return false;
    for (int i = 0; i < 4; ++i) {
      const int digit = hex_value(text_[at_++]);
      if (digit < 0) return false;
      code = code * 16 + static_cast<unsigned>(digit);
    }
    return true;
  }

  bool number(std::uint64_t& out) {
    const auto start = at_;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text_[at_] - '0');
      if (out > (UINT64_MAX - digit) / 10) return false;
      out = out * 10 + digit;
      ++at_;
    }
    const auto length = at_ - start;
    return length > 0 && !(length > 1 && text_[start] == '0');
  }

  bool literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  bool eat(char c) {
    if (at_ == text_.size() || text_[at_] != c) return false;
    ++at_;
    return true;
  }

  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (std::size_t at = 0; at < text.size();) {
    if (byte_at(text, at) < 0x80) {
      append_ascii(out, text[at++]);
      continue;
    }
    const auto length = utf8_sequence_length(text, at);
    if (length == 0) {
      out.append("\\ufffd");
      ++at;
      continue;
    }
    const auto sequence = text.substr(at, length);
    if (sequence == kLineSeparator || sequence == kParagraphSeparator) {
      append_unicode_escape(out, sequence == kLineSeparator ? 0x2028 : 0x2029);
    } else {
      out.append(sequence);
    }
    at += length;
  }
  out.push_back('"');
}

const Value* Value::find(std::string_view key) const noexcept {
  const auto* object = get<Object>();
  if (object == nullptr) return nullptr;
  for (const auto& [name, value] : *object) {
    if (name == key) return &value;
  }
  return nullptr;
}

Expected<Value> parse(std::string_view text) {
  Value value;
  if (!Parser{text}.document(value)) return unexpected{make_error_code(ConflictError::malformed_json)};
  return value;
}

}  // namespace pgdual::conflict::json
