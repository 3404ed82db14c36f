#include "proxy/admin/admin_console.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <random>
#include <utility>

#include <spdlog/fmt/fmt.h>

#include "conflict/compare.h"
#include "protocol/authentication.h"
#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/admin/apply_hold_console.h"
#include "proxy/admin/console_commands.h"
#include "proxy/admin/ramp_facts.h"
#include "proxy/admin/cutover_console.h"
#include "proxy/admin/instances_table.h"
#include "proxy/admin/live_settings.h"
#include "proxy/conflict_sink.h"
#include "proxy/mirror/wal_mirrors.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/read_steering.h"
#include "proxy/route/shadow_judgement.h"
#include "proxy/session_registry.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::frontend_tag;

/// OID of type text, which every console column is.
constexpr std::int32_t kTextOid = 25;

// Lower-cased words; "=" is a word of its own and a trailing ";" is dropped.
std::vector<std::string> words_of(std::string_view text) {
  while (!text.empty() && (std::isspace(static_cast<unsigned char>(text.back())) != 0 || text.back() == ';')) {
    text.remove_suffix(1);
  }
  std::vector<std::string> words;
  std::string word;
  const auto end_word = [&] {
    if (!word.empty()) words.push_back(std::exchange(word, {}));
  };
  for (const char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      end_word();
    } else if (c == '=') {
      end_word();
      words.emplace_back("=");
    } else {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  end_word();
  return words;
}

// `parameter` names the setting in the message, as PostgreSQL's own SET does.
Expected<double, AdminError> percent_of(std::string_view parameter, std::string value) {
  if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') value = value.substr(1, value.size() - 2);
  double percent = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), percent);
  if (error != std::errc{} || end != value.data() + value.size() || !std::isfinite(percent) || percent < 0 ||
      percent > 100) {
    return unexpected{
        AdminError{protocol::sqlstate::kInvalidParameterValue,
                   fmt::format("invalid value for parameter \"{}\": \"{}\"; it takes a number from 0 to 100",
                               parameter, value)}};
  }
  return percent;
}

AdminError unknown_command() {
  return {protocol::sqlstate::kSyntaxError,
          "not an admin console command; the console knows " + console_command_list()};
}

// Nothing guards shadow reads, so there is nothing to force past: a FORCE is a mistake worth naming.
Expected<AdminCommand, AdminError> parse_set_shadow(const std::vector<std::string>& words, bool force) {
  if (force) {
    return unexpected{AdminError{protocol::sqlstate::kSyntaxError,
                                 "SET shadow_percent takes no FORCE: shadow reads never change what a client gets, "
                                 "so nothing refuses them"}};
  }
  auto percent = percent_of("shadow_percent", words[3]);
  if (!percent) return unexpected{percent.error()};
  return AdminCommand{.verb = AdminVerb::set_shadow_percent, .shadow_percent = *percent};
}

Expected<AdminCommand, AdminError> parse_set(const std::vector<std::string>& words) {
  const bool force = words.size() == 5 && words[4] == "force";
  if ((words.size() != 4 && !force) || (words[2] != "=" && words[2] != "to")) return unexpected{unknown_command()};
  if (words[1] == "shadow_percent") return parse_set_shadow(words, force);
  if (words[1] != "read_percent") {
    return unexpected{
        AdminError{protocol::sqlstate::kUndefinedObject, "unrecognized configuration parameter \"" + words[1] + "\""}};
  }
  auto percent = percent_of("read_percent", words[3]);
  if (!percent) return unexpected{percent.error()};
  return AdminCommand{.verb = AdminVerb::set_read_percent, .read_percent = *percent, .force = force};
}

std::string milliseconds(std::chrono::microseconds duration) {
  return fmt::format("{:.3f}", duration.count() / 1000.0);
}

std::string percent_text(double percent) { return fmt::format("{}%", percent); }

std::string mirror_steering(const ReadSteering& steering) {
  return steering.braked() ? "braked: 0% (was " + percent_text(steering.global_percent()) + ")"
                           : percent_text(steering.global_percent());
}

AdminTable backends_table(const AdminContext& context) {
  const auto config = context.settings.current();
  const auto now = ReadBrake::Clock::now();
  AdminTable table{{"name", "role", "address", "state", "sessions", "reads", "errors", "error_rate", "p50_ms",
                    "p99_ms", "reads_steered"},
                   {}};
  const auto summaries = context.sessions.summaries();
  const auto connected = std::ranges::count_if(summaries, [](const auto& entry) {
    return entry.second.mirror == "connected";
  });
  for (const auto backend : {Backend::primary, Backend::mirror}) {
    const bool primary = backend == Backend::primary;
    const auto& settings = primary ? config->primary_backend() : config->mirror_backend();
    const auto window = context.brake.snapshot(backend, now);
    // A session ends when it loses the primary; the mirror it may lack for a while.
    auto state = primary || connected == static_cast<std::ptrdiff_t>(summaries.size())
                     ? std::string{"connected"}
                     : fmt::format("reconnecting in {} sessions", summaries.size() - connected);
    if (const auto syncing = databases_not_in_sync(context.wal_mirrors); !primary && !syncing.empty()) {
      state += "; " + syncing;
    }
    table.rows.push_back({settings.name, primary ? "primary" : "mirror",
                          settings.host + ":" + std::to_string(settings.port), state,
                          std::to_string(summaries.size()), std::to_string(window.reads),
                          std::to_string(window.errors), fmt::format("{:.2f}%", window.error_rate_percent),
                          milliseconds(window.p50), milliseconds(window.p99),
                          primary ? "" : mirror_steering(context.steering)});
  }
  return table;
}

AdminTable stats_table(const AdminContext& context) {
  const auto config = context.settings.current();
  AdminTable table{{"name", "value"},
                   {{"sessions", std::to_string(context.sessions.size())},
                    {"read_percent", percent_text(context.steering.global_percent())},
                    {"read_brake", context.steering.braked() ? "engaged" : "released"},
                    {"read_window_seconds", std::to_string(config->brake.window.count())},
                    {"mirror_latency_ratio_p99",
                     fmt::format("{:.2f}", context.brake.relative_p99(ReadBrake::Clock::now()))},
                    {"shadow_percent", percent_text(context.steering.shadow_percent())}}};
  const auto shadows = context.shadows.totals();
  table.rows.push_back({"shadow_compared", std::to_string(shadows.compared())});
  for (std::size_t finding = 0; finding < kShadowFindings; ++finding) {
    table.rows.push_back({"shadow_" + std::string{to_string(static_cast<ShadowFinding>(finding))},
                          std::to_string(shadows.counts[finding])});
  }
  table.rows.push_back({"conflicts_written", std::to_string(context.conflicts.written())});
  table.rows.push_back({"conflicts_lost", std::to_string(context.conflicts.failed())});
  table.rows.push_back({"resolutions_appended", std::to_string(context.conflicts.resolutions_appended())});
  return table;
}

// One row per statement fingerprint shadow reads compared: the statement's shape, no constants.
AdminTable shadows_table(const AdminContext& context) {
  AdminTable table{{"fingerprint", "statement", "compared", "matched", "settled", "varied", "mismatched", "abandoned",
                    "excluded"},
                   {}};
  for (const auto& counts : context.shadows.counts()) {
    std::vector<std::string> row{counts.fingerprint, counts.normalized, std::to_string(counts.compared())};
    for (const auto& count : counts.counts) row.push_back(std::to_string(count));
    row.emplace_back(counts.excluded ? "yes" : "no");
    table.rows.push_back(std::move(row));
  }
  return table;
}

AdminTable sessions_table(const AdminContext& context) {
  AdminTable table{{"id", "user", "database", "application_name", "client_address", "connected_at", "mirror", "reads"},
                   {}};
  for (const auto& [id, session] : context.sessions.summaries()) {
    table.rows.push_back({std::to_string(id), session.user, session.database, session.application_name,
                          session.client_address, session.connected_at, session.mirror, session.reads});
  }
  return table;
}

// One row per database clients used: the figures /metrics and /health show too.
AdminTable wal_table(const AdminContext& context) {
  AdminTable table{{"database", "state", "lag_bytes", "lag_seconds", "retained_bytes", "applied_transactions",
                    "waiting", "last_error", "sync", "sync_tables", "sync_rows", "sync_bytes"},
                   {}};
  if (context.wal_mirrors == nullptr) return table;
  for (const auto& mirror : context.wal_mirrors->progress()) {
    const auto& sync = mirror.progress.sync;
    table.rows.push_back({mirror.database, std::string{to_string(mirror.status.state)},
                          std::to_string(mirror.lag.lag_bytes),
                          fmt::format("{:.1f}", std::chrono::duration<double>(mirror.lag.lag).count()),
                          std::to_string(mirror.lag.retained_bytes), std::to_string(mirror.progress.transactions),
                          std::to_string(mirror.waiting), mirror.status.problem, std::string{to_string(sync.state)},
                          fmt::format("{}/{}", sync.tables_done, sync.tables_total), std::to_string(sync.rows_copied),
                          fmt::format("{}/{}", sync.bytes_copied, sync.bytes_total)});
  }
  return table;
}

AdminTable instances_of(const AdminContext& context) {
  if (context.wal_mirrors == nullptr) return instances_table({}, {});
  return instances_table(context.wal_mirrors->progress(), context.wal_mirrors->self().id);
}

// SHOW CUTOVER's: the database furthest behind sets how long a swap's drain takes.
std::string joined(const std::vector<std::string>& parts) {
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : ",") + part;
  return text;
}

std::vector<AdminTable> conflicts_tables(const AdminContext& context) {
  AdminTable counts{{"kind", "count"}, {}};
  for (const auto& [kind, count] : context.conflicts.counts_by_kind()) {
    counts.rows.push_back({std::string{conflict::to_string(kind)}, std::to_string(count)});
  }
  AdminTable recent{{"time", "id", "kind", "database", "tables", "statement_fingerprint"}, {}};
  for (const auto& conflict : context.conflicts.recent()) {
    recent.rows.push_back({conflict.time, conflict.id, std::string{conflict::to_string(conflict.kind)},
                           conflict.database, joined(conflict.tables), conflict.statement_fingerprint});
  }
  return {std::move(counts), std::move(recent)};
}

std::string rule_text(const config::ReadRule& rule) {
  std::vector<std::string> keys;
  if (rule.user) keys.push_back("user=" + *rule.user);
  if (rule.database) keys.push_back("database=" + *rule.database);
  if (rule.application_name) keys.push_back("application_name=" + *rule.application_name);
  if (rule.client_network) keys.push_back("client_cidr=" + rule.client_network->text);
  return joined(keys) + " -> " + percent_text(rule.read_percent);
}

std::string_view stickiness_text(config::ReadStickiness stickiness) {
  switch (stickiness) {
    case config::ReadStickiness::statement: return "statement";
    case config::ReadStickiness::transaction: return "transaction";
    case config::ReadStickiness::session: return "session";
  }
  return "statement";
}

// Settings as they are in force; passwords and keys are never shown.
AdminTable config_table(const AdminContext& context) {
  const auto config = context.settings.current();
  const auto endpoint = [](const config::BackendConfig& backend) {
    return backend.host + ":" + std::to_string(backend.port);
  };
  AdminTable table{{"key", "value"},
                   {{"listen", config->listen.address + ":" + std::to_string(config->listen.port)},
                    {"routing.primary", config->primary},
                    {"routing.read_percent", percent_text(context.steering.global_percent())},
                    {"routing.read_stickiness", std::string{stickiness_text(context.steering.stickiness())}},
                    {"routing.shadow_percent", percent_text(context.steering.shadow_percent())},
                    {"routing.shadow_max_in_flight", std::to_string(config->routing.shadow_max_in_flight)},
                    {"routing.shadow_timeout_ms", std::to_string(config->routing.shadow_timeout.count())},
                    {"backends.onprem", endpoint(config->onprem)},
                    {"backends.cloud", endpoint(config->cloud)},
                    {"mirror.timeout_ms", std::to_string(config->mirror.timeout.count())},
                    {"brake.error_rate_percent", fmt::format("{}", config->brake.error_rate_percent)},
                    {"brake.latency_ratio", fmt::format("{}", config->brake.latency_ratio)},
                    {"brake.p99_latency_ms", std::to_string(config->brake.p99_latency.count())},
                    {"brake.window_seconds", std::to_string(config->brake.window.count())},
                    {"brake.min_reads", std::to_string(config->brake.min_reads)},
                    {"conflicts.log_path", config->conflicts.log_path.string()},
                    {"admin.users", joined(config->admin.users)},
                    {"metrics.health_lag_seconds", std::to_string(config->metrics.health_lag.count())},
                    {"log.level", config->log.level}}};
  for (std::size_t i = 0; i < config->read_rules.size(); ++i) {
    table.rows.push_back({"routing.rules[" + std::to_string(i) + "]", rule_text(config->read_rules[i])});
  }
  return table;
}

void encode_error(const AdminError& error, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  protocol::encode(protocol::make_error("ERROR", error.sqlstate, error.message), writer);
}

void encode_notice(std::string_view text, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  protocol::encode(protocol::NoticeResponse{protocol::make_error("NOTICE", "00000", text).fields}, writer);
}

void encode_tag(std::string_view tag, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  protocol::encode(protocol::CommandComplete{tag}, writer);
}

// A refused raise names every reason, and how to insist.
void set_read_percent(const AdminCommand& command, const AdminContext& context, const std::string& who,
                      std::vector<std::byte>& out) {
  const auto changed = context.settings.set_read_percent(command.read_percent, who, command.force);
  if (!changed) {
    const auto percent = fmt::format("{}", command.read_percent);
    return encode_error({protocol::sqlstate::kObjectNotInPrerequisiteState,
                         "read_percent not raised to " + percent + ": " + changed.error() +
                             "; SET read_percent = " + percent + " FORCE raises it anyway"},
                        out);
  }
  encode_notice(*changed, out);
  encode_tag("SET", out);
}

void set_shadow_percent(const AdminCommand& command, const AdminContext& context, const std::string& who,
                        std::vector<std::byte>& out) {
  encode_notice(context.settings.set_shadow_percent(command.shadow_percent, who), out);
  encode_tag("SET", out);
}

void run_command(const AdminCommand& command, const AdminContext& context, const std::string& user,
                 std::vector<std::byte>& out) {
  const auto who = "admin console user " + user;
  switch (command.verb) {
    case AdminVerb::show_backends: return encode_table(backends_table(context), out);
    case AdminVerb::show_stats: return encode_table(stats_table(context), out);
    case AdminVerb::show_sessions: return encode_table(sessions_table(context), out);
    case AdminVerb::show_conflicts:
      for (const auto& table : conflicts_tables(context)) encode_table(table, out);
      return;
    case AdminVerb::show_config: return encode_table(config_table(context), out);
    case AdminVerb::show_wal: return encode_table(wal_table(context), out);
    case AdminVerb::show_shadows: return encode_table(shadows_table(context), out);
    case AdminVerb::show_instances: return encode_table(instances_of(context), out);
    case AdminVerb::set_read_percent: return set_read_percent(command, context, who, out);
    case AdminVerb::set_shadow_percent: return set_shadow_percent(command, context, who, out);
    case AdminVerb::reload: {
      const auto reloaded = context.settings.reload(who);
      if (!reloaded)
        return encode_error({protocol::sqlstate::kConfigFileError, "configuration not reloaded: " + reloaded.error()},
                            out);
      encode_notice(*reloaded, out);
      return encode_tag("RELOAD", out);
    }
    case AdminVerb::show_version: return encode_table(version_table(), out);
    case AdminVerb::show_help: return encode_table(help_table(), out);
    case AdminVerb::kill: return kill_session(command, context, out);
    case AdminVerb::shutdown:
      context.log->warn("admin console: {} asked pgdual to shut down", user);
      return encode_tag("SHUTDOWN", out);  // serve_admin_console() begins it once this is sent
    case AdminVerb::hold_apply:
    case AdminVerb::resume_apply:
    case AdminVerb::start_apply:
      return;  // they wait for the apply: answer_apply_hold() runs them
    case AdminVerb::show_checks:
      return;  // they wait for the servers: answer_show_checks() runs them
    case AdminVerb::pause_writes:
      return;  // it waits for the running writes: answer_pause_writes() runs it
    case AdminVerb::resume_writes: return resume_writes(context.write_gate, *context.log, audit_trail(context), user, out);
    case AdminVerb::show_cutover:
      return encode_table(cutover_table(context), out);
    case AdminVerb::swap_roles:
      return;  // it waits for the mirrors: answer_swap_roles() runs it
  }
}

std::vector<std::byte> answer(std::string_view sql, const AdminContext& context, const std::string& user) {
  std::vector<std::byte> out;
  protocol::Writer writer{out};
  if (words_of(sql).empty()) {
    protocol::encode(protocol::EmptyQueryResponse{}, writer);
  } else if (auto command = parse_admin_command(sql)) {
    context.log->info("admin console: {} ran {}", user, sql.substr(0, 200));
    run_command(*command, context, user, out);
  } else {
    encode_error(command.error(), out);
  }
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::idle}, writer);
  return out;
}

// Who runs the console's commands, as logs and SHOW CUTOVER name them: the user at the client's
// address, or the user alone once the socket has lost its peer.
std::string console_identity(const Stream& client, const std::string& user) {
  boost::system::error_code error;
  const auto endpoint = client.lowest_layer().remote_endpoint(error);
  if (error) return user;
  const auto address = endpoint.address();
  const auto host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return fmt::format("{}@{}:{}", user, host, endpoint.port());
}

std::vector<std::byte> greeting() {
  std::vector<std::byte> out;
  protocol::Writer writer{out};
  protocol::encode(protocol::AuthenticationOk{}, writer);
  for (const auto& [name, value] : {std::pair{"server_version", "15.0"}, std::pair{"server_encoding", "UTF8"},
                                    std::pair{"client_encoding", "UTF8"}, std::pair{"DateStyle", "ISO, MDY"},
                                    std::pair{"integer_datetimes", "on"},
                                    std::pair{"standard_conforming_strings", "on"}, std::pair{"TimeZone", "UTC"}}) {
    protocol::encode(protocol::ParameterStatus{name, value}, writer);
  }
  // Nothing runs long in the console: a cancel request with this key finds nothing, as PgBouncer's.
  thread_local std::mt19937 random{std::random_device{}()};
  protocol::encode(protocol::BackendKeyData{static_cast<std::int32_t>(random()), static_cast<std::int32_t>(random())},
                   writer);
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::idle}, writer);
  return out;
}

}  // namespace

Expected<AdminCommand, AdminError> parse_admin_command(std::string_view text) {
  // Before RESUME APPLY's parser, which takes every RESUME.
  if (auto pause = parse_cutover_command(text)) return std::move(*pause);
  if (auto hold = parse_apply_hold_command(text)) return std::move(*hold);
  if (auto checks = parse_show_checks(text)) return std::move(*checks);
  const auto words = words_of(text);
  if (words.size() == 1 && words[0] == "reload") return AdminCommand{.verb = AdminVerb::reload};
  if (words.size() == 1 && words[0] == "shutdown") return AdminCommand{.verb = AdminVerb::shutdown};
  if (!words.empty() && words[0] == "kill") return parse_kill(words);
  if (!words.empty() && words[0] == "set") return parse_set(words);
  if (words.size() != 2 || words[0] != "show") return unexpected{unknown_command()};
  static constexpr std::array<std::pair<std::string_view, AdminVerb>, 11> kShows{{
      {"backends", AdminVerb::show_backends},
      {"stats", AdminVerb::show_stats},
      {"sessions", AdminVerb::show_sessions},
      {"conflicts", AdminVerb::show_conflicts},
      {"config", AdminVerb::show_config},
      {"wal", AdminVerb::show_wal},
      {"shadows", AdminVerb::show_shadows},
      {"instances", AdminVerb::show_instances},
      {"cutover", AdminVerb::show_cutover},
      {"version", AdminVerb::show_version},
      {"help", AdminVerb::show_help},
  }};
  const auto found = std::ranges::find(kShows, words[1], &std::pair<std::string_view, AdminVerb>::first);
  if (found == kShows.end()) return unexpected{unknown_command()};
  return AdminCommand{.verb = found->second};
}

void encode_table(const AdminTable& table, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  protocol::RowDescription description;
  for (const auto& column : table.columns) {
    description.fields.push_back(
        {.name = column, .data_type_oid = kTextOid, .data_type_size = -1, .type_modifier = -1});
  }
  protocol::encode(description, writer);
  for (const auto& row : table.rows) {
    protocol::OwnedDataRow data;
    data.columns.assign(row.begin(), row.end());
    protocol::encode(data, writer);
  }
  protocol::encode(protocol::CommandComplete{"SHOW"}, writer);
}

Awaitable<void> serve_admin_console(Stream& client, MessageReader& reader, const AdminContext& context,
                                    std::string user) {
  const auto who = console_identity(client, user);
  context.log->info("admin console: {} connected", who);
  const auto console = next_console_number();
  const ApplyHoldRelease release_holds{context.wal_mirrors, console};
  co_await send_all(client, greeting());
  bool skipping_to_sync = false;
  for (;;) {
    const auto frame = co_await reader.next_frame(client);
    std::vector<std::byte> out;
    bool shutting_down = false;
    if (frame.tag == tags::kTerminate) co_return;
    if (frame.tag == tags::kQuery) {
      const auto query = protocol::decode_query(frame.body);
      const auto sql = query ? query->query : std::string_view{};
      const auto command = parse_admin_command(sql);
      if (command && holds_apply(command->verb)) {
        context.log->info("admin console: {} ran {}", who, sql.substr(0, 200));
        out = co_await answer_apply_hold(*command, context, console);
      } else if (command && command->verb == AdminVerb::pause_writes) {
        context.log->info("admin console: {} ran {}", who, sql.substr(0, 200));
        out = co_await answer_pause_writes(*command, context, who);
      } else if (command && command->verb == AdminVerb::swap_roles) {
        context.log->info("admin console: {} ran {}", who, sql.substr(0, 200));
        out = co_await answer_swap_roles(*command, context, who);
      } else if (command && command->verb == AdminVerb::show_checks) {
        context.log->info("admin console: {} ran {}", who, sql.substr(0, 200));
        out = co_await answer_show_checks(*command, context);
      } else {
        out = answer(sql, context, who);
        shutting_down = command && command->verb == AdminVerb::shutdown;
      }
    } else if (frame.tag == tags::kSync) {
      skipping_to_sync = false;
      protocol::Writer writer{out};
      protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::idle}, writer);
    } else if (!skipping_to_sync) {
      skipping_to_sync = true;
      encode_error({protocol::sqlstate::kFeatureNotSupported, "the admin console answers simple queries only"}, out);
    }
    if (!out.empty()) co_await send_all(client, out);
    if (shutting_down) co_return begin_shutdown();
  }
}

}  // namespace pgdual::proxy
