// The trap receiver against net-snmp's own tools (Debian's `snmp` package): snmptrap and snmpinform send
// v1, v2c and v3 notifications to a UDP socket on 127.0.0.1 that this test reads and answers with
// what the receiver replies; every field sent must come back decoded.
import Foundation
import Testing
import TestSupport

@testable import Poller

#if canImport(Glibc)
import Glibc
#endif

/// A UDP socket bound to 127.0.0.1 on a free port, with a short receive timeout.
final class TestUDPSocket {
    let fd: Int32
    let port: UInt16

    init() throws {
        (fd, port) = LoopbackUDP.bind(receiveTimeoutMs: 100)
        guard fd >= 0 else { throw SNMPConfigError("socket: \(errno)") }
    }

    /// One datagram and its sender, nil after the timeout.
    func receive() -> ([UInt8], sockaddr_in)? {
        var buf = [UInt8](repeating: 0, count: 65536)
        var from = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let n = buf.withUnsafeMutableBytes { b in
            withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &len) } }
        }
        guard n >= 0 else { return nil }
        return (Array(buf.prefix(n)), from)
    }

    func send(_ bytes: [UInt8], to: sockaddr_in) {
        var to = to
        _ = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &to) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
    }

    deinit { close(fd) }
}

@Suite("Trap receiver with net-snmp", .serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/snmptrap")))
struct TrapInteropTests {
    struct Run {
        var exitCode: Int32
        var output: String
        var outcomes: [TrapOutcome]
        var replies = 0

        var notifications: [SNMPNotification] {
            outcomes.compactMap { if case .notification(let n) = $0 { n } else { nil } }
        }
        var rejections: [TrapRejection] {
            outcomes.compactMap { if case .rejected(let r) = $0 { r } else { nil } }
        }
    }

    static let engineID = hexBytes("80001f8805736f74702d746573742d31")
    static let agentEngine = "0x8000000001020304"

    static func receiver(communities: [String] = [], users: [USMUser] = []) throws -> TrapReceiver {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        return try TrapReceiver(config: TrapReceiverConfig(
            communities: communities, users: users,
            engine: SNMPEngineIdentity(engineID: engineID, boots: 3, startMicros: now - 10_000_000)))
    }

    /// Runs `/usr/bin/<tool> args… 127.0.0.1:<port> rest…` with a private net-snmp state directory and
    /// no MIBs, feeding what arrives to `receiver` and sending its replies back, until the tool exits.
    static func run(_ tool: String, _ args: [String], _ rest: [String], _ receiver: inout TrapReceiver) throws -> Run {
        let socket = try TestUDPSocket()
        let dir = NSTemporaryDirectory() + "snmp-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["SNMP_PERSISTENT_DIR": dir, "SNMPCONFPATH": dir, "MIBS": "", "MIBDIRS": dir, "HOME": dir]
        let child = try Child("/usr/bin/" + tool, ["-r", "1", "-t", "2"] + args + ["127.0.0.1:\(socket.port)"] + rest, env: env)
        var run = Run(exitCode: -1, output: "", outcomes: [])
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let (bytes, from) = socket.receive() {
                let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                var replies: [[UInt8]] = []
                let outcome = receiver.receive(bytes.span.bytes, from: .v4(UInt32(bigEndian: from.sin_addr.s_addr)), receivedMicros: now) { r in
                    replies.append(BER.copy(r, 0..<r.byteCount))
                }
                for r in replies { socket.send(r, to: from) }
                run.replies += replies.count
                run.outcomes.append(outcome)
                continue
            }
            if let code = child.exitStatus() {
                run.exitCode = code
                break
            }
        }
        if run.exitCode == -1 { run.exitCode = child.wait(timeout: 1) }
        run.output = child.output
        return run
    }

    /// One varbind of each type snmptrap can send, and what each must decode to.
    static let varbindArgs = [
        "1.3.6.1.2.1.1.5.0", "s", "router 1 \"core\"",
        "1.3.6.1.2.1.2.2.1.1.3", "i", "-7",
        "1.3.6.1.2.1.2.2.1.5.3", "u", "1000000000",
        "1.3.6.1.2.1.2.2.1.10.3", "c", "4294967295",
        "1.3.6.1.4.1.99999.1", "t", "123456",
        "1.3.6.1.2.1.1.2.0", "o", "1.3.6.1.4.1.8072.3.2.10",
        "1.3.6.1.2.1.4.20.1.1.3", "a", "10.1.2.3",
        "1.3.6.1.4.1.99999.2", "x", "00ff10",
        "1.3.6.1.4.1.99999.3", "C", "18446744073709551615",
        "1.3.6.1.4.1.99999.4", "n", "",
        "1.3.6.1.4.1.99999.5", "d", "1.2.3.4",
    ]
    static let varbinds: [SNMPVarBind] = [
        SNMPVarBind("1.3.6.1.2.1.1.5.0", .octetString(Array("router 1 \"core\"".utf8))),
        SNMPVarBind("1.3.6.1.2.1.2.2.1.1.3", .integer(-7)),
        SNMPVarBind("1.3.6.1.2.1.2.2.1.5.3", .gauge32(1_000_000_000)),
        SNMPVarBind("1.3.6.1.2.1.2.2.1.10.3", .counter32(4_294_967_295)),
        SNMPVarBind("1.3.6.1.4.1.99999.1", .timeTicks(123_456)),
        SNMPVarBind("1.3.6.1.2.1.1.2.0", .objectIdentifier("1.3.6.1.4.1.8072.3.2.10")),
        SNMPVarBind("1.3.6.1.2.1.4.20.1.1.3", .ipAddress(0x0a01_0203)),
        SNMPVarBind("1.3.6.1.4.1.99999.2", .octetString([0x00, 0xff, 0x10])),
        SNMPVarBind("1.3.6.1.4.1.99999.3", .counter64(UInt64.max)),
        SNMPVarBind("1.3.6.1.4.1.99999.4", .null),
        SNMPVarBind("1.3.6.1.4.1.99999.5", .octetString([1, 2, 3, 4])),
    ]
    static let json = "["
        + #"{"oid":"1.3.6.1.2.1.1.5.0","type":"OctetString","value":"router 1 \"core\""},"#
        + #"{"oid":"1.3.6.1.2.1.2.2.1.1.3","type":"Integer","value":-7},"#
        + #"{"oid":"1.3.6.1.2.1.2.2.1.5.3","type":"Gauge32","value":1000000000},"#
        + #"{"oid":"1.3.6.1.2.1.2.2.1.10.3","type":"Counter32","value":4294967295},"#
        + #"{"oid":"1.3.6.1.4.1.99999.1","type":"TimeTicks","value":123456},"#
        + #"{"oid":"1.3.6.1.2.1.1.2.0","type":"ObjectIdentifier","value":"1.3.6.1.4.1.8072.3.2.10"},"#
        + #"{"oid":"1.3.6.1.2.1.4.20.1.1.3","type":"IpAddress","value":"10.1.2.3"},"#
        + #"{"oid":"1.3.6.1.4.1.99999.2","type":"OctetString","value":"00ff10","hex":true},"#
        + #"{"oid":"1.3.6.1.4.1.99999.3","type":"Counter64","value":18446744073709551615},"#
        + #"{"oid":"1.3.6.1.4.1.99999.4","type":"Null","value":null},"#
        + #"{"oid":"1.3.6.1.4.1.99999.5","type":"OctetString","value":"01020304","hex":true}"#
        + "]"

    /// The one notification of `run`, checked against what every v2c/v3 test sends.
    static func checkV2(_ run: Run, trapOID: String = "1.3.6.1.4.1.99999.0.7", sourceLocation: SourceLocation = #_sourceLocation) -> SNMPNotification? {
        guard run.notifications.count == 1, let n = run.notifications.first else {
            Issue.record("expected one notification, got \(run.outcomes); exit \(run.exitCode): \(run.output)", sourceLocation: sourceLocation)
            return nil
        }
        #expect(n.uptime == 4242, sourceLocation: sourceLocation)
        #expect(n.trapOID == trapOID, sourceLocation: sourceLocation)
        #expect(n.varbinds == varbinds, sourceLocation: sourceLocation)
        #expect(n.varbindsJSON == json, sourceLocation: sourceLocation)
        #expect(n.source == .v4(0x7f00_0001) && n.agentAddress == nil, sourceLocation: sourceLocation)
        return n
    }

    @Test func v1Trap() throws {
        var r = try Self.receiver(communities: ["public"])
        let run = try Self.run("snmptrap", ["-v", "1", "-c", "public"],
                               ["1.3.6.1.4.1.8072.2.3", "192.0.2.7", "6", "17", "4242"] + Self.varbindArgs, &r)
        #expect(run.exitCode == 0, "\(run.output)")
        let n = try #require(run.notifications.first)
        #expect(run.outcomes.count == 1)
        #expect(n.version == .v1 && n.kind == .trap && n.community == "public" && n.requestID == nil)
        #expect(n.enterprise == "1.3.6.1.4.1.8072.2.3" && n.agentAddress == IPAddress("192.0.2.7"))
        #expect(n.genericTrap == 6 && n.specificTrap == 17 && n.uptime == 4242)
        #expect(n.trapOID == "1.3.6.1.4.1.8072.2.3.0.17")
        #expect(n.varbinds == Self.varbinds && n.varbindsJSON == Self.json)
        // A generic trap (linkUp = 3) maps to snmpTraps.4.
        let up = try Self.run("snmptrap", ["-v", "1", "-c", "public"], ["1.3.6.1.4.1.8072.2.3", "192.0.2.7", "3", "0", "1"], &r)
        #expect(up.notifications.first?.trapOID == "1.3.6.1.6.3.1.1.5.4")
        #expect(r.stats[.trapsV1] == 2)
    }

    @Test func v2cTrapAndBadCommunity() throws {
        var r = try Self.receiver(communities: ["public"])
        let run = try Self.run("snmptrap", ["-v", "2c", "-c", "public"], ["4242", "1.3.6.1.4.1.99999.0.7"] + Self.varbindArgs, &r)
        #expect(run.exitCode == 0, "\(run.output)")
        let n = try #require(Self.checkV2(run))
        #expect(n.version == .v2c && n.kind == .trap && n.community == "public" && n.requestID != nil)
        let bad = try Self.run("snmptrap", ["-v", "2c", "-c", "wrong"], ["4242", "1.3.6.1.4.1.99999.0.7"], &r)
        #expect(bad.rejections == [.badCommunity])
        #expect(r.stats[.badCommunity] == 1 && r.stats[.trapsV2] == 1)
    }

    @Test func v2cInformIsAcknowledged() throws {
        var r = try Self.receiver()
        let run = try Self.run("snmpinform", ["-v", "2c", "-c", "public"], ["4242", "1.3.6.1.4.1.99999.0.7"] + Self.varbindArgs, &r)
        // snmpinform exits 0 only when it got our Response.
        #expect(run.exitCode == 0, "\(run.output)")
        let n = try #require(Self.checkV2(run))
        #expect(n.version == .v2c && n.kind == .inform)
        #expect(run.replies == 1 && r.stats[.informsAcknowledged] == 1)
    }

    static let v3Combinations: [(String, String?)] = [
        ("MD5", "AES"), ("SHA", "AES"), ("SHA-224", "AES"), ("SHA-256", "AES"), ("SHA-384", "AES"), ("SHA-512", "AES"),
        ("SHA", nil), ("SHA", "DES"), ("SHA-256", "AES-192"), ("SHA-512", "AES-256"), ("MD5", "DES"),
        // Hashes shorter than the AES key: the localized key is extended (Blumenthal).
        ("SHA", "AES-256"), ("MD5", "AES-192"),
    ]

    static func user(_ name: String, _ auth: String, _ priv: String?) -> USMUser {
        USMUser(name: name, auth: SNMPAuthProtocol(rawValue: auth)!, authPassphrase: "auth pass " + auth,
                priv: priv.flatMap { SNMPPrivProtocol(rawValue: $0) }, privPassphrase: "priv pass " + (priv ?? ""))
    }

    static func v3Args(_ name: String, _ auth: String, _ priv: String?, authPass: String? = nil) -> [String] {
        var a = ["-v", "3", "-u", name, "-a", auth, "-A", authPass ?? "auth pass " + auth]
        if let priv { a += ["-l", "authPriv", "-x", priv, "-X", "priv pass " + priv] } else { a += ["-l", "authNoPriv"] }
        return a
    }

    @Test(arguments: v3Combinations)
    func v3Trap(auth: String, priv: String?) throws {
        var r = try Self.receiver(users: [Self.user("u3", auth, priv)])
        let run = try Self.run("snmptrap", Self.v3Args("u3", auth, priv) + ["-e", Self.agentEngine, "-E", "0x80000000aabbccdd"],
                               ["4242", "1.3.6.1.4.1.99999.0.7"] + Self.varbindArgs, &r)
        #expect(run.exitCode == 0, "\(run.output)")
        let n = try #require(Self.checkV2(run))
        #expect(n.version == .v3 && n.kind == .trap && n.userName == "u3" && n.community == nil)
        #expect(n.securityLevel == (priv == nil ? .authNoPriv : .authPriv))
        #expect(n.securityEngineID == hexBytes("8000000001020304") && n.contextEngineID == hexBytes("80000000aabbccdd"))
        #expect(run.replies == 0)
    }

    @Test func v3NoAuthTrapWithContext() throws {
        var r = try Self.receiver(users: [USMUser(name: "plain")])
        let run = try Self.run("snmptrap", ["-v", "3", "-u", "plain", "-l", "noAuthNoPriv", "-e", Self.agentEngine, "-n", "ctx1"],
                               ["4242", "1.3.6.1.4.1.99999.0.7"] + Self.varbindArgs, &r)
        let n = try #require(Self.checkV2(run))
        #expect(n.securityLevel == .noAuthNoPriv && n.contextName == "ctx1")
    }

    @Test(arguments: [("SHA-256", "AES"), ("MD5", "DES"), ("SHA-512", "AES-256"), ("SHA", nil)] as [(String, String?)])
    func v3InformDiscoversThisEngine(auth: String, priv: String?) throws {
        var r = try Self.receiver(users: [Self.user("inf", auth, priv)])
        let run = try Self.run("snmpinform", Self.v3Args("inf", auth, priv) + ["-n", "ctx2", "-E", "0x80000000aabbccdd"], ["4242", "1.3.6.1.4.1.99999.0.7"] + Self.varbindArgs, &r)
        #expect(run.exitCode == 0, "\(run.output)")
        let n = try #require(Self.checkV2(run))
        #expect(n.version == .v3 && n.kind == .inform && n.userName == "inf" && n.contextName == "ctx2")
        #expect(n.securityEngineID == Self.engineID && n.contextEngineID == hexBytes("80000000aabbccdd"))
        // The discovery probe got a Report, the inform a Response.
        #expect(run.rejections.contains(.unknownEngineID))
        #expect(r.stats[.reportsSent] >= 1 && r.stats[.informsAcknowledged] == 1)
    }

    @Test func v3Failures() throws {
        var r = try Self.receiver(users: [Self.user("u3", "SHA", "AES")])
        let wrong = try Self.run("snmptrap", Self.v3Args("u3", "SHA", "AES", authPass: "not the password") + ["-e", Self.agentEngine],
                                 ["4242", "1.3.6.1.4.1.99999.0.7"], &r)
        #expect(wrong.rejections == [.wrongDigest])
        let unknown = try Self.run("snmptrap", Self.v3Args("nobody", "SHA", "AES") + ["-e", Self.agentEngine], ["4242", "1.3.6.1.4.1.99999.0.7"], &r)
        #expect(unknown.rejections == [.unknownUserName])
        // An inform with the wrong passphrase: discovery succeeds, the inform gets a wrongDigest Report
        // and snmpinform gives up with an error.
        let inform = try Self.run("snmpinform", Self.v3Args("u3", "SHA", "AES", authPass: "not the password"), ["4242", "1.3.6.1.4.1.99999.0.7"], &r)
        #expect(inform.exitCode != 0)
        #expect(inform.rejections.contains(.wrongDigest) && inform.notifications.isEmpty)
        #expect(r.stats[.usmWrongDigests] >= 2 && r.stats[.usmUnknownUserNames] == 1)
    }
}
