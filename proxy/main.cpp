#include <algorithm>
#include <cstdio>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "conflict/jobs/check_command.h"
#include "conflict/jobs/ctl_command.h"
#include "conflict/jobs/command_line.h"
#include "conflict/jobs/init_command.h"
#include "conflict/jobs/reconcile_command.h"
#include "conflict/jobs/report_command.h"
#include "conflict/jobs/resolve_command.h"
#include "conflict/jobs/sync_command.h"
#include "conflict/jobs/verify_command.h"
#include "proxy/logging.h"
#include "proxy/server.h"

namespace {

using pgdual::jobs::asks_for_help;
using pgdual::jobs::CommandHelp;
using pgdual::jobs::print_help;
using pgdual::jobs::usage_error;

constexpr int kUsageError = 2;

std::string in_quotes(std::string_view text) { return "\"" + std::string{text} + "\""; }

CommandHelp serve_help() {
  return {.name = "serve",
          .synopsis = "usage: pgdual serve --config FILE\n",
          .details = "Runs the proxy until SIGTERM or SIGINT; SIGHUP reloads the configuration.\n"
                     "  --config FILE      pgdual's configuration (config/pgdual.example.toml documents every "
                     "setting)\n"};
}

/// The configuration file `pgdual serve ARGS` names, or what is wrong with ARGS.
pgdual::Expected<std::string, std::string> serve_config_file(std::span<char*> args) {
  std::string file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (!flag.starts_with("--")) return pgdual::unexpected{"unexpected argument " + in_quotes(flag)};
    if (flag != "--config") return pgdual::unexpected{"unknown option " + in_quotes(flag)};
    if (!file.empty()) return pgdual::unexpected{std::string{"--config given twice"}};
    if (i + 1 == args.size() || std::string_view{args[i + 1]}.starts_with("--")) {
      return pgdual::unexpected{std::string{"--config needs a value"}};
    }
    file = args[++i];
  }
  if (file.empty()) return pgdual::unexpected{std::string{"--config is required"}};
  return file;
}

int serve(std::span<char*> args) {
  if (asks_for_help(args)) return print_help(serve_help());
  const auto file = serve_config_file(args);
  if (!file) return usage_error(serve_help(), file.error());
  auto loaded = pgdual::config::load_config(*file);
  if (!loaded) {
    std::fprintf(stderr, "pgdual: %s\n", loaded.error().to_string().c_str());
    return kUsageError;
  }
  auto config = std::make_shared<const pgdual::config::ProxyConfig>(std::move(*loaded));
  auto log = pgdual::proxy::make_logger(config->log);
  try {
    pgdual::proxy::Server server{*file, config, log};
    server.run();
  } catch (const std::exception& error) {
    log->critical("{}", error.what());
    return 1;
  }
  return 0;
}

CommandHelp conflicts_help() {
  return {.name = "conflicts",
          .synopsis = "usage: pgdual conflicts report|resolve OPTION...\n",
          .details = "  report             summarize the conflict log (pgdual conflicts report --help)\n"
                     "  resolve            close conflicts by hand, saying who and why "
                     "(pgdual conflicts resolve --help)\n"};
}

int conflicts(std::span<char*> args);
int help(std::span<char*> args);

CommandHelp help_help() {
  return {.name = "help",
          .synopsis = "usage: pgdual help [COMMAND]\n",
          .details = "Prints the commands, or what COMMAND does and what each of its options means, as\n"
                     "\"pgdual COMMAND --help\" does.\n"
                     "  COMMAND            serve, init, check, sync, verify, reconcile, conflicts, conflicts report, "
                     "conflicts resolve, ctl or help\n"};
}

struct Command {
  std::string_view name;     ///< the words after "pgdual" that name it
  std::string_view summary;  ///< one line in the list of commands; empty: not listed
  CommandHelp (*help)();
  int (*run)(std::span<char*> args);  ///< given the words after the name
};

// Two-word names before the one-word name they begin with. Lambdas stand for the commands that
// also take where to print, as defaulted arguments a function pointer cannot carry.
constexpr Command kCommands[] = {
    {"serve", "run the proxy", serve_help, serve},
    {"init", "create pgdual's schema on both backends", pgdual::jobs::init_help, pgdual::jobs::run_init_command},
    {"check", "check that both backends are ready for pgdual", pgdual::jobs::check_help,
     pgdual::jobs::run_check_command},
    {"sync", "copy a live database onto the empty mirror, and keep it in step from then on", pgdual::jobs::sync_help,
     pgdual::jobs::run_sync_command},
    {"verify", "compare the tables on both backends", pgdual::jobs::verify_help,
     [](std::span<char*> args) { return pgdual::jobs::run_verify_command(args); }},
    {"reconcile", "make the mirror's tables the primary's", pgdual::jobs::reconcile_help,
     [](std::span<char*> args) { return pgdual::jobs::run_reconcile_command(args); }},
    {"conflicts report", "summarize the conflict log", pgdual::jobs::report_help, pgdual::jobs::run_report_command},
    {"conflicts resolve", "close conflicts by hand, saying who and why", pgdual::jobs::resolve_help,
     [](std::span<char*> args) { return pgdual::jobs::run_resolve_command(args); }},
    {"conflicts", "", conflicts_help, conflicts},
    {"ctl", "run an admin console command, as a script would: PAUSE WRITES, SWAP ROLES...", pgdual::jobs::ctl_help,
     pgdual::jobs::run_ctl_command},
    {"help", "what a command does and what its options mean", help_help, help},
};

/// True when `args` begin with the words of `name`.
bool begins_with(std::span<char*> args, std::string_view name) {
  for (const std::string_view arg : args) {
    const auto space = name.find(' ');
    if (name.substr(0, space) != arg) return false;
    if (space == std::string_view::npos) return true;
    name.remove_prefix(space + 1);
  }
  return false;
}

/// The command `args` begin with, or nullptr.
const Command* find_command(std::span<char*> args) {
  for (const auto& command : kCommands) {
    if (begins_with(args, command.name)) return &command;
  }
  return nullptr;
}

std::size_t word_count(std::string_view name) { return static_cast<std::size_t>(std::ranges::count(name, ' ')) + 1; }

std::string joined(std::span<char*> args) {
  std::string words;
  for (const char* arg : args) words.append(words.empty() ? "" : " ").append(arg);
  return words;
}

/// Where the summaries begin, past the longest command name.
constexpr std::size_t kSummaryColumn = 19;

std::string overall_usage() {
  std::string usage = "usage: pgdual COMMAND [OPTION...]\n";
  for (const auto& command : kCommands) {
    if (command.summary.empty()) continue;
    const std::string name{command.name};
    usage += "  " + name + std::string(kSummaryColumn - name.size(), ' ') + std::string{command.summary} + "\n";
  }
  return usage + "  --version          print pgdual's version\n"
                 "\"pgdual COMMAND --help\" says what COMMAND's options mean.\n";
}

int conflicts(std::span<char*> args) {
  if (asks_for_help(args)) return print_help(conflicts_help());
  if (args.empty()) return usage_error(conflicts_help(), "a command is required: report or resolve");
  return usage_error(conflicts_help(), "unknown command " + in_quotes(args[0]));
}

int help(std::span<char*> args) {
  if (asks_for_help(args)) return print_help(help_help());
  if (args.empty()) {
    std::fputs(overall_usage().c_str(), stdout);
    return 0;
  }
  const auto* command = find_command(args);
  if (command == nullptr || word_count(command->name) != args.size()) {
    return usage_error(help_help(), "unknown command " + in_quotes(joined(args)));
  }
  return print_help(command->help());
}

}  // namespace

int main(int argc, char** argv) {
  std::span<char*> args{argv + 1, static_cast<std::size_t>(argc - 1)};
  if (args.empty()) {
    std::fprintf(stderr, "pgdual: a command is required\n%s", overall_usage().c_str());
    return kUsageError;
  }
  const std::string_view first = args[0];
  if (first == "--version") {
    std::puts("pgdual " PGDUAL_VERSION);
    return 0;
  }
  if (first == "--help" || first == "-h") return help(args.subspan(1));
  if (const auto* command = find_command(args)) return command->run(args.subspan(word_count(command->name)));
  std::fprintf(stderr, "pgdual: unknown command %s\n%s", in_quotes(first).c_str(), overall_usage().c_str());
  return kUsageError;
}
