// What a conflict costs to record and read back, and what every write pays for
// the comparison that finds one (folding a backend's answer into an Outcome):
//   pgdual_microbench --benchmark_filter='outcome|record'
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "conflict/conflict_record.h"
#include "conflict/json.h"
#include "conflict/outcome.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/error_response.h"
#include "protocol/frame.h"
#include "protocol/writer.h"

namespace {

namespace conflict = pgdual::conflict;
namespace protocol = pgdual::protocol;

constexpr std::string_view kRowsDigestKey = "pgdual-microbench-rows-digest-k";

protocol::Bytes rows_digest_key() {
  static const std::string key = std::string{kRowsDigestKey} + "!";  // 32 bytes, the minimum
  return protocol::as_bytes(key);
}

/// One backend's answer to a write unit, as encoded frames.
class Answer {
 public:
  template <class Message>
  Answer& add(const Message& message) {
    protocol::Writer out{bytes_};
    encode(message, out);
    return *this;
  }
  Answer& row(std::vector<std::optional<std::string>> columns) {
    protocol::OwnedDataRow row;
    row.columns = std::move(columns);
    return add(row);
  }

  [[nodiscard]] std::vector<protocol::Frame> frames() const { return protocol::split_frames(bytes_); }

 private:
  std::vector<std::byte> bytes_;
};

/// UPDATE ... RETURNING of `rows` rows inside BEGIN ... COMMIT.
Answer update_returning(std::int64_t rows) {
  Answer answer;
  answer.add(protocol::CommandComplete{"BEGIN"});
  for (std::int64_t i = 0; i < rows; ++i) answer.row({std::to_string(4242 + i), "1", "-1337"});
  answer.add(protocol::CommandComplete{"UPDATE " + std::to_string(rows)})
      .add(protocol::CommandComplete{"COMMIT"})
      .add(protocol::ReadyForQuery{protocol::TransactionStatus::idle});
  return answer;
}

conflict::Outcome fold(const Answer& answer) {
  conflict::OutcomeBuilder builder{rows_digest_key()};
  for (const auto& frame : answer.frames()) (void)builder.add(frame);
  return builder.finish();
}

conflict::ConflictRecord mirror_error_record() {
  auto duplicate = protocol::make_error("ERROR", "23505", "duplicate key value violates unique constraint \"x_key\"");
  duplicate.fields.push_back({'n', "patients_mrn_key"});
  Answer mirror;
  mirror.add(duplicate).add(protocol::ReadyForQuery{protocol::TransactionStatus::idle});

  conflict::ConflictRecord record;
  record.id = "01890a5d-ac96-774b-bcce-b302099a8057";
  record.time = "2024-05-01T12:00:00.000123Z";
  record.idempotency_key = "pgdual-a1:100042";
  record.session = {"ehr_app", "Chart \"Desk\" \xc3\xa9", "203.0.113.7:51234", "ehr"};
  record.statement_fingerprint = "5e1f2a3b4c5d6e7f";
  record.statement_normalized = "INSERT INTO patients (mrn, name) VALUES ($1, $2) RETURNING id";
  record.tables = {"public.patients", "public.audit"};
  record.kind = conflict::ConflictKind::mirror_error;
  record.nondeterministic = {"nextval"};
  record.primary = fold(update_returning(1));
  record.mirror = fold(mirror);
  return record;
}

/// The work every write does on each backend's answer, whether or not it conflicts.
void outcome_fold(benchmark::State& state) {
  const auto frames = update_returning(state.range(0)).frames();
  conflict::OutcomeBuilder builder{rows_digest_key()};
  for (auto _ : state) {
    for (const auto& frame : frames) (void)builder.add(frame);
    auto outcome = builder.finish();
    benchmark::DoNotOptimize(outcome);
  }
}
BENCHMARK(outcome_fold)->Arg(0)->Arg(1)->Arg(100);

void record_to_json_line(benchmark::State& state) {
  const auto record = mirror_error_record();
  const std::string previous{conflict::kGenesisHash};
  for (auto _ : state) {
    auto line = conflict::to_json_line(record, previous);
    benchmark::DoNotOptimize(line.data());
  }
}
BENCHMARK(record_to_json_line);

void record_parse_json_line(benchmark::State& state) {
  const auto line = conflict::to_json_line(mirror_error_record(), conflict::kGenesisHash);
  for (auto _ : state) {
    auto parsed = conflict::parse_json_line(line);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(record_parse_json_line);

/// The check a reader runs over a whole log: one hash per line.
void record_verify_chain(benchmark::State& state) {
  const auto record = mirror_error_record();
  std::vector<std::string> lines;
  std::string previous{conflict::kGenesisHash};
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    lines.push_back(conflict::to_json_line(record, previous));
    previous = std::string{*conflict::claimed_hash(lines.back())};
  }
  for (auto _ : state) {
    auto check = conflict::verify_chain(lines);
    benchmark::DoNotOptimize(check);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(record_verify_chain)->Arg(1000);

/// String escaping for the log, on text that needs it (quotes, control characters, UTF-8).
void json_append_string(benchmark::State& state) {
  const std::string text = "Chart \"Desk\"\n\t2 \xc3\xa9 duplicate key value violates unique constraint";
  std::string out;
  for (auto _ : state) {
    out.clear();
    conflict::json::append_string(out, text);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(json_append_string);

}  // namespace
