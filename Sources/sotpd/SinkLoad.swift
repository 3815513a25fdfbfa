// `sotpd sink-load`: pushes synthetic flow-like rows through the real sink, for capacity benchmarks
// (how many rows a second this box stores) and for the shutdown test (SIGTERM mid-load loses nothing).
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Sink
import Synchronization

/// The 12 columns of the benchmark row: a flow record without the optional fields.
let benchFlowColumns: [TableSpec.Column] = [
    .init("time", .timestamptz), .init("exporter", .inet), .init("src_addr", .inet), .init("dst_addr", .inet),
    .init("src_port", .int4), .init("dst_port", .int4), .init("protocol", .int2), .init("tcp_flags", .int2),
    .init("packets", .int8), .init("bytes", .int8), .init("in_if", .int4), .init("out_if", .int4),
]

/// Encodes synthetic row `i` of a run starting at `base` (µs): unique `packets` (= i + 1), times spread
/// over two hours so several 1-hour chunks are written, addresses and ports varied like real traffic.
@inline(__always)
func encodeBenchFlow(_ row: inout CopyBuffer, _ i: Int, base: Int64, total: Int) {
    let x = UInt32(truncatingIfNeeded: i &* 2_654_435_761)
    row.timestamptz(unixMicros: base + Int64(i) * 7_200_000_000 / Int64(max(total, 1)))
    row.inet(ipv4: 0x7F00_0001 + UInt32(i % 8))
    if i % 16 == 0 {
        row.inet(ipv6High: 0x2001_0db8_0000_0000, low: UInt64(x))
    } else {
        row.inet(ipv4: 0x0A00_0000 | (x & 0x00FF_FFFF))
    }
    row.inet(ipv4: 0xC0A8_0000 | (x >> 16))
    row.int4(Int32(1024 + x % 60000))
    row.int4(Int32([53, 80, 443, 123, 22][i % 5]))
    row.int2(Int16([6, 17, 6, 1][i % 4]))
    row.int2(Int16(x & 0x3F))
    row.int8(Int64(i) + 1)
    row.int8(Int64(x % 1_500_000) + 40)
    row.int4(Int32(x % 48) + 1)
    row.int4(Int32((x >> 8) % 48) + 1)
}

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
        let load = LoadService(sink: sink, table: TableSpec(table, benchFlowColumns), rows: rows, base: base)
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
            "{\"generated\":\(generated),\"rows_written\":\(s.rowsWritten),\"rows_spooled\":\(s.rowsSpooled),\"rows_replayed\":\(s.rowsReplayed),\"rows_dead_lettered\":\(s.rowsDeadLettered),\"rows_dropped\":\(s.rowsDropped),\"left_in_spool\":\(s.spoolFiles),\"seconds\":\(elapsed),\"rows_per_second\":\(Int(Double(s.rowsWritten) / max(elapsed, 1e-9)))}"
        )
    }

    /// The same rows as one binary COPY file (header, tuples, trailer).
    func writeDump(path: String, base: Int64) throws {
        guard let out = FileHandle(forWritingAtPath: path) ?? {
            FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { throw fail("cannot write \(path)") }
        defer { try? out.close() }
        out.truncateFile(atOffset: 0)
        out.write(Data(CopyBuffer.fileHeader))
        var buf = CopyBuffer(capacity: 8 << 20)
        for i in 0..<rows {
            buf.beginRow(fields: benchFlowColumns.count)
            encodeBenchFlow(&buf, i, base: base, total: rows)
            if buf.bytes.count >= 4 << 20 {
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
            guard sink.append(handle, { encodeBenchFlow(&$0, n, base: base, total: total) }) == .accepted else { break }
            i += 1
            generated.store(i, ordering: .releasing)
        }
    }
}
