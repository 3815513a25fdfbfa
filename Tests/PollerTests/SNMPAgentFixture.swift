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

/// One snmpd of ours with a v3 user for every auth/priv pair (see `SNMPD`).
final class SNMPDAgent: @unchecked Sendable {
    static let available = SNMPD.available
    static let authPass = SNMPD.authPass
    static let privPass = SNMPD.privPass

    /// (user name, auth, priv) of every v3 user the agent knows.
    static let users: [(String, SNMPAuthProtocol?, SNMPPrivProtocol?)] = {
        var u: [(String, SNMPAuthProtocol?, SNMPPrivProtocol?)] = [("noauth", nil, nil)]
        for a in SNMPAuthProtocol.allCases {
            u.append(("\(SNMPD.userPart(a.rawValue))_nopriv", a, nil))
            for p in SNMPPrivProtocol.allCases { u.append(("\(SNMPD.userPart(a.rawValue))_\(SNMPD.userPart(p.rawValue))", a, p)) }
        }
        return u
    }()

    let snmpd: SNMPD
    var port: UInt16 { snmpd.port }

    init() throws {
        snmpd = try SNMPD(users: SNMPDAgent.users.map { ($0.0, $0.1?.rawValue, $0.2?.rawValue) })
    }

    func start() throws { try snmpd.start() }
    func stop() { snmpd.stop() }
    func snmpcmd(_ tool: String, _ args: [String]) throws -> String { try snmpd.snmpcmd(tool, args) }
    func walk(_ oid: String, version: SNMPVersion = .v2c) throws -> [(String, String)] {
        try snmpd.walk(oid, v1: version == .v1)
    }
    static func parse(_ out: String) -> [(String, String)] { SNMPD.parse(out) }

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
        (fd, port) = LoopbackUDP.bind()
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
