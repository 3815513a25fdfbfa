// `sotpd report traffic`: top talkers per period (like nfdump -s srcip/bytes per time bin), from the
// per-minute aggregates in flows_1m or, when those do not carry the key, from the raw flow records.
import ArgumentParser
import Foundation
import Sink

struct ReportTraffic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traffic",
        abstract: "Top talkers per period over [--from, --to), by bytes, packets or flows.",
        discussion: """
            Periods are UTC hours, days or ISO weeks (starting Monday), cut to the window; none is the \
            whole window. bytes and packets are scaled by the sampling rate. bytes_pct is the share of \
            all bytes of the period, including traffic the ranking cannot place (aggregates whose key \
            lacks the --by column). --source auto reads flows_1m when flow.aggregate holds the --by \
            columns, else the raw flows table. A --from older than retention.flows_days is refused: \
            the data is gone or about to be.
            """)
    @OptionGroup var options: ReportOptions
    @Option(help: "hour, day, week or none.") var period: String = "day"
    @Option(help: "Rows per period (1…10000).") var top: String = "10"
    @Option(help: "src, dst, pair (src and dst) or exporter.") var by: String = "src"
    @Option(help: "Rank by bytes, packets or flows.") var sort: String = "bytes"
    @Option(help: "auto, aggregate (flows_1m) or raw (flows).") var source: String = "auto"

    func run() async throws {
        let now = ReportTime.nowMicros()
        let (from, to, format) = try options.resolve(command: "traffic", now: now)
        guard let period = TrafficQuery.Period(rawValue: period) else {
            throw reportUsage("traffic", "--period must be hour, day, week or none, got \"\(self.period)\"")
        }
        guard let top = Int(top), (1...10_000).contains(top) else {
            throw reportUsage("traffic", "--top must be an integer in 1…10000, got \"\(self.top)\"")
        }
        guard let keys = TrafficQuery.keys[by] else {
            throw reportUsage("traffic", "--by must be src, dst, pair or exporter, got \"\(by)\"")
        }
        guard ["bytes", "packets", "flows"].contains(sort) else {
            throw reportUsage("traffic", "--sort must be bytes, packets or flows, got \"\(sort)\"")
        }
        guard ["auto", "aggregate", "raw"].contains(source) else {
            throw reportUsage("traffic", "--source must be auto, aggregate or raw, got \"\(source)\"")
        }
        let config = try options.config.load()
        let days = config.int("retention.flows_days")
        let kept = now - Int64(days) * 86_400_000_000
        guard from >= kept else {
            throw reportUsage(
                "traffic",
                "--from \(ReportTime.format(from)) is older than the flow retention (retention.flows_days = \(days)): "
                    + "flows and flows_1m keep nothing before \(ReportTime.format(kept)); use a later --from or raise retention.flows_days")
        }
        let aggregated = config.strings("flow.aggregate")
        let useAggregate = source == "aggregate" || (source == "auto" && keys.allSatisfy { aggregated.contains($0) })
        let query = TrafficQuery(from: from, to: to, period: period, top: top, keys: keys, sort: sort, aggregate: useAggregate)
        let result: TrafficQuery.Result
        do {
            result = try await onThread("sotp-report") { try query.run(PGConnection(config.connectInfo)) }
        } catch {
            throw fail("\(error)")
        }
        if result.totalBytes == 0 {
            FileHandle.standardError.write(Data(
                "sotpd report traffic: \(query.table) holds no flows between \(ReportTime.format(from)) and \(ReportTime.format(to))\n".utf8))
        } else if result.unplacedBytes > 0 {
            let share = result.totalBytes > 0 ? Double(result.unplacedBytes) * 100 / Double(result.totalBytes) : 0
            FileHandle.standardError.write(Data((
                "sotpd report traffic: \(result.unplacedBytes) bytes (\(ReportTable.number((share * 100).rounded() / 100)) %) in \(query.table) "
                    + "have no \(keys.joined(separator: "/")) (not in the aggregation key) and are not ranked\n").utf8))
        }
        var table = ReportTable(
            report: "traffic", from: from, to: to, generatedAt: now,
            parameters: [
                ("period", .text(period.rawValue)), ("top", .int(Int64(top))), ("by", .text(by)), ("sort", .text(sort)),
                ("source", .text(query.table)),
            ],
            columns: ["period_start", "period_end", "rank"] + keys + ["bytes", "packets", "flows", "bytes_pct"])
        table.rows = result.rows
        try options.emit(table, format: format)
    }
}

/// The SQL of the traffic report.
struct TrafficQuery: Sendable {
    enum Period: String, Sendable {
        case hour, day, week, none
    }

    /// --by → the flows columns that make the key.
    static let keys: [String: [String]] = [
        "src": ["src_addr"], "dst": ["dst_addr"], "pair": ["src_addr", "dst_addr"], "exporter": ["exporter"],
    ]

    var from: Int64
    var to: Int64
    var period: Period
    var top: Int
    var keys: [String]
    var sort: String
    var aggregate: Bool

    var table: String { aggregate ? "flows_1m" : "flows" }

    struct Result {
        var rows: [[ReportValue]] = []
        /// Bytes in the window whose key column is NULL (an aggregate without it), and all bytes.
        var unplacedBytes: Int64 = 0
        var totalBytes: Int64 = 0
    }

    var sql: String {
        let f = ReportTime.sql(1), t = ReportTime.sql(2)
        let width = ["hour": "1 hour", "day": "1 day", "week": "1 week"][period.rawValue]
        // time_bucket: UTC hours and days; weeks start on Monday (its default origin, 2000-01-03).
        let bucket = width.map { "time_bucket('\($0)', time)" } ?? f
        let end = width.map { "least(period + interval '\($0)', \(t))" } ?? t
        let (bytes, packets, flows) =
            aggregate
            ? ("sum(bytes)", "sum(packets)", "sum(flows)")
            : ("sum(bytes * greatest(coalesce(sampling_rate, 1), 1))", "sum(packets * greatest(coalesce(sampling_rate, 1), 1))", "count(*)")
        let k = keys.joined(separator: ", ")
        let placed = keys.map { "\($0) IS NOT NULL" }.joined(separator: " AND ")
        return """
            WITH agg AS (
                SELECT \(bucket) AS period, \(k), \(bytes)::int8 AS bytes, \(packets)::int8 AS packets, \(flows)::int8 AS flows
                FROM \(table) WHERE time >= \(f) AND time < \(t)
                GROUP BY 1, \(k)
            ), totals AS (
                SELECT *, sum(bytes) OVER (PARTITION BY period) AS period_bytes FROM agg
            ), ranked AS (
                SELECT *, row_number() OVER (PARTITION BY period ORDER BY \(sort) DESC, bytes DESC, \(k)) AS rank
                FROM totals WHERE \(placed)
            )
            SELECT \(ReportTime.micros("greatest(period, \(f))")), \(ReportTime.micros(end)), rank,
                   \(keys.map { "host(\($0))" }.joined(separator: ", ")), bytes, packets, flows,
                   CASE WHEN period_bytes > 0 THEN bytes * 100.0 / period_bytes END::float8
            FROM ranked WHERE rank <= $3
            ORDER BY period, rank
            """
    }

    func run(_ conn: borrowing PGConnection) throws -> Result {
        try conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { try? conn.execute("ROLLBACK") }
        var r = Result()
        let n = keys.count
        for row in try conn.query(sql, [String(from), String(to), String(top)]) {
            var v: [ReportValue] = [.time(Int64(row[0]!)!), .time(Int64(row[1]!)!), .int(Int64(row[2]!)!)]
            v += row[3..<3 + n].map { ReportValue.text($0 ?? "") }
            v += row[(3 + n)..<(6 + n)].map { ReportValue.int(Int64($0!)!) }
            // Share in percent, to 4 decimals.
            v.append(row[6 + n].flatMap { Double($0) }.map { ReportValue.number(($0 * 1e4).rounded() / 1e4) } ?? .null)
            r.rows.append(v)
        }
        let bytes = aggregate ? "bytes" : "bytes * greatest(coalesce(sampling_rate, 1), 1)"
        let placed = keys.map { "\($0) IS NOT NULL" }.joined(separator: " AND ")
        if let t = try conn.query(
            """
            SELECT coalesce(sum(\(bytes)) FILTER (WHERE NOT (\(placed))), 0)::int8, coalesce(sum(\(bytes)), 0)::int8
            FROM \(table) WHERE time >= \(ReportTime.sql(1)) AND time < \(ReportTime.sql(2))
            """, [String(from), String(to)]).first
        {
            r.unplacedBytes = Int64(t[0]!)!
            r.totalBytes = Int64(t[1]!)!
        }
        return r
    }
}
