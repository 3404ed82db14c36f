#pragma once

// Private to config/: the keys whose value is one of a fixed list of names, and those lists,
// which validate() checks and the messages quote.

#include <array>
#include <span>
#include <string_view>

namespace pgdual::config {

constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug", "info", "warn",
                                                        "error", "critical", "off"};
constexpr std::array<std::string_view, 2> kLogFormats = {"text", "json"};
constexpr std::array<std::string_view, 2> kBackendNames = {"onprem", "cloud"};
constexpr std::array<std::string_view, 2> kConflictSyncs = {"group", "every_append"};
constexpr std::array<std::string_view, 3> kReadStickiness = {"statement", "transaction", "session"};
constexpr std::array<std::string_view, 3> kTlsModes = {"disable", "allow", "require"};
constexpr std::array<std::string_view, 2> kTlsVersions = {"1.2", "1.3"};
constexpr std::array<std::string_view, 4> kSslModes = {"disable", "require", "verify-ca", "verify-full"};
constexpr std::array<std::string_view, 3> kHbaConnections = {"any", "tls", "plain"};
constexpr std::array<std::string_view, 4> kHbaMethods = {"scram-sha-256", "md5", "trust", "reject"};
constexpr std::array<std::string_view, 2> kMirrorModes = {"wal", "statement"};
/// mirror.large_objects and mirror.unlogged_tables: UncarriedWrites.
constexpr std::array<std::string_view, 2> kUncarriedWrites = {"refuse", "record"};

struct Choice {
  std::string_view path;
  std::span<const std::string_view> allowed;
};

constexpr Choice kChoices[] = {
    {"log.level", kLogLevels},
    {"log.format", kLogFormats},
    {"routing.primary", kBackendNames},
    {"routing.read_stickiness", kReadStickiness},
    {"conflicts.sync", kConflictSyncs},
    {"mirror.mode", kMirrorModes},
    {"mirror.large_objects", kUncarriedWrites},
    {"mirror.unlogged_tables", kUncarriedWrites},
    {"tls.mode", kTlsModes},
    {"tls.min_version", kTlsVersions},
    {"backends.onprem.sslmode", kSslModes},
    {"backends.cloud.sslmode", kSslModes},
};

}  // namespace pgdual::config
