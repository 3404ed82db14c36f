#include "conflict/jobs/check_command.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/readiness.h"
#include "conflict/jobs/readiness_checks.h"

namespace pgdual::jobs {
namespace {

constexpr int kNotReady = 1;

struct CheckOptions {
  std::string config_file;
  std::vector<std::string> databases;
  bool swapped = false;  ///< the servers as SWAP ROLES leaves them: the file's mirror as the primary
};

std::string in_quotes(std::string_view text) { return "\"" + std::string{text} + "\""; }

Expected<CheckOptions, std::string> parse_arguments(std::span<char*> args) {
  CheckOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (!flag.starts_with("--")) return unexpected{"unexpected argument " + in_quotes(flag)};
    if (flag == "--swapped") {
      options.swapped = true;
      continue;
    }
    if (flag != "--config" && flag != "--database") return unexpected{"unknown option " + in_quotes(flag)};
    if (i + 1 == args.size() || std::string_view{args[i + 1]}.starts_with("--")) {
      return unexpected{std::string{flag} + " needs a value"};
    }
    const std::string value = args[++i];
    if (flag == "--database") {
      options.databases.push_back(value);
    } else if (!options.config_file.empty()) {
      return unexpected{std::string{"--config given twice"}};
    } else {
      options.config_file = value;
    }
  }
  if (options.config_file.empty()) return unexpected{std::string{"--config is required"}};
  return options;
}

std::string_view mode_name(config::MirrorMode mode) { return mode == config::MirrorMode::wal ? "wal" : "statement"; }

// The file's own check: the first problem, with its key and line, and where to look for the fix.
ReadinessCheck invalid_file(const config::ConfigError& error) {
  std::string fix = "correct ";
  if (!error.key.empty()) {
    fix += error.key;
  } else if (error.line > 0) {
    fix += "the TOML syntax";
  } else {
    fix = "give --config a configuration file pgdual may read";
  }
  if (error.line > 0) fix += " at line " + std::to_string(error.line) + " of " + error.source;
  fix += " (config/pgdual.example.toml documents every setting)";
  return {"configuration", "file", Verdict::failed, error.to_string(), fix};
}

ReadinessCheck valid_file(const std::string& file, const config::ProxyConfig& config, bool swapped) {
  return {"configuration", "file", Verdict::ok,
          file + ": valid; mirror.mode " + std::string{mode_name(config.mirror.mode)} + ", primary " + config.primary +
              (swapped ? " (checked as after SWAP ROLES)" : "") + ", " + std::to_string(config.users.size()) +
              (config.users.size() == 1 ? " user" : " users"),
          ""};
}

// The cutover's swap makes the mirror the primary (docs/cutover.md): the same checks, the other way.
config::ProxyConfig swap_roles(config::ProxyConfig config) {
  config.primary = config.mirror_backend().name;
  return config;
}

}  // namespace

CommandHelp check_help() {
  return {.name = "check",
          .synopsis = "usage: pgdual check --config FILE [--database NAME]... [--swapped]\n",
          .details = "Checks that pgdual can start: the configuration, each user's login on both backends, and what\n"
                     "the mirror mode and each database need; prints every problem with its fix. Without --database,\n"
                     "checks every database on the primary that allows connections, except templates and \"postgres\".\n"
                     "Exit code 0 when ready (warnings allowed), 1 when not.\n"
                     "  --config FILE      pgdual's configuration, which names both backends and the users\n"
                     "  --database NAME    a database clients use, checked instead of all (repeatable)\n"
                     "  --swapped          checks the servers as SWAP ROLES will leave them: the file's mirror as the\n"
                     "                     primary, the primary as the mirror (before the cutover)\n"};
}

int run_check_command(std::span<char*> args) {
  if (asks_for_help(args)) return print_help(check_help());
  const auto options = parse_arguments(args);
  if (!options) return usage_error(check_help(), options.error());
  const auto config = config::load_config(options->config_file);
  std::vector<ReadinessCheck> checks;
  if (!config) {
    checks.push_back(invalid_file(config.error()));
  } else {
    const auto checked = options->swapped ? swap_roles(*config) : *config;
    checks.push_back(valid_file(options->config_file, checked, options->swapped));
    auto found = check_readiness(checked, {.databases = options->databases, .config_file = options->config_file});
    checks.insert(checks.end(), found.begin(), found.end());
  }
  std::fputs(render_report(checks).c_str(), stdout);
  return ready(checks) ? 0 : kNotReady;
}

}  // namespace pgdual::jobs
