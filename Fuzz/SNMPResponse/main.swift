// libFuzzer target for the SNMP poller's response path: any datagram must be refused or applied to an
// operation in flight (a walk of three columns over v2c and over v1, a GET of three OIDs), its varbinds
// read as the device poll reads them, never trap or read out of bounds, and a walk must only ever move
// its columns forward. Built by scripts/fuzz with the codec's files and the poller's pure ones (no
// sockets, no Capture: `PeerAddress` below stands in for Capture's).

public struct PeerAddress: Hashable, Sendable {
    public var port: UInt16 = 161
    public init() {}
}

final class Reader: SNMPOperationHandler, @unchecked Sendable {
    var seen = 0

    func varbind(_ root: Int, _ b: RawSpan, name: BERTLV, value: BERTLV) {
        seen += 1
        _ = SNMPRead.unsigned(b, value)
        _ = SNMPRead.integer(b, value)
        _ = SNMPRead.string(b, value)
        _ = SNMPRead.lastArc(b, value)
        _ = BER.oidText(b, name)
    }

    func finished(_ error: SNMPRequestError?) {}
}

let roots: [OID] = ["1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.10", "1.3.6.1.2.1.31.1.1.1.6"]
let gets: [OID] = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0"]
let stats = SNMPEngineStats()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let b = unsafe UnsafeRawBufferPointer(start: data, count: size).bytes
    guard let header = try? SNMPMessage.parseHeader(b) else { return 0 }
    let pduTLV: BERTLV
    switch header {
    case .community(_, _, let p):
        pduTLV = p
    case .v3(let h):
        // Plaintext v3 (noAuthNoPriv, or a Report): the USM parameters, then the ScopedPDU.
        guard (try? SNMPMessage.parseUSM(b, h)) != nil, h.msgData.tag == BERTag.sequence,
              let s = try? SNMPMessage.parseScopedPDU(b, at: h.msgData.start, end: h.msgData.end, allowTrailing: false)
        else { return 0 }
        pduTLV = s.pdu
    case .unknownVersion:
        return 0
    }
    guard let pdu = try? SNMPMessage.parsePDU(b, pduTLV) else { return 0 }
    for (version, kind) in [(SNMPVersion.v2c, SNMPOperationKind.walk(roots)), (.v1, .walk(roots)), (.v2c, .get(gets))] {
        let reader = Reader()
        let op = SNMPOperationState(
            target: SNMPTarget(address: PeerAddress(), version: version, maxRepetitions: 5, maxOIDsPerRequest: 2),
            kind: kind, handler: reader, continuation: false)
        guard op.prepareNext() else { continue }
        let before = op.current
        guard (try? op.apply(b, pdu, stats: stats)) != nil else { continue }
        if op.isWalk {
            for i in before.indices where op.current[i] != before[i] {
                // A column that moved went forward, and stayed under its root.
                var e = BEREncoder(capacity: 64)
                e.octetString(op.current[i], tag: BERTag.objectIdentifier)
                let moved = unsafe e.bytes.span.bytes
                let t = try! BER.readTLV(moved, at: 0, end: moved.byteCount)
                precondition(SNMPOID.compare(moved, t, before[i]) > 0, "a walk column went backwards")
                precondition(op.current[i].starts(with: op.roots[i]) && op.current[i].count > op.roots[i].count, "a walk left its subtree")
            }
        }
    }
    return 0
}
