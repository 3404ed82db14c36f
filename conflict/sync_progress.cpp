#include "conflict/sync_progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "conflict/json.h"
#include "conflict/verify.h"

namespace pgdual::conflict {
namespace {

constexpr std::size_t kBarWidth = 20;
constexpr double kMegabyte = 1'000'000.0;
/// Table names are padded to this width, so that the bars line up; longer ones push theirs on.
constexpr std::size_t kNameWidth = 28;

std::int64_t percent_of(std::int64_t done, std::int64_t expected) {
  return std::clamp<std::int64_t>(done * 100 / expected, 0, 100);
}

/// `[####----]  40%`, or blanks of the same width without an estimate.
std::string bar(std::int64_t done, std::int64_t expected) {
  if (expected <= 0) return std::string(kBarWidth + 2 + 6, ' ');
  const auto percent = percent_of(done, expected);
  const auto filled = static_cast<std::size_t>(percent) * kBarWidth / 100;
  char number[8];
  std::snprintf(number, sizeof number, "%4lld%%", static_cast<long long>(percent));
  return "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '-') + "] " + number;
}

std::string fixed(double value, int decimals) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string table_line(const TableProgress& table) {
  auto name = table.name;
  if (name.size() < kNameWidth) name.append(kNameWidth - name.size(), ' ');
  auto line = "  " + name + " " + bar(table.rows_done, table.rows_expected) + "  " + with_thousands(table.rows_done);
  if (table.rows_expected > 0) line += " of ~" + with_thousands(table.rows_expected);
  return line + " rows";
}

std::string overall_line(const SyncProgress& progress) {
  auto line = "copying  " + std::to_string(progress.tables_done) + "/" + std::to_string(progress.tables) +
              " tables " + bar(progress.rows_done, progress.rows_expected) + "  " +
              with_thousands(progress.rows_done) + " rows";
  if (progress.copy_seconds > 0.0) {
    line += "  " + fixed(static_cast<double>(progress.bytes_done) / kMegabyte / progress.copy_seconds, 1) + " MB/s  " +
            with_thousands(std::llround(rows_per_second(progress))) + " rows/s";
  }
  if (const auto eta = eta_seconds(progress)) line += "  ETA " + duration_text(*eta);
  return line;
}

}  // namespace

double rows_per_second(const SyncProgress& progress) {
  if (progress.copy_seconds <= 0.0) return 0.0;
  return static_cast<double>(progress.rows_done) / progress.copy_seconds;
}

std::optional<double> eta_seconds(const SyncProgress& progress) {
  const auto rate = rows_per_second(progress);
  if (progress.phase != "copying" || progress.rows_expected <= 0 || rate <= 0.0) return std::nullopt;
  return std::max(0.0, static_cast<double>(progress.rows_expected - progress.rows_done) / rate);
}

std::string duration_text(double seconds) {
  const auto whole = std::max<long long>(0, std::llround(seconds));
  char text[32];
  if (whole < 60) {
    std::snprintf(text, sizeof text, "%llds", whole);
  } else if (whole < 3600) {
    std::snprintf(text, sizeof text, "%lldm%02llds", whole / 60, whole % 60);
  } else {
    std::snprintf(text, sizeof text, "%lldh%02lldm", whole / 3600, whole / 60 % 60);
  }
  return text;
}

std::string render_sync_json(const SyncProgress& progress) {
  std::string out = R"({"database":)";
  json::append_string(out, progress.database);
  out += R"(,"phase":)";
  json::append_string(out, progress.phase);
  out += ",\"tables_done\":" + std::to_string(progress.tables_done) + ",\"tables\":" + std::to_string(progress.tables) +
         ",\"rows_copied\":" + std::to_string(progress.rows_done) +
         ",\"rows_expected\":" + std::to_string(progress.rows_expected) +
         ",\"bytes_copied\":" + std::to_string(progress.bytes_done) +
         ",\"elapsed_seconds\":" + fixed(progress.copy_seconds, 1) +
         ",\"rows_per_second\":" + fixed(rows_per_second(progress), 0) + ",\"mb_per_second\":" +
         fixed(progress.copy_seconds > 0.0 ? static_cast<double>(progress.bytes_done) / kMegabyte / progress.copy_seconds
                                           : 0.0,
               2);
  const auto eta = eta_seconds(progress);
  out += ",\"eta_seconds\":" + (eta ? fixed(*eta, 0) : std::string{"null"});
  out += ",\"lag_bytes\":" + (progress.lag_bytes ? std::to_string(*progress.lag_bytes) : std::string{"null"});
  out += R"(,"running":[)";
  for (std::size_t index = 0; index < progress.running.size(); ++index) {
    const auto& table = progress.running[index];
    out += index == 0 ? R"({"table":)" : R"(,{"table":)";
    json::append_string(out, table.name);
    out += ",\"rows\":" + std::to_string(table.rows_done) + ",\"rows_expected\":" + std::to_string(table.rows_expected) +
           "}";
  }
  return out + "]}";
}

std::vector<std::string> render_sync_lines(const SyncProgress& progress) {
  std::vector<std::string> lines;
  if (progress.phase == "copying") {
    for (const auto& table : progress.running) lines.push_back(table_line(table));
    lines.push_back(overall_line(progress));
    return lines;
  }
  auto line = progress.phase + "  " + std::to_string(progress.tables_done) + "/" + std::to_string(progress.tables) +
              " tables, " + with_thousands(progress.rows_done) + " rows copied";
  if (progress.lag_bytes) line += ", " + with_thousands(*progress.lag_bytes) + " bytes of WAL to apply";
  lines.push_back(std::move(line));
  return lines;
}

namespace {

// A list line: "ID; OID OID TYPE SCHEMA NAME OWNER", where TYPE may be two words and SCHEMA is
// "-" for an object in none: pgdual's trigger reads "...; 0 16400 EVENT TRIGGER - NAME OWNER", a
// large object "...; 2613 16500 BLOB - 16500 OWNER", their data "...; 0 0 BLOBS - BLOBS ".
// Comment lines (";") are kept whatever they say.
template <typename Keep>
std::string restore_list_where(std::string_view list, Keep keep) {
  std::string kept;
  while (!list.empty()) {
    const auto end = list.find('\n');
    const auto line = list.substr(0, end);
    list.remove_prefix(end == std::string_view::npos ? list.size() : end + 1);
    if (!line.starts_with(';') && !keep(line)) continue;
    kept.append(line);
    kept.push_back('\n');
  }
  return kept;
}

}  // namespace

std::string restore_list_without_own(std::string_view list, std::string_view own_event_trigger) {
  const auto own = " EVENT TRIGGER - " + std::string{own_event_trigger} + " ";
  return restore_list_where(list, [&own](std::string_view line) { return line.find(own) == std::string_view::npos; });
}

std::string restore_list_large_objects(std::string_view list) {
  return restore_list_where(list, [](std::string_view line) {
    return line.find(" BLOB - ") != std::string_view::npos || line.find(" BLOBS - ") != std::string_view::npos;
  });
}

}  // namespace pgdual::conflict
