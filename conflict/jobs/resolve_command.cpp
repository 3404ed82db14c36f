#include "conflict/jobs/resolve_command.h"

#include <algorithm>
#include <array>
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

constexpr std::array<std::string_view, 4> kOptions{"--config", "--id", "--by", "--reason"};

struct ResolveOptions {
  std::string config;
  conflict::OperatorResolution request;
};

std::string quoted(std::string_view text) { return "\"" + std::string{text} + "\""; }

bool blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

// Applies one of kOptions and its values; returns what is wrong with them, or an empty string.
std::string apply_option(ResolveOptions& options, std::string_view flag, const std::vector<std::string>& values) {
  if (flag == "--id") {
    options.request.ids.insert(options.request.ids.end(), values.begin(), values.end());
    return {};
  }
  if (values.size() != 1) return std::string{flag} + " takes one value";
  const auto& value = values.front();
  if (flag == "--config") {
    options.config = value;
  } else {
    if (blank(value)) return std::string{flag} + " must not be empty";
    if (value.size() > kMostTextBytes) return std::string{flag} + " is longer than 1000 bytes";
    (flag == "--by" ? options.request.by : options.request.reason) = value;
  }
  return {};
}

Expected<ResolveOptions, std::string> parse_arguments(std::span<char*> args) {
  ResolveOptions options;
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < args.size();) {
    const std::string_view flag = args[i++];
    if (!flag.starts_with("--")) return unexpected{"unexpected argument " + quoted(flag)};
    if (std::ranges::find(kOptions, flag) == kOptions.end()) return unexpected{"unknown option " + quoted(flag)};
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
  if (!deliver_resolutions(settings, outcome.records, summary, out, err)) return false;
  return outcome.refused.empty();
}

}  // namespace

CommandHelp resolve_help() {
  return {.name = "conflicts resolve",
          .synopsis = "usage: pgdual conflicts resolve --config FILE --id ID... --by NAME --reason TEXT\n",
          .details = "Resolves the named open conflicts of the configuration's conflict log by hand. The records\n"
                     "say who and why: never put patient data in either, the log keeps them.\n"
                     "  --config FILE      pgdual's configuration, which names the conflict log\n"
                     "  --id ID...         the conflicts to resolve (required; may repeat or list several)\n"
                     "  --by NAME          who resolves them (required; at most 1000 bytes)\n"
                     "  --reason TEXT      why, e.g. a ticket (required; at most 1000 bytes)\n"
                     "Exit code: 0 all resolved, 1 some ids were not (each is named), 2 bad arguments.\n"};
}

int run_resolve_command(std::span<char*> args, std::FILE* out, std::FILE* err) {
  if (asks_for_help(args)) return print_help(resolve_help(), out);
  const auto options = parse_arguments(args);
  if (!options) return usage_error(resolve_help(), options.error(), err);
  const auto config = config::load_config(options->config);
  if (!config) {
    std::fprintf(err, "pgdual conflicts resolve: %s\n", config.error().to_string().c_str());
    return kUsageError;
  }
  return resolve(config->conflicts, options->request, out, err) ? 0 : kNotAllResolved;
}

}  // namespace pgdual::jobs
