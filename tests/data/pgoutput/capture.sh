#!/usr/bin/env bash
# Captures pgoutput's logical replication messages from a throwaway
# PostgreSQL 15, one hex line per message, into this folder (README.md says
# what each file holds). Run as root (the server runs as the `postgres` OS
# user) or as an ordinary user. Needs initdb, pg_ctl, psql and pg_recvlogical
# (`pg_config --bindir`) and python3.
#
# Usage: capture.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pgbin=${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
relay_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
  as_server_user "$pgbin/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap stop EXIT
[[ $(id -u) -eq 0 ]] && chown postgres: "$tmp"

as_server_user "$pgbin/initdb" -D "$tmp/data" -A trust -U postgres >/dev/null
# Streaming starts once a transaction's changes pass logical_decoding_work_mem
# (64kB is its minimum); two-phase decoding needs prepared transactions.
as_server_user "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/log" -w start -o "-p $port -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories=$tmp -c wal_level=logical -c max_prepared_transactions=4 \
  -c logical_decoding_work_mem=64kB -c max_replication_slots=4 -c max_wal_senders=4" >/dev/null

conninfo="host=127.0.0.1 port=$port user=postgres dbname=postgres"
psql() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 "$conninfo" "$@"; }
value() { psql -A -t -c "$1"; }

# Tables first, the slots after: every table's Relation message then comes
# with its first change, and DDL (not decoded) stays out of the stream.
psql >/dev/null <<'SQL'
CREATE PUBLICATION p FOR ALL TABLES;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);
CREATE TABLE parent (id integer PRIMARY KEY, note text);
CREATE TABLE child (id serial PRIMARY KEY, parent_id integer REFERENCES parent ON UPDATE CASCADE, note text);
CREATE TABLE kinds (id serial PRIMARY KEY, m mood, d positive, c pair, r int4range, b bytea, j jsonb,
                    a integer[], t text, n numeric(10, 2), v varchar(20), big text);
-- Stored out of line uncompressed, so an UPDATE that leaves it alone sends 'u'.
ALTER TABLE kinds ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE full_row (k integer, v text);
ALTER TABLE full_row REPLICA IDENTITY FULL;
CREATE TABLE by_index (a integer NOT NULL, b integer NOT NULL, v text);
CREATE UNIQUE INDEX by_index_ab ON by_index (a, b);
ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_ab;
-- Narrow rows for the large transactions: what streams them is the
-- reorder buffer's per-change overhead, not the row size.
CREATE TABLE bulk (n integer);
CREATE TABLE "Mixed Case" ("Key" integer PRIMARY KEY, "a b" text);
SELECT pg_replication_origin_create('upstream');
-- 's' decodes two-phase transactions at PREPARE (protocol 3's messages,
-- whatever proto_version asks for); 'plain' decodes them at COMMIT PREPARED
-- as ordinary transactions; 'w' is read over a replication connection.
SELECT pg_create_logical_replication_slot('s', 'pgoutput', false, true);
SELECT pg_create_logical_replication_slot('plain', 'pgoutput');
SELECT pg_create_logical_replication_slot('w', 'pgoutput');
SQL

psql >/dev/null <<'SQL'
INSERT INTO parent VALUES (1, 'one'), (2, 'two');
INSERT INTO child (parent_id, note) VALUES (1, 'first'), (2, NULL);
INSERT INTO kinds (m, d, c, r, b, j, a, t, n, v, big)
  VALUES ('happy', 7, ROW(1, 'x y'), '[1,5)', '\xdeadbeef', '{"k": [1, 2], "s": "é"}', '{1,NULL,3}', NULL, 3.14,
          'short', repeat('0123456789', 1000));
UPDATE kinds SET t = 'changed' WHERE id = 1;
UPDATE parent SET note = 'uno' WHERE id = 1;
UPDATE parent SET id = 3 WHERE id = 2;
INSERT INTO full_row VALUES (1, 'a'), (2, NULL);
UPDATE full_row SET v = 'b' WHERE k = 1;
DELETE FROM full_row WHERE k = 2;
INSERT INTO by_index VALUES (1, 1, 'x');
UPDATE by_index SET v = 'y';
UPDATE by_index SET b = 2;
DELETE FROM by_index;
INSERT INTO "Mixed Case" VALUES (1, 'tab	and ''quote''');
DELETE FROM child WHERE parent_id = 1;
SELECT pg_logical_emit_message(true, 'pgdual', 'x');
SELECT pg_logical_emit_message(false, 'pgdual', 'not in a transaction');
BEGIN;
SELECT pg_logical_emit_message(true, 'pgdual', 'ddl: ALTER TABLE parent ADD COLUMN extra integer');
ALTER TABLE parent ADD COLUMN extra integer;
INSERT INTO parent VALUES (4, 'four', 40);
COMMIT;
BEGIN;
INSERT INTO parent VALUES (5, 'five', 50);
PREPARE TRANSACTION 'pgdual-2pc-commit';
COMMIT PREPARED 'pgdual-2pc-commit';
BEGIN;
INSERT INTO parent VALUES (6, 'six', 60);
PREPARE TRANSACTION 'pgdual-2pc-rollback';
ROLLBACK PREPARED 'pgdual-2pc-rollback';
TRUNCATE parent, child RESTART IDENTITY CASCADE;
SELECT pg_replication_origin_session_setup('upstream');
BEGIN;
SELECT pg_replication_origin_xact_setup('1/2345678', '2024-01-02 03:04:05+00');
INSERT INTO parent VALUES (7, 'from upstream', NULL);
COMMIT;
SELECT pg_replication_origin_session_reset();
SQL
before_large=$(value "SELECT pg_current_wal_lsn()")

# The same changes over a replication connection, recorded by the wire
# relay: XLogData, keepalives and pg_recvlogical's status updates. Read
# before the large transactions exist, so that a keepalive past --endpos
# ends it.
python3 "$here/../wire/record_session.py" --listen-port "$relay_port" --server-port "$port" \
  --prefix "$tmp/walsender" &
relay=$!
sleep 0.5
"$pgbin/pg_recvlogical" -d "host=127.0.0.1 port=$relay_port user=postgres dbname=postgres sslmode=disable gssencmode=disable" \
  --slot w --start --endpos "$before_large" -o proto_version=1 -o publication_names=p -o messages=true \
  --status-interval 1 -f /dev/null
wait "$relay"
python3 - "$tmp/walsender" "$here/replication.hex" <<'PY'
import sys
prefix, out = sys.argv[1], sys.argv[2]
lines = ["# CopyData payloads of a pg_recvlogical session (proto_version 1, messages), in the order the relay saw them:",
         "# 'w' XLogData and 'k' keepalives from the server, 'r' standby status updates from pg_recvlogical"]
def frames(path):
    return [bytes.fromhex(l) for l in open(path).read().splitlines() if l and not l.startswith("#")]
backend = frames(prefix + ".backend.hex")
frontend = frames(prefix + ".frontend.hex")  # the startup packet first: no tag, never 'd' 
order = open(prefix + ".order").read().strip()
b = f = 0
for letter in order:
    if letter == "B":
        message, b = backend[b], b + 1
    else:
        message, f = frontend[f], f + 1
    if message[:1] == b"d":
        lines.append(message[5:].hex())
open(out, "w").write("\n".join(lines) + "\n")
PY

# Transactions larger than logical_decoding_work_mem: streamed when the
# reader asks for streaming. One commits, one aborts a streamed
# subtransaction and then itself, one is prepared.
psql >/dev/null <<'SQL'
BEGIN;
INSERT INTO bulk SELECT generate_series(1, 700);
SAVEPOINT sub;
INSERT INTO bulk SELECT generate_series(1, 700);
ROLLBACK TO SAVEPOINT sub;
INSERT INTO parent VALUES (8, 'after the savepoint', NULL);
COMMIT;
BEGIN;
INSERT INTO bulk SELECT generate_series(1, 700);
ROLLBACK;
BEGIN;
INSERT INTO bulk SELECT generate_series(1, 700);
PREPARE TRANSACTION 'pgdual-2pc-streamed';
COMMIT PREPARED 'pgdual-2pc-streamed';
SQL
end_lsn=$(value "SELECT pg_current_wal_lsn()")

# peek FILE COMMENT SLOT UPTO_LSN OPTIONS...: one line per message; the
# decoder's own comments name the options.
peek() {
  local file=$1 comment=$2 slot=$3 upto=$4
  shift 4
  local options
  options=$(printf ", '%s'" "$@")
  {
    echo "# $comment"
    echo "# pg_logical_slot_peek_binary_changes('$slot', '$upto', NULL${options})"
    value "SELECT encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('$slot', '$upto', NULL${options})"
  } >"$here/$file"
}

peek v1.hex "protocol 1, text columns, messages; the transactions before the large ones" plain "$before_large" \
  proto_version 1 publication_names p messages true
peek v1_binary.hex "protocol 1, binary columns, messages; the transactions before the large ones" plain "$before_large" \
  proto_version 1 publication_names p messages true binary true
peek v3_streaming_two_phase.hex "protocol 3, text columns, messages, streaming, two_phase; everything" s "$end_lsn" \
  proto_version 3 publication_names p messages true streaming true two_phase true

wc -l "$here"/*.hex
