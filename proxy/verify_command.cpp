#include "proxy/verify_command.h"

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

constexpr std::string_view kUsage =
    "usage: pgdual verify --config FILE --database NAME [--user NAME] [--table T...] [--chunk-rows N]\n"
    "  T is schema.table, or table in schema public; --table may repeat or list several\n"
    "  N is how many rows each checksum covers (default 10000)\n";

void print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

int verify(const config::ProxyConfig& config, const config::UserConfig& user, const ComparisonOptions& options,
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
  ComparisonOptions options;
  if (const auto problem = parse_comparison_arguments(args, {}, options); !problem.empty()) {
    std::fprintf(err, "pgdual verify: %s\n%s", problem.c_str(), kUsage.data());
    return kUsageError;
  }
  const auto login = load_comparison_login(options, "verify", err);
  if (!login) return kUsageError;
  return verify(login->config, login->user, options, out, err);
}

}  // namespace pgdual::proxy
