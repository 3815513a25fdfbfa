// A received trap or inform as storage needs it: who sent it and how, the trap OID and uptime, and the
// varbinds kept as their checked BER bytes (one copy), decoded or written as JSON on demand.

/// Names of OIDs for the varbinds' JSON ("IF-MIB::ifIndex.3"), nil for an OID it cannot name.
/// `MIBNames` answers through net-snmp's MIB parser.
public protocol OIDNames: Sendable {
    func name(dotted: String) -> String?
}

/// One decoded notification (v1 Trap, SNMPv2-Trap or InformRequest).
public struct SNMPNotification: Sendable {
    public enum Kind: String, Sendable, Hashable {
        case trap
        case inform
    }

    /// v1, v2c or v3 (`version.number` is 1, 2 or 3).
    public var version: SNMPVersion
    public var kind: Kind
    /// Where the datagram came from (the caller's address for it).
    public var source: IPAddress
    /// When it was received, µs since the epoch (as passed to `receive`).
    public var receivedMicros: Int64
    /// v1/v2c: the community (bytes that are not UTF-8 are replaced with U+FFFD).
    public var community: String?
    /// v3: msgUserName.
    public var userName: String?
    /// v3: the message's security level.
    public var securityLevel: SNMPSecurityLevel?
    /// v3: msgAuthoritativeEngineID (the sender's for traps, this receiver's for informs).
    public var securityEngineID: [UInt8]?
    /// v3: the ScopedPDU's contextEngineID and contextName.
    public var contextEngineID: [UInt8]?
    public var contextName: String?
    /// v2c/v3: the PDU's request-id (v1 traps have none).
    public var requestID: Int32?
    /// snmpTrapOID.0 in dotted decimal; for v1, converted per RFC 3584 §3.1. Nil when a v2 notification
    /// lacks it (counted as missing_trap_oid).
    public var trapOID: String?
    /// sysUpTime.0 (v1: time-stamp), hundredths of a second; nil when a v2 notification lacks it.
    public var uptime: UInt32?
    /// v1: agent-addr. Nil otherwise: use `source`.
    public var agentAddress: IPAddress?
    /// v1: enterprise, dotted decimal.
    public var enterprise: String?
    /// v1: generic-trap (0…6) and specific-trap.
    public var genericTrap: Int32?
    public var specificTrap: Int32?
    /// The varbinds after sysUpTime.0 and snmpTrapOID.0 (v2c/v3) or all of them (v1), as consecutive
    /// VarBind TLVs whose every field has been checked.
    public internal(set) var varbindBytes: [UInt8]
    /// How many varbinds `varbindBytes` holds.
    public internal(set) var varbindCount: Int

    /// The varbinds, decoded (allocates; for tests and slow paths).
    public var varbinds: [SNMPVarBind] {
        var out: [SNMPVarBind] = []
        out.reserveCapacity(varbindCount)
        forEachVarBind { b, vb in out.append(SNMPVarBind(OID(b, vb.name), SNMPValue(b, vb.value))) }
        return out
    }

    /// Calls `body` with each varbind's view into `varbindBytes` (no allocation).
    public func forEachVarBind(_ body: (RawSpan, SNMPVarBindView) -> Void) {
        let span = unsafe varbindBytes.span.bytes
        var at = 0
        while at < span.byteCount {
            // The bytes were checked when the notification was made, so these reads cannot fail.
            guard let vb = try? BER.readTLV(span, at: at, end: span.byteCount),
                  let name = try? BER.readTLV(span, at: vb.valueStart, end: vb.end),
                  let value = try? BER.readTLV(span, at: name.end, end: vb.end)
            else { return }
            body(span, SNMPVarBindView(name: name, value: value))
            at = vb.end
        }
    }

    /// Appends the varbinds as a JSON array to `out` (for a jsonb column):
    /// `[{"oid":"1.3.6.1.2.1.1.5.0","type":"OctetString","value":"router1"}, …]`. Integers, counters,
    /// gauges and time ticks are JSON numbers (Counter64 exactly, up to 2^64−1); an OCTET STRING that is
    /// printable UTF-8 is a JSON string, otherwise lowercase hex with `"hex":true` (Opaque and unknown
    /// types always); IpAddress is dotted; OIDs are dotted; NULL and the exceptions have `"value":null`;
    /// an unknown tag adds `"tag":<n>`. With `names`, a varbind whose OID a loaded MIB names gets
    /// `"name":"IF-MIB::ifIndex.3"`, and an OID value `"value_name"` likewise (a lookup allocates).
    public func appendVarbindsJSON(to out: inout [UInt8], names: (any OIDNames)? = nil) {
        out.append(UInt8(ascii: "["))
        var first = true
        forEachVarBind { b, vb in
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            SNMPJSON.appendVarBind(b, vb, names: names, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// The varbinds as a JSON string (allocates; see `appendVarbindsJSON`).
    public var varbindsJSON: String {
        var out: [UInt8] = []
        appendVarbindsJSON(to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// JSON output of varbind views.
enum SNMPJSON {
    static func ascii(_ s: StaticString, to out: inout [UInt8]) {
        s.withUTF8Buffer { unsafe out.append(contentsOf: $0) }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `key` and the name of the dotted OID already written at `range` of `out`, when it has one.
    static func appendName(_ names: any OIDNames, dottedAt range: Range<Int>, key: StaticString, to out: inout [UInt8]) {
        guard let name = names.name(dotted: String(decoding: out[range], as: UTF8.self)) else { return }
        ascii(key, to: &out)
        out.append(UInt8(ascii: "\""))
        for c in name.utf8 {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(c)
            case ..<0x20:
                ascii("\\u00", to: &out)
                out.append(hexDigits[Int(c >> 4)])
                out.append(hexDigits[Int(c & 15)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func appendVarBind(_ b: RawSpan, _ vb: SNMPVarBindView, names: (any OIDNames)? = nil, to out: inout [UInt8]) {
        ascii("{\"oid\":\"", to: &out)
        let oidStart = out.count
        BER.appendOIDText(b, vb.name, to: &out)
        out.append(UInt8(ascii: "\""))
        if let names { appendName(names, dottedAt: oidStart..<out.count - 1, key: ",\"name\":", to: &out) }
        ascii(",\"type\":\"", to: &out)
        let t = vb.value
        let name = SNMPValue.typeName(tag: t.tag)
        out.append(contentsOf: name.utf8)
        ascii("\",\"value\":", to: &out)
        switch t.tag {
        case BERTag.integer:
            appendDecimal((try? BER.integer(b, t)) ?? 0, to: &out)
        case BERTag.counter32, BERTag.gauge32, BERTag.timeTicks:
            appendDecimal((try? BER.unsigned(b, t, bits: 32)) ?? 0, to: &out)
        case BERTag.counter64:
            appendDecimal((try? BER.unsigned(b, t, bits: 64)) ?? 0, to: &out)
        case BERTag.null, BERTag.noSuchObject, BERTag.noSuchInstance, BERTag.endOfMibView:
            ascii("null", to: &out)
        case BERTag.objectIdentifier:
            out.append(UInt8(ascii: "\""))
            let start = out.count
            BER.appendOIDText(b, t, to: &out)
            out.append(UInt8(ascii: "\""))
            if let names { appendName(names, dottedAt: start..<out.count - 1, key: ",\"value_name\":", to: &out) }
        case BERTag.ipAddress:
            out.append(UInt8(ascii: "\""))
            for i in 0..<4 {
                if i > 0 { out.append(UInt8(ascii: ".")) }
                appendDecimal(UInt64(b.berByte(t.valueStart + i)), to: &out)
            }
            out.append(UInt8(ascii: "\""))
        case BERTag.octetString where isPrintableUTF8(b, t.valueRange):
            appendString(b, t.valueRange, to: &out)
        default:
            appendHex(b, t.valueRange, to: &out)
            ascii(",\"hex\":true", to: &out)
            if SNMPValue.typeName(tag: t.tag) == "Unknown" {
                ascii(",\"tag\":", to: &out)
                appendDecimal(UInt64(t.tag), to: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    static func appendHex(_ b: RawSpan, _ r: Range<Int>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for i in r {
            let v = b.berByte(i)
            out.append(hexDigits[Int(v >> 4)])
            out.append(hexDigits[Int(v & 15)])
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A JSON string of bytes already known to be printable UTF-8 (so only `"`, `\`, tab, CR and LF
    /// need escapes).
    static func appendString(_ b: RawSpan, _ r: Range<Int>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for i in r {
            let c = b.berByte(i)
            switch c {
            case UInt8(ascii: "\""): ascii("\\\"", to: &out)
            case UInt8(ascii: "\\"): ascii("\\\\", to: &out)
            case 0x09: ascii("\\t", to: &out)
            case 0x0a: ascii("\\n", to: &out)
            case 0x0d: ascii("\\r", to: &out)
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF) without control
    /// characters other than tab, CR and LF. PostgreSQL's jsonb also refuses U+0000, which this excludes.
    static func isPrintableUTF8(_ b: RawSpan, _ r: Range<Int>) -> Bool {
        var i = r.lowerBound
        while i < r.upperBound {
            let c = b.berByte(i)
            if c < 0x80 {
                if (c < 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) || c == 0x7f { return false }
                i += 1
                continue
            }
            let n: Int
            let minimum: UInt32
            var scalar: UInt32
            switch c {
            case 0xc2...0xdf: n = 1; minimum = 0x80; scalar = UInt32(c & 0x1f)
            case 0xe0...0xef: n = 2; minimum = 0x800; scalar = UInt32(c & 0x0f)
            case 0xf0...0xf4: n = 3; minimum = 0x10000; scalar = UInt32(c & 0x07)
            default: return false
            }
            guard i + n < r.upperBound else { return false }
            for k in 1...n {
                let cc = b.berByte(i + k)
                guard cc & 0xc0 == 0x80 else { return false }
                scalar = scalar << 6 | UInt32(cc & 0x3f)
            }
            guard scalar >= minimum, scalar <= 0x10ffff, !(0xd800...0xdfff).contains(scalar) else { return false }
            // C1 controls (U+0080…U+009F) are not printable either.
            guard !(0x80...0x9f).contains(scalar) else { return false }
            i += n + 1
        }
        return true
    }
}
