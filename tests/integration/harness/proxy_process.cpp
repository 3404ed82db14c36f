#include "tests/integration/harness/proxy_process.h"

#include <csignal>
#include <stdexcept>

#include "tests/integration/harness/loopback.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kStartupLimit = 10s;
constexpr auto kShutdownLimit = 15s;  // above pgdual's default 10 s shutdown grace

std::string toml_string(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string backend_section(const std::string& name, const std::string& host, std::uint16_t port,
                            const std::string& lines) {
  return "[backends." + name + "]\nhost = " + toml_string(host) + "\nport = " + std::to_string(port) + "\n" + lines +
         "\n";
}

std::string limits_section(const ProxyLimits& limits) {
  std::string text;
  for (const auto& [key, value] : {std::pair{"max_client_connections", limits.max_client_connections},
                                   std::pair{"idle_session_timeout_ms", limits.idle_session_timeout_ms},
                                   std::pair{"idle_in_transaction_timeout_ms", limits.idle_in_transaction_timeout_ms},
                                   std::pair{"max_message_bytes", limits.max_message_bytes},
                                   std::pair{"startup_timeout_ms", limits.startup_timeout_ms},
                                   std::pair{"max_logins_in_progress", limits.max_logins_in_progress}}) {
    if (value) text += std::string{key} + " = " + std::to_string(*value) + "\n";
  }
  return text.empty() ? text : "[limits]\n" + text + "\n";
}

}  // namespace

std::string proxy_config_text(const ProxySettings& settings, std::uint16_t listen_port) {
  std::string text = "[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(listen_port) + "\n\n";
  text += "[log]\nlevel = " + toml_string(settings.log_level) + "\n\n";
  text += limits_section(settings.limits);
  if (settings.mirror_timeout_ms || !settings.mirror_lines.empty()) {
    text += "[mirror]\n" + settings.mirror_lines;
    if (settings.mirror_timeout_ms) text += "timeout_ms = " + std::to_string(*settings.mirror_timeout_ms) + "\n";
    text += "\n";
  }
  if (settings.ledger_prune_interval_ms || settings.ledger_retention_hours) {
    text += "[ledger]\n";
    if (settings.ledger_prune_interval_ms) {
      text += "prune_interval_ms = " + std::to_string(*settings.ledger_prune_interval_ms) + "\n";
    }
    if (settings.ledger_retention_hours) {
      text += "retention_hours = " + std::to_string(*settings.ledger_retention_hours) + "\n";
    }
    text += "\n";
  }
  if (!settings.conflict_log.empty()) {
    text += "[conflicts]\nlog_path = " + toml_string(settings.conflict_log) + "\n\n";
  }
  text += backend_section("onprem", settings.onprem_host, settings.onprem_port, settings.onprem_lines);
  text += backend_section("cloud", settings.cloud_host, settings.cloud_port, settings.cloud_lines);
  text += "[routing]\nprimary = " + toml_string(settings.primary) + "\n" + settings.routing;
  for (const auto& user : settings.users) {
    text += "\n[[users]]\nname = " + toml_string(user.name) + "\npassword = " + toml_string(user.password) + "\n";
  }
  return text + settings.extra;
}

ProxyProcess::ProxyProcess(const std::filesystem::path& binary, const ProxySettings& settings)
    : binary_(binary),
      root_("pgdual-proxy"),
      config_file_(root_.path() / "pgdual.toml"),
      log_file_(root_.path() / "pgdual.log"),
      conflict_log_(settings.conflict_log.empty() ? root_.path() / "conflicts.jsonl"
                                                  : std::filesystem::path{settings.conflict_log}),
      port_(free_loopback_port()) {
  auto with_log = settings;
  with_log.conflict_log = conflict_log_.string();
  write_file(config_file_, proxy_config_text(with_log, port_));
  launch();
}

void ProxyProcess::launch() {
  ProcessOptions options;
  options.working_dir = root_.path();
  process_.emplace(std::vector<std::string>{binary_.string(), "serve", "--config", config_file_.string()}, options,
                   log_file_, log_file_);
  exit_code_.reset();
  wait_until_listening();
}

ProxyProcess::~ProxyProcess() { stop(); }

Endpoint ProxyProcess::endpoint(const std::string& user, const std::string& password,
                                const std::string& database) const {
  return Endpoint{.host = "127.0.0.1", .port = port_, .user = user, .password = password, .database = database};
}

int ProxyProcess::stop() {
  if (exit_code_) return *exit_code_;
  process_->send_signal(SIGTERM);
  exit_code_ = process_->wait_for(kShutdownLimit);
  if (!exit_code_) {
    process_->send_signal(SIGKILL);
    exit_code_ = process_->wait_for(kShutdownLimit);
  }
  return exit_code_.value_or(128 + SIGKILL);
}

void ProxyProcess::crash() {
  process_->send_signal(SIGKILL);
  exit_code_ = process_->wait_for(kShutdownLimit);
}

void ProxyProcess::restart() {
  if (!exit_code_) throw std::logic_error{"pgdual restarted while it runs"};
  launch();
}

bool ProxyProcess::running() { return !exit_code_ && process_->running(); }

bool ProxyProcess::log_shows_within(const std::string& text, std::chrono::milliseconds limit) const {
  return wait_until([&] { return log().find(text) != std::string::npos; }, limit);
}

std::string ProxyProcess::log() const { return read_file(log_file_); }

void ProxyProcess::wait_until_listening() {
  const bool listening = wait_until([this] { return !process_->running() || accepts_connections(port_); },
                                    kStartupLimit) &&
                         process_->running();
  if (listening) return;
  const auto state = process_->running() ? std::string{"did not accept connections within 10 s"}
                                         : "exited with code " + std::to_string(*process_->wait_for(0ms));
  stop();
  throw std::runtime_error("pgdual " + state + "; config:\n" + read_file(config_file_) + "\nlog:\n" + log());
}

}  // namespace pgdual::test
