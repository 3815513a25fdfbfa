// sotpd receiving syslog from the real senders people have: util-linux logger (RFC 5424 and 3164, UDP,
// TCP with octet counting and with LF framing) and rsyslog forwarding with omfwd; plus what the
// senders do not exercise (zones, NUL and bad UTF-8, an oversized frame, device links), sent by hand.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

/// `sotpd run` on a fresh scratch database with ICMP off (and flows, unless `sections` has `[flow]`),
/// stats every second and `sections`
/// (TOML) added; `send` runs once `ready` appears in its output (given the scratch database), then (after `until` holds, when given)
/// SIGTERM, exit 0, and `check`.
func withReceiverDaemon(
    _ sections: String, ready: String, until: String? = nil, send: (borrowing PGConnection) throws -> Void,
    check: (borrowing PGConnection, String) throws -> Void
) throws {
    let url = try TestDB.createScratchDatabase()
    defer { TestDB.dropDatabase(url) }
    let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
    try Schema.migrate(conn)
    let cfg = try daemonConfig(url: url, """
    [icmp]
    enabled = false
    \(sections.contains("[flow]") ? "" : "[flow]\nenabled = false")
    [stats]
    interval_s = 1
    \(sections)
    """)
    let sotpd = try Child(sotpdBinary, ["run", "--config", cfg])
    var stopped = false
    defer { if !stopped { sotpd.signal(SIGKILL); _ = sotpd.wait(timeout: 10) } }
    for _ in 0..<200 where !sotpd.output.contains(ready) { Thread.sleep(forTimeInterval: 0.05) }
    #expect(sotpd.output.contains(ready), "\(sotpd.output)")
    try send(conn)
    if let until {
        var held = false
        for _ in 0..<300 where !held {
            held = try TestDB.scalar(conn, "SELECT (\(until))") == "t"
            if !held { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(held, "never true while running: \(until)\n\(sotpd.output)")
    }
    sotpd.signal(SIGTERM)
    #expect(sotpd.wait(timeout: 60) == 0, "\(sotpd.output)")
    stopped = true
    try check(conn, sotpd.output)
}

/// Runs a program to completion (killed after 30 s), expecting exit 0.
func runTool(_ path: String, _ args: [String]) throws {
    let r = try TestDB.run(path, args)
    #expect(r.status == 0, "\(path) \(args) exited \(r.status): \(r.output)")
}

/// A TCP connection to 127.0.0.1:`port` that writes raw bytes.
final class TCPSender {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    init(port: Int) throws {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw NetNSError("connect to 127.0.0.1:\(port): errno \(errno)") }
    }
    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } }
    deinit { close(fd) }
}

@Suite("sotpd syslog", .serialized)
struct SyslogDaemonTests {
    static let columns = """
        SELECT facility, severity, hostname, app_name, proc_id, msg_id, structured_data::text, message, parse_status, transport
        FROM syslog
        """

    /// logger's four ways of sending; each row must be what was sent, field by field.
    @Test(.timeLimit(.minutes(2)))
    func loggerOverUDPAndTCPLandsFieldByField() throws {
        let udp = TestDB.freePort(), tcp = TestDB.freePort()
        let logger = "/usr/bin/logger"
        try withReceiverDaemon("""
        [syslog]
        udp_port = \(udp)
        tcp_port = \(tcp)
        sockets_per_port = 1
        """, ready: "syslog listeners started", until: "SELECT count(*) = 4 FROM syslog") { _ in
            let base = ["--server", "127.0.0.1", "--port", String(udp)]
            try runTool(logger, base + ["--udp", "--rfc5424", "-p", "local3.warning", "-t", "app5424", "--id=4242", "--msgid", "ID47",
                                        "--sd-id", "origin@32473", "--sd-param", "software=\"sotp\"", "--sd-param", "ip=\"192.0.2.1\"",
                                        "udp 5424 message"])
            try runTool(logger, base + ["--udp", "--rfc3164", "-p", "auth.err", "-t", "sshd", "--id=77", "udp 3164 message"])
            let tcpBase = ["--server", "127.0.0.1", "--port", String(tcp), "--tcp"]
            try runTool(logger, tcpBase + ["--octet-count", "--rfc5424", "-p", "daemon.info", "-t", "octets", "tcp octet-counted"])
            try runTool(logger, tcpBase + ["--rfc3164", "-p", "mail.crit", "-t", "lf", "tcp lf framed"])
        } check: { conn, output in
            let rows = try conn.query(Self.columns + " ORDER BY message")
            #expect(rows.count == 4, "\(rows)\n\(output)")
            guard rows.count == 4 else { return }
            // logger names this machine the same way in every row.
            let host = rows[0][2]
            #expect(host != nil && rows.allSatisfy { $0[2] == host }, "\(rows)")
            // rfc3164 over TCP with LF framing.
            #expect(rows[0] == ["2", "2", host, "lf", nil, nil, nil, "tcp lf framed", "rfc3164", "tcp"], "\(rows[0])")
            // rfc5424 over TCP, octet counted; logger adds its timeQuality element.
            #expect(Array(rows[1][0..<6]) == ["3", "6", host, "octets", nil, nil], "\(rows[1])")
            #expect(rows[1][6]?.contains("\"timeQuality\"") == true && Array(rows[1][7...]) == ["tcp octet-counted", "rfc5424", "tcp"], "\(rows[1])")
            #expect(rows[2] == ["4", "3", host, "sshd", "77", nil, nil, "udp 3164 message", "rfc3164", "udp"], "\(rows[2])")
            #expect(Array(rows[3][0..<6]) == ["19", "4", host, "app5424", "4242", "ID47"], "\(rows[3])")
            #expect(rows[3][6]?.contains("\"origin@32473\": {\"ip\": \"192.0.2.1\", \"software\": \"sotp\"}") == true, "\(rows[3])")
            #expect(Array(rows[3][7...]) == ["udp 5424 message", "rfc5424", "udp"], "\(rows[3])")
            // Sender time kept: within a minute of arrival, and nothing raw for clean messages.
            #expect(try TestDB.scalar(conn, "SELECT bool_and(abs(extract(epoch FROM received_at - time)) < 60) AND bool_and(raw IS NULL) FROM syslog") == "t")
        }
    }

    /// rsyslog (our own instance, not the system's) receives from logger on UDP and forwards with omfwd:
    /// over TCP octet-counted in RFC 5424 and over UDP in its forward format.
    @Test(.timeLimit(.minutes(2)), .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/rsyslogd")))
    func rsyslogForwardsWithOmfwd() throws {
        let udp = TestDB.freePort(), tcp = TestDB.freePort(), relay = TestDB.freePort()
        let dir = TestDB.tempDir("rsyslog")
        let conf = dir + "/rsyslog.conf"
        try """
        global(workDirectory="\(dir)")
        module(load="imudp")
        input(type="imudp" address="127.0.0.1" port="\(relay)" ruleset="fwd")
        ruleset(name="fwd") {
            action(type="omfwd" target="127.0.0.1" port="\(tcp)" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
            action(type="omfwd" target="127.0.0.1" port="\(udp)" protocol="udp" template="RSYSLOG_ForwardFormat")
        }
        """.write(toFile: conf, atomically: true, encoding: .utf8)
        try withReceiverDaemon("""
        [syslog]
        udp_port = \(udp)
        tcp_port = \(tcp)
        sockets_per_port = 1
        """, ready: "syslog listeners started", until: "SELECT count(*) = 2 FROM syslog") { conn in
            let rsyslog = try Child("/usr/sbin/rsyslogd", ["-n", "-f", conf, "-i", dir + "/rsyslogd.pid"])
            defer { rsyslog.signal(SIGTERM); _ = rsyslog.wait(timeout: 10) }
            Thread.sleep(forTimeInterval: 1)
            try runTool("/usr/bin/logger", ["--server", "127.0.0.1", "--port", String(relay), "--udp", "--rfc3164",
                                            "-p", "local7.notice", "-t", "relayed", "--id=99", "through rsyslog"])
            // rsyslog stays up until both copies have landed.
            for _ in 0..<200 where try TestDB.scalar(conn, "SELECT count(*) FROM syslog") != "2" { Thread.sleep(forTimeInterval: 0.1) }
        } check: { conn, output in
            // btrim: rsyslog's msg property keeps the space after an RFC 3164 tag.
            let rows = try conn.query(Self.columns.replacingOccurrences(of: "message,", with: "btrim(message),") + " ORDER BY transport")
            #expect(rows.count == 2, "\(rows)\n\(output)")
            for row in rows {
                #expect(row[0] == "23" && row[1] == "5" && row[3] == "relayed" && row[4] == "99", "\(row)")
                #expect(row[7] == "through rsyslog", "\(row)")
            }
            #expect(rows.map { $0[8] ?? "" } == ["rfc5424", "rfc3164"] && rows.map { $0[9] ?? "" } == ["tcp", "udp"], "\(rows)")
        }
    }

    /// What senders do not exercise: a zone per source for RFC 3164 times, NUL and invalid UTF-8 kept
    /// as raw bytes, garbage stored as unparsed, an oversized TCP frame stored truncated, and the link
    /// to the device with the source's address.
    @Test(.timeLimit(.minutes(2)))
    func zonesDirtyTextOversizeAndDevices() throws {
        let udp = TestDB.freePort(), tcp = TestDB.freePort()
        // A 3164 time an hour ago in +02:00 local time, so the year resolves to this one.
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(secondsFromGMT: 7200)
        f.dateFormat = "MMM dd HH:mm:ss"
        let sentAt = Date(timeIntervalSinceNow: -3600).timeIntervalSince1970.rounded(.down)
        let stamp = f.string(from: Date(timeIntervalSince1970: sentAt))
        try withReceiverDaemon("""
        [syslog]
        udp_port = \(udp)
        tcp_port = \(tcp)
        sockets_per_port = 1
        max_message_bytes = 4096
        source_timezones = ["127.0.0.0/8=+02:00"]
        """, ready: "syslog listeners started", until: "SELECT count(*) = 4 FROM syslog") { conn in
            // The sender's address belongs to a device.
            _ = try conn.query("INSERT INTO devices (name, address) VALUES ('sender', '127.0.0.1')")
            Thread.sleep(forTimeInterval: 2.5)  // the device map refreshes every icmp.inventory_refresh_s (2 s)
            let out = UDPExporter()
            out.send(Array("<14>\(stamp) router1 zoned: in plus two".utf8), port: UInt16(udp))
            out.send(Array("<14>1 - - dirty - - - a".utf8) + [0x00, 0xff] + Array("b".utf8), port: UInt16(udp))
            out.send([0x01, 0x02, 0x03, 0x20, 0x41], port: UInt16(udp))
            let tcpOut = try TCPSender(port: tcp)
            let body = "<13>1 - big app - - - " + String(repeating: "x", count: 10_000)
            tcpOut.send(Array("\(body.utf8.count) \(body)".utf8))
            Thread.sleep(forTimeInterval: 0.5)
        } check: { conn, output in
            let zoned = try conn.query("SELECT extract(epoch FROM time)::int8, parse_status FROM syslog WHERE app_name = 'zoned'")
            #expect(zoned == [[String(Int(sentAt)), "rfc3164"]], "\(zoned)\n\(output)")
            let dirty = try conn.query("SELECT message, encode(raw, 'hex') LIKE '%00ff%', parse_status FROM syslog WHERE hostname IS NULL AND app_name = 'dirty'")
            #expect(dirty == [["a\u{FFFD}\u{FFFD}b", "t", "rfc5424"]], "\(dirty)")
            let garbage = try conn.query("SELECT parse_status, encode(raw, 'hex') FROM syslog WHERE parse_status = 'unparsed'")
            #expect(garbage == [["unparsed", "0102032041"]], "\(garbage)")
            let big = try conn.query("SELECT length(raw), raw IS NOT NULL, length(message) < 10000 FROM syslog WHERE hostname = 'big'")
            #expect(big.count == 1 && big.first?[1] == "t" && big.first?[2] == "t", "\(big)")
            #expect(try TestDB.scalar(conn, "SELECT max(value) FROM sotp_stats WHERE metric = 'syslog.truncated'") == "1")
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM syslog s JOIN devices d ON d.id = s.device_id WHERE d.name = 'sender'") == "4")
        }
    }

    @Test func badSyslogSettingsAreConfigErrors() throws {
        for (text, key) in [
            ("[syslog]\ntimezone = \"Mars/Olympus\"\n", "syslog.timezone"),
            ("[syslog]\nsource_timezones = [\"10.0.0.0/8=+25:00\"]\n", "syslog.source_timezones[0]"),
            ("[traps]\nengine_id = \"abc\"\n", "traps.engine_id"),
            ("[[snmp_users]]\nname = \"u\"\nauth_protocol = \"sha\"\nauth_password = \"short\"\n", "snmp_users[0].auth_password"),
            ("[[snmp_users]]\nname = \"u\"\npriv_protocol = \"aes\"\npriv_password = \"longenough\"\n", "snmp_users[0].priv_protocol"),
        ] {
            let cfg = TestDB.tempDir("cfg") + "/sotpd.toml"
            try text.write(toFile: cfg, atomically: true, encoding: .utf8)
            let r = try TestDB.run(sotpdBinary, ["check-config", "--config", cfg])
            #expect(r.status == 2 && r.output.contains(key), "\(text): \(r.output)")
        }
    }
}
