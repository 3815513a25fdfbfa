// POST /api/v1/ingest: metrics pushed by agents on servers (CPU, memory, disks, and any named value),
// checked whole before a single row goes to the sink, so a request is stored entirely or not at all.
import Foundation
import Sink

enum IngestTables {
    static let metrics = TableSpec("agent_metrics", [
        .init("time", .timestamptz), .init("host", .text), .init("metric", .text), .init("instance", .text),
        .init("value", .float8), .init("source", .inet),
    ])
}

/// One value to store.
struct IngestRow: Equatable {
    var timeMicros: Int64
    var host: String
    var metric: String
    var instance: String
    var value: Double
}

/// Parses an ingest body: one report object or an array of them.
///
///     {"host": "web-1", "time": "2026-11-22T10:00:00Z",          // time optional: now
///      "cpu_pct": 12.5, "mem_used_bytes": 1234, "mem_total_bytes": 4096,
///      "disks": [{"mount": "/", "used_bytes": 10, "total_bytes": 20}],
///      "metrics": [{"name": "load1", "value": 0.42, "instance": ""}]}
struct IngestParser {
    /// Reports one request may carry.
    static let maxReports = 100
    /// Values one request may carry in all.
    static let maxRows = 10_000
    static let maxNameLength = 128
    static let maxHostLength = 255
    static let maxInstanceLength = 255
    /// A report may be at most this far in the future (clock skew) …
    static let maxFutureMicros: Int64 = 300_000_000
    /// … and no older than the metrics retention: an older row would be dropped at the next maintenance.
    var retentionDays: Int

    static let reportFields = ["host", "time", "cpu_pct", "mem_used_bytes", "mem_total_bytes", "disks", "metrics"]

    func parse(_ body: [UInt8], nowMicros: Int64) throws(APIProblem) -> [IngestRow] {
        let value = try jsonBody(body)
        var rows: [IngestRow] = []
        if let list = value as? [Any] {
            guard !list.isEmpty, list.count <= Self.maxReports else {
                throw .invalid("body", "must hold 1…\(Self.maxReports) reports, got \(list.count)")
            }
            for (i, item) in list.enumerated() {
                guard let object = item as? [String: Any] else { throw .invalid("[\(i)]", "must be a JSON object, got \(jsonText(item))") }
                try report(object, at: "[\(i)].", nowMicros: nowMicros, into: &rows)
            }
        } else if let object = value as? [String: Any] {
            try report(object, at: "", nowMicros: nowMicros, into: &rows)
        } else {
            throw APIProblem(status: 400, code: "invalid_json", field: nil, message: "the request body must be a JSON object or array, got \(jsonText(value))")
        }
        return rows
    }

    private func report(_ o: [String: Any], at p: String, nowMicros: Int64, into rows: inout [IngestRow]) throws(APIProblem) {
        for k in o.keys.sorted() where !Self.reportFields.contains(k) {
            throw APIProblem(
                status: 422, code: "unknown_field", field: p + k,
                message: "\(p)\(k): is not a report field; known: \(Self.reportFields.joined(separator: ", "))")
        }
        guard let hostValue = o["host"] else { throw APIProblem(status: 422, code: "missing_field", field: p + "host", message: "\(p)host: is required") }
        guard let host = hostValue as? String, !host.isEmpty, host.count <= Self.maxHostLength,
            !host.contains(where: { $0.isWhitespace || isControl($0) })
        else {
            throw .invalid(p + "host", "must be 1…\(Self.maxHostLength) characters without spaces, got \(jsonText(hostValue))")
        }
        var time = nowMicros
        if let t = o["time"] { time = try timestamp(t, field: p + "time", nowMicros: nowMicros) }
        func add(_ metric: String, _ instance: String, _ value: Double) throws(APIProblem) {
            guard rows.count < Self.maxRows else {
                throw .invalid("body", "carries more than \(Self.maxRows) values; send them in several requests")
            }
            rows.append(IngestRow(timeMicros: time, host: host, metric: metric, instance: instance, value: value))
        }
        if let v = o["cpu_pct"] { try add("cpu_pct", "", number(v, field: p + "cpu_pct", range: 0...100_000)) }
        if let v = o["mem_used_bytes"] { try add("mem_used_bytes", "", number(v, field: p + "mem_used_bytes", range: 0...Double(1 << 62))) }
        if let v = o["mem_total_bytes"] { try add("mem_total_bytes", "", number(v, field: p + "mem_total_bytes", range: 0...Double(1 << 62))) }
        if let v = o["disks"] {
            for (at, d) in try objects(v, field: p + "disks", kind: "disk", known: ["mount", "used_bytes", "total_bytes"]) {
                let mount = try label(d["mount"], field: "\(at).mount", required: true)
                for k in ["used_bytes", "total_bytes"] {
                    if let v = d[k] { try add("disk_" + k, mount, number(v, field: "\(at).\(k)", range: 0...Double(1 << 62))) }
                }
            }
        }
        if let v = o["metrics"] {
            for (at, m) in try objects(v, field: p + "metrics", kind: "metric", known: ["name", "value", "instance"]) {
                guard let nameValue = m["name"] else { throw APIProblem(status: 422, code: "missing_field", field: "\(at).name", message: "\(at).name: is required") }
                guard let name = nameValue as? String, Self.isMetricName(name) else {
                    throw .invalid("\(at).name", "must start with a letter or _ and hold only letters, digits, _ . : (at most \(Self.maxNameLength)), got \(jsonText(nameValue))")
                }
                guard let value = m["value"] else { throw APIProblem(status: 422, code: "missing_field", field: "\(at).value", message: "\(at).value: is required") }
                let instance = try label(m["instance"], field: "\(at).instance", required: false)
                try add(name, instance, number(value, field: "\(at).value", range: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude))
            }
        }
        if rows.isEmpty {
            throw .invalid(p.isEmpty ? "body" : String(p.dropLast()), "carries no values (cpu_pct, mem_used_bytes, mem_total_bytes, disks or metrics)")
        }
    }

    /// The objects of an array field, each with where it is (`disks[2]`), refusing other keys than `known`.
    private func objects(_ v: Any, field: String, kind: String, known: [String]) throws(APIProblem) -> [(String, [String: Any])] {
        guard let list = v as? [Any] else { throw .invalid(field, "must be an array of objects, got \(jsonText(v))") }
        var out: [(String, [String: Any])] = []
        for (i, item) in list.enumerated() {
            let at = "\(field)[\(i)]"
            guard let o = item as? [String: Any] else { throw .invalid(at, "must be an object, got \(jsonText(item))") }
            for k in o.keys.sorted() where !known.contains(k) {
                throw APIProblem(
                    status: 422, code: "unknown_field", field: "\(at).\(k)",
                    message: "\(at).\(k): is not a \(kind) field; known: \(known.joined(separator: ", "))")
            }
            out.append((at, o))
        }
        return out
    }

    static func isMetricName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.utf8.count <= maxNameLength else { return false }
        func ascii(_ c: Unicode.Scalar) -> Bool { c.isASCII && (("a"..."z").contains(c) || ("A"..."Z").contains(c)) }
        guard ascii(first) || first == "_" else { return false }
        return s.unicodeScalars.allSatisfy { ascii($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "." || $0 == ":" }
    }

    private func label(_ v: Any?, field: String, required: Bool) throws(APIProblem) -> String {
        guard let v else {
            if required { throw APIProblem(status: 422, code: "missing_field", field: field, message: "\(field): is required") }
            return ""
        }
        guard let s = v as? String, s.count <= Self.maxInstanceLength, !s.contains(where: isControl) else {
            throw .invalid(field, "must be a string of at most \(Self.maxInstanceLength) characters without control characters, got \(jsonText(v))")
        }
        if required && s.isEmpty { throw .invalid(field, "must not be empty") }
        return s
    }

    private func number(_ v: Any, field: String, range: ClosedRange<Double>) throws(APIProblem) -> Double {
        guard let n = v as? NSNumber, jsonBool(v) == nil else { throw .invalid(field, "must be a number, got \(jsonText(v))") }
        let d = n.doubleValue
        guard d.isFinite, range.contains(d) else {
            throw .invalid(field, "must be a finite number in \(Self.format(range.lowerBound))…\(Self.format(range.upperBound)), got \(jsonText(v))")
        }
        return d
    }

    private static func format(_ d: Double) -> String {
        abs(d) >= 1e15 ? String(format: "%g", d) : String(Int64(d))
    }

    /// An RFC 3339 time (`2026-11-22T10:00:00Z`, `…:00.250+01:00`) or Unix seconds.
    private func timestamp(_ v: Any, field: String, nowMicros: Int64) throws(APIProblem) -> Int64 {
        var micros: Int64?
        if let s = v as? String {
            micros = parseRFC3339Micros(s)
        } else if let n = v as? NSNumber, jsonBool(v) == nil, n.doubleValue.isFinite, abs(n.doubleValue) < 1e11 {
            micros = Int64((n.doubleValue * 1e6).rounded())
        }
        guard let micros else {
            throw .invalid(field, "must be an RFC 3339 time (\"2026-11-22T10:00:00Z\") or Unix seconds, got \(jsonText(v))")
        }
        if micros > nowMicros + Self.maxFutureMicros {
            throw .invalid(field, "is more than 5 minutes ahead of this host's clock")
        }
        if micros < nowMicros - Int64(retentionDays) * 86_400_000_000 {
            throw .invalid(field, "is older than the metrics retention (\(retentionDays) days)")
        }
        return micros
    }
}

/// Microseconds since the epoch of an RFC 3339 date-time with a zone (`Z` or ±hh:mm), nil if it is not
/// one: ReportTime's exact parser, without the bare dates reports also take.
func parseRFC3339Micros(_ s: String) -> Int64? {
    s.utf8.count > 10 ? ReportTime.rfc3339(s) : nil
}
