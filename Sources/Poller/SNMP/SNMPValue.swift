// The values a varbind carries (RFC 2578 ObjectSyntax and the RFC 3416 exceptions): checked in place
// while a message is walked, decoded into an owned `SNMPValue` or written as JSON only when asked.

/// A varbind value, owned.
public enum SNMPValue: Hashable, Sendable {
    /// INTEGER / Integer32. Kept as 64 bits: some agents send wider values and they are kept exactly.
    case integer(Int64)
    case octetString([UInt8])
    /// NULL: the value of every varbind in a GET request.
    case null
    case objectIdentifier(OID)
    /// IpAddress in host byte order (a.b.c.d is a << 24 | b << 16 | c << 8 | d).
    case ipAddress(UInt32)
    case counter32(UInt32)
    /// Gauge32, which is also Unsigned32 (same tag).
    case gauge32(UInt32)
    /// Hundredths of a second.
    case timeTicks(UInt32)
    /// Opaque: BER-wrapped bytes, not interpreted.
    case opaque([UInt8])
    case counter64(UInt64)
    case noSuchObject
    case noSuchInstance
    case endOfMibView
    /// A tag SNMP does not define (NsapAddress, UInteger32, vendor oddities): its raw value.
    case other(tag: UInt8, [UInt8])

    /// The type name used in JSON ("OctetString", "Counter64"…).
    public var typeName: String { SNMPValue.typeName(tag: tag) }

    /// The BER tag this value is encoded with.
    public var tag: UInt8 {
        switch self {
        case .integer: BERTag.integer
        case .octetString: BERTag.octetString
        case .null: BERTag.null
        case .objectIdentifier: BERTag.objectIdentifier
        case .ipAddress: BERTag.ipAddress
        case .counter32: BERTag.counter32
        case .gauge32: BERTag.gauge32
        case .timeTicks: BERTag.timeTicks
        case .opaque: BERTag.opaque
        case .counter64: BERTag.counter64
        case .noSuchObject: BERTag.noSuchObject
        case .noSuchInstance: BERTag.noSuchInstance
        case .endOfMibView: BERTag.endOfMibView
        case .other(let tag, _): tag
        }
    }

    static func typeName(tag: UInt8) -> String {
        switch tag {
        case BERTag.integer: "Integer"
        case BERTag.octetString: "OctetString"
        case BERTag.null: "Null"
        case BERTag.objectIdentifier: "ObjectIdentifier"
        case BERTag.ipAddress: "IpAddress"
        case BERTag.counter32: "Counter32"
        case BERTag.gauge32: "Gauge32"
        case BERTag.timeTicks: "TimeTicks"
        case BERTag.opaque: "Opaque"
        case BERTag.counter64: "Counter64"
        case BERTag.noSuchObject: "NoSuchObject"
        case BERTag.noSuchInstance: "NoSuchInstance"
        case BERTag.endOfMibView: "EndOfMibView"
        default: "Unknown"
        }
    }

    /// Checks a varbind value TLV so that decoding or JSON output of it later cannot fail: integers
    /// of a legal width, IpAddress of 4 bytes, NULL and the exceptions empty, OIDs valid. Constructed
    /// values are refused; unknown primitive tags pass (kept as `.other`).
    static func validate(_ bytes: RawSpan, _ t: BERTLV) throws(BERError) {
        switch t.tag {
        case BERTag.integer: _ = try BER.integer(bytes, t)
        case BERTag.octetString, BERTag.opaque: break
        case BERTag.null, BERTag.noSuchObject, BERTag.noSuchInstance, BERTag.endOfMibView:
            guard t.length == 0 else { throw .badLength(at: t.start, expected: 0, found: t.length) }
        case BERTag.objectIdentifier: try BER.validateOID(bytes, t)
        case BERTag.ipAddress:
            guard t.length == 4 else { throw .badLength(at: t.start, expected: 4, found: t.length) }
        case BERTag.counter32, BERTag.gauge32, BERTag.timeTicks: _ = try BER.unsigned(bytes, t, bits: 32)
        case BERTag.counter64: _ = try BER.unsigned(bytes, t, bits: 64)
        default:
            guard t.tag & 0x20 == 0 else { throw .invalid(at: t.start, "constructed varbind value (tag 0x\(hex2(t.tag)))") }
        }
    }

    /// Decodes a value TLV checked by `validate`.
    init(_ bytes: RawSpan, _ t: BERTLV) {
        switch t.tag {
        case BERTag.integer: self = .integer((try? BER.integer(bytes, t)) ?? 0)
        case BERTag.octetString: self = .octetString(BER.copyValue(bytes, t))
        case BERTag.null: self = .null
        case BERTag.objectIdentifier: self = .objectIdentifier(OID(bytes, t))
        case BERTag.ipAddress: self = .ipAddress(SNMPValue.ipv4(bytes, t.valueStart))
        case BERTag.counter32: self = .counter32(UInt32(truncatingIfNeeded: (try? BER.unsigned(bytes, t, bits: 32)) ?? 0))
        case BERTag.gauge32: self = .gauge32(UInt32(truncatingIfNeeded: (try? BER.unsigned(bytes, t, bits: 32)) ?? 0))
        case BERTag.timeTicks: self = .timeTicks(UInt32(truncatingIfNeeded: (try? BER.unsigned(bytes, t, bits: 32)) ?? 0))
        case BERTag.opaque: self = .opaque(BER.copyValue(bytes, t))
        case BERTag.counter64: self = .counter64((try? BER.unsigned(bytes, t, bits: 64)) ?? 0)
        case BERTag.noSuchObject: self = .noSuchObject
        case BERTag.noSuchInstance: self = .noSuchInstance
        case BERTag.endOfMibView: self = .endOfMibView
        default: self = .other(tag: t.tag, BER.copyValue(bytes, t))
        }
    }

    static func ipv4(_ bytes: RawSpan, _ at: Int) -> UInt32 {
        UInt32(bytes.berByte(at)) << 24 | UInt32(bytes.berByte(at + 1)) << 16
            | UInt32(bytes.berByte(at + 2)) << 8 | UInt32(bytes.berByte(at + 3))
    }
}

/// One variable binding, owned.
public struct SNMPVarBind: Hashable, Sendable {
    public var oid: OID
    public var value: SNMPValue

    public init(_ oid: OID, _ value: SNMPValue) {
        self.oid = oid
        self.value = value
    }
}
