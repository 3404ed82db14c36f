"""A write load for the WAL mirror's fault tests (wal_faults_test.cpp).

Usage: wal_write_load.py CLIENTS SECONDS TIMEOUT_MS ACKNOWLEDGED_FILE, with the libpq variables
(PGHOST...) naming pgdual; TIMEOUT_MS is pgdual's mirror.timeout_ms.

Each client writes, one write at a time, for SECONDS: odd writes are autocommit INSERTs into
`writes`, even ones transactions that insert into `writes` and `journal` and add one to the
client's row of `tallies`. The last client logs in anew for each write, as applications that open
a connection per request do; the time it waits for a write includes its login.

Every write has its own key (client, seq), so a write is either on a server once or not at all; a
write whose outcome is unknown (its connection was cut) is not counted as acknowledged, and the
client reconnects and goes on with the next key.

ACKNOWLEDGED_FILE gets one "client|seq" line per write whose COMMIT was answered, as psql -A -t
prints the rows. stdout gets the figures, one "name value" per line, then the first errors.
answered_after_timeout counts the acknowledged writes that took TIMEOUT_MS or more, logins left
out: those pgdual answered before the mirror had them, because of the fault.
"""
import sys
import threading
import time

import psycopg

RECONNECT_PAUSE = 0.2
ERRORS_SHOWN = 5


class Client(threading.Thread):
    def __init__(self, number, seconds, login_per_write):
        super().__init__()
        self.number = number
        self.seconds = seconds
        self.login_per_write = login_per_write
        self.acknowledged = []
        self.failed_writes = 0
        self.failed_connects = 0
        self.latencies = []  # each write as the client waited for it, its login included if it made one for it
        self.logins = []
        self.late_answers = []  # the acknowledged writes' own durations, login left out
        self.errors = []
        self.finished = False

    def write(self, conn, seq):
        key = (self.number, seq)
        if seq % 2:
            conn.execute("INSERT INTO writes (client, seq) VALUES (%s, %s)", key)
            return
        with conn.transaction():
            conn.execute("INSERT INTO writes (client, seq) VALUES (%s, %s)", key)
            conn.execute("INSERT INTO journal (client, seq) VALUES (%s, %s)", key)
            conn.execute("UPDATE tallies SET transactions = transactions + 1 WHERE client = %s", (self.number,))

    def connect(self):
        started = time.monotonic()
        conn = psycopg.connect(autocommit=True)
        self.logins.append(time.monotonic() - started)
        return conn

    def failed(self, error, counter):
        setattr(self, counter, getattr(self, counter) + 1)
        message = " ".join(str(error).split())  # libpq's messages span lines; the output has one per error
        self.errors.append(f"client {self.number}: {type(error).__name__}: {message}")
        time.sleep(RECONNECT_PAUSE)

    def run(self):
        deadline = time.monotonic() + self.seconds
        conn = None
        seq = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            if conn is None:
                try:
                    conn = self.connect()
                except psycopg.Error as error:
                    self.failed(error, "failed_connects")
                    continue
            if not self.login_per_write:
                started = time.monotonic()
            seq += 1
            writing = time.monotonic()
            try:
                self.write(conn, seq)
            except psycopg.Error as error:
                self.latencies.append(time.monotonic() - started)
                conn.close()
                conn = None
                self.failed(error, "failed_writes")
                continue
            self.latencies.append(time.monotonic() - started)
            self.late_answers.append(time.monotonic() - writing)
            self.acknowledged.append(seq)
            if self.login_per_write:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        self.finished = True


def milliseconds(seconds):
    return round(1000 * seconds)


def figures(clients, timeout):
    latencies = sorted(latency for client in clients for latency in client.latencies)
    return {
        "acknowledged": sum(len(client.acknowledged) for client in clients),
        "acknowledged_transactions": sum(seq % 2 == 0 for client in clients for seq in client.acknowledged),
        "answered_after_timeout": sum(took >= timeout for client in clients for took in client.late_answers),
        "failed_writes": sum(client.failed_writes for client in clients),
        "failed_connects": sum(client.failed_connects for client in clients),
        "max_latency_ms": milliseconds(latencies[-1]) if latencies else 0,
        "median_latency_ms": milliseconds(latencies[len(latencies) // 2]) if latencies else 0,
        "max_login_ms": milliseconds(max((took for client in clients for took in client.logins), default=0)),
    }


def main():
    count, seconds, timeout = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]) / 1000
    acknowledged_file = sys.argv[4]
    clients = [Client(number, seconds, login_per_write=number == count - 1) for number in range(count)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    with open(acknowledged_file, "w") as acknowledged:
        for client in clients:
            acknowledged.writelines(f"{client.number}|{seq}\n" for seq in client.acknowledged)
    for name, value in figures(clients, timeout).items():
        print(name, value)
    for error in [error for client in clients for error in client.errors][:ERRORS_SHOWN]:
        print("error", error)
    return 0 if all(client.finished for client in clients) else 1


if __name__ == "__main__":
    sys.exit(main())
