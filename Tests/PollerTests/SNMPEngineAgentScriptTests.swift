// The SNMP engine against agents that misbehave on purpose (a scripted UDP socket of the test's own):
// an OID that does not increase ends that column and is counted, never loops; tooBig is answered by
// asking for less; garbage, a stale request-id and a reply from the wrong port are counted and ignored
// while the real answer is still taken.
import Capture
import Foundation
import Synchronization
import Testing

@testable import Poller

/// A UDP agent on 127.0.0.1 that answers each request with what `script` returns for it.
final class ScriptedAgent: @unchecked Sendable {
    let socket: TestUDPSocket
    let other: TestUDPSocket
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    /// Requests seen: PDU type and max-repetitions.
    let requests = Mutex<[(SNMPPDUType, Int32)]>([])

    /// `script(request number, request-id, PDU, the request's bytes)` returns replies: (bytes, from the
    /// other socket?).
    init(_ script: @escaping @Sendable (Int, Int32, SNMPPDUView, [UInt8]) -> [([UInt8], Bool)]) throws {
        socket = try TestUDPSocket()
        other = try TestUDPSocket()
        let t = Thread { [self] in
            var n = 0
            while !stopping.load(ordering: .relaxed) {
                guard let (bytes, from) = socket.receive() else { continue }
                let b = bytes.span.bytes
                guard case .community(_, _, let p)? = try? SNMPMessage.parseHeader(b), let pdu = try? SNMPMessage.parsePDU(b, p) else { continue }
                requests.withLock { $0.append((pdu.type, pdu.errorIndex)) }
                for (reply, fromOther) in script(n, pdu.requestID, pdu, bytes) { (fromOther ? other : socket).send(reply, to: from) }
                n += 1
            }
            done.signal()
        }
        t.start()
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        done.wait()
    }

    var target: SNMPTarget { SNMPTarget(address: PeerAddress(v4: 0x7f00_0001, port: socket.port), timeoutMs: 300, retries: 1) }

    /// A v2c Response.
    static func response(_ id: Int32, status: Int32 = 0, _ varbinds: [SNMPVarBind]) -> [UInt8] {
        var e = BEREncoder()
        e.communityMessage(version: .v2c, community: Array("public".utf8)) { e in
            e.pdu(.response, requestID: id, errorStatus: status, errorIndex: 0) { $0.varbindList(varbinds) }
        }
        return e.bytes
    }
}

@Suite("SNMP engine against scripted agents", .serialized)
struct SNMPEngineAgentScriptTests {
    static let column: OID = "1.3.6.1.2.1.2.2.1.2"

    static func run(_ agent: ScriptedAgent, _ kind: SNMPOperationKind, target: SNMPTarget? = nil) throws -> (Collector.Result, SNMPEngine) {
        let e = try SNMPEngine()
        e.start()
        let c = Collector()
        e.submit(target ?? agent.target, kind, handler: c)
        let r = c.wait(10)
        e.stop()
        agent.stop()
        return (r, e)
    }

    @Test func nonIncreasingOIDEndsTheColumnOnce() throws {
        let agent = try ScriptedAgent { n, id, _, _ in
            // Rows 1 and 2, then row 2 again: an agent stuck on one OID.
            n == 0 ? [(ScriptedAgent.response(id, [
                SNMPVarBind(Self.column.appending(1), .octetString(Array("a".utf8))),
                SNMPVarBind(Self.column.appending(2), .octetString(Array("b".utf8))),
                SNMPVarBind(Self.column.appending(2), .octetString(Array("b".utf8))),
            ]), false)] : [(ScriptedAgent.response(id, [SNMPVarBind(Self.column.appending(1), .integer(1))]), false)]
        }
        let (r, e) = try Self.run(agent, .walk([Self.column]))
        #expect(r.done && r.error == nil)
        #expect(r.varbinds.map(\.bind.oid) == [Self.column.appending(1), Self.column.appending(2)])
        #expect(e.stats[.nonIncreasing] == 1)
        #expect(agent.requests.withLock { $0.count } == 1)
    }

    @Test func anOIDGoingBackOnTheNextRequestEndsTheColumn() throws {
        let agent = try ScriptedAgent { n, id, _, _ in
            // A second request answered from the start of the table again.
            [(ScriptedAgent.response(id, [SNMPVarBind(Self.column.appending(n == 0 ? 5 : 1), .integer(7))]), false)]
        }
        let (r, e) = try Self.run(agent, .walk([Self.column]))
        #expect(r.done && r.error == nil && r.varbinds.count == 1)
        #expect(e.stats[.nonIncreasing] == 1)
    }

    @Test func tooBigAsksForLess() throws {
        let agent = try ScriptedAgent { _, id, pdu, _ in
            if pdu.errorIndex > 3 { return [(ScriptedAgent.response(id, status: 1, []), false)] }
            // Three rows per answer at most, then the end of the table.
            return [(ScriptedAgent.response(id, [SNMPVarBind("1.3.6.1.2.1.2.2.1.3.1", .integer(6))]), false)]
        }
        var t = agent.target
        t.maxRepetitions = 25
        let (r, e) = try Self.run(agent, .walk([Self.column]), target: t)
        #expect(r.done && r.error == nil && r.varbinds.isEmpty)
        // 25 → 12 → 6 → 3: three tooBig answers, then one that fits.
        #expect(e.stats[.tooBig] == 3)
        #expect(agent.requests.withLock { $0.map(\.1) } == [25, 12, 6, 3])
    }

    @Test func garbageStaleIDsAndWrongSourcesAreCountedAndIgnored() throws {
        let agent = try ScriptedAgent { _, id, _, _ in
            let good = ScriptedAgent.response(id, [SNMPVarBind("1.3.6.1.2.1.1.5.0", .octetString(Array("r1".utf8)))])
            return [
                ([0x30, 0x03, 0x02, 0x01], false),  // truncated
                ([0xde, 0xad, 0xbe, 0xef], false),  // not BER
                (ScriptedAgent.response(id &+ 1, []), false),  // another request's id
                (good, true),  // the right id, from another port
                (good, false),
            ]
        }
        let (r, e) = try Self.run(agent, .get(["1.3.6.1.2.1.1.5.0"]))
        #expect(r.done && r.error == nil)
        #expect(r.varbinds.map(\.bind.value) == [.octetString(Array("r1".utf8))])
        #expect(e.stats[.malformed] == 2)
        #expect(e.stats[.unmatched] == 1)
        #expect(e.stats[.wrongSource] == 1)
        #expect(e.stats[.retries] == 0)
    }

    @Test func agentErrorStatusFailsTheOperation() throws {
        let agent = try ScriptedAgent { _, id, _, _ in [(ScriptedAgent.response(id, status: 5, []), false)] }
        let (r, _) = try Self.run(agent, .get(["1.3.6.1.2.1.1.5.0"]))
        #expect(r.error == .agentError(status: 5, index: 0))
        #expect(r.error?.description == "agent error-status 5 (genErr) at index 0")
    }
}
