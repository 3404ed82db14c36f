#!/usr/bin/env python3
"""The writes that statement mirroring could not copy (issue 16, "Why"), through pgdual, at once.

usage: hostile_workload.py PRIMARY_CONNINFO

The connection through pgdual comes from the libpq environment (PGHOST, PGPORT, ...); PRIMARY_CONNINFO
reaches the primary directly, for a writer that bypasses pgdual. The schema is made through pgdual,
one statement per Query, so that wal mode carries each DDL to the mirror. Eight sessions then write
at once: serial, identity and volatile defaults with RETURNING, triggers that stamp times and
transaction ids, a rule, an insert through a view, a SKIP LOCKED job queue, upsert races, LIMIT
without ORDER BY, a data-modifying CTE, several statements in one Query, a pipeline read mid-way
(Flush), a temporary table laundering random() into a real one, COPY into defaults, partial
updates of TOASTed rows, 'now' and DEFAULT in updates. Midway another session adds a column and
the writers use it; at the end TRUNCATE ... CASCADE. Exits 1 on any error: every statement here
succeeds on PostgreSQL directly. Whether the mirror ended identical is the caller's to check.
"""

import random
import sys
import threading

import psycopg

WORKERS = 8
ROUNDS = 12

SCHEMA = [
    "CREATE TABLE patients (id serial PRIMARY KEY, mrn text UNIQUE NOT NULL, name text,"
    " updated_at timestamptz, created_xid bigint DEFAULT txid_current())",
    "CREATE TABLE encounters (id bigserial PRIMARY KEY, patient_id int NOT NULL REFERENCES patients,"
    " note text, at timestamptz DEFAULT now(), token text DEFAULT md5(random()::text))",
    "CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text, at timestamptz,"
    " xid bigint)",
    "CREATE FUNCTION audit_encounter() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
    " INSERT INTO public.audit (what, at, xid) VALUES ('encounter ' || NEW.id, clock_timestamp(),"
    " txid_current()); RETURN NEW; END$$",
    "CREATE TRIGGER encounters_audit AFTER INSERT ON encounters FOR EACH ROW EXECUTE FUNCTION audit_encounter()",
    "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
    " NEW.updated_at := clock_timestamp(); RETURN NEW; END$$",
    "CREATE TRIGGER patients_touch BEFORE INSERT OR UPDATE ON patients FOR EACH ROW EXECUTE FUNCTION touch()",
    "CREATE VIEW encounter_notes AS SELECT id, patient_id, note FROM encounters",
    "CREATE TABLE notes_log (id serial PRIMARY KEY, body text, at timestamptz DEFAULT now())",
    "CREATE RULE log_notes AS ON UPDATE TO encounters DO ALSO INSERT INTO notes_log (body) VALUES (NEW.note)",
    "CREATE TABLE jobs (id serial PRIMARY KEY, owner int, done_at timestamptz)",
    "INSERT INTO jobs (owner) SELECT NULL FROM generate_series(1, 400)",
    "CREATE TABLE counters (k int PRIMARY KEY, n int NOT NULL, touched timestamptz DEFAULT now())",
    # No primary key: the primary must still take UPDATE and DELETE once it is published.
    "CREATE TABLE readings (device int, value float8, at timestamptz DEFAULT clock_timestamp())",
    "INSERT INTO readings (device, value) SELECT g % 7, random() FROM generate_series(1, 600) AS g",
    "CREATE TABLE archive (device int, value float8, at timestamptz, moved_at timestamptz DEFAULT now())",
    "CREATE TABLE documents (id int PRIMARY KEY, body text, version int NOT NULL DEFAULT 1, stamp text)",
    # Bodies of about 13 kB, stored out of line (TOAST): later updates leave them unchanged.
    "INSERT INTO documents (id, body) SELECT g, repeat(md5(g::text), 400) FROM generate_series(1, 24) AS g",
    "CREATE TABLE imported (id serial PRIMARY KEY, label text, at timestamptz DEFAULT now(),"
    " r float8 DEFAULT random())",
    "CREATE TABLE wards (id serial PRIMARY KEY, name text)",
    "CREATE TABLE beds (id serial PRIMARY KEY, ward int REFERENCES wards, label text)",
]

failures = []
failures_lock = threading.Lock()


def fail(where, error):
    with failures_lock:
        failures.append(f"{where}: {type(error).__name__}: {error}")


def admit(conn, mrn, ward):
    """A patient and an encounter under the id the primary gave, one through a view."""
    with conn.transaction():
        patient = conn.execute("INSERT INTO patients (mrn, name) VALUES (%s, %s) RETURNING id",
                               (mrn, f"patient {mrn}")).fetchone()[0]
        if ward:
            encounter = conn.execute("INSERT INTO encounters (patient_id, note, ward) VALUES (%s, 'visit', %s)"
                                     " RETURNING id", (patient, ward)).fetchone()[0]
        else:
            encounter = conn.execute("INSERT INTO encounters (patient_id, note) VALUES (%s, 'visit') RETURNING id",
                                     (patient,)).fetchone()[0]
    conn.execute("INSERT INTO encounter_notes (patient_id, note) VALUES (%s, 'via view')", (patient,))
    conn.commit()
    return patient, encounter


def touch(conn, patient, encounter):
    """A BEFORE trigger's clock_timestamp() and a rule's extra row."""
    conn.execute("UPDATE patients SET name = name || '.' WHERE id = %s", (patient,))
    conn.execute("UPDATE encounters SET note = note || '!' WHERE id = %s", (encounter,))
    conn.commit()


def take_job(conn, n):
    conn.execute("UPDATE jobs SET owner = %s, done_at = now() WHERE id = (SELECT id FROM jobs WHERE owner IS NULL"
                 " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)", (n,))
    conn.commit()


def race(conn):
    conn.execute("INSERT INTO counters (k, n) VALUES (%s, 1) ON CONFLICT (k) DO UPDATE SET n = counters.n + 1,"
                 " touched = now()", (random.randrange(5),))
    conn.commit()


def unordered(conn, n):
    """LIMIT without ORDER BY, and a data-modifying CTE, on a table without a primary key."""
    device = n % 7
    conn.execute("DELETE FROM readings WHERE ctid IN (SELECT ctid FROM readings WHERE device = %s LIMIT 2)",
                 (device,))
    conn.execute("UPDATE readings SET value = value + 1 WHERE ctid = (SELECT ctid FROM readings WHERE device = %s"
                 " LIMIT 1)", (device,))
    conn.execute("WITH moved AS (DELETE FROM readings WHERE device = %s AND value > 0.9 RETURNING device, value, at)"
                 " INSERT INTO archive (device, value, at) SELECT * FROM moved", (device,))
    conn.commit()


def several_in_one_query(conn, n):
    # No parameters: psycopg sends the text as one simple Query, one implicit transaction.
    conn.execute(f"INSERT INTO imported (label) VALUES ('multi {n}'); UPDATE counters SET touched = now()"
                 f" WHERE k = {n % 5}; SELECT 1")
    conn.commit()


def pipelined(conn, n):
    """A pipeline whose RETURNING is read before its end: psycopg sends Flush, not Sync."""
    with conn.pipeline():
        cur = conn.execute("INSERT INTO imported (label) VALUES (%s) RETURNING id", (f"pipe {n}",))
        first = cur.fetchone()[0]
        conn.execute("UPDATE imported SET label = label || ' read' WHERE id = %s", (first,))
        conn.execute("INSERT INTO imported (label) VALUES (%s)", (f"pipe {n} after",))
    conn.commit()


def launder(conn, n):
    """random() through a temporary table into a real one."""
    with conn.transaction():
        conn.execute("CREATE TEMP TABLE scratch ON COMMIT DROP AS SELECT random() AS r, clock_timestamp() AS at")
        conn.execute("INSERT INTO imported (label, r, at) SELECT %s, r, at FROM scratch", (f"laundered {n}",))
    conn.commit()


def copy_in(conn, n):
    with conn.cursor() as cur:
        with cur.copy("COPY imported (label) FROM STDIN") as copy:
            for j in range(5):
                copy.write_row((f"copied {n}-{j}",))
    conn.commit()


def documents(conn, n):
    """Partial updates of TOASTed rows, 'now' and DEFAULT."""
    document = 1 + (n * 3 + random.randrange(3)) % 24
    conn.execute("UPDATE documents SET version = version + 1 WHERE id = %s", (document,))
    conn.execute("UPDATE documents SET stamp = 'now'::timestamptz::text WHERE id = %s", (document,))
    conn.execute("UPDATE documents SET version = DEFAULT WHERE id = %s AND version > 5", (document,))
    conn.commit()


def worker(n, rounds, ward, barrier):
    try:
        with psycopg.connect("") as conn:
            barrier.wait()
            for i in range(rounds):
                patient, encounter = admit(conn, f"{ward or 'none'}-{n}-{i}", ward)
                touch(conn, patient, encounter)
                take_job(conn, n)
                race(conn)
                unordered(conn, n)
                several_in_one_query(conn, n)
                pipelined(conn, n)
                launder(conn, n)
                copy_in(conn, n)
                documents(conn, n)
    except Exception as error:  # noqa: BLE001 - every failure is reported, then the run fails
        fail(f"worker {n}", error)


def direct_writer(conninfo, stop):
    """A client of the primary that pgdual never sees."""
    try:
        with psycopg.connect(conninfo) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO imported (label) VALUES ('direct')")
                conn.execute("UPDATE counters SET n = n + 1 WHERE k = 4")
                conn.commit()
    except Exception as error:  # noqa: BLE001
        fail("direct writer", error)


def phase(name, rounds, ward, conninfo):
    barrier = threading.Barrier(WORKERS)
    stop = threading.Event()
    direct = threading.Thread(target=direct_writer, args=(conninfo, stop))
    direct.start()
    threads = [threading.Thread(target=worker, args=(n, rounds, ward, barrier)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    direct.join()
    print(f"{name}: done", flush=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    conninfo = sys.argv[1]
    with psycopg.connect("", autocommit=True) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
    phase("before the new column", ROUNDS // 2, None, conninfo)
    with psycopg.connect("", autocommit=True) as conn:
        conn.execute("ALTER TABLE encounters ADD COLUMN ward text")
    phase("after the new column", ROUNDS // 2, "north", conninfo)
    with psycopg.connect("", autocommit=True) as conn:
        conn.execute("INSERT INTO wards (name) VALUES ('north'), ('south')")
        conn.execute("INSERT INTO beds (ward, label) SELECT w.id, 'bed ' || g FROM wards w, generate_series(1, 3) g")
        conn.execute("TRUNCATE wards RESTART IDENTITY CASCADE")
        conn.execute("INSERT INTO wards (name) VALUES ('east')")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
