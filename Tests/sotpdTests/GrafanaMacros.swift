// What Grafana does to a PostgreSQL panel's SQL before the database sees it, for GrafanaDashboardTests:
// the front end's template-variable interpolation (SQL data source formatting), then the back end's
// $__interval / $__unixEpochFrom() substitution and the PostgreSQL macro engine ($__timeFilter,
// $__timeGroup with time_bucket under the timescaledb flag, …). Written from Grafana's documentation and
// the behaviour of its postgres data source (pkg/tsdb/grafana-postgresql-datasource/macros.go).
import Foundation

/// A macro or variable Grafana would refuse (its own error text says the same).
struct GrafanaMacroError: Error, CustomStringConvertible {
    var description: String
}

/// The time range and interval of one query run.
struct GrafanaQueryTime {
    var from: Date
    var to: Date
    /// $__interval in milliseconds (already rounded and bounded the way Grafana does; see `GrafanaInterval`).
    var intervalMs: Int64
}

/// One template variable's current value as Grafana holds it.
struct GrafanaVariableValue {
    /// The selected values (one for a single-value variable; every option's value for "All" without allValue).
    var values: [String]
    /// The variable is `multi` or `includeAll`: the SQL data sources quote its values then.
    var multiOrAll: Bool
    /// "All" is selected and the variable has a custom all value: that text goes in unformatted.
    var customAll: String? = nil

    static func single(_ v: String) -> GrafanaVariableValue { .init(values: [v], multiOrAll: false) }
}

/// Grafana's interval helpers: the front end's rounding of range / data points to a "nice" interval, and
/// the text form of an interval ("1m", "30s", "1d") the back end and front end both produce.
enum GrafanaInterval {
    /// rangeutil.roundInterval: the nice interval nearest above-ish an ideal one, in ms.
    static func round(_ ms: Int64) -> Int64 {
        let steps: [(below: Int64, value: Int64)] = [
            (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000), (3_500, 2_000),
            (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000), (45_000, 30_000), (90_000, 60_000),
            (210_000, 120_000), (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000),
            (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
            (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
            (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
        ]
        for s in steps where ms < s.below { return s.value }
        return 31_536_000_000
    }

    /// The panel's $__interval: (to - from) / maxDataPoints rounded, and at least the panel's (or the data
    /// source's) minimum interval.
    static func calculate(from: Date, to: Date, maxDataPoints: Int, minInterval: String?) throws -> Int64 {
        let span = Int64((to.timeIntervalSince(from) * 1000).rounded())
        var ms = round(span / Int64(max(maxDataPoints, 1)))
        if let minInterval, !minInterval.isEmpty {
            let min = Int64((try parse(minInterval) * 1000).rounded())
            ms = max(ms, min)
        }
        return ms
    }

    /// gtime.FormatInterval / rangeutil.secondsToHms: the largest whole unit only.
    static func format(ms: Int64) -> String {
        let units: [(Int64, String)] = [(31_536_000_000, "y"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s"), (1, "ms")]
        for (size, name) in units where ms >= size { return "\(ms / size)\(name)" }
        return "1ms"
    }

    /// gtime.ParseInterval: "5m", "1h", "10s", "100ms", "1d", "1w", "1y", and Go durations such as "1m30s".
    /// Returns seconds.
    static func parse(_ text: String) throws -> Double {
        let s = text.trimmingCharacters(in: .whitespaces)
        let unitSeconds: [String: Double] = [
            "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000,
        ]
        var total = 0.0, i = s.startIndex, parts = 0
        while i < s.endIndex {
            let numStart = i
            while i < s.endIndex, s[i].isNumber || s[i] == "." { i = s.index(after: i) }
            guard numStart < i, let n = Double(s[numStart..<i]) else { throw GrafanaMacroError(description: "error parsing interval \(text)") }
            let unitStart = i
            while i < s.endIndex, !(s[i].isNumber || s[i] == ".") { i = s.index(after: i) }
            let unit = String(s[unitStart..<i])
            guard let size = unitSeconds[unit] else { throw GrafanaMacroError(description: "error parsing interval \(text)") }
            total += n * size
            parts += 1
        }
        guard parts > 0 else { throw GrafanaMacroError(description: "error parsing interval \(text)") }
        return total
    }
}

enum GrafanaSQL {
    /// Grafana's template-variable syntax: $name, [[name:fmt]], ${name.path:fmt}.
    private static let variablePattern = try! NSRegularExpression(
        pattern: #"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"#)
    /// The PostgreSQL macro engine's call syntax: $__name(args).
    private static let macroPattern = try! NSRegularExpression(pattern: #"\$([_a-zA-Z0-9]+)\(([^\)]*)\)"#)

    /// The SQL data sources' literal quoting (PostgresQueryModel.quoteLiteral).
    static func quoteLiteral(_ v: String) -> String { "'" + v.replacingOccurrences(of: "'", with: "''") + "'" }

    /// The front end's step: template variables and the built-in $__interval, $__interval_ms, $__from,
    /// $__to, $__range_s, $__range_ms, $__range. A name that is no variable ($__timeFilter…) stays as it is.
    static func interpolateVariables(_ sql: String, _ variables: [String: GrafanaVariableValue], time: GrafanaQueryTime) throws -> String {
        let rangeMs = Int64((time.to.timeIntervalSince(time.from) * 1000).rounded())
        let builtins: [String: String] = [
            "__interval": GrafanaInterval.format(ms: time.intervalMs), "__interval_ms": String(time.intervalMs),
            "__from": String(Int64((time.from.timeIntervalSince1970 * 1000).rounded())),
            "__to": String(Int64((time.to.timeIntervalSince1970 * 1000).rounded())),
            "__range_s": String(rangeMs / 1000), "__range_ms": String(rangeMs), "__range": GrafanaInterval.format(ms: rangeMs),
        ]
        var failure: GrafanaMacroError?
        let out = replace(variablePattern, in: sql) { groups in
            let name = groups[1] ?? groups[2] ?? groups[4] ?? ""
            let format = groups[3] ?? groups[6]
            if groups[5] != nil {
                failure = failure ?? GrafanaMacroError(description: "field paths (${\(name).…}) are not supported here")
                return groups[0]!
            }
            if let b = builtins[name] { return b }
            guard let v = variables[name] else { return groups[0]! }
            if let all = v.customAll { return all }
            do {
                return try formatValue(v, format: format)
            } catch {
                failure = failure ?? (error as? GrafanaMacroError)
                return groups[0]!
            }
        }
        if let failure { throw failure }
        return out
    }

    /// A variable's text: the SQL data source's own formatting without a format, else the named format.
    static func formatValue(_ v: GrafanaVariableValue, format: String?) throws -> String {
        switch format {
        case nil:
            // SqlDatasource.interpolateVariable: one string is quoted only for multi/All variables (escaped
            // either way); several values are each quoted and joined by commas.
            if v.values.count == 1 && !v.multiOrAll { return v.values[0].replacingOccurrences(of: "'", with: "''") }
            if v.values.count == 1 { return quoteLiteral(v.values[0]) }
            return v.values.map(quoteLiteral).joined(separator: ",")
        case "csv", "raw":
            return v.values.joined(separator: ",")
        case "sqlstring":
            return v.values.map(quoteLiteral).joined(separator: ",")
        case "singlequote":
            return v.values.map { "'" + $0.replacingOccurrences(of: "'", with: "\\'") + "'" }.joined(separator: ",")
        case "doublequote":
            return v.values.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",")
        case "pipe":
            return v.values.joined(separator: "|")
        case let f?:
            throw GrafanaMacroError(description: "variable format \(f) is not supported here")
        }
    }

    /// The back end's step for a PostgreSQL data source: sqleng's global substitutions, then the macro engine.
    static func interpolateMacros(_ sql: String, time: GrafanaQueryTime, timescaledb: Bool) throws -> String {
        var sql = sql
        sql = sql.replacingOccurrences(of: "$__interval_ms", with: String(time.intervalMs))
        sql = sql.replacingOccurrences(of: "$__interval", with: GrafanaInterval.format(ms: time.intervalMs))
        sql = sql.replacingOccurrences(of: "$__unixEpochFrom()", with: String(Int64(time.from.timeIntervalSince1970.rounded(.down))))
        sql = sql.replacingOccurrences(of: "$__unixEpochTo()", with: String(Int64(time.to.timeIntervalSince1970.rounded(.down))))
        let original = sql
        var failure: GrafanaMacroError?
        let out = replace(macroPattern, in: sql) { groups in
            var name = groups[1]!
            // Before Grafana 5.3, $__timeGroup added AS "time" itself; a comma right after the call (the
            // first occurrence of its text) still selects that form.
            if name == "__timeGroup", let r = original.range(of: groups[0]!), r.upperBound < original.endIndex, original[r.upperBound] == "," {
                name = "__timeGroupAlias"
            }
            let args = groups[2]!.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " ")) }
            do {
                return try evaluate(name, args, time: time, timescaledb: timescaledb)
            } catch {
                failure = failure ?? (error as? GrafanaMacroError)
                return "macro_error()"
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Both steps, as a panel query goes from the dashboard to the database.
    static func expand(_ sql: String, _ variables: [String: GrafanaVariableValue], time: GrafanaQueryTime, timescaledb: Bool) throws -> String {
        try interpolateMacros(interpolateVariables(sql, variables, time: time), time: time, timescaledb: timescaledb)
    }

    /// RFC 3339 in UTC with the fraction only when there is one (Go's time.RFC3339Nano).
    static func rfc3339Nano(_ d: Date) -> String {
        var micros = Int64((d.timeIntervalSince1970 * 1_000_000).rounded())
        var frac = micros % 1_000_000
        if frac < 0 { frac += 1_000_000 }
        micros -= frac
        let whole = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: whole)
        var s = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
        if frac != 0 {
            var f = String(format: "%06lld", frac)
            while f.hasSuffix("0") { f.removeLast() }
            s += "." + f
        }
        return s + "Z"
    }

    private static func evaluate(_ name: String, _ args: [String], time: GrafanaQueryTime, timescaledb: Bool) throws -> String {
        let first = args.first ?? ""
        // Stricter than Grafana, which would write an empty column into the SQL.
        func needColumn() throws {
            if first.isEmpty { throw GrafanaMacroError(description: "missing time column argument for macro \(name)") }
        }
        switch name {
        case "__time":
            try needColumn()
            return "\(first) AS \"time\""
        case "__timeEpoch":
            try needColumn()
            return "extract(epoch from \(first)) as \"time\""
        case "__timeFilter":
            try needColumn()
            return "\(first) BETWEEN '\(rfc3339Nano(time.from))' AND '\(rfc3339Nano(time.to))'"
        case "__timeFrom":
            return "'\(rfc3339Nano(time.from))'"
        case "__timeTo":
            return "'\(rfc3339Nano(time.to))'"
        case "__timeGroup", "__unixEpochGroup":
            guard args.count >= 2 else { throw GrafanaMacroError(description: "macro \(name) needs time column and interval and optional fill value") }
            let seconds = try GrafanaInterval.parse(args[1].trimmingCharacters(in: CharacterSet(charactersIn: "'")))
            if args.count == 3 { throw GrafanaMacroError(description: "fill modes of \(name) are not supported here") }
            if name == "__unixEpochGroup" { return "floor((\(first))/\(goFloat(seconds)))*\(goFloat(seconds))" }
            if timescaledb { return "time_bucket('\(String(format: "%.3f", seconds))s',\(first))" }
            return "floor(extract(epoch from \(first))/\(goFloat(seconds)))*\(goFloat(seconds))"
        case "__timeGroupAlias":
            return try evaluate("__timeGroup", args, time: time, timescaledb: timescaledb) + " AS \"time\""
        case "__unixEpochGroupAlias":
            return try evaluate("__unixEpochGroup", args, time: time, timescaledb: timescaledb) + " AS \"time\""
        case "__unixEpochFilter":
            try needColumn()
            return "\(first) >= \(unix(time.from)) AND \(first) <= \(unix(time.to))"
        case "__unixEpochNanoFilter":
            try needColumn()
            return "\(first) >= \(unixNano(time.from)) AND \(first) <= \(unixNano(time.to))"
        case "__unixEpochNanoFrom":
            return String(unixNano(time.from))
        case "__unixEpochNanoTo":
            return String(unixNano(time.to))
        default:
            throw GrafanaMacroError(description: "unknown macro \"\(name)\"")
        }
    }

    private static func unix(_ d: Date) -> Int64 { Int64(d.timeIntervalSince1970.rounded(.down)) }
    private static func unixNano(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1_000_000).rounded()) * 1000 }

    /// Go's %v of a float64: no trailing ".0" for whole numbers.
    private static func goFloat(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    /// Replaces every match; the closure gets the whole match and each capture group (nil when it did not take part).
    private static func replace(_ re: NSRegularExpression, in s: String, _ f: ([String?]) -> String) -> String {
        let ns = s as NSString
        var out = "", last = 0
        for m in re.matches(in: s, range: NSRange(location: 0, length: ns.length)) {
            out += ns.substring(with: NSRange(location: last, length: m.range.location - last))
            let groups: [String?] = (0..<m.numberOfRanges).map { i in
                let r = m.range(at: i)
                return r.location == NSNotFound ? nil : ns.substring(with: r)
            }
            out += f(groups)
            last = m.range.location + m.range.length
        }
        return out + ns.substring(from: last)
    }
}
