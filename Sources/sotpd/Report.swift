// `sotpd report`: availability per device and top talkers per period, read from the database and written
// as CSV or JSON. This file holds the command group, the options every report shares and the time values.
import ArgumentParser
import Foundation
import Sink

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reports from the database: availability per device (uptime), top talkers per period (traffic).",
        discussion: """
            Times (--from, --to): RFC 3339 (2026-11-01T00:00:00Z, 2026-11-01T01:00:00+01:00), a date \
            (2026-11-01, midnight UTC), now, or relative to now (-90s, -30m, -24h, -7d, -2w). The window \
            is [--from, --to). Exit status: 0 on success, 1 when the database fails, 2 for a bad option \
            or config.
            """,
        subcommands: [ReportUptime.self, ReportTraffic.self])
}

/// Options every report takes: config, window, format and destination.
struct ReportOptions: ParsableArguments {
    @OptionGroup var config: ConfigOptions
    // .unconditional: "-24h" is a value here, not an option.
    // Optional here so that leaving it out is our usage error (exit 2), not the parser's.
    @Option(parsing: .unconditional, help: "Start of the window (inclusive); required.") var from: String?
    @Option(parsing: .unconditional, help: "End of the window (exclusive).") var to: String = "now"
    @Option(help: "csv (RFC 4180, header row) or json.") var format: String = "csv"
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

    /// The checked window and format; a bad value names its option and exits 2.
    func resolve(command: String, now: Int64 = ReportTime.nowMicros()) throws -> (from: Int64, to: Int64, format: ReportFormat) {
        guard let from else { throw reportUsage(command, "--from is required (e.g. --from -24h or --from 2026-11-01)") }
        let f: Int64, t: Int64
        do { f = try ReportTime.parse(from, now: now) } catch { throw reportUsage(command, "--from: \(error)") }
        do { t = try ReportTime.parse(to, now: now) } catch { throw reportUsage(command, "--to: \(error)") }
        guard t > f else {
            throw reportUsage(command, "--to (\(ReportTime.format(t))) must be after --from (\(ReportTime.format(f)))")
        }
        guard let fmt = ReportFormat(rawValue: format) else {
            throw reportUsage(command, "--format must be csv or json, got \"\(format)\"")
        }
        return (f, t, fmt)
    }

    /// Writes the rendered report to --output or standard output; a file that cannot be written exits 1.
    func emit(_ table: ReportTable, format: ReportFormat) throws {
        let text = format == .csv ? table.csv() : table.json()
        if let output {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output))
            } catch {
                throw fail("cannot write --output \(output): \(error.localizedDescription)")
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

/// Prints a usage problem of a report and returns exit code 2.
func reportUsage(_ command: String, _ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("sotpd report \(command): \(message)\n".utf8))
    return ExitCode(2)
}

enum ReportFormat: String { case csv, json }

/// What a time option did not parse as.
struct ReportTimeError: Error, CustomStringConvertible {
    var value: String
    var problem: String
    var description: String { "\"\(value)\" \(problem)" }
}

/// Time values of reports, in microseconds since the Unix epoch (what the database stores, exactly).
enum ReportTime {
    static let expected = "is not a time: use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01), now, or -N followed by s, m, h, d or w (-24h)"

    static func nowMicros() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }

    /// Parses an absolute or relative time; relative ones count back from `now`.
    static func parse(_ text: String, now: Int64) throws(ReportTimeError) -> Int64 {
        let s = text.trimmingCharacters(in: .whitespaces)
        if s.lowercased() == "now" { return now }
        if s.hasPrefix("-") { return try relative(s, now: now) }
        guard let t = rfc3339(s) else { throw ReportTimeError(value: text, problem: expected) }
        return t
    }

    private static func relative(_ s: String, now: Int64) throws(ReportTimeError) -> Int64 {
        let body = s.dropFirst()
        let digits = body.dropLast()
        guard let unit = body.last, !digits.isEmpty, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int64(digits) else {
            throw ReportTimeError(value: s, problem: expected)
        }
        let seconds: Int64
        switch unit {
        case "s": seconds = 1
        case "m": seconds = 60
        case "h": seconds = 3600
        case "d": seconds = 86400
        case "w": seconds = 7 * 86400
        default: throw ReportTimeError(value: s, problem: "has unit \"\(unit)\"; use s, m, h, d or w")
        }
        // Ten thousand years back is as far as anyone means.
        guard n <= 10_000 * 366 * 86400 / seconds else { throw ReportTimeError(value: s, problem: "is too far back") }
        return now - n * seconds * 1_000_000
    }

    /// `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`; nil when it is neither
    /// or names a day or time that does not exist.
    static func rfc3339(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        func num(_ at: Int, _ len: Int) -> Int? {
            guard at + len <= b.count else { return nil }
            var v = 0
            for c in b[at..<at + len] {
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), b.count >= 10, b[4] == 0x2D, let mo = num(5, 2), b[7] == 0x2D, let d = num(8, 2),
              (1...12).contains(mo), d >= 1, d <= daysIn(month: mo, year: y)
        else { return nil }
        let day = daysFromCivil(y, mo, d)
        if b.count == 10 { return day * 86_400_000_000 }
        guard b.count >= 20, b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
              let h = num(11, 2), b[13] == 0x3A, let mi = num(14, 2), b[16] == 0x3A, let sec = num(17, 2),
              h < 24, mi < 60, sec < 60  // no leap seconds: PostgreSQL has none either
        else { return nil }
        var i = 19
        var micros = 0
        if b[i] == 0x2E {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 6 { micros = micros * 10 + Int(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits >= 1, digits <= 9 else { return nil }
            if digits < 6 { for _ in digits..<6 { micros *= 10 } }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 0x5A || b[i] == 0x7A {
            guard i + 1 == b.count else { return nil }
        } else {
            guard b[i] == 0x2B || b[i] == 0x2D, i + 6 == b.count, let oh = num(i + 1, 2), b[i + 3] == 0x3A, let om = num(i + 4, 2),
                  oh < 24, om < 60
            else { return nil }
            offset = (oh * 60 + om) * 60 * (b[i] == 0x2D ? -1 : 1)
        }
        let seconds = day * 86400 + Int64(h * 3600 + mi * 60 + sec - offset)
        return seconds * 1_000_000 + Int64(micros)
    }

    /// RFC 3339 in UTC: `2026-11-01T00:00:00Z`, with `.ffffff` only when there are microseconds.
    static func format(_ micros: Int64) -> String {
        let (secs, us) = (micros.floorDiv(1_000_000), micros.floorMod(1_000_000))
        let (days, sod) = (secs.floorDiv(86400), secs.floorMod(86400))
        let (y, m, d) = civilFromDays(days)
        var s = String(format: "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld", y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
        if us != 0 { s += String(format: ".%06lld", us) }
        return s + "Z"
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, day 0 = 1970-01-01).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = Int64(m <= 2 ? y0 - 1 : y0)
        let era = y.floorDiv(400)
        let yoe = y - era * 400
        let mp = Int64((m + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = z.floorDiv(146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// A SQL expression for the timestamptz of parameter `$n` given as microseconds (exact; no float).
    static func sql(_ n: Int) -> String { "('epoch'::timestamptz + $\(n)::int8 * interval '1 microsecond')" }

    /// A SQL expression for a timestamptz column as microseconds since the epoch.
    static func micros(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000000)::int8" }
}

extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
    func floorMod(_ d: Int64) -> Int64 { self - floorDiv(d) * d }
}

/// A cell of a report.
enum ReportValue: Equatable {
    case text(String)
    case int(Int64)
    case number(Double)
    case bool(Bool)
    case time(Int64)
    case null

    var csv: String {
        switch self {
        case .text(let s): ReportTable.csvField(s)
        case .int(let v): String(v)
        case .number(let v): v.isFinite ? ReportTable.number(v) : ""
        case .bool(let v): v ? "true" : "false"
        case .time(let t): ReportTime.format(t)
        case .null: ""
        }
    }

    var json: String {
        switch self {
        case .text(let s): ReportTable.jsonString(s)
        case .int(let v): String(v)
        case .number(let v): v.isFinite ? ReportTable.number(v) : "null"
        case .bool(let v): v ? "true" : "false"
        case .time(let t): "\"" + ReportTime.format(t) + "\""
        case .null: "null"
        }
    }
}

/// A report as columns and rows, with what it covers; renders as CSV or JSON.
struct ReportTable {
    var report: String
    var from: Int64
    var to: Int64
    var generatedAt: Int64
    /// Options that shaped the rows (period, top, by…), echoed in the JSON document.
    var parameters: [(String, ReportValue)] = []
    var columns: [String]
    var rows: [[ReportValue]] = []

    /// RFC 4180: a header row, CRLF line ends, fields with a comma, quote, CR or LF in double quotes
    /// with inner quotes doubled.
    func csv() -> String {
        var out = columns.map(Self.csvField).joined(separator: ",") + "\r\n"
        for r in rows { out += r.map(\.csv).joined(separator: ",") + "\r\n" }
        return out
    }

    /// One document: report, window, generated_at, parameters and rows as objects keyed by column.
    func json() -> String {
        var out = "{\n  \"report\": \(Self.jsonString(report)),\n"
        out += "  \"from\": \"\(ReportTime.format(from))\",\n  \"to\": \"\(ReportTime.format(to))\",\n"
        out += "  \"generated_at\": \"\(ReportTime.format(generatedAt))\",\n"
        out += "  \"parameters\": {" + parameters.map { "\(Self.jsonString($0.0)): \($0.1.json)" }.joined(separator: ", ") + "},\n"
        out += "  \"rows\": ["
        for (i, r) in rows.enumerated() {
            out += (i == 0 ? "\n" : ",\n") + "    {"
            out += zip(columns, r).map { "\(Self.jsonString($0)): \($1.json)" }.joined(separator: ", ") + "}"
        }
        out += rows.isEmpty ? "]\n}\n" : "\n  ]\n}\n"
        return out
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The global `jsonString` (Logging.swift), under the name the report renderers use.
    static func jsonString(_ s: String) -> String { sotpd.jsonString(s) }

    /// A number without exponent or trailing ".0" noise where it is whole: 3600, 99.5, 0.000001.
    static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        var s = String(format: "%.6f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
