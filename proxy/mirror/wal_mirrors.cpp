#include "proxy/mirror/wal_mirrors.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <utility>

#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/unlogged_tables.h"
#include "conflict/jobs/wal_preflight.h"
#include "conflict/wal_names.h"
#include "proxy/idempotency_key.h"

namespace pgdual::proxy {
namespace {

/// What the apply connection calls itself on the mirror, so that an operator can tell it apart.
constexpr std::string_view kApplyApplicationName = "pgdual apply";
constexpr std::string_view kSequencesApplicationName = "pgdual sequences";
constexpr std::string_view kLagApplicationName = "pgdual lag";
constexpr std::string_view kLinkApplicationName = "pgdual instance";
/// How often each slot's lag is read: the lag in seconds is known to this resolution, and the
/// disk limit is enforced this soon after the slot passes it.
constexpr auto kLagInterval = std::chrono::seconds{1};
/// The protocol version 3.0, as BackendLogin takes it.
constexpr std::int32_t kProtocol30 = 196608;
/// How long stopping waits for the appliers to close their connections before it cuts them.
constexpr auto kStopGrace = std::chrono::seconds{5};

const config::UserConfig& user_named(const config::ProxyConfig& config, const std::string& name) {
  const auto* user = config.find_user(name);
  // The configuration was validated: the names it resolved are [[users]] entries.
  if (user == nullptr) throw std::logic_error{"mirror user " + name + " is not in [[users]]"};
  return *user;
}

/// The conflict record of a database given up: the writes after the slot's confirmed position,
/// which the idempotency key names, reach the primary only. Sizes and names, never row data.
conflict::ConflictRecord given_up_record(const std::string& database, const std::string& slot, const SlotLag& lag) {
  conflict::ConflictRecord record;
  record.idempotency_key = slot + "/" + protocol::format_lsn(lag.confirmed);
  record.session.database = database;
  record.kind = conflict::ConflictKind::mirror_unavailable;
  record.mirror.reachability = conflict::Reachability::unreachable;
  record.mirror.error = conflict::BackendError{
      .sqlstate = {},
      .constraint = {},
      .message = "pgdual gave up the WAL mirror's slot: " + lag.given_up_because +
                 "; the mirror lacks every later write until it is rebuilt"};
  return record;
}

InstanceIdentity this_instance(const config::ListenConfig& listen) {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  return InstanceIdentity{.id = next_unit_key(),
                          .listen = listen.address + ":" + std::to_string(listen.port),
                          .host = host.data(),
                          .pid = static_cast<int>(getpid())};
}

}  // namespace

WalMirrors::WalMirrors(std::shared_ptr<const config::ProxyConfig> config, const BackendTlsContexts& tls,
                       ConflictSink& conflicts, std::shared_ptr<spdlog::logger> log)
    : config_{std::move(config)},
      self_{this_instance(config_->listen)},
      tls_{tls},
      conflicts_{conflicts},
      log_{std::move(log)},
      work_{io_.get_executor()},
      thread_{[this] { io_.run(); }} {}

WalMirrors::~WalMirrors() {
  stop_all();
  thread_.join();
}

AppliedUnits& WalMirrors::units_for(const std::string& database) {
  const std::lock_guard lock{mutex_};
  auto found = databases_.find(database);
  if (found == databases_.end()) found = databases_.emplace(database, start(database)).first;
  return found->second->units;
}

// Under mutex_.
std::unique_ptr<WalMirrors::Database> WalMirrors::start(const std::string& database) {
  auto entry = std::make_unique<Database>();
  start_mirroring(database, *entry);
  return entry;
}

// Under mutex_, or on the thread.
void WalMirrors::start_mirroring(const std::string& database, Database& entry) {
  const auto& primary = config_->primary_backend();
  const auto& mirror = config_->mirror_backend();
  // On the mirrors' thread, not the session's: a server slow to answer holds up the database's
  // first login, which waits for the slot anyway, never the other sessions of its worker thread.
  asio::post(io_, [this, database, raw = &entry] {
    auto unmet = check_prerequisites(database);
    warn_of_unlogged_tables(database);
    warn_without_identity_trigger(database);
    const std::lock_guard lock{mutex_};
    raw->unmet_prerequisites = std::move(unmet);
  });
  entry.applier = std::make_unique<MirrorApplier>(
      primary, tls_.for_backend(primary), mirror, tls_.for_backend(mirror), options_for(database), entry.units,
      [this](conflict::ConflictRecord record) { conflicts_.submit(std::move(record)); }, log_);
  log_->info("wal mirror of database {}: starting the apply from {} to {} ({} on the primary, {} on the mirror)",
             database, primary.name, mirror.name, config_->mirror.replication_user, config_->mirror.apply_user);
  auto sequences = sequence_options(database);
  // While catching up it copies again: the sequences are current by the time the sync is verified.
  // Only the instance that applies copies them: two copiers could set a sequence back and forth.
  sequences.paused = [applier = entry.applier.get()] {
    const auto progress = applier->progress();
    return progress.sync.stands_still() || !progress.applying;
  };
  entry.sequences = std::make_unique<SequenceCopier>(primary, tls_.for_backend(primary), mirror,
                                                     tls_.for_backend(mirror), std::move(sequences), log_);
  entry.lag = std::make_unique<SlotLagMonitor>(
      primary, tls_.for_backend(primary), lag_options(database),
      [this, database, raw = &entry](const SlotLag& lag) { give_up(database, *raw, lag); }, log_);
  entry.link = std::make_unique<InstanceLink>(mirror, tls_.for_backend(mirror), link_options(database), entry.units,
                                              log_);
  spawn(entry.applier->run(), entry.cancel_applier, entry.tasks);
  spawn(entry.sequences->run(), entry.cancel_sequences, entry.tasks);
  spawn(entry.lag->run(), entry.cancel_lag, entry.tasks);
  spawn(entry.link->run(), entry.cancel_link, entry.tasks);
}

// The sessions first, so that none waits on: the transactions they wait for will never reach the
// mirror. The apply is cancelled rather than left to end, so that it closes its walsender now
// instead of at the primary's next message.
void WalMirrors::give_up(const std::string& database, Database& entry, const SlotLag& lag) {
  entry.units.give_up();
  entry.applier->stop();
  entry.cancel_applier.emit(asio::cancellation_type::terminal);
  conflicts_.submit(given_up_record(database, conflict::slot_name_for(database), lag));
}

void WalMirrors::spawn(Awaitable<void> task, asio::cancellation_signal& cancel, std::atomic<std::size_t>& tasks) {
  ++running_;
  ++tasks;
  asio::co_spawn(io_, std::move(task),
                 asio::bind_cancellation_slot(cancel.slot(), [this, &tasks](const std::exception_ptr&) {
                   --tasks;
                   // On the thread: the last task to end lets the thread end without the grace.
                   if (--running_ == 0 && stop_deadline_) stop_deadline_->cancel();
                 }));
}

BackendLogin WalMirrors::login(const std::string& user_name, const config::BackendConfig& backend,
                               const std::string& database, std::string_view application) const {
  const auto& user = user_named(*config_, user_name);
  return BackendLogin{.user = user.name,
                      .password = user.password_for(backend),
                      .protocol_version = kProtocol30,
                      .parameters = {{"user", user.name},
                                     {"database", database},
                                     {"application_name", std::string{application}}}};
}

MirrorApplier::Options WalMirrors::options_for(const std::string& database) const {
  const auto& replication = user_named(*config_, config_->mirror.replication_user);
  const auto name = conflict::slot_name_for(database);
  MirrorApplier::Options options;
  options.slot = SlotStreamOptions{.user = replication.name,
                                   .password = replication.password_for(config_->primary_backend()),
                                   .database = database,
                                   .slot = name,
                                   .publication = name};
  options.mirror_login = login(config_->mirror.apply_user, config_->mirror_backend(), database, kApplyApplicationName);
  options.primary_login = login(config_->mirror.replication_user, config_->primary_backend(), database,
                                kApplyApplicationName);
  options.self = self_;
  options.lease_timeout = config_->mirror.lease_timeout;
  return options;
}

// Sequences are read as the replication user, which reads the primary for the mirror already, and
// set as the apply user, which writes the mirror.
SequenceCopier::Options WalMirrors::sequence_options(const std::string& database) const {
  return SequenceCopier::Options{
      .primary_login = login(config_->mirror.replication_user, config_->primary_backend(), database,
                             kSequencesApplicationName),
      .mirror_login = login(config_->mirror.apply_user, config_->mirror_backend(), database, kSequencesApplicationName),
      .interval = config_->mirror.sequence_sync};
}

// Read as the replication user, which owns the slot: it may end the slot's walsender and drop it.
SlotLagMonitor::Options WalMirrors::lag_options(const std::string& database) const {
  return SlotLagMonitor::Options{
      .primary_login = login(config_->mirror.replication_user, config_->primary_backend(), database,
                             kLagApplicationName),
      .database = database,
      .slot = conflict::slot_name_for(database),
      .max_retained_bytes = config_->mirror.max_lag_bytes,
      .interval = kLagInterval};
}

// As the apply user, whose backend holds the lease: it may end a silent holder's.
InstanceLink::Options WalMirrors::link_options(const std::string& database) const {
  return InstanceLink::Options{
      .mirror_login = login(config_->mirror.apply_user, config_->mirror_backend(), database, kLinkApplicationName),
      .self = self_};
}

// Once per database, as its mirror starts: every missing setting or right named at once, rather
// than one failure at a time from deep inside the stream. The apply starts all the same and tries
// again and again: an operator who fixes a grant needs no restart.
std::string WalMirrors::check_prerequisites(const std::string& database) const {
  auto unmet = prerequisites_unmet(*config_, database);
  if (!unmet.empty()) log_->error("wal mirror of database {}: {}", database, unmet);
  return unmet;
}

std::string WalMirrors::prerequisites_unmet(const config::ProxyConfig& config, const std::string& database) {
  const jobs::PreflightTarget primary{.backend = config.primary_backend(),
                                     .user = user_named(config, config.mirror.replication_user),
                                     .database = database};
  const jobs::PreflightTarget mirror{.backend = config.mirror_backend(),
                                    .user = user_named(config, config.mirror.apply_user),
                                    .database = database};
  return jobs::describe(jobs::check_wal_prerequisites(primary, mirror));
}

// Writes into unlogged tables that exist are not refused (they are no statement's to know), but
// an operator must know that the mirror never gets their rows. Names only.
void WalMirrors::warn_of_unlogged_tables(const std::string& database) const {
  const jobs::PreflightTarget primary{.backend = config_->primary_backend(),
                                     .user = user_named(*config_, config_->mirror.replication_user),
                                     .database = database};
  try {
    std::string tables;
    for (const auto& name : jobs::unlogged_tables(primary)) tables += (tables.empty() ? "" : ", ") + name;
    if (tables.empty()) return;
    log_->warn("wal mirror of database {}: the rows of unlogged tables are not in the WAL, so they are not mirrored: "
               "{}; make them logged (ALTER TABLE ... SET LOGGED) for the mirror to get them",
               database, tables);
  } catch (const jobs::PgClientError& error) {
    log_->info("wal mirror of database {}: could not list its unlogged tables ({})", database, error.sqlstate());
  }
}

void WalMirrors::warn_without_identity_trigger(const std::string& database) const {
  const jobs::PreflightTarget primary{.backend = config_->primary_backend(),
                                     .user = user_named(*config_, config_->mirror.replication_user),
                                     .database = database};
  try {
    if (jobs::has_replica_identity_trigger(primary)) return;
    log_->warn("wal mirror of database {}: the primary has no event trigger {}: a table created from now on without "
               "a primary key gets no replica identity, and the primary refuses its UPDATE and DELETE once it is "
               "published; run pgdual init --database {} --user <a superuser>",
               database, conflict::kReplicaIdentityTrigger, database);
  } catch (const jobs::PgClientError& error) {
    log_->info("wal mirror of database {}: could not look for its event trigger ({})", database, error.sqlstate());
  }
}

std::string WalMirrors::unmet_prerequisites(const std::string& database) const {
  const std::lock_guard lock{mutex_};
  const auto found = databases_.find(database);
  return found == databases_.end() ? std::string{} : found->second->unmet_prerequisites;
}

std::vector<WalMirrors::DatabaseProgress> WalMirrors::progress() const {
  const std::lock_guard lock{mutex_};
  std::vector<DatabaseProgress> all;
  for (const auto& [name, entry] : databases_) {
    auto progress = entry->applier->progress();
    auto lag = entry->lag->lag();
    auto status = assess(lag, progress);
    all.push_back({.database = name,
                   .progress = std::move(progress),
                   .waiting = entry->units.waiting(),
                   .lag = std::move(lag),
                   .status = std::move(status),
                   .instances = entry->link->instances(),
                   .keys_heard = entry->link->keys_heard()});
  }
  return all;
}

Expected<MirrorApplier*, std::string> WalMirrors::holdable(const std::string& database) const {
  const std::lock_guard lock{mutex_};
  const auto found = databases_.find(database);
  if (found == databases_.end()) {
    return unexpected{"no WAL mirror runs for database " + database +
                      ": no client has used it since pgdual started"};
  }
  if (found->second->units.given_up()) return unexpected{"the WAL mirror of database " + database + " was given up"};
  const auto progress = found->second->applier->progress();
  // Before its first round took the lease, the hold waits for the apply as it does for any round.
  if (!progress.applying && !progress.applied_by.empty()) {
    return unexpected{"this pgdual instance does not apply database " + database + " now; " + progress.applied_by +
                      " does: hold the apply there"};
  }
  return found->second->applier.get();
}

// The request runs on the mirrors' thread, where the applier does; co_spawn brings the answer back
// to the console's executor.
Awaitable<Expected<protocol::XLogRecPtr, std::string>> WalMirrors::hold_apply(const std::string& database,
                                                                              std::uint64_t owner,
                                                                              protocol::XLogRecPtr target) {
  const auto applier = holdable(database);
  if (!applier) co_return unexpected{applier.error()};
  auto held = co_await asio::co_spawn(io_, (*applier)->hold(owner, target), use_awaitable);
  co_return held;
}

Awaitable<std::optional<ApplyHold::Times>> WalMirrors::resume_apply(const std::string& database,
                                                                   std::uint64_t owner) {
  const auto applier = holdable(database);
  if (!applier) co_return std::nullopt;
  auto* const raw = *applier;
  auto held = co_await asio::co_spawn(
      io_, [raw, owner]() -> Awaitable<std::optional<ApplyHold::Times>> { co_return raw->release(owner); },
      use_awaitable);
  co_return held;
}

void WalMirrors::release_holds(std::uint64_t owner) {
  asio::post(io_, [this, owner] {
    const std::lock_guard lock{mutex_};
    for (auto& [name, entry] : databases_) {
      if (entry->applier->release(owner)) log_->info("wal mirror of database {}: hold released: its console session ended", name);
    }
  });
}

void WalMirrors::request_stop(Database& entry) {
  entry.applier->stop();
  entry.sequences->stop();
  entry.lag->stop();
  entry.link->stop();
  entry.cancel_applier.emit(asio::cancellation_type::terminal);
  entry.cancel_sequences.emit(asio::cancellation_type::terminal);
  entry.cancel_lag.emit(asio::cancellation_type::terminal);
  entry.cancel_link.emit(asio::cancellation_type::terminal);
}

// A round waiting on the network ends by the cancellation at once.
Awaitable<void> WalMirrors::stop_mirroring(Database& entry) {
  request_stop(entry);
  asio::steady_timer timer{io_};
  while (entry.tasks > 0) {
    timer.expires_after(std::chrono::milliseconds{10});
    co_await timer.async_wait(use_awaitable);
  }
}

// The appliers stop on their own thread, where their coroutines run; a round waiting on the
// network ends by the cancellation. Should a connection not close within the grace period, the
// io_context stops and destroys what is left.
void WalMirrors::stop_all() {
  asio::post(io_, [this] {
    const std::lock_guard lock{mutex_};
    for (auto& [name, entry] : databases_) request_stop(*entry);
    if (running_ == 0) return;
    stop_deadline_.emplace(io_, kStopGrace);
    stop_deadline_->async_wait([this](boost::system::error_code error) {
      if (!error) io_.stop();
    });
  });
  work_.reset();
}

}  // namespace pgdual::proxy
