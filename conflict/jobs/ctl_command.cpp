#include "conflict/jobs/ctl_command.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "conflict/jobs/console_client.h"
#include "conflict/jobs/pg_client.h"

namespace pgdual::jobs {
namespace {

constexpr int kRefused = 1;

struct CtlOptions {
  std::string config_file;
  std::string user;     ///< empty: the first of admin.users
  std::string command;  ///< the console command, its words joined by spaces
};

// The options come first: the command's own words (SWAP ROLES FORCE, say) are never taken for one.
Expected<CtlOptions, std::string> parse_arguments(std::span<char*> args) {
  CtlOptions options;
  std::size_t i = 0;
  for (; i < args.size() && std::string_view{args[i]}.starts_with("--"); i += 2) {
    const std::string_view flag = args[i];
    if (flag != "--config" && flag != "--user") return unexpected{"unknown option \"" + std::string{flag} + "\""};
    if (i + 1 == args.size()) return unexpected{std::string{flag} + " needs a value"};
    auto& value = flag == "--config" ? options.config_file : options.user;
    if (!value.empty()) return unexpected{std::string{flag} + " given twice"};
    value = args[i + 1];
  }
  for (; i < args.size(); ++i) options.command += (options.command.empty() ? "" : " ") + std::string{args[i]};
  if (options.config_file.empty()) return unexpected{std::string{"--config is required"}};
  if (options.command.empty()) return unexpected{std::string{"a console command is required, e.g. SHOW CUTOVER"}};
  return options;
}

void print_rows(const std::vector<PgClient::Row>& rows) {
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) line += (i == 0 ? "" : "|") + row[i].value_or("");
    std::puts(line.c_str());
  }
}

}  // namespace

CommandHelp ctl_help() {
  return {.name = "ctl",
          .synopsis = "usage: pgdual ctl --config FILE [--user NAME] COMMAND...\n",
          .details = "Runs COMMAND on the admin console of the pgdual FILE configures, and prints each row of its\n"
                     "answer, columns separated by |: PAUSE WRITES [TIMEOUT s], SWAP ROLES [FORCE] [TIMEOUT s],\n"
                     "RESUME WRITES, SHOW CUTOVER, or any other console command (docs/cutover.md). Exit code 0 when\n"
                     "it succeeded, 1 when the console refused it (its message and SQLSTATE on stderr) or pgdual\n"
                     "could not be reached.\n"
                     "  --config FILE      pgdual's configuration: where it listens, admin.users and their passwords\n"
                     "  --user NAME        the admin.users entry to log in as (default: the first); a user with a\n"
                     "                     scram_verifier only takes its password from PGPASSWORD\n"
                     "  COMMAND...         the console command, after the options\n"};
}

int run_ctl_command(std::span<char*> args) {
  if (!args.empty() && (std::string_view{args[0]} == "--help" || std::string_view{args[0]} == "-h")) {
    return print_help(ctl_help());
  }
  const auto options = parse_arguments(args);
  if (!options) return usage_error(ctl_help(), options.error());
  const auto config = config::load_config(options->config_file);
  if (!config) {
    std::fprintf(stderr, "pgdual ctl: %s\n", config.error().to_string().c_str());
    return kRefused;
  }
  const auto user = admin_user(*config, options->user);
  if (!user) {
    std::fprintf(stderr, "pgdual ctl: %s\n", user.error().c_str());
    return kRefused;
  }
  try {
    PgClient console{console_of(*config), *user, "pgdual"};
    console.send_simple(options->command);
    print_rows(console.receive());
  } catch (const PgClientError& error) {
    std::fprintf(stderr, "pgdual ctl: %s\n", error.what());  // the console's message, and its SQLSTATE
    return kRefused;
  }
  return 0;
}

}  // namespace pgdual::jobs
