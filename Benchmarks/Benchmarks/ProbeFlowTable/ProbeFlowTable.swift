// The capture probe's per-packet cost in user space: a captured frame parsed and counted into FlowCache,
// per scaled iteration, with mallocs per packet in steady state (expected 0). The frames are what a
// ring hands over (Ethernet, IPv4, UDP or TCP, cut at 256 bytes), round robin over FLOWS flows, the
// worst case for the caches (every packet another flow). Also a flow churn case: TCP flows that end with
// FIN every 10 packets, so slots and index entries are freed and reused all the time.
import Benchmark
import Flow

/// `flows` Ethernet/IPv4 frames, source ports and addresses varying; TCP with `fin` every 10th frame of
/// a flow when `tcp`.
func frames(_ flows: Int, tcp: Bool) -> [[UInt8]] {
    (0..<flows * (tcp ? 10 : 1)).map { n in
        let i = n % flows, seq = n / flows
        var f: [UInt8] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]
        let src = UInt32(0x0A00_0000) | UInt32(i / 50_000)
        f += [0x45, 0, 0, 60, 0, 1, 0x40, 0, 64, tcp ? 6 : 17, 0, 0]
        f += [UInt8(src >> 24), UInt8(src >> 16 & 0xff), UInt8(src >> 8 & 0xff), UInt8(src & 0xff), 198, 18, 0, 2]
        let sport = UInt16(1024 + i % 50_000)
        f += [UInt8(sport >> 8), UInt8(sport & 0xff), 0x01, 0xbb]
        if tcp {
            let flags: UInt8 = seq == 0 ? 0x02 : (seq == 9 ? 0x11 : 0x10)
            f += [0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]
        } else {
            f += [0, 40, 0, 0]
        }
        return f + [UInt8](repeating: 0, count: 60 + 14 - f.count)
    }
}

final class Bench: @unchecked Sendable {
    var cache: FlowCache
    let input: [[UInt8]]
    var n = 0
    var out: UInt64 = 0
    var clock: Int64 = 1_704_067_200_000_000

    init(flows: Int, tcp: Bool) {
        var o = FlowCacheOptions()
        o.maxEntries = max(1000, flows * 2)
        cache = FlowCache(options: o)
        input = frames(flows, tcp: tcp)
        // Warm: every flow held (and the index grown) before the first measurement.
        for f in input { step(f) }
    }

    @inline(__always)
    func step(_ f: [UInt8]) {
        clock &+= 1
        let frame = CapturedFrame(micros: clock, wireLength: f.count, layer: .ethernet, ifIndex: 2)
        cache.add(f.span.bytes, frame) { out &+= $0.packets }
    }

    func run(_ benchmark: Benchmark) {
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            step(input[n % input.count])
            n &+= 1
        }
        benchmark.stopMeasurement()
        blackHole(out)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )
    let small = Bench(flows: 1_000, tcp: false)
    let medium = Bench(flows: 10_000, tcp: false)
    let large = Bench(flows: 200_000, tcp: false)
    let churn = Bench(flows: 10_000, tcp: true)

    Benchmark("packet into a held flow (1,000 UDP flows)") { benchmark in small.run(benchmark) }
    Benchmark("packet into a held flow (10,000 UDP flows)") { benchmark in medium.run(benchmark) }
    Benchmark("packet into a held flow (200,000 UDP flows)") { benchmark in large.run(benchmark) }
    // Every flow: SYN, 8 ACKs, FIN (exported and freed), then a new SYN reuses the slot.
    Benchmark("packet, TCP flows of 10 packets ending in FIN (10,000 flows)") { benchmark in churn.run(benchmark) }
}
