// FlowAggregator's per-record cost: records added per second and mallocs per record in steady state
// (expected 0), for the common path (the key is already held), a minute rollover that emits and refills
// the table, and a table too small for its keys (early flushes). Each scaled iteration adds one record.
import Benchmark
import Flow

/// `count` records received in one minute whose keys take `distinct` values under both key sets below:
/// exporter, interfaces, AS numbers and protocol vary together, and so do the 5-tuple's addresses.
func records(_ count: Int, distinct: Int) -> [FlowRecord] {
    (0..<count).map { i in
        let k = UInt32(i % distinct)
        var r = FlowRecord()
        r.receivedMicros = 1_704_067_200_000_000 + Int64(i % 60_000)
        r.exporter = FlowIP(v4: 0xC000_0200 | (k & 0xF))
        r.src = FlowIP(v4: 0x0A00_0000 | k)
        r.dst = FlowIP(v4: 0xC0A8_0000 | (k &* 7 & 0xFFFF))
        r.srcPort = UInt16(truncatingIfNeeded: 1024 + k)
        r.dstPort = 443
        r.proto = k & 1 == 0 ? 6 : 17
        r.inIf = k >> 4 & 0x3F
        r.outIf = k >> 10
        r.srcAS = 64512 + k
        r.dstAS = 65001
        r.packets = 10
        r.bytes = 15_000
        r.samplingRate = 1000
        return r
    }
}

let interfaceKeys: FlowAggregationKeys = [.exporter, .inIf, .outIf, .srcAS, .dstAS, .proto]
let fiveTupleKeys: FlowAggregationKeys = [.exporter, .srcAddr, .dstAddr, .srcPort, .dstPort, .proto]

/// One benchmark's aggregator and input, made once and kept across iterations (as a receive thread
/// keeps its aggregator), warmed so every key of the input is held before the first measurement.
final class Bench: @unchecked Sendable {
    var agg: FlowAggregator
    let input: [FlowRecord]
    var n = 0
    var sum: UInt64 = 0
    let prepare: (inout FlowRecord, Int) -> Void

    init(_ keys: FlowAggregationKeys, maxEntries: Int, _ input: [FlowRecord],
         prepare: @escaping (inout FlowRecord, Int) -> Void = { _, _ in }) {
        agg = FlowAggregator(keys: keys, maxEntries: maxEntries)
        self.input = input
        self.prepare = prepare
        for r in input { agg.add(r) { sum &+= $0.bytes } }
    }

    /// Adds the input round and round, one record per scaled iteration.
    func run(_ benchmark: Benchmark) {
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var r = input[n % input.count]
            prepare(&r, n)
            agg.add(r) { sum &+= $0.bytes }
            n &+= 1
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )
    let held = Bench(interfaceKeys, maxEntries: 100_000, records(65_536, distinct: 10_000))
    let wide = Bench(fiveTupleKeys, maxEntries: 200_000, records(100_000, distinct: 100_000))
    let rollover = Bench(interfaceKeys, maxEntries: 100_000, records(65_536, distinct: 10_000)) { r, n in
        r.receivedMicros = 1_704_067_200_000_000 + Int64(1 + n / 100_000) * 60_000_000
    }
    let full = Bench(fiveTupleKeys, maxEntries: 20_000, records(100_000, distinct: 100_000))

    Benchmark("add, key held (exporter+interfaces+AS+protocol, 10,000 keys)") { benchmark in
        held.run(benchmark)
    }

    Benchmark("add, key held (exporter+5-tuple, 100,000 keys)") { benchmark in
        wide.run(benchmark)
    }

    // Every 100,000 records the minute moves on: 10,000 rows are emitted and the keys inserted again.
    Benchmark("add, new minute every 100,000 records (10,000 keys)") { benchmark in
        rollover.run(benchmark)
    }

    // 100,000 keys through a 20,000-entry table: an early flush every 20,000 new keys.
    Benchmark("add, table full (100,000 keys, 20,000 entries)") { benchmark in
        full.run(benchmark)
    }
}
