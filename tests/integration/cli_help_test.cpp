// pgdual's command line as a process: every command's --help, and a wrong command line named. No
// database: nothing here gets past parsing the arguments.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/harness/subprocess.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Words = std::vector<std::string>;

constexpr auto kTimeout = 30s;

RunResult pgdual(const Words& args) {
  Words argv{PGDUAL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {}, kTimeout);
}

Words with(Words words, const Words& more) {
  words.insert(words.end(), more.begin(), more.end());
  return words;
}

std::string joined(const Words& words) {
  std::string text;
  for (const auto& word : words) text.append(text.empty() ? "" : " ").append(word);
  return text;
}

/// True when a line of `help` begins with `option`, as two spaces, the option, then a space or nothing.
bool explains(const std::string& help, const std::string& option) {
  const auto at = help.find("\n  " + option);
  const auto after = at + 3 + option.size();
  return at != std::string::npos && after < help.size() && (help[after] == ' ' || help[after] == '\n');
}

struct CommandHelp {
  Words command;
  Words explained;  ///< each begins a line of the help, after two spaces
};

const std::vector<CommandHelp> kCommands{
    {{"serve"}, {"--config FILE"}},
    {{"init"}, {"--config FILE", "--database NAME", "--user NAME", "--drop"}},
    {{"check"}, {"--config FILE", "--database NAME"}},
    {{"sync"}, {"--config FILE", "--database NAME", "--user NAME", "--jobs N", "--force", "--progress, --no-progress"}},
    {{"verify"},
     {"--config FILE", "--database NAME", "--user NAME", "--table T...", "--chunk-rows N", "--jobs N",
      "--settle-ms MS", "--progress, --no-progress", "--at-one-point, --no-at-one-point"}},
    {{"reconcile"},
     {"--config FILE", "--database NAME", "--user NAME", "--table T...", "--chunk-rows N", "--dry-run", "--apply"}},
    {{"conflicts"}, {"report", "resolve"}},
    {{"conflicts", "report"},
     {"--log FILE", "--since T", "--until T", "--kind K", "--table T", "--status S", "--format F", "--out FILE"}},
    {{"conflicts", "resolve"}, {"--config FILE", "--id ID...", "--by NAME", "--reason TEXT"}},
    {{"help"}, {"COMMAND"}},
};

TEST_CASE("every command's --help, -h and pgdual help COMMAND print its usage and options on stdout",
          "[integration][cli]") {
  for (const auto& [command, explained] : kCommands) {
    const auto help = pgdual(with(command, {"--help"}));
    INFO(joined(command) << " --help: " << help.describe());
    CHECK(help.exit_code == 0);
    CHECK(help.err.empty());
    CHECK(help.out.starts_with("usage: pgdual " + joined(command) + " "));
    for (const auto& option : explained) CHECK(explains(help.out, option));

    CHECK(pgdual(with(command, {"-h"})).out == help.out);
    const auto asked = pgdual(with({"help"}, command));
    CHECK(asked.exit_code == 0);
    CHECK(asked.out == help.out);
    // Help wins over what else is wrong with the command line.
    const auto despite = pgdual(with(command, {"--no-such-option", "--help"}));
    CHECK(despite.exit_code == 0);
    CHECK(despite.out == help.out);
  }
}

TEST_CASE("pgdual --help, -h and help list the commands; --version prints the version", "[integration][cli]") {
  const auto help = pgdual({"--help"});
  INFO(help.describe());
  CHECK(help.exit_code == 0);
  CHECK(help.err.empty());
  CHECK(help.out.starts_with("usage: pgdual COMMAND"));
  for (const auto* command : {"serve", "init", "check", "sync", "verify", "reconcile", "conflicts report", "conflicts resolve",
                              "ctl", "help", "--version"}) {
    CHECK(explains(help.out, command));
  }
  CHECK(pgdual({"-h"}).out == help.out);
  CHECK(pgdual({"help"}).out == help.out);

  const auto version = pgdual({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.starts_with("pgdual "));

  const auto nothing = pgdual({});
  CHECK(nothing.exit_code == 2);
  CHECK(nothing.out.empty());
  CHECK(nothing.err.starts_with("pgdual: a command is required\nusage: pgdual COMMAND"));
}

struct WrongLine {
  Words args;
  std::string message;  ///< the first line on stderr
  std::string usage;    ///< how the usage that follows begins
};

TEST_CASE("a wrong command line exits 2 naming what is wrong, then the command's usage", "[integration][cli]") {
  const std::vector<WrongLine> cases{
      {{"foo"}, "pgdual: unknown command \"foo\"", "usage: pgdual COMMAND"},
      {{"serve"}, "pgdual serve: --config is required", "usage: pgdual serve --config FILE"},
      {{"serve", "--confg", "pgdual.toml"}, "pgdual serve: unknown option \"--confg\"", "usage: pgdual serve"},
      {{"serve", "--config"}, "pgdual serve: --config needs a value", "usage: pgdual serve"},
      {{"serve", "pgdual.toml"}, "pgdual serve: unexpected argument \"pgdual.toml\"", "usage: pgdual serve"},
      {{"init", "--database", "ehr"}, "pgdual init: --config is required", "usage: pgdual init --config FILE"},
      {{"init", "--config", "x.toml", "--database"}, "pgdual init: --database needs a value", "usage: pgdual init"},
      {{"init", "--config", "x.toml", "--databse", "ehr"}, "pgdual init: unknown option \"--databse\"",
       "usage: pgdual init"},
      {{"check"}, "pgdual check: --config is required", "usage: pgdual check --config FILE"},
      {{"check", "--config", "x.toml", "--databse", "ehr"}, "pgdual check: unknown option \"--databse\"",
       "usage: pgdual check"},
      {{"check", "--config", "x.toml", "--database"}, "pgdual check: --database needs a value", "usage: pgdual check"},
      {{"check", "--config", "x.toml", "--config", "y.toml"}, "pgdual check: --config given twice",
       "usage: pgdual check"},
      {{"check", "x.toml"}, "pgdual check: unexpected argument \"x.toml\"", "usage: pgdual check"},
      {{"sync", "--config", "x.toml"}, "pgdual sync: --database is required", "usage: pgdual sync --config"},
      {{"sync", "--config", "x.toml", "--database", "ehr", "--jobs", "0"},
       "pgdual sync: --jobs: expected a number from 1 to 64, got \"0\"", "usage: pgdual sync"},
      {{"sync", "--config", "x.toml", "--database", "a", "--database", "b"}, "pgdual sync: --database given twice",
       "usage: pgdual sync"},
      {{"verify", "--config", "x.toml"}, "pgdual verify: --database is required", "usage: pgdual verify --config"},
      {{"verify", "--config", "x.toml", "--database", "ehr", "--confg"}, "pgdual verify: unknown option \"--confg\"",
       "usage: pgdual verify"},
      {{"verify", "--config", "x.toml", "--database", "ehr", "--jobs"}, "pgdual verify: --jobs needs a value",
       "usage: pgdual verify"},
      {{"reconcile", "--config", "x.toml", "--database", "ehr", "--dry-run", "--apply"},
       "pgdual reconcile: --dry-run and --apply exclude each other", "usage: pgdual reconcile --config"},
      {{"reconcile", "--config", "x.toml", "--database", "ehr", "--jobs", "2"},
       "pgdual reconcile: unknown option \"--jobs\"", "usage: pgdual reconcile"},
      {{"conflicts"}, "pgdual conflicts: a command is required: report or resolve", "usage: pgdual conflicts"},
      {{"conflicts", "list"}, "pgdual conflicts: unknown command \"list\"", "usage: pgdual conflicts"},
      {{"conflicts", "report"}, "pgdual conflicts report: --log FILE is required", "usage: pgdual conflicts report"},
      {{"conflicts", "report", "--log", "c.jsonl", "--verbose"},
       "pgdual conflicts report: unknown option \"--verbose\"", "usage: pgdual conflicts report"},
      {{"conflicts", "resolve", "--config"}, "pgdual conflicts resolve: --config needs a value",
       "usage: pgdual conflicts resolve"},
      {{"conflicts", "resolve", "--config", "x.toml", "--id", "1", "--by", "dr.ops"},
       "pgdual conflicts resolve: --reason TEXT is required", "usage: pgdual conflicts resolve"},
      {{"ctl", "SHOW", "CUTOVER"}, "pgdual ctl: --config is required", "usage: pgdual ctl --config"},
      {{"ctl", "--config", "x.toml"}, "pgdual ctl: a console command is required, e.g. SHOW CUTOVER",
       "usage: pgdual ctl"},
      {{"ctl", "--confg", "x.toml", "SHOW", "CUTOVER"}, "pgdual ctl: unknown option \"--confg\"", "usage: pgdual ctl"},
      {{"help", "foo"}, "pgdual help: unknown command \"foo\"", "usage: pgdual help"},
  };
  for (const auto& [args, message, usage] : cases) {
    const auto result = pgdual(args);
    INFO(joined(args) << ": " << result.describe());
    CHECK(result.exit_code == 2);
    CHECK(result.out.empty());
    CHECK(result.err.starts_with(message));
    CHECK(result.err.find("\n" + usage) != std::string::npos);
  }
}

}  // namespace
}  // namespace pgdual::test
