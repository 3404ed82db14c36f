#!/usr/bin/python3
"""psycopg 3 client suite for pgdual.

Run once against PostgreSQL and once through pgdual: the two stdout transcripts must be identical,
so nothing printed here may depend on pids, OIDs, timestamps or timings. Connection parameters come
from the libpq environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). Any unexpected outcome
raises, prints a traceback on stderr and exits 1.
"""

import hashlib
import logging
import select
import sys
import threading
import time
import traceback
from datetime import date, datetime, timezone
from decimal import Decimal
from uuid import UUID

import psycopg
from psycopg import errors, sql
from psycopg.types.json import Jsonb

CONNINFO = "sslmode=disable application_name=pgdual_psycopg_suite"
TABLES = ["psy_items", "psy_copy", "psy_copy_bin", "psy_blobs", "psy_ledger", "psy_pipe",
          "psy_dw_orders", "psy_dw_visits", "psy_dw_serial", "psy_dw_scratch"]
WAIT_SECONDS = 10.0
SERIAL_WRITERS = 8
ROWS_PER_SERIAL_WRITER = 20
BATCH_IDS = range(101, 151)
COPY_IDS = range(201, 231)
PREPARED_IDS = range(301, 307)


def out(*parts):
    print(*parts)


def section(title):
    out(f"== {title}")


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def expect_error(action, error_class):
    """Runs action, which must fail with error_class; prints what a client would log about it."""
    try:
        action()
    except error_class as exc:
        diag = exc.diag
        out(f"  error {type(exc).__name__} sqlstate={exc.sqlstate} severity={diag.severity_nonlocalized}")
        out(f"    message: {diag.message_primary}")
        for label, value in (("detail", diag.message_detail), ("hint", diag.message_hint),
                             ("position", diag.statement_position), ("table", diag.table_name),
                             ("constraint", diag.constraint_name)):
            if value is not None:
                out(f"    {label}: {value}")
        return exc
    raise AssertionError(f"expected {error_class.__name__}, got success")


def connect(**kwargs):
    return psycopg.connect(CONNINFO, **kwargs)


def digest_rows(rows):
    h = hashlib.sha256()
    count = total = 0
    for g, text in rows:
        count += 1
        total += g
        h.update(f"{g}:{text}\n".encode())
    return count, total, h.hexdigest()[:16]


def reset_schema(conn):
    section("reset")
    for table in TABLES:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))
    conn.execute("CREATE TABLE psy_items (id int PRIMARY KEY, name text NOT NULL, qty int)")
    conn.execute("CREATE TABLE psy_ledger (id int PRIMARY KEY, note text NOT NULL)")
    conn.execute("CREATE TABLE psy_dw_orders (id int PRIMARY KEY, item text NOT NULL, qty int NOT NULL)")
    conn.execute("CREATE TABLE psy_dw_visits (id int PRIMARY KEY, seen timestamptz NOT NULL)")
    conn.execute("CREATE TABLE psy_dw_serial (id serial PRIMARY KEY, worker int NOT NULL)")
    out("  tables created")


def session_info(conn):
    section("session")
    info = conn.info
    out(f"  server major: {info.server_version // 10000}")
    for name in ("server_encoding", "client_encoding", "DateStyle", "integer_datetimes",
                 "standard_conforming_strings", "application_name", "is_superuser"):
        out(f"  {name}: {info.parameter_status(name)}")
    out(f"  current_user matches PGUSER: {conn.execute('SELECT current_user').fetchone()[0] == info.user}")
    out(f"  current_database matches PGDATABASE: "
        f"{conn.execute('SELECT current_database()').fetchone()[0] == info.dbname}")


def prepared_statements(conn):
    section("prepared statements")
    out(f"  prepare_threshold: {conn.prepare_threshold}")
    cur = conn.cursor()
    for i in range(1, 9):
        cur.execute("SELECT %s::int * 2 AS doubled, %s::text AS label", (i, f"n{i}"))
        out(f"  run {i}: {cur.fetchone()}")
    cur.execute("SELECT count(*) FROM psy_items WHERE qty > %s", (0,), prepare=True)
    out(f"  prepare=True: {cur.fetchone()}")
    for i in range(8):
        cur.execute("SELECT %s::int + 100", (i,), prepare=False)
    out(f"  prepare=False last: {cur.fetchone()}")
    conn.execute("PREPARE psy_sql_stmt(int) AS SELECT $1 + 1")
    out(f"  SQL EXECUTE: {conn.execute('EXECUTE psy_sql_stmt(41)').fetchone()}")
    rows = conn.execute("SELECT name, statement, parameter_types::text, from_sql"
                        " FROM pg_prepared_statements ORDER BY name").fetchall()
    for row in rows:
        out(f"  pg_prepared_statements: {row}")
    conn.execute("DEALLOCATE psy_sql_stmt")
    count = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE from_sql").fetchone()[0]
    out(f"  SQL-prepared after DEALLOCATE: {count}")


def execute_many(conn):
    section("executemany")
    cur = conn.cursor()
    cur.executemany("INSERT INTO psy_items (id, name, qty) VALUES (%s, %s, %s)",
                    [(i, f"item-{i}", i * 10) for i in range(1, 21)])
    out(f"  rowcount: {cur.rowcount}")
    cur.executemany("INSERT INTO psy_items (id, name, qty) VALUES (%s, %s, NULL) RETURNING id, name",
                    [(i, f"extra-{i}") for i in range(21, 24)], returning=True)
    while True:
        out(f"  returned: {cur.fetchall()}")
        if not cur.nextset():
            break
    conn.commit()
    out(f"  count/sum: {conn.execute('SELECT count(*), sum(qty) FROM psy_items').fetchone()}")


def copy_in_and_out(conn):
    section("copy")
    conn.execute("CREATE TABLE psy_copy (id int PRIMARY KEY, label text, amount numeric, note text)")
    cur = conn.cursor()
    rows = [(1, "plain", Decimal("1.50"), "simple"),
            (2, "tab\there", Decimal("-0.001"), None),
            (3, "line\nbreak", Decimal("12345678901234567890.12"), "back\\slash"),
            (4, "unicodé ✓", None, ""),
            (5, "\\N literal", Decimal("0"), "comma,semi;")]
    with cur.copy("COPY psy_copy (id, label, amount, note) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    out(f"  COPY FROM rowcount: {cur.rowcount}")
    with cur.copy("COPY psy_copy (id, label, amount, note) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(b'6,csv,"7.25","quoted ""x"""\n7,,,\n')
    out(f"  COPY FROM csv rowcount: {cur.rowcount}")
    conn.commit()
    with cur.copy("COPY (SELECT id, label, amount, note FROM psy_copy ORDER BY id) TO STDOUT") as copy:
        for row in copy.rows():
            out(f"  COPY TO row: {row}")
    out(f"  COPY TO rowcount: {cur.rowcount}")
    conn.execute("CREATE TABLE psy_copy_bin (id int, amount numeric, seen date, data bytea)")
    with cur.copy("COPY psy_copy_bin FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "numeric", "date", "bytea"])
        copy.write_row((1, Decimal("3.14"), date(2024, 2, 29), b"\x00\x01\xff"))
        copy.write_row((2, None, date(1999, 12, 31), None))
    with cur.copy("COPY (SELECT * FROM psy_copy_bin ORDER BY id) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "numeric", "date", "bytea"])
        for row in copy.rows():
            out(f"  binary COPY TO row: {row[:3]} {None if row[3] is None else bytes(row[3])}")
    conn.commit()


def errors_and_recovery(conn):
    section("errors and recovery")
    insert_dup = "INSERT INTO psy_items (id, name, qty) VALUES (%s, %s, %s)"
    expect_error(lambda: conn.execute(insert_dup, (1, "dup", 0)), errors.UniqueViolation)
    out(f"  transaction status: {conn.info.transaction_status.name}")
    expect_error(lambda: conn.execute("SELECT 1"), errors.InFailedSqlTransaction)
    conn.rollback()
    out(f"  after rollback: {conn.info.transaction_status.name}")
    expect_error(lambda: conn.execute("SELEC 1"), errors.SyntaxError)
    conn.rollback()
    expect_error(lambda: conn.execute("SELECT 1 / %s", (0,)), errors.DivisionByZero)
    conn.rollback()
    expect_error(lambda: conn.execute("SELECT * FROM psy_missing_table"), errors.UndefinedTable)
    conn.rollback()
    expect_error(lambda: conn.execute("INSERT INTO psy_items (id, name) VALUES (%s, NULL)", (99,)),
                 errors.NotNullViolation)
    conn.rollback()
    conn.execute(insert_dup, (100, "after-errors", 1))
    conn.commit()
    out(f"  recovered row: {conn.execute('SELECT id, name FROM psy_items WHERE id = 100').fetchone()}")
    conn.commit()
    conn.autocommit = True
    expect_error(lambda: conn.execute("SELECT 'x'::int"), errors.InvalidTextRepresentation)
    out(f"  autocommit status after error: {conn.info.transaction_status.name}")
    out(f"  autocommit next query: {conn.execute('SELECT 2 + 2').fetchone()}")
    conn.autocommit = False


def cancel_running_query(conn, watcher):
    section("cancel")
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    conn.commit()
    outcome = {}

    def cancel_when_active():
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            state = watcher.execute("SELECT state FROM pg_stat_activity WHERE pid = %s AND query LIKE %s",
                                    (pid, "SELECT pg_sleep%")).fetchone()
            if state and state[0] == "active":
                conn.cancel()
                outcome["sent"] = True
                return
            time.sleep(0.05)

    canceller = threading.Thread(target=cancel_when_active)
    canceller.start()
    expect_error(lambda: conn.execute("SELECT pg_sleep(30)"), errors.QueryCanceled)
    canceller.join()
    check(outcome.get("sent"), "cancel was never sent")
    conn.rollback()
    out(f"  after cancel: {conn.execute('SELECT 7').fetchone()}")
    conn.commit()


def savepoints(conn):
    section("savepoints")
    conn.execute("INSERT INTO psy_ledger VALUES (1, 'kept before savepoint')")
    conn.execute("SAVEPOINT sp1")
    conn.execute("INSERT INTO psy_ledger VALUES (2, 'rolled back')")
    conn.execute("ROLLBACK TO SAVEPOINT sp1")
    conn.execute("INSERT INTO psy_ledger VALUES (3, 'kept after savepoint')")
    conn.execute("SAVEPOINT sp2")
    expect_error(lambda: conn.execute("INSERT INTO psy_ledger VALUES (1, 'duplicate')"), errors.UniqueViolation)
    conn.execute("ROLLBACK TO SAVEPOINT sp2")
    conn.execute("RELEASE SAVEPOINT sp2")
    conn.commit()
    with conn.transaction():
        conn.execute("INSERT INTO psy_ledger VALUES (4, 'outer block')")
        with conn.transaction():
            conn.execute("INSERT INTO psy_ledger VALUES (5, 'inner block rolled back')")
            raise psycopg.Rollback()
    with conn.transaction(force_rollback=True):
        conn.execute("INSERT INTO psy_ledger VALUES (6, 'forced rollback')")
    for row in conn.execute("SELECT id, note FROM psy_ledger ORDER BY id"):
        out(f"  ledger: {row}")
    conn.commit()


def large_results(conn):
    section("large result")
    query = "SELECT g, md5(g::text) FROM generate_series(1, 100000) g ORDER BY g"
    rows = conn.execute(query).fetchall()
    buffered = digest_rows(rows)
    out(f"  buffered: count={buffered[0]} sum={buffered[1]} sha256={buffered[2]}")
    with conn.cursor(name="psy_big_cursor") as named:
        named.itersize = 5000
        named.execute(query)
        streamed = digest_rows(named)
    out(f"  server-side cursor: count={streamed[0]} sum={streamed[1]} sha256={streamed[2]}")
    conn.commit()
    single_row = digest_rows(conn.cursor().stream(query))
    out(f"  single-row stream: count={single_row[0]} sum={single_row[1]} sha256={single_row[2]}")
    check(buffered == streamed == single_row, "large result differs between fetch modes")
    conn.commit()


def nulls_and_binary(conn):
    section("nulls and binary parameters")
    row = conn.execute("SELECT %s::int IS NULL, %s::text, %s::bytea, coalesce(%s::text, 'dflt')",
                       (None, None, None, None)).fetchone()
    out(f"  nulls: {row}")
    blob = bytes(range(256))
    conn.execute("CREATE TABLE psy_blobs (id int PRIMARY KEY, data bytea, doc jsonb, tags text[])")
    conn.execute("INSERT INTO psy_blobs VALUES (%b, %b, %b, %b)",
                 (1, blob, Jsonb({"k": [1, None, "v"]}), ["a", None, "c"]))
    conn.execute("INSERT INTO psy_blobs VALUES (%s, %s, NULL, NULL)", (2, b""))
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        for ident, data, doc, tags in cur.execute("SELECT * FROM psy_blobs ORDER BY id"):
            out(f"  binary={binary} id={ident} len={len(data)} sha256={hashlib.sha256(data).hexdigest()[:16]}"
                f" doc={doc} tags={tags}")
    check(conn.execute("SELECT data FROM psy_blobs WHERE id = 1").fetchone()[0] == blob, "bytea round trip")
    params = (2 ** 31 - 1, -9.5, Decimal("-12.3400"), True, "ünï", date(2000, 1, 1),
              datetime(2021, 6, 1, 12, 30, 45, 123456, tzinfo=timezone.utc),
              UUID("12345678-1234-5678-1234-567812345678"))
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        row = cur.execute("SELECT %b, %b, %b, %b, %b, %b, %b, %b", params).fetchone()
        stamp = row[6].astimezone(timezone.utc).isoformat()
        out(f"  typed binary={binary}: {row[:6]} {stamp} {row[7]}")
    conn.commit()


def notices(conn):
    section("notices")
    received = []
    conn.add_notice_handler(lambda diag: received.append(
        (diag.severity_nonlocalized, diag.sqlstate, diag.message_primary, diag.message_detail, diag.message_hint)))
    conn.execute("""DO $$
        BEGIN
            RAISE NOTICE 'hello %', 42;
            RAISE WARNING 'careful' USING DETAIL = 'some detail', HINT = 'a hint';
            RAISE INFO 'info message';
            RAISE DEBUG 'debug is filtered';
        END $$""")
    conn.execute("SET client_min_messages = warning")
    conn.execute("DO $$ BEGIN RAISE NOTICE 'suppressed'; RAISE WARNING 'still shown'; END $$")
    conn.execute("RESET client_min_messages")
    conn.execute("DROP TABLE IF EXISTS psy_never_existed")
    conn.commit()
    for notice in received:
        out(f"  notice: {notice}")


def listen_notify():
    section("listen/notify")
    listener = connect(autocommit=True)
    peer = connect(autocommit=True)
    try:
        own_pid = listener.execute("SELECT pg_backend_pid()").fetchone()[0]
        peer_pid = peer.execute("SELECT pg_backend_pid()").fetchone()[0]
        out(f"  pg_backend_pid() matches BackendKeyData pid: {own_pid == listener.info.backend_pid}")
        received = []
        listener.add_notify_handler(received.append)
        listener.execute("LISTEN psy_chan")
        listener.execute("NOTIFY psy_chan, 'self-1'")
        listener.execute("SELECT pg_notify('psy_chan', 'self-2')")
        with listener.transaction():
            listener.execute("NOTIFY psy_chan, 'tx-a'")
            listener.execute("NOTIFY psy_chan, 'tx-a'")
            listener.execute("NOTIFY psy_chan, 'tx-b'")
        with listener.transaction(force_rollback=True):
            listener.execute("NOTIFY psy_chan, 'rolled-back'")
        listener.execute("SELECT 1")
        for n in received:
            out(f"  self notify: channel={n.channel} payload={n.payload} from_self={n.pid == own_pid}")
        generator = listener.notifies()
        for k in range(1, 4):
            peer.execute("SELECT pg_notify('psy_chan', %s)", (f"peer-{k}",))
            ready, _, _ = select.select([listener.fileno()], [], [], WAIT_SECONDS)
            check(ready, f"notification peer-{k} not received within {WAIT_SECONDS}s")
            n = next(generator)
            out(f"  notifies(): channel={n.channel} payload={n.payload} from_peer={n.pid == peer_pid}")
        generator.close()
        received.clear()
        listener.execute("UNLISTEN *")
        listener.execute("NOTIFY psy_chan, 'after-unlisten'")
        listener.execute("SELECT 1")
        out(f"  after UNLISTEN: {len(received)} notifications")
    finally:
        listener.close()
        peer.close()


def pipeline(conn):
    section("pipeline")
    conn.autocommit = True
    conn.execute("CREATE TABLE psy_pipe (id int PRIMARY KEY, v text)")
    with conn.pipeline() as pipe:
        first = conn.execute("INSERT INTO psy_pipe VALUES (%s, %s) RETURNING id", (1, "one"))
        second = conn.execute("INSERT INTO psy_pipe VALUES (%s, %s) RETURNING v", (2, "two"))
        cur = conn.cursor()
        cur.executemany("INSERT INTO psy_pipe VALUES (%s, %s)", [(3, "three"), (4, "four")])
        counted = conn.execute("SELECT count(*) FROM psy_pipe")
        pipe.sync()
        out(f"  results: {first.fetchone()} {second.fetchone()} {counted.fetchone()}")
        out(f"  executemany rowcount: {cur.rowcount}")
    # When the error surfaces at the third execute rather than at the end of the block (a matter of timing),
    # psycopg also logs a warning about the aborted rest of the pipeline: noise on stderr, so it is muted.
    psycopg_logger = logging.getLogger("psycopg")
    psycopg_logger.setLevel(logging.ERROR)
    try:
        with conn.pipeline():
            conn.execute("INSERT INTO psy_pipe VALUES (%s, %s)", (5, "five"))
            conn.execute("INSERT INTO psy_pipe VALUES (%s, %s)", (1, "duplicate"))
            conn.execute("INSERT INTO psy_pipe VALUES (%s, %s)", (6, "six"))
    except errors.UniqueViolation as exc:
        out(f"  pipeline error: sqlstate={exc.sqlstate} message={exc.diag.message_primary}")
    else:
        raise AssertionError("pipeline with a duplicate key did not fail")
    finally:
        psycopg_logger.setLevel(logging.NOTSET)
    with conn.pipeline():
        rows = conn.execute("SELECT id, v FROM psy_pipe ORDER BY id").fetchall()
    for row in rows:
        out(f"  pipe row: {row}")
    conn.autocommit = False


def print_orders(conn, label, ids):
    row = conn.execute("SELECT count(*), coalesce(sum(qty), 0) FROM psy_dw_orders WHERE id BETWEEN %s AND %s",
                       (ids.start, ids.stop - 1)).fetchone()
    out(f"  {label}: count={row[0]} sum={row[1]}")


def workload_ddl(conn):
    conn.execute("CREATE TABLE psy_dw_scratch (id int PRIMARY KEY, label text)")
    conn.execute("INSERT INTO psy_dw_scratch SELECT g, 'scratch-' || g FROM generate_series(1, 5) g")
    conn.execute("ALTER TABLE psy_dw_scratch ADD COLUMN state text NOT NULL DEFAULT 'fresh'")
    conn.execute("CREATE INDEX psy_dw_scratch_state ON psy_dw_scratch (state)")
    row = conn.execute("SELECT count(*), string_agg(DISTINCT state, ',') FROM psy_dw_scratch").fetchone()
    out(f"  scratch table: count={row[0]} states={row[1]}")
    conn.execute("DROP TABLE psy_dw_scratch")
    conn.execute("ALTER TABLE psy_dw_orders ADD COLUMN status text NOT NULL DEFAULT 'new'")
    conn.execute("CREATE INDEX psy_dw_orders_item ON psy_dw_orders (item)")
    conn.commit()
    scratch_left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'psy_dw_scratch'").fetchone()[0]
    out(f"  scratch tables left: {scratch_left}")


def workload_transactions(conn):
    insert = "INSERT INTO psy_dw_orders (id, item, qty) VALUES (%s, %s, %s)"
    conn.execute(insert, (1, "rolled back", 1))
    conn.rollback()
    print_orders(conn, "after rollback", range(1, 5))
    conn.execute(insert, (2, "before savepoint", 2))
    conn.execute("SAVEPOINT psy_dw_sp")
    conn.execute(insert, (3, "undone by savepoint", 3))
    conn.execute("ROLLBACK TO SAVEPOINT psy_dw_sp")
    conn.execute(insert, (4, "after savepoint", 4))
    conn.commit()
    ids = conn.execute("SELECT string_agg(id::text, ',' ORDER BY id) FROM psy_dw_orders").fetchone()[0]
    out(f"  committed ids: {ids}")


def workload_bulk(conn):
    cur = conn.cursor()
    cur.executemany("INSERT INTO psy_dw_orders (id, item, qty) VALUES (%s, %s, %s)",
                    [(i, f"batch-{i}", i) for i in BATCH_IDS])
    out(f"  executemany rowcount: {cur.rowcount}")
    with cur.copy("COPY psy_dw_orders (id, item, qty) FROM STDIN") as copy:
        for i in COPY_IDS:
            copy.write_row((i, f"copied-{i}", i))
    out(f"  COPY FROM rowcount: {cur.rowcount}")
    for i in PREPARED_IDS:
        cur.execute("INSERT INTO psy_dw_orders (id, item, qty) VALUES (%s, %s, %s)", (i, f"prepared-{i}", i),
                    prepare=True)
    conn.commit()
    print_orders(conn, "batch rows", BATCH_IDS)
    print_orders(conn, "copied rows", COPY_IDS)
    print_orders(conn, "prepared rows", PREPARED_IDS)
    statuses = conn.execute("SELECT string_agg(DISTINCT status, ',') FROM psy_dw_orders").fetchone()[0]
    out(f"  statuses: {statuses}")


def workload_now(conn):
    for i in range(1, 6):
        conn.execute("INSERT INTO psy_dw_visits (id, seen) VALUES (%s, now())", (i,))
    conn.commit()
    out(f"  visits: {conn.execute('SELECT count(*) FROM psy_dw_visits').fetchone()[0]}")
    conn.commit()


def insert_serial_rows(worker, failures):
    try:
        with connect(autocommit=True) as own:
            for _ in range(ROWS_PER_SERIAL_WRITER):
                own.execute("INSERT INTO psy_dw_serial (worker) VALUES (%s)", (worker,))
    except Exception as exc:  # noqa: BLE001 - reported by the main thread
        failures.append(exc)


def workload_concurrent_serial(conn):
    failures = []
    writers = [threading.Thread(target=insert_serial_rows, args=(worker, failures))
               for worker in range(1, SERIAL_WRITERS + 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    if failures:
        raise failures[0]
    out(f"  serial rows: {conn.execute('SELECT count(*) FROM psy_dw_serial').fetchone()[0]}")
    for worker, count in conn.execute("SELECT worker, count(*) FROM psy_dw_serial GROUP BY worker ORDER BY worker"):
        out(f"  worker {worker}: {count}")
    conn.commit()


def dual_write_workload(conn):
    section("dual write workload")
    workload_ddl(conn)
    workload_transactions(conn)
    workload_bulk(conn)
    workload_now(conn)
    workload_concurrent_serial(conn)


def main():
    with connect(autocommit=True) as setup:
        reset_schema(setup)
    with connect() as conn, connect(autocommit=True) as watcher:
        session_info(conn)
        prepared_statements(conn)
        execute_many(conn)
        copy_in_and_out(conn)
        errors_and_recovery(conn)
        cancel_running_query(conn, watcher)
        savepoints(conn)
        large_results(conn)
        nulls_and_binary(conn)
        notices(conn)
        listen_notify()
        pipeline(conn)
        dual_write_workload(conn)
    section("done")


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - any failure must end the run with a non-zero code
        traceback.print_exc()
        sys.exit(1)
