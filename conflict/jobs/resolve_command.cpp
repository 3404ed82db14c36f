#include "conflict/jobs/resolve_command.h"

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/conflict_resolver.h"
#include "conflict/log_inbox.h"
#include "conflict/resolution.h"

namespace pgdual::jobs {
namespace {

constexpr int kNotAllResolved = 1;
constexpr int kUsageError = 2;

/// The log keeps lines short; a reason longer than this belongs in a ticket the reason names.
constexpr std::size_t kMostTextBytes = 1000;

constexpr std::string_view kUsage =
    "usage: pgdual conflicts resolve --config FILE --id ID... --by NAME --reason TEXT\n"
    "  resolves the named open conflicts of the configuration's conflict log; the records say who\n"
    "  (--by) and why (--reason). Never put patient data in either: the log keeps them\n";

struct ResolveOptions {
  std::string config;
  conflict::OperatorResolution request;
};

std::string quoted(std::string_view text) { return "\"" + std::string{text} + "\""; }

bool blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

// Applies one option and its values; returns what is wrong with them, or an empty string.
std::string apply_option(ResolveOptions& options, std::string_view flag, const std::vector<std::string>& values) {
  if (flag == "--id") {
    options.request.ids.insert(options.request.ids.end(), values.begin(), values.end());
    return {};
  }
  if (values.size() != 1) return std::string{flag} + " takes one value";
  const auto& value = values.front();
  if (flag == "--config") {
    options.config = value;
  } else if (flag == "--by" || flag == "--reason") {
    if (blank(value)) return std::string{flag} + " must not be empty";
    if (value.size() > kMostTextBytes) return std::string{flag} + " is longer than 1000 bytes";
    (flag == "--by" ? options.request.by : options.request.reason) = value;
  } else {
    return "unknown option " + quoted(flag);
  }
  return {};
}

Expected<ResolveOptions, std::string> parse_arguments(std::span<char*> args) {
  ResolveOptions options;
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < args.size();) {
    const std::string_view flag = args[i++];
    if (!flag.starts_with("--")) return unexpected{"unexpected argument " + quoted(flag)};
    if (flag != "--id" && !seen.insert(flag).second) return unexpected{std::string{flag} + " given twice"};
    std::vector<std::string> values;
    for (; i < args.size() && !std::string_view{args[i]}.starts_with("--"); ++i) values.emplace_back(args[i]);
    if (values.empty()) return unexpected{std::string{flag} + " needs a value"};
    if (auto problem = apply_option(options, flag, values); !problem.empty()) return unexpected{problem};
  }
  if (options.config.empty()) return unexpected{std::string{"--config FILE is required"}};
  if (options.request.ids.empty()) return unexpected{std::string{"--id ID is required"}};
  if (options.request.by.empty()) return unexpected{std::string{"--by NAME is required: who resolves them"}};
  if (options.request.reason.empty()) return unexpected{std::string{"--reason TEXT is required: why"}};
  return options;
}

void print(std::FILE* file, const std::string& text) {
  std::fputs(text.c_str(), file);
  std::fflush(file);
}

std::string conflicts_word(std::size_t count) { return count == 1 ? " conflict" : " conflicts"; }

// Resolves what `request` names in the log of `settings`; true when every id was resolved.
bool resolve(const config::ConflictsConfig& settings, const conflict::OperatorResolution& request, std::FILE* out,
             std::FILE* err) {
  const auto& log = settings.log_path;
  conflict::OpenConflicts open;
  if (conflict_log_exists(log)) {
    auto read = read_open_conflicts(log, err);
    if (!read) return false;
    open = std::move(*read);
  }
  const auto outcome = conflict::operator_resolutions(open, request, now_as_record_time());
  for (const auto& refused : outcome.refused) print(err, "pgdual conflicts resolve: " + refused + "\n");
  if (outcome.records.empty()) return false;
  const auto summary = std::to_string(outcome.records.size()) + conflicts_word(outcome.records.size()) + " resolved";
  switch (deliver_resolutions(settings, outcome.records, err)) {
    case Delivery::appended: print(out, "conflict log: " + summary + " (appended to " + log.string() + ")\n"); break;
    case Delivery::posted:
      print(out, "conflict log: " + summary + "; pgdual serve holds the log and appends them from " +
                     conflict::inbox_directory(log).string() + " within a second\n");
      break;
    case Delivery::failed: return false;
  }
  return outcome.refused.empty();
}

}  // namespace

int run_resolve_command(std::span<char*> args, std::FILE* out, std::FILE* err) {
  const auto options = parse_arguments(args);
  if (!options) {
    std::fprintf(err, "pgdual conflicts resolve: %s\n%s", options.error().c_str(), kUsage.data());
    return kUsageError;
  }
  const auto config = config::load_config(options->config);
  if (!config) {
    std::fprintf(err, "pgdual conflicts resolve: %s\n", config.error().to_string().c_str());
    return kUsageError;
  }
  return resolve(config->conflicts, options->request, out, err) ? 0 : kNotAllResolved;
}

}  // namespace pgdual::jobs
