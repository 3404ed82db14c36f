#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/sync_mirror.h"
#include "conflict/jobs/table_copy.h"
#include "conflict/jobs/wal_preflight.h"
#include "conflict/sync_progress.h"

/// One run of `pgdual sync` (docs/sync.md), split by step over sync_command.cpp (the order, the
/// progress) and sync_steps.cpp (what each step asks of the servers and of PostgreSQL's programs).
namespace pgdual::jobs {

struct SyncOptions {
  std::string config_file;
  std::string database;
  std::string user;  ///< the primary's login that reads every table; empty: mirror.replication_user
  std::size_t jobs = 4;
  bool force = false;
  std::optional<bool> progress;  ///< std::nullopt: when stderr is a terminal
};

/// How this run copies, from what it found on the mirror.
enum class SyncPlan : std::uint8_t {
  whole,      ///< schema, rows, sequences, large objects, then indexes and constraints
  rows_only,  ///< the mirror holds the primary's schema: rows, sequences and large objects
};

class SyncRun {
 public:
  SyncRun(config::ProxyConfig config, config::UserConfig reader, SyncOptions options, const std::atomic<bool>& stop);
  /// The whole sync; the process's exit code.
  int run();

 private:
  // sync_steps.cpp
  /// Every prerequisite not met, each with its fix; also decides plan_ and starting_over_.
  std::vector<PreflightProblem> preflight();
  void check_tools(std::vector<PreflightProblem>& problems);
  void check_console(std::vector<PreflightProblem>& problems);
  void check_primary(PgClient& primary, std::vector<PreflightProblem>& problems);
  void check_mirror(PgClient& mirror, std::vector<PreflightProblem>& problems);
  void check_disk(PgClient& primary, PgClient& mirror, std::vector<PreflightProblem>& problems);
  /// Asks pgdual serve to run the database's WAL mirror, which then reads the record.
  void start_apply();
  /// Ends whatever reads the database's slot and drops it: the copy starts from a slot of its own.
  void drop_slot();
  void ensure_publication();
  /// The slot, made with an exported snapshot: `slot_` holds the connection that keeps it.
  void create_slot();
  /// pg_dump of everything but the tables' rows, at the snapshot, and its list to restore from.
  void dump_schema();
  /// pg_restore of `section` from the dump, on `jobs` connections, with `list`.
  void restore(const std::string& section, const std::filesystem::path& list, std::size_t jobs);
  /// Fills the materialized views the primary has filled, from the rows copied, as pg_restore does
  /// (the dump leaves their data out with every table's).
  void refresh_materialized_views();

  /// In a transaction that imported the slot's snapshot, on `holder_`: lists the tables whose rows
  /// the copy takes (as the snapshot sees them, as pg_dump does) and locks them against DDL until
  /// the rows are copied, as pg_dump does for its own run.
  void hold_tables();

  // sync_command.cpp
  void copy();
  void copy_rows();
  void catch_up();
  int verify();
  void show(const conflict::SyncProgress& progress, bool last);
  void say(const std::string& line);
  [[nodiscard]] PgClient primary_client() const;
  [[nodiscard]] PgClient mirror_client() const;
  [[nodiscard]] PgClient replication_client(PgClient::Kind kind) const;

  config::ProxyConfig config_;
  config::UserConfig reader_;       ///< reads the primary: --user
  config::UserConfig replication_;  ///< mirror.replication_user: the slot and the publication
  config::UserConfig applier_;      ///< mirror.apply_user: writes the mirror
  SyncOptions options_;
  const std::atomic<bool>& stop_;
  std::string slot_name_;
  SyncPlan plan_ = SyncPlan::whole;
  bool starting_over_ = false;  ///< the mirror holds what an earlier sync left: emptied first
  std::vector<SyncTable> tables_;
  std::int64_t bytes_total_ = 0;
  std::optional<PgClient> slot_;  ///< the replication connection whose snapshot the copy imports
  std::optional<PgClient> holder_;  ///< holds the copied tables' locks while their rows are copied
  std::string slot_lsn_;
  std::string snapshot_;
  std::filesystem::path work_dir_;
  conflict::SyncProgress progress_;
  bool terminal_ = false;
  bool show_progress_ = false;
  std::size_t lines_drawn_ = 0;
  std::chrono::steady_clock::time_point last_shown_{};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace pgdual::jobs
