// The trap receiver without sockets: net-snmp's captured datagrams (SNMPFixtures) and messages built
// here with the encoder, through every outcome: notifications, inform Responses, Reports, and each
// rejection with its counter.
import Testing

@testable import Poller

/// Builds v3 messages as a sender would, and opens this receiver's replies.
struct TestUSMAgent {
    let usm = USMCrypto(crypto: SwiftCryptoUSM())
    let user: [UInt8]
    let auth: SNMPAuthProtocol?
    let authKu: [UInt8]
    let priv: SNMPPrivProtocol?
    let privKu: [UInt8]

    init(user: String, auth: (SNMPAuthProtocol, String)? = nil, priv: (SNMPPrivProtocol, String)? = nil) {
        let u = USMCrypto(crypto: SwiftCryptoUSM())
        self.user = Array(user.utf8)
        self.auth = auth?.0
        authKu = auth.map { u.passwordToKey(Array($0.1.utf8), $0.0) } ?? []
        self.priv = priv?.0
        privKu = auth.flatMap { a in priv.map { u.passwordToKey(Array($0.1.utf8), a.0) } } ?? []
    }

    func keys(_ engineID: [UInt8]) -> (auth: [UInt8], priv: [UInt8]) {
        guard let a = auth else { return ([], []) }
        let ka = usm.localize(authKu, engineID: engineID, a)
        guard let p = priv else { return (ka, []) }
        return (ka, usm.extend(usm.localize(privKu, engineID: engineID, a), to: p.keyMaterialLength, a))
    }

    func message(
        engineID: [UInt8], boots: Int32 = 1, time: Int32 = 0, level: SNMPSecurityLevel, reportable: Bool = false,
        msgID: Int32 = 77, userName: [UInt8]? = nil, scoped: [UInt8]
    ) -> [UInt8] {
        var o = USMOutgoing(
            msgID: msgID, maxSize: 65507, flags: level.flags | (reportable ? SNMPv3Header.flagReportable : 0),
            engineID: engineID, engineBoots: boots, engineTime: time, userName: userName ?? user)
        let k = keys(engineID)
        if level >= .authNoPriv, let a = auth { o.auth = (a, k.auth) }
        if level == .authPriv, let p = priv { o.priv = (p, k.priv, 0x0102_0304_0506_0708) }
        var out = BEREncoder()
        usm.encodeMessage(o, scopedPDU: scoped.span.bytes, into: &out)
        return out.bytes
    }

    /// A reply's header, USM parameters and plaintext ScopedPDU, after checking its MAC (if any) with
    /// this user's keys localized to `engineID`.
    func open(_ reply: [UInt8], engineID: [UInt8]) throws -> (SNMPv3Header, USMSecurityParameters, [UInt8]) {
        let b = reply.span.bytes
        guard case .v3(let h) = try SNMPMessage.parseHeader(b) else { throw SNMPConfigError("not v3") }
        let p = try SNMPMessage.parseUSM(b, h)
        let k = keys(engineID)
        if h.securityLevel >= .authNoPriv {
            guard let a = auth, usm.verify(a, key: k.auth, message: b, auth: p.authParameters) else { throw SNMPConfigError("bad MAC") }
        }
        if h.securityLevel == .authPriv, let pr = priv {
            let plain = usm.decrypt(
                pr, key: k.priv, engineBoots: p.engineBoots, engineTime: p.engineTime,
                salt: b.extracting(p.privParameters.valueRange), b.extracting(h.msgData.valueRange))!
            return (h, p, plain)
        }
        return (h, p, BER.copy(b, h.msgData.start..<h.msgData.end))
    }
}

/// An encoded ScopedPDU.
func scopedPDU(contextEngineID: [UInt8], contextName: String = "", _ type: SNMPPDUType, requestID: Int32, _ varbinds: [SNMPVarBind]) -> [UInt8] {
    var e = BEREncoder()
    e.scopedPDU(contextEngineID: contextEngineID, contextName: Array(contextName.utf8)) { e in
        e.pdu(type, requestID: requestID) { $0.varbindList(varbinds) }
    }
    return e.bytes
}

/// A v1/v2c message.
func communityMessage(_ version: SNMPVersion, _ type: SNMPPDUType, community: String = "public", requestID: Int32 = 1, _ varbinds: [SNMPVarBind]) -> [UInt8] {
    var e = BEREncoder()
    e.communityMessage(version: version, community: Array(community.utf8)) { e in
        e.pdu(type, requestID: requestID) { $0.varbindList(varbinds) }
    }
    return e.bytes
}

/// The usual first two varbinds of a v2 notification.
func v2Header(uptime: UInt32 = 4242, trap: OID = "1.3.6.1.6.3.1.1.5.4") -> [SNMPVarBind] {
    [SNMPVarBind(SNMPOIDs.sysUpTime0, .timeTicks(uptime)), SNMPVarBind(SNMPOIDs.snmpTrapOID0, .objectIdentifier(trap))]
}

@Suite("Trap receiver")
struct TrapReceiverTests {
    static let engineID = hexBytes("80001f8804736f7470746573")
    static let start: Int64 = 1_700_000_000_000_000
    static let source = IPAddress.v4(0x7f00_0001)

    static func config(communities: [String] = [], users: [USMUser] = [], maxVarbinds: Int = 1024) -> TrapReceiverConfig {
        TrapReceiverConfig(
            communities: communities, users: users,
            engine: SNMPEngineIdentity(engineID: engineID, boots: 5, startMicros: start), maxVarbinds: maxVarbinds)
    }

    /// Feeds `bytes` to `r` at engine time `at` seconds, collecting replies.
    static func feed(_ r: inout TrapReceiver, _ bytes: [UInt8], at seconds: Int64 = 100, replies: inout [[UInt8]]) -> TrapOutcome {
        r.receive(bytes.span.bytes, from: source, receivedMicros: start + seconds * 1_000_000) { reply in
            replies.append(BER.copy(reply, 0..<reply.byteCount))
        }
    }

    static func notification(_ o: TrapOutcome, sourceLocation: SourceLocation = #_sourceLocation) -> SNMPNotification? {
        guard case .notification(let n) = o else {
            Issue.record("expected a notification, got \(o)", sourceLocation: sourceLocation)
            return nil
        }
        return n
    }

    static func rejection(_ o: TrapOutcome) -> TrapRejection? {
        if case .rejected(let r) = o { return r }
        return nil
    }

    @Test func v1TrapFromNetSNMP() throws {
        var r = try TrapReceiver(config: Self.config())
        var replies: [[UInt8]] = []
        let n = try #require(Self.notification(Self.feed(&r, SNMPFixtures.v1Trap, replies: &replies)))
        #expect(n.version == .v1 && n.version.number == 1 && n.kind == .trap && n.community == "public")
        #expect(n.enterprise == "1.3.6.1.4.1.8072.2.3" && n.agentAddress == IPAddress("192.0.2.7"))
        #expect(n.genericTrap == 6 && n.specificTrap == 17 && n.uptime == 4242 && n.requestID == nil)
        // RFC 3584 §3.1: enterpriseSpecific → enterprise.0.specific.
        #expect(n.trapOID == "1.3.6.1.4.1.8072.2.3.0.17")
        #expect(n.userName == nil && n.securityLevel == nil && n.contextEngineID == nil)
        #expect(n.varbindCount == 2)
        #expect(n.varbindsJSON == #"[{"oid":"1.3.6.1.2.1.1.5.0","type":"OctetString","value":"r1"},{"oid":"1.3.6.1.2.1.2.2.1.1.3","type":"Integer","value":-5}]"#)
        #expect(replies.isEmpty)
        #expect(r.stats[.received] == 1 && r.stats[.versionV1] == 1 && r.stats[.trapsV1] == 1)
    }

    @Test(arguments: 0..<6)
    func genericV1TrapsMapToSnmpTraps(generic: Int32) throws {
        var e = BEREncoder()
        e.communityMessage(version: .v1, community: Array("public".utf8)) { e in
            e.trapV1PDU(enterprise: "1.3.6.1.4.1.9", agentAddress: 0x0a00_0001, genericTrap: generic, specificTrap: 0, timeStamp: 1, varbinds: [])
        }
        var r = try TrapReceiver(config: Self.config())
        var replies: [[UInt8]] = []
        let n = try #require(Self.notification(Self.feed(&r, e.bytes, replies: &replies)))
        // coldStart(0) … egpNeighborLoss(5) → snmpTraps.1 … .6.
        #expect(n.trapOID == "1.3.6.1.6.3.1.1.5.\(generic + 1)")
        #expect(n.varbindCount == 0 && n.varbindsJSON == "[]")
    }

    @Test func v2cTrapFromNetSNMP() throws {
        var r = try TrapReceiver(config: Self.config(communities: ["private", "public"]))
        var replies: [[UInt8]] = []
        let n = try #require(Self.notification(Self.feed(&r, SNMPFixtures.v2cTrap, replies: &replies)))
        #expect(n.version == .v2c && n.kind == .trap && n.community == "public" && n.requestID == 0x0857_c42d)
        #expect(n.uptime == 123 && n.trapOID == "1.3.6.1.4.1.8072.2.3.0.1" && n.agentAddress == nil && n.enterprise == nil)
        #expect(n.source == Self.source && n.receivedMicros == Self.start + 100_000_000)
        #expect(n.varbinds == [
            SNMPVarBind("1.3.6.1.2.1.1.5.0", .octetString(Array("hello".utf8))),
            SNMPVarBind("1.3.6.1.2.1.2.2.1.10.1", .counter32(42)),
            SNMPVarBind("1.3.6.1.4.1.1.1", .counter64(12_345_678_901_234)),
        ])
        var json: [UInt8] = Array("prefix:".utf8)
        n.appendVarbindsJSON(to: &json)
        #expect(String(decoding: json, as: UTF8.self) == "prefix:" + #"[{"oid":"1.3.6.1.2.1.1.5.0","type":"OctetString","value":"hello"},{"oid":"1.3.6.1.2.1.2.2.1.10.1","type":"Counter32","value":42},{"oid":"1.3.6.1.4.1.1.1","type":"Counter64","value":12345678901234}]"#)
        #expect(r.stats[.trapsV2] == 1 && r.stats[.versionV2c] == 1 && r.stats[.missingUptime] == 0)
    }

    @Test func v2cInformIsAnsweredWithTheSameVarbinds() throws {
        let inform = communityMessage(.v2c, .informRequest, requestID: 0x1234_5678, v2Header() + [SNMPVarBind("1.3.6.1.2.1.1.5.0", .octetString(Array("x".utf8)))])
        var r = try TrapReceiver(config: Self.config())
        var replies: [[UInt8]] = []
        let n = try #require(Self.notification(Self.feed(&r, inform, replies: &replies)))
        #expect(n.kind == .inform && n.requestID == 0x1234_5678 && n.trapOID == "1.3.6.1.6.3.1.1.5.4" && n.varbindCount == 1)
        // RFC 3416 §4.2.7: same request-id, error-status and -index 0, same varbinds: byte for byte the
        // inform with the PDU tag changed to Response.
        var expected = inform
        expected[expected.firstIndex(of: SNMPPDUType.informRequest.rawValue)!] = SNMPPDUType.response.rawValue
        #expect(replies == [expected])
        #expect(r.stats[.informs] == 1 && r.stats[.informsAcknowledged] == 1)
    }

    @Test func missingHeaderVarbindsAreCountedAndTheRestKept() throws {
        var r = try TrapReceiver(config: Self.config())
        var replies: [[UInt8]] = []
        let body = [SNMPVarBind("1.3.6.1.2.1.1.5.0", .octetString(Array("a".utf8))), SNMPVarBind("1.3.6.1.2.1.1.6.0", .integer(1))]
        let none = try #require(Self.notification(Self.feed(&r, communityMessage(.v2c, .snmpV2Trap, body), replies: &replies)))
        #expect(none.uptime == nil && none.trapOID == nil && none.varbinds == body)
        // snmpTrapOID.0 first, without sysUpTime.0.
        let oidOnly = try #require(Self.notification(Self.feed(&r, communityMessage(.v2c, .snmpV2Trap, [v2Header()[1]] + body), replies: &replies)))
        #expect(oidOnly.uptime == nil && oidOnly.trapOID == "1.3.6.1.6.3.1.1.5.4" && oidOnly.varbinds == body)
        // sysUpTime.0 with the wrong type is not the uptime.
        let wrongType = [SNMPVarBind(SNMPOIDs.sysUpTime0, .integer(5))] + body
        let w = try #require(Self.notification(Self.feed(&r, communityMessage(.v2c, .snmpV2Trap, wrongType), replies: &replies)))
        #expect(w.uptime == nil && w.varbindCount == 3)
        #expect(r.stats[.missingUptime] == 3 && r.stats[.missingTrapOID] == 2)
    }

    @Test func rejectionsAreCountedByKind() throws {
        var r = try TrapReceiver(config: Self.config(communities: ["secret"], maxVarbinds: 3))
        var replies: [[UInt8]] = []
        #expect(Self.rejection(Self.feed(&r, SNMPFixtures.v2cTrap, replies: &replies)) == .badCommunity)
        let get = communityMessage(.v2c, .getRequest, community: "secret", [SNMPVarBind("1.3.6.1.2.1.1.5.0", .null)])
        #expect(Self.rejection(Self.feed(&r, get, replies: &replies)) == .unexpectedPDU(tag: 0xa0))
        let v1WithV2Trap = communityMessage(.v1, .snmpV2Trap, community: "secret", v2Header())
        #expect(Self.rejection(Self.feed(&r, v1WithV2Trap, replies: &replies)) == .unexpectedPDU(tag: 0xa7))
        let v2 = [UInt8]([0x30, 0x05, 0x02, 0x01, 0x02, 0x05, 0x00])
        #expect(Self.rejection(Self.feed(&r, v2, replies: &replies)) == .unknownVersion(2))
        let many = communityMessage(.v2c, .snmpV2Trap, community: "secret", v2Header() + (0..<2).map { SNMPVarBind(OID([1, 3, 6, 1, UInt32($0)]), .null) })
        guard case .malformed(let e) = Self.rejection(Self.feed(&r, many, replies: &replies)) else {
            Issue.record("4 varbinds with a limit of 3 should be malformed")
            return
        }
        #expect(e.field == .varbindList)
        #expect(Self.rejection(Self.feed(&r, [0x30, 0x00], replies: &replies)) == .malformed(SNMPDecodeError(.version, .truncated(at: 2, needed: 4, available: 2))))
        #expect(replies.isEmpty)
        let s = r.stats
        #expect(s[.received] == 6 && s[.badCommunity] == 1 && s[.unexpectedPDU] == 2 && s[.unknownVersion] == 1 && s[.malformed] == 2)
        #expect(s.malformed(at: .varbindList) == 1 && s.malformed(at: .version) == 1)
        #expect(s.fields.contains { $0 == ("malformed_varbind_list", 1) })
    }

    @Test func jsonOfEveryValueType() throws {
        let body: [SNMPVarBind] = [
            SNMPVarBind("1.3.6.1.9.1", .octetString(Array("say \"hi\"\tnow\n\\ é".utf8))),
            SNMPVarBind("1.3.6.1.9.2", .octetString([0x41, 0x00, 0x42])),
            SNMPVarBind("1.3.6.1.9.3", .octetString([0xc3, 0x28])),
            SNMPVarBind("1.3.6.1.9.4", .octetString([])),
            SNMPVarBind("1.3.6.1.9.5", .integer(-2_147_483_648)),
            SNMPVarBind("1.3.6.1.9.6", .counter64(UInt64.max)),
            SNMPVarBind("1.3.6.1.9.7", .gauge32(4_294_967_295)),
            SNMPVarBind("1.3.6.1.9.8", .timeTicks(0)),
            SNMPVarBind("1.3.6.1.9.9", .ipAddress(0x0a01_02ff)),
            SNMPVarBind("1.3.6.1.9.10", .objectIdentifier("1.3.6.1.4.1.4294967295")),
            SNMPVarBind("1.3.6.1.9.11", .null),
            SNMPVarBind("1.3.6.1.9.12", .noSuchObject),
            SNMPVarBind("1.3.6.1.9.13", .noSuchInstance),
            SNMPVarBind("1.3.6.1.9.14", .endOfMibView),
            SNMPVarBind("1.3.6.1.9.15", .opaque([0x9f, 0x78])),
            SNMPVarBind("1.3.6.1.9.16", .other(tag: 0x47, [0x01, 0x02])),
            SNMPVarBind("1.3.6.1.9.17", .octetString([0x7f])),
        ]
        var r = try TrapReceiver(config: Self.config())
        var replies: [[UInt8]] = []
        let n = try #require(Self.notification(Self.feed(&r, communityMessage(.v2c, .snmpV2Trap, v2Header() + body), replies: &replies)))
        #expect(n.varbinds == body)
        let expected = "["
            + #"{"oid":"1.3.6.1.9.1","type":"OctetString","value":"say \"hi\"\tnow\n\\ é"},"#
            + #"{"oid":"1.3.6.1.9.2","type":"OctetString","value":"410042","hex":true},"#
            + #"{"oid":"1.3.6.1.9.3","type":"OctetString","value":"c328","hex":true},"#
            + #"{"oid":"1.3.6.1.9.4","type":"OctetString","value":""},"#
            + #"{"oid":"1.3.6.1.9.5","type":"Integer","value":-2147483648},"#
            + #"{"oid":"1.3.6.1.9.6","type":"Counter64","value":18446744073709551615},"#
            + #"{"oid":"1.3.6.1.9.7","type":"Gauge32","value":4294967295},"#
            + #"{"oid":"1.3.6.1.9.8","type":"TimeTicks","value":0},"#
            + #"{"oid":"1.3.6.1.9.9","type":"IpAddress","value":"10.1.2.255"},"#
            + #"{"oid":"1.3.6.1.9.10","type":"ObjectIdentifier","value":"1.3.6.1.4.1.4294967295"},"#
            + #"{"oid":"1.3.6.1.9.11","type":"Null","value":null},"#
            + #"{"oid":"1.3.6.1.9.12","type":"NoSuchObject","value":null},"#
            + #"{"oid":"1.3.6.1.9.13","type":"NoSuchInstance","value":null},"#
            + #"{"oid":"1.3.6.1.9.14","type":"EndOfMibView","value":null},"#
            + #"{"oid":"1.3.6.1.9.15","type":"Opaque","value":"9f78","hex":true},"#
            + #"{"oid":"1.3.6.1.9.16","type":"Unknown","value":"0102","hex":true,"tag":71},"#
            + #"{"oid":"1.3.6.1.9.17","type":"OctetString","value":"7f","hex":true}"#
            + "]"
        #expect(n.varbindsJSON == expected)
    }

    // MARK: v3

    static let trapUser = USMUser(name: "trapuser", auth: .sha1, authPassphrase: "authpass123", priv: .aes128, privPassphrase: "privpass123")

    @Test func v3AuthPrivTrapFromNetSNMP() throws {
        var r = try TrapReceiver(config: Self.config(users: [Self.trapUser]))
        var replies: [[UInt8]] = []
        let n = try #require(Self.notification(Self.feed(&r, SNMPFixtures.v3AuthPrivTrap, replies: &replies)))
        #expect(n.version == .v3 && n.kind == .trap && n.userName == "trapuser" && n.securityLevel == .authPriv)
        #expect(n.securityEngineID == [0x80, 0, 0, 0, 1, 2, 3, 4])
        // snmptrap puts its own (random, net-snmp format) engine ID in the ScopedPDU, not -e's.
        #expect(n.contextEngineID == hexBytes("80001f8880f1277156839102 6b00000000"))
        #expect(n.contextName == "")
        #expect(n.uptime == 4242 && n.trapOID == "1.3.6.1.6.3.1.1.5.3" && n.community == nil)
        #expect(n.varbinds == [SNMPVarBind("1.3.6.1.2.1.2.2.1.1.3", .integer(3))])
        #expect(replies.isEmpty && r.stats[.versionV3] == 1 && r.stats[.trapsV2] == 1)
        // The same datagram again uses the cached localized keys.
        #expect(r.keyCache.count == 1)
        _ = Self.feed(&r, SNMPFixtures.v3AuthPrivTrap, replies: &replies)
        #expect(r.keyCache.count == 1 && r.stats[.trapsV2] == 2)
    }

    @Test func v3UsmFailuresOnNetSNMPsTrap() throws {
        var replies: [[UInt8]] = []
        var wrongAuth = Self.trapUser
        wrongAuth.authPassphrase = "authpass124"
        var r1 = try TrapReceiver(config: Self.config(users: [wrongAuth]))
        #expect(Self.rejection(Self.feed(&r1, SNMPFixtures.v3AuthPrivTrap, replies: &replies)) == .wrongDigest)
        #expect(r1.stats[.usmWrongDigests] == 1)
        var wrongPriv = Self.trapUser
        wrongPriv.privPassphrase = "privpass124"
        var r2 = try TrapReceiver(config: Self.config(users: [wrongPriv]))
        #expect(Self.rejection(Self.feed(&r2, SNMPFixtures.v3AuthPrivTrap, replies: &replies)) == .decryptionError)
        #expect(r2.stats[.usmDecryptionErrors] == 1)
        var other = Self.trapUser
        other.name = "someone"
        var r3 = try TrapReceiver(config: Self.config(users: [other]))
        #expect(Self.rejection(Self.feed(&r3, SNMPFixtures.v3AuthPrivTrap, replies: &replies)) == .unknownUserName)
        #expect(r3.stats[.usmUnknownUserNames] == 1)
        var md5 = Self.trapUser
        md5.authProtocol = .md5
        var r4 = try TrapReceiver(config: Self.config(users: [md5]))
        #expect(Self.rejection(Self.feed(&r4, SNMPFixtures.v3AuthPrivTrap, replies: &replies)) == .wrongDigest)
        var authOnly = Self.trapUser
        authOnly.privProtocol = nil
        var r5 = try TrapReceiver(config: Self.config(users: [authOnly]))
        #expect(Self.rejection(Self.feed(&r5, SNMPFixtures.v3AuthPrivTrap, replies: &replies)) == .unsupportedSecurityLevel)
        #expect(r5.stats[.usmUnsupportedSecLevels] == 1)
        // Traps are not reportable: no Reports for any of these.
        #expect(replies.isEmpty)
    }

    @Test func v3SecurityLevelsAndFlags() throws {
        let agentEngine = hexBytes("8000000001aabbcc")
        let users = [
            USMUser(name: "open"),
            USMUser(name: "strict", auth: .sha256, authPassphrase: "0123456789", priv: .aes128, privPassphrase: "9876543210"),
            USMUser(name: "lenient", auth: .sha256, authPassphrase: "0123456789", minimumSecurityLevel: .noAuthNoPriv),
        ]
        var r = try TrapReceiver(config: Self.config(users: users))
        var replies: [[UInt8]] = []
        let trap = scopedPDU(contextEngineID: agentEngine, .snmpV2Trap, requestID: 9, v2Header())
        let open = TestUSMAgent(user: "open")
        let n = try #require(Self.notification(Self.feed(&r, open.message(engineID: agentEngine, level: .noAuthNoPriv, scoped: trap), replies: &replies)))
        #expect(n.userName == "open" && n.securityLevel == .noAuthNoPriv && n.requestID == 9)
        // A user with keys may not send below its level unless configured to.
        let strict = TestUSMAgent(user: "strict", auth: (.sha256, "0123456789"), priv: (.aes128, "9876543210"))
        #expect(Self.rejection(Self.feed(&r, strict.message(engineID: agentEngine, level: .authNoPriv, scoped: trap), replies: &replies)) == .unsupportedSecurityLevel)
        #expect(Self.notification(Self.feed(&r, strict.message(engineID: agentEngine, level: .authPriv, scoped: trap), replies: &replies))?.securityLevel == .authPriv)
        let lenient = TestUSMAgent(user: "lenient", auth: (.sha256, "0123456789"))
        #expect(Self.notification(Self.feed(&r, lenient.message(engineID: agentEngine, level: .noAuthNoPriv, scoped: trap), replies: &replies))?.securityLevel == .noAuthNoPriv)
        #expect(Self.rejection(Self.feed(&r, open.message(engineID: agentEngine, level: .authNoPriv, scoped: trap), replies: &replies)) == .unsupportedSecurityLevel)
        // msgFlags with privacy but not authentication.
        var bad = open.message(engineID: agentEngine, level: .noAuthNoPriv, scoped: trap)
        let flagsAt = 2 + 3 + 2 + 3 + 5 + 2  // message, version, HeaderData, msgID 77, msgMaxSize 65507, OCTET STRING header
        #expect(bad[flagsAt] == 0)
        bad[flagsAt] = 0x02
        #expect(Self.rejection(Self.feed(&r, bad, replies: &replies)) == .invalidMsgFlags(0x02))
        #expect(replies.isEmpty)
    }

    @Test func v3EngineDiscoveryGetsAReport() throws {
        var r = try TrapReceiver(config: Self.config(users: [Self.trapUser]))
        var replies: [[UInt8]] = []
        // RFC 3414 §4: noAuthNoPriv, reportable, empty engine ID and user, empty varbind list.
        let probe = TestUSMAgent(user: "").message(
            engineID: [], boots: 0, time: 0, level: .noAuthNoPriv, reportable: true, msgID: 4711,
            scoped: scopedPDU(contextEngineID: [], .getRequest, requestID: 31, []))
        #expect(Self.rejection(Self.feed(&r, probe, at: 42, replies: &replies)) == .unknownEngineID)
        #expect(replies.count == 1)
        let (h, p, scoped) = try TestUSMAgent(user: "").open(replies[0], engineID: Self.engineID)
        #expect(h.msgID == 4711 && h.flags == 0 && h.securityModel == 3)
        let reply = replies[0]
        let rb = reply.span.bytes
        #expect(BER.copyValue(rb, p.engineID) == Self.engineID && p.engineBoots == 5 && p.engineTime == 42)
        let sb = scoped.span.bytes
        let s = try SNMPMessage.parseScopedPDU(sb, at: 0, end: sb.byteCount, allowTrailing: false)
        #expect(BER.copyValue(sb, s.contextEngineID) == Self.engineID)
        let pdu = try SNMPMessage.parsePDU(sb, s.pdu)
        #expect(pdu.type == .report && pdu.requestID == 31)
        var c = SNMPVarBindCursor(pdu.varbindList, maxVarbinds: 4)
        let vb = try #require(try c.next(sb))
        #expect(OID(sb, vb.name) == SNMPOIDs.usmStatsUnknownEngineIDs && SNMPValue(sb, vb.value) == .counter32(1))
        #expect(r.stats[.usmUnknownEngineIDs] == 1 && r.stats[.reportsSent] == 1)
    }

    @Test(arguments: [
        (SNMPAuthProtocol.md5, SNMPPrivProtocol.des), (.sha1, .aes128), (.sha224, .aes192), (.sha256, .aes256), (.sha384, .aes128), (.sha512, .des),
    ])
    func v3InformIsAnsweredAuthenticatedAndEncrypted(auth: SNMPAuthProtocol, priv: SNMPPrivProtocol) throws {
        let user = USMUser(name: "inf", auth: auth, authPassphrase: "auth-\(auth.rawValue)", priv: priv, privPassphrase: "priv-\(priv.rawValue)")
        var r = try TrapReceiver(config: Self.config(users: [user]))
        let agent = TestUSMAgent(user: "inf", auth: (auth, "auth-\(auth.rawValue)"), priv: (priv, "priv-\(priv.rawValue)"))
        let body = v2Header(uptime: 77, trap: "1.3.6.1.4.1.99999.0.1") + [SNMPVarBind("1.3.6.1.9.1", .counter64(5))]
        let inform = agent.message(
            engineID: Self.engineID, boots: 5, time: 120, level: .authPriv, reportable: true, msgID: 99,
            scoped: scopedPDU(contextEngineID: Self.engineID, contextName: "ctx", .informRequest, requestID: -3, body))
        var replies: [[UInt8]] = []
        let n = try #require(Self.notification(Self.feed(&r, inform, at: 100, replies: &replies)))
        #expect(n.kind == .inform && n.requestID == -3 && n.contextName == "ctx" && n.trapOID == "1.3.6.1.4.1.99999.0.1" && n.uptime == 77)
        #expect(n.varbinds == [SNMPVarBind("1.3.6.1.9.1", .counter64(5))])
        #expect(replies.count == 1)
        let (h, p, scoped) = try agent.open(replies[0], engineID: Self.engineID)
        #expect(h.msgID == 99 && h.securityLevel == .authPriv && !h.reportable)
        #expect(p.engineBoots == 5 && p.engineTime == 100)
        let sb = scoped.span.bytes
        let s = try SNMPMessage.parseScopedPDU(sb, at: 0, end: sb.byteCount, allowTrailing: true)
        #expect(BER.copyValue(sb, s.contextName) == Array("ctx".utf8))
        let pdu = try SNMPMessage.parsePDU(sb, s.pdu)
        #expect(pdu.type == .response && pdu.requestID == -3 && pdu.errorStatus == 0)
        var c = SNMPVarBindCursor(pdu.varbindList, maxVarbinds: 8)
        var back: [SNMPVarBind] = []
        while let vb = try c.next(sb) { back.append(SNMPVarBind(OID(sb, vb.name), SNMPValue(sb, vb.value))) }
        #expect(back == body)
        #expect(r.stats[.informsAcknowledged] == 1)
    }

    @Test func v3InformOutsideTheTimeWindowGetsAnAuthenticatedReport() throws {
        let user = USMUser(name: "inf", auth: .sha256, authPassphrase: "authpassword", priv: .aes128, privPassphrase: "privpassword")
        var r = try TrapReceiver(config: Self.config(users: [user]))
        let agent = TestUSMAgent(user: "inf", auth: (.sha256, "authpassword"), priv: (.aes128, "privpassword"))
        let scoped = scopedPDU(contextEngineID: Self.engineID, .informRequest, requestID: 1, v2Header())
        var replies: [[UInt8]] = []
        // 151 s ahead, then the wrong boots: both outside (RFC 3414 §3.2 step 7a); 150 s is inside.
        for (boots, time) in [(Int32(5), Int32(251)), (4, 100)] {
            let m = agent.message(engineID: Self.engineID, boots: boots, time: time, level: .authPriv, reportable: true, scoped: scoped)
            #expect(Self.rejection(Self.feed(&r, m, at: 100, replies: &replies)) == .notInTimeWindow)
        }
        #expect(replies.count == 2)
        let (h, p, sc) = try agent.open(replies[0], engineID: Self.engineID)
        #expect(h.securityLevel == .authNoPriv && p.engineBoots == 5 && p.engineTime == 100)
        let sb = sc.span.bytes
        let pdu = try SNMPMessage.parsePDU(sb, SNMPMessage.parseScopedPDU(sb, at: 0, end: sb.byteCount, allowTrailing: false).pdu)
        var c = SNMPVarBindCursor(pdu.varbindList, maxVarbinds: 4)
        let vb = try #require(try c.next(sb))
        #expect(pdu.type == .report && OID(sb, vb.name) == SNMPOIDs.usmStatsNotInTimeWindows && SNMPValue(sb, vb.value) == .counter32(1))
        let inside = agent.message(engineID: Self.engineID, boots: 5, time: 250, level: .authPriv, reportable: true, scoped: scoped)
        #expect(Self.notification(Self.feed(&r, inside, at: 100, replies: &replies)) != nil)
        #expect(r.stats[.usmNotInTimeWindows] == 2 && r.stats[.reportsSent] == 2 && r.stats[.informsAcknowledged] == 1)
    }

    @Test func v3ReportsForReportableMessagesToThisEngine() throws {
        var r = try TrapReceiver(config: Self.config(users: [Self.trapUser]))
        var replies: [[UInt8]] = []
        let scoped = scopedPDU(contextEngineID: Self.engineID, .informRequest, requestID: 1, v2Header())
        let stranger = TestUSMAgent(user: "stranger", auth: (.sha1, "authpass123"))
        #expect(Self.rejection(Self.feed(&r, stranger.message(engineID: Self.engineID, boots: 5, time: 100, level: .authNoPriv, reportable: true, scoped: scoped), replies: &replies)) == .unknownUserName)
        let liar = TestUSMAgent(user: "trapuser", auth: (.sha1, "not the password"), priv: (.aes128, "privpass123"))
        #expect(Self.rejection(Self.feed(&r, liar.message(engineID: Self.engineID, boots: 5, time: 100, level: .authPriv, reportable: true, scoped: scoped), replies: &replies)) == .wrongDigest)
        // An inform for some other engine: the sender has a stale engine ID and must rediscover.
        let good = TestUSMAgent(user: "trapuser", auth: (.sha1, "authpass123"), priv: (.aes128, "privpass123"))
        #expect(Self.rejection(Self.feed(&r, good.message(engineID: hexBytes("8000000001aabbcc"), level: .authPriv, reportable: true, scoped: scoped), replies: &replies)) == .unknownEngineID)
        let oids = try replies.map { reply -> OID in
            let (_, _, sc) = try TestUSMAgent(user: "").open(reply, engineID: Self.engineID)
            let sb = sc.span.bytes
            let pdu = try SNMPMessage.parsePDU(sb, SNMPMessage.parseScopedPDU(sb, at: 0, end: sb.byteCount, allowTrailing: false).pdu)
            var c = SNMPVarBindCursor(pdu.varbindList, maxVarbinds: 4)
            return OID(sb, try c.next(sb)!.name)
        }
        #expect(oids == [SNMPOIDs.usmStatsUnknownUserNames, SNMPOIDs.usmStatsWrongDigests, SNMPOIDs.usmStatsUnknownEngineIDs])
        // A non-reportable inform to another engine is dropped silently.
        #expect(Self.rejection(Self.feed(&r, good.message(engineID: hexBytes("8000000001aabbcc"), level: .authPriv, scoped: scoped), replies: &replies)) == .unknownEngineID)
        #expect(replies.count == 3)
    }

    @Test func configurationIsChecked() {
        let engine = SNMPEngineIdentity(engineID: Self.engineID, boots: 1, startMicros: 0)
        func error(_ c: TrapReceiverConfig) -> String? {
            do {
                _ = try TrapReceiver(config: c)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(error(TrapReceiverConfig(engine: SNMPEngineIdentity(engineID: [1, 2, 3], boots: 1, startMicros: 0))) == "snmp engine ID must be 5…32 bytes, got 3")
        #expect(error(TrapReceiverConfig(users: [USMUser(name: "u", auth: .sha1, authPassphrase: "short")], engine: engine))
            == "usm user \"u\": auth passphrase must be at least 8 characters, got 5")
        #expect(error(TrapReceiverConfig(users: [USMUser(name: "u", priv: .aes128, privPassphrase: "longenough")], engine: engine))
            == "usm user \"u\": privacy needs an auth protocol")
        #expect(error(TrapReceiverConfig(users: [USMUser(name: "u"), USMUser(name: "u")], engine: engine)) == "usm user \"u\" is configured twice")
        #expect(error(TrapReceiverConfig(users: [USMUser(name: "u", minimumSecurityLevel: .authNoPriv)], engine: engine))
            == "usm user \"u\": minimum security level authNoPriv is above what the user is configured for (noAuthNoPriv)")
        let id = SNMPEngineIdentity.generateEngineID(enterprise: 8072)
        #expect(id.count == 17 && Array(id.prefix(5)) == [0x80, 0x00, 0x1f, 0x88, 0x05])
        #expect(engine.engineTime(atMicros: 2_500_000) == 2 && engine.engineTime(atMicros: -5) == 0)
    }

    @Test func everyTruncationIsRejectedWithoutCrashing() throws {
        let agent = TestUSMAgent(user: "trapuser", auth: (.sha1, "authpass123"), priv: (.aes128, "privpass123"))
        let inform = agent.message(
            engineID: Self.engineID, boots: 5, time: 100, level: .authPriv, reportable: true,
            scoped: scopedPDU(contextEngineID: Self.engineID, .informRequest, requestID: 1, v2Header()))
        let v2cInform = communityMessage(.v2c, .informRequest, v2Header())
        var r = try TrapReceiver(config: Self.config(users: [Self.trapUser]))
        var replies: [[UInt8]] = []
        for f in [SNMPFixtures.v1Trap, SNMPFixtures.v2cTrap, SNMPFixtures.v3AuthPrivTrap, inform, v2cInform] {
            #expect(Self.notification(Self.feed(&r, f, replies: &replies)) != nil)
            for n in 0..<f.count {
                if case .notification = Self.feed(&r, Array(f.prefix(n)), replies: &replies) {
                    Issue.record("a \(n)-byte prefix of a \(f.count)-byte message decoded")
                }
            }
            // Every single-byte change either decodes or is rejected; none may trap.
            for i in 0..<f.count {
                var g = f
                g[i] ^= 0x41
                _ = Self.feed(&r, g, replies: &replies)
            }
        }
    }
}
