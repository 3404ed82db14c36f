#include "conflict/jobs/point_snapshot.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

#include "conflict/sql_text.h"

namespace pgdual::jobs {
namespace {

using Clock = std::chrono::steady_clock;

/// Attempts before verify gives the point up: one fails when the hold expires while the slot is
/// made (a long write transaction on the primary delays the slot's consistent point).
constexpr int kAttempts = 3;
/// How often verify commits a tiny transaction while it waits for the apply to stop: the apply
/// stops before a transaction, and a quiet primary has none.
constexpr std::chrono::milliseconds kEmitInterval{20};
/// How long verify waits for the console's answer to the first hold; serve answers within its own
/// limit (ApplyHold::kLimit, 3 s).
constexpr std::chrono::seconds kHoldAnswer{10};

/// A transaction that changes nothing: a logical message under a prefix that pgdual's apply
/// passes over (proxy/mirror/apply_connection.cpp, take_message).
constexpr std::string_view kTinyTransaction = "SELECT pg_catalog.pg_logical_emit_message(true, 'pgdual.verify', '')";

/// pgdual's client port, as a client on this host reaches it.
config::BackendConfig console_endpoint(const config::ProxyConfig& config) {
  config::BackendConfig console;
  console.name = "pgdual admin console";
  const auto& address = config.listen.address;
  console.host = address == "0.0.0.0" ? "127.0.0.1" : address == "::" ? "::1" : address;
  console.port = config.listen.port;
  console.sslmode = config.tls.mode == config::TlsMode::disable ? config::SslMode::disable : config::SslMode::require;
  return console;
}

/// An admin user (admin.users) with a password verify can log in with: `user` when it is one.
config::UserConfig console_login(const config::ProxyConfig& config, const config::UserConfig& user) {
  const auto& admins = config.admin.users;
  const config::UserConfig* chosen = nullptr;
  if (std::ranges::find(admins, user.name) != admins.end() && !user.password.empty()) chosen = &user;
  for (auto name = admins.begin(); chosen == nullptr && name != admins.end(); ++name) {
    const auto* candidate = config.find_user(*name);
    if (candidate != nullptr && !candidate->password.empty()) chosen = candidate;
  }
  if (chosen == nullptr) {
    throw PointUnavailable{"no user of admin.users has a password in the configuration to log in to pgdual's "
                           "admin console with"};
  }
  // Clients log in to pgdual with the user's own password, never a backend's override.
  return config::UserConfig{.name = chosen->name, .password = chosen->password};
}

PgClient console_client(const config::ProxyConfig& config, const config::UserConfig& user) {
  const auto endpoint = console_endpoint(config);
  try {
    return PgClient{endpoint, console_login(config, user), "pgdual"};
  } catch (const PgClientError& error) {
    throw PointUnavailable{"pgdual serve's admin console at " + endpoint.host + ":" + std::to_string(endpoint.port) +
                           " cannot be used: " + error.what()};
  }
}

/// Rows of a simple query sent to the console or a replication connection.
std::vector<PgClient::Row> simple(PgClient& client, const std::string& sql) {
  client.send_simple(sql);
  return client.receive();
}

std::string value_of(const std::vector<PgClient::Row>& rows, std::size_t column) {
  if (rows.empty() || rows.front().size() <= column || !rows.front()[column]) {
    throw PgClientError{"an answer without the expected column"};
  }
  return *rows.front()[column];
}

}  // namespace

/// The attempt's connections are made before the apply is held, so that the hold does not last
/// their logins too; they go with a failed attempt, and what they held with them.
struct PointInTime::Connections {
  PgClient console;
  PgClient primary;  ///< commits the tiny transactions
  std::optional<PgClient> replication{};  ///< holds the slot and the primary's exported snapshot
  std::optional<PgClient> mirror{};       ///< holds the transaction whose snapshot it exported
};

PointInTime::PointInTime(const config::ProxyConfig& config, const config::UserConfig& user,
                         const std::string& database)
    : config_{config}, user_{user}, database_{database} {
  auto console = console_client(config, user);
  try {
    connections_ = std::make_unique<Connections>(Connections{
        .console = std::move(console),
        .primary = PgClient{config.primary_backend(), user, database},
    });
  } catch (const PgClientError& error) {
    throw PointUnavailable{error.what()};
  }
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    try {
      take(*connections_);
      return;
    } catch (const PgClientError& error) {
      failed_attempts_.emplace_back(error.what());
    } catch (const PointUnavailable& error) {
      failed_attempts_.emplace_back(error.what());
    }
    // An attempt that failed half-way leaves nothing standing for the next.
    connections_->replication.reset();
    connections_->mirror.reset();
    try {
      static_cast<void>(simple(connections_->console, "RESUME APPLY " + conflict::quote_identifier(database_)));
    } catch (const PgClientError&) {
      // The console says this session holds nothing: the hold ended with the failure.
    }
  }
  throw PointUnavailable{failed_attempts_.back()};
}

PointInTime::~PointInTime() = default;

// The order matters: the apply stands before the slot is made, so that it cannot be past the
// slot's point by the time verify learns it (under load it follows the primary within a
// millisecond); and it stands as short a time as the slot takes to make.
void PointInTime::take(Connections& connections) {
  // A validated configuration names a [[users]] entry there.
  const auto* replication_user = config_.find_user(config_.mirror.replication_user);
  auto& replication = connections.replication.emplace(config_.primary_backend(), *replication_user, database_,
                                                      PgClient::Kind::replication);
  auto& mirror = connections.mirror.emplace(config_.mirror_backend(), user_, database_);
  const auto database = conflict::quote_identifier(database_);
  connections.console.send_simple("HOLD APPLY " + database);
  const auto deadline = Clock::now() + kHoldAnswer;
  while (!connections.console.ready_within(kEmitInterval)) {
    if (Clock::now() > deadline) throw PointUnavailable{"pgdual's admin console did not answer HOLD APPLY"};
    connections.primary.execute(std::string{kTinyTransaction});
  }
  static_cast<void>(connections.console.receive());
  // A temporary slot goes when its walsender exits, a moment after its connection closed: a name
  // of its own for each attempt, and each PointInTime of the process.
  static std::atomic<int> points{0};
  const auto slot = "pgdual_verify_" + std::to_string(getpid()) + "_" + std::to_string(++points);
  const auto created = simple(replication, "CREATE_REPLICATION_SLOT " + slot +
                                               " TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')");
  position_ = value_of(created, 1);
  snapshots_.primary = value_of(created, 2);
  // Committed after the slot's point: the apply has a transaction to stop before there.
  connections.primary.execute(std::string{kTinyTransaction});
  static_cast<void>(simple(connections.console, "HOLD APPLY " + database + " AT '" + position_ + "'"));
  mirror.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  snapshots_.mirror = mirror.query_value("SELECT pg_catalog.pg_export_snapshot()");
  const auto resumed = simple(connections.console, "RESUME APPLY " + database);
  held_ms_ = value_of(resumed, 1);
  commits_waited_ms_ = value_of(resumed, 2);
}

std::unique_ptr<PointInTime> point_in_time(const config::ProxyConfig& config, const config::UserConfig& user,
                                           const std::string& database, std::optional<bool> asked, std::string& note) {
  if (asked == false) return nullptr;
  if (config.mirror.mode != config::MirrorMode::wal) {
    if (asked) throw PointUnavailable{"it needs mirror.mode = \"wal\""};
    return nullptr;
  }
  try {
    return std::make_unique<PointInTime>(config, user, database);
  } catch (const PointUnavailable& error) {
    if (asked) throw;
    note = error.what();
    return nullptr;
  }
}

}  // namespace pgdual::jobs
