// Applies and checks the migrations, and runs retention for either TimescaleDB edition.

/// Problems with the database schema, each saying what was expected and what was found.
public enum SchemaError: Error, CustomStringConvertible, Sendable {
    case newerThanBinary(database: Int, binary: Int)
    case olderThanBinary(database: Int, binary: Int)
    case noTimescale
    case database(PGError)

    public var description: String {
        switch self {
        case let .newerThanBinary(db, bin):
            "database schema is version \(db), newer than this sotpd knows (\(bin)): upgrade sotpd, or point it at another database"
        case let .olderThanBinary(db, bin):
            "database schema is version \(db), this sotpd needs \(bin): run `sotpd migrate`"
        case .noTimescale:
            "the timescaledb extension is not available on this server (shared_preload_libraries = 'timescaledb' and the package are needed)"
        case let .database(e):
            "database: \(e)"
        }
    }
}

/// The TimescaleDB edition a server runs, which decides the retention and rollup path.
public enum TimescaleLicense: String, Sendable {
    /// Debian's build: hypertables, time_bucket, drop_chunks; no compression or policies.
    case apache
    /// Timescale's own packages: compression, continuous aggregates, background policies.
    case timescale
}

public enum Schema {
    /// The version this binary's migrations reach.
    public static var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// The version recorded in the database (0 for an empty one).
    public static func currentVersion(_ conn: borrowing PGConnection) throws(SchemaError) -> Int {
        do {
            let rows = try conn.query(
                "SELECT coalesce((SELECT max(version) FROM sotp.schema_migrations), 0) WHERE to_regclass('sotp.schema_migrations') IS NOT NULL")
            return (rows.first?.first ?? nil).flatMap { Int($0) } ?? 0
        } catch {
            throw .database(error)
        }
    }

    /// The TimescaleDB license of the server (after the extension is loaded).
    public static func license(_ conn: borrowing PGConnection) throws(SchemaError) -> TimescaleLicense {
        let v: String?
        do {
            v = try conn.query("SELECT current_setting('timescaledb.license', true)").first?.first ?? nil
        } catch { throw .database(error) }
        guard let v, !v.isEmpty else { throw .noTimescale }
        return v == "timescale" ? .timescale : .apache
    }

    /// Applies every migration newer than the database's version, up to `target` (tests stop early to
    /// check a later migration applies on top of real data), each in its own transaction under an
    /// advisory lock (two sotpd starting at once do not race). Returns (from, to).
    @discardableResult
    public static func migrate(_ conn: borrowing PGConnection, upTo target: Int = latestVersion) throws(SchemaError) -> (from: Int, to: Int) {
        do {
            try conn.execute("SELECT pg_advisory_lock(7415020)")
        } catch { throw .database(error) }
        defer { try? conn.execute("SELECT pg_advisory_unlock(7415020)") }
        do {
            try conn.execute(
                """
                CREATE EXTENSION IF NOT EXISTS timescaledb;
                CREATE SCHEMA IF NOT EXISTS sotp;
                CREATE TABLE IF NOT EXISTS sotp.schema_migrations (
                    version int PRIMARY KEY, name text NOT NULL, license text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now());
                """)
        } catch {
            if error.message.contains("timescaledb") { throw .noTimescale }
            throw .database(error)
        }
        let from = try currentVersion(conn)
        if from > latestVersion { throw .newerThanBinary(database: from, binary: latestVersion) }
        let lic = try license(conn)
        for m in migrations where m.version > from && m.version <= target {
            let extra = lic == .timescale ? m.timescale : m.apache
            do {
                try conn.execute("BEGIN")
                try conn.execute(m.sql)
                if !extra.isEmpty { try conn.execute(extra) }
                try conn.execute(
                    "INSERT INTO sotp.schema_migrations (version, name, license) VALUES (\(m.version), \(quoteLiteral(m.name)), \(quoteLiteral(lic.rawValue)))")
                try conn.execute("COMMIT")
            } catch {
                try? conn.execute("ROLLBACK")
                throw .database(PGError(sqlstate: error.sqlstate, message: "migration \(m.version) (\(m.name)): \(error.message)", connectionLost: error.connectionLost))
            }
        }
        return (from, max(from, min(target, latestVersion)))
    }

    /// Start-up check: the database must be at exactly this binary's version.
    public static func check(_ conn: borrowing PGConnection) throws(SchemaError) {
        let v = try currentVersion(conn)
        if v > latestVersion { throw .newerThanBinary(database: v, binary: latestVersion) }
        if v < latestVersion { throw .olderThanBinary(database: v, binary: latestVersion) }
    }

    /// Sets retention. With the `timescale` license, TimescaleDB's own retention policies (idempotent:
    /// replaced each start); with `apache`, drops the expired chunks now (the daemon calls this from
    /// its maintenance task, hourly). Also prunes dead letters (kept as long as logs) and, when
    /// `pruneLedger`, ledger rows older than 7 days. The caller passes false while its spool still holds
    /// batches: one of them may be an already committed batch whose file a crash kept, and its ledger
    /// row is what stops it being written twice. Returns chunks dropped (apache) or policies set.
    @discardableResult
    public static func applyRetention(
        _ conn: borrowing PGConnection, _ r: Retention, license: TimescaleLicense, pruneLedger: Bool = true
    ) throws(PGError) -> Int {
        var n = 0
        // Only the hypertables this database has (one migrated to an older version lacks later ones),
        // in the schema their unqualified names resolve to: the migrations create them unqualified, so
        // they land in the first schema of the search_path that exists — `sotp` for the default role
        // `sotp` ("$user", public), `public` for another role.
        let present = Set(try conn.query("""
            SELECT h.hypertable_name FROM timescaledb_information.hypertables h
            WHERE to_regclass(format('%I', h.hypertable_name)) = to_regclass(format('%I.%I', h.hypertable_schema, h.hypertable_name))
            """).compactMap { $0.first ?? nil })
        for (table, cls) in hypertables where present.contains(table) {
            let days = switch cls {
            case .metrics: r.metricsDays
            case .logs: r.logsDays
            case .flows: r.flowsDays
            case .events: r.eventsDays
            }
            switch license {
            case .timescale:
                try conn.execute(
                    "SELECT remove_retention_policy('\(table)', if_exists => true); SELECT add_retention_policy('\(table)', INTERVAL '\(days) days')")
                n += 1
            case .apache:
                let rows = try conn.query("SELECT count(*) FROM drop_chunks('\(table)', older_than => now() - $1::interval)", ["\(days) days"])
                n += (rows.first?.first ?? nil).flatMap { Int($0) } ?? 0
            }
        }
        if pruneLedger {
            try conn.execute("DELETE FROM sotp.batch_ledger WHERE time < now() - INTERVAL '7 days'")
        }
        try conn.execute("DELETE FROM sotp.dead_letter WHERE time < now() - INTERVAL '\(r.logsDays) days'")
        return n
    }
}
