import java.io.StringReader;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Types;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.PGStatement;
import org.postgresql.util.PSQLException;
import org.postgresql.util.PSQLWarning;
import org.postgresql.util.ServerErrorMessage;

/**
 * JDBC client suite for pgdual.
 *
 * <p>Run once against PostgreSQL and once through pgdual: the two stdout transcripts must be identical,
 * so nothing printed may depend on pids, OIDs, timestamps or timings. Connection parameters come from
 * PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE. Any unexpected outcome exits with status 1.
 */
public final class ClientSuite {
    private static final String[] TABLES = {"jdbc_items", "jdbc_keys", "jdbc_types",
        "jdbc_dw_orders", "jdbc_dw_visits", "jdbc_dw_serial", "jdbc_dw_scratch"};
    private static final int NOTIFY_WAIT_MILLIS = 10_000;
    private static final int SERIAL_WRITERS = 8;
    private static final int ROWS_PER_SERIAL_WRITER = 20;
    private static final String INSERT_ORDER = "INSERT INTO jdbc_dw_orders (id, item, qty) VALUES (?, ?, ?)";

    @FunctionalInterface
    private interface SqlAction {
        void run() throws SQLException;
    }

    private ClientSuite() {
    }

    public static void main(String[] args) {
        try {
            run();
        } catch (Exception | AssertionError e) {
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static void run() throws Exception {
        try (Connection conn = connect()) {
            resetSchema(conn);
            sessionInfo(conn);
            preparedStatementReuse(conn);
            batchInserts(conn);
            transactions(conn);
            errorsAndRecovery(conn);
            generatedKeys(conn);
            cursorFetch(conn);
            types(conn);
            warningsAndNotifications(conn);
            queryTimeout(conn);
            dualWriteWorkload(conn);
        }
        section("done");
    }

    private static Connection connect() throws SQLException {
        String host = env("PGHOST");
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        String url = "jdbc:postgresql://" + host + ":" + env("PGPORT") + "/" + env("PGDATABASE");
        Properties props = new Properties();
        props.setProperty("user", env("PGUSER"));
        props.setProperty("password", env("PGPASSWORD"));
        props.setProperty("sslmode", "disable");
        props.setProperty("ApplicationName", "pgdual_jdbc_suite");
        return DriverManager.getConnection(url, props);
    }

    private static String env(String name) {
        String value = System.getenv(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalStateException(name + " is not set");
        }
        return value;
    }

    private static void out(String line) {
        System.out.println(line);
    }

    private static void section(String title) {
        out("== " + title);
    }

    private static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    /** Runs action, which must fail with expectedState; prints what a client would log about it. */
    private static void expectError(SqlAction action, String expectedState) throws SQLException {
        try {
            action.run();
        } catch (SQLException e) {
            if (!expectedState.equals(e.getSQLState())) {
                throw e;
            }
            out("  error sqlstate=" + e.getSQLState());
            ServerErrorMessage server = e instanceof PSQLException p ? p.getServerErrorMessage() : null;
            if (server != null) {
                out("    message: " + server.getMessage());
                if (server.getDetail() != null) {
                    out("    detail: " + server.getDetail());
                }
                if (server.getPosition() != 0) {
                    out("    position: " + server.getPosition());
                }
            }
            return;
        }
        throw new AssertionError("expected SQLSTATE " + expectedState + ", got success");
    }

    private static void update(Connection conn, String sql) throws SQLException {
        try (Statement st = conn.createStatement()) {
            st.execute(sql);
        }
    }

    private static String scalar(Connection conn, String sql) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            check(rs.next(), "no row for " + sql);
            return rs.getString(1);
        }
    }

    private static void resetSchema(Connection conn) throws SQLException {
        section("reset");
        for (String table : TABLES) {
            update(conn, "DROP TABLE IF EXISTS " + table + " CASCADE");
        }
        update(conn, "CREATE TABLE jdbc_items (id int PRIMARY KEY, name text NOT NULL, qty int)");
        update(conn, "CREATE TABLE jdbc_dw_orders (id int PRIMARY KEY, item text NOT NULL, qty int NOT NULL)");
        update(conn, "CREATE TABLE jdbc_dw_visits (id int PRIMARY KEY, seen timestamptz NOT NULL)");
        update(conn, "CREATE TABLE jdbc_dw_serial (id serial PRIMARY KEY, worker int NOT NULL)");
        out("  tables created");
    }

    private static void sessionInfo(Connection conn) throws SQLException {
        section("session");
        out("  server major: " + conn.getMetaData().getDatabaseMajorVersion());
        out("  autocommit: " + conn.getAutoCommit());
        out("  current_user matches PGUSER: " + env("PGUSER").equals(scalar(conn, "SELECT current_user")));
        out("  application_name: " + scalar(conn, "SHOW application_name"));
        out("  server_encoding: " + scalar(conn, "SHOW server_encoding"));
    }

    private static void preparedStatementReuse(Connection conn) throws SQLException {
        section("prepared statement reuse");
        try (PreparedStatement ps = conn.prepareStatement("SELECT ?::int * 2 AS doubled, ?::text AS label")) {
            out("  prepareThreshold: " + ps.unwrap(PGStatement.class).getPrepareThreshold());
            for (int i = 1; i <= 12; i++) {
                ps.setInt(1, i);
                ps.setString(2, "n" + i);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "prepared statement returned no row");
                    out("  run " + i + ": " + rs.getInt(1) + " " + rs.getString(2)
                            + " server-prepared=" + ps.unwrap(PGStatement.class).isUseServerPrepare());
                }
            }
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_prepared_statements"
                         + " WHERE statement = 'SELECT $1::int * 2 AS doubled, $2::text AS label'")) {
                check(rs.next(), "no count row");
                out("  named server statements for it: " + rs.getInt(1));
            }
        }
    }

    private static void batchInserts(Connection conn) throws SQLException {
        section("batch");
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO jdbc_items (id, name, qty) VALUES (?, ?, ?)")) {
            for (int i = 1; i <= 20; i++) {
                ps.setInt(1, i);
                ps.setString(2, "item-" + i);
                ps.setInt(3, i * 10);
                ps.addBatch();
            }
            out("  update counts: " + Arrays.toString(ps.executeBatch()));
            for (int id : new int[] {21, 5, 22}) {
                ps.setInt(1, id);
                ps.setString(2, "again-" + id);
                ps.setInt(3, 0);
                ps.addBatch();
            }
            try {
                ps.executeBatch();
                throw new AssertionError("batch with a duplicate key succeeded");
            } catch (BatchUpdateException e) {
                SQLException cause = e.getNextException();
                out("  failed batch sqlstate=" + (cause == null ? e.getSQLState() : cause.getSQLState()));
                out("  failed batch update counts: " + Arrays.toString(e.getUpdateCounts()));
            }
        }
        try (Statement st = conn.createStatement()) {
            st.addBatch("UPDATE jdbc_items SET qty = qty + 1 WHERE id <= 5");
            st.addBatch("DELETE FROM jdbc_items WHERE id = 20");
            st.addBatch("INSERT INTO jdbc_items VALUES (30, 'statement-batch', NULL)");
            out("  statement batch counts: " + Arrays.toString(st.executeBatch()));
        }
        out("  rows: " + scalar(conn, "SELECT count(*) || ' ' || sum(qty) || ' ' || string_agg(id::text, ',' ORDER BY id)"
                + " FROM jdbc_items"));
    }

    private static void transactions(Connection conn) throws SQLException {
        section("transactions");
        conn.setAutoCommit(false);
        update(conn, "INSERT INTO jdbc_items VALUES (40, 'rolled back', 1)");
        out("  inside transaction sees row: " + scalar(conn, "SELECT count(*) FROM jdbc_items WHERE id = 40"));
        conn.rollback();
        out("  after rollback: " + scalar(conn, "SELECT count(*) FROM jdbc_items WHERE id = 40"));
        update(conn, "INSERT INTO jdbc_items VALUES (41, 'committed', 1)");
        Savepoint savepoint = conn.setSavepoint("before_42");
        update(conn, "INSERT INTO jdbc_items VALUES (42, 'rolled back to savepoint', 1)");
        conn.rollback(savepoint);
        update(conn, "INSERT INTO jdbc_items VALUES (43, 'after savepoint', 1)");
        conn.commit();
        conn.setAutoCommit(true);
        out("  committed ids: " + scalar(conn, "SELECT string_agg(id::text, ',' ORDER BY id) FROM jdbc_items WHERE id >= 40"));
    }

    private static void errorsAndRecovery(Connection conn) throws SQLException {
        section("errors and recovery");
        expectError(() -> update(conn, "INSERT INTO jdbc_items VALUES (1, 'dup', 0)"), "23505");
        expectError(() -> update(conn, "SELEC 1"), "42601");
        try (PreparedStatement ps = conn.prepareStatement("SELECT 10 / ?")) {
            ps.setInt(1, 0);
            expectError(ps::executeQuery, "22012");
            ps.setInt(1, 5);
            try (ResultSet rs = ps.executeQuery()) {
                check(rs.next(), "no row after recovery");
                out("  same statement after error: " + rs.getInt(1));
            }
        }
        conn.setAutoCommit(false);
        update(conn, "INSERT INTO jdbc_items VALUES (50, 'lost with the transaction', 0)");
        expectError(() -> update(conn, "INSERT INTO jdbc_items VALUES (50, 'dup', 0)"), "23505");
        expectError(() -> scalar(conn, "SELECT 1"), "25P02");
        conn.rollback();
        update(conn, "INSERT INTO jdbc_items VALUES (51, 'after recovery', 0)");
        conn.commit();
        conn.setAutoCommit(true);
        out("  recovered ids: " + scalar(conn, "SELECT string_agg(id::text, ',' ORDER BY id) FROM jdbc_items WHERE id >= 50"));
    }

    private static void generatedKeys(Connection conn) throws SQLException {
        section("generated keys");
        update(conn, "CREATE TABLE jdbc_keys (id serial PRIMARY KEY, label text NOT NULL)");
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO jdbc_keys (label) VALUES (?)",
                Statement.RETURN_GENERATED_KEYS)) {
            for (String label : new String[] {"a", "b", "c"}) {
                ps.setString(1, label);
                out("  insert " + label + " count=" + ps.executeUpdate());
                try (ResultSet keys = ps.getGeneratedKeys()) {
                    check(keys.next(), "no generated key");
                    out("    key id=" + keys.getInt("id") + " label=" + keys.getString("label"));
                }
            }
        }
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO jdbc_keys (label) VALUES (?)", new String[] {"id"})) {
            for (String label : new String[] {"d", "e"}) {
                ps.setString(1, label);
                ps.addBatch();
            }
            out("  batch counts: " + Arrays.toString(ps.executeBatch()));
            try (ResultSet keys = ps.getGeneratedKeys()) {
                while (keys.next()) {
                    out("    batch key id=" + keys.getInt(1));
                }
            }
        }
    }

    private static void cursorFetch(Connection conn) throws Exception {
        section("cursor fetch");
        conn.setAutoCommit(false);
        try (Statement st = conn.createStatement()) {
            st.setFetchSize(500);
            long count = 0;
            long sum = 0;
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            try (ResultSet rs = st.executeQuery("SELECT g, md5(g::text) FROM generate_series(1, 10000) g ORDER BY g")) {
                while (rs.next()) {
                    count++;
                    sum += rs.getLong(1);
                    digest.update((rs.getLong(1) + ":" + rs.getString(2) + "\n").getBytes(StandardCharsets.UTF_8));
                }
            }
            String hash = HexFormat.of().formatHex(digest.digest()).substring(0, 16);
            out("  fetchSize=" + st.getFetchSize() + " count=" + count + " sum=" + sum + " sha256=" + hash);
        }
        conn.commit();
        conn.setAutoCommit(true);
    }

    private static void types(Connection conn) throws SQLException {
        section("types");
        update(conn, "CREATE TABLE jdbc_types (id int PRIMARY KEY, ts timestamp, tstz timestamptz, d date,"
                + " n numeric(30, 10), b bytea, flag boolean, f float8, u uuid, t text)");
        byte[] blob = new byte[256];
        for (int i = 0; i < blob.length; i++) {
            blob[i] = (byte) i;
        }
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO jdbc_types VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setInt(1, 1);
            ps.setObject(2, LocalDateTime.of(2021, 6, 1, 12, 30, 45, 123456000));
            ps.setObject(3, OffsetDateTime.of(2021, 6, 1, 12, 30, 45, 0, ZoneOffset.ofHours(2)));
            ps.setObject(4, LocalDate.of(2024, 2, 29));
            ps.setBigDecimal(5, new BigDecimal("-12345678901234567890.0123456789"));
            ps.setBytes(6, blob);
            ps.setBoolean(7, true);
            ps.setDouble(8, -9.5);
            ps.setObject(9, UUID.fromString("12345678-1234-5678-1234-567812345678"));
            ps.setString(10, "ünïcödé");
            ps.executeUpdate();
            ps.setInt(1, 2);
            ps.setNull(2, Types.TIMESTAMP);
            ps.setNull(3, Types.TIMESTAMP_WITH_TIMEZONE);
            ps.setNull(4, Types.DATE);
            ps.setNull(5, Types.NUMERIC);
            ps.setNull(6, Types.BINARY);
            ps.setNull(7, Types.BOOLEAN);
            ps.setNull(8, Types.DOUBLE);
            ps.setNull(9, Types.OTHER);
            ps.setNull(10, Types.VARCHAR);
            ps.executeUpdate();
        }
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT * FROM jdbc_types ORDER BY id")) {
            while (rs.next()) {
                printTypedRow(rs);
            }
        }
    }

    private static void printTypedRow(ResultSet rs) throws SQLException {
        out("  row " + rs.getInt("id") + ":");
        OffsetDateTime tstz = rs.getObject("tstz", OffsetDateTime.class);
        byte[] bytes = rs.getBytes("b");
        out("    ts=" + rs.getObject("ts", LocalDateTime.class)
                + " tstz=" + (tstz == null ? null : tstz.withOffsetSameInstant(ZoneOffset.UTC))
                + " d=" + rs.getObject("d", LocalDate.class));
        out("    n=" + rs.getBigDecimal("n") + " b=" + (bytes == null ? null : bytes.length + " bytes, last "
                + HexFormat.of().formatHex(bytes, bytes.length - 3, bytes.length)));
        boolean flag = rs.getBoolean("flag");
        out("    flag=" + (rs.wasNull() ? "NULL" : flag) + " f=" + rs.getObject("f")
                + " u=" + rs.getObject("u") + " t=" + rs.getString("t"));
    }

    private static void warningsAndNotifications(Connection conn) throws SQLException {
        section("warnings and notifications");
        try (Statement st = conn.createStatement()) {
            st.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END $$");
            for (SQLWarning w = st.getWarnings(); w != null; w = w.getNextWarning()) {
                out("  warning sqlstate=" + w.getSQLState() + " message="
                        + ((PSQLWarning) w).getServerErrorMessage().getMessage());
            }
            st.execute("LISTEN jdbc_chan");
            st.execute("NOTIFY jdbc_chan, 'self-1'");
            st.execute("SELECT pg_notify('jdbc_chan', 'self-2')");
        }
        int backendPid = Integer.parseInt(scalar(conn, "SELECT pg_backend_pid()"));
        PGNotification[] notes = conn.unwrap(PGConnection.class).getNotifications(NOTIFY_WAIT_MILLIS);
        check(notes != null, "no notifications");
        for (PGNotification n : notes) {
            out("  notification channel=" + n.getName() + " payload=" + n.getParameter()
                    + " from_self=" + (n.getPID() == backendPid));
        }
        update(conn, "UNLISTEN *");
    }

    private static void queryTimeout(Connection conn) throws SQLException {
        section("query timeout");
        try (Statement st = conn.createStatement()) {
            st.setQueryTimeout(1);
            expectError(() -> st.execute("SELECT pg_sleep(30)"), "57014");
        }
        out("  after cancel: " + scalar(conn, "SELECT 7"));
    }

    private static void dualWriteWorkload(Connection conn) throws Exception {
        section("dual write workload");
        workloadDdl(conn);
        workloadTransactions(conn);
        workloadBatch(conn);
        workloadCopy(conn);
        workloadPrepared(conn);
        workloadNow(conn);
        workloadConcurrentSerial(conn);
    }

    private static void workloadDdl(Connection conn) throws SQLException {
        update(conn, "CREATE TABLE jdbc_dw_scratch (id int PRIMARY KEY, label text)");
        update(conn, "INSERT INTO jdbc_dw_scratch SELECT g, 'scratch-' || g FROM generate_series(1, 5) g");
        update(conn, "ALTER TABLE jdbc_dw_scratch ADD COLUMN state text NOT NULL DEFAULT 'fresh'");
        update(conn, "CREATE INDEX jdbc_dw_scratch_state ON jdbc_dw_scratch (state)");
        out("  scratch table: " + scalar(conn, "SELECT 'count=' || count(*) || ' states=' || string_agg(DISTINCT state, ',')"
                + " FROM jdbc_dw_scratch"));
        update(conn, "DROP TABLE jdbc_dw_scratch");
        update(conn, "ALTER TABLE jdbc_dw_orders ADD COLUMN status text NOT NULL DEFAULT 'new'");
        update(conn, "CREATE INDEX jdbc_dw_orders_item ON jdbc_dw_orders (item)");
        out("  scratch tables left: " + scalar(conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'jdbc_dw_scratch'"));
    }

    private static void insertOrder(PreparedStatement ps, int id, String item) throws SQLException {
        ps.setInt(1, id);
        ps.setString(2, item);
        ps.setInt(3, id);
    }

    private static void printOrders(Connection conn, String label, int firstId, int lastId) throws SQLException {
        out("  " + label + ": " + scalar(conn, "SELECT 'count=' || count(*) || ' sum=' || coalesce(sum(qty), 0)"
                + " FROM jdbc_dw_orders WHERE id BETWEEN " + firstId + " AND " + lastId));
    }

    private static void workloadTransactions(Connection conn) throws SQLException {
        conn.setAutoCommit(false);
        try (PreparedStatement ps = conn.prepareStatement(INSERT_ORDER)) {
            insertOrder(ps, 1, "rolled back");
            ps.executeUpdate();
            conn.rollback();
            printOrders(conn, "after rollback", 1, 4);
            insertOrder(ps, 2, "before savepoint");
            ps.executeUpdate();
            Savepoint savepoint = conn.setSavepoint("jdbc_dw_sp");
            insertOrder(ps, 3, "undone by savepoint");
            ps.executeUpdate();
            conn.rollback(savepoint);
            insertOrder(ps, 4, "after savepoint");
            ps.executeUpdate();
            conn.commit();
        }
        conn.setAutoCommit(true);
        out("  committed ids: " + scalar(conn, "SELECT string_agg(id::text, ',' ORDER BY id) FROM jdbc_dw_orders"));
    }

    private static void workloadBatch(Connection conn) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(INSERT_ORDER)) {
            for (int id = 101; id <= 150; id++) {
                insertOrder(ps, id, "batch-" + id);
                ps.addBatch();
            }
            out("  batch rows reported: " + Arrays.stream(ps.executeBatch()).sum());
        }
        printOrders(conn, "batch rows", 101, 150);
    }

    private static void workloadCopy(Connection conn) throws Exception {
        StringBuilder rows = new StringBuilder();
        for (int id = 201; id <= 230; id++) {
            rows.append(id).append("\tcopied-").append(id).append('\t').append(id).append('\n');
        }
        long copied = conn.unwrap(PGConnection.class).getCopyAPI()
                .copyIn("COPY jdbc_dw_orders (id, item, qty) FROM STDIN", new StringReader(rows.toString()));
        out("  COPY FROM rows: " + copied);
        printOrders(conn, "copied rows", 201, 230);
    }

    private static void workloadPrepared(Connection conn) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(INSERT_ORDER)) {
            for (int id = 301; id <= 308; id++) {
                insertOrder(ps, id, "prepared-" + id);
                ps.executeUpdate();
            }
            out("  server-prepared after 8 runs: " + ps.unwrap(PGStatement.class).isUseServerPrepare());
        }
        printOrders(conn, "prepared rows", 301, 308);
        out("  statuses: " + scalar(conn, "SELECT string_agg(DISTINCT status, ',') FROM jdbc_dw_orders"));
    }

    private static void workloadNow(Connection conn) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO jdbc_dw_visits (id, seen) VALUES (?, now())")) {
            for (int id = 1; id <= 5; id++) {
                ps.setInt(1, id);
                ps.executeUpdate();
            }
        }
        out("  visits: " + scalar(conn, "SELECT count(*) FROM jdbc_dw_visits"));
    }

    private static void insertSerialRows(int worker) throws SQLException {
        try (Connection own = connect();
             PreparedStatement ps = own.prepareStatement("INSERT INTO jdbc_dw_serial (worker) VALUES (?)")) {
            for (int row = 0; row < ROWS_PER_SERIAL_WRITER; row++) {
                ps.setInt(1, worker);
                ps.executeUpdate();
            }
        }
    }

    private static void workloadConcurrentSerial(Connection conn) throws Exception {
        ExecutorService writers = Executors.newFixedThreadPool(SERIAL_WRITERS);
        try {
            Future<?>[] done = new Future<?>[SERIAL_WRITERS];
            for (int worker = 1; worker <= SERIAL_WRITERS; worker++) {
                int thisWorker = worker;
                done[worker - 1] = writers.submit(() -> {
                    insertSerialRows(thisWorker);
                    return null;
                });
            }
            for (Future<?> writer : done) {
                writer.get();
            }
        } finally {
            writers.shutdown();
        }
        out("  serial rows: " + scalar(conn, "SELECT count(*) FROM jdbc_dw_serial"));
        try (Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery("SELECT worker, count(*) FROM jdbc_dw_serial GROUP BY worker ORDER BY worker")) {
            while (rs.next()) {
                out("  worker " + rs.getInt(1) + ": " + rs.getInt(2));
            }
        }
    }
}
