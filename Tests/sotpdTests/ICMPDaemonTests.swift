// sotpd run with the ICMP poller, end to end: devices in a database of their own point at hosts in
// network namespaces; samples and up/down events land in TimescaleDB, a device added while running is
// polled within seconds, and availability computed from the events matches the outage.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

@Suite("sotpd ICMP", .serialized, .enabled(if: NetNS.available, Comment(rawValue: NetNS.unavailableReason ?? "")))
struct ICMPDaemonTests {
    /// Polls `sql` (a count) until it reaches `atLeast` or `timeout` passes; returns the last value.
    func waitFor(_ conn: borrowing PGConnection, _ sql: String, _ params: [String?] = [], atLeast: Int, timeout: Double) throws -> Int {
        let end = Date().addingTimeInterval(timeout)
        var n = 0
        while Date() < end {
            n = Int(try TestDB.scalar(conn, sql, params) ?? "0") ?? 0
            if n >= atLeast { return n }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return n
    }

    @Test(.timeLimit(.minutes(3)))
    func pollsTheInventoryAndStoresSamplesAndEvents() throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        let a = try NetNS.create(tag: "sotpd-a"), b = try NetNS.create(tag: "sotpd-b")
        defer {
            a.destroy()
            b.destroy()
        }
        try a.startResponder(delayMicros: 5_000, lossPercent: 0)
        try b.startResponder(delayMicros: 5_000, lossPercent: 0)
        let wireB = try WireCapture.start(interface: b.interface)
        _ = try conn.query(
            "INSERT INTO devices (name, address) VALUES ('ns-a', $1::inet), ('ns-a6', $2::inet)", [a.hostV4, a.hostV6])

        let cfg = try daemonConfig(url: url, """
        [icmp]
        interval_s = 1
        probes = 2
        spacing_ms = 100
        timeout_ms = 300
        down_after = 2
        up_after = 1
        inventory_refresh_s = 1
        [flow]
        enabled = false
        [stats]
        interval_s = 1
        [log]
        level = "info"
        """)
        let sotpd = try Child(sotpdBinary, ["run", "--config", cfg])
        var stopped = false
        defer { if !stopped { sotpd.signal(SIGKILL); _ = sotpd.wait(timeout: 10) } }

        // Both families are polled and come up.
        let samples = "SELECT count(DISTINCT d.name) FROM icmp_samples s JOIN devices d ON d.id = s.device_id WHERE s.received = 2"
        #expect(try waitFor(conn, samples, atLeast: 2, timeout: 20) == 2, "\(sotpd.output)")
        let ups = "SELECT count(*) FROM device_events e JOIN devices d ON d.id = e.device_id WHERE d.name = $1 AND e.state = $2"
        #expect(try waitFor(conn, ups, ["ns-a6", "up"], atLeast: 1, timeout: 10) == 1)

        // A device added while sotpd runs is polled within seconds, without a restart.
        _ = try conn.query("INSERT INTO devices (name, address) VALUES ('ns-b', $1::inet)", [b.hostV4])
        let added = Date()
        let bRows = "SELECT count(*) FROM icmp_samples s JOIN devices d ON d.id = s.device_id WHERE d.name = 'ns-b' AND s.received = 2"
        #expect(try waitFor(conn, bRows, atLeast: 1, timeout: 10) >= 1)
        #expect(Date().timeIntervalSince(added) < 6, "picked up after \(Date().timeIntervalSince(added)) s")

        // Host a stops answering for about 4 s: down after two failed cycles, then up again.
        try a.pauseResponder()
        let pausedAt = Date()
        #expect(try waitFor(conn, ups, ["ns-a", "down"], atLeast: 1, timeout: 10) == 1, "\(sotpd.output)")
        Thread.sleep(forTimeInterval: max(0, 4 - Date().timeIntervalSince(pausedAt)))
        try a.resumeResponder()
        let outage = Date().timeIntervalSince(pausedAt)
        #expect(try waitFor(conn, ups, ["ns-a", "up"], atLeast: 2, timeout: 10) == 2)
        #expect(try waitFor(conn, ups, ["ns-a6", "up"], atLeast: 2, timeout: 10) == 2)
        Thread.sleep(forTimeInterval: 1.5)

        sotpd.signal(SIGTERM)
        #expect(sotpd.wait(timeout: 60) == 0, "\(sotpd.output)")
        stopped = true
        #expect(sotpd.output.contains("device down"), "\(sotpd.output)")

        let events = try conn.query(
            "SELECT e.state FROM device_events e JOIN devices d ON d.id = e.device_id WHERE d.name = 'ns-a' ORDER BY e.time")
        #expect(events == [["up"], ["down"], ["up"]])
        // The same host over IPv6 went through the same outage.
        let events6 = try conn.query(
            "SELECT e.state FROM device_events e JOIN devices d ON d.id = e.device_id WHERE d.name = 'ns-a6' ORDER BY e.time")
        #expect(events6 == [["up"], ["down"], ["up"]])
        // Over the window from the first up to the end, the down time is the outage, to about a cycle.
        let down = try TestDB.scalar(conn, """
            SELECT down_seconds FROM device_availability(
                (SELECT id FROM devices WHERE name = 'ns-a'),
                (SELECT min(time) FROM device_events), now())
            """).flatMap(Double.init) ?? -1
        #expect(abs(down - outage) <= 1.5, "down \(down) s, outage \(outage) s")
        // The unaffected device has no down event and RTTs that match the wire.
        #expect(try TestDB.scalar(conn, ups, ["ns-b", "down"]) == "0")
        let median = try TestDB.scalar(conn, """
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY rtt_avg_ms) FROM icmp_samples s
            JOIN devices d ON d.id = s.device_id WHERE d.name = 'ns-b'
            """).flatMap(Double.init) ?? 0
        // The reference is what the wire saw (the kernel delays replies for everyone on a busy machine).
        let wireMedian = try #require(try wireB.stop().median)
        #expect(median >= 5 && abs(median - wireMedian) < 0.5, "median \(median) ms, wire \(wireMedian) ms")
        // sotpd's own counters include the poller's.
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM sotp_stats WHERE metric = 'icmp.probes_sent' AND value > 0").flatMap(Int.init) ?? 0 > 0)
    }
}

@Suite("sotpd ping sockets", .serialized, .enabled(if: NetNS.available, Comment(rawValue: NetNS.unavailableReason ?? "")))
struct PingSocketTests {
    @Test func unprivilegedDatagramSocketsWhereThePingGroupAllowsThem() throws {
        // ping_group_range is per namespace: let root's group use ICMP datagram sockets in one of ours.
        let ns = try NetNS.create(tag: "dgram")
        defer { ns.destroy() }
        #expect(try ns.run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 0", "net.ipv4.icmp_echo_ignore_all=0", "net.ipv6.icmp.echo_ignore_all=0"]).status == 0)
        let r = try ns.run([sotpdBinary, "ping", "--socket", "dgram", "-c", "3", "--spacing-ms", "20", "127.0.0.1", "::1"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("127.0.0.1 : 3/3") && r.output.contains("::1 : 3/3"), "\(r.output)")
    }

    @Test func withNeitherSocketTheErrorNamesBothAndWhatToChange() throws {
        // Without CAP_NET_RAW, in a namespace whose ping_group_range admits nobody.
        let ns = try NetNS.create(tag: "nosock")
        defer { ns.destroy() }
        #expect(try ns.run(["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"]).status == 0)
        let r = try ns.run(["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", sotpdBinary, "ping", "127.0.0.1"])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("raw ICMP socket") && r.output.contains("CAP_NET_RAW"), "\(r.output)")
        #expect(r.output.contains("ICMP datagram socket") && r.output.contains("ping_group_range, now 1 0"), "\(r.output)")
    }
}
