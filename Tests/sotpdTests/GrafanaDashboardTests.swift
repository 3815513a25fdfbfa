// deploy/grafana against the real schema: every dashboard panel's SQL, every template-variable query and
// every alert rule's query, with Grafana's variables and macros expanded as Grafana expands them
// (GrafanaMacros.swift), run on a freshly migrated TimescaleDB seeded with sotpd-like rows
// (GrafanaSeed.swift), and checked for the shape its panel needs. Plus the provisioning files' wiring and
// the expander itself against the strings Grafana documents.
import Foundation
import Sink
import Testing
import TestSupport
import Yams

/// A JSON or YAML object.
typealias GrafanaObject = [String: Any]

@Suite("GrafanaDashboard")
struct GrafanaDashboardTests {
    static let root = TestDB.repoRoot + "/deploy/grafana"
    static let dashboardFiles = ["overview", "device", "flows", "syslog", "collector"]
    static let datasourceUID = "sotp-tsdb"

    // MARK: - The expander, against Grafana's documented output

    /// 2018-04-12 18:00 to 18:05 UTC, the range Grafana's own macro tests use.
    static let docTime = GrafanaQueryTime(
        from: Date(timeIntervalSince1970: 1_523_556_000), to: Date(timeIntervalSince1970: 1_523_556_300), intervalMs: 60_000)

    @Test func macrosExpandAsGrafanaDocuments() throws {
        func m(_ sql: String, ts: Bool = false) throws -> String { try GrafanaSQL.interpolateMacros(sql, time: Self.docTime, timescaledb: ts) }
        #expect(try m("select $__time(time_column)") == #"select time_column AS "time""#)
        #expect(try m("select $__timeEpoch(t)") == #"select extract(epoch from t) as "time""#)
        #expect(try m("WHERE $__timeFilter(time_column)") == "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'")
        #expect(try m("select $__timeFrom()") == "select '2018-04-12T18:00:00Z'")
        #expect(try m("select $__timeTo()") == "select '2018-04-12T18:05:00Z'")
        #expect(try m("SELECT $__timeGroup(time_column,'5m')") == "SELECT floor(extract(epoch from time_column)/300)*300")
        #expect(try m("SELECT $__timeGroupAlias(time_column,'5m')") == #"SELECT floor(extract(epoch from time_column)/300)*300 AS "time""#)
        // Pre-5.3 compatibility: a comma right after $__timeGroup adds the alias.
        #expect(try m("SELECT $__timeGroup(time_column,'5m'), value") == #"SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value"#)
        #expect(try m("$__timeGroup(time_column , '5m')") == "floor(extract(epoch from time_column)/300)*300")
        #expect(try m("GROUP BY $__timeGroup(time_column,'5m')", ts: true) == "GROUP BY time_bucket('300.000s',time_column)")
        #expect(try m("GROUP BY $__timeGroup(time_column , '12d')", ts: true) == "GROUP BY time_bucket('1036800.000s',time_column)")
        #expect(try m("GROUP BY $__timeGroup(time_column , '20ms')", ts: true) == "GROUP BY time_bucket('0.020s',time_column)")
        #expect(try m("SELECT $__timeGroupAlias(time, 1m)", ts: true) == #"SELECT time_bucket('60.000s',time) AS "time""#)
        #expect(try m("select $__unixEpochFilter(time)") == "select time >= 1523556000 AND time <= 1523556300")
        #expect(try m("select $__unixEpochNanoFilter(time)") == "select time >= 1523556000000000000 AND time <= 1523556300000000000")
        #expect(try m("select $__unixEpochNanoFrom(), $__unixEpochNanoTo()") == "select 1523556000000000000, 1523556300000000000")
        #expect(try m("SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')") == "SELECT floor((time_column+time_adjustment)/300)*300")
        #expect(try m("SELECT $__unixEpochGroupAlias(c,'5m')") == #"SELECT floor((c)/300)*300 AS "time""#)
        #expect(try m("$__unixEpochFrom() $__unixEpochTo() $__interval $__interval_ms") == "1523556000 1523556300 1m 60000")
        // Fractions of a second as Go's RFC3339Nano writes them.
        let half = GrafanaQueryTime(from: Date(timeIntervalSince1970: -312_915_600 + 0.5), to: Date(timeIntervalSince1970: 318_412_800.5), intervalMs: 1000)
        #expect(try GrafanaSQL.interpolateMacros("$__timeFilter(t)", time: half, timescaledb: false)
            == "t BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'")
        #expect(throws: GrafanaMacroError.self) { try m("$__timeFilter()") }
        #expect(throws: GrafanaMacroError.self) { try m("$__nope(x)") }
        #expect(throws: GrafanaMacroError.self) { try m("$__timeGroup(t, 'x5')") }
    }

    @Test func variablesInterpolateAsSQLDataSources() throws {
        let vars: [String: GrafanaVariableValue] = [
            "device": .single("7"),
            "name": .single("it's"),
            "hosts": GrafanaVariableValue(values: ["10.0.0.1", "o'neil"], multiOrAll: true),
            "one": GrafanaVariableValue(values: ["a"], multiOrAll: true),
            "iface": GrafanaVariableValue(values: ["1", "2"], multiOrAll: true, customAll: "-1"),
        ]
        func v(_ sql: String) throws -> String { try GrafanaSQL.interpolateVariables(sql, vars, time: Self.docTime) }
        #expect(try v("id = $device AND n = '$name'") == "id = 7 AND n = 'it''s'")
        #expect(try v("h IN ($hosts) AND x IN (${hosts})") == "h IN ('10.0.0.1','o''neil') AND x IN ('10.0.0.1','o''neil')")
        #expect(try v("[[hosts]]") == "'10.0.0.1','o''neil'")
        #expect(try v("o = $one") == "o = 'a'")
        #expect(try v("${hosts:csv}|${hosts:sqlstring}|${name:sqlstring}|${hosts:pipe}|${hosts:raw}")
            == "10.0.0.1,o'neil|'10.0.0.1','o''neil'|'it''s'|10.0.0.1|o'neil|10.0.0.1,o'neil")
        #expect(try v("${hosts:singlequote} ${hosts:doublequote}") == #"'10.0.0.1','o\'neil' "10.0.0.1","o'neil""#)
        #expect(try v("-1 IN ($iface)") == "-1 IN (-1)", "a custom all value goes in unformatted")
        #expect(try v("$__interval $__interval_ms ${__interval} $__range_s $__from") == "1m 60000 1m 300 1523556000000")
        // Not variables: macros and unknown names stay for the back end (or as typed).
        #expect(try v("$__timeFilter(time) AND $unknown") == "$__timeFilter(time) AND $unknown")
        #expect(throws: GrafanaMacroError.self) { try v("${hosts:nonsense}") }
        // Front end then back end, as a panel's query travels.
        #expect(try GrafanaSQL.expand("SELECT $__timeGroupAlias(time, $__interval) FROM t WHERE d = $device", vars, time: Self.docTime, timescaledb: true)
            == #"SELECT time_bucket('60.000s',time) AS "time" FROM t WHERE d = 7"#)
    }

    @Test func intervalsRoundAndFormatAsGrafana() throws {
        #expect(GrafanaInterval.format(ms: 60_000) == "1m")
        #expect(GrafanaInterval.format(ms: 90_000) == "1m")
        #expect(GrafanaInterval.format(ms: 86_400_000) == "1d")
        #expect(GrafanaInterval.format(ms: 604_800_000) == "7d")
        #expect(GrafanaInterval.format(ms: 500) == "500ms")
        #expect(GrafanaInterval.round(21_600) == 20_000)
        #expect(GrafanaInterval.round(172_800) == 120_000)
        #expect(try GrafanaInterval.parse("1m30s") == 90)
        #expect(try GrafanaInterval.parse("1w") == 604_800)
        let now = Date()
        #expect(try GrafanaInterval.calculate(from: now - 21_600, to: now, maxDataPoints: 1000, minInterval: nil) == 20_000)
        #expect(try GrafanaInterval.calculate(from: now - 21_600, to: now, maxDataPoints: 1000, minInterval: "1m") == 60_000)
    }

    // MARK: - Provisioning files

    @Test func provisioningIsWiredTogether() throws {
        let ds = try Self.yaml("provisioning/datasources/sotp.yaml")
        #expect(ds["apiVersion"] as? Int == 1)
        let sources = try #require(ds["datasources"] as? [GrafanaObject])
        #expect(sources.count == 1)
        let s = try #require(sources.first)
        #expect(s["uid"] as? String == Self.datasourceUID)
        #expect(s["type"] as? String == "grafana-postgresql-datasource")
        let json = try #require(s["jsonData"] as? GrafanaObject)
        #expect(json["timescaledb"] as? Bool == true)
        #expect(json["database"] as? String == "sotp")
        #expect(json["postgresVersion"] as? Int != nil)
        #expect(["disable", "require", "verify-ca", "verify-full"].contains(json["sslmode"] as? String ?? ""))
        #expect((s["secureJsonData"] as? GrafanaObject)?["password"] as? String == "$SOTP_DB_PASSWORD")

        let prov = try Self.yaml("provisioning/dashboards/sotp.yaml")
        let provider = try #require((prov["providers"] as? [GrafanaObject])?.first)
        #expect(provider["type"] as? String == "file")
        #expect(((provider["options"] as? GrafanaObject)?["path"] as? String)?.isEmpty == false)

        var uids: Set<String> = []
        for file in Self.dashboardFiles {
            let d = try Self.dashboard(file)
            let uid = try #require(d["uid"] as? String, "\(file).json has no uid")
            #expect(uids.insert(uid).inserted, "\(file).json: uid \(uid) used twice")
            #expect((d["schemaVersion"] as? Int ?? 0) >= 38, "\(file).json: schemaVersion of Grafana 10/11")
            var ids: Set<Int> = []
            for p in Self.panels(d) {
                let title = p["title"] as? String ?? "?"
                #expect(ids.insert(p["id"] as? Int ?? -1).inserted, "\(file).json: panel id of \(title) repeats")
                #expect(Self.uid(p["datasource"]) == Self.datasourceUID, "\(file).json \(title): panel data source")
                for t in p["targets"] as? [GrafanaObject] ?? [] {
                    #expect(Self.uid(t["datasource"]) == Self.datasourceUID, "\(file).json \(title): target data source")
                    #expect(["time_series", "table"].contains(t["format"] as? String ?? ""), "\(file).json \(title): format")
                    #expect(t["rawQuery"] as? Bool == true && (t["rawSql"] as? String)?.isEmpty == false, "\(file).json \(title): raw SQL")
                }
            }
            for v in Self.variables(d) where v["type"] as? String == "query" {
                #expect(Self.uid(v["datasource"]) == Self.datasourceUID, "\(file).json variable \(v["name"] ?? "?")")
            }
        }
        // Every /d/<uid> link in any dashboard goes to one of ours; Overview links to Device with the device.
        var linked: [String] = []
        for file in Self.dashboardFiles {
            let text = try String(contentsOfFile: "\(Self.root)/dashboards/\(file).json", encoding: .utf8)
            for part in text.components(separatedBy: "/d/").dropFirst() {
                linked.append(String(part.prefix { $0 != "/" && $0 != "?" && $0 != "\"" }))
            }
            if file == "overview" { #expect(text.contains("/d/sotp-device/sotp-device?var-device=${__data.fields.device_id}")) }
        }
        let alertText = try String(contentsOfFile: "\(Self.root)/provisioning/alerting/sotp-alerts.yaml", encoding: .utf8)
        for part in alertText.components(separatedBy: "/d/").dropFirst() {
            linked.append(String(part.prefix { $0 != "/" && $0 != "?" && $0 != "'" }))
        }
        #expect(!linked.isEmpty)
        for l in linked { #expect(uids.contains(l), "link to unknown dashboard \(l)") }
        let device = try Self.dashboard("device")
        #expect(Self.variables(device).contains { $0["name"] as? String == "device" })
    }

    /// Hypertables grow without bound: a query that reads one names a time range, so TimescaleDB
    /// excludes the chunks outside it (the panels' $__timeFilter, or a fixed "now() - interval" window).
    @Test func everyHypertableReadIsBoundedInTime() throws {
        var queries: [(place: String, sql: String)] = []
        for file in Self.dashboardFiles {
            let d = try Self.dashboard(file)
            for p in Self.panels(d) {
                for t in p["targets"] as? [GrafanaObject] ?? [] {
                    queries.append(("\(file).json panel \"\(p["title"] as? String ?? "?")\"", t["rawSql"] as? String ?? ""))
                }
            }
            for v in Self.variables(d) where v["type"] as? String == "query" {
                queries.append(("\(file).json variable \(v["name"] as? String ?? "?")", v["query"] as? String ?? ""))
            }
        }
        for g in try Self.yaml("provisioning/alerting/sotp-alerts.yaml")["groups"] as? [GrafanaObject] ?? [] {
            for r in g["rules"] as? [GrafanaObject] ?? [] {
                for q in r["data"] as? [GrafanaObject] ?? [] {
                    if let sql = (q["model"] as? GrafanaObject)?["rawSql"] as? String { queries.append(("alert \"\(r["title"] as? String ?? "?")\"", sql)) }
                }
            }
        }
        #expect(queries.count > 40)
        for (place, sql) in queries {
            for (table, _) in hypertables {
                let reads = try NSRegularExpression(pattern: "\\b(FROM|JOIN)\\s+\(table)\\b", options: .caseInsensitive)
                    .firstMatch(in: sql, range: NSRange(sql.startIndex..., in: sql)) != nil
                let bounded = sql.contains("$__timeFilter(") || sql.contains("now() - interval")
                #expect(!reads || bounded, "\(place) reads \(table) without a time range:\n\(sql)")
            }
        }
    }

    // MARK: - Every query on the real database

    @Test(.timeLimit(.minutes(5)))
    func everyQueryRunsOnTheRealSchemaWithTheShapeItsPanelNeeds() throws {
        let url = try Self.createDatabase()
        defer { Self.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password, applicationName: "sotp-grafana-tests"))
        try Schema.migrate(conn)
        try conn.execute(GrafanaSeed.sql)
        try conn.execute("SET TimeZone = 'UTC'")

        let ds = try #require((try Self.yaml("provisioning/datasources/sotp.yaml")["datasources"] as? [GrafanaObject])?.first)
        let dsJSON = ds["jsonData"] as? GrafanaObject ?? [:]
        let timescale = dsJSON["timescaledb"] as? Bool ?? false
        let dsMinInterval = dsJSON["timeInterval"] as? String
        var checked = 0

        for file in Self.dashboardFiles {
            let d = try Self.dashboard(file)
            let defaultHours: Double = file == "flows" ? 1 : 6
            // Defaults as the dashboard opens; then other choices (two values of each multi variable, the
            // last option of single ones, a search text); flows also over two days (flows_1m under "auto").
            var runs: [(label: String, hours: Double, choice: Choice)] = [("defaults", defaultHours, .defaults), ("6 h, other choices", 6, .alternate)]
            if file == "flows" { runs.append(("2 days", 48, .defaults)) }
            for run in runs {
                let to = Date(), from = to - run.hours * 3600
                let varTime = GrafanaQueryTime(from: from, to: to, intervalMs: try GrafanaInterval.calculate(from: from, to: to, maxDataPoints: 1000, minInterval: dsMinInterval))
                let vars: [String: GrafanaVariableValue]
                do {
                    vars = try resolveVariables(d, file: file, conn, time: varTime, timescale: timescale, choice: run.choice)
                } catch {
                    Issue.record("\(file).json (\(run.label)): variables: \(error)")
                    continue
                }
                for p in Self.panels(d) {
                    let title = p["title"] as? String ?? "?"
                    let minInterval = (p["interval"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? dsMinInterval
                    let time = GrafanaQueryTime(
                        from: from, to: to,
                        intervalMs: try GrafanaInterval.calculate(from: from, to: to, maxDataPoints: p["maxDataPoints"] as? Int ?? 1000, minInterval: minInterval))
                    for t in p["targets"] as? [GrafanaObject] ?? [] {
                        let raw = t["rawSql"] as? String ?? ""
                        let place = "\(file).json, panel \"\(title)\" (\(run.label))"
                        let sql: String
                        do { sql = try GrafanaSQL.expand(raw, vars, time: time, timescaledb: timescale) } catch {
                            Issue.record("\(place): \(error)\nSQL:\n\(raw)")
                            continue
                        }
                        let result: QueryResult
                        do { result = try Self.run(conn, sql) } catch {
                            Issue.record("\(place): \(error)\nSQL:\n\(sql)")
                            continue
                        }
                        checked += 1
                        for problem in Self.shapeProblems(result, panel: p, format: t["format"] as? String ?? "table", needRows: run.choice == .defaults) {
                            Issue.record("\(place): \(problem)\nSQL:\n\(sql)")
                        }
                    }
                }
            }
        }

        // Alert rules: each SQL query over its relative range, one number per row and text labels, and the
        // seeded problems cross each rule's threshold.
        let alerts = try Self.yaml("provisioning/alerting/sotp-alerts.yaml")
        #expect(alerts["apiVersion"] as? Int == 1)
        let groups = try #require(alerts["groups"] as? [GrafanaObject])
        var rules = 0
        for g in groups {
            #expect(g["folder"] as? String != nil && g["interval"] != nil, "alert group \(g["name"] ?? "?")")
            for r in g["rules"] as? [GrafanaObject] ?? [] {
                rules += 1
                let title = r["title"] as? String ?? "?"
                let data = r["data"] as? [GrafanaObject] ?? []
                let refs = Set(data.compactMap { $0["refId"] as? String })
                #expect(refs.contains(r["condition"] as? String ?? ""), "alert \(title): condition names no query")
                #expect(r["uid"] as? String != nil && r["for"] != nil, "alert \(title): uid and for")
                var threshold: (type: String, params: [Double])?
                for q in data {
                    let model = q["model"] as? GrafanaObject ?? [:]
                    if q["datasourceUid"] as? String == "__expr__" {
                        #expect(refs.contains(model["expression"] as? String ?? ""), "alert \(title): expression \(q["refId"] ?? "?") reads no query")
                        if model["type"] as? String == "threshold", let c = (model["conditions"] as? [GrafanaObject])?.first,
                            let e = c["evaluator"] as? GrafanaObject {
                            threshold = (e["type"] as? String ?? "", (e["params"] as? [Any] ?? []).compactMap { ($0 as? Double) ?? ($0 as? Int).map(Double.init) })
                        }
                    } else {
                        #expect(q["datasourceUid"] as? String == Self.datasourceUID, "alert \(title): data source")
                    }
                }
                for q in data where q["datasourceUid"] as? String == Self.datasourceUID {
                    let model = q["model"] as? GrafanaObject ?? [:]
                    let raw = model["rawSql"] as? String ?? ""
                    let range = q["relativeTimeRange"] as? GrafanaObject ?? [:]
                    let to = Date() - Double(range["to"] as? Int ?? 0), from = Date() - Double(range["from"] as? Int ?? 600)
                    let time = GrafanaQueryTime(from: from, to: to, intervalMs: Int64(model["intervalMs"] as? Int ?? 1000))
                    let place = "alert rule \"\(title)\""
                    do {
                        let sql = try GrafanaSQL.expand(raw, [:], time: time, timescaledb: timescale)
                        let result = try Self.run(conn, sql)
                        checked += 1
                        let numeric = result.columns.indices.filter { Self.isNumeric(result.columns[$0].type) }
                        let labels = result.columns.indices.filter { result.columns[$0].type == "text" }
                        if numeric.count != 1 || numeric.count + labels.count != result.columns.count {
                            Issue.record("\(place): needs text label columns and one number, got \(result.columns)\nSQL:\n\(sql)")
                        } else if result.rows.isEmpty {
                            Issue.record("\(place): no rows from the seeded problems\nSQL:\n\(sql)")
                        } else if let threshold {
                            let values = result.rows.compactMap { $0[numeric[0]].flatMap(Double.init) }
                            let fires = values.contains { v in
                                switch threshold.type {
                                case "gt": v > threshold.params[0]
                                case "lt": v < threshold.params[0]
                                case "within_range": v > threshold.params[0] && v < threshold.params[1]
                                case "outside_range": v < threshold.params[0] || v > threshold.params[1]
                                default: false
                                }
                            }
                            #expect(fires, "\(place): no seeded row crosses \(threshold); values \(values)")
                        } else {
                            Issue.record("\(place): no threshold expression")
                        }
                    } catch {
                        Issue.record("\(place): \(error)\nSQL:\n\(raw)")
                    }
                }
            }
        }
        #expect(rules >= 6)
        #expect(checked > 50, "queries run: \(checked)")
    }

    // MARK: - Helpers

    /// An empty database of this test's own on the test server. Made over a plain connection, not
    /// TestDB.connect(): that migrates the shared database, which another branch's newer schema may hold.
    static func createDatabase() throws -> String {
        let admin = try PGConnection(TestDB.info)
        let name = TestDB.uniqueName("sotp_grafana")
        try admin.execute("CREATE DATABASE \(name)")
        let base = TestDB.info.url
        return base[..<base.lastIndex(of: "/")!] + "/" + name
    }

    static func dropDatabase(_ url: String) {
        guard let admin = try? PGConnection(TestDB.info), let name = url.split(separator: "/").last else { return }
        try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    enum Choice { case defaults, alternate }

    struct QueryResult {
        var columns: [(name: String, type: String)]
        var rows: [[String?]]
    }

    /// Runs one SELECT through a temporary view, so the catalog gives the result's column names and types.
    static func run(_ conn: borrowing PGConnection, _ sql: String) throws -> QueryResult {
        try conn.execute("DROP VIEW IF EXISTS pg_temp.grafana_probe")
        try conn.execute("CREATE TEMP VIEW grafana_probe AS\n" + sql)
        let cols = try conn.query(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'pg_temp.grafana_probe'::regclass AND attnum > 0 ORDER BY attnum")
        let rows = try conn.query("SELECT * FROM grafana_probe")
        return QueryResult(columns: cols.map { ($0[0] ?? "", $0[1] ?? "") }, rows: rows)
    }

    static func isNumeric(_ type: String) -> Bool {
        ["smallint", "integer", "bigint", "real", "double precision"].contains(type) || type.hasPrefix("numeric")
    }

    /// What is wrong with a result for its panel: time series need `time` (timestamptz) first, numbers
    /// after it (a text `metric` column names series), sorted by time; every column the panel names
    /// (overrides, reduce fields, data links, organize renames, `${__field.labels.x}`) must exist.
    static func shapeProblems(_ r: QueryResult, panel: GrafanaObject, format: String, needRows: Bool) -> [String] {
        var problems: [String] = []
        let names = r.columns.map(\.name)
        if Set(names).count != names.count { problems.append("duplicate column names \(names)") }
        if needRows && r.rows.isEmpty { problems.append("no rows, though the seed data should give some") }
        if format == "time_series" {
            if r.columns.first?.name != "time" || r.columns.first?.type != "timestamp with time zone" {
                problems.append("time series must start with time (timestamptz), got \(r.columns.first.map { "\($0.name) \($0.type)" } ?? "nothing")")
            }
            for c in r.columns.dropFirst() where !isNumeric(c.type) && !(c.name == "metric" && c.type == "text") {
                problems.append("time series column \(c.name) is \(c.type), not a number (or a text metric)")
            }
            let times = r.rows.compactMap { $0.first ?? nil }
            if times != times.sorted() { problems.append("rows are not sorted by time") }
        }
        for n in referencedColumns(panel) where !names.contains(n) {
            problems.append("the panel refers to column \(n), the query returns \(names)")
        }
        return problems
    }

    static func referencedColumns(_ panel: GrafanaObject) -> Set<String> {
        var out: Set<String> = []
        let overrides = (panel["fieldConfig"] as? GrafanaObject)?["overrides"] as? [GrafanaObject] ?? []
        for o in overrides {
            if let m = o["matcher"] as? GrafanaObject, m["id"] as? String == "byName", let n = m["options"] as? String { out.insert(n) }
        }
        if let fields = ((panel["options"] as? GrafanaObject)?["reduceOptions"] as? GrafanaObject)?["fields"] as? String,
            fields.hasPrefix("/^"), fields.hasSuffix("$/") {
            out.insert(String(fields.dropFirst(2).dropLast(2)))
        }
        for t in panel["transformations"] as? [GrafanaObject] ?? [] where t["id"] as? String == "organize" {
            for k in ((t["options"] as? GrafanaObject)?["renameByName"] as? GrafanaObject ?? [:]).keys { out.insert(k) }
        }
        let text = String(decoding: (try? JSONSerialization.data(withJSONObject: panel)) ?? Data(), as: UTF8.self)
        for marker in ["${__data.fields.", "${__field.labels."] {
            for part in text.components(separatedBy: marker).dropFirst() {
                out.insert(String(part.prefix { $0 != "}" && $0 != ":" }))
            }
        }
        return out
    }

    /// Template variables in order (later ones may use earlier ones), each with the value a user would
    /// have: the dashboard's default, or (`alternate`) other picks that exercise multi-value quoting.
    func resolveVariables(_ d: GrafanaObject, file: String, _ conn: borrowing PGConnection, time: GrafanaQueryTime, timescale: Bool, choice: Choice) throws -> [String: GrafanaVariableValue] {
        var vars: [String: GrafanaVariableValue] = [:]
        for v in Self.variables(d) {
            let name = v["name"] as? String ?? "?"
            let multi = v["multi"] as? Bool ?? false, includeAll = v["includeAll"] as? Bool ?? false
            let current = (v["current"] as? GrafanaObject)?["value"]
            let wantsAll = (current as? String) == "$__all" || (current as? [String])?.contains("$__all") == true
            var options: [String] = []
            switch v["type"] as? String {
            case "query":
                let raw = (v["query"] as? String) ?? ((v["query"] as? GrafanaObject)?["rawSql"] as? String) ?? ""
                let sql = try GrafanaSQL.expand(raw, vars, time: time, timescaledb: timescale)
                let r: QueryResult
                do { r = try Self.run(conn, sql) } catch {
                    throw GrafanaMacroError(description: "variable \(name): \(error)\nSQL:\n\(sql)")
                }
                let names = r.columns.map(\.name)
                if r.columns.count > 1 && !(names.contains("__text") && names.contains("__value")) {
                    throw GrafanaMacroError(description: "variable \(name): several columns but not __text and __value: \(names)")
                }
                let col = names.firstIndex(of: "__value") ?? 0
                options = r.rows.compactMap { $0[col] }
                if options.isEmpty && choice == .defaults {
                    throw GrafanaMacroError(description: "variable \(name): no options from the seed data\nSQL:\n\(sql)")
                }
            case "custom":
                options = (v["options"] as? [GrafanaObject] ?? []).compactMap { $0["value"] as? String }
            case "textbox", "constant":
                let text = (current as? String) ?? (v["query"] as? String) ?? ""
                vars[name] = .single(choice == .alternate && v["type"] as? String == "textbox" ? "link" : text)
                continue
            default:
                throw GrafanaMacroError(description: "variable \(name): type \(v["type"] ?? "?") is not handled by this test")
            }
            switch choice {
            case _ where options.isEmpty:
                // Nothing to pick (a device without SNMP interfaces): Grafana keeps "All" when the variable has it.
                vars[name] = GrafanaVariableValue(values: [], multiOrAll: true, customAll: includeAll ? v["allValue"] as? String : nil)
            case .defaults where includeAll && wantsAll:
                vars[name] = GrafanaVariableValue(values: options, multiOrAll: true, customAll: v["allValue"] as? String)
            case .defaults:
                let pick = (current as? String).flatMap { options.contains($0) ? $0 : nil } ?? options[0]
                vars[name] = GrafanaVariableValue(values: [pick], multiOrAll: multi || includeAll)
            case .alternate where multi:
                vars[name] = GrafanaVariableValue(values: Array(options.prefix(2)), multiOrAll: true)
            case .alternate:
                vars[name] = GrafanaVariableValue(values: [options.last!], multiOrAll: includeAll)
            }
        }
        return vars
    }

    static func yaml(_ path: String) throws -> GrafanaObject {
        let text = try String(contentsOfFile: "\(root)/\(path)", encoding: .utf8)
        guard let o = try Yams.load(yaml: text) as? GrafanaObject else { throw GrafanaMacroError(description: "\(path): not a YAML mapping") }
        return o
    }

    static func dashboard(_ name: String) throws -> GrafanaObject {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(root)/dashboards/\(name).json"))
        guard let o = try JSONSerialization.jsonObject(with: data) as? GrafanaObject else { throw GrafanaMacroError(description: "\(name).json: not a JSON object") }
        return o
    }

    /// Panels, including those inside collapsed rows.
    static func panels(_ d: GrafanaObject) -> [GrafanaObject] {
        (d["panels"] as? [GrafanaObject] ?? []).flatMap { p in p["type"] as? String == "row" ? (p["panels"] as? [GrafanaObject] ?? []) : [p] }
    }

    static func variables(_ d: GrafanaObject) -> [GrafanaObject] { (d["templating"] as? GrafanaObject)?["list"] as? [GrafanaObject] ?? [] }

    static func uid(_ ref: Any?) -> String? { (ref as? GrafanaObject)?["uid"] as? String }
}
