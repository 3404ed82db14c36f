#!/usr/bin/env python3
"""Loopback recording relay for PostgreSQL protocol 3.0 sessions.

Listens on 127.0.0.1:LISTEN_PORT, connects each accepted client to
127.0.0.1:SERVER_PORT, relays bytes both ways unchanged, and writes what each
side sent as hex, one protocol message per line:

    PREFIX.frontend.hex / PREFIX.backend.hex      first connection
    PREFIX.2.frontend.hex / PREFIX.2.backend.hex  second connection, ...

and PREFIX.order: one line with a letter per recorded message, F (frontend)
or B (backend), in the order the relay received them. That is the order a
proxy in the relay's place sees them, which the two hex files alone lose.

The frontend stream starts with the untagged startup packet; every other
message is Byte1 tag, Int32 length, body. Lines starting with '#' are comments.
Only plaintext sessions can be split into messages: record with
sslmode=disable gssencmode=disable.

--max-copy-data keeps the files small: once that many bytes of CopyData
payload have been written for one direction, further CopyData messages are
relayed but not written, and one comment line says how many were left out.
The recorded stream stays a valid message sequence.

Python 3 standard library only. Exits once --connections connections have
been accepted and closed.
"""

import argparse
import socket
import struct
import threading

COPY_DATA = ord("d")


class Recorder:
    """Splits one direction's bytes into messages and writes them as hex lines."""

    def __init__(self, path, startup_first, max_copy_data, order, letter):
        self.out = open(path, "w", encoding="ascii")
        self.order = order
        self.letter = letter
        self.buffer = bytearray()
        self.expect_startup = startup_first
        self.max_copy_data = max_copy_data
        self.copy_data_written = 0
        self.skipped_messages = 0
        self.skipped_bytes = 0

    def feed(self, chunk):
        with self.order.lock:
            self.buffer += chunk
            while True:
                message = self._next_message()
                if message is None:
                    return
                self._write(message)

    def _next_message(self):
        header = 4 if self.expect_startup else 5
        if len(self.buffer) < header:
            return None
        (length,) = struct.unpack_from("!I", self.buffer, header - 4)
        if length < 4:
            raise ValueError(f"invalid length {length}; is the session encrypted?")
        size = length + header - 4
        if len(self.buffer) < size:
            return None
        self.expect_startup = False
        message = bytes(self.buffer[:size])
        del self.buffer[:size]
        return message

    def _write(self, message):
        is_copy_data = message[0] == COPY_DATA and len(message) >= 5
        if is_copy_data and self.max_copy_data is not None:
            payload = len(message) - 5
            if self.copy_data_written + payload > self.max_copy_data:
                self.skipped_messages += 1
                self.skipped_bytes += payload
                return
            self.copy_data_written += payload
        if not is_copy_data:
            self._note_skipped()
        self.out.write(message.hex() + "\n")
        self.order.letters.append(self.letter)

    def _note_skipped(self):
        if self.skipped_messages:
            self.out.write(f"# {self.skipped_messages} CopyData messages ({self.skipped_bytes} bytes) "
                           "relayed but not recorded (--max-copy-data)\n")
            self.skipped_messages = 0
            self.skipped_bytes = 0

    def close(self):
        self._note_skipped()
        if self.buffer:
            self.out.write(f"# {len(self.buffer)} bytes of an incomplete message at end of stream\n")
            self.out.write(bytes(self.buffer).hex() + "\n")
        self.out.close()


class Order:
    """The interleaving of both directions' messages, shared by their recorders."""

    def __init__(self):
        self.lock = threading.Lock()
        self.letters = []


def pump(source, destination, recorder):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            recorder.feed(chunk)
            destination.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay(client, server_port, prefix, max_copy_data):
    server = socket.create_connection(("127.0.0.1", server_port))
    order = Order()
    frontend = Recorder(prefix + ".frontend.hex", True, max_copy_data, order, "F")
    backend = Recorder(prefix + ".backend.hex", False, max_copy_data, order, "B")
    threads = [
        threading.Thread(target=pump, args=(client, server, frontend)),
        threading.Thread(target=pump, args=(server, client, backend)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    frontend.close()
    backend.close()
    with open(prefix + ".order", "w", encoding="ascii") as out:
        out.write("".join(order.letters) + "\n")
    client.close()
    server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--server-port", type=int, required=True)
    parser.add_argument("--prefix", required=True, help="output path prefix, e.g. tests/data/wire/psql_copy")
    parser.add_argument("--connections", type=int, default=1, help="exit after this many connections")
    parser.add_argument("--max-copy-data", type=int, default=None, help="CopyData payload bytes to keep per direction")
    args = parser.parse_args()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen_port))
    listener.listen()
    print(f"recording 127.0.0.1:{args.listen_port} -> 127.0.0.1:{args.server_port}", flush=True)
    sessions = []
    for number in range(1, args.connections + 1):
        client, _ = listener.accept()
        prefix = args.prefix if number == 1 else f"{args.prefix}.{number}"
        session = threading.Thread(target=relay, args=(client, args.server_port, prefix, args.max_copy_data))
        session.start()
        sessions.append(session)
    listener.close()
    for session in sessions:
        session.join()


if __name__ == "__main__":
    main()
