#!/usr/bin/env python3
"""Opens idle client sessions through pgdual and reports pgdual's resident memory.

Each session is a real PostgreSQL client session: a StartupMessage, SCRAM-SHA-256 with pgdual,
and the wait for ReadyForQuery, which pgdual sends only once it has logged in to both backends
for the session. The session then sends nothing. After each level of open sessions is reached,
pgdual's VmRSS (from /proc/PID/status) is printed as CSV: "sessions,rss_kib".

With --fake-backends PORT PORT, this process also serves those ports as two minimal PostgreSQL
backends: they take any login (AuthenticationOk), send the greeting PostgreSQL 15 sends
(ParameterStatus, BackendKeyData, ReadyForQuery), then answer each Query with an empty result and
keep the connection open. pgdual holds the same state for such a connection as for a real
server's, without 2 x 5000 server processes.

Only the standard library: it runs under any Python 3.9 or later.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import struct
import sys
import time

# The ParameterStatus messages a PostgreSQL 15 server sends after login, as a client sees them.
GREETING_PARAMETERS = [
    ("application_name", ""), ("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"),
    ("default_transaction_read_only", "off"), ("in_hot_standby", "off"), ("integer_datetimes", "on"),
    ("IntervalStyle", "postgres"), ("is_superuser", "on"), ("server_encoding", "UTF8"),
    ("server_version", "15.18"), ("session_authorization", "postgres"),
    ("standard_conforming_strings", "on"), ("TimeZone", "UTC"),
]
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


def message(tag: bytes, body: bytes = b"") -> bytes:
    return tag + struct.pack("!I", len(body) + 4) + body


def cstring(text: str) -> bytes:
    return text.encode() + b"\0"


async def read_message(reader: asyncio.StreamReader) -> tuple:
    header = await reader.readexactly(5)
    (length,) = struct.unpack("!I", header[1:])
    return header[:1], await reader.readexactly(length - 4)


# --- the fake backends ---------------------------------------------------------------------------

def greeting() -> bytes:
    out = message(b"R", struct.pack("!I", 0))
    for name, value in GREETING_PARAMETERS:
        out += message(b"S", cstring(name) + cstring(value))
    out += message(b"K", struct.pack("!II", secrets.randbits(31), secrets.randbits(32)))
    return out + message(b"Z", b"I")


class FakeBackends:
    """Two ports that behave as PostgreSQL towards pgdual for as long as a session stays idle."""

    def __init__(self) -> None:
        self.logins = 0
        self.writers = []  # every connection's, closed at the end

    async def serve_connection(self, reader, writer) -> None:
        self.writers.append(writer)
        try:
            while True:
                (length,) = struct.unpack("!I", await reader.readexactly(4))
                (code,) = struct.unpack("!I", (await reader.readexactly(length - 4))[:4])
                if code not in (SSL_REQUEST, GSSENC_REQUEST):
                    break
                writer.write(b"N")
            writer.write(greeting())
            self.logins += 1
            while True:
                tag, _ = await read_message(reader)
                if tag == b"X":
                    break
                if tag in (b"Q", b"S"):
                    if tag == b"Q":
                        writer.write(message(b"I"))
                    writer.write(message(b"Z", b"I"))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    async def start(self, ports) -> list:
        return [await asyncio.start_server(self.serve_connection, "127.0.0.1", port, backlog=4096)
                for port in ports]


# --- the clients -----------------------------------------------------------------------------------

def scram_client_proof(password: str, client_first_bare: str, server_first: str, channel: str) -> tuple:
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c={channel},r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    return f"{without_proof},p={base64.b64encode(proof).decode()}", salted, auth_message


async def open_session(host: str, port: int, user: str, password: str, database: str):
    """Logs in with SCRAM-SHA-256 and waits for ReadyForQuery; returns the open streams."""
    reader, writer = await asyncio.open_connection(host, port)
    body = struct.pack("!I", 196608) + cstring("user") + cstring(user) + cstring("database") + cstring(database)
    body += b"\0"
    writer.write(struct.pack("!I", len(body) + 4) + body)
    nonce = base64.b64encode(os.urandom(18)).decode()
    client_first_bare = f"n=,r={nonce}"
    channel = base64.b64encode(b"n,,").decode()
    salted = auth_message = None
    while True:
        tag, payload = await read_message(reader)
        if tag == b"E":
            raise RuntimeError("the server refused the session")
        if tag == b"Z":
            return reader, writer
        if tag != b"R":
            continue
        (kind,) = struct.unpack("!I", payload[:4])
        if kind == 10:  # AuthenticationSASL
            first = ("n,," + client_first_bare).encode()
            writer.write(message(b"p", cstring("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
        elif kind == 11:  # AuthenticationSASLContinue
            final, salted, auth_message = scram_client_proof(password, client_first_bare, payload[4:].decode(),
                                                             channel)
            writer.write(message(b"p", final.encode()))
        elif kind == 12:  # AuthenticationSASLFinal
            server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            expected = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
            if payload[4:].decode() != f"v={expected}":
                raise RuntimeError("the server's SCRAM signature does not match")
        elif kind != 0:
            raise RuntimeError(f"unsupported authentication request {kind}")


def resident_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def measure(args) -> None:
    fakes = FakeBackends()
    servers = await fakes.start(args.fake_backends) if args.fake_backends else []
    password = os.environ[args.password_env]
    sessions = []
    gate = asyncio.Semaphore(args.concurrency)

    async def one() -> None:
        async with gate:
            sessions.append(await open_session("127.0.0.1", args.port, args.user, password, args.database))

    await asyncio.sleep(args.settle)
    print(f"0,{resident_kib(args.pgdual_pid)}", flush=True)
    for level in args.levels:
        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(level - len(sessions))))
        opened = time.monotonic() - started
        await asyncio.sleep(args.settle)
        print(f"{len(sessions)},{resident_kib(args.pgdual_pid)}", flush=True)
        print(f"idle_sessions: {len(sessions)} sessions open ({opened:.1f} s to open the last ones)", file=sys.stderr)
    for _, writer in sessions:
        writer.write(message(b"X"))
        writer.close()
    for server in servers:
        server.close()
    for writer in fakes.writers:
        writer.close()
    if args.fake_backends:
        print(f"idle_sessions: the fake backends served {fakes.logins} logins", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="pgdual's port on 127.0.0.1")
    parser.add_argument("--pgdual-pid", type=int, required=True)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--password-env", default="PGPASSWORD")
    parser.add_argument("--database", default="postgres")
    parser.add_argument("--levels", type=int, nargs="+", required=True, help="session counts, ascending")
    parser.add_argument("--fake-backends", type=int, nargs=2, metavar="PORT")
    parser.add_argument("--concurrency", type=int, default=32, help="logins in flight at once")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait before reading VmRSS")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
