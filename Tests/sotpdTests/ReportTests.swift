// sotpd report: time values, CSV/JSON rendering and the availability arithmetic as pure functions; then
// the built binary against a freshly migrated scratch database seeded with events and flow aggregates
// whose answers are worked out by hand in the comments.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

/// 2026-11-01T00:00:00Z in microseconds, and an hour / a second of them.
private let nov1: Int64 = 1_793_491_200_000_000
private let hour: Int64 = 3_600_000_000
private let second: Int64 = 1_000_000

@Suite("Report times and rendering")
struct ReportTimeTests {
    @Test func parsesRFC3339DatesAndRelativeTimes() throws {
        let now = nov1 + 5 * hour
        #expect(try ReportTime.parse("2026-11-01T00:00:00Z", now: now) == nov1)
        #expect(try ReportTime.parse("2026-11-01t00:00:00z", now: now) == nov1)
        #expect(try ReportTime.parse("2026-11-01 01:00:00+01:00", now: now) == nov1)
        #expect(try ReportTime.parse("2026-10-31T20:30:00-03:30", now: now) == nov1)
        #expect(try ReportTime.parse("2026-11-01T00:00:00.5Z", now: now) == nov1 + 500_000)
        #expect(try ReportTime.parse("2026-11-01T00:00:00.123456789Z", now: now) == nov1 + 123_456)
        #expect(try ReportTime.parse("2026-11-01", now: now) == nov1)
        #expect(try ReportTime.parse("2024-02-29", now: now) == 1_709_164_800_000_000)
        #expect(try ReportTime.parse("1969-12-31T23:59:59Z", now: now) == -second)
        #expect(try ReportTime.parse("now", now: now) == now)
        #expect(try ReportTime.parse("-24h", now: now) == now - 24 * hour)
        #expect(try ReportTime.parse("-7d", now: now) == now - 7 * 24 * hour)
        #expect(try ReportTime.parse("-2w", now: now) == now - 14 * 24 * hour)
        #expect(try ReportTime.parse("-90s", now: now) == now - 90 * second)
        #expect(try ReportTime.parse("-30m", now: now) == now - 30 * 60 * second)
        #expect(try ReportTime.parse("-0h", now: now) == now)
    }

    @Test(arguments: [
        "", "yesterday", "2026-13-01", "2026-02-29", "2026-11-31", "2026-11-1", "2026-11-01T24:00:00Z",
        "2026-11-01T00:60:00Z", "2026-11-01T00:00:60Z", "2026-11-01T00:00:00", "2026-11-01T00:00:00.Z",
        "2026-11-01T00:00:00+1:00", "2026-11-01T00:00:00Zjunk", "-24", "-h", "-24x", "-+5h", "--5h", "-99999999999999999999d",
        "-1000000w", "+5h",
    ])
    func refusesWhatIsNotATime(_ text: String) {
        #expect(throws: ReportTimeError.self) { try ReportTime.parse(text, now: nov1) }
    }

    @Test func formatsUTCWithMicrosecondsOnlyWhenThere() throws {
        #expect(ReportTime.format(nov1) == "2026-11-01T00:00:00Z")
        #expect(ReportTime.format(nov1 + 1) == "2026-11-01T00:00:00.000001Z")
        #expect(ReportTime.format(-1) == "1969-12-31T23:59:59.999999Z")
        #expect(ReportTime.format(951_782_400_000_000) == "2000-02-29T00:00:00Z")
        // Every day of four years survives a round trip.
        for d in Int64(0)..<(4 * 366) {
            let t = nov1 + d * 24 * hour + 3723 * second
            #expect(try ReportTime.parse(ReportTime.format(t), now: 0) == t)
        }
    }

    @Test func csvQuotesPerRFC4180() {
        var t = ReportTable(report: "x", from: nov1, to: nov1 + hour, generatedAt: nov1, columns: ["name", "n", "v", "t"])
        t.rows = [
            [.text("core, \"main\""), .int(3), .number(99.5), .time(nov1)],
            [.text("two\nlines"), .int(-1), .null, .bool(true)],
            [.text("plain"), .int(0), .number(3600), .text("")],
        ]
        #expect(t.csv() == "name,n,v,t\r\n\"core, \"\"main\"\"\",3,99.5,2026-11-01T00:00:00Z\r\n\"two\nlines\",-1,,true\r\nplain,0,3600,\r\n")
    }

    @Test func jsonIsOneDocumentWithNumbersAsNumbers() throws {
        var t = ReportTable(
            report: "x", from: nov1, to: nov1 + hour, generatedAt: nov1 + 2 * hour, parameters: [("top", .int(5))],
            columns: ["name", "n", "v", "none"])
        t.rows = [[.text("a \"b\"\\\n\u{1}"), .int(3), .number(0.000001), .null]]
        let doc = try #require(JSONSerialization.jsonObject(with: Data(t.json().utf8)) as? [String: Any])
        #expect(doc["from"] as? String == "2026-11-01T00:00:00Z")
        #expect(doc["to"] as? String == "2026-11-01T01:00:00Z")
        #expect(doc["generated_at"] as? String == "2026-11-01T02:00:00Z")
        #expect((doc["parameters"] as? [String: Any])?["top"] as? Int == 5)
        let row = try #require((doc["rows"] as? [[String: Any]])?.first)
        #expect(row["name"] as? String == "a \"b\"\\\n\u{1}")
        #expect(row["n"] as? Int == 3)
        #expect(row["v"] as? Double == 0.000001)
        #expect(row["none"] is NSNull)
        t.rows = []
        #expect((try JSONSerialization.jsonObject(with: Data(t.json().utf8)) as? [String: Any])?["rows"] as? [Any] != nil)
    }
}

@Suite("Report availability arithmetic")
struct ReportUptimeMathTests {
    let from = nov1, to = nov1 + 24 * hour, now = nov1 + 1000 * hour

    /// An event `m` minutes after --from.
    func ev(_ m: Int64, _ up: Bool) -> UptimeEvent { UptimeEvent(time: nov1 + m * 60 * second, up: up) }

    @Test func noEventsIsUnknown() {
        let r = UptimeTotals.compute(initial: nil, events: [], from: from, to: to, now: now)
        #expect(r == UptimeTotals(unknown: 24 * hour, endState: nil))
        #expect(r.availabilityPercent == nil && r.mttr == nil)
    }

    @Test func downAcrossFromIsCutAtFrom() {
        let r = UptimeTotals.compute(initial: false, events: [ev(60, true)], from: from, to: to, now: now)
        #expect(r == UptimeTotals(up: 23 * hour, down: hour, outages: 1, longestOutage: hour, endState: true))
    }

    @Test func stillDownAtToIsCutAtTo() {
        let r = UptimeTotals.compute(initial: true, events: [ev(23 * 60, false)], from: from, to: to, now: now)
        #expect(r == UptimeTotals(up: 23 * hour, down: hour, outages: 1, longestOutage: hour, endState: false))
        #expect(r.availabilityPercent == 95.833333)
    }

    @Test func downAllWindowIsOneOutage() {
        let r = UptimeTotals.compute(initial: false, events: [ev(300, false)], from: from, to: to, now: now)
        #expect(r == UptimeTotals(down: 24 * hour, outages: 1, longestOutage: 24 * hour, endState: false))
        #expect(r.availabilityPercent == 0)
    }

    @Test func flappingWithRepeatsAndTies() {
        // Repeated downs merge into one outage; up and down at one instant: down (sorted last) wins.
        let events = [ev(0, true), ev(60, false), ev(70, false), ev(80, true), ev(180, true), ev(180, false), ev(195, true)]
        let r = UptimeTotals.compute(initial: nil, events: events, from: from, to: to, now: now)
        #expect(r.down == 20 * 60 * second + 15 * 60 * second)
        #expect(r.up == 24 * hour - r.down && r.unknown == 0)
        #expect(r.outages == 2 && r.longestOutage == 20 * 60 * second && r.endState == true)
        #expect(r.mttr == (35 * 60 * second) / 2)
    }

    @Test func upAtFromAfterDownIsNoOutage() {
        let r = UptimeTotals.compute(initial: false, events: [ev(0, true)], from: from, to: to, now: now)
        #expect(r == UptimeTotals(up: 24 * hour, endState: true))
        #expect(r.availabilityPercent == 100)
    }

    @Test func timeAfterNowIsUnknown() {
        let r = UptimeTotals.compute(initial: true, events: [ev(120, false), ev(1800, true)], from: from, to: to, now: nov1 + 6 * hour)
        #expect(r == UptimeTotals(up: 2 * hour, down: 4 * hour, unknown: 18 * hour, outages: 1, longestOutage: 4 * hour, endState: false))
    }

    @Test func windowBeforeAllEventsIsUnknownAndEmptyWindowIsZero() {
        #expect(UptimeTotals.compute(initial: nil, events: [ev(1800, true)], from: from, to: to, now: now).unknown == 24 * hour)
        #expect(UptimeTotals.compute(initial: true, events: [], from: to, to: from, now: now) == UptimeTotals())
    }
}

@Suite("sotpd report against the database", .serialized)
struct ReportDatabaseTests {
    func config(_ url: String, flowsDays: Int = 36500, aggregate: String = "\"exporter\", \"src_addr\", \"dst_addr\"") throws -> String {
        let path = TestDB.tempDir("cfg") + "/sotpd.toml"
        try """
        [database]
        url = "\(url)"
        password_file = "\(TestDB.passwordFile)"
        [retention]
        flows_days = \(flowsDays)
        [flow]
        aggregate = [\(aggregate)]
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A scratch database of this sotpd's schema. (Not TestDB.createScratchDatabase: that first migrates
    /// the shared database, which other branches running tests at the same time may have moved ahead.)
    func scratch(seed: String = "") throws -> String {
        let admin = try PGConnection(TestDB.info)
        let name = TestDB.uniqueName("sotp_report")
        try admin.execute("CREATE DATABASE \(name)")
        let url = TestDB.info.url[..<TestDB.info.url.lastIndex(of: "/")!] + "/" + name
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        if !seed.isEmpty { try conn.execute(seed) }
        return url
    }

    func drop(_ url: String) {
        guard let admin = try? PGConnection(TestDB.info), let name = url.split(separator: "/").last else { return }
        try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// A scratch database, migrated, with the fixtures below; dropped by the caller.
    func seeded() throws -> (url: String, cfg: String) {
        let url = try scratch(
            seed: """
            INSERT INTO devices (id, name, address, tags) VALUES
                (1, 'a-core, "main"', '192.0.2.1', '{core}'), (2, 'b-edge', '192.0.2.2', '{core,edge}'),
                (3, 'c-silent', '192.0.2.3', '{}'), (4, 'd-new', '2001:db8::4', '{}'), (5, 'e-flappy', '192.0.2.5', '{edge}');
            INSERT INTO device_events (time, device_id, address, kind, state, reason) VALUES
                -- a: up since the day before; down 06:00–06:30; down again from 23:00 to past the window.
                ('2026-10-31T12:00:00Z', 1, '192.0.2.1', 'icmp', 'up', 'r'),
                ('2026-11-01T06:00:00Z', 1, '192.0.2.1', 'icmp', 'down', 'r'),
                ('2026-11-01T06:30:00Z', 1, '192.0.2.1', 'icmp', 'up', 'r'),
                ('2026-11-01T23:00:00Z', 1, '192.0.2.1', 'icmp', 'down', 'r'),
                ('2026-11-02T05:00:00Z', 1, '192.0.2.1', 'icmp', 'up', 'after the window'),
                -- Other kinds of a's are not ICMP availability.
                ('2026-11-01T12:00:00Z', 1, '192.0.2.1', 'snmp', 'down', 'r'),
                ('2026-11-01T13:00:00Z', 1, '192.0.2.1', 'interface', 'down', 'r'),
                -- b: down across --from, up at 01:00.
                ('2026-10-31T22:00:00Z', 2, '192.0.2.2', 'icmp', 'up', 'r'),
                ('2026-10-31T23:00:00Z', 2, '192.0.2.2', 'icmp', 'down', 'r'),
                ('2026-11-01T01:00:00Z', 2, '192.0.2.2', 'icmp', 'up', 'r'),
                -- d: added at noon, up from its first event.
                ('2026-11-01T12:00:00Z', 4, '2001:db8::4', 'icmp', 'up', 'r'),
                -- e: up at --from exactly; down 01:00 (again 01:10), up 01:20; down for half a second at 02:00;
                -- up and down at the same instant 03:00 (down wins), up 03:15.
                ('2026-11-01T00:00:00Z', 5, '192.0.2.5', 'icmp', 'up', 'r'),
                ('2026-11-01T01:00:00Z', 5, '192.0.2.5', 'icmp', 'down', 'r'),
                ('2026-11-01T01:10:00Z', 5, '192.0.2.5', 'icmp', 'down', 'r'),
                ('2026-11-01T01:20:00Z', 5, '192.0.2.5', 'icmp', 'up', 'r'),
                ('2026-11-01T02:00:00Z', 5, '192.0.2.5', 'icmp', 'down', 'r'),
                ('2026-11-01T02:00:00.5Z', 5, '192.0.2.5', 'icmp', 'up', 'r'),
                ('2026-11-01T03:00:00Z', 5, '192.0.2.5', 'icmp', 'up', 'r'),
                ('2026-11-01T03:00:00Z', 5, '192.0.2.5', 'icmp', 'down', 'r'),
                ('2026-11-01T03:15:00Z', 5, '192.0.2.5', 'icmp', 'up', 'r'),
                -- 99: removed from the inventory; down 10:00–11:00.
                ('2026-11-01T10:00:00Z', 99, '192.0.2.99', 'icmp', 'down', 'r'),
                ('2026-11-01T11:00:00Z', 99, '192.0.2.99', 'icmp', 'up', 'r'),
                -- 98: removed long before the window: not listed.
                ('2026-09-01T00:00:00Z', 98, '192.0.2.98', 'icmp', 'up', 'r');
            -- Flow aggregates. Hour 0: .2 3000 bytes, .1 1000 (two rows), .3 500, 500 without a source
            -- (an aggregate keyed by exporter only). Hour 1: .3 700. The 03:00 row is outside the window.
            INSERT INTO flows_1m (time, exporter, src_addr, dst_addr, packets, bytes, flows) VALUES
                ('2026-11-01T00:00:00Z', '127.0.0.1', '10.0.0.1', '10.9.0.1', 6, 600, 1),
                ('2026-11-01T00:59:00Z', '127.0.0.1', '10.0.0.1', '10.9.0.2', 4, 400, 2),
                ('2026-11-01T00:10:00Z', '127.0.0.1', '10.0.0.2', '10.9.0.1', 30, 3000, 3),
                ('2026-11-01T00:20:00Z', '127.0.0.2', '10.0.0.3', '10.9.0.1', 5, 500, 1),
                ('2026-11-01T00:30:00Z', '127.0.0.2', NULL, NULL, 5, 500, 1),
                ('2026-11-01T01:30:00Z', '127.0.0.2', '10.0.0.3', '10.9.0.2', 7, 700, 1),
                ('2026-11-01T03:00:00Z', '127.0.0.1', '10.0.0.9', '10.9.0.1', 999, 99999, 9);
            -- Raw records: 100 bytes sampled 1 in 10, and 50 bytes unsampled.
            INSERT INTO flows (time, exporter, src_addr, dst_addr, packets, bytes, sampling_rate) VALUES
                ('2026-11-01T00:05:00Z', '127.0.0.1', '10.0.0.7', '10.9.0.1', 1, 100, 10),
                ('2026-11-01T00:06:00Z', '127.0.0.1', '10.0.0.8', '10.9.0.1', 2, 50, 0);
            """)
        return (url, try config(url))
    }

    func run(_ args: [String]) throws -> (status: Int32, output: String) { try TestDB.run(sotpdBinary, ["report"] + args) }

    /// Runs a report into a file; returns the file's text.
    func report(_ args: [String]) throws -> String {
        let out = TestDB.tempDir("report") + "/out"
        let r = try run(args + ["--output", out])
        #expect(r.status == 0, "\(r.output)")
        return try String(contentsOfFile: out, encoding: .utf8)
    }

    func rows(_ json: String) throws -> [[String: Any]] {
        let doc = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return try #require(doc["rows"] as? [[String: Any]])
    }

    @Test(.timeLimit(.minutes(2)))
    func uptimeFromTheEvents() throws {
        let (url, cfg) = try seeded()
        defer { drop(url) }
        let window = ["--config", cfg, "--from", "2026-11-01", "--to", "2026-11-02T00:00:00Z"]
        let csv = try report(["uptime"] + window)
        let lines = csv.components(separatedBy: "\r\n")
        #expect(lines[0] == "device_id,name,address,removed,availability_pct,up_s,down_s,unknown_s,outages,longest_outage_s,mttr_s,state")
        #expect(lines[1] == "1,\"a-core, \"\"main\"\"\",192.0.2.1,false,93.75,81000,5400,0,2,3600,2700,down")
        #expect(lines[2] == "2,b-edge,192.0.2.2,false,95.833333,82800,3600,0,1,3600,3600,up")
        #expect(lines[3] == "3,c-silent,192.0.2.3,false,,0,0,86400,0,0,,unknown")
        #expect(lines[4] == "4,d-new,2001:db8::4,false,100,43200,0,43200,0,0,,up")
        #expect(lines[5] == "5,e-flappy,192.0.2.5,false,97.568865,84299.5,2100.5,0,3,1200,700.166666,up")
        #expect(lines.count == 7 && lines[6] == "", "\(csv)")

        let json = try rows(report(["uptime", "--format", "json", "--include-removed"] + window))
        #expect(json.count == 6)
        let removed = try #require(json.last)
        #expect(removed["device_id"] as? Int == 99 && removed["removed"] as? Bool == true && removed["name"] as? String == "")
        #expect(removed["address"] as? String == "192.0.2.99")
        #expect(removed["availability_pct"] as? Double == 92.857142)
        #expect(removed["up_s"] as? Double == 46800 && removed["down_s"] as? Double == 3600 && removed["unknown_s"] as? Double == 36000)
        let e = try #require(json.first { $0["name"] as? String == "e-flappy" })
        #expect(e["down_s"] as? Double == 2100.5 && e["outages"] as? Int == 3 && e["mttr_s"] as? Double == 700.166666)
        let c = try #require(json.first { $0["name"] as? String == "c-silent" })
        #expect(c["availability_pct"] is NSNull && c["state"] as? String == "unknown")

        // The same up, down and unknown seconds as the database's own device_availability() (migration 2).
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        for row in json {
            let id = try #require(row["device_id"] as? Int)
            let db = try #require(try conn.query(
                "SELECT up_seconds, down_seconds, unknown_seconds FROM device_availability($1, '2026-11-01Z', '2026-11-02Z')", [String(id)]).first)
            #expect(db.map { Double($0!)! } == [row["up_s"], row["down_s"], row["unknown_s"]].map { $0 as? Double }, "device \(id)")
        }

        // Filters: by tag (any of), by name; the snmp kind sees a's one snmp event only.
        #expect(try rows(report(["uptime", "--format", "json", "--tag", "core"] + window)).map { $0["device_id"] as? Int } == [1, 2])
        #expect(try rows(report(["uptime", "--format", "json", "--tag", "edge", "--device", "e-flappy"] + window)).map { $0["device_id"] as? Int } == [5])
        let snmp = try rows(report(["uptime", "--format", "json", "--kind", "snmp", "--device", "a-core, \"main\""] + window))
        #expect(snmp.count == 1 && snmp[0]["down_s"] as? Double == 43200 && snmp[0]["unknown_s"] as? Double == 43200)

        // A window inside one outage; the same numbers to standard output.
        let r = try run(["uptime", "--device", "a-core, \"main\"", "--config", cfg, "--from", "2026-11-01T06:10:00Z", "--to", "2026-11-01T06:20:00Z"])
        #expect(r.status == 0 && r.output.hasSuffix("false,0,0,600,0,1,600,600,down\r\n"), "\(r.output)")

        let unknown = try run(["uptime", "--device", "nope"] + window)
        #expect(unknown.status == 2 && unknown.output.contains("--device: no device is named \"nope\""), "\(unknown.output)")
    }

    @Test(.timeLimit(.minutes(2)))
    func trafficTopTalkersPerPeriod() throws {
        let (url, cfg) = try seeded()
        defer { drop(url) }
        let window = ["--config", cfg, "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T03:00:00Z"]
        let csv = try report(["traffic", "--period", "hour", "--top", "2"] + window)
        #expect(csv == """
            period_start,period_end,rank,src_addr,bytes,packets,flows,bytes_pct\r
            2026-11-01T00:00:00Z,2026-11-01T01:00:00Z,1,10.0.0.2,3000,30,3,60\r
            2026-11-01T00:00:00Z,2026-11-01T01:00:00Z,2,10.0.0.1,1000,10,3,20\r
            2026-11-01T01:00:00Z,2026-11-01T02:00:00Z,1,10.0.0.3,700,7,1,100\r

            """)
        let r = try run(["traffic", "--period", "hour", "--top", "2"] + window)
        #expect(r.output.contains("500 bytes (8.77 %) in flows_1m have no src_addr"), "\(r.output)")

        // The whole window, by pair and by exporter; ranked by packets.
        var json = try rows(report(["traffic", "--period", "none", "--by", "pair", "--top", "1", "--format", "json"] + window))
        #expect(json.count == 1)
        #expect(json[0]["src_addr"] as? String == "10.0.0.2" && json[0]["dst_addr"] as? String == "10.9.0.1" && json[0]["bytes"] as? Int == 3000)
        #expect(json[0]["period_start"] as? String == "2026-11-01T00:00:00Z" && json[0]["period_end"] as? String == "2026-11-01T03:00:00Z")
        json = try rows(report(["traffic", "--period", "day", "--by", "exporter", "--format", "json"] + window))
        #expect(json.map { $0["exporter"] as? String } == ["127.0.0.1", "127.0.0.2"])
        #expect(json.map { $0["bytes"] as? Int } == [4000, 1700])
        #expect(json[0]["period_end"] as? String == "2026-11-01T03:00:00Z")
        // ISO weeks start on Monday: 2026-11-01 is a Sunday, so its week ends at 2026-11-02T00:00:00Z.
        json = try rows(report(["traffic", "--config", cfg, "--from", "2026-10-31", "--to", "2026-11-04", "--period", "week", "--by", "exporter", "--format", "json"]))
        #expect(json.map { $0["period_start"] as? String } == ["2026-10-31T00:00:00Z", "2026-10-31T00:00:00Z"])
        #expect(json.map { $0["period_end"] as? String } == ["2026-11-02T00:00:00Z", "2026-11-02T00:00:00Z"])
        #expect(json.map { $0["bytes"] as? Int } == [103_999, 1700])
        json = try rows(report(["traffic", "--period", "none", "--sort", "flows", "--format", "json"] + window))
        #expect(json.map { $0["src_addr"] as? String } == ["10.0.0.2", "10.0.0.1", "10.0.0.3"])  // flows tie: bytes decide

        // Raw records when the aggregation does not carry the key, scaled by the sampling rate.
        let rawCfg = try config(url, aggregate: "\"exporter\"")
        json = try rows(report(["traffic", "--config", rawCfg, "--from", "2026-11-01", "--to", "2026-11-02", "--format", "json"]))
        #expect(json.map { $0["src_addr"] as? String } == ["10.0.0.7", "10.0.0.8"])
        #expect(json.map { $0["bytes"] as? Int } == [1000, 50])
        #expect(json.map { $0["packets"] as? Int } == [10, 2])

        // Older than the retention: refused, naming --from and the key.
        let short = try config(url, flowsDays: 1)
        let empty = try run(["traffic", "--config", cfg, "--from", "2026-10-01", "--to", "2026-10-02"])
        #expect(empty.status == 0 && empty.output.contains("flows_1m holds no flows between 2026-10-01T00:00:00Z and 2026-10-02T00:00:00Z"), "\(empty.output)")
        let old = try run(["traffic", "--config", short, "--from", "-3d"])
        #expect(old.status == 2 && old.output.contains("--from") && old.output.contains("retention.flows_days = 1"), "\(old.output)")
    }

    @Test func badOptionsExitTwoNamingTheOption() throws {
        let url = try scratch()
        defer { drop(url) }
        let cfg = try config(url)
        let cases: [([String], String)] = [
            (["uptime", "--from", "yesterday"], "--from: \"yesterday\" is not a time"),
            (["uptime", "--from", "-1d", "--to", "2026-02-30"], "--to: \"2026-02-30\" is not a time"),
            (["uptime", "--from", "-1d", "--to", "-2d"], "--to ("),
            (["uptime", "--from", "-1d", "--format", "xml"], "--format must be csv or json, got \"xml\""),
            (["uptime", "--from", "-1d", "--kind", "bgp"], "--kind must be icmp or snmp"),
            (["uptime", "--from", "-1d", "--include-removed", "--tag", "x"], "--include-removed cannot be combined"),
            (["traffic", "--from", "-5x"], "--from: \"-5x\" has unit \"x\""),
            (["traffic", "--from", "-1d", "--period", "month"], "--period must be hour, day, week or none, got \"month\""),
            (["traffic", "--from", "-1d", "--top", "0"], "--top must be an integer in 1…10000, got \"0\""),
            (["traffic", "--from", "-1d", "--top", "ten"], "--top must be an integer in 1…10000, got \"ten\""),
            (["traffic"], "--from is required"),
            (["uptime", "--to", "now"], "--from is required"),
            (["traffic", "--from", "-1d", "--by", "port"], "--by must be src, dst, pair or exporter"),
            (["traffic", "--from", "-1d", "--sort", "size"], "--sort must be bytes, packets or flows"),
            (["traffic", "--from", "-1d", "--source", "disk"], "--source must be auto, aggregate or raw"),
        ]
        for (args, message) in cases {
            let r = try run(args + ["--config", cfg])
            #expect(r.status == 2 && r.output.contains(message), "\(args): \(r.output)")
        }
        let out = try run(["uptime", "--config", cfg, "--from", "-1h", "--output", "/nonexistent/dir/x.csv"])
        #expect(out.status == 1 && out.output.contains("--output /nonexistent/dir/x.csv"), "\(out.output)")
    }
}
