// FlowAggregator: sums per key and arrival minute, scaling by sampling rate (or the override), fields
// outside the key not splitting rows, and each way a table is emitted (new minute, full, idle, stop).
@testable import Flow
import Testing

/// 2024-01-01 00:00:00 UTC in µs: the start of a minute.
let minute0: Int64 = 1_704_067_200_000_000

/// A TCP record 10.0.0.1:1234 → 10.0.0.2:80 from exporter 192.0.2.1, received `at`.
func record(at: Int64 = minute0 + 1_000_000, packets: UInt64 = 1, bytes: UInt64 = 100, rate: UInt32 = 1,
            _ change: (inout FlowRecord) -> Void = { _ in }) -> FlowRecord {
    var r = FlowRecord()
    r.receivedMicros = at
    r.exporter = FlowIP(v4: 0xC000_0201)
    r.src = FlowIP(v4: 0x0A00_0001)
    r.dst = FlowIP(v4: 0x0A00_0002)
    r.srcPort = 1234
    r.dstPort = 80
    r.proto = 6
    r.inIf = 5
    r.outIf = 7
    r.packets = packets
    r.bytes = bytes
    r.samplingRate = rate
    change(&r)
    return r
}

/// The aggregates `body` emits, in a stable order (by bytes).
func emitted(_ body: (inout [FlowAggregate]) -> Void) -> [FlowAggregate] {
    var out: [FlowAggregate] = []
    body(&out)
    return out.sorted { $0.bytes < $1.bytes }
}

@Suite("FlowAggregator")
struct FlowAggregatorTests {
    @Test func namesAreTheFlowsColumns() {
        #expect(FlowAggregationKeys(names: ["exporter", "in_if", "protocol"]) == [.exporter, .inIf, .proto])
        #expect(FlowAggregationKeys(names: ["src_addr", "src_addr"]) == .srcAddr)
        #expect(FlowAggregationKeys(names: []) == [])
        #expect(FlowAggregationKeys(names: ["exporter", "src_ip"]) == nil)
        #expect(FlowAggregationKeys(name: "Protocol") == nil)
        #expect(FlowAggregationKeys.names.count == 18)
        #expect(FlowAggregationKeys(names: FlowAggregationKeys.names) == FlowAggregationKeys(rawValue: 0x3_FFFF))
        #expect(FlowAggregationKeys([.dstPort, .exporter]).description == "exporter, dst_port")
    }

    @Test func recordsOfOneKeyAndMinuteSumIntoOneRow() {
        var agg = FlowAggregator(keys: [.exporter, .srcAddr, .dstAddr, .proto], maxEntries: 100)
        let rows = emitted { out in
            agg.add(record(packets: 1, bytes: 100)) { out.append($0) }
            agg.add(record(at: minute0 + 59_999_999, packets: 2, bytes: 300)) { out.append($0) }
            agg.add(record(at: minute0, packets: 3, bytes: 600)) { out.append($0) }
            #expect(out.isEmpty)
            #expect(agg.stats.entries == 1)
            agg.flushAll { out.append($0) }
        }
        #expect(rows.count == 1)
        let a = rows[0]
        #expect(a.minuteMicros == minute0)
        #expect((a.packets, a.bytes, a.flows) == (6, 1000, 3))
        #expect(a.exporter == FlowIP(v4: 0xC000_0201) && a.src == FlowIP(v4: 0x0A00_0001) && a.dst == FlowIP(v4: 0x0A00_0002))
        #expect(a.proto == 6)
        #expect(agg.stats.records == 3 && agg.stats.rows == 1 && agg.stats.entries == 0)
    }

    @Test func countsAreScaledByTheSamplingRateOrTheOverride() {
        var agg = FlowAggregator(keys: .exporter, maxEntries: 100)
        let rows = emitted { out in
            agg.add(record(packets: 1, bytes: 100, rate: 0)) { out.append($0) }  // unknown: ×1
            agg.add(record(packets: 1, bytes: 100, rate: 1)) { out.append($0) }
            agg.add(record(packets: 2, bytes: 100, rate: 10)) { out.append($0) }  // ×10
            agg.flushAll { out.append($0) }
        }
        #expect(rows.count == 1)
        #expect((rows[0].packets, rows[0].bytes, rows[0].flows) == (22, 1200, 3))

        // The override replaces what the record says, in both directions.
        let overridden = emitted { out in
            agg.add(record(packets: 1, bytes: 100, rate: 10), samplingOverride: 1000) { out.append($0) }
            agg.add(record(packets: 1, bytes: 100, rate: 10), samplingOverride: 1) { out.append($0) }
            agg.add(record(packets: 1, bytes: 100, rate: 10), samplingOverride: 0) { out.append($0) }
            agg.flushAll { out.append($0) }
        }
        #expect((overridden[0].packets, overridden[0].bytes) == (1002, 100_200))
    }

    @Test func fieldsOutsideTheKeyDoNotSplitRowsAndReadAsZero() {
        var agg = FlowAggregator(keys: [.dstAddr, .proto], maxEntries: 100)
        let rows = emitted { out in
            // Same destination and protocol: one row, whatever the rest says.
            agg.add(record(bytes: 10) { $0.src = FlowIP(v6High: 0x2001_0db8 << 32, v6Low: 1); $0.srcPort = 1; $0.exporter = FlowIP(v4: 9) }) { out.append($0) }
            agg.add(record(bytes: 20) { $0.inIf = 99; $0.tcpFlags = 2; $0.direction = 1; $0.srcMAC = 0x1122_3344_5566 }) { out.append($0) }
            // Another destination, and the same destination over UDP: rows of their own.
            agg.add(record(bytes: 1000) { $0.dst = FlowIP(v4: 0x0A00_0003) }) { out.append($0) }
            agg.add(record(bytes: 2000) { $0.proto = 17 }) { out.append($0) }
            agg.flushAll { out.append($0) }
        }
        #expect(rows.map(\.bytes) == [30, 1000, 2000])
        #expect(rows.map(\.flows) == [2, 1, 1])
        #expect(rows.map(\.dst) == [FlowIP(v4: 0x0A00_0002), FlowIP(v4: 0x0A00_0003), FlowIP(v4: 0x0A00_0002)])
        #expect(rows.map(\.proto) == [6, 6, 17])
        let a = rows[0]
        #expect(a.keys == [.dstAddr, .proto])
        #expect(a.exporter.isNone && a.src.isNone && a.nextHop.isNone)
        #expect(a.srcPort == 0 && a.dstPort == 0 && a.inIf == 0 && a.outIf == 0 && a.tcpFlags == 0)
        #expect(a.direction == 0 && a.srcMAC == 0 && a.vlan == 0 && a.srcAS == 0)
    }

    @Test func everyFieldRoundTripsThroughTheKey() {
        var agg = FlowAggregator(keys: FlowAggregationKeys(names: FlowAggregationKeys.names)!, maxEntries: 10)
        let r = record {
            $0.observationDomain = 0xFFFF_FFFE; $0.nextHop = FlowIP(v6High: 0xfe80 << 48, v6Low: 0xdead_beef)
            $0.src = FlowIP(v6High: 0x2001_0db8_0000_0001, v6Low: 2); $0.srcPort = 65535; $0.dstPort = 1
            $0.tos = 0xb8; $0.tcpFlags = 0x12; $0.inIf = 0xFFFF_FFFF; $0.outIf = 3; $0.srcAS = 4_200_000_000
            $0.dstAS = 65001; $0.vlan = 4094; $0.srcMAC = 0xFFFF_FFFF_FFFF; $0.dstMAC = 0x0011_2233_4455; $0.direction = 255
        }
        let rows = emitted { out in
            agg.add(r) { out.append($0) }
            agg.flushAll { out.append($0) }
        }
        let a = rows[0]
        #expect(a.exporter == r.exporter && a.observationDomain == r.observationDomain && a.src == r.src && a.dst == r.dst)
        #expect(a.srcPort == r.srcPort && a.dstPort == r.dstPort && a.proto == r.proto && a.tos == r.tos && a.tcpFlags == r.tcpFlags)
        #expect(a.inIf == r.inIf && a.outIf == r.outIf && a.srcAS == r.srcAS && a.dstAS == r.dstAS && a.nextHop == r.nextHop)
        #expect(a.vlan == r.vlan && a.srcMAC == r.srcMAC && a.dstMAC == r.dstMAC && a.direction == r.direction)
        // The same address as IPv4 and as its IPv6 form are different keys.
        var two = FlowAggregator(keys: .srcAddr, maxEntries: 10)
        var n = 0
        two.add(record { $0.src = FlowIP(v4: 1) }) { _ in }
        two.add(record { $0.src = FlowIP(v6High: 0, v6Low: 1) }) { _ in }
        two.flushAll { _ in n += 1 }
        #expect(n == 2)
    }

    @Test func aRecordOfALaterMinuteEmitsTheEarlierOne() {
        var agg = FlowAggregator(keys: .dstPort, maxEntries: 100)
        var out: [FlowAggregate] = []
        agg.add(record(bytes: 1) { $0.dstPort = 80 }) { out.append($0) }
        agg.add(record(bytes: 2) { $0.dstPort = 443 }) { out.append($0) }
        agg.add(record(at: minute0 + 60_000_000, bytes: 4)) { out.append($0) }
        #expect(out.map(\.bytes).sorted() == [1, 2])
        #expect(out.allSatisfy { $0.minuteMicros == minute0 })
        #expect(agg.stats.minuteFlushes == 1 && agg.stats.entries == 1)
        out = []
        agg.flushAll { out.append($0) }
        #expect(out.map(\.minuteMicros) == [minute0 + 60_000_000])
        #expect(out.map(\.bytes) == [4])

        // A clock stepped back: the held minute is emitted too (its rows sum with the earlier ones).
        out = []
        agg.add(record(at: minute0 + 150_000_000)) { out.append($0) }
        agg.add(record(at: minute0 + 10_000_000)) { out.append($0) }
        #expect(out.map(\.minuteMicros) == [minute0 + 120_000_000])
        #expect(agg.stats.minuteFlushes == 2)
    }

    @Test func aFullTableIsEmittedEarlyAndCounted() {
        var agg = FlowAggregator(keys: .dstPort, maxEntries: 2)
        var out: [FlowAggregate] = []
        agg.add(record(bytes: 1) { $0.dstPort = 1 }) { out.append($0) }
        agg.add(record(bytes: 2) { $0.dstPort = 2 }) { out.append($0) }
        // Full, but a key it holds still sums in place.
        agg.add(record(bytes: 10) { $0.dstPort = 1 }) { out.append($0) }
        #expect(out.isEmpty && agg.stats.earlyFlushes == 0)
        // A new key: everything is emitted first, then the new key is the only entry.
        agg.add(record(bytes: 100) { $0.dstPort = 3 }) { out.append($0) }
        #expect(out.map(\.bytes).sorted() == [2, 11])
        #expect(agg.stats.earlyFlushes == 1 && agg.stats.entries == 1 && agg.stats.rows == 2)
        // Port 1 comes back in the same minute: a second, partial row for it.
        agg.add(record(bytes: 1000) { $0.dstPort = 1 }) { out.append($0) }
        agg.flushAll { out.append($0) }
        #expect(out.filter { $0.dstPort == 1 }.map(\.bytes).reduce(0, +) == 1011)
        #expect(out.allSatisfy { $0.minuteMicros == minute0 })
        #expect(agg.stats.records == 5 && agg.stats.rows == 4 && agg.stats.earlyFlushes == 1)
    }

    @Test func flushEmitsOnlyOnceTheMinuteHasEnded() {
        var agg = FlowAggregator(keys: .exporter, maxEntries: 100)
        var out: [FlowAggregate] = []
        agg.flush(endedBefore: minute0 + 600_000_000) { out.append($0) }  // empty: nothing, not counted
        agg.add(record(at: minute0 + 30_000_000)) { out.append($0) }
        agg.flush(endedBefore: minute0 + 59_999_999) { out.append($0) }
        #expect(out.isEmpty && agg.stats.idleFlushes == 0)
        agg.flush(endedBefore: minute0 + 60_000_000) { out.append($0) }
        #expect(out.count == 1 && agg.stats.idleFlushes == 1 && agg.stats.entries == 0)
        // The next record, in the same minute, starts a new row for it.
        agg.add(record(at: minute0 + 59_000_000)) { out.append($0) }
        #expect(out.count == 1 && agg.stats.entries == 1 && agg.stats.minuteFlushes == 0)
    }

    @Test func flushAllEmitsEverythingOnce() {
        var agg = FlowAggregator(keys: .srcPort, maxEntries: 1000)
        for p in 0..<500 { agg.add(record { $0.srcPort = UInt16(p) }) { _ in Issue.record("emitted early") } }
        var ports = Set<UInt16>()
        agg.flushAll { ports.insert($0.srcPort) }
        #expect(ports.count == 500)
        var again = 0
        agg.flushAll { _ in again += 1 }
        #expect(again == 0)
        #expect(agg.stats == {
            var s = FlowAggregatorStats()
            s.records = 500; s.rows = 500
            return s
        }())
    }

    /// README's memory figure for flow.aggregate_max_entries: 144 bytes a bucket, and the Dictionary's
    /// buckets are the power of two at or above 4/3 × the entries reserved.
    @Test func entrySizeIsWhatTheReadmeSays() {
        #expect(MemoryLayout<FlowAggregateKey>.stride + MemoryLayout<FlowAggregateSums>.stride == 144)
        var d: [FlowAggregateKey: FlowAggregateSums] = [:]
        d.reserveCapacity(100_000)
        #expect(d.capacity == 196_608)  // 262,144 buckets × 3/4
    }

    @Test func minutesBeforeTheEpochFloor() {
        var agg = FlowAggregator(keys: [], maxEntries: 10)
        var out: [FlowAggregate] = []
        agg.add(record(at: -1)) { out.append($0) }
        agg.flushAll { out.append($0) }
        #expect(out.map(\.minuteMicros) == [-60_000_000])
    }
}
