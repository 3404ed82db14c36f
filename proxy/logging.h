#pragma once

#include <memory>

#include <spdlog/logger.h>

#include "config/proxy_config.h"

namespace pgdual::proxy {

/// The process logger: one line per event on stderr, as text or JSON Lines.
/// Callers log identifiers, states and SQLSTATEs only, never row data or
/// statement text (PHI).
[[nodiscard]] std::shared_ptr<spdlog::logger> make_logger(const config::LogConfig& settings);

}  // namespace pgdual::proxy
