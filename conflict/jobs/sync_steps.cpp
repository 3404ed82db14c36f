// The steps of `pgdual sync` that ask something of the servers or of PostgreSQL's programs.
#include <sys/statvfs.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "conflict/jobs/console_client.h"
#include "conflict/jobs/pg_tools.h"
#include "conflict/jobs/sync_run.h"
#include "conflict/sql_text.h"
#include "conflict/wal_names.h"

namespace pgdual::jobs {
namespace {

/// How long dropping the old slot may wait for pgdual serve's apply to let go of it.
constexpr auto kSlotRelease = std::chrono::seconds{30};
/// The mirror needs the database's size, and this much more for the WAL of the copy and slack.
constexpr double kDiskMargin = 1.2;
constexpr double kMegabyte = 1'000'000.0;

/// The tables the publication would make refuse UPDATE and DELETE: no replica identity to send.
constexpr std::string_view kWithoutIdentitySql = R"sql(
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pgdual', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
  AND (c.relreplident = 'n'
       OR (c.relreplident = 'd' AND NOT EXISTS (SELECT FROM pg_catalog.pg_index AS i
                                                WHERE i.indrelid = c.oid AND i.indisprimary)))
ORDER BY 1 LIMIT 10
)sql";

constexpr std::string_view kUnreadableSql = R"sql(
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'S', 'm') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pgdual', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
  AND NOT pg_catalog.has_table_privilege(c.oid, 'SELECT')
ORDER BY 1 LIMIT 10
)sql";

std::string joined(const std::vector<PgClient::Row>& rows) {
  std::string names;
  for (const auto& row : rows) names += (names.empty() ? "" : ", ") + row.at(0).value_or("");
  return names;
}

std::string megabytes(double bytes) { return std::to_string(static_cast<std::int64_t>(bytes / kMegabyte)) + " MB"; }

}  // namespace

std::vector<PreflightProblem> SyncRun::preflight() {
  std::vector<PreflightProblem> problems;
  for (auto& problem : check_wal_prerequisites({config_.primary_backend(), replication_, options_.database},
                                               {config_.mirror_backend(), applier_, options_.database})) {
    // Its pgdual schema the sync installs itself.
    if (problem.problem.find("pgdual.applied") == std::string::npos) problems.push_back(std::move(problem));
  }
  check_tools(problems);
  check_console(problems);
  try {
    auto primary = primary_client();
    check_primary(primary, problems);
    auto mirror = mirror_client();
    check_mirror(mirror, problems);
    check_disk(primary, mirror, problems);
  } catch (const PgClientError& error) {
    problems.push_back({.backend = "pgdual sync", .problem = error.what(), .fix = "make both servers reachable"});
  }
  return problems;
}

void SyncRun::check_tools(std::vector<PreflightProblem>& problems) {
  for (const std::string program : {"pg_dump", "pg_restore"}) {
    try {
      if (run_tool(program, {"--version"}, {}, stop_).exit_code == 0) continue;
    } catch (const std::runtime_error&) {
      // Not found: said below.
    }
    problems.push_back({.backend = "this machine",
                        .problem = program + " cannot be run",
                        .fix = "install PostgreSQL's client programs: apt-get install postgresql-client-15"});
  }
}

void SyncRun::check_console(std::vector<PreflightProblem>& problems) {
  const auto console = console_of(config_);
  const auto admin = admin_user(config_, {});
  std::string why = admin ? std::string{} : admin.error();
  if (admin) {
    try {
      PgClient client{console, *admin, "pgdual"};
    } catch (const PgClientError& error) {
      why = error.what();
    }
  }
  if (why.empty()) return;
  problems.push_back({.backend = "pgdual serve",
                      .problem = "its admin console at " + console.host + ":" + std::to_string(console.port) +
                                 " cannot be used: " + why,
                      .fix = "start pgdual serve with this configuration (and an admin.users entry with a password) "
                             "first: it applies what the primary commits during and after the copy"});
}

void SyncRun::check_primary(PgClient& primary, std::vector<PreflightProblem>& problems) {
  if (const auto unreadable = joined(primary.query(std::string{kUnreadableSql})); !unreadable.empty()) {
    problems.push_back({.backend = config_.primary_backend().name,
                        .problem = "user \"" + reader_.name + "\" may not read " + unreadable,
                        .fix = "sync with --user naming a superuser, or GRANT SELECT on them"});
  }
  if (const auto tables = joined(primary.query(std::string{kWithoutIdentitySql})); !tables.empty()) {
    problems.push_back({.backend = config_.primary_backend().name,
                        .problem = "tables without a replica identity, whose UPDATE and DELETE the primary refuses "
                                   "once they are published: " + tables,
                        .fix = "run pgdual init --database " + options_.database +
                               " (it gives them REPLICA IDENTITY FULL), or give them a primary key"});
  }
  tables_ = tables_to_copy(primary);
  for (const auto& table : tables_) bytes_total_ += table.bytes;
}

void SyncRun::check_mirror(PgClient& mirror, std::vector<PreflightProblem>& problems) {
  const auto recorded = recorded_state(mirror);
  if (recorded == "copying") {
    starting_over_ = true;
    return;
  }
  if (!recorded.empty() && recorded != "waiting") {
    if (options_.force) {
      starting_over_ = true;
      return;
    }
    problems.push_back({.backend = config_.mirror_backend().name,
                        .problem = "database " + options_.database + " was synced already (pgdual sync's record says " +
                                   recorded + ")",
                        .fix = "nothing to do; or --force, which empties the mirror's database and copies it anew"});
    return;
  }
  const auto contents = mirror_contents(mirror, tables_);
  if (contents.holds == MirrorHolds::schema_only) plan_ = SyncPlan::rows_only;
  if (contents.holds != MirrorHolds::other) return;
  if (options_.force) {
    starting_over_ = true;
    return;
  }
  problems.push_back({.backend = config_.mirror_backend().name,
                      .problem = "database " + options_.database + " holds what pgdual sync did not put there (" +
                                 contents.example + "); sync copies onto an empty database, or one holding the "
                                 "primary's schema with no rows, and never overwrites anything else",
                      .fix = "empty it, or --force, which drops every schema, large object and extension of it first"});
}

// The mirror's free space is known only when its data directory is on this machine.
void SyncRun::check_disk(PgClient& primary, PgClient& mirror, std::vector<PreflightProblem>& problems) {
  const double needed = std::stod(primary.query_value("SELECT pg_catalog.pg_database_size(current_database())")) *
                        kDiskMargin;
  std::string directory;
  try {
    directory = mirror.query_value("SELECT current_setting('data_directory')");
  } catch (const PgClientError&) {
    // Only superusers and pg_read_all_settings may read it.
  }
  struct statvfs disk {};
  if (directory.empty() || statvfs(directory.c_str(), &disk) != 0) {
    say("the copy needs about " + megabytes(needed) + " on the mirror; its free space is not known from here");
    return;
  }
  const double free_bytes = static_cast<double>(disk.f_bavail) * static_cast<double>(disk.f_frsize);
  say("the copy needs about " + megabytes(needed) + " on the mirror; " + megabytes(free_bytes) + " are free there");
  if (free_bytes >= needed) return;
  problems.push_back({.backend = config_.mirror_backend().name,
                      .problem = "its data directory has " + megabytes(free_bytes) + " free; the copy needs about " +
                                 megabytes(needed),
                      .fix = "free or add disk space on the mirror"});
}

void SyncRun::start_apply() {
  const auto admin = admin_user(config_, {});
  if (!admin) throw PgClientError{admin.error()};
  PgClient console{console_of(config_), *admin, "pgdual"};
  console.send_simple("START APPLY " + conflict::quote_identifier(options_.database));
  static_cast<void>(console.receive());
}

// pgdual serve's apply may hold the slot: its walsender is ended, and the apply, reading the
// record (copying) before it comes back, leaves the slot alone.
void SyncRun::drop_slot() {
  auto primary = replication_client(PgClient::Kind::ordinary);
  const auto deadline = std::chrono::steady_clock::now() + kSlotRelease;
  for (;;) {
    const auto rows = primary.query("SELECT active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                                    {slot_name_});
    if (rows.empty()) return;
    try {
      if (const auto& pid = rows.front().at(0)) {
        static_cast<void>(primary.query("SELECT pg_catalog.pg_terminate_backend($1::int)", {*pid}));
      } else {
        static_cast<void>(primary.query("SELECT pg_catalog.pg_drop_replication_slot($1)", {slot_name_}));
        return;
      }
    } catch (const PgClientError& error) {
      if (std::chrono::steady_clock::now() > deadline) throw;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw PgClientError{"slot " + slot_name_ + " is still in use after " + std::to_string(kSlotRelease.count()) +
                          " s"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

// Made before the slot: pgoutput reads the publication as of each change, and a change from before
// the publication existed would stop the stream.
void SyncRun::ensure_publication() {
  auto primary = replication_client(PgClient::Kind::ordinary);
  if (!primary.query("SELECT FROM pg_catalog.pg_publication WHERE pubname = $1", {slot_name_}).empty()) return;
  primary.execute("CREATE PUBLICATION " + conflict::quote_identifier(slot_name_) + " FOR ALL TABLES");
}

void SyncRun::create_slot() {
  auto& replication = slot_.emplace(replication_client(PgClient::Kind::replication));
  replication.send_simple("CREATE_REPLICATION_SLOT " + conflict::quote_identifier(slot_name_) +
                          " LOGICAL pgoutput (SNAPSHOT 'export')");
  const auto rows = replication.receive();
  if (rows.empty() || rows.front().size() < 3 || !rows.front()[1] || !rows.front()[2]) {
    throw PgClientError{"CREATE_REPLICATION_SLOT answered without its position and snapshot"};
  }
  slot_lsn_ = *rows.front()[1];
  snapshot_ = *rows.front()[2];
}

// A table made after the preflight and before the slot is in the snapshot, and in the dump: the
// list is read anew. One dropped meanwhile fails the lock, and the sync: run it again.
void SyncRun::hold_tables() {
  auto& holder = holder_.emplace(primary_client());
  holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  holder.execute("SET TRANSACTION SNAPSHOT " + conflict::quote_literal(snapshot_));
  tables_ = tables_to_copy(holder);
  bytes_total_ = 0;
  std::string names;
  for (const auto& table : tables_) {
    bytes_total_ += table.bytes;
    names += (names.empty() ? "" : ", ") + table.name;
  }
  if (!names.empty()) holder.execute("LOCK TABLE " + names + " IN ACCESS SHARE MODE");
}

void SyncRun::dump_schema() {
  const auto dump = work_dir_ / "schema.dump";
  const std::vector<std::string> arguments{
      "--format=custom", "--file=" + dump.string(), "--snapshot=" + snapshot_, "--exclude-schema=pgdual",
      "--exclude-table-data=*.*", "--blobs", "--no-publications", "--no-subscriptions",
      "--dbname=" + connection_string(config_.primary_backend(), reader_, options_.database)};
  const auto dumped = run_tool("pg_dump", arguments, reader_.password_for(config_.primary_backend()), stop_);
  if (dumped.exit_code != 0) throw PgClientError{tool_failure("pg_dump", dumped)};
  const auto listed = run_tool("pg_restore", {"--list", dump.string()}, {}, stop_);
  if (listed.exit_code != 0) throw PgClientError{tool_failure("pg_restore --list", listed)};
  const auto kept = conflict::restore_list_without_own(listed.output, conflict::kReplicaIdentityTrigger);
  std::ofstream{work_dir_ / "restore.list"} << kept;
  std::ofstream{work_dir_ / "large_objects.list"} << conflict::restore_list_large_objects(kept);
}

void SyncRun::restore(const std::string& section, const std::filesystem::path& list, std::size_t jobs) {
  const std::vector<std::string> arguments{
      "--section=" + section, "--use-list=" + list.string(), "--exit-on-error", "--jobs=" + std::to_string(jobs),
      "--dbname=" + connection_string(config_.mirror_backend(), applier_, options_.database),
      (work_dir_ / "schema.dump").string()};
  const auto restored = run_tool("pg_restore", arguments, applier_.password_for(config_.mirror_backend()), stop_);
  if (restored.exit_code != 0) throw PgClientError{tool_failure("pg_restore --section=" + section, restored)};
}

// In creation order: a view made from another one comes after it.
void SyncRun::refresh_materialized_views() {
  auto primary = primary_client();
  auto mirror = mirror_client();
  const auto views = primary.query(
      "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class AS c "
      "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
      "WHERE c.relkind = 'm' AND c.relispopulated AND n.nspname <> 'pgdual' ORDER BY c.oid");
  for (const auto& view : views) mirror.execute("REFRESH MATERIALIZED VIEW " + view.at(0).value_or(""));
}

}  // namespace pgdual::jobs
