--
-- TYPES AND PSQL: dates, intervals, arrays, ranges, json, text search, EXPLAIN, and psql's own
-- formatting and variables.
--
SET datestyle = 'ISO, MDY';
SET intervalstyle = 'postgres';
SET extra_float_digits = 0;
SELECT date '2024-02-28' + 1 AS leap_day, date '2023-02-28' + 1 AS march_first;
SELECT timestamp '2024-03-10 01:30' + interval '1 hour' AS later;
SELECT age(timestamp '2024-01-01', timestamp '1990-06-15') AS age;
SELECT date_trunc('month', timestamp '2024-05-17 13:45:00');
SELECT to_char(date '2024-07-04', 'Day DD Month YYYY') AS formatted;
SELECT '2024-13-01'::date;
SELECT interval '1 day' * 'x';

CREATE TABLE readings (
    id       int PRIMARY KEY,
    taken    timestamp NOT NULL,
    values_  int[] NOT NULL,
    span     int4range,
    doc      jsonb
);
INSERT INTO readings VALUES
    (1, '2024-01-01 08:00', '{120,80,72}', '[1,10)', '{"kind": "bp", "ok": true, "tags": ["am"]}'),
    (2, '2024-01-01 20:00', '{135,85,80}', '[5,15)', '{"kind": "bp", "ok": false, "tags": ["pm", "late"]}'),
    (3, '2024-01-02 08:00', '{98}', '[20,30]', '{"kind": "glucose", "ok": true}'),
    (4, '2024-01-02 20:00', '{}', 'empty', '{"kind": "glucose", "ok": true, "note": null}');
INSERT INTO readings VALUES (5, '2024-01-03', '{1,2}', '[3,1)', '{}');
INSERT INTO readings VALUES (5, '2024-01-03', '{1,2}', '[1,3)', '{"kind": }');
SELECT id, values_[1] AS first, array_length(values_, 1) AS n, cardinality(values_) FROM readings ORDER BY id;
SELECT id, unnest(values_) AS v FROM readings WHERE id <= 2 ORDER BY id, v;
SELECT id FROM readings WHERE 80 = ANY (values_) ORDER BY id;
SELECT id, span, lower(span), upper(span), isempty(span) FROM readings ORDER BY id;
SELECT a.id, b.id FROM readings a JOIN readings b ON a.span && b.span AND a.id < b.id ORDER BY 1, 2;
SELECT id, doc->>'kind' AS kind, (doc->>'ok')::boolean AS ok, doc->'tags' AS tags FROM readings ORDER BY id;
SELECT doc->>'kind' AS kind, count(*) FROM readings GROUP BY 1 ORDER BY 1;
SELECT id FROM readings WHERE doc @> '{"ok": true}' ORDER BY id;
SELECT jsonb_pretty(doc) FROM readings WHERE id = 2;
SELECT jsonb_agg(id ORDER BY id) FROM readings;
SELECT '{"a": 1'::jsonb;
SELECT values_[1] / 0 FROM readings WHERE id = 1;
SELECT to_tsvector('english', 'The patients were resting quietly') @@ to_tsquery('english', 'rest & patient') AS found;
SELECT regexp_replace('bp 120/80', '(\d+)/(\d+)', '\2 over \1') AS swapped;
SELECT split_part('a,b,c', ',', 2), translate('12-34', '-', '/'), md5('pgdual');
SELECT round(123.456, 1), trunc(-2.5), 17 / 5.0 AS ratio, 2 ^ 10 AS power, 10 >> 1 AS shifted;
SELECT 1.5::float8 * 2, 'NaN'::float8 > 0, 'Infinity'::float8;

-- settings changed along the way
SET datestyle = 'SQL, DMY';
SELECT taken FROM readings ORDER BY id;
SELECT date '2024-07-04' AS independence, date '2024-07-04' + 30 AS later;
SET bytea_output = 'escape';
SELECT convert_to('héllo', 'UTF8') AS bytes;
SET TIME ZONE 'Asia/Tokyo';
SELECT timestamptz '2024-01-01 00:00:00+00' AS tokyo;
RESET TIME ZONE;
RESET bytea_output;
SET datestyle = 'ISO, MDY';
SELECT taken FROM readings ORDER BY id;

-- EXPLAIN without ANALYZE is a read
EXPLAIN (COSTS OFF) SELECT * FROM readings WHERE id = 3;
EXPLAIN (COSTS OFF) SELECT doc->>'kind', count(*) FROM readings GROUP BY 1;

-- psql output settings
\pset null '(null)'
SELECT id, doc->>'note' AS note FROM readings ORDER BY id;
\pset format unaligned
SELECT id, taken FROM readings ORDER BY id;
\pset format aligned
\x on
SELECT * FROM readings WHERE id = 1;
\x off
\pset null ''
\set ON_ERROR_ROLLBACK on
BEGIN;
INSERT INTO readings VALUES (6, '2024-01-04', '{7}', '[1,2)', '{"kind": "bp"}');
INSERT INTO readings VALUES (6, '2024-01-04', '{7}', '[1,2)', '{"kind": "bp"}');
SELECT count(*) FROM readings;
COMMIT;
\set ON_ERROR_ROLLBACK off
SELECT max(id) AS last_id FROM readings \gset
\if :last_id
  \echo last reading is :last_id
\else
  \echo no readings
\endif
SELECT :last_id + 1 AS next_id;
COPY readings (id, values_, span) TO STDOUT WITH (FORMAT csv);
COPY readings TO STDOUT WITH (FORMAT binary, NO_SUCH_OPTION);
\copy (SELECT id, doc->>'kind' FROM readings ORDER BY id) TO STDOUT

-- a long tail of small reads
SELECT format('SELECT id, values_ FROM readings WHERE id = %s', g % 7) FROM generate_series(1, 250) AS g \gexec
SELECT format('SELECT count(*) FROM readings WHERE span @> %s', g) FROM generate_series(1, 60) AS g \gexec
