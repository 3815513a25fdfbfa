// One GET or walk as the engine runs it: which OIDs are still to ask, how the next request looks, and how
// a response advances it. Walks of several columns advance each column on its own, stop at the end of
// the subtree, at endOfMibView, or at an OID that does not increase (counted, never a loop).

/// What to fetch.
public enum SNMPOperationKind: Sendable {
    /// GET of these exact OIDs (split into requests of at most maxOIDsPerRequest).
    case get([OID])
    /// Walks of these subtrees (table columns), in parallel: GETBULK on v2c/v3, GETNEXT on v1.
    case walk([OID])
}

/// Receives an operation's results, on the engine's thread: keep the work small, and copy what you keep
/// out of the span (it is the receive buffer).
public protocol SNMPOperationHandler: AnyObject, Sendable {
    /// One varbind. `root` is the index, in the operation's list, of the OID (get) or subtree (walk) it
    /// answers. For a get, exceptions (noSuchObject, noSuchInstance) arrive as values; a v1 noSuchName
    /// arrives as nothing.
    func varbind(_ root: Int, _ b: RawSpan, name: BERTLV, value: BERTLV)
    /// The operation is over: nil when every OID was answered or every subtree walked to its end.
    /// Starting the next operation from here is fine (`engine.submit`).
    func finished(_ error: SNMPRequestError?)
}

/// The engine's state for one operation. Handed to the engine thread once (through its inbox) and used
/// only there after that.
final class SNMPOperationState: @unchecked Sendable {
    let target: SNMPTarget
    let handler: any SNMPOperationHandler
    let isWalk: Bool
    /// Encoded OID values (no tag/length) of the roots.
    let roots: [[UInt8]]
    /// Walk: the last OID seen per column (starts at the root). Get: unused.
    var current: [[UInt8]]
    var done: [Bool]
    var rows: [Int]
    /// Indexes of the roots in the request in flight, in order.
    var asked: [Int] = []
    /// Per asked column: whether it ended in the response being applied (reused across responses).
    private var ended: [Bool] = []
    var maxRepetitions: Int
    var maxOIDs: Int
    /// Attempts of the request in flight (1 = first send).
    var attempts = 0
    /// v3: time-window resyncs and rediscoveries during this operation (bounded, then it fails).
    var resyncs = 0
    /// Continuation of a device's poll: sent before operations of devices not yet started.
    let continuation: Bool

    static let maxRowsPerColumn = 100_000

    init(target: SNMPTarget, kind: SNMPOperationKind, handler: any SNMPOperationHandler, continuation: Bool) {
        self.target = target
        self.handler = handler
        self.continuation = continuation
        switch kind {
        case .get(let oids):
            isWalk = false
            roots = oids.map(\.encodedValue)
        case .walk(let oids):
            isWalk = true
            roots = oids.map(\.encodedValue)
        }
        current = roots
        done = Array(repeating: false, count: roots.count)
        rows = Array(repeating: 0, count: roots.count)
        maxRepetitions = max(1, target.maxRepetitions)
        maxOIDs = max(1, target.maxOIDsPerRequest)
    }

    var finished: Bool { !done.contains(false) }

    /// Picks the roots for the next request; false when there is nothing left.
    func prepareNext() -> Bool {
        asked.removeAll(keepingCapacity: true)
        for i in 0..<roots.count where !done[i] {
            asked.append(i)
            if asked.count == maxOIDs { break }
        }
        attempts = 0
        return !asked.isEmpty
    }

    /// The PDU type and (non-repeaters, max-repetitions) of the next request.
    var pduType: SNMPPDUType {
        guard isWalk else { return .getRequest }
        return target.version == .v1 || maxRepetitions == 1 ? .getNextRequest : .getBulkRequest
    }

    /// Writes the VarBindList of the request: the asked OIDs with NULL values.
    func writeVarbinds(_ e: inout BEREncoder) {
        let list = e.begin(BERTag.sequence)
        for i in asked {
            let vb = e.begin(BERTag.sequence)
            e.octetString(isWalk ? current[i] : roots[i], tag: BERTag.objectIdentifier)
            e.null()
            e.end(vb)
        }
        e.end(list)
    }

    /// What a response meant for the operation.
    enum Step: Equatable {
        /// More to ask (the next request is prepared by the caller).
        case next
        /// The same request again with fewer repetitions/OIDs (tooBig), or without an OID (v1 noSuchName).
        case retryShrunk
        case complete
        case failed(SNMPRequestError)
    }

    /// Applies a Response PDU. Varbinds go to the handler as they are read.
    func apply(_ b: RawSpan, _ pdu: SNMPPDUView, stats: SNMPEngineStats) throws(SNMPDecodeError) -> Step {
        if pdu.errorStatus != 0 {
            switch pdu.errorStatus {
            case 1:  // tooBig
                stats.add(.tooBig)
                if isWalk && maxRepetitions > 1 && pduType == .getBulkRequest {
                    maxRepetitions = max(1, maxRepetitions / 2)
                    return .retryShrunk
                }
                if asked.count > 1 {
                    maxOIDs = max(1, asked.count / 2)
                    return .retryShrunk
                }
                return .failed(.tooBig)
            case 2 where target.version == .v1:
                // noSuchName: in a GET the OID does not exist; in a GETNEXT the column is past the MIB's end.
                let k = Int(pdu.errorIndex) - 1
                guard k >= 0 && k < asked.count else { return .failed(.agentError(status: 2, index: pdu.errorIndex)) }
                done[asked[k]] = true
                return finished ? .complete : .retryShrunk
            default:
                stats.add(.agentErrors)
                return .failed(.agentError(status: pdu.errorStatus, index: pdu.errorIndex))
            }
        }
        var cursor = SNMPVarBindCursor(pdu.varbindList, maxVarbinds: 65_535)
        var k = 0
        var count = 0
        if !isWalk {
            while let vb = try cursor.next(b) {
                guard k < asked.count else { break }
                handler.varbind(asked[k], b, name: vb.name, value: vb.value)
                done[asked[k]] = true
                k += 1
                count += 1
            }
            stats.add(.varbinds, count)
            // An agent that answered fewer varbinds than asked: the missing ones are asked again, unless
            // it answered none (that would never end).
            if count == 0 && !finished { return .failed(.agentError(status: 0, index: 0)) }
            return finished ? .complete : .next
        }
        // Walk: row-major, one varbind per asked column per repetition. A column that ended in this
        // response ignores its later varbinds. The arrays are moved into locals for the loop, so that
        // each access is not a dynamically checked access to the class's storage.
        let n = asked.count
        var ended = self.ended, current = self.current, done = self.done, rows = self.rows
        self.ended = []
        self.current = []
        self.done = []
        self.rows = []
        defer {
            self.ended = ended
            self.current = current
            self.done = done
            self.rows = rows
        }
        ended.removeAll(keepingCapacity: true)
        ended.append(contentsOf: repeatElement(false, count: n))
        while let vb = try cursor.next(b) {
            let slot = k % n
            k += 1
            let col = asked[slot]
            if ended[slot] { continue }
            count += 1
            let tag = vb.value.tag
            if tag == BERTag.endOfMibView || !SNMPOID.isUnder(b, vb.name, root: roots[col]) {
                ended[slot] = true
                done[col] = true
                continue
            }
            if tag == BERTag.noSuchObject || tag == BERTag.noSuchInstance {
                // Not a legal GETNEXT answer; some agents send it for an empty column.
                ended[slot] = true
                done[col] = true
                continue
            }
            guard SNMPOID.compare(b, vb.name, current[col]) > 0 else {
                stats.add(.nonIncreasing)
                ended[slot] = true
                done[col] = true
                continue
            }
            handler.varbind(col, b, name: vb.name, value: vb.value)
            // In place: the column's buffer keeps its capacity, so a walk allocates nothing per varbind.
            current[col].removeAll(keepingCapacity: true)
            for i in vb.name.valueRange { current[col].append(b.berByte(i)) }
            rows[col] += 1
            if rows[col] >= Self.maxRowsPerColumn {
                stats.add(.walkRowLimit)
                ended[slot] = true
                done[col] = true
            }
        }
        stats.add(.varbinds, count)
        let complete = !done.contains(false)  // the locals: `self`'s arrays are put back on return
        // A response without varbinds moves nothing: asking again would never end.
        if count == 0 && !complete { return .failed(.agentError(status: 0, index: 0)) }
        return complete ? .complete : .next
    }
}

/// Comparing encoded OIDs without decoding them into arrays.
enum SNMPOID {
    /// True when the OID TLV lies strictly inside the subtree `root` (encoded value): its sub-identifiers
    /// start with all of root's. Sub-identifiers end on bytes below 0x80, so a byte prefix that ends on
    /// root's last byte is a prefix of whole sub-identifiers.
    static func isUnder(_ b: RawSpan, _ t: BERTLV, root: [UInt8]) -> Bool {
        guard t.length > root.count else { return false }
        for i in 0..<root.count where b.berByte(t.valueStart + i) != root[i] { return false }
        return true
    }

    /// The sub-identifier of a validated OID starting at `i` (before `end`), and the offset after it.
    @inline(__always)
    static func subidentifier(_ b: RawSpan, _ i: Int, _ end: Int) -> (UInt64, Int) {
        var v: UInt64 = 0
        var i = i
        while i < end {
            let c = b.berByte(i)
            i += 1
            v = v << 7 | UInt64(c & 0x7f)
            if c & 0x80 == 0 { break }
        }
        return (v, i)
    }

    /// Order of a validated OID TLV against an encoded value (−1, 0, 1), sub-identifier by
    /// sub-identifier (bytes alone do not order sub-identifiers of different lengths).
    static func compare(_ b: RawSpan, _ t: BERTLV, _ other: [UInt8]) -> Int {
        var i = t.valueStart, j = 0
        while i < t.end && j < other.count {
            let x: UInt64
            (x, i) = subidentifier(b, i, t.end)
            var y: UInt64 = 0
            while j < other.count {
                let c = other[j]
                j += 1
                y = y << 7 | UInt64(c & 0x7f)
                if c & 0x80 == 0 { break }
            }
            if x != y { return x < y ? -1 : 1 }
        }
        let a = i < t.end, c = j < other.count
        return a == c ? 0 : a ? 1 : -1
    }
}
