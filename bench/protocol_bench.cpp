// What the codec costs per message on the data path: decoding (borrowed views
// into the frame), keeping a message past its frame (owned), and encoding into
// a reused buffer. Messages are the ones pgbench sends and receives:
//   pgdual_microbench --benchmark_filter='decode|encode|own|split'
//
// "Owned" is what pgdual does to keep a message: a DataRow becomes an
// OwnedDataRow (every column copied); a frontend message is copied as its wire
// frame (append_frame), which is how the session keeps statements for the mirror.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace {

namespace protocol = pgdual::protocol;

const std::string kSelectAccount = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;";
const std::string kUpdateAccount = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;";
constexpr std::string_view kStatementName = "P0_1";

/// One complete message, encoded once; `frame()` views it as the session sees it.
class EncodedMessage {
 public:
  template <class Message>
  explicit EncodedMessage(const Message& message) {
    protocol::Writer out{bytes_};
    encode(message, out);
  }
  /// A Bind of `parameters` text values, with no format codes (all text), as pgbench -M prepared sends.
  static EncodedMessage bind(std::string_view statement, const std::vector<std::string>& parameters) {
    EncodedMessage message;
    protocol::Writer out{message.bytes_};
    out.begin(protocol::frontend_tag::kBind);
    out.cstring("");
    out.cstring(statement);
    out.int16(0);
    out.int16(static_cast<std::int16_t>(parameters.size()));
    for (const auto& value : parameters) {
      out.int32(static_cast<std::int32_t>(value.size()));
      out.bytes(value);
    }
    out.int16(0);
    out.finish();
    return message;
  }

  [[nodiscard]] protocol::Frame frame() const {
    return *protocol::peek_frame(bytes_, protocol::kDefaultMaxMessageBody);
  }
  [[nodiscard]] protocol::Bytes body() const { return frame().body; }
  [[nodiscard]] const std::vector<std::byte>& bytes() const { return bytes_; }

 private:
  EncodedMessage() = default;
  std::vector<std::byte> bytes_;
};

/// A pgbench_accounts row cut to `columns` columns (aid, bid, abalance, filler, then repeats).
protocol::OwnedDataRow account_row(std::int64_t columns) {
  const std::vector<std::optional<std::string>> shape{"4242", "1", "-1337", std::string(84, ' ')};
  protocol::OwnedDataRow row;
  for (std::int64_t i = 0; i < columns; ++i) row.columns.push_back(shape[static_cast<std::size_t>(i) % shape.size()]);
  return row;
}

const EncodedMessage& query_message() {
  static const EncodedMessage message{protocol::Query{"SELECT abalance FROM pgbench_accounts WHERE aid = 4242;"}};
  return message;
}
const EncodedMessage& parse_message() {
  static const EncodedMessage message{protocol::Parse{kStatementName, kUpdateAccount, {}}};
  return message;
}
const EncodedMessage& bind_message() {
  static const EncodedMessage message = EncodedMessage::bind(kStatementName, {"-1337", "4242"});
  return message;
}
const EncodedMessage& execute_message() {
  static const EncodedMessage message{protocol::Execute{"", 0}};
  return message;
}

// --- decode, borrowed: views into the frame, no allocation -----------------

template <auto Decode>
void decode_borrowed(benchmark::State& state, const EncodedMessage& message) {
  const auto body = message.body();
  for (auto _ : state) {
    auto decoded = Decode(body);
    benchmark::DoNotOptimize(decoded);
  }
}

void decode_query_borrowed(benchmark::State& state) {
  decode_borrowed<protocol::decode_query>(state, query_message());
}
void decode_parse_borrowed(benchmark::State& state) {
  decode_borrowed<protocol::decode_parse>(state, parse_message());
}
void decode_bind_borrowed(benchmark::State& state) { decode_borrowed<protocol::decode_bind>(state, bind_message()); }
void decode_execute_borrowed(benchmark::State& state) {
  decode_borrowed<protocol::decode_execute>(state, execute_message());
}
BENCHMARK(decode_query_borrowed);
BENCHMARK(decode_parse_borrowed);
BENCHMARK(decode_bind_borrowed);
BENCHMARK(decode_execute_borrowed);

void decode_data_row_borrowed(benchmark::State& state) {
  const EncodedMessage row{account_row(state.range(0))};
  const auto body = row.body();
  for (auto _ : state) {
    auto decoded = protocol::decode_data_row(body);
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK(decode_data_row_borrowed)->Arg(1)->Arg(4)->Arg(16);

/// Decoding and reading every column, as a comparison of two answers does.
void decode_data_row_walk_columns(benchmark::State& state) {
  const EncodedMessage row{account_row(state.range(0))};
  const auto body = row.body();
  for (auto _ : state) {
    std::size_t bytes = 0;
    const auto decoded = protocol::decode_data_row(body);
    for (const auto& column : decoded->columns) bytes += column ? column->size() : 0;
    benchmark::DoNotOptimize(bytes);
  }
}
BENCHMARK(decode_data_row_walk_columns)->Arg(1)->Arg(4)->Arg(16);

/// The dispatch by tag the session runs on every frontend frame.
void decode_frontend_message_dispatch(benchmark::State& state, const EncodedMessage& (*message)()) {
  const auto frame = message().frame();
  for (auto _ : state) {
    auto decoded = protocol::decode_frontend_message(frame);
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK_CAPTURE(decode_frontend_message_dispatch, query, query_message);
BENCHMARK_CAPTURE(decode_frontend_message_dispatch, bind, bind_message);

// --- owned: the message kept past its frame ----------------------------------

void own_frame(benchmark::State& state, const EncodedMessage& (*message)()) {
  const auto frame = message().frame();
  for (auto _ : state) {
    std::vector<std::byte> kept;
    protocol::append_frame(frame, kept);
    benchmark::DoNotOptimize(kept.data());
  }
}
BENCHMARK_CAPTURE(own_frame, query, query_message);
BENCHMARK_CAPTURE(own_frame, parse, parse_message);
BENCHMARK_CAPTURE(own_frame, bind, bind_message);
BENCHMARK_CAPTURE(own_frame, execute, execute_message);

void own_data_row(benchmark::State& state) {
  const EncodedMessage row{account_row(state.range(0))};
  const auto body = row.body();
  for (auto _ : state) {
    protocol::OwnedDataRow owned{*protocol::decode_data_row(body)};
    benchmark::DoNotOptimize(owned.columns.data());
  }
}
BENCHMARK(own_data_row)->Arg(1)->Arg(4)->Arg(16);

// --- encode into a reused buffer ----------------------------------------------

template <class Message>
void encode_into(benchmark::State& state, const Message& message) {
  std::vector<std::byte> buffer;
  for (auto _ : state) {
    buffer.clear();
    protocol::Writer out{buffer};
    encode(message, out);
    benchmark::DoNotOptimize(buffer.data());
  }
}

void encode_query(benchmark::State& state) { encode_into(state, *protocol::decode_query(query_message().body())); }
void encode_parse(benchmark::State& state) { encode_into(state, *protocol::decode_parse(parse_message().body())); }
void encode_bind(benchmark::State& state) { encode_into(state, *protocol::decode_bind(bind_message().body())); }
void encode_execute(benchmark::State& state) {
  encode_into(state, *protocol::decode_execute(execute_message().body()));
}
BENCHMARK(encode_query);
BENCHMARK(encode_parse);
BENCHMARK(encode_bind);
BENCHMARK(encode_execute);

void encode_data_row_borrowed(benchmark::State& state) {
  const EncodedMessage row{account_row(state.range(0))};
  encode_into(state, *protocol::decode_data_row(row.body()));
}
BENCHMARK(encode_data_row_borrowed)->Arg(1)->Arg(4)->Arg(16);

void encode_data_row_owned(benchmark::State& state) { encode_into(state, account_row(state.range(0))); }
BENCHMARK(encode_data_row_owned)->Arg(1)->Arg(4)->Arg(16);

// --- framing a whole pgbench -M extended transaction ---------------------------

/// Parse, Bind, Describe, Execute, Sync as one read from the client: what
/// split_frames does to each batch the session reads.
void split_frames_extended_batch(benchmark::State& state) {
  std::vector<std::byte> batch;
  protocol::Writer out{batch};
  encode(protocol::Parse{"", kSelectAccount, {}}, out);
  const auto bind = EncodedMessage::bind("", {"4242"});
  batch.insert(batch.end(), bind.bytes().begin(), bind.bytes().end());
  encode(protocol::Describe{protocol::ObjectKind::portal, ""}, out);
  encode(protocol::Execute{"", 0}, out);
  encode(protocol::Sync{}, out);
  for (auto _ : state) {
    auto frames = protocol::split_frames(batch);
    benchmark::DoNotOptimize(frames.data());
  }
}
BENCHMARK(split_frames_extended_batch);

}  // namespace
