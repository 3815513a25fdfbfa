// The SNMP message layers (RFC 1157, RFC 3416, RFC 3412, RFC 3414 §2.4) as views by offset: which TLV
// holds the community, the PDU, the USM parameters, each varbind. Decoding here allocates nothing; the
// trap receiver and the poller copy out only what they keep. Encoding helpers for the same layers.

/// The SNMP message version (msgVersion / version field).
public enum SNMPVersion: Int, Sendable, Hashable, CustomStringConvertible {
    case v1 = 0
    case v2c = 1
    case v3 = 3

    /// 1, 2 or 3, as people write it.
    public var number: Int { self == .v1 ? 1 : self == .v2c ? 2 : 3 }
    public var description: String { self == .v1 ? "v1" : self == .v2c ? "v2c" : "v3" }
}

/// PDU types (context-specific constructed tags).
public enum SNMPPDUType: UInt8, Sendable, Hashable, BitwiseCopyable, CustomStringConvertible {
    case getRequest = 0xa0
    case getNextRequest = 0xa1
    case response = 0xa2
    case setRequest = 0xa3
    /// The SNMPv1 Trap-PDU (RFC 1157), with its own layout.
    case trapV1 = 0xa4
    case getBulkRequest = 0xa5
    case informRequest = 0xa6
    case snmpV2Trap = 0xa7
    case report = 0xa8

    public var description: String {
        switch self {
        case .getRequest: "GetRequest"
        case .getNextRequest: "GetNextRequest"
        case .response: "Response"
        case .setRequest: "SetRequest"
        case .trapV1: "Trap"
        case .getBulkRequest: "GetBulkRequest"
        case .informRequest: "InformRequest"
        case .snmpV2Trap: "SNMPv2-Trap"
        case .report: "Report"
        }
    }
}

/// Where in a message a decode failed: each has its own malformed counter.
public enum SNMPField: Int, CaseIterable, Sendable, Hashable {
    case message, version, community, pdu, requestID, errorStatus, errorIndex, varbindList, varbind, varbindName,
         varbindValue, enterprise, agentAddress, genericTrap, specificTrap, timeStamp, headerData, msgID,
         msgMaxSize, msgFlags, securityModel, securityParameters, engineID, engineBoots, engineTime, userName,
         authParameters, privParameters, msgData, scopedPDU, contextEngineID, contextName

    /// snake_case, for metric names.
    public var name: String {
        switch self {
        case .message: "message"
        case .version: "version"
        case .community: "community"
        case .pdu: "pdu"
        case .requestID: "request_id"
        case .errorStatus: "error_status"
        case .errorIndex: "error_index"
        case .varbindList: "varbind_list"
        case .varbind: "varbind"
        case .varbindName: "varbind_name"
        case .varbindValue: "varbind_value"
        case .enterprise: "enterprise"
        case .agentAddress: "agent_address"
        case .genericTrap: "generic_trap"
        case .specificTrap: "specific_trap"
        case .timeStamp: "time_stamp"
        case .headerData: "header_data"
        case .msgID: "msg_id"
        case .msgMaxSize: "msg_max_size"
        case .msgFlags: "msg_flags"
        case .securityModel: "security_model"
        case .securityParameters: "security_parameters"
        case .engineID: "engine_id"
        case .engineBoots: "engine_boots"
        case .engineTime: "engine_time"
        case .userName: "user_name"
        case .authParameters: "auth_parameters"
        case .privParameters: "priv_parameters"
        case .msgData: "msg_data"
        case .scopedPDU: "scoped_pdu"
        case .contextEngineID: "context_engine_id"
        case .contextName: "context_name"
        }
    }
}

/// A message that is not valid SNMP: which field, and what was wrong with its bytes.
public struct SNMPDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: SNMPField
    public var error: BERError

    public init(_ field: SNMPField, _ error: BERError) {
        self.field = field
        self.error = error
    }

    public var description: String { "\(field.name): \(error)" }
}

/// Reads the elements of one constructed value in order.
struct BERCursor {
    var at: Int
    let end: Int

    init(_ t: BERTLV) {
        at = t.valueStart
        end = t.end
    }

    init(at: Int, end: Int) {
        self.at = at
        self.end = end
    }

    var atEnd: Bool { at >= end }

    @inline(__always)
    mutating func next(_ b: RawSpan, _ field: SNMPField) throws(SNMPDecodeError) -> BERTLV {
        do {
            let t = try BER.readTLV(b, at: at, end: end)
            at = t.end
            return t
        } catch {
            throw SNMPDecodeError(field, error)
        }
    }

    @inline(__always)
    mutating func expect(_ b: RawSpan, _ tag: UInt8, _ field: SNMPField) throws(SNMPDecodeError) -> BERTLV {
        let t = try next(b, field)
        guard t.tag == tag else { throw SNMPDecodeError(field, .unexpectedTag(at: t.start, expected: tag, found: t.tag)) }
        return t
    }

    /// An INTEGER element within `range`.
    @inline(__always)
    mutating func integer(_ b: RawSpan, _ field: SNMPField, in range: ClosedRange<Int64>) throws(SNMPDecodeError) -> Int64 {
        let t = try expect(b, BERTag.integer, field)
        do { return try BER.integer(b, t, in: range) } catch { throw SNMPDecodeError(field, error) }
    }

    /// Throws unless every byte has been read.
    func finish(_ field: SNMPField) throws(SNMPDecodeError) {
        guard at == end else { throw SNMPDecodeError(field, .trailingBytes(at: at, count: end - at)) }
    }
}

/// The outer layer of a message.
public enum SNMPMessageHeader: Sendable {
    /// v1 or v2c: the community and the PDU TLV.
    case community(version: SNMPVersion, community: BERTLV, pdu: BERTLV)
    case v3(SNMPv3Header)
    /// A well-formed message with a version this code does not speak (2 is SNMPv2u/v2*).
    case unknownVersion(Int64)
}

/// The SNMPv3 message header (RFC 3412 §6): HeaderData, the security parameters and msgData.
public struct SNMPv3Header: Sendable, BitwiseCopyable {
    public var msgID: Int32
    public var maxSize: Int32
    public var flags: UInt8
    public var securityModel: Int32
    /// The OCTET STRING holding the security model's parameters.
    public var securityParameters: BERTLV
    /// A ScopedPDU SEQUENCE (plaintext) or an OCTET STRING (encryptedPDU).
    public var msgData: BERTLV

    public static let flagAuth: UInt8 = 0x01
    public static let flagPriv: UInt8 = 0x02
    public static let flagReportable: UInt8 = 0x04

    public var reportable: Bool { flags & Self.flagReportable != 0 }
    public var securityLevel: SNMPSecurityLevel {
        flags & Self.flagPriv != 0 ? .authPriv : flags & Self.flagAuth != 0 ? .authNoPriv : .noAuthNoPriv
    }
}

/// The three SNMPv3 security levels, in increasing order.
public enum SNMPSecurityLevel: Int, Sendable, Hashable, Comparable, CustomStringConvertible {
    case noAuthNoPriv = 1
    case authNoPriv = 2
    case authPriv = 3

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { self == .noAuthNoPriv ? "noAuthNoPriv" : self == .authNoPriv ? "authNoPriv" : "authPriv" }
    /// msgFlags bits for the level.
    public var flags: UInt8 { self == .noAuthNoPriv ? 0 : self == .authNoPriv ? 1 : 3 }
}

/// UsmSecurityParameters (RFC 3414 §2.4) by offset.
public struct USMSecurityParameters: Sendable, BitwiseCopyable {
    public var engineID: BERTLV
    public var engineBoots: Int32
    public var engineTime: Int32
    public var userName: BERTLV
    public var authParameters: BERTLV
    public var privParameters: BERTLV
}

/// A ScopedPDU (RFC 3412 §6) by offset.
public struct ScopedPDUView: Sendable, BitwiseCopyable {
    public var contextEngineID: BERTLV
    public var contextName: BERTLV
    public var pdu: BERTLV
}

/// A PDU other than the v1 Trap-PDU (RFC 3416 §3). For GetBulk, `errorStatus` holds non-repeaters and
/// `errorIndex` max-repetitions.
public struct SNMPPDUView: Sendable, BitwiseCopyable {
    public var type: SNMPPDUType
    public var requestID: Int32
    public var errorStatus: Int32
    public var errorIndex: Int32
    public var varbindList: BERTLV
}

/// The SNMPv1 Trap-PDU (RFC 1157 §4.1.6) by offset.
public struct TrapV1PDUView: Sendable, BitwiseCopyable {
    public var enterprise: BERTLV
    /// agent-addr, host byte order.
    public var agentAddress: UInt32
    public var genericTrap: Int32
    public var specificTrap: Int32
    /// time-stamp: sysUpTime in hundredths of a second.
    public var timeStamp: UInt32
    public var varbindList: BERTLV
}

/// One varbind: its name (a validated OID) and value (a validated value TLV).
public struct SNMPVarBindView: Sendable, BitwiseCopyable {
    public var name: BERTLV
    public var value: BERTLV
}

/// Walks a VarBindList, checking each varbind and counting them against a limit.
public struct SNMPVarBindCursor {
    var cursor: BERCursor
    /// Varbinds read so far.
    public private(set) var count = 0
    public let maxVarbinds: Int

    public init(_ list: BERTLV, maxVarbinds: Int) {
        cursor = BERCursor(list)
        self.maxVarbinds = maxVarbinds
    }

    /// The next varbind, nil at the end of the list.
    public mutating func next(_ b: RawSpan) throws(SNMPDecodeError) -> SNMPVarBindView? {
        guard !cursor.atEnd else { return nil }
        guard count < maxVarbinds else { throw SNMPDecodeError(.varbindList, .tooManyVarbinds(at: cursor.at, max: maxVarbinds)) }
        let vb = try cursor.expect(b, BERTag.sequence, .varbind)
        var inner = BERCursor(vb)
        let name = try inner.expect(b, BERTag.objectIdentifier, .varbindName)
        do { try BER.validateOID(b, name) } catch { throw SNMPDecodeError(.varbindName, error) }
        let value = try inner.next(b, .varbindValue)
        do { try SNMPValue.validate(b, value) } catch { throw SNMPDecodeError(.varbindValue, error) }
        try inner.finish(.varbind)
        count += 1
        return SNMPVarBindView(name: name, value: value)
    }
}

/// Parsing of each layer. Each function reads exactly one structure and checks every element's tag,
/// length and range; nothing recurses.
public enum SNMPMessage {
    static let int32Range: ClosedRange<Int64> = -2_147_483_648...2_147_483_647
    static let nonNegative32: ClosedRange<Int64> = 0...2_147_483_647

    /// The outer message: version, then the community and PDU (v1/v2c) or the v3 header. Bytes after
    /// the message SEQUENCE are an error.
    public static func parseHeader(_ b: RawSpan) throws(SNMPDecodeError) -> SNMPMessageHeader {
        var top = BERCursor(at: 0, end: b.byteCount)
        let message = try top.expect(b, BERTag.sequence, .message)
        try top.finish(.message)
        var c = BERCursor(message)
        let version = try c.integer(b, .version, in: Int64.min...Int64.max)
        switch version {
        case 0, 1:
            let community = try c.expect(b, BERTag.octetString, .community)
            let pdu = try c.next(b, .pdu)
            try c.finish(.message)
            return .community(version: version == 0 ? .v1 : .v2c, community: community, pdu: pdu)
        case 3:
            let global = try c.expect(b, BERTag.sequence, .headerData)
            var g = BERCursor(global)
            let msgID = try g.integer(b, .msgID, in: nonNegative32)
            let maxSize = try g.integer(b, .msgMaxSize, in: 484...2_147_483_647)
            let flags = try g.expect(b, BERTag.octetString, .msgFlags)
            guard flags.length == 1 else { throw SNMPDecodeError(.msgFlags, .badLength(at: flags.start, expected: 1, found: flags.length)) }
            let model = try g.integer(b, .securityModel, in: 1...2_147_483_647)
            try g.finish(.headerData)
            let params = try c.expect(b, BERTag.octetString, .securityParameters)
            let data = try c.next(b, .msgData)
            try c.finish(.message)
            return .v3(SNMPv3Header(
                msgID: Int32(msgID), maxSize: Int32(maxSize), flags: b.berByte(flags.valueStart),
                securityModel: Int32(model), securityParameters: params, msgData: data))
        default:
            return .unknownVersion(version)
        }
    }

    /// UsmSecurityParameters inside msgSecurityParameters.
    public static func parseUSM(_ b: RawSpan, _ params: SNMPv3Header) throws(SNMPDecodeError) -> USMSecurityParameters {
        var outer = BERCursor(params.securityParameters)
        let seq = try outer.expect(b, BERTag.sequence, .securityParameters)
        try outer.finish(.securityParameters)
        var c = BERCursor(seq)
        let engineID = try c.expect(b, BERTag.octetString, .engineID)
        guard engineID.length <= 32 else { throw SNMPDecodeError(.engineID, .invalid(at: engineID.start, "engine ID of \(engineID.length) bytes, at most 32")) }
        let boots = try c.integer(b, .engineBoots, in: nonNegative32)
        let time = try c.integer(b, .engineTime, in: nonNegative32)
        let user = try c.expect(b, BERTag.octetString, .userName)
        guard user.length <= 32 else { throw SNMPDecodeError(.userName, .invalid(at: user.start, "user name of \(user.length) bytes, at most 32")) }
        let auth = try c.expect(b, BERTag.octetString, .authParameters)
        let priv = try c.expect(b, BERTag.octetString, .privParameters)
        try c.finish(.securityParameters)
        return USMSecurityParameters(
            engineID: engineID, engineBoots: Int32(boots), engineTime: Int32(time), userName: user,
            authParameters: auth, privParameters: priv)
    }

    /// A ScopedPDU starting at `at`. Decrypted data may carry padding after it (DES), so bytes after
    /// the SEQUENCE up to `end` are ignored when `allowTrailing`.
    public static func parseScopedPDU(_ b: RawSpan, at: Int, end: Int, allowTrailing: Bool) throws(SNMPDecodeError) -> ScopedPDUView {
        var outer = BERCursor(at: at, end: end)
        let seq = try outer.expect(b, BERTag.sequence, .scopedPDU)
        if !allowTrailing { try outer.finish(.scopedPDU) }
        var c = BERCursor(seq)
        let engine = try c.expect(b, BERTag.octetString, .contextEngineID)
        let name = try c.expect(b, BERTag.octetString, .contextName)
        let pdu = try c.next(b, .pdu)
        try c.finish(.scopedPDU)
        return ScopedPDUView(contextEngineID: engine, contextName: name, pdu: pdu)
    }

    /// The PDU type of a PDU TLV, nil for a tag that is not one.
    public static func pduType(_ t: BERTLV) -> SNMPPDUType? { SNMPPDUType(rawValue: t.tag) }

    /// A request/response/v2-trap/inform/report/bulk PDU (anything but the v1 Trap-PDU).
    public static func parsePDU(_ b: RawSpan, _ t: BERTLV) throws(SNMPDecodeError) -> SNMPPDUView {
        guard let type = SNMPPDUType(rawValue: t.tag), type != .trapV1 else {
            throw SNMPDecodeError(.pdu, .invalid(at: t.start, "tag 0x\(hex2(t.tag)) is not a PDU with a request-id"))
        }
        var c = BERCursor(t)
        let requestID = try c.integer(b, .requestID, in: int32Range)
        let status = try c.integer(b, .errorStatus, in: int32Range)
        let index = try c.integer(b, .errorIndex, in: int32Range)
        let list = try c.expect(b, BERTag.sequence, .varbindList)
        try c.finish(.pdu)
        return SNMPPDUView(type: type, requestID: Int32(requestID), errorStatus: Int32(status), errorIndex: Int32(index), varbindList: list)
    }

    /// An SNMPv1 Trap-PDU.
    public static func parseTrapV1(_ b: RawSpan, _ t: BERTLV) throws(SNMPDecodeError) -> TrapV1PDUView {
        guard t.tag == SNMPPDUType.trapV1.rawValue else {
            throw SNMPDecodeError(.pdu, .unexpectedTag(at: t.start, expected: SNMPPDUType.trapV1.rawValue, found: t.tag))
        }
        var c = BERCursor(t)
        let enterprise = try c.expect(b, BERTag.objectIdentifier, .enterprise)
        do { try BER.validateOID(b, enterprise) } catch { throw SNMPDecodeError(.enterprise, error) }
        let agent = try c.expect(b, BERTag.ipAddress, .agentAddress)
        guard agent.length == 4 else { throw SNMPDecodeError(.agentAddress, .badLength(at: agent.start, expected: 4, found: agent.length)) }
        let generic = try c.integer(b, .genericTrap, in: 0...6)
        let specific = try c.integer(b, .specificTrap, in: int32Range)
        let stamp = try c.expect(b, BERTag.timeTicks, .timeStamp)
        let ticks: UInt64
        do { ticks = try BER.unsigned(b, stamp, bits: 32) } catch { throw SNMPDecodeError(.timeStamp, error) }
        let list = try c.expect(b, BERTag.sequence, .varbindList)
        try c.finish(.pdu)
        return TrapV1PDUView(
            enterprise: enterprise, agentAddress: SNMPValue.ipv4(b, agent.valueStart), genericTrap: Int32(generic),
            specificTrap: Int32(specific), timeStamp: UInt32(truncatingIfNeeded: ticks), varbindList: list)
    }
}

extension BEREncoder {
    /// A v1/v2c message: version, community, then the PDU `body` writes.
    public mutating func communityMessage(version: SNMPVersion, community: some Collection<UInt8>, _ body: (inout BEREncoder) -> Void) {
        let m = begin(BERTag.sequence)
        integer(Int64(version.rawValue))
        octetString(community)
        body(&self)
        end(m)
    }

    /// A PDU with request-id, error-status and error-index (non-repeaters and max-repetitions for
    /// GetBulk), whose VarBindList `varbinds` writes.
    public mutating func pdu(
        _ type: SNMPPDUType, requestID: Int32, errorStatus: Int32 = 0, errorIndex: Int32 = 0, _ varbinds: (inout BEREncoder) -> Void
    ) {
        precondition(type != .trapV1, "the v1 Trap-PDU has its own layout")
        let p = begin(type.rawValue)
        integer(Int64(requestID))
        integer(Int64(errorStatus))
        integer(Int64(errorIndex))
        varbinds(&self)
        end(p)
    }

    /// A v1 Trap-PDU.
    public mutating func trapV1PDU(
        enterprise: OID, agentAddress: UInt32, genericTrap: Int32, specificTrap: Int32, timeStamp: UInt32, varbinds: [SNMPVarBind]
    ) {
        let p = begin(SNMPPDUType.trapV1.rawValue)
        oid(enterprise)
        value(.ipAddress(agentAddress))
        integer(Int64(genericTrap))
        integer(Int64(specificTrap))
        unsigned(UInt64(timeStamp), tag: BERTag.timeTicks)
        varbindList(varbinds)
        end(p)
    }

    /// A plaintext ScopedPDU around the PDU `body` writes.
    public mutating func scopedPDU(contextEngineID: some Collection<UInt8>, contextName: some Collection<UInt8>, _ body: (inout BEREncoder) -> Void) {
        let s = begin(BERTag.sequence)
        octetString(contextEngineID)
        octetString(contextName)
        body(&self)
        end(s)
    }
}
