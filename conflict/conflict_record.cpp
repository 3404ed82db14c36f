#include "conflict/conflict_record.h"

#include <array>
#include <utility>

#include "conflict/conflict_error.h"
#include "conflict/json.h"
#include "conflict/sha256.h"

namespace pgdual::conflict {
namespace {

using protocol::TransactionStatus;

// `,"hash":"` + 64 hex digits + `"}`: how every line ends.
constexpr std::string_view kHashMemberStart = ",\"hash\":\"";
constexpr std::string_view kLineEnd = "\"}";
constexpr std::size_t kHashHexLength = 64;
constexpr std::size_t kHashSuffixLength = kHashMemberStart.size() + kHashHexLength + kLineEnd.size();
constexpr std::string_view kPrevMemberStart = "{\"prev\":\"";

// Names of enumerators as the log writes them, in both directions.
template <class Enum>
using Names = std::array<std::pair<Enum, std::string_view>, 3>;

constexpr Names<Reachability> kReachabilityNames{{{Reachability::reached, "reached"},
                                                  {Reachability::unreachable, "unreachable"},
                                                  {Reachability::timed_out, "timed_out"}}};
constexpr Names<TransactionStatus> kTransactionStatusNames{{{TransactionStatus::idle, "idle"},
                                                            {TransactionStatus::in_transaction, "in_transaction"},
                                                            {TransactionStatus::failed, "failed"}}};
constexpr std::array<std::pair<Resolution, std::string_view>, 2> kResolutionNames{
    {{Resolution::open, "open"}, {Resolution::resolved, "resolved"}}};

template <class Table, class Enum>
std::string_view name_of(const Table& names, Enum value) {
  for (const auto& [candidate, name] : names) {
    if (candidate == value) return name;
  }
  return {};
}

template <class Table, class Enum>
bool value_of(const Table& names, std::string_view name, Enum& value) {
  for (const auto& [candidate, candidate_name] : names) {
    if (candidate_name == name) {
      value = candidate;
      return true;
    }
  }
  return false;
}

// Writes the members of one JSON object, with the commas between them.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_{out} { out_.push_back('{'); }

  void string(std::string_view key, std::string_view value) {
    member(key);
    json::append_string(out_, value);
  }
  void number(std::string_view key, std::uint64_t value) {
    member(key);
    out_.append(std::to_string(value));
  }
  void null(std::string_view key) {
    member(key);
    out_.append("null");
  }
  /// Starts a member whose value the caller writes next (an object or array).
  std::string& nested(std::string_view key) {
    member(key);
    return out_;
  }
  void close() { out_.push_back('}'); }

 private:
  void member(std::string_view key) {
    if (!first_) out_.push_back(',');
    first_ = false;
    json::append_string(out_, key);
    out_.push_back(':');
  }

  std::string& out_;
  bool first_ = true;
};

void write_error(std::string& out, const BackendError& error) {
  ObjectWriter writer{out};
  writer.string("sqlstate", error.sqlstate);
  writer.string("constraint", error.constraint);
  writer.string("message", error.message);
  writer.close();
}

void write_strings(std::string& out, const std::vector<std::string>& strings) {
  out.push_back('[');
  for (std::size_t i = 0; i < strings.size(); ++i) {
    if (i > 0) out.push_back(',');
    json::append_string(out, strings[i]);
  }
  out.push_back(']');
}

void write_outcome(std::string& out, const Outcome& outcome) {
  ObjectWriter writer{out};
  writer.string("reachability", name_of(kReachabilityNames, outcome.reachability));
  writer.string("command_tag", outcome.command_tag);
  if (outcome.row_count) {
    writer.number("row_count", *outcome.row_count);
  } else {
    writer.null("row_count");
  }
  writer.number("command_count", outcome.command_count);
  writer.string("tags_digest", to_hex(outcome.tags_digest));
  writer.number("rows_returned", outcome.rows_returned);
  writer.string("rows_digest", to_hex(outcome.rows_digest));
  if (outcome.error) {
    write_error(writer.nested("error"), *outcome.error);
  } else {
    writer.null("error");
  }
  if (outcome.transaction_status) {
    writer.string("transaction_status", name_of(kTransactionStatusNames, *outcome.transaction_status));
  } else {
    writer.null("transaction_status");
  }
  writer.close();
}

void write_body(ObjectWriter& writer, const ConflictRecord& record) {
  writer.number("v", kRecordFormatVersion);
  writer.string("id", record.id);
  writer.string("time", record.time);
  writer.string("idempotency_key", record.idempotency_key);
  {
    ObjectWriter session{writer.nested("session")};
    session.string("user", record.session.user);
    session.string("application_name", record.session.application_name);
    session.string("client_address", record.session.client_address);
    session.string("database", record.session.database);
    session.close();
  }
  {
    ObjectWriter statement{writer.nested("statement")};
    statement.string("fingerprint", record.statement_fingerprint);
    statement.string("normalized", record.statement_normalized);
    statement.close();
  }
  write_strings(writer.nested("tables"), record.tables);
  writer.string("kind", to_string(record.kind));
  write_strings(writer.nested("nondeterministic"), record.nondeterministic);
  write_outcome(writer.nested("primary"), record.primary);
  write_outcome(writer.nested("mirror"), record.mirror);
  writer.string("resolution", name_of(kResolutionNames, record.resolution));
  if (!record.resolved_by.empty()) writer.string("resolved_by", record.resolved_by);
  if (!record.resolution_note.empty()) writer.string("resolution_note", record.resolution_note);
}

std::string hash_of(std::string_view previous_hash, std::string_view canonical) {
  Sha256 hash;
  hash.update(previous_hash);
  hash.update(canonical);
  return to_hex(hash.finish());
}

// Reads the members of one JSON object; the first missing or mistyped member
// makes ok() false, and every later read returns an empty value.
class ObjectReader {
 public:
  explicit ObjectReader(const json::Value* object) : object_{object} {
    if (object_ == nullptr || object_->get<json::Object>() == nullptr) ok_ = false;
  }

  const json::Value* member(std::string_view key) {
    const auto* value = ok_ ? object_->find(key) : nullptr;
    if (value == nullptr) ok_ = false;
    return value;
  }
  /// nullptr when the member is JSON null.
  const json::Value* nullable(std::string_view key) {
    const auto* value = member(key);
    return value != nullptr && !value->is_null() ? value : nullptr;
  }
  template <class T>
  T typed(const json::Value* value) {
    const auto* typed_value = value != nullptr ? value->get<T>() : nullptr;
    if (typed_value == nullptr) {
      if (value != nullptr) ok_ = false;
      return T{};
    }
    return *typed_value;
  }
  std::string string(std::string_view key) { return typed<std::string>(member(key)); }
  /// "" when the member is absent: for members later versions of pgdual added.
  std::string optional_string(std::string_view key) {
    return ok_ && object_->find(key) != nullptr ? string(key) : std::string{};
  }
  std::uint64_t number(std::string_view key) { return typed<std::uint64_t>(member(key)); }
  const json::Array* array(std::string_view key) {
    const auto* value = member(key);
    const auto* array = value != nullptr ? value->get<json::Array>() : nullptr;
    if (array == nullptr) ok_ = false;
    return array;
  }
  Digest digest(std::string_view key) {
    auto digest = digest_from_hex(string(key));
    if (!digest) ok_ = false;
    return digest.value_or(Digest{});
  }
  template <class Table, class Enum>
  void name(std::string_view key, const Table& names, Enum& value) {
    const auto text = string(key);
    if (ok_ && !value_of(names, text, value)) ok_ = false;
  }
  void fail() { ok_ = false; }
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  const json::Value* object_;
  bool ok_ = true;
};

std::optional<BackendError> read_error(ObjectReader& parent) {
  const auto* value = parent.nullable("error");
  if (value == nullptr) return std::nullopt;
  ObjectReader reader{value};
  BackendError error{reader.string("sqlstate"), reader.string("constraint"), reader.string("message")};
  if (!reader.ok()) parent.fail();
  return error;
}

Outcome read_outcome(ObjectReader& parent, std::string_view key) {
  ObjectReader reader{parent.member(key)};
  Outcome outcome;
  reader.name("reachability", kReachabilityNames, outcome.reachability);
  outcome.command_tag = reader.string("command_tag");
  if (const auto* count = reader.nullable("row_count")) outcome.row_count = reader.typed<std::uint64_t>(count);
  const auto command_count = reader.number("command_count");
  outcome.command_count = static_cast<std::uint32_t>(command_count);
  if (command_count > UINT32_MAX) reader.fail();
  outcome.tags_digest = reader.digest("tags_digest");
  outcome.rows_returned = reader.number("rows_returned");
  outcome.rows_digest = reader.digest("rows_digest");
  outcome.error = read_error(reader);
  if (reader.nullable("transaction_status") != nullptr) {
    TransactionStatus status{};
    reader.name("transaction_status", kTransactionStatusNames, status);
    outcome.transaction_status = status;
  }
  if (!reader.ok()) parent.fail();
  return outcome;
}

std::vector<std::string> read_strings(ObjectReader& reader, std::string_view name) {
  std::vector<std::string> strings;
  const auto* array = reader.array(name);
  if (array == nullptr) return strings;
  for (const auto& element : *array) strings.push_back(reader.typed<std::string>(&element));
  return strings;
}

void read_body(ObjectReader& reader, ConflictRecord& record) {
  record.id = reader.string("id");
  record.time = reader.string("time");
  record.idempotency_key = reader.string("idempotency_key");
  ObjectReader session{reader.member("session")};
  record.session = {session.string("user"), session.string("application_name"), session.string("client_address"),
                    session.optional_string("database")};
  ObjectReader statement{reader.member("statement")};
  record.statement_fingerprint = statement.string("fingerprint");
  record.statement_normalized = statement.string("normalized");
  if (!session.ok() || !statement.ok()) reader.fail();
  record.tables = read_strings(reader, "tables");
  const auto kind = conflict_kind_from_string(reader.string("kind"));
  if (!kind) reader.fail();
  record.kind = kind.value_or(ConflictKind::unclassified);
  record.nondeterministic = read_strings(reader, "nondeterministic");
  record.primary = read_outcome(reader, "primary");
  record.mirror = read_outcome(reader, "mirror");
  reader.name("resolution", kResolutionNames, record.resolution);
  record.resolved_by = reader.optional_string("resolved_by");
  record.resolution_note = reader.optional_string("resolution_note");
}

}  // namespace

std::string to_json_line(const ConflictRecord& record, std::string_view previous_hash) {
  std::string line;
  line.reserve(1024);
  ObjectWriter writer{line};
  writer.string("prev", previous_hash);
  write_body(writer, record);
  writer.close();
  const auto hash = hash_of(previous_hash, line);
  line.pop_back();
  line.append(kHashMemberStart).append(hash).append(kLineEnd);
  return line;
}

std::optional<std::string_view> claimed_hash(std::string_view line) noexcept {
  if (line.size() < kPrevMemberStart.size() + kHashSuffixLength || !line.ends_with(kLineEnd)) return std::nullopt;
  const auto suffix = line.substr(line.size() - kHashSuffixLength);
  if (!suffix.starts_with(kHashMemberStart)) return std::nullopt;
  const auto hash = suffix.substr(kHashMemberStart.size(), kHashHexLength);
  if (!digest_from_hex(hash)) return std::nullopt;
  return hash;
}

Expected<ParsedLine> parse_json_line(std::string_view line) {
  const auto document = json::parse(line);
  if (!document) return unexpected{document.error()};
  ObjectReader reader{&*document};
  ParsedLine parsed;
  parsed.prev = reader.string("prev");
  parsed.hash = reader.string("hash");
  const auto version = reader.number("v");
  if (reader.ok() && version != kRecordFormatVersion) {
    return unexpected{make_error_code(ConflictError::unsupported_version)};
  }
  read_body(reader, parsed.record);
  if (!reader.ok()) return unexpected{make_error_code(ConflictError::invalid_record)};
  return parsed;
}

ChainCheck verify_chain(std::span<const std::string> lines, std::string_view previous_hash) {
  ChainCheck check{std::nullopt, std::string(previous_hash)};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const auto hash = claimed_hash(line);
    const auto expected_start = std::string(kPrevMemberStart).append(check.head).append("\"");
    if (!hash || !line.starts_with(expected_start)) {
      check.first_bad = i;
      return check;
    }
    auto canonical = std::string(line.substr(0, line.size() - kHashSuffixLength));
    canonical.push_back('}');
    if (hash_of(check.head, canonical) != *hash) {
      check.first_bad = i;
      return check;
    }
    check.head = *hash;
  }
  return check;
}

}  // namespace pgdual::conflict
