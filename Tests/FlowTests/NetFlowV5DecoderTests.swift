// NetFlow v5: a hand-built two-record packet, sampling, uptime arithmetic, and rejection of anything
// short or out of range.
import Testing

@testable import Flow

/// Hand-built after the v5 layout (Cisco's NetFlow v5 export format): two records, 1 in 100 sampled.
let v5Fixture = hex(
    """
    0005 0002           # version 5, 2 records
    000F4240            # sysUptime 1 000 000 ms
    6553F100 1DCD6500   # export 1 700 000 000 s + 500 000 000 ns
    00000064            # flow sequence 100
    01 02               # engine type 1, id 2
    4064                # sampling: mode 1 (deterministic), 1 in 100
    # record 1: TCP 10.0.0.1:8080 → 10.0.0.2:80, 1 s long, ending at export
    0A000001 0A000002 0A0000FE   # src, dst, next hop
    0003 0004                    # input, output ifIndex
    0000000A 000003E8            # 10 packets, 1000 bytes
    000F3E58 000F4240            # first 999 000 ms, last 1 000 000 ms
    1F90 0050                    # ports 8080 → 80
    00 1B 06 10                  # pad, TCP flags FIN|SYN|PSH|ACK, proto 6, TOS 0x10
    FDE8 FDE9 18 10 0000         # AS 65000 → 65001, masks /24 /16, pad
    # record 2: UDP 192.168.1.1:53 → 192.168.1.2:5353 whose last time is 1 s after the header's uptime
    C0A80101 C0A80102 00000000
    0001 0000
    00000001 0000004C            # 1 packet, 76 bytes
    000F4240 000F4628            # first 1 000 000, last 1 001 000
    0035 14E9
    00 00 11 00
    0000 0000 00 00 0000
    """)

@Suite("NetFlow v5")
struct NetFlowV5DecoderTests {
    @Test func decodesEveryField() throws {
        let (records, info) = try NetFlowV5Decoder().run(v5Fixture)
        #expect(records.count == 2)
        #expect(info.version == 5 && info.sequence == 100 && info.domain == 0x0102)
        #expect(info.exportSeconds == 1_700_000_000 && info.sysUptimeMillis == 1_000_000)
        #expect(info.records == 2 && info.nextSequence == 102)

        var a = FlowRecord()
        a.receivedMicros = receivedAt
        a.exporter = exporterA
        a.observationDomain = 0x0102
        a.src = FlowIP(v4: 0x0A00_0001)
        a.dst = FlowIP(v4: 0x0A00_0002)
        a.nextHop = FlowIP(v4: 0x0A00_00FE)
        a.inIf = 3
        a.outIf = 4
        a.packets = 10
        a.bytes = 1000
        a.startMicros = 1_699_999_999_500_000
        a.endMicros = 1_700_000_000_500_000
        a.srcPort = 8080
        a.dstPort = 80
        a.tcpFlags = 0x1B
        a.proto = 6
        a.tos = 0x10
        a.srcAS = 65000
        a.dstAS = 65001
        a.samplingRate = 100
        a.source = .netflow5
        #expect(records[0] == a)

        #expect(records[1].src.description == "192.168.1.1" && records[1].dst.description == "192.168.1.2")
        #expect(records[1].nextHop == FlowIP(v4: 0))
        #expect(records[1].proto == 17 && records[1].srcPort == 53 && records[1].dstPort == 5353)
        #expect(records[1].startMicros == 1_700_000_000_500_000)
        #expect(records[1].endMicros == 1_700_000_001_500_000)
        #expect(records[1].scaledBytes == 7600)
    }

    @Test func samplingIntervalZeroMeansUnsampledAndTheOverrideWins() throws {
        var p = v5Fixture
        p[22] = 0
        p[23] = 0
        #expect(try NetFlowV5Decoder().run(p).0.allSatisfy { $0.samplingRate == 1 })
        // Mode 2 (random) with 1 in 0x3FFF: only the low 14 bits are the rate.
        p[22] = 0xBF
        p[23] = 0xFF
        #expect(try NetFlowV5Decoder().run(p).0.allSatisfy { $0.samplingRate == 0x3FFF })
        let overridden = NetFlowV5Decoder { exporter, domain in exporter == exporterA && domain == 0x0102 ? 1000 : nil }
        #expect(try overridden.run(p).0.allSatisfy { $0.samplingRate == 1000 })
        #expect(try overridden.run(p, from: exporterB).0.allSatisfy { $0.samplingRate == 0x3FFF })
    }

    @Test func uptimeWrapBetweenFlowAndExport() throws {
        // The exporter's uptime wrapped 500 ms before export; the flow started 500 ms before the wrap.
        var p = Array(v5Fixture[0..<(24 + 48)])
        p[3] = 1
        p[4...7] = [0, 0, 0x01, 0xF4]  // uptime 500
        p[24 + 24..<24 + 28] = [0xFF, 0xFF, 0xFE, 0x0C]  // first 2^32 − 500
        p[24 + 28..<24 + 32] = [0, 0, 0x01, 0xF4]  // last 500
        let r = try NetFlowV5Decoder().run(p).0[0]
        #expect(r.startMicros == 1_699_999_999_500_000)
        #expect(r.endMicros == 1_700_000_000_500_000)
    }

    @Test func rejectsOtherVersionsAndImpossibleCounts() {
        var p = v5Fixture
        p[1] = 9
        #expect(throws: FlowDecodeError.unknownVersion(9)) { try NetFlowV5Decoder().run(p) }
        p = v5Fixture
        p[3] = 31
        #expect(throws: FlowDecodeError.malformed("v5 record count 31, at most 30")) { try NetFlowV5Decoder().run(p) }
        p[3] = 3
        #expect(throws: FlowDecodeError.truncated(needed: 24 + 3 * 48, available: v5Fixture.count)) {
            try NetFlowV5Decoder().run(p)
        }
    }

    @Test func everyTruncationIsAnErrorWithoutRecords() {
        for cut in 0..<v5Fixture.count {
            var emitted = 0
            #expect(throws: FlowDecodeError.self) {
                try NetFlowV5Decoder().decode(Array(v5Fixture[0..<cut]).span.bytes, exporter: exporterA, receivedMicros: 0) { _ in
                    emitted += 1
                }
            }
            #expect(emitted == 0)
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix(state: 5)
        for _ in 0..<3_000 {
            var p = (0..<Int.random(in: 0...(24 + 31 * 48), using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if p.count >= 4 {
                p[0] = 0
                p[1] = 5
                p[2] = 0
                p[3] = UInt8.random(in: 0...31, using: &rng)
            }
            var n = 0
            if let info = try? NetFlowV5Decoder().decode(p.span.bytes, exporter: exporterA, receivedMicros: 0, emit: { _ in n += 1 }) {
                #expect(info.records == n && n <= 30)
            }
        }
    }
}
