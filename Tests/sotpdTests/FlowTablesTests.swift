// flows_1m against the real TimescaleDB: aggregates encoded by encodeAggregate go through a real Sink
// and read back with their sums, with NULL outside the key, and with the key columns matching flows'.
import Flow
import Foundation
import Logging
import Sink
@testable import sotpd
import Testing
import TestSupport

@Suite("flows_1m", .serialized)
struct FlowTablesTests {
    @Test func aggregateKeysAreFlowsColumnsOfTheSameType() throws {
        let conn = try TestDB.connect()
        let types = { (conn: borrowing PGConnection, table: String) throws -> [String: String] in
            var out: [String: String] = [:]
            for row in try conn.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", [table]) {
                out[row[0]!] = row[1]!
            }
            return out
        }
        let flows = try types(conn, "flows"), flows1m = try types(conn, "flows_1m")
        for name in FlowAggregationKeys.names {
            #expect(flows[name] != nil && flows[name] == flows1m[name], "\(name): flows \(flows[name] ?? "-"), flows_1m \(flows1m[name] ?? "-")")
        }
        #expect(Set(flows1m.keys) == Set(FlowTables.flows1m.columns.map(\.name)))
        #expect(FlowTables.flows1m.columns.map(\.name) == ["time"] + FlowAggregationKeys.names + ["packets", "bytes", "flows"])
    }

    @Test(.timeLimit(.minutes(2)))
    func aggregatesGoThroughTheSinkAndReadBack() throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let info = PGConnectInfo(url: url, password: TestDB.password)
        let conn = try PGConnection(info)
        try Schema.migrate(conn)

        var settings = SinkSettings(connection: info, spoolDirectory: TestDB.tempDir("spool"))
        settings.flushInterval = .milliseconds(50)
        settings.spoolFsync = .never
        var logger = Logger(label: "flows-1m-test")
        logger.logLevel = .warning
        let sink = try Sink(settings: settings, logger: logger)
        sink.start()
        let table = sink.table(FlowTables.flows1m)

        let minute: Int64 = 1_704_067_200_000_000  // 2024-01-01 00:00 UTC
        var agg = FlowAggregator(keys: FlowAggregationKeys(names: ["exporter", "src_addr", "dst_port", "protocol", "next_hop", "src_mac", "direction"])!, maxEntries: 100)
        let emit = { (a: FlowAggregate) in _ = sink.append(table) { encodeAggregate(a, &$0) } }
        func add(_ change: (inout FlowRecord) -> Void, override: UInt32? = nil) {
            var r = FlowRecord()
            r.receivedMicros = minute + 7_000_000
            r.exporter = FlowIP(v4: 0x7F00_0009)
            r.src = FlowIP(v4: 0x7F01_0101)
            r.dst = FlowIP(v4: 0x7F02_0202)
            r.dstPort = 443
            r.proto = 6
            r.packets = 2
            r.bytes = 3000
            r.samplingRate = 100
            r.direction = 0
            r.inIf = 5
            change(&r)
            agg.add(r, samplingOverride: override, emit: emit)
        }
        // Two records of one key (interfaces differ: not in the key), sampled 1 in 100.
        add { _ in }
        add { $0.inIf = 6; $0.bytes = 1000; $0.packets = 1 }
        // IPv6, no source address, a next hop and MAC, unknown direction, overridden to unsampled.
        add({
            $0.exporter = FlowIP(v6High: 0x2001_0db8 << 32, v6Low: 9); $0.src = .none; $0.dstPort = 53; $0.proto = 17
            $0.nextHop = FlowIP(v6High: 0xfe80 << 48, v6Low: 1); $0.srcMAC = 0x0011_2233_4455; $0.direction = 255
        }, override: 1)
        // The next minute closes the first; the rest is written at stop.
        add { $0.receivedMicros = minute + 61_000_000; $0.bytes = 64; $0.packets = 1; $0.samplingRate = 1 }
        agg.flushAll(emit: emit)
        #expect(sink.drain(timeout: .seconds(60)))
        sink.shutdown(timeout: .seconds(10))

        let rows = try conn.query("""
            SELECT extract(epoch FROM time)::int8, host(exporter), observation_domain, host(src_addr), dst_addr, src_port,
                   dst_port, protocol, tos, tcp_flags, in_if, out_if, src_as, dst_as, host(next_hop), vlan, src_mac::text,
                   dst_mac, direction, packets, bytes, flows
            FROM flows_1m ORDER BY time, bytes
        """)
        let t0 = String(minute / 1_000_000), t1 = String(minute / 1_000_000 + 60)
        #expect(rows == [
            [t0, "2001:db8::9", nil, "0.0.0.0", nil, nil, "53", "17", nil, nil, nil, nil, nil, nil, "fe80::1", nil, "00:11:22:33:44:55", nil, nil, "2", "3000", "1"],
            [t0, "127.0.0.9", nil, "127.1.1.1", nil, nil, "443", "6", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, "0", "300", "400000", "2"],
            [t1, "127.0.0.9", nil, "127.1.1.1", nil, nil, "443", "6", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, "0", "1", "64", "1"],
        ])
        #expect(agg.stats.rows == 3 && agg.stats.minuteFlushes == 1)
    }
}
