#include <cstdio>
#include <exception>
#include <memory>
#include <span>
#include <string_view>

#include "config/proxy_config.h"
#include "conflict/jobs/init_command.h"
#include "conflict/jobs/reconcile_command.h"
#include "conflict/jobs/report_command.h"
#include "conflict/jobs/resolve_command.h"
#include "conflict/jobs/verify_command.h"
#include "proxy/logging.h"
#include "proxy/server.h"

namespace {

constexpr int kUsageError = 2;

constexpr std::string_view kUsage =
    "usage: pgdual serve --config FILE                          run the proxy\n"
    "       pgdual init --config FILE --database NAME [--user NAME]\n"
    "                                                            create pgdual's schema on both backends\n"
    "       pgdual conflicts report --log FILE [--since T] [--until T] [--kind K] [--table T]\n"
    "                               [--status open|resolved] [--format text|json|csv|html] [--out FILE]\n"
    "                                                            summarize the conflict log\n"
    "       pgdual conflicts resolve --config FILE --id ID... --by NAME --reason TEXT\n"
    "                                                            close conflicts by hand, saying who and why\n"
    "       pgdual verify --config FILE --database NAME [--user NAME] [--table T...] [--chunk-rows N]\n"
    "                                                            compare the tables on both backends\n"
    "       pgdual reconcile --config FILE --database NAME [--user NAME] [--table T...] [--chunk-rows N]\n"
    "                        [--dry-run | --apply]               make the mirror's tables the primary's\n"
    "       pgdual --version\n";

int serve(std::span<char*> args) {
  if (args.size() != 2 || std::string_view{args[0]} != "--config") {
    std::fputs(kUsage.data(), stderr);
    return kUsageError;
  }
  auto loaded = pgdual::config::load_config(args[1]);
  if (!loaded) {
    std::fprintf(stderr, "pgdual: %s\n", loaded.error().to_string().c_str());
    return kUsageError;
  }
  auto config = std::make_shared<const pgdual::config::ProxyConfig>(std::move(*loaded));
  auto log = pgdual::proxy::make_logger(config->log);
  try {
    pgdual::proxy::Server server{args[1], config, log};
    server.run();
  } catch (const std::exception& error) {
    log->critical("{}", error.what());
    return 1;
  }
  return 0;
}

int conflicts(std::span<char*> args) {
  const std::string_view command = args.empty() ? std::string_view{} : args[0];
  if (command == "report") return pgdual::jobs::run_report_command(args.subspan(1));
  if (command == "resolve") return pgdual::jobs::run_resolve_command(args.subspan(1));
  std::fputs(kUsage.data(), stderr);
  return kUsageError;
}

}  // namespace

int main(int argc, char** argv) {
  std::span<char*> args{argv + 1, static_cast<std::size_t>(argc - 1)};
  if (args.empty()) {
    std::fputs(kUsage.data(), stderr);
    return kUsageError;
  }
  const std::string_view command = args[0];
  if (command == "serve") return serve(args.subspan(1));
  if (command == "init") return pgdual::jobs::run_init_command(args.subspan(1));
  if (command == "conflicts") return conflicts(args.subspan(1));
  if (command == "verify") return pgdual::jobs::run_verify_command(args.subspan(1));
  if (command == "reconcile") return pgdual::jobs::run_reconcile_command(args.subspan(1));
  if (command == "--version") {
    std::puts("pgdual " PGDUAL_VERSION);
    return 0;
  }
  std::fprintf(stderr, "pgdual: unknown command \"%s\"\n%s", args[0], kUsage.data());
  return kUsageError;
}
