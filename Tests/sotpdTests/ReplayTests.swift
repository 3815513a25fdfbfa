// sotpd replay, end to end: capture files written here byte by byte (classic pcap, Ethernet and Linux
// cooked; pcapng through editcap) holding NetFlow v5 datagrams with known records, syslog lines, garbage,
// and frames replay must skip for each of its reasons; the built binary's --json summary is checked
// count by count, and --store's rows in a scratch database field by field.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

/// 2026-11-01T00:00:00Z in seconds: the fixture's capture time.
private let captureSecs: UInt32 = 1_793_491_200

/// Classic pcap (little-endian, microseconds): the global header for `linkType`, then records.
struct PcapFixture {
    var bytes: [UInt8] = []

    init(linkType: UInt32) {
        le32(0xa1b2_c3d4); le16(2); le16(4); le32(0); le32(0); le32(65535); le32(linkType)
    }

    mutating func le16(_ v: UInt16) { bytes += [UInt8(v & 0xff), UInt8(v >> 8)] }
    mutating func le32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(v >> UInt32(s) & 0xff)) } }

    /// One record `micros` after the capture's first second.
    mutating func frame(_ f: [UInt8], atMicros micros: Int) {
        le32(captureSecs + UInt32(micros / 1_000_000)); le32(UInt32(micros % 1_000_000)); le32(UInt32(f.count)); le32(UInt32(f.count))
        bytes += f
    }

    /// One record; `caplen` below the frame's length cuts it as a short snap length would.
    mutating func frame(_ f: [UInt8], usec: UInt32, caplen: Int? = nil) {
        let cap = min(caplen ?? f.count, f.count)
        le32(captureSecs); le32(usec); le32(UInt32(cap)); le32(UInt32(f.count))
        bytes += f[..<cap]
    }
}

func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

/// The link layers the fixture is written in.
enum FixtureLink {
    case ethernet, linuxSLL

    var linkType: UInt32 { self == .ethernet ? 1 : 113 }

    /// The link header in front of a packet of `ethertype`.
    func header(_ ethertype: Int) -> [UInt8] {
        switch self {
        case .ethernet: [0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee] + be16(ethertype)
        // Linux cooked v1: packet type (0: to us), ARPHRD_ETHER, address length 6, address (8), protocol.
        case .linuxSLL: be16(0) + be16(1) + be16(6) + [0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0] + be16(ethertype)
        }
    }
}

/// An IPv4 packet (no options) of `proto` from `src` to 10.9.9.9 around `body`; `flags` is the
/// flags-and-fragment-offset word.
func ipv4(_ src: [UInt8], proto: UInt8, flags: Int = 0x4000, _ body: [UInt8]) -> [UInt8] {
    [0x45, 0] + be16(20 + body.count) + be16(1) + be16(flags) + [64, proto, 0, 0] + src + [10, 9, 9, 9] + body
}

func udp(_ sport: Int, _ dport: Int, _ payload: [UInt8]) -> [UInt8] { be16(sport) + be16(dport) + be16(8 + payload.count) + be16(0) + payload }

/// The fixture's NetFlow v5 records: record `i` is 10.1.0.i:(1000+i) → 10.2.0.i:80 TCP, 10·i packets,
/// 1000·i bytes, in 3 out 4.
func v5Record(_ i: Int) -> [UInt8] {
    var r: [UInt8] = [10, 1, 0, UInt8(i), 10, 2, 0, UInt8(i), 0, 0, 0, 0] + be16(3) + be16(4)
    r += be32(10 * i) + be32(1000 * i) + be32(5000) + be32(6000) + be16(1000 + i) + be16(80)
    r += [0, 0x18, 6, 0] + be16(0) + be16(0) + [24, 24] + be16(0)
    return r
}

/// A NetFlow v5 datagram of records `ids` with flow sequence `sequence` (`count` overrides the header's
/// record count, for a datagram that claims more than it holds).
func v5Datagram(_ ids: [Int], sequence: Int, count: Int? = nil) -> [UInt8] {
    var d = be16(5) + be16(count ?? ids.count) + be32(100_000) + be32(Int(captureSecs)) + be32(0) + be32(sequence) + [0, 0] + be16(0)
    for i in ids { d += v5Record(i) }
    return d
}

/// The exporter and syslog sender of the fixture.
let exporterAddress: [UInt8] = [192, 0, 2, 10]
let syslogAddress: [UInt8] = [192, 0, 2, 20]

/// Twelve frames: four to the flow port 2055 (two good v5 datagrams with records 1–3 and 4–5, garbage,
/// and a v5 datagram claiming 3 records but holding 1: a "truncated" decode error), two syslog lines to 5514, garbage to the trap
/// port 1162, and one frame for each skip reason (ARP, TCP, a first fragment, a datagram cut by the snap
/// length, UDP to 9999).
func replayFixture(_ link: FixtureLink) -> [UInt8] {
    var p = PcapFixture(linkType: link.linkType)
    func send(_ src: [UInt8], _ dport: Int, _ payload: [UInt8], usec: UInt32) {
        p.frame(link.header(0x0800) + ipv4(src, proto: 17, udp(40000, dport, payload)), usec: usec)
    }
    send(exporterAddress, 2055, v5Datagram([1, 2, 3], sequence: 0), usec: 0)
    send(exporterAddress, 2055, v5Datagram([4, 5], sequence: 3), usec: 100)
    send(syslogAddress, 5514, Array("<34>1 2026-11-01T00:00:00Z core-1 sshd 123 ID47 - login failed".utf8), usec: 200)
    send(syslogAddress, 5514, Array("<13>Nov  1 00:00:00 core-1 app: hello".utf8), usec: 300)
    send(exporterAddress, 2055, [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4], usec: 400)
    send(exporterAddress, 2055, v5Datagram([6], sequence: 5, count: 3), usec: 500)
    send(syslogAddress, 1162, [0x30, 0x03, 0x02, 0x01], usec: 600)
    // ARP request: not IP.
    p.frame(link.header(0x0806) + [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 20), usec: 700)
    // TCP to the flow port: not UDP.
    p.frame(link.header(0x0800) + ipv4(exporterAddress, proto: 6, be16(40000) + be16(2055) + [UInt8](repeating: 0, count: 16)), usec: 800)
    // A first fragment (more fragments set) of a datagram to the flow port.
    p.frame(link.header(0x0800) + ipv4(exporterAddress, proto: 17, flags: 0x2000, udp(40000, 2055, v5Datagram([7], sequence: 6))), usec: 900)
    // A whole datagram on the wire, cut to 60 bytes in the file.
    p.frame(link.header(0x0800) + ipv4(exporterAddress, proto: 17, udp(40000, 2055, v5Datagram([8], sequence: 6))), usec: 1000, caplen: 60)
    send(exporterAddress, 9999, v5Datagram([9], sequence: 6), usec: 1100)
    return p.bytes
}

/// An SNMPv2c linkDown trap (community "public", request id 1, sysUpTime 42), BER by hand:
/// SEQUENCE { version 1, community, SNMPv2-Trap-PDU { id, 0, 0, { sysUpTime.0 = 42, snmpTrapOID.0 = linkDown } } }.
let v2cLinkDownTrap: [UInt8] = [0x30, 0x40, 0x02, 0x01, 0x01, 0x04, 0x06] + Array("public".utf8) + [
    0xa7, 0x33, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x28,
    0x30, 0x0d, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00, 0x43, 0x01, 0x2a,
    0x30, 0x17, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x06, 0x03, 0x01, 0x01, 0x04, 0x01, 0x00,
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x06, 0x03, 0x01, 0x01, 0x05, 0x03,
]

/// An IPv6 packet (no extension headers) of `proto` from 2001:db8::20 to 2001:db8::1 around `body`.
func ipv6(proto: UInt8, _ body: [UInt8]) -> [UInt8] {
    let src: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x20]
    let dst: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x01]
    return [0x60, 0, 0, 0] + be16(body.count) + [proto, 64] + src + dst + body
}

/// Writes `bytes` to a fresh temporary file and returns its path.
func writeTemp(_ bytes: [UInt8], _ name: String) throws -> String {
    let path = TestDB.tempDir("replay") + "/" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

/// A config of its own (no database touched unless --store) with syslog on 5514 and traps on 1162.
func replayConfig(database url: String = "postgresql://sotp@127.0.0.1:1/none", autoMigrate: Bool = false) throws -> String {
    let path = TestDB.tempDir("cfg") + "/sotpd.toml"
    try """
    [database]
    url = "\(url)"
    auto_migrate = \(autoMigrate)
    password_file = "\(TestDB.passwordFile)"
    [sink]
    spool_dir = "\(TestDB.tempDir("spool"))"
    spool_fsync = "never"
    [flow]
    netflow_port = 2055
    ipfix_port = 0
    sflow_port = 0
    [syslog]
    udp_port = 5514
    [traps]
    port = 1162
    state_file = "\(TestDB.tempDir("traps"))/engine"
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Runs `sotpd replay` and returns its status, output, and the JSON summary when there is one.
func replay(_ args: [String]) async throws -> (status: Int32, output: String, summary: [String: Any]) {
    let r = try await TestDB.runOffPool(sotpdBinary, ["replay"] + args)
    let line = r.output.split(separator: "\n").first { $0.hasPrefix("{") }
    let summary = line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
    return (r.status, r.output, summary)
}

@Suite("sotpd replay", .serialized)
struct ReplayTests {
    /// What every variant of the fixture must count, whatever its file format or link type.
    func expectFixtureCounts(_ s: [String: Any], _ output: String) throws {
        #expect(s["frames"] as? Int == 12, "\(output)")
        #expect(s["udp_datagrams"] as? Int == 10, "\(output)")
        #expect(s["datagrams"] as? Int == 7, "\(output)")
        let skipped = try #require(s["skipped"] as? [String: Int], "\(output)")
        #expect(skipped == ["not_ip": 1, "not_udp": 1, "fragment": 1, "unmatched_port": 1, "truncated_capture": 1, "bad_length": 0])
        let flow = try #require(s["flow"] as? [String: Any])
        #expect(flow["datagrams"] as? Int == 4)
        // Records 1–5; the short datagram is refused whole, as the v5 decoder does on a live socket.
        #expect(flow["records"] as? Int == 5, "\(flow)")
        #expect(flow["errors_by_kind"] as? [String: Int] == ["unknown_version": 1, "truncated": 1], "\(flow)")
        let exporters = try #require(flow["exporters"] as? [[String: Any]])
        #expect(exporters.count == 2, "\(exporters)")
        let v5 = try #require(exporters.first { $0["protocol"] as? Int == 5 })
        #expect(v5["exporter"] as? String == "192.0.2.10" && v5["packets"] as? Int == 3 && v5["sequence_gaps"] as? Int == 0, "\(v5)")
        let syslog = try #require(s["syslog"] as? [String: Any])
        #expect(syslog["datagrams"] as? Int == 2 && syslog["records"] as? Int == 2 && syslog["decode_errors"] as? Int == 0, "\(syslog)")
        let trap = try #require(s["trap"] as? [String: Any])
        #expect(trap["datagrams"] as? Int == 1 && trap["records"] as? Int == 0, "\(trap)")
        #expect(trap["errors_by_kind"] as? [String: Int] == ["malformed": 1], "\(trap)")
        #expect(s["stored"] as? Bool == false)
    }

    @Test func countsEveryFrameOfAnEthernetCapture() async throws {
        let file = try writeTemp(replayFixture(.ethernet), "eth.pcap")
        let r = try await replay(["--config", try replayConfig(), "--json", file])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.summary["link_type"] as? String == "EN10MB (DLT 1)")
        try expectFixtureCounts(r.summary, r.output)
    }

    @Test func readsPcapngAsWritten() async throws {
        let pcap = try writeTemp(replayFixture(.ethernet), "eth.pcap")
        let pcapng = pcap + "ng"
        let converted = try await TestDB.runOffPool("/usr/bin/editcap", ["-F", "pcapng", pcap, pcapng])
        #expect(converted.status == 0, "\(converted.output)")
        let head = try #require(FileManager.default.contents(atPath: pcapng))
        #expect(Array(head.prefix(4)) == [0x0a, 0x0d, 0x0d, 0x0a], "editcap did not write pcapng")
        let r = try await replay(["--config", try replayConfig(), "--json", pcapng])
        #expect(r.status == 0, "\(r.output)")
        try expectFixtureCounts(r.summary, r.output)
    }

    @Test func readsLinuxCookedCaptures() async throws {
        let file = try writeTemp(replayFixture(.linuxSLL), "sll.pcap")
        let r = try await replay(["--config", try replayConfig(), "--json", file])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.summary["link_type"] as? String == "LINUX_SLL (DLT 113)")
        try expectFixtureCounts(r.summary, r.output)
    }

    @Test func portOptionsReplaceTheConfiguredOnesAndLimitStops() async throws {
        let file = try writeTemp(replayFixture(.ethernet), "eth.pcap")
        // Only 9999 is a flow port now: the datagram there is decoded, the four to 2055 and the one cut
        // short on its way there are unmatched (a frame to no receiver's port is not examined further);
        // syslog and trap ports stay the configured ones.
        let r = try await replay(["--config", try replayConfig(), "--json", "--flow-port", "9999", file])
        #expect(r.status == 0, "\(r.output)")
        let flow = try #require(r.summary["flow"] as? [String: Any])
        #expect(flow["ports"] as? [Int] == [9999] && flow["datagrams"] as? Int == 1 && flow["records"] as? Int == 1, "\(flow)")
        #expect((r.summary["skipped"] as? [String: Int])?["unmatched_port"] == 5, "\(r.output)")
        #expect((r.summary["skipped"] as? [String: Int])?["truncated_capture"] == 0, "\(r.output)")
        #expect((r.summary["syslog"] as? [String: Any])?["datagrams"] as? Int == 2)
        let limited = try await replay(["--config", try replayConfig(), "--json", "--limit", "3", "--pace", "recorded", "--speed", "2", file])
        #expect(limited.status == 0 && limited.summary["frames"] as? Int == 3, "\(limited.output)")
        // The human summary names every count.
        let text = try await replay(["--config", try replayConfig(), file])
        #expect(text.status == 0 && text.output.contains("12 frames") && text.output.contains("truncated_capture 1"), "\(text.output)")
    }

    @Test func sflowCountersTrapsAndIPv6Senders() async throws {
        var p = PcapFixture(linkType: 1)
        let eth = FixtureLink.ethernet
        // sFlow from FlowDaemonTests: one flow sample and one counter sample, agent 127.0.0.9.
        p.frame(eth.header(0x0800) + ipv4(exporterAddress, proto: 17, udp(40000, 6343, sflowDatagram(sequence: 1))), usec: 0)
        p.frame(eth.header(0x0800) + ipv4(syslogAddress, proto: 17, udp(40001, 1162, v2cLinkDownTrap)), usec: 10)
        p.frame(eth.header(0x86dd) + ipv6(proto: 17, udp(40002, 5514, Array("<13>Nov  1 00:00:00 v6-host app: over IPv6".utf8))), usec: 20)
        // With a VLAN tag in front.
        p.frame(Array(eth.header(0x8100).dropLast(2)) + [0x81, 0x00, 0x00, 0x07, 0x86, 0xdd]
                    + ipv6(proto: 17, udp(40002, 5514, Array("<13>Nov  1 00:00:01 v6-host app: tagged".utf8))), usec: 30)
        let file = try writeTemp(p.bytes, "mixed.pcap")
        let r = try await replay(["--config", try replayConfig(), "--json", "--flow-port", "6343", file])
        #expect(r.status == 0, "\(r.output)")
        let flow = try #require(r.summary["flow"] as? [String: Any])
        #expect(flow["datagrams"] as? Int == 1 && flow["records"] as? Int == 2 && flow["counter_samples"] as? Int == 1, "\(flow)")
        let exporters = try #require(flow["exporters"] as? [[String: Any]])
        #expect(exporters.map { $0["exporter"] as? String } == ["127.0.0.9"], "\(exporters)")
        let trap = try #require(r.summary["trap"] as? [String: Any])
        #expect(trap["datagrams"] as? Int == 1 && trap["records"] as? Int == 1 && trap["decode_errors"] as? Int == 0, "\(trap)")
        let syslog = try #require(r.summary["syslog"] as? [String: Any])
        #expect(syslog["datagrams"] as? Int == 2 && syslog["records"] as? Int == 2, "\(syslog)")
        #expect(r.summary["frames"] as? Int == 4 && (r.summary["skipped"] as? [String: Int])?.values.reduce(0, +) == 0, "\(r.output)")
    }

    @Test func badArgumentsExit2AndUnreadableFilesExit1() async throws {
        let cfg = try replayConfig()
        let file = try writeTemp(replayFixture(.ethernet), "eth.pcap")
        let usage: [([String], String)] = [
            (["--pace", "sometimes", file], "--pace must be max or recorded, got \"sometimes\""),
            (["--flow-port", "0", file], "--flow-port must be a port 1…65535, got \"0\""),
            (["--syslog-port", "70000", file], "--syslog-port must be a port 1…65535, got \"70000\""),
            (["--speed", "fast", file], "--speed must be a number"),
            (["--limit", "0", file], "--limit must be a whole number"),
            (["--flow-port", "514", "--syslog-port", "514", file], "port 514 is both a flow and a syslog port"),
            ([], "give the capture FILE"),
        ]
        for (args, message) in usage {
            let r = try await replay(["--config", cfg] + args)
            #expect(r.status == 2 && r.output.contains(message), "\(args): \(r.output)")
        }
        let badConfig = TestDB.tempDir("cfg") + "/bad.toml"
        try "[sink]\nbatch_rowz = 1\n".write(toFile: badConfig, atomically: true, encoding: .utf8)
        let bad = try await replay(["--config", badConfig, file])
        #expect(bad.status == 2 && bad.output.contains("\"sink.batch_rowz\""), "\(bad.output)")

        let missing = try await replay(["--config", cfg, "/nonexistent/capture.pcap"])
        #expect(missing.status == 1 && missing.output.contains("/nonexistent/capture.pcap") && missing.output.contains("No such file"), "\(missing.output)")
        let text = try writeTemp(Array("not a capture\n".utf8), "notes.txt")
        let notCapture = try await replay(["--config", cfg, text])
        #expect(notCapture.status == 1 && notCapture.output.contains(text) && notCapture.output.contains("format"), "\(notCapture.output)")
        // Cut inside the last record: what came before is counted, then exit 1 naming libpcap's reason.
        let whole = replayFixture(.ethernet)
        let cut = try writeTemp(Array(whole.dropLast(10)), "cut.pcap")
        let r = try await replay(["--config", cfg, "--json", cut])
        #expect(r.status == 1 && r.summary["frames"] as? Int == 11 && r.output.contains("truncated dump file"), "\(r.output)")
    }

    @Test func sigintStopsWithASummary() async throws {
        // Ten syslog lines 0.1 s apart, at 1/1000 speed: one now, the next in 100 s. The signal comes first.
        var p = PcapFixture(linkType: 1)
        for i in 0..<10 {
            p.frame(FixtureLink.ethernet.header(0x0800) + ipv4(syslogAddress, proto: 17, udp(40000, 5514, Array("<13>line \(i)".utf8))),
                    usec: UInt32(i) * 100_000)
        }
        let file = try writeTemp(p.bytes, "slow.pcap")
        let child = try Child(sotpdBinary, ["replay", "--config", try replayConfig(), "--json", "--pace", "recorded", "--speed", "0.001", file])
        try await Task.sleep(for: .seconds(2))
        child.signal(SIGINT)
        let status = await withCheckedContinuation { c in Thread { c.resume(returning: child.wait(timeout: 10)) }.start() }
        #expect(status == 130, "\(child.output)")
        let line = child.output.split(separator: "\n").first { $0.hasPrefix("{") }
        let summary = try #require(line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }, "\(child.output)")
        #expect(summary["interrupted"] as? Bool == true)
        #expect(summary["frames"] as? Int == 1, "\(child.output)")
        #expect(child.output.contains("interrupted after 1 frames"), "\(child.output)")
    }

    @Test(.timeLimit(.minutes(2)))
    func storeWritesTheRowsRunWould() async throws {
        let admin = try PGConnection(TestDB.info)
        let name = TestDB.uniqueName("sotp_replay")
        try admin.execute("CREATE DATABASE \(name)")
        let url = TestDB.info.url[..<TestDB.info.url.lastIndex(of: "/")!] + "/" + name
        defer { try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        // Migrated by replay itself, as run does with auto_migrate.
        let cfg = try replayConfig(database: url, autoMigrate: true)
        let file = try writeTemp(replayFixture(.ethernet), "eth.pcap")
        let r = try await replay(["--config", cfg, "--json", "--store", file])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.summary["stored"] as? Bool == true)
        // Five flows and two syslog messages; the garbage trap stores nothing.
        #expect((r.summary["sink"] as? [String: Int])?["rows_written"] == 7, "\(r.output)")

        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        let rows = try conn.query(
            """
            SELECT host(exporter), host(src_addr), host(dst_addr), src_port, dst_port, protocol, packets, bytes, in_if, out_if
            FROM flows ORDER BY src_port
            """)
        let expected: [[String?]] = (1...5).map { i in
            ["192.0.2.10", "10.1.0.\(i)", "10.2.0.\(i)", "\(1000 + i)", "80", "6", "\(10 * i)", "\(1000 * i)", "3", "4"]
        }
        #expect(rows == expected, "\(rows)")
        let syslog = try conn.query("SELECT host(source), app_name, parse_status FROM syslog ORDER BY parse_status")
        #expect(syslog == [["192.0.2.20", "app", "rfc3164"], ["192.0.2.20", "sshd", "rfc5424"]], "\(syslog)")
    }

    @Test(.timeLimit(.minutes(2)))
    func probeBuildsFlowsFromEveryFrame() async throws {
        // A UDP flow of 10 packets, a TCP connection ended by FIN, a UDP flow with a 20 s gap (longer
        // than the 15 s idle timeout: two records), and an ARP frame.
        var pcap = PcapFixture(linkType: 1)
        let eth = FixtureLink.ethernet
        for i in 0..<10 { pcap.frame(eth.header(0x0800) + ipv4([10, 0, 0, 1], proto: 17, udp(5000, 53, [UInt8](repeating: 1, count: 30))), atMicros: i * 1000) }
        func tcp(_ flags: UInt8, _ payload: Int) -> [UInt8] {
            be16(40000) + be16(443) + be32(1) + be32(0) + [0x50, flags] + be16(65535) + be16(0) + be16(0) + [UInt8](repeating: 2, count: payload)
        }
        for (k, (flags, payload)) in [(UInt8(0x02), 0), (0x18, 100), (0x18, 200), (0x10, 0), (0x11, 0)].enumerated() {
            pcap.frame(eth.header(0x0800) + ipv4([10, 0, 0, 2], proto: 6, tcp(flags, payload)), atMicros: 10_000 + k * 1000)
        }
        pcap.frame(eth.header(0x0806) + [UInt8](repeating: 0, count: 28), atMicros: 16_000)
        pcap.frame(eth.header(0x0800) + ipv4([10, 0, 0, 3], proto: 17, udp(6000, 123, [7])), atMicros: 17_000)
        pcap.frame(eth.header(0x0800) + ipv4([10, 0, 0, 3], proto: 17, udp(6000, 123, [7])), atMicros: 20_017_000)
        let file = try writeTemp(pcap.bytes, "probe.pcap")

        let r = try await replay(["--config", try replayConfig(), "--json", "--probe", file])
        #expect(r.status == 0, "\(r.output)")
        let p = r.summary["probe"] as? [String: Int] ?? [:]
        #expect(r.summary["frames"] as? Int == 18 && p["packets"] == 18 && p["not_ip"] == 1, "\(r.output)")
        // The UDP flow and the gapped flow's first packet idle out at the capture's clock (20 s in), the
        // TCP one ends at its FIN, the last packet is flushed at the end of the file.
        #expect(p["records"] == 4 && p["expired_idle"] == 2 && p["ended_tcp"] == 1 && p["flushed"] == 1, "\(p)")
        #expect(p["bytes"] == 10 * 58 + (40 * 5 + 300) + 2 * 29, "\(p)")

        // With --store the same flows are rows, as the capture probe writes them.
        let admin = try PGConnection(TestDB.info)
        let name = TestDB.uniqueName("sotp_replay_probe")
        try admin.execute("CREATE DATABASE \(name)")
        let url = TestDB.info.url[..<TestDB.info.url.lastIndex(of: "/")!] + "/" + name
        defer { try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        let stored = try await replay(["--config", try replayConfig(database: url, autoMigrate: true), "--json", "--store", "--probe", file])
        #expect(stored.status == 0, "\(stored.output)")
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        let rows = try conn.query("""
            SELECT host(src_addr), src_port, dst_port, protocol, packets, bytes, tcp_flags, flow_source, host(exporter),
                   (extract(epoch FROM flow_end - flow_start) * 1000)::int8 FROM flows ORDER BY src_addr, flow_start
            """)
        #expect(rows == [
            ["10.0.0.1", "5000", "53", "17", "10", "580", "0", "100", "127.0.0.1", "9"],
            ["10.0.0.2", "40000", "443", "6", "5", "500", "27", "100", "127.0.0.1", "4"],
            ["10.0.0.3", "6000", "123", "17", "1", "29", "0", "100", "127.0.0.1", "0"],
            ["10.0.0.3", "6000", "123", "17", "1", "29", "0", "100", "127.0.0.1", "0"],
        ], "\(rows)")
    }
}
