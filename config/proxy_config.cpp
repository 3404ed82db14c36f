#include "config/proxy_config.h"

#include <exception>
#include <string>

#include "config/document.h"
#include "config/read_file.h"

namespace pgdual::config {

const BackendConfig& ProxyConfig::primary_backend() const noexcept { return primary == "cloud" ? cloud : onprem; }

const BackendConfig& ProxyConfig::mirror_backend() const noexcept { return primary == "cloud" ? onprem : cloud; }

const UserConfig* ProxyConfig::find_user(std::string_view name) const noexcept {
  for (const auto& user : users) {
    if (user.name == name) return &user;
  }
  return nullptr;
}

std::string ConfigError::to_string() const {
  std::string text = source;
  if (line != 0) {
    text.append(":").append(std::to_string(line));
    if (column != 0) text.append(":").append(std::to_string(column));
  }
  if (!text.empty()) text.append(": ");
  if (!key.empty()) text.append(key).append(": ");
  return text.append(message);
}

namespace {

Expected<ProxyConfig, ConfigError> parse_checked(std::string_view toml_text) {
  try {
    const toml::table doc = toml::parse(toml_text);
    if (auto shaped = check_schema(doc); !shaped) return unexpected(std::move(shaped.error()));
    if (auto valid = validate(doc); !valid) return unexpected(std::move(valid.error()));
    return to_proxy_config(doc);
  } catch (const toml::parse_error& error) {
    return unexpected(error_at(error.source(), "", std::string(error.description())));
  } catch (const std::exception& error) {
    // Out of memory, in practice. Callers get a ConfigError for every failure, never an exception.
    ConfigError failure;
    failure.message = std::string("cannot parse: ") + error.what();
    return unexpected(std::move(failure));
  }
}

}  // namespace

Expected<ProxyConfig, ConfigError> parse_config(std::string_view toml_text, std::string_view source_name) {
  auto config = parse_checked(toml_text);
  if (!config) config.error().source = source_name;
  return config;
}

Expected<ProxyConfig, ConfigError> load_config(const std::filesystem::path& file) {
  auto content = read_file(file);
  if (!content) {
    ConfigError failure;
    failure.source = file.string();
    failure.message = "cannot read the file: " + content.error();
    return unexpected(std::move(failure));
  }
  return parse_config(content->bytes, file.string());
}

}  // namespace pgdual::config
