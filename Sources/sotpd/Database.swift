// sotpd's own short database sessions (schema check, migrations, device inventory, retention), each on
// a thread of its own because libpq blocks.
import Foundation
import Logging
import Sink

/// Runs blocking work on a new thread and resumes the caller with its result.
func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        let t = Thread {
            do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
        }
        t.name = name
        t.start()
    }
}

struct Database: Sendable {
    let info: PGConnectInfo

    private func connect() throws(SchemaError) -> PGConnection {
        do { return try PGConnection(info) } catch { throw .database(error) }
    }

    /// Applies pending migrations; returns (from, to, license).
    func migrate() async throws -> (Int, Int, TimescaleLicense) {
        try await onThread("sotp-migrate") {
            let conn = try connect()
            let (from, to) = try Schema.migrate(conn)
            return (from, to, try Schema.license(conn))
        }
    }

    /// Start-up: checks (or with `autoMigrate` applies) the schema and upserts the configured devices.
    func prepare(autoMigrate: Bool, devices: [DeviceConfig], logger: Logger) async throws -> TimescaleLicense {
        try await onThread("sotp-prepare") {
            let conn = try connect()
            if autoMigrate {
                let (from, to) = try Schema.migrate(conn)
                if from != to { logger.notice("schema migrated", metadata: ["from": "\(from)", "to": "\(to)"]) }
            } else {
                try Schema.check(conn)
            }
            let license = try Schema.license(conn)
            do throws(PGError) {
                try seed(conn, devices)
            } catch { throw SchemaError.database(error) }
            logger.info("schema checked", metadata: ["version": "\(Schema.latestVersion)", "timescaledb_license": "\(license.rawValue)", "devices": "\(devices.count)"])
            return license
        }
    }

    /// Upserts the configured devices by name in one transaction, so a poller sees the inventory change
    /// once. A device's ICMP and SNMP override keys in settings are replaced by the configured ones (an override
    /// removed from the file goes); other settings keys, set with SQL, stay. An unchanged device is not
    /// written, so updated_at says when it last changed.
    func seed(_ conn: borrowing PGConnection, _ devices: [DeviceConfig]) throws(PGError) {
        try conn.execute("BEGIN")
        do throws(PGError) {
            for d in devices {
                _ = try conn.query(
                    """
                    INSERT INTO devices AS cur (name, address, tags, enabled, icmp, snmp, settings)
                        VALUES ($1, $2::inet, $3::text[], $4, $5, $6, $7::jsonb)
                    ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, tags = EXCLUDED.tags,
                        enabled = EXCLUDED.enabled, icmp = EXCLUDED.icmp, snmp = EXCLUDED.snmp,
                        settings = (cur.settings - $8::text[]) || EXCLUDED.settings, updated_at = now()
                    WHERE (cur.address, cur.tags, cur.enabled, cur.icmp, cur.snmp, cur.settings)
                        IS DISTINCT FROM (EXCLUDED.address, EXCLUDED.tags, EXCLUDED.enabled, EXCLUDED.icmp, EXCLUDED.snmp,
                                          (cur.settings - $8::text[]) || EXCLUDED.settings)
                    """,
                    [d.name, d.address, pgTextArray(d.tags), String(d.enabled), String(d.icmp), String(d.snmp),
                     d.settingsJSON, pgTextArray(ProbeOverrides.keys + SNMPOverrides.keys)])
            }
            try conn.execute("COMMIT")
        } catch {
            try? conn.execute("ROLLBACK")
            throw error
        }
    }

    /// Retention and ledger pruning; returns chunks dropped (apache) or policies set (timescale).
    func maintain(retention: Retention, license: TimescaleLicense?, pruneLedger: Bool) async throws -> Int {
        try await onThread("sotp-maint") {
            let conn = try connect()
            let lic = try license ?? Schema.license(conn)
            do throws(PGError) { return try Schema.applyRetention(conn, retention, license: lic, pruneLedger: pruneLedger) } catch { throw SchemaError.database(error) }
        }
    }
}

/// A PostgreSQL text[] literal with every element quoted.
func pgTextArray(_ items: [String]) -> String {
    "{" + items.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        .joined(separator: ",") + "}"
}
