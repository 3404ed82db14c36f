'use strict';
// node `pg` client suite for pgdual.
//
// Run once against PostgreSQL and once through pgdual: the two stdout transcripts must be identical,
// so nothing printed here may depend on pids, OIDs, timestamps or timings. Connection parameters come
// from PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE, which `pg` reads itself. Any unexpected
// outcome exits with status 1.

const crypto = require('node:crypto');
const pg = require('pg');

const TABLES = ['node_items', 'node_pool'];
const NOTIFY_WAIT_MS = 10000;
const connectionConfig = { ssl: false, application_name: 'pgdual_node_suite' };

function out(line) {
  process.stdout.write(`${line}\n`);
}

function section(title) {
  out(`== ${title}`);
}

function check(condition, what) {
  if (!condition) {
    throw new Error(`check failed: ${what}`);
  }
}

// Runs action, which must fail with expectedCode; prints what a client would log about it.
async function expectError(action, expectedCode) {
  try {
    await action();
  } catch (err) {
    if (err.code !== expectedCode) {
      throw err;
    }
    out(`  error code=${err.code} severity=${err.severity}`);
    out(`    message: ${err.message}`);
    for (const field of ['detail', 'hint', 'position', 'table', 'constraint']) {
      if (err[field] !== undefined) {
        out(`    ${field}: ${err[field]}`);
      }
    }
    return;
  }
  throw new Error(`expected SQLSTATE ${expectedCode}, got success`);
}

function digestRows(rows) {
  const hash = crypto.createHash('sha256');
  let sum = 0;
  for (const [g, text] of rows) {
    sum += g;
    hash.update(`${g}:${text}\n`);
  }
  return `count=${rows.length} sum=${sum} sha256=${hash.digest('hex').slice(0, 16)}`;
}

async function resetSchema(client) {
  section('reset');
  for (const table of TABLES) {
    await client.query(`DROP TABLE IF EXISTS ${table} CASCADE`);
  }
  await client.query('CREATE TABLE node_items (id int PRIMARY KEY, name text NOT NULL, qty int, data bytea)');
  await client.query('CREATE TABLE node_pool (n int PRIMARY KEY, square bigint NOT NULL)');
  out('  tables created');
}

async function sessionInfo(client) {
  section('session');
  const { rows } = await client.query(
    "SELECT current_setting('server_version_num')::int / 10000 AS major, current_user = $1 AS user_matches,"
    + " current_setting('application_name') AS app", [process.env.PGUSER]);
  out(`  ${JSON.stringify(rows[0])}`);
}

async function parameterized(client) {
  section('parameterized queries');
  const typed = await client.query(
    'SELECT $1::int + $2::int AS sum, $3::text AS label, $4::text IS NULL AS is_null, $5::bytea AS data,'
    + ' $6::int[] AS arr, $7::jsonb AS doc, $8::numeric * 2 AS num, $9::bigint + 1 AS big, $10::timestamptz AS ts',
    [40, 2, 'ünïcödé', null, Buffer.from([0, 1, 254, 255]), [1, null, 3], { k: ['v', null] }, '12.345',
      '9007199254740993', '2021-06-01T12:30:45.123Z']);
  const row = typed.rows[0];
  out(`  sum=${row.sum} label=${row.label} is_null=${row.is_null} data=${row.data.toString('hex')}`);
  out(`  arr=${JSON.stringify(row.arr)} doc=${JSON.stringify(row.doc)} num=${row.num} big=${row.big}`
    + ` ts=${row.ts.toISOString()}`);
  out(`  fields: ${typed.fields.map((f) => f.name).join(',')} command=${typed.command} rowCount=${typed.rowCount}`);
  const insert = 'INSERT INTO node_items (id, name, qty, data) VALUES ($1, $2, $3, $4)';
  for (let id = 1; id <= 5; id += 1) {
    await client.query(insert, [id, `item-${id}`, id * 10, id % 2 === 0 ? null : Buffer.from(`blob-${id}`)]);
  }
  const multi = await client.query('SELECT count(*)::int AS n FROM node_items; SELECT 2 AS two');
  out(`  multi-statement: ${multi.map((r) => JSON.stringify(r.rows)).join(' ')}`);
  const arrays = await client.query({ text: 'SELECT id, name, data FROM node_items ORDER BY id', rowMode: 'array' });
  for (const [id, name, data] of arrays.rows) {
    out(`  row ${id} ${name} ${data === null ? 'NULL' : data.toString()}`);
  }
}

async function namedStatement(client) {
  section('named prepared statement');
  for (let i = 1; i <= 10; i += 1) {
    const result = await client.query({
      name: 'node_fetch_item',
      text: 'SELECT id, name, qty FROM node_items WHERE id = $1',
      values: [((i - 1) % 6) + 1],
    });
    out(`  run ${i}: ${JSON.stringify(result.rows)}`);
  }
  const prepared = await client.query(
    "SELECT name, statement FROM pg_prepared_statements WHERE name = 'node_fetch_item'");
  out(`  pg_prepared_statements: ${JSON.stringify(prepared.rows)}`);
}

async function transactions(client) {
  section('transactions');
  await client.query('BEGIN');
  await client.query("INSERT INTO node_items (id, name) VALUES (10, 'rolled back')");
  const inside = await client.query('SELECT count(*)::int AS n FROM node_items WHERE id = 10');
  await client.query('ROLLBACK');
  const after = await client.query('SELECT count(*)::int AS n FROM node_items WHERE id = 10');
  out(`  inside=${inside.rows[0].n} after rollback=${after.rows[0].n}`);
  await client.query('BEGIN');
  await client.query("INSERT INTO node_items (id, name) VALUES (11, 'kept')");
  await client.query('SAVEPOINT sp');
  await client.query("INSERT INTO node_items (id, name) VALUES (12, 'rolled back to savepoint')");
  await client.query('ROLLBACK TO SAVEPOINT sp');
  await client.query('COMMIT');
  const ids = await client.query('SELECT array_agg(id ORDER BY id) AS ids FROM node_items WHERE id >= 10');
  out(`  committed ids: ${JSON.stringify(ids.rows[0].ids)}`);
}

async function errorsAndRecovery(client) {
  section('errors and recovery');
  await expectError(() => client.query("INSERT INTO node_items (id, name) VALUES (1, 'dup')"), '23505');
  await expectError(() => client.query('SELEC 1'), '42601');
  await expectError(() => client.query('SELECT 1 / $1::int', [0]), '22012');
  await expectError(() => client.query({ name: 'node_bad', text: 'SELECT * FROM node_missing' }), '42P01');
  out(`  after errors: ${JSON.stringify((await client.query('SELECT 2 + 2 AS four')).rows)}`);
  await client.query('BEGIN');
  await expectError(() => client.query("INSERT INTO node_items (id, name) VALUES (2, 'dup')"), '23505');
  await expectError(() => client.query('SELECT 1'), '25P02');
  await client.query('ROLLBACK');
  await client.query("INSERT INTO node_items (id, name) VALUES (20, 'after recovery')");
  const recovered = await client.query('SELECT id, name FROM node_items WHERE id = 20');
  out(`  recovered: ${JSON.stringify(recovered.rows)}`);
}

async function noticesAndNotifications(client) {
  section('notices and notifications');
  const notices = [];
  const notifications = [];
  client.on('notice', (msg) => notices.push(`${msg.severity} ${msg.code} ${msg.message}`));
  client.on('notification', (msg) => notifications.push(msg));
  await client.query("DO $$ BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END $$");
  const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  await client.query('LISTEN node_chan');
  await client.query("NOTIFY node_chan, 'self-1'");
  await client.query("SELECT pg_notify('node_chan', 'self-2')");
  const deadline = Date.now() + NOTIFY_WAIT_MS;
  while (notifications.length < 2 && Date.now() < deadline) {
    await new Promise((resolve) => { setTimeout(resolve, 20); });
  }
  await client.query('UNLISTEN *');
  for (const notice of notices) {
    out(`  notice: ${notice}`);
  }
  for (const n of notifications) {
    out(`  notification: channel=${n.channel} payload=${n.payload} from_self=${n.processId === pid}`);
  }
  check(notifications.length === 2, 'both self notifications arrive');
}

async function poolQueries() {
  section('pool');
  const pool = new pg.Pool({ ...connectionConfig, max: 8 });
  try {
    const numbers = Array.from({ length: 50 }, (_, i) => i + 1);
    const results = await Promise.all(numbers.map((n) => pool.query(
      'SELECT $1::int AS n, md5($1::text) AS h, pg_sleep(($1::int % 4) * 0.005) IS NOT NULL AS slept', [n])));
    for (const r of results) {
      out(`  ${r.rows[0].n} ${r.rows[0].h}`);
    }
    await Promise.all(numbers.map((n) => pool.query(
      'INSERT INTO node_pool (n, square) VALUES ($1, $2)', [n, n * n])));
    const summary = await pool.query('SELECT count(*)::int AS n, sum(square)::text AS total FROM node_pool');
    out(`  inserted through pool: ${JSON.stringify(summary.rows[0])}`);
    out(`  pool size within max: ${pool.totalCount >= 1 && pool.totalCount <= 8}`);
  } finally {
    await pool.end();
  }
}

async function largeResult(client) {
  section('large result');
  const query = 'SELECT g, md5(g::text) FROM generate_series(1, 10000) g ORDER BY g';
  const objects = await client.query(query);
  out(`  objects: ${digestRows(objects.rows.map((r) => [r.g, r.md5]))}`);
  const arrays = await client.query({ text: query, rowMode: 'array' });
  out(`  arrays: ${digestRows(arrays.rows)}`);
}

async function main() {
  const client = new pg.Client(connectionConfig);
  await client.connect();
  try {
    await resetSchema(client);
    await sessionInfo(client);
    await parameterized(client);
    await namedStatement(client);
    await transactions(client);
    await errorsAndRecovery(client);
    await noticesAndNotifications(client);
    await poolQueries();
    await largeResult(client);
  } finally {
    await client.end();
  }
  section('done');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
