#pragma once

#include <string>

#include "config/proxy_config.h"
#include "conflict/jobs/pg_client.h"
#include "protocol/expected.h"

/// pgdual serve's admin console, as the commands that steer it reach it (`pgdual ctl`, `pgdual sync`).
namespace pgdual::jobs {

/// The console as a backend: pgdual's own listening address, a wildcard taken as the loopback.
[[nodiscard]] config::BackendConfig console_of(const config::ProxyConfig& config);

/// The admin.users entry `asked` names, or the first of admin.users when `asked` is empty; or why
/// there is none to log in with.
[[nodiscard]] Expected<config::UserConfig, std::string> admin_user(const config::ProxyConfig& config,
                                                                   const std::string& asked);

}  // namespace pgdual::jobs
