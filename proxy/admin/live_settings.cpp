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
      {"routing.shadow_max_in_flight", running.routing.shadow_max_in_flight == loaded.routing.shadow_max_in_flight},
      {"routing.shadow_timeout_ms", running.routing.shadow_timeout == loaded.routing.shadow_timeout},
      {"brake", running.brake == loaded.brake},
      {"cutover", running.cutover == loaded.cutover},
      {"metrics", running.metrics == loaded.metrics},
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
      client_tls_{make_client_facing_tls(config_->tls)},
      credentials_{std::make_shared<const ClientCredentials>(config_->users)},
      file_primary_{config_->primary} {}

std::shared_ptr<const config::ProxyConfig> LiveSettings::current() const {
  std::lock_guard lock{mutex_};
  return config_;
}

std::shared_ptr<const ClientCredentials> LiveSettings::credentials() const {
  std::lock_guard lock{mutex_};
  return credentials_;
}

std::shared_ptr<ssl::context> LiveSettings::client_tls() const {
  std::lock_guard lock{mutex_};
  return client_tls_;
}

void LiveSettings::guard_ramp_with(std::function<RampFacts()> facts) { ramp_facts_ = std::move(facts); }

Expected<std::string, std::string> LiveSettings::set_read_percent(double percent, std::string_view who, bool forced) {
  return change_ramp(percent, who, forced, ramp_facts_ ? ramp_facts_() : RampFacts{});
}

Expected<std::string, std::string> LiveSettings::change_ramp(double percent, std::string_view who, bool forced,
                                                             const RampFacts& facts) {
  const auto before = steering_.global_percent();
  const bool was_braked = steering_.braked();
  const auto refusal = ramp_refusal({.from = was_braked ? 0 : before, .to = percent, .forced = false}, facts);
  if (refusal && !forced) {
    log_->warn("read_percent not raised to {} for {}: {}", percent, who, *refusal);
    return unexpected{*refusal};
  }
  brake_.reset();
  steering_.set_global_percent(percent);
  auto change = fmt::format("read_percent {} -> {}", was_braked ? std::string{"0 (braked)"} : fmt::format("{}", before),
                            percent);
  if (refusal) change += ", forced past: " + *refusal;
  log_->info("{} by {}", change, who);
  return change;
}

// The file has the last word over a SET: an operator pulls back for good by writing 0 there and
// reloading, whatever the console set since.
std::string LiveSettings::reload_ramp(double file_percent, std::string_view who, const RampFacts& facts) {
  if (file_percent == steering_.global_percent()) {
    return fmt::format("read_percent {}, unchanged{}", file_percent, steering_.braked() ? " (braked)" : "");
  }
  auto changed = change_ramp(file_percent, who, false, facts);
  if (changed) return *changed + " (from the file)";
  return fmt::format(
      "read_percent stays {}: the file's {} is refused: {}; SET read_percent = {} FORCE raises it anyway",
      steering_.braked() ? 0 : steering_.global_percent(), file_percent, changed.error(), file_percent);
}

std::string LiveSettings::set_shadow_percent(double percent, std::string_view who) {
  const auto before = steering_.shadow_percent();
  steering_.set_shadow_percent(percent);
  auto change = fmt::format("shadow_percent {} -> {}", before, percent);
  log_->info("{} by {}", change, who);
  return change;
}

// As for read_percent, the file has the last word over a SET; nothing guards a change.
std::string LiveSettings::reload_shadow(double file_percent, std::string_view who) {
  if (file_percent == steering_.shadow_percent()) return fmt::format("shadow_percent {}, unchanged", file_percent);
  return set_shadow_percent(file_percent, who) + " (from the file)";
}

void LiveSettings::keep_primary(std::string primary) {
  std::lock_guard lock{mutex_};
  auto copy = std::make_shared<config::ProxyConfig>(*config_);
  copy->primary = primary;
  config_ = std::move(copy);
  kept_primary_ = std::move(primary);
}

std::string LiveSettings::file_primary() const {
  std::lock_guard lock{mutex_};
  return file_primary_;
}

Expected<std::string, std::string> LiveSettings::reload(std::string_view who) {
  auto loaded = config::load_config(config_file_);
  if (!loaded) {
    log_->error("reload by {} refused, the running configuration stays: {}", who, loaded.error().to_string());
    return unexpected{loaded.error().to_string()};
  }
  std::string kept;
  {
    std::lock_guard lock{mutex_};
    kept = kept_primary_;
  }
  const std::string file_primary = loaded->primary;
  if (!kept.empty()) loaded->primary = kept;
  auto next = std::make_shared<const config::ProxyConfig>(std::move(*loaded));
  std::shared_ptr<ssl::context> next_tls;
  std::shared_ptr<const ClientCredentials> next_credentials;
  try {
    next_tls = make_client_facing_tls(next->tls);
    next_credentials = std::make_shared<const ClientCredentials>(next->users);
  } catch (const std::exception& error) {
    log_->error("reload by {} refused, the running configuration stays: {}", who, error.what());
    return unexpected{std::string{error.what()}};
  }
  const auto facts = ramp_facts_ ? ramp_facts_() : RampFacts{};
  std::lock_guard lock{mutex_};
  const auto restart = needing_restart(*config_, *next);
  const bool users_changed = config_->users != next->users;
  const auto ramp = reload_ramp(next->read_percent, who, facts);
  const auto shadow = reload_shadow(next->routing.shadow_percent, who);
  steering_.reconfigure(next->read_stickiness, next->read_rules);
  log_->set_level(spdlog::level::from_str(next->log.level));
  config_ = next;
  file_primary_ = file_primary;
  client_tls_ = std::move(next_tls);
  credentials_ = std::move(next_credentials);
  auto summary =
      fmt::format("reloaded {}: {}, {} rules; {}", config_file_.string(), ramp, next->read_rules.size(), shadow);
  if (users_changed) {
    summary += "; users changed for new logins (the WAL mirror and ledger pruning keep theirs until the next start)";
  }
  if (!restart.empty()) summary += "; changes to " + joined(restart) + " take effect at the next start";
  if (file_primary != next->primary) {
    summary += "; routing.primary is \"" + file_primary + "\" in the file, but \"" + next->primary +
               "\" stays the primary since SWAP ROLES (set routing.primary = \"" + next->primary +
               "\" in the file to match)";
  }
  log_->info("{} (by {})", summary, who);
  return summary;
}

}  // namespace pgdual::proxy
