// Encoding rows into binary COPY tuples, the sink's per-row hot path: throughput and mallocs. In steady
// state (buffer reused) a row must cost zero allocations.
import Benchmark
import Logging
import Sink

let rowsPerIteration = 10_000

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    // 12-column flow rows into a reused CopyBuffer.
    Benchmark("CopyBuffer 12-column flow row") { benchmark in
        var buf = CopyBuffer(capacity: 64 << 20)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            buf.beginRow(fields: 12)
            SyntheticFlows.encode(&buf, i, base: 1_763_683_200_000_000, total: 1_000_000)
        }
        benchmark.stopMeasurement()
        blackHole(buf.rowCount)
    }

    // The same rows through Sink.append (lock, encode, seal check), with limits high enough that no
    // batch is sealed during the measurement, so no database is involved.
    Benchmark("Sink.append 12-column flow row") { benchmark in
        var settings = SinkSettings(
            connection: PGConnectInfo(url: "postgresql://nobody@127.0.0.1:9/none"), spoolDirectory: "/tmp/sotp-bench-spool")
        settings.batchRows = 1_000_000_000
        settings.batchBytes = 256 << 20
        settings.flushInterval = .seconds(3600)
        settings.memoryBytes = 1 << 30
        let sink = try! Sink(settings: settings, logger: Logger(label: "bench"))
        let table = sink.table(TableSpec("bench_flows", SyntheticFlows.columns))
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            sink.append(table) { SyntheticFlows.encode(&$0, i, base: 1_763_683_200_000_000, total: 1_000_000) }
        }
        benchmark.stopMeasurement()
    }
}
