#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora from the captured sessions in tests/data/wire,
and pin_times's from the SQL texts below.

Usage: make_corpus.py WIRE_DIR OUT_DIR [PGOUTPUT_DIR]

OUT_DIR gets one directory per fuzz target, each file one seed named by its
SHA-1 (so a message seen in several sessions is written once):

  startup/           the StartupMessage that opens each *.frontend.hex, plus
                     SSLRequest, GSSENCRequest and CancelRequest, which no
                     capture contains (sessions were recorded without TLS)
  backend_message/   tag byte + body of every message in *.backend.hex
  frontend_message/  tag byte + body of every tagged message in *.frontend.hex
  frame/             a split-seed byte + runs of consecutive tagged messages
  pin_times/         PIN_TIMES_SEEDS: clock calls in the places pin_times
                     pins, leaves alone or rejects (no capture calls the clock)
  pgoutput/          from PGOUTPUT_DIR's *.hex, a selector byte + message
                     (pgoutput_fuzz.cpp): the logical replication messages
                     with bit 0 set inside streamed transactions, and the
                     CopyData payloads of replication.hex with bit 1

Seeds stay under MAX_SEED bytes: libFuzzer sizes its inputs after the largest
seed, and long CopyData runs would only slow it down. For the same reason each
tag keeps at most MAX_PER_TAG seeds: pgbench_init alone holds thousands of
CopyData rows that all exercise the same code.
"""

import hashlib
import pathlib
import struct
import sys

MAX_SEED = 4096
MAX_PER_TAG = 32

EXTRA_STARTUP_PACKETS = [
    struct.pack(">ii", 8, 80877103),  # SSLRequest: 1234 << 16 | 5679
    struct.pack(">ii", 8, 80877104),  # GSSENCRequest: 1234 << 16 | 5680
    struct.pack(">iiii", 16, 80877102, 13997, 0x3C1A2B4D),  # CancelRequest: 1234 << 16 | 5678
]

PIN_TIMES_SEEDS = [
    "SELECT now()",
    "SELECT CURRENT_TIMESTAMP(3), LOCALTIME, LOCALTIMESTAMP(2), CURRENT_DATE, CURRENT_TIME(0) AS t",
    # pgbench's tpcb-like script, in simple and in extended query mode
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 52341, -2811, CURRENT_TIMESTAMP);",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
    "UPDATE t SET touched = now() /* now( ) */ WHERE id = 1 RETURNING statement_timestamp(), 'now()'",
    "DELETE FROM t WHERE created < now( /* ) */ ) - interval '1 day' RETURNING transaction_timestamp()",
    "BEGIN; INSERT INTO t VALUES (pg_catalog.now());\nUPDATE t SET at = LOCALTIMESTAMP; COMMIT;",
    "-- now() in a comment\nSELECT clock_timestamp(), timeofday(), 'now'::timestamptz, s.now(), \"now\"()",
    "WITH x AS (SELECT now()) SELECT now, $$now()$$, E'\\'now()' FROM x, (SELECT CURRENT_DATE) AS d",
    "CREATE TABLE t (id int, at timestamptz DEFAULT now() CHECK (at <= now() + interval '1 h'))",
    "CREATE TABLE p_next PARTITION OF p FOR VALUES FROM (CURRENT_DATE) TO (CURRENT_DATE + 30)",
    "SELECT * FROM now()",
    "EXPLAIN SELECT now(); EXPLAIN ANALYZE INSERT INTO t VALUES (now())",
    "PREPARE p AS INSERT INTO t VALUES (now()); EXECUTE p; SELECT count(*) FILTER (WHERE at > now()) FROM t",
    "INSERT INTO t SELECT g, now() + g * interval '1 s' FROM generate_series(1, 3) g "
    "ON CONFLICT (id) DO UPDATE SET at = excluded.at + (now() - CURRENT_TIMESTAMP)",
]


def read_messages(path):
    """The messages of one .hex file: one per line, '#' lines are comments."""
    messages = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            messages.append(bytes.fromhex(line))
    return messages


def tag_and_body(message):
    """A tagged message without its length field: the message fuzzers' input."""
    return message[:1] + message[5:]


def few_per_tag(messages):
    """The first MAX_PER_TAG distinct messages of each tag."""
    return few_per_tag_of(messages, lambda message: message[:1])


def frame_runs(messages):
    """Consecutive messages joined into streams of at most MAX_SEED bytes."""
    run = b""
    for message in messages:
        if run and len(run) + len(message) > MAX_SEED:
            yield run
            run = b""
        if len(message) < MAX_SEED:
            run += message
    if run:
        yield run


def pgoutput_seeds(pgoutput_dir):
    """Selector byte + message for pgoutput_fuzz, MAX_PER_TAG per type and selector."""
    seeds = []
    for path in sorted(pgoutput_dir.glob("*.hex")):
        in_stream = False
        for message in read_messages(path):
            if path.name == "replication.hex":
                seeds.append(bytes([2]) + message)
                continue
            if message[:1] == b"E":
                in_stream = False
            seeds.append(bytes([1 if in_stream else 0]) + message)
            if message[:1] == b"S":
                in_stream = True
    return few_per_tag_of(seeds, lambda seed: seed[:2])


def few_per_tag_of(seeds, key):
    """The first MAX_PER_TAG distinct seeds of each key."""
    kept, per_key = {}, {}
    for seed in seeds:
        if seed not in kept and per_key.get(key(seed), 0) < MAX_PER_TAG:
            kept[seed] = None
            per_key[key(seed)] = per_key.get(key(seed), 0) + 1
    return list(kept)


def write_seeds(directory, seeds):
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        if 0 < len(seed) <= MAX_SEED:
            (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    wire_dir, out_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    startup, backend, frontend, frames = list(EXTRA_STARTUP_PACKETS), [], [], []
    for path in sorted(wire_dir.glob("*.hex")):
        messages = read_messages(path)
        if path.name.endswith(".frontend.hex"):
            startup.append(messages[0])
            messages = messages[1:]
            frontend += [tag_and_body(m) for m in messages]
        else:
            backend += [tag_and_body(m) for m in messages]
        # The split seed varies per run so the seeds start from different splits.
        frames += [bytes([i % 256]) + run for i, run in enumerate(frame_runs(messages))]
    if not startup or not backend or not frontend:
        sys.exit(f"no captured sessions in {wire_dir}")
    write_seeds(out_dir / "startup", startup)
    write_seeds(out_dir / "backend_message", few_per_tag(backend))
    write_seeds(out_dir / "frontend_message", few_per_tag(frontend))
    write_seeds(out_dir / "frame", frames)
    write_seeds(out_dir / "pin_times", [text.encode() for text in PIN_TIMES_SEEDS])
    if len(sys.argv) == 4:
        seeds = pgoutput_seeds(pathlib.Path(sys.argv[3]))
        if not seeds:
            sys.exit(f"no captured pgoutput messages in {sys.argv[3]}")
        write_seeds(out_dir / "pgoutput", seeds)


if __name__ == "__main__":
    main()
