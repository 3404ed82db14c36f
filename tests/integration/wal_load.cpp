#include "tests/integration/wal_load.h"

#include <charconv>
#include <csignal>
#include <filesystem>
#include <sstream>

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kLoadScript =
    std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests/integration/data/wal_write_load.py";
constexpr auto kStuckLimit = 60s;

ProcessOptions as_client_of(const Endpoint& endpoint) {
  ProcessOptions options;
  options.env = endpoint.libpq_env();
  return options;
}

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream stream{text};
  for (std::string line; std::getline(stream, line);) lines.insert(line);
  return lines;
}

}  // namespace

long LoadReport::figure(std::string_view name) const {
  const auto label = "\n" + std::string{name} + " ";
  const auto found = ("\n" + output).find(label);
  if (found == std::string::npos) return -1;
  const auto* first = output.data() + found + label.size() - 1;
  long value = -1;
  std::from_chars(first, output.data() + output.size(), value);
  return value;
}

std::size_t LoadReport::missing_from(const std::string& rows) const {
  const auto present = lines_of(rows);
  std::size_t missing = 0;
  for (const auto& write : acknowledged) missing += present.contains(write) ? 0 : 1;
  return missing;
}

WriteLoad::WriteLoad(const Endpoint& endpoint, std::chrono::seconds duration, std::chrono::milliseconds mirror_timeout)
    : dir_{"pgdual-wal-load"},
      duration_{duration},
      started_{std::chrono::steady_clock::now()},
      process_{{"/usr/bin/python3", kLoadScript.string(), std::to_string(kClients), std::to_string(duration.count()),
                std::to_string(mirror_timeout.count()), (dir_.path() / "acknowledged").string()},
               as_client_of(endpoint), dir_.path() / "figures", dir_.path() / "stderr"} {}

LoadReport WriteLoad::finish() {
  const auto exit_code = process_.wait_for(duration_ + kStuckLimit);
  if (!exit_code) {
    process_.send_signal(SIGKILL);
    static_cast<void>(process_.wait_for(kStuckLimit));
  }
  LoadReport report;
  report.timed_out = !exit_code;
  report.exit_code = exit_code.value_or(-1);
  report.output = read_file(dir_.path() / "figures") + read_file(dir_.path() / "stderr");
  report.acknowledged = lines_of(read_file(dir_.path() / "acknowledged"));
  return report;
}

}  // namespace pgdual::test
