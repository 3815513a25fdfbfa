// The message layers over net-snmp's own datagrams (SNMPFixtures) and over messages built with the
// encoder: every field where it should be, and errors that name the field.
import Testing

@testable import Poller

@Suite("SNMP messages")
struct SNMPMessageTests {
    @Test func v2cTrapFromNetSNMP() throws {
        let bytes = SNMPFixtures.v2cTrap
        let b = bytes.span.bytes
        guard case .community(let version, let community, let pduTLV) = try SNMPMessage.parseHeader(b) else {
            Issue.record("not a community message")
            return
        }
        #expect(version == .v2c)
        #expect(BER.copyValue(b, community) == Array("public".utf8))
        let pdu = try SNMPMessage.parsePDU(b, pduTLV)
        #expect(pdu.type == .snmpV2Trap && pdu.requestID == 0x0857_c42d && pdu.errorStatus == 0 && pdu.errorIndex == 0)
        var c = SNMPVarBindCursor(pdu.varbindList, maxVarbinds: 10)
        var got: [SNMPVarBind] = []
        while let vb = try c.next(b) { got.append(SNMPVarBind(OID(b, vb.name), SNMPValue(b, vb.value))) }
        #expect(got == [
            SNMPVarBind(SNMPOIDs.sysUpTime0, .timeTicks(123)),
            SNMPVarBind(SNMPOIDs.snmpTrapOID0, .objectIdentifier("1.3.6.1.4.1.8072.2.3.0.1")),
            SNMPVarBind("1.3.6.1.2.1.1.5.0", .octetString(Array("hello".utf8))),
            SNMPVarBind("1.3.6.1.2.1.2.2.1.10.1", .counter32(42)),
            SNMPVarBind("1.3.6.1.4.1.1.1", .counter64(12_345_678_901_234)),
        ])
    }

    @Test func v1TrapFromNetSNMP() throws {
        let bytes = SNMPFixtures.v1Trap
        let b = bytes.span.bytes
        guard case .community(.v1, _, let pduTLV) = try SNMPMessage.parseHeader(b) else {
            Issue.record("not a v1 message")
            return
        }
        let t = try SNMPMessage.parseTrapV1(b, pduTLV)
        #expect(BER.oidText(b, t.enterprise) == "1.3.6.1.4.1.8072.2.3")
        #expect(t.agentAddress == 0xc000_0207 && t.genericTrap == 6 && t.specificTrap == 17 && t.timeStamp == 4242)
        // The v1 Trap-PDU has no request-id: parsePDU refuses it.
        #expect(throws: SNMPDecodeError.self) { try SNMPMessage.parsePDU(b, pduTLV) }
    }

    @Test func v3HeaderAndUSMParametersFromNetSNMP() throws {
        let bytes = SNMPFixtures.v3AuthPrivTrap
        let b = bytes.span.bytes
        guard case .v3(let h) = try SNMPMessage.parseHeader(b) else {
            Issue.record("not a v3 message")
            return
        }
        #expect(h.msgID == 0x56cf_29b8 && h.maxSize == 65507 && h.flags == 0x03 && h.securityModel == 3)
        #expect(h.securityLevel == .authPriv && !h.reportable)
        #expect(h.msgData.tag == BERTag.octetString && h.msgData.length == 0x61)
        let p = try SNMPMessage.parseUSM(b, h)
        #expect(BER.copyValue(b, p.engineID) == [0x80, 0, 0, 0, 1, 2, 3, 4])
        #expect(p.engineBoots == 1 && p.engineTime == 0x277bee)
        #expect(BER.copyValue(b, p.userName) == Array("trapuser".utf8))
        #expect(p.authParameters.length == 12 && p.authParameters.valueStart == 0x3b)
        #expect(BER.copyValue(b, p.privParameters) == hexBytes("93d39f8c0c64a614"))
    }

    @Test func errorsNameTheField() {
        // A v2c message whose community is an INTEGER.
        let badCommunity: [UInt8] = [0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x05, 0xa7, 0x00]
        #expect(throws: SNMPDecodeError(.community, .unexpectedTag(at: 5, expected: 0x04, found: 0x02))) {
            try SNMPMessage.parseHeader(badCommunity.span.bytes)
        }
        // Trailing bytes after the message.
        let trailing = SNMPFixtures.v1Trap + [0x00]
        #expect(throws: SNMPDecodeError(.message, .trailingBytes(at: 77, count: 1))) {
            try SNMPMessage.parseHeader(trailing.span.bytes)
        }
        // A v3 msgMaxSize below 484.
        var e = BEREncoder()
        let m = e.begin(BERTag.sequence)
        e.integer(3)
        let g = e.begin(BERTag.sequence)
        e.integer(1)
        e.integer(100)
        e.octetString([0])
        e.integer(3)
        e.end(g)
        e.octetString([UInt8]())
        e.null()
        e.end(m)
        #expect(throws: SNMPDecodeError(.msgMaxSize, .outOfRange(at: 10, value: 100, allowed: 484...2_147_483_647))) {
            try SNMPMessage.parseHeader(e.bytes.span.bytes)
        }
    }

    @Test func unknownVersionIsNotMalformed() throws {
        // version 2 (SNMPv2u), then anything.
        let msg: [UInt8] = [0x30, 0x05, 0x02, 0x01, 0x02, 0x05, 0x00]
        guard case .unknownVersion(2) = try SNMPMessage.parseHeader(msg.span.bytes) else {
            Issue.record("version 2 should be reported as unknown")
            return
        }
    }

    @Test func encodedRequestsParseBack() throws {
        // What the poller will send: a GetBulk over v2c, and a Get with NULL values.
        var e = BEREncoder()
        e.communityMessage(version: .v2c, community: Array("public".utf8)) { e in
            e.pdu(.getBulkRequest, requestID: -7, errorStatus: 0, errorIndex: 25) { e in
                e.varbindList([SNMPVarBind("1.3.6.1.2.1.2.2.1.2", .null), SNMPVarBind("1.3.6.1.2.1.31.1.1.1.6", .null)])
            }
        }
        let b = e.bytes.span.bytes
        guard case .community(.v2c, _, let pduTLV) = try SNMPMessage.parseHeader(b) else {
            Issue.record("not v2c")
            return
        }
        let p = try SNMPMessage.parsePDU(b, pduTLV)
        #expect(p.type == .getBulkRequest && p.requestID == -7 && p.errorIndex == 25)
        var c = SNMPVarBindCursor(p.varbindList, maxVarbinds: 10)
        var n = 0
        while let vb = try c.next(b) {
            #expect(vb.value.tag == BERTag.null)
            n += 1
        }
        #expect(n == 2)
    }
}
