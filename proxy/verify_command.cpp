#include "proxy/verify_command.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/verify.h"
#include "proxy/verifier.h"

namespace pgdual::proxy {
namespace {

using conflict::TableName;

constexpr int kDifferences = 1;
constexpr int kUsageError = 2;

constexpr std::int64_t kDefaultChunkRows = 10'000;
constexpr std::string_view kUsage =
    "usage: pgdual verify --config FILE --database NAME [--user NAME] [--table T...] [--chunk-rows N]\n"
    "  T is schema.table, or table in schema public; --table may repeat or list several\n"
    "  N is how many rows each checksum covers (default 10000)\n";

struct VerifyOptions {
  std::string config_file;
  std::string database;
  std::string user;
  std::vector<TableName> tables;
  std::int64_t chunk_rows = kDefaultChunkRows;
};

std::optional<std::int64_t> parse_positive(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 1) return std::nullopt;
  return value;
}

// Returns what is wrong with the arguments, or an empty string.
std::string parse_arguments(std::span<char*> args, VerifyOptions& options) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (i + 1 >= args.size() || std::string_view{args[i + 1]}.starts_with("--")) {
      return std::string{flag} + " needs a value";
    }
    const std::string_view value = args[++i];
    if (flag == "--config") {
      options.config_file = value;
    } else if (flag == "--database") {
      options.database = value;
    } else if (flag == "--user") {
      options.user = value;
    } else if (flag == "--chunk-rows") {
      const auto rows = parse_positive(value);
      if (!rows) return "--chunk-rows: expected a positive number, got \"" + std::string{value} + "\"";
      options.chunk_rows = *rows;
    } else if (flag == "--table") {
      options.tables.push_back(conflict::table_name_from_argument(value));
      while (i + 1 < args.size() && !std::string_view{args[i + 1]}.starts_with("--")) {
        options.tables.push_back(conflict::table_name_from_argument(args[++i]));
      }
    } else {
      return "unknown option \"" + std::string{flag} + "\"";
    }
  }
  if (options.config_file.empty()) return "--config is required";
  if (options.database.empty()) return "--database is required";
  return {};
}

void print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

int verify(const config::ProxyConfig& config, const config::UserConfig& user, const VerifyOptions& options,
           std::FILE* out, std::FILE* err) {
  conflict::VerifyReport report{.database = options.database, .primary = config.primary_backend().name,
                                .mirror = config.mirror_backend().name, .database_differences = {}, .tables = {},
                                .sequences = {}};
  try {
    PgClient primary{config.primary_backend(), user, options.database};
    PgClient mirror{config.mirror_backend(), user, options.database};
    Verifier verifier{primary, mirror, options.chunk_rows};
    const auto tables = verifier.tables(options.tables);
    report.database_differences = verifier.database_differences();
    print(out, conflict::render_heading(report));
    for (const auto& table : tables) {
      auto verdict = verifier.compare_table(table);
      verifier.find_orphans(verdict);
      print(out, conflict::render_table(verdict));
      report.tables.push_back(std::move(verdict));
    }
    report.sequences = verifier.compare_sequences(tables, !options.tables.empty());
  } catch (const std::exception& error) {
    std::fprintf(err, "pgdual verify: %s\n", error.what());
    return kUsageError;
  }
  for (const auto& sequence : report.sequences) print(out, conflict::render_sequence(sequence));
  print(out, conflict::render_summary(report));
  return report.identical() ? 0 : kDifferences;
}

}  // namespace

int run_verify_command(std::span<char*> args, std::FILE* out, std::FILE* err) {
  VerifyOptions options;
  if (const auto problem = parse_arguments(args, options); !problem.empty()) {
    std::fprintf(err, "pgdual verify: %s\n%s", problem.c_str(), kUsage.data());
    return kUsageError;
  }
  const auto config = config::load_config(options.config_file);
  if (!config) {
    std::fprintf(err, "pgdual: %s\n", config.error().to_string().c_str());
    return kUsageError;
  }
  const auto* user = options.user.empty() ? &config->users.front() : config->find_user(options.user);
  if (user == nullptr) {
    std::fprintf(err, "pgdual verify: user \"%s\" is not in %s\n", options.user.c_str(), options.config_file.c_str());
    return kUsageError;
  }
  return verify(*config, *user, options, out, err);
}

}  // namespace pgdual::proxy
