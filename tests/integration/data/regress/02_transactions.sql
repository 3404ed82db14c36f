--
-- TRANSACTIONS: commits, rollbacks, savepoints, read-only blocks, prepared statements and
-- cursors, with errors inside them.
--
SELECT 'transactions' AS script;
CREATE TEMP TABLE shift (nurse text, ward int);
INSERT INTO shift VALUES ('kim', 1), ('lee', 2), ('ola', 1);
SELECT nurse, ward FROM shift ORDER BY nurse;
SELECT count(*) FROM shift WHERE ward = 2;
SELECT ward, count(*) FROM shift GROUP BY ward ORDER BY ward;

CREATE TABLE visits (
    id        int PRIMARY KEY,
    patient   text NOT NULL,
    day       date NOT NULL,
    minutes   int CHECK (minutes > 0),
    billed    numeric(8,2) DEFAULT 0
);
INSERT INTO visits VALUES
    (1, 'ada', '2024-01-02', 15, 40.00),
    (2, 'alan', '2024-01-02', 30, 80.00),
    (3, 'grace', '2024-01-03', 45, 120.00),
    (4, 'ada', '2024-01-04', 20, 55.50);

BEGIN;
INSERT INTO visits VALUES (5, 'edsger', '2024-01-05', 60, 150.00);
SELECT count(*) FROM visits;
COMMIT;
SELECT id, patient FROM visits ORDER BY id;

BEGIN;
DELETE FROM visits;
SELECT count(*) FROM visits;
ROLLBACK;
SELECT count(*) FROM visits;

-- an error aborts the transaction until its end
BEGIN;
UPDATE visits SET billed = billed * 2 WHERE patient = 'ada';
SELECT 1 / 0;
SELECT count(*) FROM visits;
COMMIT;
SELECT patient, billed FROM visits WHERE patient = 'ada' ORDER BY id;

-- savepoints
BEGIN;
INSERT INTO visits VALUES (6, 'barbara', '2024-01-06', 25, 60.00);
SAVEPOINT s1;
INSERT INTO visits VALUES (6, 'barbara again', '2024-01-06', 25, 60.00);
ROLLBACK TO SAVEPOINT s1;
INSERT INTO visits VALUES (7, 'donald', '2024-01-07', 90, 300.00);
SAVEPOINT s2;
UPDATE visits SET minutes = -1 WHERE id = 7;
ROLLBACK TO s2;
SAVEPOINT s3;
UPDATE visits SET minutes = 95 WHERE id = 7;
RELEASE SAVEPOINT s3;
SELECT id, patient, minutes FROM visits WHERE id >= 6 ORDER BY id;
COMMIT;
SELECT id, patient, minutes FROM visits ORDER BY id;
ROLLBACK TO SAVEPOINT nowhere;
RELEASE SAVEPOINT nowhere;
COMMIT;

-- read-only transactions: reads only, a write refused
BEGIN READ ONLY;
SELECT count(*), sum(billed) FROM visits;
SELECT patient, sum(minutes) FROM visits GROUP BY patient ORDER BY patient;
SELECT day, count(*) FROM visits GROUP BY day ORDER BY day;
COMMIT;
START TRANSACTION READ ONLY;
SELECT max(day) FROM visits;
INSERT INTO visits VALUES (8, 'nobody', '2024-01-08', 5, 1.00);
SELECT max(day) FROM visits;
ROLLBACK;
BEGIN READ ONLY;
SELECT patient FROM visits WHERE minutes > 40 ORDER BY patient;
SELECT no_such_column FROM visits;
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT count(*) FROM visits;
SELECT min(id), max(id) FROM visits;
COMMIT;
BEGIN TRANSACTION READ ONLY;
SELECT 'a' || 'b' AS ab;
SELECT * FROM visits WHERE id = 3;
END;
SELECT count(*) FROM visits;
SELECT nurse FROM shift WHERE ward = 1 ORDER BY nurse;
SELECT count(*) FROM shift;

-- prepared statements
PREPARE by_patient (text) AS SELECT id, day, minutes FROM visits WHERE patient = $1 ORDER BY id;
EXECUTE by_patient('ada');
EXECUTE by_patient('grace');
EXECUTE by_patient('nobody');
EXECUTE by_patient(42);
EXECUTE by_patient;
EXECUTE no_such_statement('ada');
PREPARE bill (int, numeric) AS UPDATE visits SET billed = $2 WHERE id = $1 RETURNING id, billed;
EXECUTE bill(3, 99.99);
EXECUTE bill(3, 'lots');
PREPARE total AS SELECT sum(billed) FROM visits;
EXECUTE total;
DEALLOCATE bill;
EXECUTE bill(3, 1);
BEGIN READ ONLY;
EXECUTE by_patient('alan');
EXECUTE total;
COMMIT;
DEALLOCATE ALL;
EXECUTE total;

-- cursors
BEGIN;
DECLARE c CURSOR FOR SELECT id, patient FROM visits ORDER BY id;
FETCH 2 FROM c;
FETCH NEXT FROM c;
MOVE FORWARD 1 IN c;
FETCH ALL FROM c;
FETCH PRIOR FROM c;
CLOSE c;
FETCH 1 FROM c;
ROLLBACK;
BEGIN READ ONLY;
DECLARE s SCROLL CURSOR FOR SELECT day, count(*) FROM visits GROUP BY day ORDER BY day;
FETCH LAST FROM s;
FETCH ABSOLUTE 1 FROM s;
FETCH RELATIVE 2 FROM s;
COMMIT;
DECLARE outside CURSOR FOR SELECT 1;

-- several statements in one query string
SELECT 1 AS a\; SELECT 2 AS b\; SELECT 3 AS c;
SELECT count(*) FROM visits\; SELECT 1 / 0\; SELECT 'not reached';
BEGIN\; INSERT INTO visits VALUES (9, 'zed', '2024-01-09', 10, 10.00)\; COMMIT;
SELECT id, patient FROM visits WHERE id > 6 ORDER BY id;

-- many read-only transactions
SELECT format('BEGIN READ ONLY; SELECT count(*) AS n%s FROM visits WHERE id <= %s; COMMIT', g, g % 10)
  FROM generate_series(1, 60) AS g \gexec
SELECT format('SELECT patient, minutes FROM visits WHERE id = %s', g % 11) FROM generate_series(1, 200) AS g \gexec
