#include "proxy/admin/cutover_console.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include <spdlog/fmt/fmt.h>

#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/admin/console_commands.h"
#include "proxy/admin/live_settings.h"
#include "proxy/cutover/running_roles.h"
#include "proxy/mirror/wal_mirrors.h"
#include "proxy/session_registry.h"

namespace pgdual::proxy {
namespace {

/// A failed pause names this many sessions, then counts the rest.
constexpr std::size_t kNamedHolders = 10;

Expected<AdminCommand, AdminError> syntax_error(std::string_view form) {
  return unexpected{AdminError{protocol::sqlstate::kSyntaxError, "expected " + std::string{form}}};
}

// Whole milliseconds, so that what the command answers matches what it waited.
Expected<std::chrono::milliseconds, AdminError> timeout_of(std::string_view command, const std::string& text) {
  double seconds = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  const bool number = error == std::errc{} && end == text.data() + text.size() && std::isfinite(seconds);
  if (!number || seconds < 0.001 || seconds > 3600) {
    return unexpected{AdminError{
        protocol::sqlstate::kInvalidParameterValue,
        std::string{command} + " TIMEOUT must be a number of seconds from 0.001 to 3600, not \"" + text + "\""}};
  }
  return std::chrono::milliseconds{std::llround(seconds * 1000)};
}

/// `VERB NOUN [TIMEOUT seconds]`, as PAUSE WRITES and SWAP ROLES take it (`name`); the words
/// already found to start with the verb. A syntax error shows `form`.
Expected<AdminCommand, AdminError> parse_timed(const std::vector<std::string>& words, std::string_view noun,
                                               AdminVerb verb, std::string_view name, std::string_view form) {
  const bool bare = words.size() == 2;
  const bool timed = words.size() == 4 && is_keyword(words[2], "timeout");
  if ((!bare && !timed) || !is_keyword(words[1], noun)) return syntax_error(form);
  AdminCommand command{.verb = verb};
  if (bare) return command;
  const auto timeout = timeout_of(name, words[3]);
  if (!timeout) return unexpected{timeout.error()};
  command.pause_timeout = *timeout;
  return command;
}

// FORCE, when given, comes right after ROLES.
Expected<AdminCommand, AdminError> parse_swap(std::vector<std::string> words) {
  const bool force = words.size() > 2 && is_keyword(words[2], "force");
  if (force) words.erase(words.begin() + 2);
  auto command = parse_timed(words, "roles", AdminVerb::swap_roles, "SWAP ROLES", "SWAP ROLES [FORCE] [TIMEOUT seconds]");
  if (command) command->force = force;
  return command;
}

std::string seconds_text(std::chrono::milliseconds duration) {
  return fmt::format("{}", static_cast<double>(duration.count()) / 1000.0);
}

std::string plural(std::size_t count, std::string_view noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

/// The sessions whose state cannot move to another primary, named with what they hold, and what
/// to do about them; empty when there are none.
std::string unmovable_sessions(const SessionRegistry& sessions) {
  std::string named;
  std::size_t count = 0;
  for (const auto& [id, summary] : sessions.summaries()) {
    if (summary.unmovable.empty()) continue;
    if (++count <= kNamedHolders) named += fmt::format("{}session {} ({})", named.empty() ? "" : ", ", id, summary.unmovable);
  }
  if (count == 0) return {};
  if (count > kNamedHolders) named += fmt::format(", and {} more", count - kNamedHolders);
  return fmt::format("{} {} state that cannot move to the new primary: {}; end {} (KILL id), or run SWAP ROLES "
                     "FORCE, which ends {} at {} next statement",
                     plural(count, "session"), count == 1 ? "holds" : "hold", named, count == 1 ? "it" : "them",
                     count == 1 ? "it" : "them", count == 1 ? "its" : "their");
}

std::string failure_message(const WriteGate::PauseFailure& failure, const WriteGate& gate,
                            std::chrono::milliseconds timeout) {
  using Reason = WriteGate::PauseFailure::Reason;
  switch (failure.reason) {
    case Reason::timed_out: return pause_timed_out_message(failure.still_running, timeout);
    case Reason::already_paused:
      if (gate.snapshot().state != WriteGate::State::paused) return "a pause is under way";
      return "writes are already paused (by " + failure.by + ")";
    case Reason::resumed:
      return "the pause was ended by RESUME WRITES from " + failure.by +
             " before the running writes ended; writes go on";
    case Reason::shut_down: return "pgdual is shutting down; writes go on";
  }
  return "writes were not paused";
}

std::string_view failure_sqlstate(WriteGate::PauseFailure::Reason reason) {
  using Reason = WriteGate::PauseFailure::Reason;
  switch (reason) {
    case Reason::timed_out: return protocol::sqlstate::kLockNotAvailable;
    case Reason::already_paused:
    case Reason::resumed: return protocol::sqlstate::kObjectNotInPrerequisiteState;
    case Reason::shut_down: return protocol::sqlstate::kAdminShutdown;
  }
  return protocol::sqlstate::kInternalError;
}

void encode_error(std::string_view sqlstate, std::string_view message, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  protocol::encode(protocol::make_error("ERROR", sqlstate, message), writer);
}

AdminTable one_row(std::vector<std::string> columns, std::vector<std::string> row) {
  return AdminTable{.columns = std::move(columns), .rows = {std::move(row)}};
}

RolesFacts roles_facts(const AdminContext& context) {
  const auto running = context.roles.config();
  const auto last = context.roles.last_swap();
  const auto file_primary = context.settings.file_primary();
  return RolesFacts{.primary = running->primary_backend().name,
                    .file_primary = file_primary == running->primary ? running->primary_backend().name
                                                                    : running->mirror_backend().name,
                    .swaps = context.roles.swaps(),
                    .last_swap = last ? "by " + last->by + " at " + last->at : std::string{}};
}

std::optional<std::uint64_t> drain_lag_bytes(const AdminContext& context) {
  if (context.wal_mirrors == nullptr) return std::nullopt;
  std::uint64_t most = 0;
  for (const auto& mirror : context.wal_mirrors->progress()) most = std::max(most, mirror.lag.lag_bytes);
  return most;
}

}  // namespace

CutoverAudit audit_trail(const AdminContext& context) { return audit_trail(context.conflicts); }

std::optional<Expected<AdminCommand, AdminError>> parse_cutover_command(std::string_view text) {
  const auto words = console_words(text);
  if (!words.empty() && is_keyword(words[0], "pause")) {
    return parse_timed(words, "writes", AdminVerb::pause_writes, "PAUSE WRITES", "PAUSE WRITES [TIMEOUT seconds]");
  }
  if (!words.empty() && is_keyword(words[0], "swap")) return parse_swap(words);
  if (words.size() < 2 || !is_keyword(words[0], "resume") || !is_keyword(words[1], "writes")) return std::nullopt;
  if (words.size() != 2) return syntax_error("RESUME WRITES");
  return AdminCommand{.verb = AdminVerb::resume_writes};
}

std::string pause_timed_out_message(const std::vector<WriteGate::Holder>& still_running,
                                    std::chrono::milliseconds timeout) {
  auto message = fmt::format("writes could not be paused within {} s: {} still running", seconds_text(timeout),
                             plural(still_running.size(), "write transaction"));
  const auto named = std::min(still_running.size(), kNamedHolders);
  for (std::size_t i = 0; i < named; ++i) {
    message += fmt::format("{}session {} for {} ms", i == 0 ? " (" : ", ", still_running[i].session,
                           still_running[i].held_for.count());
  }
  if (still_running.size() > named) message += fmt::format(", and {} more", still_running.size() - named);
  if (named > 0) message += ")";
  return message + "; writes go on";
}

Awaitable<std::vector<std::byte>> answer_pause_writes(const AdminCommand& command, const AdminContext& context,
                                                      std::string who) {
  co_return co_await answer_pause_writes(command, context.write_gate, *context.log, audit_trail(context), std::move(who));
}

Awaitable<std::vector<std::byte>> answer_pause_writes(const AdminCommand& command, WriteGate& gate,
                                                      spdlog::logger& log, CutoverAudit audit, std::string who) {
  const auto timeout = seconds_text(command.pause_timeout);
  log.warn("admin console: {} pauses writes, waiting {} s at most for the running ones", who, timeout);
  const auto paused = co_await gate.pause(command.pause_timeout, who);
  std::vector<std::byte> out;
  if (paused) {
    log.warn("admin console: writes paused for {}: {} running when the gate closed, drained in {} ms", who,
             plural(paused->were_running, "write transaction"), paused->drained_in.count());
    audit(who, fmt::format("PAUSE WRITES: paused, {} running drained in {} ms",
                           plural(paused->were_running, "write transaction"), paused->drained_in.count()));
    encode_table(one_row({"state", "drained_ms", "were_running"},
                         {"paused", std::to_string(paused->drained_in.count()), std::to_string(paused->were_running)}),
                 out);
  } else {
    const auto message = failure_message(paused.error(), gate, command.pause_timeout);
    log.warn("admin console: writes not paused for {}: {}", who, message);
    audit(who, "PAUSE WRITES failed: " + message);
    encode_error(failure_sqlstate(paused.error().reason), message, out);
  }
  protocol::Writer writer{out};
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::idle}, writer);
  co_return out;
}

void resume_writes(WriteGate& gate, spdlog::logger& log, const CutoverAudit& audit, const std::string& who,
                   std::vector<std::byte>& out) {
  const auto resumed = gate.resume(who);
  if (!resumed) {
    log.warn("admin console: {} ran RESUME WRITES, refused: {}", who, resumed.error());
    return encode_error(protocol::sqlstate::kObjectNotInPrerequisiteState, resumed.error(), out);
  }
  log.warn("admin console: writes resumed by {} after {} ms paused; {} released", who, resumed->paused_for.count(),
           plural(resumed->released, "held session"));
  audit(who, fmt::format("RESUME WRITES: writes go on after {} ms paused; {} released", resumed->paused_for.count(),
                         plural(resumed->released, "held session")));
  encode_table(one_row({"state", "paused_ms", "released"},
                       {"open", std::to_string(resumed->paused_for.count()), std::to_string(resumed->released)}),
               out);
}

AdminTable cutover_table(const WriteGate::Snapshot& snapshot, std::optional<std::uint64_t> drain_lag_bytes,
                         const RolesFacts& roles) {
  const auto state = snapshot.swapping_by.empty() ? std::string{to_string(snapshot.state)} : std::string{"swapping"};
  return one_row({"state", "writes_in_flight", "writes_waiting", "paused_by", "paused_ms", "last_event",
                  "drain_lag_bytes", "primary", "file_primary", "swaps", "last_swap"},
                 {state, std::to_string(snapshot.in_flight), std::to_string(snapshot.waiting), snapshot.paused_by,
                  std::to_string(snapshot.paused_for.count()), snapshot.last_event,
                  drain_lag_bytes ? std::to_string(*drain_lag_bytes) : std::string{}, roles.primary,
                  roles.file_primary, std::to_string(roles.swaps), roles.last_swap});
}

AdminTable cutover_table(const AdminContext& context) {
  return cutover_table(context.write_gate.snapshot(), drain_lag_bytes(context), roles_facts(context));
}

Awaitable<std::vector<std::byte>> answer_swap_roles(const AdminCommand& command, const AdminContext& context,
                                                    std::string who) {
  std::vector<std::byte> out;
  auto& log = *context.log;
  if (context.wal_mirrors == nullptr) {
    encode_error(protocol::sqlstate::kFeatureNotSupported,
                 "SWAP ROLES needs mirror.mode = \"wal\": only a WAL mirror can be fed the other way", out);
  } else if (auto unmovable = unmovable_sessions(context.sessions); !unmovable.empty() && !command.force) {
    log.warn("admin console: SWAP ROLES by {} refused: {}", who, unmovable);
    encode_error(protocol::sqlstate::kObjectNotInPrerequisiteState, unmovable, out);
  } else if (!context.write_gate.begin_swap(who)) {
    const auto snapshot = context.write_gate.snapshot();
    const auto why = snapshot.swapping_by.empty() ? std::string{"writes are not paused: run PAUSE WRITES first"}
                                                  : "SWAP ROLES by " + snapshot.swapping_by + " is under way";
    log.warn("admin console: SWAP ROLES by {} refused: {}", who, why);
    encode_error(protocol::sqlstate::kObjectNotInPrerequisiteState, why, out);
  } else {
    const SwapParts parts{.gate = context.write_gate, .roles = context.roles, .mirrors = *context.wal_mirrors,
                          .settings = context.settings, .metrics = context.metrics, .audit = audit_trail(context),
                          .log = log};
    const auto swapped = co_await swap_roles(parts, who, command.pause_timeout);
    if (swapped) {
      encode_table(one_row({"primary", "mirror", "databases", "drained_ms", "sequences_set", "swap_ms"},
                           {swapped->primary, swapped->mirror, std::to_string(swapped->databases),
                            std::to_string(swapped->drained.count()), std::to_string(swapped->sequences_set),
                            std::to_string(swapped->took.count())}),
                   out);
    } else {
      encode_error(protocol::sqlstate::kObjectNotInPrerequisiteState, swapped.error(), out);
    }
  }
  protocol::Writer writer{out};
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::idle}, writer);
  co_return out;
}

}  // namespace pgdual::proxy
