// The schema against the real TimescaleDB: migrations 2 to 6 apply on top of databases holding
// rows, device_availability is exact on hand-made event sequences, device_state reports the current run,
// and every kind of change to devices moves sotp.inventory_version.
import Foundation
@testable import Sink
import Testing
import TestSupport

/// A database of its own (dropped when `body` returns), for tests that need to control its version.
func withScratchDatabase(_ body: (borrowing PGConnection) throws -> Void) throws {
    let url = try TestDB.createScratchDatabase()
    defer { TestDB.dropDatabase(url) }
    let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
    try body(conn)
}

@Suite("Schema")
struct SchemaTests {
    @Test func migrationTwoAppliesOnTopOfOneWithData() throws {
        try withScratchDatabase { (conn) throws in
            #expect(try Schema.migrate(conn, upTo: 1) == (0, 1))
            #expect(try Schema.currentVersion(conn) == 1)
            #expect(throws: SchemaError.self) { try Schema.check(conn) }
            try conn.execute(
                """
                INSERT INTO devices (name, address) VALUES ('r1', '127.0.2.1');
                INSERT INTO icmp_samples (time, device_id, address, sent, received, loss_pct)
                    VALUES ('2024-01-01 00:00:00+00', 1, '127.0.2.1', 3, 3, 0);
                """)
            #expect(try Schema.migrate(conn, upTo: 2) == (1, 2))
            #expect(throws: SchemaError.self) { try Schema.check(conn) }
            // The old row gets the new columns' defaults; new rows can carry them.
            #expect(try conn.query("SELECT icmp_errors, late FROM icmp_samples") == [["0", "0"]])
            try conn.execute(
                """
                INSERT INTO icmp_samples (time, device_id, address, sent, received, loss_pct, icmp_errors, late)
                    VALUES ('2024-01-01 00:00:30+00', 1, '127.0.2.1', 3, 1, 66.7, 1, 1)
                """)
            #expect(try TestDB.scalar(conn, "SELECT version FROM sotp.inventory_version") == "1")
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'device_events'") == "1")
            #expect(throws: PGError.self) {
                try conn.execute("INSERT INTO device_events (time, device_id, kind, state) VALUES (now(), 1, 'icmp', 'sideways')")
            }
            #expect(try Schema.migrate(conn, upTo: 2) == (2, 2))
        }
    }

    @Test func migrationThreeWidensFlowsAndAddsExportersAndCounters() throws {
        try withScratchDatabase { (conn) throws in
            #expect(try Schema.migrate(conn, upTo: 2) == (0, 2))
            try conn.execute(
                """
                INSERT INTO flows (time, exporter, src_addr, dst_addr, packets, bytes, in_if)
                    VALUES ('2024-01-01 00:00:00+00', '127.0.0.1', '127.0.0.2', '127.0.0.3', 1, 64, 7)
                """)
            #expect(try Schema.migrate(conn, upTo: 3) == (2, 3))
            // An existing row keeps its values; the widened columns take unsigned 32-bit values.
            #expect(try conn.query("SELECT in_if, flow_source FROM flows") == [["7", nil]])
            try conn.execute(
                """
                INSERT INTO flows (time, exporter, src_addr, dst_addr, packets, bytes, in_if, out_if, src_as, dst_as,
                                   src_mac, dst_mac, next_hop, observation_domain, direction, flow_source, flow_end, vlan)
                    VALUES (now(), '::1', '::2', '::3', 1, 1500, 4294967295, 4294967295, 4200000000, 65001,
                            '00:11:22:33:44:55', 'aa:bb:cc:dd:ee:ff', '::4', 4294967295, 1, 10, now(), 4094)
                """)
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'interface_counters'") == "1")
            try conn.execute("INSERT INTO flow_exporters (exporter, observation_domain, protocol) VALUES ('127.0.0.1', 0, 9)")
            #expect(try Schema.migrate(conn, upTo: 3) == (3, 3))
        }
    }

    @Test func migrationFourAddsFlowsOneMinute() throws {
        try withScratchDatabase { (conn) throws in
            #expect(try Schema.migrate(conn, upTo: 3) == (0, 3))
            try conn.execute("INSERT INTO flows (time, exporter, src_addr, dst_addr, packets, bytes) VALUES (now(), '127.0.0.1', '127.0.0.2', '127.0.0.3', 1, 64)")
            #expect(try Schema.migrate(conn, upTo: 4) == (3, 4))
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'flows_1m'") == "1")
            // Every key column may be NULL (outside the key); the sums may not.
            try conn.execute("INSERT INTO flows_1m (time, protocol, packets, bytes, flows) VALUES ('2024-01-01 00:00:00+00', 6, 10, 15000, 2)")
            #expect(throws: PGError.self) { try conn.execute("INSERT INTO flows_1m (time, packets, bytes) VALUES (now(), 1, 1)") }
            #expect(try conn.query("SELECT exporter, protocol, packets, bytes, flows FROM flows_1m") == [[nil, "6", "10", "15000", "2"]])
            // Retention walks the hypertables list, which names device_events, interface_counters and flows_1m.
            _ = try Schema.applyRetention(conn, Retention(), license: .apache)
            #expect(try Schema.migrate(conn, upTo: 4) == (4, 4))
        }
    }

    /// The tables land in the schema the migrating role's search_path picks (`sotp` for the role
    /// `sotp`): retention must find them there and really drop an expired chunk.
    @Test func retentionDropsExpiredChunksWhereverTheTablesLive() throws {
        try withScratchDatabase { (conn) throws in
            try Schema.migrate(conn)
            let schema = try TestDB.scalar(conn, "SELECT hypertable_schema FROM timescaledb_information.hypertables WHERE hypertable_name = 'icmp_samples'")
            let current = try TestDB.scalar(conn, "SELECT current_schema()")
            #expect(schema == current, "icmp_samples in \(schema ?? "nil")")
            try conn.execute("""
                INSERT INTO icmp_samples (time, address, sent, received, loss_pct) VALUES
                    (now() - INTERVAL '100 days', '127.0.0.1', 3, 3, 0), (now(), '127.0.0.1', 3, 3, 0)
                """)
            let dropped = try Schema.applyRetention(conn, Retention(metricsDays: 90), license: .apache)
            #expect(dropped >= 1)
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM icmp_samples") == "1")
        }
    }

    @Test func migrationFiveLeavesFlowsOneAscendingTimeIndex() throws {
        try withScratchDatabase { (conn) throws in
            #expect(try Schema.migrate(conn, upTo: 4) == (0, 4))
            try conn.execute("INSERT INTO flows (time, exporter, src_addr, dst_addr, packets, bytes) VALUES (now(), '127.0.0.1', '127.0.0.2', '127.0.0.3', 1, 64)")
            #expect(try Schema.migrate(conn, upTo: 5) == (4, 5))
            let defs = try conn.query("SELECT indexdef FROM pg_indexes WHERE tablename = 'flows' ORDER BY indexname").map { $0[0] ?? "" }
            #expect(defs.count == 1 && defs[0].hasSuffix("USING btree (\"time\")"), "\(defs)")
            // The chunk that already held a row got the new index too.
            let chunkDefs = try conn.query("""
                SELECT indexdef FROM pg_indexes i JOIN timescaledb_information.chunks c
                  ON i.schemaname = c.chunk_schema AND i.tablename = c.chunk_name WHERE c.hypertable_name = 'flows'
            """).map { $0[0] ?? "" }
            #expect(chunkDefs.count == 1 && !chunkDefs[0].contains("DESC"), "\(chunkDefs)")
        }
    }

    @Test func migrationSixWidensSyslogAndTraps() throws {
        try withScratchDatabase { (conn) throws in
            #expect(try Schema.migrate(conn, upTo: 5) == (0, 5))
            try conn.execute("INSERT INTO syslog (time, received_at, source, message) VALUES (now(), now(), '127.0.0.1', 'before')")
            try conn.execute("INSERT INTO snmp_traps (time, source, version, trap_oid) VALUES (now(), '127.0.0.1', 2, '1.3.6.1.6.3.1.1.5.1')")
            #expect(try Schema.migrate(conn) == (5, Schema.latestVersion))
            try Schema.check(conn)
            // The rows from before read as parsed RFC 5424 messages with nothing raw.
            #expect(try conn.query("SELECT parse_status, raw IS NULL, device_id FROM syslog") == [["rfc5424", "t", nil]])
            try conn.execute("""
                INSERT INTO syslog (time, received_at, source, message, parse_status, raw, transport)
                VALUES (now(), now(), '::1', 'x', 'unparsed', '\\x00ff', 'tcp')
                """)
            try conn.execute("""
                INSERT INTO snmp_traps (time, received_at, source, version, pdu, agent_address, uptime_cs, request_id, user_name)
                VALUES (now(), now(), '::1', 3, 'inform', '127.0.0.2', 4242, 7, 'ops')
                """)
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM snmp_traps WHERE pdu = 'inform' AND uptime_cs = 4242") == "1")
            // Migration 7: trap names, null for the rows from before.
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM snmp_traps WHERE trap_name IS NULL") == "2")
            for table in ["syslog", "snmp_traps"] {
                let defs = try conn.query("SELECT indexdef FROM pg_indexes WHERE tablename = $1", [table]).map { $0[0] ?? "" }
                #expect(defs.count == 2 && defs.allSatisfy { !$0.contains("DESC") }, "\(defs)")
            }
        }
    }
}

@Suite("device_availability and device_state")
struct AvailabilityTests {
    /// A device id no other test uses, with `events` (minutes after 2024-01-01 00:00 UTC, state).
    func withEvents(_ events: [(Int, String)], _ body: (borrowing PGConnection, Int32) throws -> Void) throws {
        let conn = try TestDB.connect()
        let id = Int32.random(in: 1_000_000...Int32.max)
        defer { try? conn.execute("DELETE FROM device_events WHERE device_id = \(id)") }
        for (minute, state) in events {
            _ = try conn.query(
                "INSERT INTO device_events (time, device_id, address, kind, state, reason) VALUES ('2024-01-01 00:00:00+00'::timestamptz + $1::interval, $2, '127.0.2.7', 'icmp', $3, 'test')",
                ["\(minute) minutes", "\(id)", state])
        }
        try body(conn, id)
    }

    /// (up, down, unknown, availability) over minutes [from, to) after 2024-01-01 00:00 UTC.
    func availability(_ conn: borrowing PGConnection, _ id: Int32, _ from: Int, _ to: Int) throws -> [Double?] {
        let rows = try conn.query(
            """
            SELECT * FROM device_availability($1, '2024-01-01 00:00:00+00'::timestamptz + $2::interval,
                                                  '2024-01-01 00:00:00+00'::timestamptz + $3::interval)
            """, ["\(id)", "\(from) minutes", "\(to) minutes"])
        #expect(rows.count == 1)
        return rows[0].map { $0.flatMap(Double.init) }
    }

    @Test func upDownUpOverAnHour() throws {
        try withEvents([(0, "up"), (10, "down"), (15, "up")]) { (conn, id) throws in
            #expect(try availability(conn, id, 0, 60) == [3300, 300, 0, 55.0 / 60.0])
        }
    }

    @Test func timeBeforeTheFirstEventIsUnknown() throws {
        try withEvents([(0, "up"), (10, "down"), (15, "up")]) { (conn, id) throws in
            #expect(try availability(conn, id, -10, 60) == [3300, 300, 600, 55.0 / 60.0])
            // Entirely before any event: all unknown, availability NULL.
            #expect(try availability(conn, id, -30, -10) == [0, 0, 1200, nil])
        }
    }

    @Test func windowInsideOneState() throws {
        try withEvents([(0, "up"), (10, "down"), (15, "up")]) { (conn, id) throws in
            #expect(try availability(conn, id, 11, 14) == [0, 180, 0, 0])
            #expect(try availability(conn, id, 20, 30) == [600, 0, 0, 1])
            // An event exactly at the window's start is in force from that instant.
            #expect(try availability(conn, id, 10, 15) == [0, 300, 0, 0])
            // …and one exactly at its end is outside it.
            #expect(try availability(conn, id, 5, 10) == [300, 0, 0, 1])
        }
    }

    @Test func repeatedStatesTiesEmptyWindowsAndOtherDevices() throws {
        // A repeated 'up' changes nothing; 'down' and 'up' at the same instant: 'down' wins.
        try withEvents([(0, "up"), (5, "up"), (20, "up"), (20, "down")]) { (conn, id) throws in
            #expect(try availability(conn, id, 0, 30) == [1200, 600, 0, 2.0 / 3.0])
            #expect(try availability(conn, id, 25, 30) == [0, 300, 0, 0])
            #expect(try availability(conn, id, 30, 30) == [0, 0, 0, nil])
            #expect(try availability(conn, id, 30, 10) == [0, 0, 0, nil])
            // Another device's events do not leak in.
            #expect(try availability(conn, id &- 1, 0, 30) == [0, 0, 1800, nil])
        }
    }

    @Test func timeAfterNowIsUnknown() throws {
        try withEvents([(0, "up")]) { (conn, id) throws in
            let rows = try conn.query(
                "SELECT * FROM device_availability($1, now() - INTERVAL '1 hour', now() + INTERVAL '1 hour')", ["\(id)"])
            #expect(rows[0].map { $0.flatMap(Double.init) } == [3600, 0, 3600, 1])
        }
    }

    @Test func deviceStateIsTheCurrentRunSinceItsFirstEvent() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("state")
        guard let idText = try TestDB.scalar(conn, "INSERT INTO devices (name, address, icmp) VALUES ($1, '127.0.2.8', false) RETURNING id", [name]),
              let id = Int32(idText)
        else { Issue.record("no device id"); return }
        defer {
            try? conn.execute("DELETE FROM device_events WHERE device_id = \(id)")
            _ = try? conn.query("DELETE FROM devices WHERE name = $1", [name])
        }
        let state = { () throws -> [String?] in
            try conn.query("SELECT state, since AT TIME ZONE 'UTC', last_event AT TIME ZONE 'UTC', reason FROM device_state WHERE device_id = \(id)")[0]
        }
        #expect(try state() == [nil, nil, nil, nil])
        for (time, s, reason) in [("00:00", "up", "a"), ("00:10", "down", "b"), ("00:15", "up", "c"), ("00:20", "up", "restart")] {
            _ = try conn.query(
                "INSERT INTO device_events VALUES ($1::timestamptz, $2, '127.0.2.8', 'icmp', $3, $4)",
                ["2024-01-01 \(time)+00", "\(id)", s, reason])
        }
        #expect(try state() == ["up", "2024-01-01 00:15:00", "2024-01-01 00:20:00", "restart"])
    }
}

@Suite("sotp.inventory_version")
struct InventoryVersionTests {
    @Test func everyKindOfChangeToDevicesMovesIt() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("ver")
        defer { _ = try? conn.query("DELETE FROM devices WHERE name = $1", [name]) }
        func version() throws -> Int64 { Int64(try TestDB.scalar(conn, "SELECT version FROM sotp.inventory_version") ?? "") ?? -1 }
        // Other tests change devices too, so each step only proves the version moved forward.
        var last = try version()
        #expect(last >= 1)
        for sql in [
            "INSERT INTO devices (name, address) VALUES ($1, '127.0.2.9')",
            "UPDATE devices SET settings = '{\"probes\": 5}' WHERE name = $1",
            "DELETE FROM devices WHERE name = $1",
        ] {
            _ = try conn.query(sql, [name])
            let now = try version()
            #expect(now > last, "\(sql)")
            last = now
        }
        // Seen by another session only once committed: a reader polling it never runs ahead of the data.
        let other = try TestDB.connect()
        try conn.execute("BEGIN")
        _ = try conn.query("INSERT INTO devices (name, address) VALUES ($1, '127.0.2.9')", [name])
        #expect(try TestDB.scalar(other, "SELECT count(*) FROM devices WHERE name = $1", [name]) == "0")
        try conn.execute("COMMIT")
        #expect(try version() > last)
        #expect(try TestDB.scalar(other, "SELECT count(*) FROM devices WHERE name = $1", [name]) == "1")
    }

    @Test func truncateMovesItToo() throws {
        // TRUNCATE on the shared devices table would disturb other tests: a database of its own.
        try withScratchDatabase { (conn) throws in
            try Schema.migrate(conn)
            try conn.execute("INSERT INTO devices (name, address) VALUES ('a', '127.0.2.1')")
            #expect(try TestDB.scalar(conn, "SELECT version FROM sotp.inventory_version") == "2")
            try conn.execute("TRUNCATE devices")
            #expect(try TestDB.scalar(conn, "SELECT version FROM sotp.inventory_version") == "3")
        }
    }
}
