"""COPY commands that fail, each in a session of its own, over libpq (psycopg.pq), in the simple
and the extended protocol: prints what every step answered, for the test to compare with what
PostgreSQL answers directly. The connection comes from the PG* variables.

The client pauses where the race that hung pgdual was: its data reaches the server only after the
server has failed the COPY.
"""
import sys
import time

from psycopg import pq

PAUSE = 0.3  # seconds: long enough for the server's error to come first
FILLER = b"".join(b"%d\n" % n for n in range(20000))  # COPY data sent after the error


def describe(result):
    status = pq.ExecStatus(result.status)
    if status == pq.ExecStatus.FATAL_ERROR:
        sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE).decode()
        message = result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY).decode()
        return f"{status.name} {sqlstate} {message}"
    if status == pq.ExecStatus.TUPLES_OK:
        rows = [
            "|".join((result.get_value(row, col) or b"").decode() for col in range(result.nfields))
            for row in range(result.ntuples)
        ]
        return f"{status.name} {rows}"
    return f"{status.name} {(result.command_status or b'').decode()}"


class Session:
    def __init__(self, protocol):
        self.extended = protocol == "extended"
        self.conn = pq.PGconn.connect(b"")
        if self.conn.status != pq.ConnStatus.OK:
            sys.exit(f"connection failed: {self.conn.error_message.decode()}")

    def send(self, sql):
        if self.extended:
            self.conn.send_query_params(sql.encode(), None)
        else:
            self.conn.send_query(sql.encode())

    def drain(self):
        while (result := self.conn.get_result()) is not None:
            print("  ", describe(result))

    def run(self, sql):
        print(sql)
        self.send(sql)
        self.drain()

    def copy_in(self, sql, before_pause=b"", after_pause=b"", fail=None):
        """Sends `before_pause`, waits, sends `after_pause`, then CopyDone (CopyFail with `fail`)."""
        print(sql)
        self.send(sql)
        # Statements before the COPY in a multi-statement Query answer first.
        while (result := self.conn.get_result()) is not None:
            print("  ", describe(result))
            if result.status in (pq.ExecStatus.COPY_IN, pq.ExecStatus.FATAL_ERROR):
                break
        if result is None or result.status != pq.ExecStatus.COPY_IN:
            self.drain()
            return
        if before_pause:
            self.conn.put_copy_data(before_pause)
            self.conn.flush()
        time.sleep(PAUSE)
        if after_pause:
            self.conn.put_copy_data(after_pause)
        self.conn.put_copy_end(fail)
        self.drain()

    def copy_out(self, sql):
        print(sql)
        self.send(sql)
        result = self.conn.get_result()
        print("  ", describe(result))
        if result.status != pq.ExecStatus.COPY_OUT:
            self.drain()
            return
        rows = []
        while True:
            size, data = self.conn.get_copy_data(0)
            if size < 0:
                break
            rows.append(bytes(data).decode().strip())
        print("   rows", rows)
        self.drain()

    def close(self):
        self.conn.finish()


def copy_succeeds(protocol):
    table = f"copied_{protocol}"
    session = Session(protocol)
    session.run(f"CREATE TABLE {table} (a int)")
    session.copy_in(f"COPY {table} FROM STDIN", before_pause=b"1\n", after_pause=FILLER)
    session.run(f"SELECT count(*), sum(a) FROM {table}")
    session.close()


def freeze_after_write(protocol):
    table = f"frozen_{protocol}"
    session = Session(protocol)
    session.run(f"CREATE TABLE {table} (a int)")
    session.run(f"INSERT INTO {table} VALUES (1)")
    session.copy_in(f"COPY {table} FROM STDIN (FREEZE)", after_pause=b"2\n3\n")
    # In the extended protocol the server also answers the Sync that libpq sent with the Execute,
    # which the failed COPY did not swallow: libpq takes that ReadyForQuery as the end of the next
    # statement, at a moment that depends on timing. A new session reads the table.
    session.close()
    session = Session(protocol)
    session.run(f"SELECT count(*), sum(a) FROM {table}")
    session.close()


def bad_row_mid_stream(protocol):
    table = f"bad_row_{protocol}"
    session = Session(protocol)
    session.run(f"CREATE TABLE {table} (a int)")
    session.copy_in(f"COPY {table} FROM STDIN", before_pause=b"1\nnot a number\n", after_pause=FILLER)
    session.run(f"SELECT count(*), sum(a) FROM {table}")
    session.close()


def copy_fail_from_client(protocol):
    table = f"copy_fail_{protocol}"
    session = Session(protocol)
    session.run(f"CREATE TABLE {table} (a int)")
    session.copy_in(f"COPY {table} FROM STDIN", before_pause=b"1\n", after_pause=b"2\n", fail=b"the client gave up")
    session.run(f"SELECT count(*), sum(a) FROM {table}")
    session.close()


def copy_out_fails(protocol):
    session = Session(protocol)
    session.copy_out("COPY (SELECT 10 / (3 - a) FROM generate_series(1, 5) a) TO STDOUT")
    session.run("SELECT 1")
    session.close()


def in_transaction(protocol):
    table = f"in_transaction_{protocol}"
    session = Session(protocol)
    session.run(f"CREATE TABLE {table} (a int)")
    session.run("BEGIN")
    session.run(f"INSERT INTO {table} VALUES (1)")
    session.copy_in(f"COPY {table} FROM STDIN", before_pause=b"bad\n", after_pause=FILLER)
    session.run("SELECT 1")
    session.run("COMMIT")
    session.run("BEGIN")
    session.run(f"INSERT INTO {table} VALUES (2)")
    session.run("SAVEPOINT before_copy")
    session.copy_in(f"COPY {table} FROM STDIN", before_pause=b"3\nbad\n", after_pause=FILLER)
    session.run("ROLLBACK TO SAVEPOINT before_copy")
    session.copy_in(f"COPY {table} FROM STDIN", after_pause=b"4\n5\n")
    session.run("COMMIT")
    session.run(f"SELECT count(*), sum(a) FROM {table}")
    session.close()


def in_multi_statement_query():
    session = Session("simple")
    session.run("CREATE TABLE multi (a int)")
    text = "INSERT INTO multi VALUES (1); COPY multi FROM STDIN; INSERT INTO multi VALUES (2)"
    session.copy_in(text, before_pause=b"10\nbad\n", after_pause=FILLER)
    session.run("SELECT count(*), sum(a) FROM multi")
    session.copy_in(text, after_pause=b"20\n30\n")
    session.run("SELECT count(*), sum(a) FROM multi")
    session.close()


def main():
    for protocol in ("simple", "extended"):
        print(f"== {protocol}")
        copy_succeeds(protocol)
        freeze_after_write(protocol)
        bad_row_mid_stream(protocol)
        copy_fail_from_client(protocol)
        copy_out_fails(protocol)
        in_transaction(protocol)
    print("== multi-statement")
    in_multi_statement_query()


if __name__ == "__main__":
    main()
