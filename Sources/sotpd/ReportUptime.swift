// `sotpd report uptime`: availability per device over a window, from the up/down events in device_events
// (the same rules as the database's device_availability()), with outages, the longest one and MTTR.
import ArgumentParser
import Foundation
import Sink

struct ReportUptime: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uptime",
        abstract: "Availability per device over [--from, --to), from the up/down events.",
        discussion: """
            The state in force at --from is the last event before it; each event's state holds until the \
            next one (also across sotpd restarts: the poller re-asserts the state when it starts again). \
            Time before a device's first event, and time after now, is unknown and counts neither as up \
            nor as down; availability_pct = up / (up + down), empty when both are 0. Two events at the \
            same instant: down wins. An outage is a run of down state; its length is counted inside the \
            window only (an outage across --from or still going at --to is cut there). mttr_s is \
            down_s / outages. state is the state at the end of the window (or now). Removed devices \
            (their events outlive them) are listed only with --include-removed, when they have an event \
            inside the window.
            """)
    @OptionGroup var options: ReportOptions
    @Option(name: .customLong("device"), help: "Only this device (by name); repeat for more.") var devices: [String] = []
    @Option(name: .customLong("tag"), help: "Only devices with this tag; repeat for any of several.") var tags: [String] = []
    @Option(help: "Which events: icmp (ping reachability) or snmp (agent reachability).") var kind: String = "icmp"
    @Flag(help: "Also list devices no longer in the inventory that have events in the window.") var includeRemoved = false

    func run() async throws {
        let now = ReportTime.nowMicros()
        let (from, to, format) = try options.resolve(command: "uptime", now: now)
        guard ["icmp", "snmp"].contains(kind) else { throw reportUsage("uptime", "--kind must be icmp or snmp, got \"\(kind)\"") }
        if includeRemoved && !(devices.isEmpty && tags.isEmpty) {
            throw reportUsage("uptime", "--include-removed cannot be combined with --device or --tag (removed devices have neither)")
        }
        let config = try options.config.load()
        let query = UptimeQuery(from: from, to: to, now: now, kind: kind, names: devices, tags: tags, includeRemoved: includeRemoved)
        let rows: [UptimeRow]
        do {
            rows = try await onThread("sotp-report") { try query.run(PGConnection(config.connectInfo)) }
        } catch let e as UptimeQuery.UnknownDevice {
            throw reportUsage("uptime", "--device: no device is named \"\(e.name)\"")
        } catch {
            throw fail("\(error)")
        }
        var table = ReportTable(
            report: "uptime", from: from, to: to, generatedAt: now,
            parameters: [("kind", .text(kind)), ("devices", .text(devices.joined(separator: ","))), ("tags", .text(tags.joined(separator: ",")))],
            columns: UptimeRow.columns)
        table.rows = rows.map(\.values)
        try options.emit(table, format: format)
    }
}

/// One event: when (µs since the epoch) and whether the device was up.
struct UptimeEvent: Equatable {
    var time: Int64
    var up: Bool
}

/// What one device did over a window, in microseconds.
struct UptimeTotals: Equatable {
    var up: Int64 = 0
    var down: Int64 = 0
    var unknown: Int64 = 0
    var outages = 0
    var longestOutage: Int64 = 0
    /// The state at the end of the known part of the window; nil: unknown.
    var endState: Bool?

    /// up / (up + down) in percent, rounded down to 6 decimals (so 100 means no down time at all);
    /// nil when nothing is known.
    var availabilityPercent: Double? {
        let known = up + down
        guard known > 0 else { return nil }
        if down == 0 { return 100 }
        return (Double(up) / Double(known) * 100e6).rounded(.down) / 1e6
    }

    /// Mean outage length inside the window; nil without outages.
    var mttr: Int64? { outages > 0 ? down / Int64(outages) : nil }

    /// The interval arithmetic. `initial` is the state in force at `from` (nil: unknown); `events` are
    /// those in [from, to) in time order. Time after `now` is unknown. Events at one instant: the last
    /// one applied wins, so callers sort 'down' after 'up' at equal times.
    static func compute(initial: Bool?, events: [UptimeEvent], from: Int64, to: Int64, now: Int64) -> UptimeTotals {
        var r = UptimeTotals()
        guard to > from else { return r }
        let hi = max(from, min(to, now))
        var state = initial
        var t = from
        var outage: Int64 = 0
        func add(_ span: Int64) {
            switch state {
            case true?: r.up += span
            case false?: r.down += span; outage += span
            case nil: r.unknown += span
            }
        }
        func closeOutage() {
            if outage > 0 {
                r.outages += 1
                r.longestOutage = max(r.longestOutage, outage)
            }
            outage = 0
        }
        for e in events where e.time >= from && e.time < hi {
            add(e.time - t)
            t = e.time
            if state == false && e.up { closeOutage() }
            state = e.up
        }
        add(hi - t)
        if state == false { closeOutage() }
        r.unknown += to - hi
        r.endState = state
        return r
    }
}

/// One line of the uptime report.
struct UptimeRow: Equatable {
    var deviceID: Int64
    var name: String
    var address: String
    var removed: Bool
    var totals: UptimeTotals

    static let columns = [
        "device_id", "name", "address", "removed", "availability_pct", "up_s", "down_s", "unknown_s", "outages",
        "longest_outage_s", "mttr_s", "state",
    ]

    var values: [ReportValue] {
        let t = totals
        return [
            .int(deviceID), .text(name), .text(address), .bool(removed),
            t.availabilityPercent.map(ReportValue.number) ?? .null,
            .number(seconds(t.up)), .number(seconds(t.down)), .number(seconds(t.unknown)), .int(Int64(t.outages)),
            .number(seconds(t.longestOutage)), t.mttr.map { .number(seconds($0)) } ?? .null,
            .text(t.endState.map { $0 ? "up" : "down" } ?? "unknown"),
        ]
    }

    private func seconds(_ us: Int64) -> Double { Double(us) / 1_000_000 }
}

/// The reads behind the uptime report: devices, the state of each at `from`, the events in the window.
struct UptimeQuery: Sendable {
    var from: Int64
    var to: Int64
    var now: Int64
    var kind: String
    var names: [String]
    var tags: [String]
    var includeRemoved: Bool

    struct UnknownDevice: Error { var name: String }

    func run(_ conn: borrowing PGConnection) throws -> [UptimeRow] {
        let hi = max(from, min(to, now))
        // Read in one snapshot, so an event written meanwhile cannot be both missed and counted.
        try conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { try? conn.execute("ROLLBACK") }
        var devices: [(id: Int64, name: String, address: String, removed: Bool)] = try conn.query(
            """
            SELECT id, name, coalesce(host(address), '') FROM devices
            WHERE ($1::text[] IS NULL OR name = ANY($1::text[])) AND ($2::text[] IS NULL OR tags && $2::text[])
            ORDER BY name
            """, [names.isEmpty ? nil : pgTextArray(names), tags.isEmpty ? nil : pgTextArray(tags)]
        ).map { (id: Int64($0[0]!)!, name: $0[1]!, address: $0[2]!, removed: false) }
        if let missing = names.first(where: { n in !devices.contains { $0.name == n } }) { throw UnknownDevice(name: missing) }
        if includeRemoved {
            devices += try conn.query(
                """
                SELECT DISTINCT ON (e.device_id) e.device_id, coalesce(host(e.address), '') FROM device_events e
                WHERE e.kind = $1 AND e.time >= \(ReportTime.sql(2)) AND e.time < \(ReportTime.sql(3))
                  AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = e.device_id)
                ORDER BY e.device_id, e.time DESC
                """, [kind, String(from), String(hi)]
            ).map { (id: Int64($0[0]!)!, name: "", address: $0[1]!, removed: true) }
        }
        guard !devices.isEmpty else { return [] }
        let ids = "{" + devices.map { String($0.id) }.joined(separator: ",") + "}"
        var initial: [Int64: Bool] = [:]
        for r in try conn.query(
            """
            SELECT d.id, s.state FROM unnest($1::int[]) AS d (id)
            LEFT JOIN LATERAL (
                SELECT e.state FROM device_events e
                WHERE e.device_id = d.id AND e.kind = $2 AND e.time < \(ReportTime.sql(3))
                ORDER BY e.time DESC, e.state ASC LIMIT 1) s ON true
            """, [ids, kind, String(from)])
        {
            if let s = r[1] { initial[Int64(r[0]!)!] = s == "up" }
        }
        var events: [Int64: [UptimeEvent]] = [:]
        // 'up' before 'down' at one instant, so the down is applied last and wins.
        for r in try conn.query(
            """
            SELECT device_id, \(ReportTime.micros("time")), state = 'up' FROM device_events
            WHERE device_id = ANY($1::int[]) AND kind = $2 AND time >= \(ReportTime.sql(3)) AND time < \(ReportTime.sql(4))
            ORDER BY device_id, time, state DESC
            """, [ids, kind, String(from), String(hi)])
        {
            events[Int64(r[0]!)!, default: []].append(UptimeEvent(time: Int64(r[1]!)!, up: r[2] == "t"))
        }
        return devices.map { d in
            UptimeRow(
                deviceID: d.id, name: d.name, address: d.address, removed: d.removed,
                totals: .compute(initial: initial[d.id], events: events[d.id] ?? [], from: from, to: to, now: now))
        }
    }
}
