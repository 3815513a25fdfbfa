// An owned OBJECT IDENTIFIER for configuration, requests and tests; the decoder itself works on the
// encoded bytes (BER.forEachArc, BER.appendOIDText) and only builds one of these when asked.

/// An OBJECT IDENTIFIER as its arcs (each 0…2^32−1, at most 128 of them).
public struct OID: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var arcs: [UInt32]

    public init(_ arcs: [UInt32]) {
        self.arcs = arcs
    }

    /// Parses dotted decimal ("1.3.6.1.2.1.1.3.0", a leading "." allowed); nil unless there are 2…128
    /// arcs, each a decimal number fitting 32 bits, the first 0…2 and the second below 40 when the
    /// first is 0 or 1 (X.690 8.19.4).
    public init?(_ text: some StringProtocol) {
        var s = Substring(text)
        if s.hasPrefix(".") { s = s.dropFirst() }
        var arcs: [UInt32] = []
        for part in s.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = UInt32(part) else { return nil }
            arcs.append(v)
        }
        guard arcs.count >= 2, arcs.count <= BER.maxOIDArcs, arcs[0] <= 2, arcs[0] == 2 || arcs[1] < 40 else { return nil }
        // 2.y packs into one sub-identifier as 80 + y, which must stay a 32-bit arc for us to encode it.
        guard arcs[0] < 2 || arcs[1] <= UInt32.max - 80 else { return nil }
        self.arcs = arcs
    }

    /// For literals in code and tests; traps on invalid text (a programmer error).
    public init(stringLiteral value: String) {
        guard let o = OID(value) else { preconditionFailure("invalid OID literal \"\(value)\"") }
        self = o
    }

    /// Decodes a validated OBJECT IDENTIFIER TLV.
    public init(_ bytes: RawSpan, _ t: BERTLV) {
        var arcs: [UInt32] = []
        arcs.reserveCapacity(t.length + 1)
        BER.forEachArc(bytes, t) { arcs.append($0) }
        self.arcs = arcs
    }

    public var description: String { arcs.map(String.init).joined(separator: ".") }

    /// True when `self` starts with all of `prefix`'s arcs.
    public func hasPrefix(_ prefix: OID) -> Bool {
        prefix.arcs.count <= arcs.count && arcs[..<prefix.arcs.count].elementsEqual(prefix.arcs)
    }

    /// `self` with `more` arcs appended.
    public func appending(_ more: UInt32...) -> OID { OID(arcs + more) }

    /// Lexicographic order of arcs, as SNMP walks a MIB.
    public static func < (a: OID, b: OID) -> Bool { a.arcs.lexicographicallyPrecedes(b.arcs) }

    /// The BER value bytes (without tag and length). Precondition: at least two arcs, a valid first pair.
    public var encodedValue: [UInt8] {
        var out: [UInt8] = []
        OID.appendValue(arcs, to: &out)
        return out
    }

    static func appendValue(_ arcs: [UInt32], to out: inout [UInt8]) {
        precondition(arcs.count >= 2 && arcs[0] <= 2, "an OID needs two arcs and a first arc of 0, 1 or 2")
        appendSubidentifier(UInt64(arcs[0]) * 40 + UInt64(arcs[1]), to: &out)
        for a in arcs.dropFirst(2) { appendSubidentifier(UInt64(a), to: &out) }
    }

    static func appendSubidentifier(_ v: UInt64, to out: inout [UInt8]) {
        var shift = 0
        while shift + 7 < 64 && v >> UInt64(shift + 7) != 0 { shift += 7 }
        while shift > 0 {
            out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift)) & 0x7f | 0x80)
            shift -= 7
        }
        out.append(UInt8(truncatingIfNeeded: v) & 0x7f)
    }
}

/// OIDs the trap receiver and USM use (RFC 3418, RFC 3414 §5, RFC 3584).
public enum SNMPOIDs {
    /// sysUpTime.0: the first varbind of an SNMPv2 notification.
    public static let sysUpTime0: OID = "1.3.6.1.2.1.1.3.0"
    /// snmpTrapOID.0: the second varbind of an SNMPv2 notification.
    public static let snmpTrapOID0: OID = "1.3.6.1.6.3.1.1.4.1.0"
    /// snmpTraps: generic v1 traps 0…5 map to snmpTraps.1…6 (RFC 3584 §3.1).
    public static let snmpTraps: OID = "1.3.6.1.6.3.1.1.5"
    /// usmStats counters reported in Report PDUs (RFC 3414 §5).
    public static let usmStatsUnsupportedSecLevels: OID = "1.3.6.1.6.3.15.1.1.1.0"
    public static let usmStatsNotInTimeWindows: OID = "1.3.6.1.6.3.15.1.1.2.0"
    public static let usmStatsUnknownUserNames: OID = "1.3.6.1.6.3.15.1.1.3.0"
    public static let usmStatsUnknownEngineIDs: OID = "1.3.6.1.6.3.15.1.1.4.0"
    public static let usmStatsWrongDigests: OID = "1.3.6.1.6.3.15.1.1.5.0"
    public static let usmStatsDecryptionErrors: OID = "1.3.6.1.6.3.15.1.1.6.0"

    // Encoded values, to compare varbind names against without decoding them.
    static let sysUpTime0Value = sysUpTime0.encodedValue
    static let snmpTrapOID0Value = snmpTrapOID0.encodedValue
}
