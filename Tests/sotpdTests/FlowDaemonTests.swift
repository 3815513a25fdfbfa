// sotpd run as a flow collector, end to end: sFlow datagrams built here, sent over UDP to its listener,
// land as flows and interface_counters rows, and the exporter's health (packets, sequence gaps) is in
// flow_exporters.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

/// Big-endian XDR fields, as sFlow encodes them.
struct XDR {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { bytes += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    mutating func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(v & 0xffff_ffff)) }
    mutating func raw(_ b: [UInt8]) { bytes += b; while bytes.count % 4 != 0 { bytes.append(0) } }
    /// A length-prefixed structure (sample or record).
    mutating func block(_ format: UInt32, _ body: (inout XDR) -> Void) {
        var inner = XDR()
        body(&inner)
        u32(format)
        u32(UInt32(inner.bytes.count))
        bytes += inner.bytes
    }
}

/// An sFlow v5 datagram from agent 127.0.0.9 (sub-agent 3): one flow sample of an Ethernet/IPv4/TCP
/// packet 127.1.1.1:1234 → 127.2.2.2:80 (1 in 100, in 5, out 7) and one generic interface counters sample.
func sflowDatagram(sequence: UInt32) -> [UInt8] {
    var d = XDR()
    d.u32(5); d.u32(1); d.raw([127, 0, 0, 9]); d.u32(3); d.u32(sequence); d.u32(1000); d.u32(2)
    d.block(1) { s in  // flow sample
        s.u32(sequence); s.u32(5); s.u32(100); s.u32(100 * sequence); s.u32(0); s.u32(5); s.u32(7); s.u32(1)
        s.block(1) { r in  // raw packet header, Ethernet
            var frame: [UInt8] = [0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x08, 0x00]
            frame += [0x45, 0, 0, 114, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 1, 1, 1, 127, 2, 2, 2]  // IPv4, 114 bytes
            frame += [0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]  // TCP PSH|ACK
            r.u32(1); r.u32(128); r.u32(4); r.u32(UInt32(frame.count)); r.raw(frame)
        }
    }
    d.block(2) { s in  // counter sample
        s.u32(sequence); s.u32(5); s.u32(1)
        s.block(1) { r in  // generic interface counters
            r.u32(5); r.u32(6); r.u64(1_000_000_000); r.u32(1); r.u32(3)
            r.u64(1_000_000 * UInt64(sequence)); r.u32(10); r.u32(11); r.u32(12); r.u32(13); r.u32(14); r.u32(15)
            r.u64(2_000_000); r.u32(20); r.u32(21); r.u32(22); r.u32(23); r.u32(24); r.u32(0)
        }
    }
    return d.bytes
}

/// A UDP exporter on loopback: one socket, so one source port, as a real exporter has (the collector's
/// SO_REUSEPORT hash then keeps all its datagrams on one receive thread).
final class UDPExporter {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    deinit { close(fd) }

    func send(_ bytes: [UInt8], port: UInt16) {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    }
}

/// `sotpd run` receiving flows on a free port into a fresh, migrated scratch database, ICMP off, stats
/// every second, with `flowLines` added to its `[flow]` section. `send` runs once the listeners are up
/// (given the port); then sotpd gets SIGTERM and must exit 0, and `check` reads the database with
/// sotpd's output at hand.
/// `until`, when given, is a boolean SQL expression polled (up to 30 s) after `send` and before the stop, so
/// a check on something written while running does not depend on how fast a loaded machine gets there.
func withFlowDaemon(_ flowLines: String, until: String? = nil, send: (UInt16) throws -> Void,
                    check: (borrowing PGConnection, String) throws -> Void) throws {
    let port = UInt16(TestDB.freePort())
    try withReceiverDaemon("""
    [flow]
    netflow_port = \(port)
    ipfix_port = 0
    sflow_port = 0
    \(flowLines)
    """, ready: "flow listeners started", until: until, send: { _ in try send(port) }, check: check)
}

@Suite("sotpd flows", .serialized)
struct FlowDaemonTests {
    @Test(.timeLimit(.minutes(2)))
    func sflowLandsAsFlowsCountersAndExporterHealth() throws {
        try withFlowDaemon("""
        state_dir = "\(TestDB.tempDir("flowstate"))"
        sampling_override = ["127.0.0.9=2048"]
        """) { port in
            // Sequences 1, 2 and 4: one datagram lost.
            let exporter = UDPExporter()
            for seq: UInt32 in [1, 2, 4] { exporter.send(sflowDatagram(sequence: seq), port: port) }
            exporter.send([0, 9, 1], port: port)  // garbage: counted, not stored
            Thread.sleep(forTimeInterval: 2.5)
        } check: { conn, output in
            let flows = try conn.query("""
                SELECT host(exporter), observation_domain, host(src_addr), host(dst_addr), src_port, dst_port, protocol,
                       tcp_flags, packets, bytes, sampling_rate, in_if, out_if, src_mac::text, dst_mac::text, flow_source
                FROM flows
            """)
            #expect(flows.count == 3, "\(output)")
            // The agent says 1 in 100; the configured override for it wins.
            #expect(flows.first == ["127.0.0.9", "3", "127.1.1.1", "127.2.2.2", "1234", "80", "6", "24", "1", "128", "2048", "5", "7",
                                    "00:aa:bb:cc:dd:ee", "00:11:22:33:44:55", "65"])
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM interface_counters WHERE if_index = 5 AND in_ucast = 10 AND out_errors = 24") == "3")
            let health = try conn.query("SELECT host(exporter), observation_domain, protocol, packets, records, sequence_gaps FROM flow_exporters WHERE protocol = 65")
            #expect(health == [["127.0.0.9", "3", "65", "3", "3", "1"]])
            // The garbage datagram is counted against the address it came from.
            #expect(try TestDB.scalar(conn, "SELECT decode_errors FROM flow_exporters WHERE exporter = '127.0.0.1' AND protocol = 0") == "1")
            #expect(try TestDB.scalar(conn, "SELECT max(value) FROM sotp_stats WHERE metric = 'flow.datagrams'").flatMap(Double.init) == 4)
        }
    }

    /// An exporter that reopens its socket (new source port) may land on another receive thread; its
    /// sequence expectation is kept per exporter, so the datagram lost across the switch still counts.
    @Test(.timeLimit(.minutes(2)))
    func sequenceGapsAreCountedAcrossASourcePortChange() throws {
        try withFlowDaemon("sockets_per_port = 4\nstate_dir = \"\"") { port in
            // 1–3 from one socket; then 5–6 from a new one each (4 is lost), so up to three threads see it.
            let first = UDPExporter()
            for seq: UInt32 in [1, 2, 3] { first.send(sflowDatagram(sequence: seq), port: port) }
            Thread.sleep(forTimeInterval: 0.2)
            for seq: UInt32 in [5, 6] {
                UDPExporter().send(sflowDatagram(sequence: seq), port: port)
                Thread.sleep(forTimeInterval: 0.2)
            }
            Thread.sleep(forTimeInterval: 2)
        } check: { conn, output in
            let health = try conn.query("SELECT packets, records, sequence_gaps FROM flow_exporters WHERE protocol = 65")
            #expect(health == [["5", "5", "1"]], "\(output)")
        }
    }

    /// flow.raw = false with flow.aggregate: nothing in flows, one flows_1m row per key with the counts
    /// scaled by the sampling rate, written at stop although its minute has not ended. While it ran, the
    /// minute in progress was held (and counted: flow.aggregate_entries) in memory.
    @Test(.timeLimit(.minutes(2)))
    func aggregatesLandInFlows1mAtStop() throws {
        try withFlowDaemon("""
        state_dir = ""
        raw = false
        aggregate = ["exporter", "src_addr", "dst_addr", "protocol"]
        """, until: "SELECT coalesce(max(value), 0) >= 1 FROM sotp_stats WHERE metric = 'flow.aggregate_entries'") { port in
            // Not in a minute's last seconds, so the minute is still held when the stats are next written.
            while Int(Date().timeIntervalSince1970) % 60 >= 55 { Thread.sleep(forTimeInterval: 0.5) }
            let exporter = UDPExporter()
            for seq: UInt32 in [1, 2, 3] { exporter.send(sflowDatagram(sequence: seq), port: port) }
        } check: { conn, output in
            #expect(try TestDB.scalar(conn, "SELECT count(*) FROM flows") == "0")
            // Each sample: 1 packet of 128 bytes, sampled 1 in 100.
            let rows = try conn.query("""
                SELECT host(exporter), host(src_addr), host(dst_addr), protocol, sum(packets), sum(bytes), sum(flows),
                       bool_and(src_port IS NULL AND in_if IS NULL), bool_and(time = date_trunc('minute', time))
                FROM flows_1m GROUP BY 1, 2, 3, 4
            """)
            #expect(rows == [["127.0.0.9", "127.1.1.1", "127.2.2.2", "6", "300", "38400", "3", "t", "t"]], "\(output)")
        }
    }

    @Test func aBadSamplingOverrideIsAConfigError() throws {
        let cfg = TestDB.tempDir("cfg") + "/sotpd.toml"
        try "[flow]\nsampling_override = [\"127.0.0.9=2048\", \"nonsense\"]\n".write(toFile: cfg, atomically: true, encoding: .utf8)
        let r = try TestDB.run(sotpdBinary, ["check-config", "--config", cfg])
        #expect(r.status == 2 && r.output.contains("flow.sampling_override[1]"), "\(r.output)")
    }

    /// An IPFIX message from observation domain 7: optionally a template (id 256: source and destination
    /// IPv4 address, protocol, octets, packets), then one data record using it.
    static func ipfix(sequence: UInt32, withTemplate: Bool, octets: UInt64) -> [UInt8] {
        var body: [UInt8] = []
        func u16(_ v: UInt16) { body += [UInt8(v >> 8), UInt8(v & 0xff)] }
        func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xffff)) }
        if withTemplate {
            u16(2); u16(4 + 4 + 5 * 4)  // template set
            u16(256); u16(5)
            for (id, len): (UInt16, UInt16) in [(8, 4), (12, 4), (4, 1), (1, 8), (2, 8)] { u16(id); u16(len) }
        }
        u16(256); u16(4 + 25)  // data set
        body += [127, 3, 3, 3, 127, 4, 4, 4, 17]
        u32(UInt32(octets >> 32)); u32(UInt32(octets & 0xffff_ffff))
        u32(0); u32(10)
        var msg: [UInt8] = [0, 10, UInt8((16 + body.count) >> 8), UInt8((16 + body.count) & 0xff)]
        for v: UInt32 in [1_763_700_000, sequence, 7] { msg += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        return msg + body
    }

    @Test(.timeLimit(.minutes(2)))
    func templatesSurviveARestart() throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        let port = UInt16(TestDB.freePort())
        let state = TestDB.tempDir("flowstate")
        let cfg = try daemonConfig(url: url, """
        [icmp]
        enabled = false
        [flow]
        netflow_port = \(port)
        ipfix_port = 0
        sflow_port = 0
        state_dir = "\(state)"
        """)
        let exporter = UDPExporter()
        func run(_ body: () -> Void) throws -> String {
            let sotpd = try Child(sotpdBinary, ["run", "--config", cfg])
            for _ in 0..<100 where !sotpd.output.contains("flow listeners started") { Thread.sleep(forTimeInterval: 0.05) }
            body()
            Thread.sleep(forTimeInterval: 1.0)
            sotpd.signal(SIGTERM)
            #expect(sotpd.wait(timeout: 60) == 0, "\(sotpd.output)")
            return sotpd.output
        }
        // First run: the template arrives with the first record.
        _ = try run { exporter.send(Self.ipfix(sequence: 0, withTemplate: true, octets: 1000), port: port) }
        #expect(FileManager.default.fileExists(atPath: state + "/templates-\(port)-0.bin"))
        // Second run: the exporter sends data only (it sent its template before the restart).
        let second = try run { exporter.send(Self.ipfix(sequence: 1, withTemplate: false, octets: 2000), port: port) }
        #expect(second.contains("flow templates loaded"), "\(second)")
        let rows = try conn.query("SELECT host(src_addr), host(dst_addr), protocol, bytes, packets, observation_domain, flow_source FROM flows ORDER BY bytes")
        #expect(rows == [["127.3.3.3", "127.4.4.4", "17", "1000", "10", "7", "10"], ["127.3.3.3", "127.4.4.4", "17", "2000", "10", "7", "10"]], "\(second)")
        #expect(try TestDB.scalar(conn, "SELECT template_misses FROM flow_exporters WHERE protocol = 10") == "0")
    }
}
