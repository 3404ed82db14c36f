--
-- FUNCTIONS, VIEWS AND TEMPORARY TABLES: plpgsql, SQL functions, views, a trigger, sequences,
-- upserts, and session-local tables.
--
CREATE TABLE meds (
    id      serial PRIMARY KEY,
    name    text NOT NULL UNIQUE,
    dose_mg int NOT NULL,
    stock   int NOT NULL DEFAULT 0
);
INSERT INTO meds (name, dose_mg, stock) VALUES
    ('aspirin', 100, 500), ('ibuprofen', 400, 120), ('paracetamol', 500, 80),
    ('amoxicillin', 250, 0), ('insulin', 10, 35);
SELECT id, name, dose_mg, stock FROM meds ORDER BY id;

CREATE FUNCTION daily_dose(mg int, times int) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$ SELECT mg * times $$;
SELECT name, daily_dose(dose_mg, 3) FROM meds ORDER BY name;
SELECT daily_dose(1, 2), daily_dose(NULL, 2);
SELECT daily_dose('a', 2);
SELECT daily_dose(1);

CREATE FUNCTION stock_level(n int) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF n = 0 THEN
        RETURN 'out';
    ELSIF n < 50 THEN
        RETURN 'low';
    END IF;
    RETURN 'ok';
END
$$;
SELECT name, stock, stock_level(stock) FROM meds ORDER BY stock, name;

CREATE FUNCTION check_dose(mg int) RETURNS int
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF mg > 1000 THEN
        RAISE EXCEPTION 'dose % mg is too high', mg USING ERRCODE = '22023', HINT = 'split it';
    END IF;
    RAISE NOTICE 'dose % mg checked', mg;
    RETURN mg;
END
$$;
SELECT check_dose(500);
SELECT check_dose(5000);
SELECT name FROM meds WHERE check_dose(dose_mg) > 200 ORDER BY name;

-- a function that does not compile
CREATE FUNCTION broken() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RETURN 1 +;
END
$$;
SELECT broken();

-- views
CREATE VIEW low_stock AS
    SELECT name, stock, stock_level(stock) AS level FROM meds WHERE stock < 100;
SELECT * FROM low_stock ORDER BY name;
SELECT count(*) FROM low_stock WHERE level = 'out';
CREATE VIEW dose_table AS
    SELECT m.name, t.times, daily_dose(m.dose_mg, t.times) AS per_day
      FROM meds m CROSS JOIN generate_series(1, 3) AS t(times);
SELECT * FROM dose_table WHERE name LIKE 'a%' ORDER BY name, times;
SELECT * FROM no_such_view;
CREATE VIEW low_stock AS SELECT 1;

-- a trigger and a sequence
CREATE TABLE stock_moves (
    id      bigserial PRIMARY KEY,
    med     text NOT NULL,
    delta   int NOT NULL
);
CREATE FUNCTION apply_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE meds SET stock = stock + NEW.delta WHERE name = NEW.med;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no medication named %', NEW.med;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER stock_moves_apply AFTER INSERT ON stock_moves
    FOR EACH ROW EXECUTE FUNCTION apply_move();
INSERT INTO stock_moves (med, delta) VALUES ('aspirin', -20), ('insulin', 15);
INSERT INTO stock_moves (med, delta) VALUES ('unobtainium', 1);
INSERT INTO stock_moves (med, delta) VALUES ('amoxicillin', 40) RETURNING id, med;
SELECT name, stock FROM meds ORDER BY name;
SELECT id, med, delta FROM stock_moves ORDER BY id;
CREATE SEQUENCE prescription_no START 1000 INCREMENT 10;
SELECT nextval('prescription_no'), nextval('prescription_no');
SELECT currval('prescription_no');

-- upserts
INSERT INTO meds (name, dose_mg, stock) VALUES ('aspirin', 100, 10)
    ON CONFLICT (name) DO UPDATE SET stock = meds.stock + EXCLUDED.stock
    RETURNING name, stock;
INSERT INTO meds (name, dose_mg) VALUES ('aspirin', 100) ON CONFLICT DO NOTHING;
INSERT INTO meds (name, dose_mg) VALUES ('aspirin', 100) ON CONFLICT (dose_mg) DO NOTHING;
SELECT name, stock FROM meds WHERE name = 'aspirin';

-- a schema of the same names, found first by search_path
CREATE SCHEMA archive;
CREATE TABLE archive.meds (id int PRIMARY KEY, name text, dose_mg int, stock int);
INSERT INTO archive.meds VALUES (1, 'laudanum', 30, 2), (2, 'calomel', 100, 1);
SET search_path = archive, public;
SELECT name, stock FROM meds ORDER BY id;
SELECT count(*) FROM meds;
SELECT name FROM public.meds ORDER BY name LIMIT 2;
RESET search_path;
SELECT count(*) FROM meds;

-- temporary tables: the session's own
CREATE TEMP TABLE cart (med text, qty int);
INSERT INTO cart VALUES ('aspirin', 2), ('insulin', 1), ('ibuprofen', 3);
SELECT * FROM cart ORDER BY med;
SELECT c.med, c.qty * m.dose_mg AS mg FROM cart c JOIN meds m ON m.name = c.med ORDER BY 1;
UPDATE cart SET qty = qty + 1 WHERE med = 'aspirin';
SELECT sum(qty) FROM cart;
DELETE FROM cart WHERE med = 'insulin';
SELECT med FROM cart ORDER BY med;
CREATE TEMP TABLE cart_totals AS SELECT med, qty FROM cart WHERE qty > 2;
SELECT * FROM cart_totals ORDER BY med;
DROP TABLE cart;
SELECT * FROM cart;

-- reads of the views and functions, one statement each
SELECT format('SELECT name, level FROM low_stock WHERE name = %L', name)
  FROM meds ORDER BY id \gexec
SELECT format('SELECT stock_level(%s) AS level_%s', g * 7, g) FROM generate_series(0, 119) AS g \gexec
SELECT format('SELECT count(*) FROM dose_table WHERE per_day > %s', g * 25) FROM generate_series(1, 120) AS g \gexec
