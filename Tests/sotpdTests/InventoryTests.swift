// The ICMP inventory: devices rows with their settings overrides become targets with the right probe
// settings, bad ones are skipped with a reason, configured devices are seeded with their overrides, and
// the inventory version moves with every change.
import Foundation
import Logging
import Poller
import Sink
@testable import sotpd
import Testing
import TestSupport

@Suite("ICMPInventory")
struct InventoryTests {
    /// [icmp] defaults with a source for each family, so the tests see which one a target gets.
    let icmp = try! Config.parse(
        "[icmp]\nsource_v4 = \"127.0.2.250\"\nsource_v6 = \"2001:db8::250\"\n", source: "t").icmp

    func target(_ settings: String, address: String = "127.0.2.1") -> Result<ICMPTarget, OverrideProblem> {
        ICMPInventory(icmp: icmp).target(id: "7", name: "r7", address: address, settings: settings)
    }

    func problem(_ settings: String, address: String = "127.0.2.1") -> String? {
        if case .failure(let p) = target(settings, address: address) { return p.problem }
        return nil
    }

    @Test func overridesApplyOnTopOfTheDefaults() throws {
        var want = icmp.defaults
        want.source = IPAddress("127.0.2.250")
        #expect(try target("{}").get() == ICMPTarget(id: 7, name: "r7", address: IPAddress("127.0.2.1")!, settings: want))

        // Every override key, as Postgres prints a jsonb (2000.0 is an integer too); unrelated keys stay out.
        let t = try target(
            #"{"interval_s": 10, "probes": 5, "spacing_ms": 100, "timeout_ms": 2000.0, "payload_bytes": 1200, "tos": 46, "down_after": 4, "up_after": 3, "source": "2001:db8::9", "snmp": {"community": "x"}}"#,
            address: "2001:db8::1"
        ).get()
        want = icmp.defaults
        want.interval = .seconds(10)
        want.probes = 5
        want.spacing = .milliseconds(100)
        want.timeout = .seconds(2)
        want.payloadBytes = 1200
        want.tos = 46
        want.downAfter = 4
        want.upAfter = 3
        want.source = IPAddress("2001:db8::9")
        #expect(t.settings == want)
        #expect(t.address == IPAddress("2001:db8::1"))
        // Without its own source, an IPv6 target gets [icmp] source_v6.
        #expect(try target("{}", address: "2001:db8::1").get().settings.source == IPAddress("2001:db8::250"))
    }

    @Test func badRowsAreReportedNotGuessed() {
        #expect(problem(#"{"probes": 0}"#) == "settings.probes must be an integer in 1…64, got 0")
        #expect(problem(#"{"probes": true}"#) == "settings.probes must be an integer in 1…64, got true")
        #expect(problem(#"{"probes": "3"}"#) == "settings.probes must be an integer in 1…64, got \"3\"")
        #expect(problem(#"{"timeout_ms": 2.5}"#) == "settings.timeout_ms must be an integer in 1…60000, got 2.5")
        #expect(problem(#"{"tos": 256}"#) != nil)
        #expect(problem(#"{"source": "2001:db8::9"}"#) == "settings.source must be an IPv4 address like the device's 127.0.2.1, got 2001:db8::9")
        #expect(problem(#"{"source": 5}"#) == "settings.source must be an IPv4 or IPv6 address, got 5")
        #expect(problem(#"{"interval_s": 5}"#)?.hasPrefix("settings.interval_s does not fit") == true)
        #expect(problem("[1, 2]") == "settings must be a JSON object, got a JSON array")
        #expect(problem("{") == "settings are not valid JSON")
        #expect(problem("{}", address: "127.0.2.1/24") == "address 127.0.2.1/24 cannot be parsed")
        #expect(ICMPInventory(icmp: icmp).target(id: "x", name: "r", address: "127.0.2.1", settings: "{}") == .failure(OverrideProblem(key: "id", problem: "id x is not a 32-bit integer")))
    }

    @Test func loadsEnabledICMPDevicesAndSkipsBadOnes() throws {
        let conn = try TestDB.connect()
        let p = TestDB.uniqueName("inv")
        defer { _ = try? conn.query("DELETE FROM devices WHERE name LIKE $1", [p + "%"]) }
        let before = try ICMPInventory.version(conn)
        _ = try conn.query(
            """
            INSERT INTO devices (name, address, enabled, icmp, settings) VALUES
                ($1 || '-plain', '127.0.2.1', true, true, '{}'),
                ($1 || '-v6', '2001:db8::1', true, true, '{"probes": 5, "timeout_ms": 1500, "community": "x"}'),
                ($1 || '-off', '127.0.2.2', false, true, '{}'),
                ($1 || '-snmp-only', '127.0.2.3', true, false, '{}'),
                ($1 || '-bad', '127.0.2.4', true, true, '{"interval_s": 0}'),
                ($1 || '-masked', '127.0.2.5/24', true, true, '{}')
            """, [p])
        #expect(try ICMPInventory.version(conn) > before)

        let (targets, problems) = try ICMPInventory(icmp: icmp).load(conn)
        let mine = targets.filter { $0.name.hasPrefix(p) }
        #expect(mine.map(\.name) == [p + "-plain", p + "-v6", p + "-masked"])
        #expect(mine[0].settings == icmp.settings(for: IPAddress("127.0.2.1")!))
        var v6 = icmp.settings(for: IPAddress("2001:db8::1")!)
        v6.probes = 5
        v6.timeout = .milliseconds(1500)
        #expect(mine[1].settings == v6)
        #expect(mine[1].address == IPAddress("2001:db8::1"))
        // inet keeps a netmask; the host part is what is pinged.
        #expect(mine[2].address == IPAddress("127.0.2.5"))
        let rows = try conn.query("SELECT id, name FROM devices WHERE name = ANY($1::text[]) ORDER BY id", [pgTextArray(mine.map(\.name))])
        #expect(mine.map { [String($0.id), $0.name] } == rows)
        #expect(problems.filter { $0.device.hasPrefix(p) }
            == [ICMPInventory.Problem(device: p + "-bad", message: "settings.interval_s must be an integer in 1…86400, got 0")])
    }

    @Test func configuredDevicesAreSeededWithTheirOverrides() async throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("seed")
        defer { _ = try? conn.query("DELETE FROM devices WHERE name = $1", [name]) }
        let config = try Config.parse(
            """
            [[devices]]
            name = "\(name)"
            address = "2001:db8::7"
            tags = ["core"]
            interval_s = 10
            timeout_ms = 800
            source = "2001:db8::70"
            """, source: "t")
        var logger = Logger(label: "inventory-test")
        logger.logLevel = .warning
        _ = try await Database(info: TestDB.info).prepare(autoMigrate: false, devices: config.devices, logger: logger)
        let settings = { (conn: borrowing PGConnection) throws -> String? in
            try TestDB.scalar(conn, "SELECT settings::text FROM devices WHERE name = $1", [name])
        }
        #expect(try settings(conn) == #"{"source": "2001:db8::70", "interval_s": 10, "timeout_ms": 800}"#)

        // What was seeded loads back as what the config check computed.
        let (targets, _) = try ICMPInventory(icmp: config.icmp).load(conn)
        let seeded = try #require(targets.first { $0.name == name })
        #expect(seeded.settings == (try config.devices[0].probe.settings(for: IPAddress("2001:db8::7")!, icmp: config.icmp).get()))

        // Keys set with SQL stay; an override removed from the file goes; an unchanged device is not rewritten.
        _ = try conn.query("UPDATE devices SET settings = settings || '{\"rack\": \"x\"}' WHERE name = $1", [name])
        var d = config.devices[0]
        d.probe.ints["interval_s"] = nil
        let db = Database(info: TestDB.info)
        try db.seed(conn, [d])
        #expect(try settings(conn) == #"{"rack": "x", "source": "2001:db8::70", "timeout_ms": 800}"#)
        let updated = try TestDB.scalar(conn, "SELECT updated_at FROM devices WHERE name = $1", [name])
        try db.seed(conn, [d])
        #expect(try TestDB.scalar(conn, "SELECT updated_at FROM devices WHERE name = $1", [name]) == updated)
    }

    @Test func versionMovesWithEveryChange() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("ver")
        defer { _ = try? conn.query("DELETE FROM devices WHERE name = $1", [name]) }
        var last = try ICMPInventory.version(conn)
        for sql in [
            "INSERT INTO devices (name, address) VALUES ($1, '127.0.2.1')",
            "UPDATE devices SET settings = '{\"probes\": 1}' WHERE name = $1",
            "DELETE FROM devices WHERE name = $1",
        ] {
            _ = try conn.query(sql, [name])
            let v = try ICMPInventory.version(conn)
            #expect(v > last, "\(sql)")
            last = v
        }
    }
}
