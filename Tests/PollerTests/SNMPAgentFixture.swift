// Test agents: net-snmp's snmpd (Debian's package) on 127.0.0.1 and ::1 at a free port, with a private
// config and state directory and a v3 user for every auth/priv pair, started and stopped by the test; and
// a silent UDP socket that plays a dead agent. Plus a handler that collects an operation's results.
import Capture
import Foundation
import Synchronization
import TestSupport

@testable import Poller

#if canImport(Glibc)
import Glibc
#endif

/// One snmpd of ours. `stop()` (or deinit) kills exactly it.
final class SNMPDAgent: @unchecked Sendable {
    static let available = FileManager.default.isExecutableFile(atPath: "/usr/sbin/snmpd")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/snmpbulkwalk")
    static let authPass = "authpass123"
    static let privPass = "privpass123"

    /// (user name, auth, priv) of every v3 user the agent knows.
    static let users: [(String, SNMPAuthProtocol?, SNMPPrivProtocol?)] = {
        var u: [(String, SNMPAuthProtocol?, SNMPPrivProtocol?)] = [("noauth", nil, nil)]
        for a in SNMPAuthProtocol.allCases {
            u.append(("\(userPart(a))_nopriv", a, nil))
            for p in SNMPPrivProtocol.allCases { u.append(("\(userPart(a))_\(userPart(p))", a, p)) }
        }
        return u
    }()

    static func userPart(_ a: SNMPAuthProtocol) -> String { a.rawValue.lowercased().replacingOccurrences(of: "-", with: "") }
    static func userPart(_ p: SNMPPrivProtocol) -> String { p.rawValue.lowercased().replacingOccurrences(of: "-", with: "") }

    let port: UInt16
    let dir: String
    private var child: Child?

    /// Starts snmpd and waits until it answers a GET (at most 10 s).
    init(engineID: String = "sotp-test") throws {
        dir = NSTemporaryDirectory() + "snmpd-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        port = try SNMPDAgent.freeUDPPort()
        try start(engineID: engineID)
    }

    /// (Re)starts snmpd with the same state directory (engineBoots goes up by one each start).
    func start(engineID: String = "sotp-test") throws {
        var conf = """
            agentAddress udp:127.0.0.1:\(port),udp6:[::1]:\(port)
            engineID \(engineID)
            view all included .1
            rocommunity public 127.0.0.1 -V all
            rocommunity6 public ::1 -V all
            rouser -s usm noauth noauth -V all

            """
        for (name, auth, priv) in SNMPDAgent.users where auth != nil {
            var line = "createUser \(name) \(auth!.rawValue) \(SNMPDAgent.authPass)"
            if let priv { line += " \(priv.rawValue) \(SNMPDAgent.privPass)" }
            conf += line + "\nrouser -s usm \(name) \(priv == nil ? "auth" : "priv") -V all\n"
        }
        conf += "createUser noauth\n"
        try conf.write(toFile: dir + "/snmpd.conf", atomically: true, encoding: .utf8)
        // The state directory's snmpd.conf is read too (-C skips it otherwise), so engineBoots goes up at
        // each start; -I -smux: no SMUX listener on TCP 199.
        let persisted = dir + "/state"
        try FileManager.default.createDirectory(atPath: persisted, withIntermediateDirectories: true)
        let env = ["SNMP_PERSISTENT_DIR": persisted, "MIBS": "", "HOME": dir]
        child = try Child("/usr/sbin/snmpd", ["-f", "-Lo", "-C", "-I", "-smux", "-c", dir + "/snmpd.conf," + persisted + "/snmpd.conf", "-p", dir + "/pid"], env: env)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? snmpcmd("snmpget", ["-v2c", "-c", "public", "-t", "0.3", "-r", "0", "127.0.0.1:\(port)", "1.3.6.1.2.1.1.3.0"]))?.contains("Timeticks") == true { return }
            if child?.exitStatus() != nil { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw SNMPConfigError("snmpd did not start: \(child?.output ?? "")")
    }

    func stop() {
        guard let c = child else { return }
        c.signal(SIGTERM)
        _ = c.wait(timeout: 5)
        child = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Runs a net-snmp tool with a private state directory and no MIBs; its output.
    func snmpcmd(_ tool: String, _ args: [String]) throws -> String {
        let env = ["SNMP_PERSISTENT_DIR": dir + "/client", "MIBS": "", "MIBDIRS": dir, "HOME": dir]
        let c = try Child("/usr/bin/" + tool, args, env: env)
        _ = c.wait(timeout: 30)
        return c.output
    }

    /// snmpbulkwalk (snmpwalk for v1) of `oid`: (numeric OID, value text) per line, `-On -OQ -Oe -Ot -Ox`.
    func walk(_ oid: String, version: SNMPVersion = .v2c) throws -> [(String, String)] {
        let tool = version == .v1 ? "snmpwalk" : "snmpbulkwalk"
        let out = try snmpcmd(tool, [version == .v1 ? "-v1" : "-v2c", "-c", "public", "-On", "-OQ", "-Oe", "-Ot", "-Ox", "127.0.0.1:\(port)", oid])
        return SNMPDAgent.parse(out)
    }

    /// net-snmp output (`-On -OQ`) as (OID without the leading dot, value); a hex string longer than 16
    /// bytes continues on the next lines.
    static func parse(_ out: String) -> [(String, String)] {
        var rows: [(String, String)] = []
        for line in out.split(separator: "\n") {
            if line.hasPrefix("."), let eq = line.range(of: " = ") {
                rows.append((String(line[line.index(after: line.startIndex)..<eq.lowerBound]), String(line[eq.upperBound...])))
            } else if !rows.isEmpty {
                rows[rows.count - 1].1 += " " + line
            }
        }
        return rows
    }

    static func freeUDPPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
        var len = size
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: a.sin_port)
    }

    var v4: PeerAddress { PeerAddress(v4: 0x7f00_0001, port: port) }
    var v6: PeerAddress { PeerAddress(v6High: 0, v6Low: 1, port: port) }

    /// A target for v3 user `name` (auth/priv as the agent has them).
    func v3Target(_ name: String) -> SNMPTarget {
        let (_, a, p) = SNMPDAgent.users.first { $0.0 == name }!
        let user = USMUser(name: name, auth: a, authPassphrase: a == nil ? "" : SNMPDAgent.authPass, priv: p,
                           privPassphrase: p == nil ? "" : SNMPDAgent.privPass)
        return SNMPTarget(address: v4, version: .v3, user: user, timeoutMs: 1000, retries: 1)
    }
}

/// A bound UDP socket that never answers: a dead agent.
final class SilentAgent {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
        var len = size
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.fd = fd
        port = UInt16(bigEndian: a.sin_port)
    }

    deinit { close(fd) }
}

/// Collects an operation's varbinds and waits for its end.
final class Collector: SNMPOperationHandler, @unchecked Sendable {
    struct Result {
        var varbinds: [(root: Int, bind: SNMPVarBind)] = []
        var error: SNMPRequestError?
        var done = false
        var finishedAt: Date?
    }

    let state = Mutex<Result>(Result())

    func varbind(_ root: Int, _ b: RawSpan, name: BERTLV, value: BERTLV) {
        let vb = SNMPVarBind(OID(b, name), SNMPValue(b, value))
        state.withLock { $0.varbinds.append((root, vb)) }
    }

    func finished(_ error: SNMPRequestError?) {
        state.withLock {
            $0.error = error
            $0.done = true
            $0.finishedAt = Date()
        }
    }

    /// Waits up to `timeout` s for the end; the result (done false on timeout).
    func wait(_ timeout: Double = 20) -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if state.withLock({ $0.done }) { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return state.withLock { $0 }
    }
}

extension SNMPValue {
    /// The value as snmpbulkwalk prints it with -OQ -Oe -Ot -Ox (numbers bare, strings quoted or hex).
    var netSNMPText: String {
        switch self {
        case .integer(let v): "\(v)"
        case .counter32(let v), .gauge32(let v), .timeTicks(let v): "\(v)"
        case .counter64(let v): "\(v)"
        case .objectIdentifier(let o): "." + o.description
        case .ipAddress(let a): "\(a >> 24).\(a >> 16 & 0xff).\(a >> 8 & 0xff).\(a & 0xff)"
        case .octetString(let s):
            s.isEmpty ? "\"\"" : s.map { String(format: "%02X", $0) }.joined(separator: " ")
        default: "\(self)"
        }
    }
}
