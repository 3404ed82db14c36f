-- A psql session run once directly against PostgreSQL and once through pgdual.
-- Its stdout and stderr must be identical, so nothing here may print something that
-- differs between two connections (backend PIDs, OIDs, database names, times).

CREATE TABLE patients (id integer PRIMARY KEY, name text NOT NULL, born date, weight_kg numeric(5,1));
CREATE TABLE IF NOT EXISTS patients (id integer);
DROP TABLE IF EXISTS no_such_table;

COPY patients (id, name, born, weight_kg) FROM STDIN;
1	Ada	1815-12-10	55.5
2	Grace	1906-12-09	\N
3	Zoë	1930-05-11	70.0
\.
SELECT * FROM patients ORDER BY id;

-- Errors do not stop the session (ON_ERROR_STOP is off).
SELEC 1;
SELECT 1 / 0;
SELECT * FROM no_such_table;
INSERT INTO patients VALUES (1, 'duplicate', NULL, NULL);
INSERT INTO patients (id) VALUES (9);

-- A transaction that fails halfway and is rolled back.
BEGIN;
INSERT INTO patients VALUES (4, 'Barbara', '1939-11-07', 61.2);
SELECT count(*) AS inside_transaction FROM patients;
SELECT no_such_column FROM patients;
SELECT 'ignored until the end of the transaction';
ROLLBACK;
SELECT count(*) AS after_rollback FROM patients;

-- A committed transaction with a savepoint.
BEGIN;
UPDATE patients SET name = upper(name) WHERE id = 2;
SAVEPOINT before_delete;
DELETE FROM patients;
ROLLBACK TO SAVEPOINT before_delete;
COMMIT;
SELECT id, name FROM patients ORDER BY id;

DO $$
BEGIN
  RAISE NOTICE 'patients: %', (SELECT count(*) FROM patients);
  RAISE WARNING 'a warning with a hint' USING HINT = 'hints travel in the NoticeResponse too';
END
$$;
DO $$ BEGIN RAISE EXCEPTION 'raised on purpose' USING ERRCODE = 'P0001', DETAIL = 'with detail'; END $$;

SELECT max(id) AS max_id, min(name) AS first_name FROM patients \gset
\echo max_id is :max_id and first_name is :first_name
SELECT :max_id + 1 AS next_id, :'first_name' AS quoted;

COPY (SELECT id, name, born FROM patients ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER);
COPY patients (id, name, born) FROM STDIN;
5	Bad date	not-a-date
6	Never	2000-01-01
\.
SELECT count(*) AS after_failed_copy FROM patients;

SELECT E'tab\there' AS escaped, NULL AS nothing, 1.5::numeric * 2 AS number, '{1,2,3}'::int[] AS array,
       true AS flag, '2024-02-29'::date + 1 AS next_day, repeat('x', 3000) = repeat('x', 3000) AS long_text;
SELECT generate_series(1, 5) AS n \g
\pset format unaligned
SELECT id, name FROM patients ORDER BY id;
SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 5000) AS g;
\pset format aligned
PREPARE by_id (integer) AS SELECT name FROM patients WHERE id = $1;
EXECUTE by_id(3);
DEALLOCATE by_id;
SET application_name = 'psql_session';
SHOW application_name;
SELECT current_setting('TimeZone'), current_setting('DateStyle');
