// `sotpd sink-load`: pushes synthetic flow-like rows through the real sink, for capacity benchmarks
// (how many rows a second this box stores) and for the shutdown test (SIGTERM mid-load loses nothing).
import ArgumentParser
import Capture
import Foundation
import Logging
import ServiceLifecycle
import Sink
import Synchronization

/// SQL that creates the benchmark table as a hypertable with 1-hour chunks (like `flows`).
func benchTableSQL(_ table: String) -> String {
    """
    CREATE TABLE IF NOT EXISTS \(table) (
        time timestamptz NOT NULL, exporter inet NOT NULL, src_addr inet NOT NULL, dst_addr inet NOT NULL,
        src_port int4, dst_port int4, protocol int2, tcp_flags int2, packets int8 NOT NULL, bytes int8 NOT NULL,
        in_if int4, out_if int4);
    SELECT create_hypertable('\(table)', by_range('time', INTERVAL '1 hour'), if_not_exists => true);
    """
}

struct SinkLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink-load",
        abstract: "Write synthetic 12-column flow rows through the sink and report the rate (capacity benchmark).")
    @OptionGroup var options: ConfigOptions
    @Option(help: "Rows to generate (1…1e9).") var rows: Int = 1_000_000
    @Option(help: "Destination table; created as a 12-column hypertable with --create.") var table: String = "bench_flows"
    @Flag(help: "Create the table (IF NOT EXISTS) first.") var create = false
    @Option(help: "Write the rows as a binary COPY file to this path instead (for psql's \\copy) and exit.") var dump: String?
    @Option(help: "Base timestamp, microseconds since the Unix epoch (default: two hours ago).") var baseMicros: Int64?

    func validate() throws {
        guard (1...1_000_000_000).contains(rows) else { throw ValidationError("--rows must be 1…1000000000, got \(rows)") }
        guard table.range(of: #"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"#, options: .regularExpression) != nil else {
            throw ValidationError("--table must be a plain [schema.]name, got \"\(table)\"")
        }
    }

    func run() async throws {
        let config = try options.load()
        let base = baseMicros ?? (unixMicrosNow() - 7_200_000_000)
        if let dump {
            try writeDump(path: dump, base: base)
            return
        }
        LogSetup.bootstrap(level: config.string("log.level"), format: config.string("log.format"))
        let logger = Logger(label: "sotpd.sink-load")
        if create {
            let info = config.connectInfo, sql = benchTableSQL(table)
            do {
                try await onThread("sotp-create") { try PGConnection(info).execute(sql) }
            } catch { throw fail("creating \(table): \(error)") }
        }
        let sink: Sink
        do { sink = try Sink(settings: config.sinkSettings, logger: logger) } catch { throw fail("\(error)") }
        let load = LoadService(sink: sink, table: TableSpec(table, SyntheticFlows.columns), rows: rows, base: base)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: SinkService(sink: sink, timeout: .seconds(config.int("sink.shutdown_timeout_s")))),
                    .init(service: load, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let start = ContinuousClock.now
        try await group.run()
        let elapsed = (ContinuousClock.now - start).seconds
        let s = sink.stats.snapshot()
        let generated = load.generated.load(ordering: .acquiring)
        print(
            "{\"generated\":\(generated),\"rows_written\":\(s.rowsWritten),\"rows_spooled\":\(s.rowsSpooled),\"rows_replayed\":\(s.rowsReplayed),\"rows_dead_lettered\":\(s.rowsDeadLettered),\"rows_already_applied\":\(s.rowsAlreadyApplied),\"rows_dropped\":\(s.rowsDropped),\"left_in_spool\":\(s.spoolFiles),\"seconds\":\(elapsed),\"rows_per_second\":\(Int(Double(s.rowsWritten) / max(elapsed, 1e-9)))}"
        )
    }

    /// The same rows as one binary COPY file (header, tuples, trailer).
    func writeDump(path: String, base: Int64) throws {
        guard let out = FileHandle(forWritingAtPath: path) ?? {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { throw fail("cannot write \(path)") }
        defer { try? out.close() }
        out.truncateFile(atOffset: 0)
        out.write(Data(CopyBuffer.fileHeader))
        var buf = CopyBuffer(capacity: 8 << 20)
        for i in 0..<rows {
            buf.beginRow(fields: SyntheticFlows.columns.count)
            SyntheticFlows.encode(&buf, i, base: base, total: rows)
            if buf.count >= 4 << 20 {
                out.write(Data(buf.bytes))
                buf.removeAll()
            }
        }
        out.write(Data(buf.bytes))
        out.write(Data(CopyBuffer.fileTrailer))
    }
}

/// Generates rows until done or until graceful shutdown begins; counts what the sink accepted.
final class LoadService: Service, Sendable {
    let sink: Sink
    let handle: SinkTable
    let rows: Int
    let base: Int64
    let generated = Atomic<Int>(0)

    init(sink: Sink, table: TableSpec, rows: Int, base: Int64) {
        self.sink = sink
        self.handle = sink.table(table)
        self.rows = rows
        self.base = base
    }

    func run() async throws {
        var i = 0
        while i < rows {
            // Check for SIGTERM every 4096 rows and yield so the signal handler's task can run.
            if i & 4095 == 0 {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                await Task.yield()
            }
            let n = i, total = rows, base = base
            guard sink.append(handle, { SyntheticFlows.encode(&$0, n, base: base, total: total) }) == .accepted else { break }
            i += 1
            generated.store(i, ordering: .releasing)
        }
    }
}
