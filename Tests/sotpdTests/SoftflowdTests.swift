// Interop with a real exporter: softflowd (Debian's package) watches a namespace's interface while the
// test sends it known traffic, exports NetFlow v5, v9 or IPFIX to sotpd, and the flows stored must be
// that traffic: addresses, ports, protocol, packets, bytes.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

@Suite("softflowd interop", .serialized,
       .enabled(if: NetNS.available && FileManager.default.isExecutableFile(atPath: "/usr/sbin/softflowd"), "needs ip netns and softflowd"))
struct SoftflowdTests {
    @Test(.timeLimit(.minutes(2)), arguments: ["5", "9", "10"])
    func storedFlowsMatchTheTrafficSent(version: String) throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        let ns = try NetNS.create(tag: "sfd\(version)")
        defer { ns.destroy() }
        let port = UInt16(TestDB.freePort())
        let cfg = try daemonConfig(url: url, """
        [icmp]
        enabled = false
        [flow]
        netflow_port = \(port)
        ipfix_port = 0
        sflow_port = 0
        state_dir = "\(TestDB.tempDir("flowstate"))"
        """)
        let sotpd = try Child(sotpdBinary, ["run", "--config", cfg])
        var stopped = false
        defer { if !stopped { sotpd.signal(SIGKILL); _ = sotpd.wait(timeout: 10) } }
        for _ in 0..<100 where !sotpd.output.contains("flow listeners started") { Thread.sleep(forTimeInterval: 0.05) }

        // softflowd in the namespace, on its end of the link, exporting to our end.
        let (sfd, ctl) = try startSoftflowd(in: ns, version: version, collectorPort: port)
        defer { sfd.signal(SIGTERM); _ = sfd.wait(timeout: 10) }
        Thread.sleep(forTimeInterval: 0.3)

        // 40 UDP datagrams of 100 bytes payload from our side to the namespace host's port 9999.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_port = UInt16(41_000 + Int(version)!).bigEndian
        inet_pton(AF_INET, ns.localV4, &local.sin_addr)
        #expect(withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0)
        var dst = sockaddr_in()
        dst.sin_family = sa_family_t(AF_INET)
        dst.sin_port = UInt16(9999).bigEndian
        inet_pton(AF_INET, ns.hostV4, &dst.sin_addr)
        let payload = [UInt8](repeating: 0x5a, count: 100)
        for _ in 0..<40 {
            _ = withUnsafePointer(to: &dst) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            Thread.sleep(forTimeInterval: 0.002)
        }
        // Filler on another port, enough to push every capture block holding our packets through.
        var filler = dst
        filler.sin_port = UInt16(9998).bigEndian
        let big = [UInt8](repeating: 0, count: 1400)
        for _ in 0..<600 {
            _ = withUnsafePointer(to: &filler) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, big, big.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        Thread.sleep(forTimeInterval: 0.5)
        // Export everything now rather than at the timeouts.
        let expire = try ns.run(["/usr/sbin/softflowctl", "-c", ctl, "expire-all"])
        #expect(expire.status == 0, "\(expire.output)")

        let query = """
            SELECT packets, bytes FROM flows WHERE src_addr = '\(ns.localV4)' AND dst_addr = '\(ns.hostV4)'
              AND src_port = \(41_000 + Int(version)!) AND dst_port = 9999 AND protocol = 17 AND flow_source = \(version)
            """
        var rows: [[String?]] = []
        for _ in 0..<50 where rows.isEmpty {
            Thread.sleep(forTimeInterval: 0.2)
            rows = try conn.query(query)
        }
        sotpd.signal(SIGTERM)
        #expect(sotpd.wait(timeout: 60) == 0, "\(sotpd.output)")
        stopped = true
        // 40 packets of 20 (IPv4) + 8 (UDP) + 100 bytes.
        #expect(rows == [["40", "5120"]], "NetFlow v\(version): \(rows)\n\(sotpd.output)\nsoftflowd: \(sfd.output)\nctl: \(expire.output)")
        #expect(try TestDB.scalar(conn, "SELECT sum(decode_errors) FROM flow_exporters") == "0")
    }
}

/// softflowd in `ns` on its `eth0`, exporting NetFlow `version` to the root side's `collectorPort`, once
/// its control socket (the returned path, for softflowctl) exists. The caller stops it.
func startSoftflowd(in ns: NetNS, version: String, collectorPort port: UInt16) throws -> (Child, String) {
    let ctl = TestDB.tempDir("sfd") + "/ctl"
    // -B 64 KiB: libpcap hands packets over a block at a time (TPACKET_V3, no timeout in softflowd), so
    // small blocks, filled by the tests' filler traffic, get theirs to softflowd promptly.
    let sfd = try ns.spawn(["/usr/sbin/softflowd", "-d", "-B", "65536", "-i", "eth0", "-v", version, "-n", "\(ns.localV4):\(port)",
                            "-c", ctl, "-p", ctl + ".pid", "-t", "maxlife=300"])
    for _ in 0..<100 where !FileManager.default.fileExists(atPath: ctl) { Thread.sleep(forTimeInterval: 0.05) }
    return (sfd, ctl)
}
