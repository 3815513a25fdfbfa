// The trap/inform receiver core, without sockets: one datagram in, a notification or a counted
// rejection out, and the datagram to send back (inform Response, Report) through a closure.

/// Why a datagram did not yield a notification. Each case is one `TrapCounter`.
public enum TrapRejection: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(SNMPDecodeError)
    case unknownVersion(Int64)
    /// The PDU tag found (a request, response or report, or a v1 Trap-PDU in a v2c message).
    case unexpectedPDU(tag: UInt8)
    case badCommunity
    case unknownSecurityModel(Int32)
    case invalidMsgFlags(UInt8)
    case unsupportedSecurityLevel
    case notInTimeWindow
    case unknownUserName
    /// Includes engine discovery: an empty msgAuthoritativeEngineID, answered with a Report.
    case unknownEngineID
    case wrongDigest
    case decryptionError

    public var counter: TrapCounter {
        switch self {
        case .malformed: .malformed
        case .unknownVersion: .unknownVersion
        case .unexpectedPDU: .unexpectedPDU
        case .badCommunity: .badCommunity
        case .unknownSecurityModel: .unknownSecurityModel
        case .invalidMsgFlags: .invalidMsgFlags
        case .unsupportedSecurityLevel: .usmUnsupportedSecLevels
        case .notInTimeWindow: .usmNotInTimeWindows
        case .unknownUserName: .usmUnknownUserNames
        case .unknownEngineID: .usmUnknownEngineIDs
        case .wrongDigest: .usmWrongDigests
        case .decryptionError: .usmDecryptionErrors
        }
    }

    public var description: String {
        switch self {
        case .malformed(let e): "malformed: \(e)"
        case .unknownVersion(let v): "unknown SNMP version \(v)"
        case .unexpectedPDU(let tag): "PDU 0x\(hex2(tag)) is not a notification"
        case .badCommunity: "community not accepted"
        case .unknownSecurityModel(let m): "security model \(m), expected 3 (USM)"
        case .invalidMsgFlags(let f): "msgFlags 0x\(hex2(f)): privacy without authentication"
        case .unsupportedSecurityLevel: "security level not allowed for the user"
        case .notInTimeWindow: "not in time window"
        case .unknownUserName: "unknown user name"
        case .unknownEngineID: "unknown engine ID"
        case .wrongDigest: "wrong digest"
        case .decryptionError: "decryption error"
        }
    }
}

/// What one datagram produced.
public enum TrapOutcome: Sendable {
    case notification(SNMPNotification)
    case rejected(TrapRejection)
}

/// Receives SNMP notifications: v1 Trap-PDUs, SNMPv2-Traps and InformRequests over v1, v2c and v3/USM.
/// Informs are answered, and v3 engine discovery and USM errors on reportable messages get Reports,
/// through `receive`'s `reply`.
///
/// Not copyable: it owns the salt counter for encrypted replies (a copy could reuse an IV) and the
/// localized-key cache. One per receive thread; they may share a `TrapStats`.
public struct TrapReceiver: ~Copyable, Sendable {
    public let stats: TrapStats
    public let config: TrapReceiverConfig
    let usm: USMCrypto
    let users: [PreparedUser]
    let communities: [[UInt8]]
    let engineID: [UInt8]
    var keyCache: [KeyCacheKey: LocalizedKeys] = [:]
    var out = BEREncoder(capacity: 1500)
    var scratch = BEREncoder(capacity: 1500)
    var salt: UInt64

    struct PreparedUser {
        let name: [UInt8]
        let user: USMUser
        /// Ku for authentication and for privacy (RFC 3414 A.2); empty when unused.
        let authKu: [UInt8]
        let privKu: [UInt8]
        let minimumLevel: SNMPSecurityLevel
    }

    struct KeyCacheKey: Hashable {
        var user: Int
        var engineID: [UInt8]
    }

    struct LocalizedKeys {
        var auth: [UInt8]
        var priv: [UInt8]
    }

    /// Checks `config` and derives every user's keys from its passphrases (about 1 MiB of hashing per
    /// passphrase). `crypto` supplies the hash/HMAC/AES primitives (`SwiftCryptoUSM()` normally).
    public init(config: TrapReceiverConfig, crypto: any SNMPCrypto, stats: TrapStats = TrapStats()) throws(SNMPConfigError) {
        try SNMPConfigError.check(config)
        self.config = config
        self.stats = stats
        usm = USMCrypto(crypto: crypto)
        engineID = config.engine.engineID
        communities = config.communities.map { Array($0.utf8) }
        var prepared: [PreparedUser] = []
        for u in config.users {
            var authKu: [UInt8] = [], privKu: [UInt8] = []
            if let a = u.authProtocol {
                authKu = usm.passwordToKey(Array(u.authPassphrase.utf8), a)
                if u.privProtocol != nil {
                    privKu = u.privPassphrase == u.authPassphrase ? authKu : usm.passwordToKey(Array(u.privPassphrase.utf8), a)
                }
            }
            prepared.append(PreparedUser(
                name: Array(u.name.utf8), user: u, authKu: authKu, privKu: privKu,
                minimumLevel: u.minimumSecurityLevel ?? u.securityLevel))
        }
        users = prepared
        var rng = SystemRandomNumberGenerator()
        salt = rng.next()
    }

    /// This engine's snmpEngineID (what senders of informs discover).
    public var localEngineID: [UInt8] { engineID }

    /// Handles one datagram from `source` received at `receivedMicros` (µs since the epoch, the clock
    /// `config.engine.startMicros` is on). A reply for the sender (inform Response, Report) is passed
    /// to `reply`, valid only during the call; the caller sends it back to the datagram's source
    /// address and port. Every datagram is counted in `stats`.
    public mutating func receive(
        _ datagram: RawSpan, from source: IPAddress, receivedMicros: Int64, reply: (RawSpan) -> Void
    ) -> TrapOutcome {
        stats.add(.received)
        let header: SNMPMessageHeader
        do {
            header = try SNMPMessage.parseHeader(datagram)
        } catch {
            return reject(.malformed(error))
        }
        switch header {
        case .unknownVersion(let v):
            return reject(.unknownVersion(v))
        case .community(let version, let community, let pdu):
            stats.add(version == .v1 ? .versionV1 : .versionV2c)
            return receiveCommunity(datagram, version, community, pdu, source, receivedMicros, reply)
        case .v3(let h):
            stats.add(.versionV3)
            return receiveV3(datagram, h, source, receivedMicros, reply)
        }
    }

    private func reject(_ r: TrapRejection) -> TrapOutcome {
        stats.add(r.counter)
        if case .malformed(let e) = r { stats.addMalformed(e.field) }
        return .rejected(r)
    }

    // MARK: v1 and v2c

    private mutating func receiveCommunity(
        _ b: RawSpan, _ version: SNMPVersion, _ community: BERTLV, _ pduTLV: BERTLV, _ source: IPAddress,
        _ receivedMicros: Int64, _ reply: (RawSpan) -> Void
    ) -> TrapOutcome {
        if !communities.isEmpty && !communities.contains(where: { BER.valueEquals(b, community, $0) }) {
            return reject(.badCommunity)
        }
        var n = SNMPNotification(
            version: version, kind: .trap, source: source, receivedMicros: receivedMicros,
            community: BER.string(b, community.valueRange), varbindBytes: [], varbindCount: 0)
        do {
            if version == .v1 {
                guard pduTLV.tag == SNMPPDUType.trapV1.rawValue else { return reject(.unexpectedPDU(tag: pduTLV.tag)) }
                let t = try SNMPMessage.parseTrapV1(b, pduTLV)
                try collectVarbinds(b, t.varbindList, v2Header: false, into: &n)
                let enterprise = BER.oidText(b, t.enterprise)
                n.enterprise = enterprise
                n.agentAddress = .v4(t.agentAddress)
                n.genericTrap = t.genericTrap
                n.specificTrap = t.specificTrap
                n.uptime = t.timeStamp
                // RFC 3584 §3.1 (3): generic 0…5 become snmpTraps.1…6, enterpriseSpecific enterprise.0.specific.
                n.trapOID = t.genericTrap == 6
                    ? enterprise + ".0." + String(UInt32(bitPattern: t.specificTrap))
                    : "1.3.6.1.6.3.1.1.5." + String(t.genericTrap + 1)
                stats.add(.trapsV1)
                return .notification(n)
            }
            guard pduTLV.tag == SNMPPDUType.snmpV2Trap.rawValue || pduTLV.tag == SNMPPDUType.informRequest.rawValue else {
                return reject(.unexpectedPDU(tag: pduTLV.tag))
            }
            let p = try SNMPMessage.parsePDU(b, pduTLV)
            try collectVarbinds(b, p.varbindList, v2Header: true, into: &n)
            n.requestID = p.requestID
            if p.type == .informRequest {
                n.kind = .inform
                stats.add(.informs)
                // RFC 3416 §4.2.7: a Response with the same request-id, error-status 0 and the same varbinds.
                out.reset()
                let m = out.begin(BERTag.sequence)
                out.integer(Int64(SNMPVersion.v2c.rawValue))
                out.octetString(b.extracting(community.valueRange))
                let r = out.begin(SNMPPDUType.response.rawValue)
                out.integer(Int64(p.requestID))
                out.integer(0)
                out.integer(0)
                out.appendRaw(b.extracting(p.varbindList.start..<p.varbindList.end))
                out.end(r)
                out.end(m)
                reply(unsafe out.bytes.span.bytes)
                stats.add(.informsAcknowledged)
            } else {
                stats.add(.trapsV2)
            }
            return .notification(n)
        } catch {
            return reject(.malformed(error))
        }
    }

    /// Checks every varbind of `list` and stores them in `n`; for v2 PDUs takes sysUpTime.0 and then
    /// snmpTrapOID.0 off the front when they are there (RFC 3416 §4.2.6), counting them when not.
    private func collectVarbinds(_ b: RawSpan, _ list: BERTLV, v2Header: Bool, into n: inout SNMPNotification) throws(SNMPDecodeError) {
        var cursor = SNMPVarBindCursor(list, maxVarbinds: config.maxVarbinds)
        var keptFrom = list.valueStart
        var kept = 0
        var inHeader = v2Header
        var expectUptime = true
        while let vb = try cursor.next(b) {
            if inHeader {
                if expectUptime {
                    expectUptime = false
                    if vb.value.tag == BERTag.timeTicks && BER.valueEquals(b, vb.name, SNMPOIDs.sysUpTime0Value) {
                        n.uptime = UInt32(truncatingIfNeeded: (try? BER.unsigned(b, vb.value, bits: 32)) ?? 0)
                        keptFrom = vb.value.end
                        continue
                    }
                }
                inHeader = false
                if vb.value.tag == BERTag.objectIdentifier && BER.valueEquals(b, vb.name, SNMPOIDs.snmpTrapOID0Value) {
                    n.trapOID = BER.oidText(b, vb.value)
                    keptFrom = vb.value.end
                    continue
                }
            }
            kept += 1
        }
        if v2Header {
            if n.uptime == nil { stats.add(.missingUptime) }
            if n.trapOID == nil { stats.add(.missingTrapOID) }
        }
        n.varbindBytes = BER.copy(b, keptFrom..<list.end)
        n.varbindCount = kept
    }

    // MARK: v3

    private mutating func receiveV3(
        _ b: RawSpan, _ h: SNMPv3Header, _ source: IPAddress, _ receivedMicros: Int64, _ reply: (RawSpan) -> Void
    ) -> TrapOutcome {
        guard h.securityModel == 3 else { return reject(.unknownSecurityModel(h.securityModel)) }
        guard h.flags & 0x03 != SNMPv3Header.flagPriv else { return reject(.invalidMsgFlags(h.flags)) }
        let p: USMSecurityParameters
        do { p = try SNMPMessage.parseUSM(b, h) } catch { return reject(.malformed(error)) }
        let level = h.securityLevel
        let now = config.engine.engineTime(atMicros: receivedMicros)
        let ours = BER.valueEquals(b, p.engineID, engineID)
        var ctx = ReplyContext(
            msgID: h.msgID, userName: BER.copyValue(b, p.userName),
            // Only reportable messages can get a Report, and only a Report needs this before the PDU is read.
            requestID: h.reportable ? SNMPMessage.plaintextRequestID(b, h) : 0,
            engineTime: now, maxSize: h.maxSize)

        // Discovery (RFC 3414 §4), or a request meant for an authoritative engine that is not this one
        // (a reportable message names the receiver's engine; only notifications to us are accepted).
        if p.engineID.length == 0 || (h.reportable && !ours) {
            if h.reportable { sendReport(SNMPOIDs.usmStatsUnknownEngineIDs, .usmUnknownEngineIDs, &ctx, reply) }
            return reject(.unknownEngineID)
        }
        // Reports for the errors below go only to senders that asked for them and address this engine.
        let reportable = h.reportable && ours
        guard let ui = users.firstIndex(where: { BER.valueEquals(b, p.userName, $0.name) }) else {
            if reportable { sendReport(SNMPOIDs.usmStatsUnknownUserNames, .usmUnknownUserNames, &ctx, reply) }
            return reject(.unknownUserName)
        }
        let user = users[ui]
        guard level <= user.user.securityLevel && level >= user.minimumLevel else {
            if reportable { sendReport(SNMPOIDs.usmStatsUnsupportedSecLevels, .usmUnsupportedSecLevels, &ctx, reply) }
            return reject(.unsupportedSecurityLevel)
        }
        var keys = LocalizedKeys(auth: [], priv: [])
        if let auth = user.user.authProtocol, level >= .authNoPriv {
            keys = localizedKeys(ui, BER.copyValue(b, p.engineID))
            guard usm.verify(auth, key: keys.auth, message: b, auth: p.authParameters) else {
                if reportable { sendReport(SNMPOIDs.usmStatsWrongDigests, .usmWrongDigests, &ctx, reply) }
                return reject(.wrongDigest)
            }
            // RFC 3414 §3.2 step 7a: when this engine is authoritative, the message must be within
            // 150 s of its clock and of its current boots. The Report is authenticated (authNoPriv).
            if ours {
                let boots = config.engine.boots
                if boots == Int32.max || p.engineBoots != boots || abs(Int64(p.engineTime) - Int64(now)) > 150 {
                    if h.reportable {
                        ctx.level = .authNoPriv
                        ctx.auth = (auth, keys.auth)
                        sendReport(SNMPOIDs.usmStatsNotInTimeWindows, .usmNotInTimeWindows, &ctx, reply)
                    }
                    return reject(.notInTimeWindow)
                }
            }
        }

        // msgData: a plaintext ScopedPDU, or one encrypted in an OCTET STRING.
        if level == .authPriv, let priv = user.user.privProtocol {
            guard h.msgData.tag == BERTag.octetString else {
                return reject(.malformed(SNMPDecodeError(.msgData, .unexpectedTag(at: h.msgData.start, expected: BERTag.octetString, found: h.msgData.tag))))
            }
            guard let plain = usm.decrypt(
                priv, key: keys.priv, engineBoots: p.engineBoots, engineTime: p.engineTime,
                salt: b.extracting(p.privParameters.valueRange), b.extracting(h.msgData.valueRange))
            else {
                if reportable { sendReport(SNMPOIDs.usmStatsDecryptionErrors, .usmDecryptionErrors, &ctx, reply) }
                return reject(.decryptionError)
            }
            let pb = unsafe plain.span.bytes
            let scoped: ScopedPDUView
            do {
                scoped = try SNMPMessage.parseScopedPDU(pb, at: 0, end: pb.byteCount, allowTrailing: true)
            } catch {
                // A wrong privacy key yields noise: if even the ScopedPDU's SEQUENCE does not parse, it
                // is a decryption error (as net-snmp counts it), otherwise a malformed PDU.
                if error.field == .scopedPDU {
                    if reportable { sendReport(SNMPOIDs.usmStatsDecryptionErrors, .usmDecryptionErrors, &ctx, reply) }
                    return reject(.decryptionError)
                }
                return reject(.malformed(error))
            }
            ctx.level = .authPriv
            ctx.auth = (user.user.authProtocol!, keys.auth)
            ctx.priv = (priv, keys.priv)
            return finishV3(pb, scoped, b, p, h, ours, source, receivedMicros, &ctx, reply)
        }
        guard h.msgData.tag == BERTag.sequence else {
            return reject(.malformed(SNMPDecodeError(.msgData, .unexpectedTag(at: h.msgData.start, expected: BERTag.sequence, found: h.msgData.tag))))
        }
        let scoped: ScopedPDUView
        do {
            scoped = try SNMPMessage.parseScopedPDU(b, at: h.msgData.start, end: h.msgData.end, allowTrailing: false)
        } catch {
            return reject(.malformed(error))
        }
        ctx.level = level
        if level == .authNoPriv, let a = user.user.authProtocol { ctx.auth = (a, keys.auth) }
        return finishV3(b, scoped, b, p, h, ours, source, receivedMicros, &ctx, reply)
    }

    /// The PDU of an authenticated (or unauthenticated but allowed) v3 message, in `pb` (the datagram
    /// or the decrypted ScopedPDU).
    private mutating func finishV3(
        _ pb: RawSpan, _ scoped: ScopedPDUView, _ b: RawSpan, _ p: USMSecurityParameters, _ h: SNMPv3Header, _ ours: Bool,
        _ source: IPAddress, _ receivedMicros: Int64, _ ctx: inout ReplyContext, _ reply: (RawSpan) -> Void
    ) -> TrapOutcome {
        let tag = scoped.pdu.tag
        guard tag == SNMPPDUType.snmpV2Trap.rawValue || tag == SNMPPDUType.informRequest.rawValue else {
            return reject(.unexpectedPDU(tag: tag))
        }
        // An inform names its receiver as the authoritative engine; one for another engine was not
        // meant for us (and, not being reportable, gets no Report).
        if tag == SNMPPDUType.informRequest.rawValue && !ours { return reject(.unknownEngineID) }
        var n = SNMPNotification(
            version: .v3, kind: .trap, source: source, receivedMicros: receivedMicros, varbindBytes: [], varbindCount: 0)
        let pdu: SNMPPDUView
        do {
            pdu = try SNMPMessage.parsePDU(pb, scoped.pdu)
            try collectVarbinds(pb, pdu.varbindList, v2Header: true, into: &n)
        } catch {
            return reject(.malformed(error))
        }
        n.requestID = pdu.requestID
        n.userName = String(decoding: ctx.userName, as: UTF8.self)
        n.securityLevel = h.securityLevel
        n.securityEngineID = BER.copyValue(b, p.engineID)
        n.contextEngineID = BER.copyValue(pb, scoped.contextEngineID)
        n.contextName = BER.string(pb, scoped.contextName.valueRange)
        guard pdu.type == .informRequest else {
            stats.add(.trapsV2)
            return .notification(n)
        }
        n.kind = .inform
        stats.add(.informs)
        ctx.requestID = pdu.requestID
        ctx.contextEngineID = n.contextEngineID ?? []
        ctx.contextName = BER.copyValue(pb, scoped.contextName)
        encodeV3(&ctx, type: .response, errorStatus: 0, varbindList: pb.extracting(pdu.varbindList.start..<pdu.varbindList.end))
        if out.count > Int(ctx.maxSize) {
            // RFC 3416 §4.2.7: a Response that would not fit is sent as tooBig with no varbinds.
            let empty: [UInt8] = [BERTag.sequence, 0]
            encodeV3(&ctx, type: .response, errorStatus: 1, varbindList: unsafe empty.span.bytes)
            stats.add(.responsesTooBig)
        }
        reply(unsafe out.bytes.span.bytes)
        stats.add(.informsAcknowledged)
        return .notification(n)
    }

    /// What a v3 reply (Response or Report) needs from the request and from the checks so far.
    struct ReplyContext {
        var msgID: Int32
        var userName: [UInt8]
        var requestID: Int32
        var engineTime: Int32
        var maxSize: Int32
        var level = SNMPSecurityLevel.noAuthNoPriv
        var auth: (SNMPAuthProtocol, [UInt8])?
        var priv: (SNMPPrivProtocol, [UInt8])?
        var contextEngineID: [UInt8] = []
        var contextName: [UInt8] = []
    }

    /// Sends a Report PDU carrying `counter`'s value as `oid` (RFC 3412 §7.1 step 3, RFC 3414 §3.2),
    /// at `ctx.level` (noAuthNoPriv except for notInTimeWindows) with this engine's ID, boots and time.
    private mutating func sendReport(_ oid: OID, _ counter: TrapCounter, _ ctx: inout ReplyContext, _ reply: (RawSpan) -> Void) {
        ctx.contextEngineID = engineID
        ctx.contextName = []
        var list = BEREncoder(capacity: 48)
        // The counter after this rejection is counted.
        list.varbindList([SNMPVarBind(oid, .counter32(UInt32(truncatingIfNeeded: stats[counter] + 1)))])
        encodeV3(&ctx, type: .report, errorStatus: 0, varbindList: unsafe list.bytes.span.bytes)
        reply(unsafe out.bytes.span.bytes)
        stats.add(.reportsSent)
    }

    /// Writes a v3 message from this engine into `out`: the PDU (`varbindList` copied as is) in a
    /// ScopedPDU, encrypted and/or authenticated as `ctx` says.
    private mutating func encodeV3(_ ctx: inout ReplyContext, type: SNMPPDUType, errorStatus: Int32, varbindList: RawSpan) {
        scratch.reset()
        let s = scratch.begin(BERTag.sequence)
        scratch.octetString(ctx.contextEngineID)
        scratch.octetString(ctx.contextName)
        let pdu = scratch.begin(type.rawValue)
        scratch.integer(Int64(ctx.requestID))
        scratch.integer(Int64(errorStatus))
        scratch.integer(0)
        scratch.appendRaw(varbindList)
        scratch.end(pdu)
        scratch.end(s)

        var o = USMOutgoing(
            msgID: ctx.msgID, maxSize: config.maxMessageSize, flags: ctx.level.flags, engineID: engineID,
            engineBoots: config.engine.boots, engineTime: ctx.engineTime, userName: ctx.userName)
        if let (auth, key) = ctx.auth { o.auth = (auth, key) }
        if let (priv, key) = ctx.priv {
            salt &+= 1
            o.priv = (priv, key, salt)
        }
        // A local copy (sharing the buffer) so that reading it does not overlap writing `out`.
        let scoped = scratch
        usm.encodeMessage(o, scopedPDU: unsafe scoped.bytes.span.bytes, into: &out)
    }

    /// Localized keys of user `ui` for `engine`, from the cache or derived (RFC 3414 §2.6).
    private mutating func localizedKeys(_ ui: Int, _ engine: [UInt8]) -> LocalizedKeys {
        let key = KeyCacheKey(user: ui, engineID: engine)
        if let k = keyCache[key] { return k }
        let u = users[ui]
        guard let auth = u.user.authProtocol else { return LocalizedKeys(auth: [], priv: []) }
        var k = LocalizedKeys(auth: usm.localize(u.authKu, engineID: engine, auth), priv: [])
        if let priv = u.user.privProtocol {
            let kul = u.privKu == u.authKu ? k.auth : usm.localize(u.privKu, engineID: engine, auth)
            k.priv = usm.privacyKey(kul, priv, auth, engineID: engine)
        }
        if keyCache.count >= config.keyCacheEntries { keyCache.removeAll(keepingCapacity: true) }
        keyCache[key] = k
        return k
    }
}

extension SNMPMessage {
    /// The request-id of a plaintext v3 message's PDU, for a Report about it; 0 when encrypted or
    /// unreadable.
    static func plaintextRequestID(_ b: RawSpan, _ h: SNMPv3Header) -> Int32 {
        guard h.msgData.tag == BERTag.sequence,
              let s = try? parseScopedPDU(b, at: h.msgData.start, end: h.msgData.end, allowTrailing: false),
              s.pdu.tag != SNMPPDUType.trapV1.rawValue,
              let p = try? parsePDU(b, s.pdu)
        else { return 0 }
        return p.requestID
    }
}
