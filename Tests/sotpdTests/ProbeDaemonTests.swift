// The capture probe end to end: sotpd captures on the root side of a test namespace's veth while the test
// sends known UDP and TCP traffic across it; softflowd (Debian's) watches the namespace side of the same
// link and exports NetFlow v9 to the same sotpd. The probe's stored flows must be the traffic sent (ports,
// protocol, packets, bytes) and agree with softflowd's, flow for flow. Then the capture layer alone: the
// kernel filter, 1-in-N sampling and ring drop counters.
import Capture
import Flow
import Foundation
import Sink
@testable import sotpd
import Synchronization
import Testing
import TestSupport

@Suite("capture probe", .serialized,
       .enabled(if: NetNS.available && FileManager.default.isExecutableFile(atPath: "/usr/sbin/softflowd"), "needs ip netns and softflowd"))
struct ProbeDaemonTests {
    @Test(.timeLimit(.minutes(2)))
    func storedFlowsMatchTheTrafficAndSoftflowd() throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        let ns = try NetNS.create(tag: "probe")
        defer { ns.destroy() }
        let port = UInt16(TestDB.freePort())
        let apiPort = TestDB.freePort()
        let cfg = try daemonConfig(url: url, """
        [api]
        listen = "127.0.0.1:\(apiPort)"
        [icmp]
        enabled = false
        [flow]
        netflow_port = \(port)
        ipfix_port = 0
        sflow_port = 0
        state_dir = ""
        [probe]
        interfaces = ["\(ns.interface)"]
        idle_timeout_s = 1
        active_timeout_s = 60
        exporter_address = "192.0.2.10"
        [stats]
        interval_s = 1
        """)
        let sotpd = try Child(sotpdBinary, ["run", "--config", cfg])
        var stopped = false
        defer { if !stopped { sotpd.signal(SIGKILL); _ = sotpd.wait(timeout: 10) } }
        for _ in 0..<100 where !sotpd.output.contains("capture probe started") { Thread.sleep(forTimeInterval: 0.05) }
        #expect(sotpd.output.contains("capture probe started"), "\(sotpd.output)")

        // softflowd on the namespace's end of the same link, exporting v9 to our end.
        let (sfd, ctl) = try startSoftflowd(in: ns, version: "9", collectorPort: port)
        defer { sfd.signal(SIGTERM); _ = sfd.wait(timeout: 10) }
        // A TCP server in the namespace that reads to the end and answers with how much it got.
        let server = try ns.spawn(["/usr/bin/python3", "-c", """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8080)); s.listen(1)
            print("listening", flush=True)
            c, _ = s.accept(); n = 0
            while True:
                d = c.recv(65536)
                if not d: break
                n += len(d)
            c.sendall(str(n).encode()); c.close()
            """])
        defer { server.signal(SIGTERM); _ = server.wait(timeout: 10) }
        for _ in 0..<100 where !server.output.contains("listening") { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 0.3)

        // 40 UDP datagrams of 100 bytes from our side to the namespace host's port 9999.
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(udp) }
        #expect(bindV4(udp, ns.localV4, 41_100) == 0)
        let payload = [UInt8](repeating: 0x5a, count: 100)
        for _ in 0..<40 {
            _ = sendV4(udp, payload, to: ns.hostV4, port: 9999)
            Thread.sleep(forTimeInterval: 0.002)
        }
        // A TCP connection: 20,000 bytes up, the count back, both sides close (FIN ends the probe's flows).
        let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(tcp) }
        #expect(bindV4(tcp, ns.localV4, 41_101) == 0)
        var dst = sockaddrV4(ns.hostV4, 8080)
        let connected = withUnsafePointer(to: &dst) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(tcp, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(connected == 0)
        let data = [UInt8](repeating: 0x41, count: 20_000)
        #expect(send(tcp, data, data.count, 0) == data.count)
        shutdown(tcp, Int32(SHUT_WR))
        var reply = [UInt8](repeating: 0, count: 16)
        let got = recv(tcp, &reply, reply.count, 0)
        #expect(got > 0 && String(decoding: reply[0..<max(0, got)], as: UTF8.self) == "20000")
        Thread.sleep(forTimeInterval: 0.3)
        // Filler on another port pushes softflowd's capture blocks through; then it exports everything.
        let big = [UInt8](repeating: 0, count: 1400)
        for _ in 0..<600 { _ = sendV4(udp, big, to: ns.hostV4, port: 9998) }
        Thread.sleep(forTimeInterval: 0.5)
        let expire = try ns.run(["/usr/sbin/softflowctl", "-c", ctl, "expire-all"])
        #expect(expire.status == 0, "\(expire.output)")

        func flows(_ source: Int, _ src: String, _ sport: Int, _ dst: String, _ dport: Int, _ proto: Int) throws -> [[String?]] {
            try conn.query("""
                SELECT sum(packets)::text, sum(bytes)::text, bit_or(tcp_flags)::text FROM flows
                WHERE flow_source = \(source) AND src_addr = '\(src)' AND src_port = \(sport) AND dst_addr = '\(dst)'
                  AND dst_port = \(dport) AND protocol = \(proto) HAVING count(*) > 0
                """)
        }
        // The probe writes a UDP flow after its 1 s idle timeout; a TCP flow at its FIN.
        var probeUDP: [[String?]] = [], sfdUDP: [[String?]] = []
        for _ in 0..<60 where probeUDP.isEmpty || sfdUDP.isEmpty {
            Thread.sleep(forTimeInterval: 0.2)
            probeUDP = try flows(100, ns.localV4, 41_100, ns.hostV4, 9999, 17)
            sfdUDP = try flows(9, ns.localV4, 41_100, ns.hostV4, 9999, 17)
        }
        // 40 packets of 20 (IPv4) + 8 (UDP) + 100 bytes, as sent, and as softflowd counted them.
        #expect(probeUDP == [["40", "5120", "0"]], "\(sotpd.output)")
        #expect(sfdUDP.first?.prefix(2) == probeUDP.first?.prefix(2), "softflowd: \(sfdUDP) probe: \(probeUDP)")

        let up = try flows(100, ns.localV4, 41_101, ns.hostV4, 8080, 6)
        let down = try flows(100, ns.hostV4, 8080, ns.localV4, 41_101, 6)
        let sfdUp = try flows(9, ns.localV4, 41_101, ns.hostV4, 8080, 6)
        let sfdDown = try flows(9, ns.hostV4, 8080, ns.localV4, 41_101, 6)
        // Upstream carried the 20,000 bytes plus headers; SYN and FIN were seen both ways.
        let upBytes = Int(up.first?[1] ?? "0") ?? 0
        #expect(upBytes > 20_000 && upBytes < 24_000, "up: \(up)")
        #expect((Int(up.first?[2] ?? "0") ?? 0) & 0x03 == 0x03 && (Int(down.first?[2] ?? "0") ?? 0) & 0x03 == 0x03, "up \(up) down \(down)")
        // The same packets and bytes as softflowd saw on the other end of the link.
        #expect(up.first?.prefix(2) == sfdUp.first?.prefix(2), "probe \(up) softflowd \(sfdUp)")
        #expect(down.first?.prefix(2) == sfdDown.first?.prefix(2), "probe \(down) softflowd \(sfdDown)")

        // Direction and interface: what this host sent leaves by the veth (egress, out_if); replies come in.
        let ifIndex = Int(if_nametoindex(ns.interface))
        let sent = try conn.query("""
            SELECT direction, in_if, out_if, host(exporter), observation_domain, sampling_rate FROM flows
            WHERE flow_source = 100 AND src_port = 41100 LIMIT 1
            """)
        #expect(sent == [["1", "0", String(ifIndex), "192.0.2.10", String(ifIndex), "1"]], "\(sent)")
        #expect(try conn.query("SELECT DISTINCT direction, in_if FROM flows WHERE flow_source = 100 AND src_port = 8080")
            == [["0", String(ifIndex)]])

        // /metrics: the totals and the per-interface series, and the probe among what /readyz waits for.
        let metrics = try httpGet(port: apiPort, "/metrics").body
        for name in ["sotp_probe_packets_total", "sotp_probe_ring_drops_total 0", "sotp_probe_records_total", "sotp_probe_entries",
                     "sotp_probe_interface_packets_total{interface=\"\(ns.interface)\"}",
                     "sotp_probe_interface_rx_dropped_total{interface=\"\(ns.interface)\"}"] {
            #expect(metrics.contains(name), "/metrics lacks \(name)")
        }
        sotpd.signal(SIGTERM)
        #expect(sotpd.wait(timeout: 60) == 0, "\(sotpd.output)")
        stopped = true
        // The probe's own row in flow_exporters: its packets, records and no ring drops.
        let health = try conn.query("""
            SELECT packets > 600, records > 0, errors_by_kind ? 'ring_drops' FROM flow_exporters
            WHERE protocol = 100 AND exporter = '192.0.2.10' AND observation_domain = \(ifIndex)
            """)
        #expect(health == [["t", "t", "f"]], "\(health)\n\(sotpd.output)")
        #expect(sotpd.output.contains("probe.ring_drops=0"), "\(sotpd.output)")
    }

    @Test(.timeLimit(.minutes(1)))
    func kernelFilterSamplingAndCounters() throws {
        let ns = try NetNS.create(tag: "ring")
        defer { ns.destroy() }
        // Every 4th UDP packet to port 9999 (at random), nothing else; two threads in a fanout group.
        var o = PacketCaptureOptions(interface: ns.interface)
        o.filter = "udp and dst port 9999"
        o.sampling = 4
        o.threads = 2
        o.ringBytes = 4 << 20
        o.blockBytes = 1 << 16
        let seen = Mutex<[Int]>([0, 0])
        let lengths = Mutex<Set<Int>>([])
        let ports = Mutex<[Int: Int]>([:])
        let capture = try PacketCapture(options: o) { thread, bytes, info in
            seen.withLock { $0[thread] += 1 }
            var r = FlowRecord()
            _ = PacketHeaderParser.parse(bytes, 0..<bytes.byteCount, startingAt: .ethernet, into: &r)
            ports.withLock { $0[Int(r.dstPort), default: 0] += 1 }
            lengths.withLock { _ = $0.insert(bytes.byteCount * 100_000 + info.wireLength) }
        }
        capture.start()
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(udp) }
        let payload = [UInt8](repeating: 1, count: 972)  // 1014-byte frames: cut to the 256-byte snap length
        for i in 0..<4000 {
            // Every other packet is to another port and must not pass the filter.
            _ = sendV4(udp, payload, to: ns.hostV4, port: i % 2 == 0 ? 9999 : 9997)
        }
        Thread.sleep(forTimeInterval: 0.5)
        capture.stop()
        let s = capture.stats.snapshot()
        let total = seen.withLock { $0.reduce(0, +) }
        // 2000 packets matched; 1 in 4 of them kept: 500 expected, ±6 standard deviations (√375 ≈ 19).
        #expect((386...614).contains(total), "kept \(total) of 2000: \(ports.withLock { $0 })")
        #expect(s.packets == total && s.kernelPackets == total && s.kernelDrops == 0, "\(s)")
        #expect(lengths.withLock { $0 } == [256 * 100_000 + 1014])
    }

    @Test(.timeLimit(.minutes(1)))
    func aFullRingIsCountedAsDrops() throws {
        let ns = try NetNS.create(tag: "drops")
        defer { ns.destroy() }
        // Two 4 KiB blocks (a dozen packets) and a reader that takes 5 ms a packet: most of a fast burst
        // cannot fit, and the kernel's count of what it dropped must account for every packet.
        var o = PacketCaptureOptions(interface: ns.interface)
        o.filter = "udp and dst port 9999"
        o.ringBytes = 8192
        o.blockBytes = 4096
        let read = Mutex(0)
        let capture = try PacketCapture(options: o) { _, _, _ in
            read.withLock { $0 += 1 }
            usleep(5000)
        }
        capture.start()
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(udp) }
        for _ in 0..<500 { _ = sendV4(udp, [UInt8](repeating: 2, count: 200), to: ns.hostV4, port: 9999) }
        // Long enough for the reader to drain what the ring kept.
        Thread.sleep(forTimeInterval: 1.5)
        capture.stop()
        let s = capture.stats.snapshot()
        #expect(s.kernelDrops > 300 && s.packets == read.withLock { $0 }, "\(s)")
        #expect(s.packets + s.kernelDrops == 500 && s.kernelPackets == 500, "\(s)")
    }

    @Test(.timeLimit(.minutes(1)))
    func ipv6FlowsFromTheRing() throws {
        // (This kernel has no 802.1Q module, so VLAN tags are covered by FlowCacheTests' frames only.)
        let ns = try NetNS.create(tag: "v6")
        defer { ns.destroy() }
        let cache = Mutex(FlowCache(options: FlowCacheOptions()))
        var o = PacketCaptureOptions(interface: ns.interface)
        o.filter = "ip6 and udp"
        let capture = try PacketCapture(options: o) { _, bytes, info in
            guard let frame = ProbeWorker.frame(info) else { return }
            cache.withLock { $0.add(bytes, frame) { _ in } }
        }
        capture.start()
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var dst = sockaddr_in6()
        dst.sin6_family = sa_family_t(AF_INET6)
        dst.sin6_port = UInt16(9999).bigEndian
        inet_pton(AF_INET6, ns.hostV6, &dst.sin6_addr)
        let payload = [UInt8](repeating: 3, count: 52)
        for _ in 0..<10 {
            _ = withUnsafePointer(to: &dst) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            usleep(2000)
        }
        Thread.sleep(forTimeInterval: 0.4)
        capture.stop()
        var out: [FlowRecord] = []
        cache.withLock { $0.flush(nowMicros: .max / 2) { out.append($0) } }
        // 10 packets of 40 (IPv6) + 8 (UDP) + 52 bytes, sent by this host, to the namespace's address.
        let flow = out.filter { $0.dstPort == 9999 }
        #expect(flow.count == 1 && flow.first?.packets == 10 && flow.first?.bytes == 1000, "\(out)")
        #expect(flow.first?.proto == 17 && flow.first?.direction == 1 && flow.first?.vlan == 0, "\(out)")
        #expect(flow.first?.dst == FlowIP(v6High: 0x2001_0002_0000_0000 | UInt64(flow.first?.dst.high ?? 0) & 0xffff, v6Low: 2), "\(out)")
    }

    @Test func badProbeSettingsAreConfigErrors() throws {
        let url = TestDB.info.url
        for (section, key) in [("filter = \"udp and nonsense(\"", "probe.filter"), ("block_bytes = 5000", "probe.block_bytes"),
                               ("interfaces = [\"no-such-if0\"]", "probe.interface"), ("active_timeout_s = 5\nidle_timeout_s = 10", "probe.active_timeout_s")] {
            let cfg = try daemonConfig(url: url, "[icmp]\nenabled = false\n[flow]\nenabled = false\n[probe]\n" + section
                                        + (section.hasPrefix("interfaces") ? "" : "\ninterfaces = [\"lo\"]"))
            let r = try TestDB.run(sotpdBinary, ["run", "--config", cfg])
            #expect(r.status == 2 && r.output.contains(key), "\(section): \(r.status) \(r.output)")
        }
    }
}

private func sockaddrV4(_ address: String, _ port: UInt16) -> sockaddr_in {
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = port.bigEndian
    inet_pton(AF_INET, address, &a.sin_addr)
    return a
}

private func bindV4(_ fd: Int32, _ address: String, _ port: UInt16) -> Int32 {
    var a = sockaddrV4(address, port)
    return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
}

private func sendV4(_ fd: Int32, _ bytes: [UInt8], to address: String, port: UInt16) -> Int {
    var a = sockaddrV4(address, port)
    return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
}
