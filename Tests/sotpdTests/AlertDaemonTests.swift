// `sotpd run` alerting end to end: a device in a network namespace stops answering and comes back; the
// daemon's ICMP poller feeds the evaluator, which notifies a webhook receiver the test runs on 127.0.0.1
// (failing its first attempts): exactly one firing and one resolved notification, in order.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

@Suite("sotpd alerts", .serialized, .enabled(if: NetNS.available, Comment(rawValue: NetNS.unavailableReason ?? "")))
struct AlertDaemonTests {
    @Test(.timeLimit(.minutes(3)))
    func deviceDownThenBackGivesOneFiringAndOneResolvedNotice() throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        let ns = try NetNS.create(tag: "alert")
        defer { ns.destroy() }
        try ns.startResponder(delayMicros: 2_000, lossPercent: 0)
        _ = try conn.query("INSERT INTO devices (name, address) VALUES ('ns-alert', $1::inet)", [ns.hostV4])
        // The first notification meets a 500 and a dropped connection before it gets through.
        let receiver = try WebhookReceiver(script: [.status(500), .close])
        defer { receiver.stop() }

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
        [alerts]
        device_down_after_min = 0
        [[alerts.webhooks]]
        name = "test"
        url = "\(receiver.url)"
        retry_initial_ms = 100
        retry_max_ms = 500
        """)
        let sotpd = try Child(sotpdBinary, ["run", "--config", cfg])
        var stopped = false
        defer { if !stopped { sotpd.signal(SIGKILL); _ = sotpd.wait(timeout: 10) } }

        // Up first: no notification for a device that answers.
        let ups = "SELECT count(*) FROM device_events WHERE state = $1"
        #expect(try waitFor(conn, ups, ["up"], atLeast: 1, timeout: 20) == 1, "\(sotpd.output)")
        Thread.sleep(forTimeInterval: 1.5)
        #expect(receiver.requests.isEmpty, "\(receiver.requests.map { String(decoding: $0.body, as: UTF8.self) })")

        // The host stops answering: down after two failed cycles, notified after two failed attempts.
        try ns.pauseResponder()
        let firing = receiver.waitForAccepted(1, timeout: 20)
        #expect(firing.count == 1, "\(sotpd.output)")
        #expect(receiver.requests.map(\.answered) == [500, nil, 200])
        // More down cycles: still one notification.
        Thread.sleep(forTimeInterval: 3)
        #expect(receiver.accepted.count == 1)

        try ns.resumeResponder()
        let all = receiver.waitForAccepted(2, timeout: 20)
        #expect(all.count == 2, "\(sotpd.output)")
        Thread.sleep(forTimeInterval: 2)
        #expect(receiver.accepted.count == 2, "exactly one firing and one resolved")

        let bodies = receiver.accepted.compactMap(\.json)
        try #require(bodies.count == 2)
        let (f, r) = (bodies[0], bodies[1])
        #expect(f["status"] as? String == "firing" && r["status"] as? String == "resolved")
        for b in bodies {
            #expect(b["rule"] as? String == "device_down" && b["severity"] as? String == "critical")
            #expect(b["device_name"] as? String == "ns-alert" && b["device_address"] as? String == ns.hostV4)
            #expect(b["if_index"] is NSNull)
        }
        #expect(f["fingerprint"] as? String == r["fingerprint"] as? String)
        #expect(f["started_at"] as? String == r["started_at"] as? String)
        #expect(f["resolved_at"] is NSNull && (r["resolved_at"] as? String)?.hasSuffix("Z") == true)
        #expect(receiver.accepted.allSatisfy { $0.headers["content-type"] == "application/json" })

        // The counters reach sotp_stats.
        let stat = "SELECT count(*) FROM sotp_stats WHERE metric = $1 AND value >= $2::float8"
        #expect(try waitFor(conn, stat, ["alerts.notifications_sent", "2"], atLeast: 1, timeout: 10) >= 1)
        #expect(try waitFor(conn, stat, ["alerts.retries", "2"], atLeast: 1, timeout: 10) >= 1)

        sotpd.signal(SIGTERM)
        #expect(sotpd.wait(timeout: 60) == 0, "\(sotpd.output)")
        stopped = true
        #expect(sotpd.output.contains("alert firing") && sotpd.output.contains("alert resolved"), "\(sotpd.output)")
        #expect(try TestDB.scalar(conn, stat, ["alerts.firing", "1"]).flatMap(Int.init) ?? 0 >= 1, "the gauge showed the alert while it fired")
    }

    /// A storm of critical syslog messages from one source is one alert, resolved once the source is
    /// quiet for the window; messages under the severity threshold alert nothing.
    @Test(.timeLimit(.minutes(2)))
    func aSyslogStormIsOneNotification() throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let udp = TestDB.freePort(), api = TestDB.freePort()
        let cfg = try daemonConfig(url: url, """
        [api]
        listen = "127.0.0.1:\(api)"
        [icmp]
        enabled = false
        [flow]
        enabled = false
        [syslog]
        udp_port = \(udp)
        tcp_port = 0
        tls_port = 0
        sockets_per_port = 1
        [alerts]
        syslog_window_s = 10
        [[alerts.webhooks]]
        url = "\(receiver.url)"
        format = "generic"
        """)
        let sotpd = try Child(sotpdBinary, ["run", "--config", cfg])
        var stopped = false
        defer { if !stopped { sotpd.signal(SIGKILL); _ = sotpd.wait(timeout: 10) } }
        var ready = false
        for _ in 0..<200 where !ready {
            ready = sotpd.output.contains("syslog listeners started")
            if !ready { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(ready, "\(sotpd.output)")

        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(udp).bigEndian
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { b in
                withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                } }
            }
        }
        // Warnings (severity 4) alert nothing.
        for i in 0..<50 { send("<12>Nov 22 10:00:00 sw1 app: warning \(i)") }
        Thread.sleep(forTimeInterval: 1)
        #expect(receiver.requests.isEmpty)
        // 2000 crit messages (facility 1, severity 2) over about 2 s.
        for i in 0..<2000 {
            send("<10>Nov 22 10:00:00 sw1 kernel: fan tray \(i) failed")
            if i % 100 == 99 { Thread.sleep(forTimeInterval: 0.1) }
        }
        let firing = receiver.waitForAccepted(1, timeout: 10)
        #expect(firing.count == 1, "\(sotpd.output)")
        Thread.sleep(forTimeInterval: 2)
        #expect(receiver.accepted.count == 1, "one notification for the storm")
        // /metrics carries the alert counters.
        let metrics = try httpGet(port: api, path: "/metrics")
        #expect(metrics.contains("\nsotp_alerts_firing 1.0\n") && metrics.contains("\nsotp_alerts_notifications_sent_total 1\n"), "\(metrics)")
        #expect(metrics.contains("# HELP sotp_alerts_dropped_total "), "\(metrics)")
        // Quiet for the window: resolved.
        let all = receiver.waitForAccepted(2, timeout: 20)
        #expect(all.count == 2, "\(sotpd.output)")
        let bodies = all.compactMap(\.json)
        if bodies.count == 2 {
            #expect(bodies.map { $0["status"] as? String } == ["firing", "resolved"])
            #expect(bodies.allSatisfy { $0["rule"] as? String == "syslog" && $0["device_address"] as? String == "127.0.0.1" })
            #expect((bodies[0]["summary"] as? String)?.contains("syslog crit: fan tray 0 failed") == true, "\(bodies[0])")
            #expect(bodies[0]["device_id"] is NSNull)
        }
        sotpd.signal(SIGTERM)
        #expect(sotpd.wait(timeout: 60) == 0, "\(sotpd.output)")
        stopped = true
    }

    /// The body of GET http://127.0.0.1:`port``path` (HTTP/1.0, so the server closes when done).
    func httpGet(port: Int, path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw NetNSError("connect to 127.0.0.1:\(port): errno \(errno)") }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += chunk[..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

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
}
