--
-- CLINIC BASICS: tables, inserts, ordered reads, aggregates and the errors a client makes.
-- Written for pgdual's read ramp test (read_ramp_regress_test.cpp), in the style of
-- PostgreSQL's src/test/regress scripts: run with psql -X -a -q, output compared.
--
SELECT 1 AS one;
SELECT 'ward' || ' ' || 7 AS ward, 2 + 3 * 4 AS fourteen, 7 / 2 AS three, 7 % 3 AS one;

CREATE TABLE wards (
    id      int PRIMARY KEY,
    name    text NOT NULL UNIQUE,
    floor   int NOT NULL CHECK (floor BETWEEN 0 AND 9),
    beds    int NOT NULL DEFAULT 10
);

CREATE TABLE patients (
    id        int PRIMARY KEY,
    name      text NOT NULL,
    born      date NOT NULL,
    ward_id   int REFERENCES wards (id),
    weight_kg numeric(5,1),
    notes     text
);

INSERT INTO wards VALUES (1, 'cardiology', 2, 24), (2, 'oncology', 3, 18), (3, 'pediatrics', 1, 30);
INSERT INTO wards (id, name, floor) VALUES (4, 'geriatrics', 4);
SELECT * FROM wards ORDER BY id;

INSERT INTO patients VALUES
    (1, 'Ada Byron', '1915-12-10', 1, 61.5, NULL),
    (2, 'Alan Turing', '1912-06-23', 1, 70.2, 'runner'),
    (3, 'Grace Hopper', '1906-12-09', 2, 55.0, NULL),
    (4, 'Edsger Dijkstra', '1930-05-11', 3, 80.4, 'prefers goto-free care'),
    (5, 'Barbara Liskov', '1939-11-07', 3, 58.3, NULL),
    (6, 'Donald Knuth', '1938-01-10', NULL, 77.7, 'organ recital on Fridays');

SELECT id, name, born FROM patients ORDER BY born;
SELECT name FROM patients WHERE ward_id = 3 ORDER BY name;
SELECT name FROM patients WHERE ward_id IS NULL;
SELECT count(*), min(born), max(born) FROM patients;
SELECT ward_id, count(*) AS n, round(avg(weight_kg), 2) AS avg_kg
  FROM patients GROUP BY ward_id ORDER BY ward_id NULLS LAST;
SELECT w.name, count(p.id) AS patients
  FROM wards w LEFT JOIN patients p ON p.ward_id = w.id
  GROUP BY w.name HAVING count(p.id) < 2 ORDER BY w.name;
SELECT name, extract(year FROM born) AS year FROM patients WHERE name LIKE '%a%' ORDER BY 2, 1;
SELECT upper(name), length(name), position(' ' IN name) FROM patients ORDER BY id LIMIT 3 OFFSET 1;
TABLE wards;
VALUES (1, 'one'), (2, 'two') ORDER BY 1 DESC;

-- deliberate errors: the client's doing, on any server
SELECT * FROM no_such_table;
SELECT no_such_column FROM patients;
SELECT 1 / 0;
SELECT 'forty-two'::int;
SELECT '2023-02-30'::date;
SELECT 10::numeric(2,1) * 100;
SELEC name FROM patients;
SELECT name FROM patients WHERE;
SELECT count(*) FROM patients GROUP BY;
SELECT name FROM patients ORDER BY no_such_column;
SELECT sqrt(-1.0);
SELECT 2147483647 + 1;
SELECT repeat('x', 3)::varchar(2);
INSERT INTO wards VALUES (1, 'duplicate id', 1, 1);
INSERT INTO wards VALUES (5, 'cardiology', 1, 1);
INSERT INTO wards VALUES (5, 'roof', 12, 1);
INSERT INTO patients (id, name, born) VALUES (7, NULL, '2000-01-01');
INSERT INTO patients (id, name, born, ward_id) VALUES (7, 'Nobody', '2000-01-01', 99);
DELETE FROM wards WHERE id = 1;
UPDATE patients SET weight_kg = 12345.6 WHERE id = 1;
SELECT * FROM wards ORDER BY id;

-- updates and deletes, then the rows again
UPDATE patients SET notes = 'moved' , ward_id = 4 WHERE id IN (5, 6) RETURNING id, name, ward_id;
DELETE FROM patients WHERE id = 4 RETURNING name;
SELECT id, name, ward_id, notes FROM patients ORDER BY id;
SELECT coalesce(notes, '(none)') AS notes, count(*) FROM patients GROUP BY 1 ORDER BY 1;

-- psql variables
\set ward 3
\set who 'Grace Hopper'
SELECT name FROM patients WHERE ward_id = :ward ORDER BY name;
SELECT id, born FROM patients WHERE name = :'who';
SELECT :ward * 10 AS beds_goal;
SELECT count(*) AS patients FROM patients \gset
\echo there are :patients patients
SELECT name FROM patients WHERE id <= :patients - 3 ORDER BY id;

-- COPY out, as text and CSV
COPY wards TO STDOUT;
COPY (SELECT id, name, weight_kg FROM patients ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER);
COPY (SELECT name FROM patients WHERE notes IS NOT NULL ORDER BY 1) TO STDOUT;

-- CTEs and window functions
WITH heavy AS (SELECT * FROM patients WHERE weight_kg > 60)
SELECT name, weight_kg FROM heavy ORDER BY weight_kg DESC;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
SELECT sum(i), count(*) FROM n;
SELECT name, ward_id,
       rank() OVER (PARTITION BY ward_id ORDER BY weight_kg DESC) AS rank_in_ward,
       sum(weight_kg) OVER (ORDER BY id) AS running_kg
  FROM patients ORDER BY id;
SELECT id, lag(name) OVER w AS previous, lead(name) OVER w AS next
  FROM patients WINDOW w AS (ORDER BY id) ORDER BY id;
SELECT ward_id, string_agg(name, ', ' ORDER BY name) FROM patients GROUP BY ward_id ORDER BY 1;

-- many small reads, one statement each, as an application sends them
SELECT format('SELECT %s AS ward, count(*) FROM patients WHERE ward_id = %s', g % 5, g % 5)
  FROM generate_series(1, 250) AS g \gexec
SELECT format('SELECT name FROM wards WHERE id = %s', g % 6) FROM generate_series(1, 100) AS g \gexec
