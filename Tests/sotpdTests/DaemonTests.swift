// sotpd as a process against the real database: SIGTERM in the middle of a load loses nothing, start-up
// refuses a schema it does not know, and jemalloc is the allocator.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

/// Test daemons run without the HTTP API unless a test asks for it: they run in parallel, and the default
/// port would be taken by the first.
let noAPI = "[api]\nlisten = \"\""

/// Likewise the syslog and trap receivers, unless a test has a `[syslog]` / `[traps]` table: their
/// default ports (514/5514, 162/1162) would be contended by parallel daemons.
func receiversOff(_ sections: String) -> String {
    (sections.contains("[syslog]") ? "" : "[syslog]\nenabled = false\n") + (sections.contains("[traps]") ? "" : "[traps]\nenabled = false\n")
        // The SNMP poller too: the shared test database's devices must never be polled.
        + (sections.contains("[snmp]") ? "" : "[snmp]\nenabled = false\n")
}

/// A config file pointing at the test database with a private spool directory. The ICMP poller is off:
/// the shared test database's devices table holds other tests' rows, which must never be pinged. The
/// flow listeners are off too: daemons of parallel tests would contend for the same ports.
func testConfig(spool: String, extra: String = "", icmp: Bool = false) throws -> String {
    let path = TestDB.tempDir("cfg") + "/sotpd.toml"
    let url = TestDB.info.url
    try """
    [database]
    url = "\(url)"
    password_file = "\(TestDB.passwordFile)"
    [sink]
    spool_dir = "\(spool)"
    spool_fsync = "never"
    [log]
    level = "warning"
    \(icmp ? "" : "[icmp]\nenabled = false")
    [flow]
    enabled = false
    \(extra.contains("[api]") ? "" : noAPI)
    \(receiversOff(extra))
    \(extra)
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A config for a sotpd of a test's own: `url`'s database, a private spool flushed every 100 ms, and
/// `sections` (TOML) after it. Every section a test leaves out takes its default, so daemons that must
/// not poll or listen say `[icmp] enabled = false` / `[flow] enabled = false` themselves; the HTTP API
/// is off unless `sections` has an `[api]` table.
func daemonConfig(url: String, _ sections: String) throws -> String {
    let path = TestDB.tempDir("cfg") + "/sotpd.toml"
    try """
    [database]
    url = "\(url)"
    password_file = "\(TestDB.passwordFile)"
    [sink]
    spool_dir = "\(TestDB.tempDir("spool"))"
    spool_fsync = "never"
    flush_interval_ms = 100
    \(sections.contains("[api]") ? "" : noAPI)
    \(receiversOff(sections))
    \(sections)
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite("sotpd daemon")
struct DaemonTests {
    @Test(.timeLimit(.minutes(3)))
    func sigtermDuringLoadLosesNothing() throws {
        let conn = try TestDB.connect()
        let table = TestDB.uniqueName("sigterm_flows")
        defer { try? conn.execute("DROP TABLE IF EXISTS \(table)") }
        let cfg = try testConfig(spool: TestDB.tempDir("spool"))
        let child = try Child(sotpdBinary, ["sink-load", "--config", cfg, "--rows", "20000000", "--table", table, "--create"])
        // Wait until rows are flowing, then SIGTERM in the middle of the load.
        var waited = 0
        while waited < 300 {
            Thread.sleep(forTimeInterval: 0.1)
            waited += 1
            if let n = try? TestDB.scalar(conn, "SELECT count(*) FROM \(table)"), let v = Int(n), v > 50_000 { break }
        }
        child.signal(SIGTERM)
        let status = child.wait()
        #expect(status == 0, "\(child.output)")
        let summary = child.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }).map(String.init) ?? ""
        let json = try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any] ?? [:]
        let generated = json["generated"] as? Int ?? -1
        #expect(generated > 0 && generated < 20_000_000, "the load should have been cut short: \(summary)")
        #expect(json["rows_dropped"] as? Int == 0)
        #expect(json["left_in_spool"] as? Int == 0)
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM \(table)") == String(generated))
        #expect(try TestDB.scalar(conn, "SELECT count(DISTINCT packets) FROM \(table)") == String(generated))
    }

    @Test func refusesASchemaNewerThanItKnows() throws {
        // A database of its own, migrated, then marked as a future version.
        let admin = try TestDB.connect()
        let db = TestDB.uniqueName("sotp_schema")
        try admin.execute("CREATE DATABASE \(db)")
        defer { try? admin.execute("DROP DATABASE \(db) WITH (FORCE)") }
        let base = TestDB.info.url
        let url = base[..<base.lastIndex(of: "/")!] + "/" + db
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        let (from, to) = try Schema.migrate(conn)
        #expect(from == 0 && to == Schema.latestVersion)
        try Schema.check(conn)
        #expect(try Schema.migrate(conn) == (Schema.latestVersion, Schema.latestVersion))
        try conn.execute("INSERT INTO sotp.schema_migrations (version, name, license) VALUES (999, 'future', 'apache')")
        #expect(throws: SchemaError.self) { try Schema.check(conn) }
        #expect(throws: SchemaError.self) { try Schema.migrate(conn) }

        let cfg = try testConfig(spool: TestDB.tempDir("spool"))
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: TestDB.info.url, with: url)
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let r = try TestDB.run(sotpdBinary, ["run", "--config", cfg])
        #expect(r.status == 1)
        #expect(r.output.contains("database schema is version 999, newer than this sotpd knows"), "\(r.output)")
    }

    @Test func retentionDropsExpiredChunksOnTheApacheEdition() throws {
        let conn = try TestDB.connect()
        #expect(try Schema.license(conn) == .apache)
        let name = TestDB.uniqueName("ret")
        // A throwaway hypertable run through the same drop_chunks call the maintenance task makes.
        try conn.execute(
            "CREATE TABLE \(name) (time timestamptz NOT NULL, v int); SELECT create_hypertable('\(name)', by_range('time', INTERVAL '1 day'))")
        defer { try? conn.execute("DROP TABLE \(name)") }
        try conn.execute("INSERT INTO \(name) SELECT now() - (d || ' days')::interval, d FROM generate_series(0, 100) d")
        let dropped = try TestDB.scalar(conn, "SELECT count(*) FROM drop_chunks('\(name)', older_than => now() - INTERVAL '30 days')")
        #expect(Int(dropped ?? "0")! >= 69)
        #expect(try TestDB.scalar(conn, "SELECT max(v) FROM \(name)").flatMap { Int($0) }! <= 31)
        // The real maintenance pass on the real schema: an old ledger row stays while the spool holds
        // batches (pruneLedger false) and goes once it is empty.
        let id = Int64.random(in: 1...Int64.max)
        try conn.execute("INSERT INTO sotp.batch_ledger (batch_id, first_row, row_count, time) VALUES (\(id), 0, 1, now() - INTERVAL '30 days')")
        _ = try Schema.applyRetention(conn, Retention(), license: .apache, pruneLedger: false)
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM sotp.batch_ledger WHERE batch_id = \(id)") == "1")
        _ = try Schema.applyRetention(conn, Retention(), license: .apache, pruneLedger: true)
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM sotp.batch_ledger WHERE batch_id = \(id)") == "0")
    }

    @Test(.timeLimit(.minutes(2)))
    func startsWithTheDatabaseDownSpoolsAndTheNextRunReplays() throws {
        let spool = TestDB.tempDir("spool")
        let extra = "[stats]\ninterval_s = 1\n"
        // First run: nothing listens on port 9, so sotpd starts anyway and spools its own statistics.
        let down = try testConfig(spool: spool, extra: extra)
        let text = try String(contentsOfFile: down, encoding: .utf8)
            .replacingOccurrences(of: TestDB.info.url, with: "postgresql://sotp@127.0.0.1:9/sotp")
            .replacingOccurrences(of: "spool_fsync", with: "shutdown_timeout_s = 1\nspool_fsync")
        try text.write(toFile: down, atomically: true, encoding: .utf8)
        let first = try Child(sotpdBinary, ["run", "--config", down])
        Thread.sleep(forTimeInterval: 3.5)
        first.signal(SIGTERM)
        #expect(first.wait() == 0, "\(first.output)")
        #expect(first.output.contains("database unreachable at start"), "\(first.output)")
        let spooled = try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".spool") }
        #expect(!spooled.isEmpty, "\(first.output)")

        // Second run, database up, same spool: it replays what the first run left, then exits clean.
        let up = try testConfig(spool: spool, extra: extra)
        let second = try Child(sotpdBinary, ["run", "--config", up])
        Thread.sleep(forTimeInterval: 2.5)
        second.signal(SIGTERM)
        #expect(second.wait() == 0, "\(second.output)")
        let left = try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".spool") }
        #expect(left.isEmpty, "\(second.output)")
        #expect(!second.output.contains("rows_replayed=0"), "\(second.output)")
    }

    @Test func jemallocServesMalloc() {
        #expect(Jemalloc.version?.hasPrefix("5.") == true)
        #expect(Jemalloc.allocatedBytes > 0)
    }
}
