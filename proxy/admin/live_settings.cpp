#include "proxy/admin/live_settings.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "proxy/net/tls_context.h"

namespace pgdual::proxy {
namespace {

/// The parts of the configuration a reload does not apply, each named as in the file, that
/// differ between `running` and `loaded`.
std::vector<std::string> needing_restart(const config::ProxyConfig& running, const config::ProxyConfig& loaded) {
  const std::vector<std::pair<std::string, bool>> sections{
      {"server", running.server == loaded.server},
      {"listen", running.listen == loaded.listen},
      {"limits", running.limits == loaded.limits},
      {"log.format", running.log.format == loaded.log.format},
      {"mirror", running.mirror == loaded.mirror},
      {"conflicts", running.conflicts == loaded.conflicts},
      {"ledger", running.ledger == loaded.ledger},
      {"sql", running.sql == loaded.sql},
      {"backends", running.onprem == loaded.onprem && running.cloud == loaded.cloud},
      {"routing.primary", running.primary == loaded.primary},
      {"brake", running.brake == loaded.brake},
      {"metrics", running.metrics == loaded.metrics},
      {"users", running.users == loaded.users},
  };
  std::vector<std::string> changed;
  for (const auto& [name, same] : sections) {
    if (!same) changed.push_back(name);
  }
  return changed;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

LiveSettings::LiveSettings(std::filesystem::path config_file, std::shared_ptr<const config::ProxyConfig> config,
                           ReadSteering& steering, ReadBrake& brake, std::shared_ptr<spdlog::logger> log)
    : config_file_{std::move(config_file)},
      steering_{steering},
      brake_{brake},
      log_{std::move(log)},
      config_{std::move(config)},
      client_tls_{make_client_facing_tls(config_->tls)} {}

std::shared_ptr<const config::ProxyConfig> LiveSettings::current() const {
  std::lock_guard lock{mutex_};
  return config_;
}

std::shared_ptr<ssl::context> LiveSettings::client_tls() const {
  std::lock_guard lock{mutex_};
  return client_tls_;
}

void LiveSettings::set_read_percent(double percent, std::string_view who) {
  const auto before = steering_.global_percent();
  const bool was_braked = steering_.braked();
  brake_.reset();
  steering_.set_global_percent(percent);
  log_->info("read_percent set to {} by {} (was {}{})", percent, who, before, was_braked ? ", braked" : "");
}

Expected<std::string, std::string> LiveSettings::reload(std::string_view who) {
  auto loaded = config::load_config(config_file_);
  if (!loaded) {
    log_->error("reload by {} refused, the running configuration stays: {}", who, loaded.error().to_string());
    return unexpected{loaded.error().to_string()};
  }
  auto next = std::make_shared<const config::ProxyConfig>(std::move(*loaded));
  std::shared_ptr<ssl::context> next_tls;
  try {
    next_tls = make_client_facing_tls(next->tls);
  } catch (const std::runtime_error& error) {
    log_->error("reload by {} refused, the running configuration stays: {}", who, error.what());
    return unexpected{std::string{error.what()}};
  }
  std::lock_guard lock{mutex_};
  const auto restart = needing_restart(*config_, *next);
  if (next->read_percent != config_->read_percent) set_read_percent(next->read_percent, who);
  steering_.reconfigure(next->read_stickiness, next->read_rules);
  log_->set_level(spdlog::level::from_str(next->log.level));
  config_ = next;
  client_tls_ = std::move(next_tls);
  auto summary = fmt::format("reloaded {}: read_percent {}, {} rules", config_file_.string(),
                             steering_.global_percent(), next->read_rules.size());
  if (!restart.empty()) summary += "; changes to " + joined(restart) + " take effect at the next start";
  log_->info("{} (by {})", summary, who);
  return summary;
}

}  // namespace pgdual::proxy
