// The vendor profiles in profiles/snmp doing their work in a real poll: an agent of the test's own (a
// UDP socket serving a fixed MIB over v2c GET/GETNEXT/GETBULK) plays a Cisco switch, a Juniper router, a
// Linux box and an unknown device; the poll picks the profile by sysObjectID, polls its CPU and memory
// OIDs (walked and aggregated, or fetched, and scaled), falls back to HOST-RESOURCES, and categorises.
import Capture
import Foundation
import Poller
@testable import sotpd
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// An SNMPv2c agent on 127.0.0.1 serving `mib` (sorted by OID) until stopped.
final class TableAgent: @unchecked Sendable {
    let fd: Int32
    let port: UInt16
    let mib: [(OID, SNMPValue)]
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    init(_ mib: [(OID, SNMPValue)]) {
        self.mib = mib.sorted { $0.0 < $1.0 }
        (fd, port) = LoopbackUDP.bind(receiveTimeoutMs: 50)
        let t = Thread { [self] in
            serve()
            done.signal()
        }
        t.start()
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        done.wait()
        close(fd)
    }

    private func next(after oid: OID) -> (OID, SNMPValue) {
        mib.first { oid < $0.0 } ?? (oid, .endOfMibView)
    }

    private func serve() {
        var buf = [UInt8](repeating: 0, count: 65536)
        while !stopping.load(ordering: .relaxed) {
            var from = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let n = buf.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &len) } }
            }
            guard n > 0 else { continue }
            let request = Array(buf.prefix(n))
            let b = request.span.bytes
            guard case .community(_, _, let p)? = try? SNMPMessage.parseHeader(b), let pdu = try? SNMPMessage.parsePDU(b, p) else { continue }
            var asked: [OID] = []
            var cursor = SNMPVarBindCursor(pdu.varbindList, maxVarbinds: 256)
            while let vb = try? cursor.next(b) { asked.append(OID(b, vb.name)) }
            var out: [SNMPVarBind] = []
            switch pdu.type {
            case .getRequest:
                out = asked.map { o in SNMPVarBind(o, mib.first { $0.0 == o }?.1 ?? .noSuchObject) }
            case .getNextRequest:
                out = asked.map { o in let (k, v) = next(after: o); return SNMPVarBind(k, v) }
            case .getBulkRequest:
                var cur = asked
                for _ in 0..<max(1, Int(pdu.errorIndex)) {
                    for i in cur.indices {
                        let (k, v) = next(after: cur[i])
                        out.append(SNMPVarBind(k, v))
                        cur[i] = k
                    }
                }
            default: continue
            }
            var e = BEREncoder()
            e.communityMessage(version: .v2c, community: Array("public".utf8)) { e in
                e.pdu(.response, requestID: pdu.requestID) { $0.varbindList(out) }
            }
            _ = e.bytes.withUnsafeBytes { r in
                withUnsafePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, r.baseAddress, r.count, 0, $0, len) } }
            }
        }
    }
}

@Suite("SNMP vendor profiles in a poll")
struct SNMPVendorProfileTests {
    static func system(_ objectID: OID, _ descr: String) -> [(OID, SNMPValue)] {
        [
            ("1.3.6.1.2.1.1.1.0", .octetString(Array(descr.utf8))), ("1.3.6.1.2.1.1.2.0", .objectIdentifier(objectID)),
            ("1.3.6.1.2.1.1.3.0", .timeTicks(360_000)), ("1.3.6.1.2.1.1.5.0", .octetString(Array("dev-1".utf8))),
            ("1.3.6.1.2.1.2.2.1.2.1", .octetString(Array("Gi1/0/1".utf8))), ("1.3.6.1.2.1.2.2.1.8.1", .integer(1)),
            ("1.3.6.1.2.1.2.2.1.10.1", .counter32(1000)),
        ]
    }

    static func poll(_ mib: [(OID, SNMPValue)]) throws -> SNMPDeviceSample {
        let (profiles, _, _) = try SNMPProfileLoader.load(dirs: [TestDB.repoRoot + "/profiles/snmp"])
        let agent = TableAgent(mib)
        defer { agent.stop() }
        let engine = try SNMPEngine()
        engine.start()
        defer { engine.stop() }
        let result = Mutex<SNMPDeviceSample?>(nil)
        SNMPDevicePoll(deviceID: 1, target: SNMPTarget(address: PeerAddress(v4: 0x7f00_0001, port: agent.port), timeoutMs: 1000),
                       engine: engine, profiles: profiles) { s in result.withLock { $0 = s } }.start()
        for _ in 0..<500 where result.withLock({ $0 == nil }) { Thread.sleep(forTimeInterval: 0.01) }
        let s = try #require(result.withLock { $0 })
        #expect(s.error == nil, "\(String(describing: s.error))")
        return s
    }

    @Test func ciscoCPUWalkedAndAveragedMemoryFetched() throws {
        let s = try Self.poll(Self.system("1.3.6.1.4.1.9.1.1258", "Cisco IOS Software, C2960S Software (C2960S-UNIVERSALK9-M), Version 15.2(2)E9, RELEASE SOFTWARE (fc4)") + [
            ("1.3.6.1.4.1.9.9.109.1.1.1.1.8.1", .gauge32(10)), ("1.3.6.1.4.1.9.9.109.1.1.1.1.8.2", .gauge32(30)),
            ("1.3.6.1.4.1.9.9.48.1.1.1.5.1", .gauge32(300_000_000)), ("1.3.6.1.4.1.9.9.48.1.1.1.6.1", .gauge32(100_000_000)),
            // Another pool (I/O): not the processor pool the profile reads.
            ("1.3.6.1.4.1.9.9.48.1.1.1.5.2", .gauge32(5)),
        ])
        #expect(s.category == SNMPCategory(profile: "cisco", vendor: "Cisco", model: "WS-C2960S-48FPD-L", os: "IOS", version: "15.2(2)E9"))
        #expect(s.cpuPct == 20)
        #expect(s.memUsedBytes == 300_000_000 && s.memTotalBytes == 400_000_000)
    }

    @Test func juniperRoutingEngineRowsMaxAndMegabytes() throws {
        let s = try Self.poll(Self.system("1.3.6.1.4.1.2636.1.1.1.2.21", "Juniper Networks, Inc. mx480 internet router, kernel JUNOS 21.4R3-S5.4, Build date: 2023-09-20 07:51:10 UTC") + [
            ("1.3.6.1.4.1.2636.3.1.13.1.8.9.1.0.0", .gauge32(12)), ("1.3.6.1.4.1.2636.3.1.13.1.8.9.2.0.0", .gauge32(3)),
            // A line card's row: outside the Routing Engine subtree (.9) the profile walks.
            ("1.3.6.1.4.1.2636.3.1.13.1.8.7.1.0.0", .gauge32(90)),
            ("1.3.6.1.4.1.2636.3.1.13.1.15.9.1.0.0", .gauge32(2048)),
        ])
        #expect(s.category?.vendor == "Juniper" && s.category?.os == "JUNOS" && s.category?.version == "21.4R3-S5.4" && s.category?.model == "mx480")
        #expect(s.cpuPct == 12)
        #expect(s.memTotalBytes.map { Int64($0) } == 2_147_483_648)
    }

    @Test func linuxIdleBecomesBusyAndKilobytesBecomeBytes() throws {
        let s = try Self.poll(Self.system("1.3.6.1.4.1.8072.3.2.10", "Linux core-1 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64") + [
            ("1.3.6.1.4.1.2021.11.11.0", .integer(75)), ("1.3.6.1.4.1.2021.4.5.0", .integer(1000)), ("1.3.6.1.4.1.2021.4.27.0", .counter64(250)),
        ])
        #expect(s.category?.profile == "linux" && s.category?.os == "Linux" && s.category?.version == "6.1.0-18-amd64")
        #expect(s.cpuPct == 25)
        #expect(s.memTotalBytes == 1_024_000 && s.memUsedBytes == 768_000)
    }

    @Test func unknownDeviceUsesHostResources() throws {
        let s = try Self.poll(Self.system("1.3.6.1.4.1.424242.1", "Some appliance") + [
            ("1.3.6.1.2.1.25.2.3.1.2.1", .objectIdentifier("1.3.6.1.2.1.25.2.1.2")), ("1.3.6.1.2.1.25.2.3.1.3.1", .octetString(Array("Physical memory".utf8))),
            ("1.3.6.1.2.1.25.2.3.1.4.1", .integer(1024)), ("1.3.6.1.2.1.25.2.3.1.5.1", .integer(1000)), ("1.3.6.1.2.1.25.2.3.1.6.1", .integer(400)),
            ("1.3.6.1.2.1.25.2.3.1.2.31", .objectIdentifier("1.3.6.1.2.1.25.2.1.4")), ("1.3.6.1.2.1.25.2.3.1.4.31", .integer(4096)),
            ("1.3.6.1.2.1.25.2.3.1.5.31", .integer(100)), ("1.3.6.1.2.1.25.2.3.1.6.31", .integer(50)),
            ("1.3.6.1.2.1.25.3.3.1.2.196608", .integer(40)), ("1.3.6.1.2.1.25.3.3.1.2.196609", .integer(60)),
        ])
        #expect(s.category == SNMPCategory(profile: "generic"))
        #expect(s.cpuPct == 50)
        #expect(s.memTotalBytes == 1_024_000 && s.memUsedBytes == 409_600)
        #expect(s.storage.map(\.kind) == ["ram", "fixed_disk"] && s.storage[1].usedBytes == 204_800)
    }
}
