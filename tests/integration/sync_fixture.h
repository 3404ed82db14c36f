#pragma once

// What the tests of `pgdual sync` share: a primary database with pgbench's tables and an EHR-like
// schema, an empty mirror server of the test's own, pgdual serve in wal mode in front, and the
// writers that keep writing while the sync runs.

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {

using namespace std::chrono_literals;

/// Patients, encounters and orders with serial and uuid keys, an enum and jsonb, a trigger that
/// writes an audit table without a primary key, a partitioned table, a materialized view, and large
/// objects that orders point to: what a hospital's database holds besides pgbench's tables.
inline constexpr std::string_view kEhrSchema = R"sql(
CREATE TYPE visit_kind AS ENUM ('inpatient', 'outpatient', 'emergency');
CREATE TABLE patients (
  id bigserial PRIMARY KEY, mrn uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(), name text NOT NULL, born date,
  details jsonb, updated_at timestamptz);
CREATE TABLE encounters (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), patient_id bigint NOT NULL REFERENCES patients,
  kind visit_kind NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), notes jsonb);
CREATE INDEX encounters_patient ON encounters (patient_id);
CREATE TABLE orders (
  id serial PRIMARY KEY, encounter_id uuid NOT NULL REFERENCES encounters, code text NOT NULL,
  quantity int CHECK (quantity > 0), scan oid);
CREATE TABLE audit_log (at timestamptz NOT NULL DEFAULT clock_timestamp(), table_name text, operation text, row_id text);
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_log (table_name, operation, row_id) VALUES (TG_TABLE_NAME, TG_OP, NEW.id::text);
  RETURN NEW;
END $$;
CREATE TRIGGER patients_audit AFTER INSERT OR UPDATE ON patients FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TABLE vitals (patient_id bigint NOT NULL, measured_at timestamptz NOT NULL, pulse int)
  PARTITION BY RANGE (measured_at);
CREATE TABLE vitals_2025 PARTITION OF vitals FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE vitals_later PARTITION OF vitals FOR VALUES FROM ('2026-01-01') TO ('2100-01-01');
INSERT INTO patients (name, born, details)
  SELECT 'patient ' || g, date '1940-01-01' + g % 30000, jsonb_build_object('ward', g % 40, 'allergies', g % 3)
  FROM generate_series(1, 20000) AS g;
INSERT INTO encounters (patient_id, kind, notes)
  SELECT 1 + g % 20000, (ARRAY['inpatient', 'outpatient', 'emergency'])[1 + g % 3]::visit_kind,
         jsonb_build_object('n', g)
  FROM generate_series(1, 40000) AS g;
INSERT INTO orders (encounter_id, code, quantity) SELECT id, 'LAB' || (random() * 100)::int, 1 FROM encounters;
INSERT INTO vitals SELECT 1 + g % 20000, timestamptz '2025-06-01' + g * interval '1 minute', 60 + g % 40
  FROM generate_series(1, 60000) AS g;
CREATE MATERIALIZED VIEW ward_census AS
  SELECT details ->> 'ward' AS ward, count(*) AS patients FROM patients GROUP BY 1;
UPDATE orders SET scan = lo_from_bytea(0, convert_to(repeat('scan ' || id, 2000), 'UTF8')) WHERE id <= 5;
GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app;
)sql";

/// What the second client writes straight to the primary, past pgdual: encounters (uuid keys),
/// vitals, and an update of a patient (audited). No sequence moves: sync ends with verify, which
/// compares sequences outside its one point, and a sequence a client moves meanwhile differs there.
inline constexpr std::string_view kDirectWrites = R"sql(\set p random(1, 20000)
INSERT INTO encounters (patient_id, kind, notes) VALUES (:p, 'emergency', '{"source": "direct"}');
UPDATE patients SET updated_at = now() WHERE id = :p;
INSERT INTO vitals VALUES (:p, now(), 72);
)sql";

class SyncTest : public WalModeTest {
 protected:
  /// A primary database with pgbench's tables at `scale` and the EHR schema, an empty mirror
  /// database on a server of the test's own, and pgdual serve (with its console, and /metrics when
  /// `with_metrics`) in front. `pgdual init` ran as the superuser once the tables were there, as the
  /// runbook says.
  void start_sync(std::string_view label, int scale, bool with_metrics = false) {
    auto settings = wal_settings();
    settings.extra = "\n[admin]\nusers = [\"app\"]\n";
    if (with_metrics) {
      metrics_port_ = free_loopback_port();
      settings.extra += "[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port_) + "\n";
    }
    start_with_own_mirror(label, "SELECT 1", settings);
    check_succeeded(run_client({pg_program("pgbench"), "--initialize", "--quiet", "--scale=" + std::to_string(scale)},
                               backends().onprem.superuser(database()), 600s));
    static_cast<void>(on_primary(std::string{kEhrSchema}));
    settings.cloud_port = mirror().port();
    run_pgdual_init(database(), settings, backends().onprem.superuser().user);
  }

  /// pgbench -N through pgdual for `duration`, its report in `dir`/through-pgdual.out.
  [[nodiscard]] Subprocess write_through_pgdual(const TempDir& dir, std::chrono::seconds duration) const {
    ProcessOptions options;
    options.env = endpoint().libpq_env();
    const auto out = dir.path() / "through-pgdual.out";
    return Subprocess{{pg_program("pgbench"), "--no-vacuum", "-N", "--client=2", "--jobs=1",
                       "--time=" + std::to_string(duration.count())},
                      options, out, out};
  }

  /// kDirectWrites straight to the primary, 20 a second, for `duration`; its report in `dir`/direct.out.
  [[nodiscard]] Subprocess write_directly(const TempDir& dir, std::chrono::seconds duration) const {
    write_file(dir.path() / "direct.sql", kDirectWrites);
    ProcessOptions options;
    options.env = backends().onprem.superuser(database()).libpq_env();
    const auto out = dir.path() / "direct.out";
    return Subprocess{{pg_program("pgbench"), "--no-vacuum", "--client=1", "--rate=20",
                       "--time=" + std::to_string(duration.count()), "--file=" + (dir.path() / "direct.sql").string()},
                      options, out, out};
  }

  /// `pgdual sync` of the test's database, in the background, its output in `dir`/sync-`name`.out.
  [[nodiscard]] Subprocess start_sync_command(const TempDir& dir, const std::string& name,
                                              const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv{PGDUAL_BINARY, "sync", "--config", proxy().config_file().string(), "--database", database(),
                                  "--user", backends().onprem.superuser().user};
    argv.insert(argv.end(), options.begin(), options.end());
    return Subprocess{argv, {}, dir.path() / ("sync-" + name + ".out"), dir.path() / ("sync-" + name + ".err")};
  }

  /// Waits for each writer to end its run and checks it failed no transaction.
  static void finish_writers(const TempDir& dir, std::initializer_list<Subprocess*> writers) {
    for (auto* writer : writers) {
      const auto exit_code = writer->wait_for(120s);
      REQUIRE(exit_code.has_value());
      CHECK(*exit_code == 0);
    }
    for (const auto* name : {"through-pgdual.out", "direct.out"}) {
      const auto report = read_file(dir.path() / name);
      INFO(name << ":\n" << report);
      CHECK(report.find("number of failed transactions: 0 ") != std::string::npos);
    }
  }

  /// Both servers identical once the mirror has applied the last writes: tables, sequences, large objects.
  void check_servers_identical() const {
    REQUIRE(wait_until_identical(120s).has_value());
    const auto others = differing_sequences_and_large_objects(database(), backends().onprem, mirror());
    INFO(lines(others));
    CHECK(others.empty());
  }

  /// pgdual sync's record on the mirror: "state|rows_copied", "" before there is one.
  [[nodiscard]] std::string sync_record() const {
    return mirror().run_sql(database(), "SELECT state || '|' || rows_copied FROM pgdual.sync");
  }

  /// The sync has made its slot: rows are being copied (the record counts some), or the copy is over.
  [[nodiscard]] bool past_the_copy_point() const {
    const auto record = sync_record();
    return !record.empty() && !record.starts_with("waiting|") && !record.starts_with("copying|0");
  }

  [[nodiscard]] std::uint16_t metrics_port() const noexcept { return metrics_port_; }

 private:
  std::uint16_t metrics_port_ = 0;
};

}  // namespace pgdual::test
