// Decoding sFlow v5 datagrams, the flow collector's per-datagram hot path: throughput and mallocs. One
// iteration decodes one datagram of 8 flow samples (Ethernet/IPv4/TCP raw headers), so records/s is 8×
// the throughput; in steady state a datagram must cost zero allocations.
import Benchmark
import Flow

/// 8 compact flow samples, each with a 128-byte raw packet header record (Ethernet, IPv4, TCP and
/// payload) and an extended switch record, the way a switch exports them.
func sflowDatagram() -> [UInt8] {
    var out: [UInt8] = []
    func u32(_ v: UInt32) { out += [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
    u32(5); u32(1); u32(0xC000_0201)  // version, agent 192.0.2.1
    u32(0); u32(1); u32(100_000); u32(8)  // sub-agent, sequence, uptime, samples
    for i in 0..<8 as Range<UInt32> {
        let header: [UInt8] = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,  // Ethernet
            0x45, 0x00, 0x05, 0xdc, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,  // IPv4, TCP
            0x0a, 0x00, 0x00, UInt8(i), 0x0a, 0x00, 0x01, 0x02,  // 10.0.0.i → 10.0.1.2
            0xc3, 0x50 + UInt8(i), 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,  // TCP
        ] + [UInt8](repeating: 0xab, count: 74)  // payload up to the usual 128-byte capture
        u32(1); u32(32 + 8 + 16 + 128 + 8 + 16)  // flow sample, its length
        u32(i); u32(3); u32(1024); u32(1_000_000 + i); u32(0); u32(3); u32(5); u32(2)
        u32(1); u32(16 + 128); u32(1); u32(1518); u32(4); u32(128); out += header  // raw packet header
        u32(1001); u32(16); u32(10); u32(0); u32(10); u32(0)  // extended switch
    }
    return out
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    Benchmark("sFlow decode: datagram of 8 Ethernet/IPv4/TCP flow samples") { benchmark in
        let datagram = sflowDatagram()
        let bytes = datagram.span.bytes
        var decoder = SFlowDecoder()
        var records = 0
        var bytesSeen: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let info = try! decoder.decode(bytes, receivedMicros: 1_763_683_200_000_000,
                                           flows: { records += 1; bytesSeen &+= $0.scaledBytes &+ UInt64($0.dstPort) },
                                           counters: { _ in })
            precondition(info.flowRecords == 8 && info.error == nil)
        }
        benchmark.stopMeasurement()
        blackHole(records)
        blackHole(bytesSeen)
    }
}
