// The BER reader and writer: lengths, integers, unsigned types, OIDs, limits and round trips, with
// encodings written out by hand from X.690 and RFC 2578.
import Testing

@testable import Poller

/// Bytes from hex text (spaces and newlines ignored).
func hexBytes(_ s: String) -> [UInt8] {
    let digits = s.filter { $0.isHexDigit }
    precondition(digits.count % 2 == 0)
    var out: [UInt8] = []
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        out.append(UInt8(digits[i..<j], radix: 16)!)
        i = j
    }
    return out
}

/// Lowercase hex of bytes.
func hexString(_ b: [UInt8]) -> String {
    let d = Array("0123456789abcdef")
    return String(b.flatMap { [d[Int($0 >> 4)], d[Int($0 & 15)]] })
}

/// Runs `body` with the bytes as a RawSpan.
func withSpan<R>(_ bytes: [UInt8], _ body: (RawSpan) throws -> R) rethrows -> R {
    try body(bytes.span.bytes)
}

@Suite("BER codec")
struct BERTests {
    func tlv(_ bytes: [UInt8]) throws(BERError) -> BERTLV {
        try BER.readTLV(bytes.span.bytes, at: 0, end: bytes.count)
    }

    @Test func shortAndLongFormLengths() throws {
        let short = try tlv([0x04, 0x02, 0x61, 0x62])
        #expect(short.tag == 0x04 && short.valueStart == 2 && short.end == 4)
        // 0x81 0x80: one length octet, 128 bytes of value.
        let long = try tlv([0x04, 0x81, 0x80] + [UInt8](repeating: 0x41, count: 128))
        #expect(long.valueStart == 3 && long.length == 128)
        // A non-minimal long form (0x82 0x00 0x02) is legal BER and accepted.
        let padded = try tlv([0x04, 0x82, 0x00, 0x02, 0x61, 0x62])
        #expect(padded.valueStart == 4 && padded.length == 2)
    }

    @Test func badLengthsAreRejected() {
        #expect(throws: BERError.indefiniteLength(at: 0)) { try tlv([0x30, 0x80, 0x00, 0x00]) }
        #expect(throws: BERError.lengthTooLong(at: 0, lengthOctets: 5)) { try tlv([0x04, 0x85, 0, 0, 0, 0, 1, 0]) }
        #expect(throws: BERError.truncated(at: 0, needed: 5, available: 4)) { try tlv([0x04, 0x03, 0x61, 0x62]) }
        #expect(throws: BERError.truncated(at: 0, needed: 4, available: 3)) { try tlv([0x04, 0x82, 0x01]) }
        // A 4-octet length near 2^32 must not overflow the bounds check.
        #expect(throws: BERError.self) { try tlv([0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00]) }
        #expect(throws: BERError.multiByteTag(at: 0)) { try tlv([0x1f, 0x81, 0x00, 0x00]) }
        #expect(throws: BERError.truncated(at: 0, needed: 2, available: 1)) { try tlv([0x04]) }
    }

    @Test func integers() throws {
        // (encoding, value): X.690 8.3 two's complement, minimal.
        let cases: [([UInt8], Int64)] = [
            ([0x00], 0), ([0x7f], 127), ([0x00, 0x80], 128), ([0xff], -1), ([0x80], -128), ([0xff, 0x7f], -129),
            ([0x01, 0x00], 256), ([0x80, 0x00, 0x00, 0x00], Int64(Int32.min)), ([0x7f, 0xff, 0xff, 0xff], Int64(Int32.max)),
            ([0x80, 0, 0, 0, 0, 0, 0, 0], Int64.min), ([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], Int64.max),
        ]
        for (enc, v) in cases {
            let bytes = [0x02, UInt8(enc.count)] + enc
            #expect(try BER.integer(bytes.span.bytes, tlv(bytes)) == v, "\(enc)")
            var e = BEREncoder()
            e.integer(v)
            #expect(e.bytes == bytes, "encoding \(v)")
        }
        #expect(throws: BERError.badIntegerLength(at: 0, length: 0, allowed: 1...8)) {
            let b: [UInt8] = [0x02, 0x00]
            return try BER.integer(b.span.bytes, tlv(b))
        }
        #expect(throws: BERError.badIntegerLength(at: 0, length: 9, allowed: 1...8)) {
            let b: [UInt8] = [0x02, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 1]
            return try BER.integer(b.span.bytes, tlv(b))
        }
    }

    @Test func unsignedTypes() throws {
        func u(_ b: [UInt8], _ bits: Int) throws -> UInt64 { try BER.unsigned(b.span.bytes, tlv(b), bits: bits) }
        // Counter32 4294967295 needs the 0x00 sign octet: 41 05 00 ff ff ff ff.
        #expect(try u([0x41, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff], 32) == 0xffff_ffff)
        #expect(try u([0x43, 0x01, 0x00], 32) == 0)
        // Agents that forget the sign octet: ff ff ff ff read as the same bit pattern (as net-snmp does).
        #expect(try u([0x42, 0x04, 0xff, 0xff, 0xff, 0xff], 32) == 0xffff_ffff)
        #expect(try u([0x42, 0x01, 0xff], 32) == 0xffff_ffff)
        // Counter64 2^64-1: nine octets.
        #expect(try u([0x46, 0x09, 0x00] + [UInt8](repeating: 0xff, count: 8), 64) == UInt64.max)
        #expect(throws: BERError.self) { try u([0x41, 0x05, 0x01, 0, 0, 0, 0], 32) }
        #expect(throws: BERError.self) { try u([0x41, 0x06, 0, 0, 0, 0, 0, 0], 32) }
        for v: UInt64 in [0, 1, 127, 128, 255, 256, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff] {
            var e = BEREncoder()
            e.unsigned(v, tag: BERTag.counter32)
            #expect(try u(e.bytes, 32) == v)
        }
        for v: UInt64 in [0, 0x8000_0000_0000_0000, UInt64.max, 12_345_678_901_234] {
            var e = BEREncoder()
            e.unsigned(v, tag: BERTag.counter64)
            #expect(try u(e.bytes, 64) == v)
        }
    }

    /// OID(text) without literal coercion (SE-0213 would make `OID("…")` the literal initializer).
    func parse(_ text: String) -> OID? { OID(text) }

    @Test func oidEncodingsAndTheFirstOctetRule() throws {
        // 1.3.6.1.4.1.8072: 40*1+3 = 0x2b; 8072 = 0x3f 0x08 in base 128 → bf 08.
        let o: OID = "1.3.6.1.4.1.8072"
        #expect(o.encodedValue == [0x2b, 0x06, 0x01, 0x04, 0x01, 0xbf, 0x08])
        // 2.999.3 (X.690 8.19.5's example): 80+999 = 1079 = 0x88 0x37.
        #expect(parse("2.999.3")!.encodedValue == [0x88, 0x37, 0x03])
        // 0.39 and 1.39 are the largest second arcs under 0 and 1.
        #expect(parse("0.39")!.encodedValue == [0x27])
        #expect(parse("1.39")!.encodedValue == [0x4f])
        #expect(parse("0.40") == nil && parse("3.1") == nil && parse("1") == nil && parse("1..3") == nil && parse("1.3.a") == nil)
        // Arcs above 2^28 take five octets; 2^32-1 is the largest.
        let big: OID = "1.3.268435456.4294967295"
        #expect(big.encodedValue == [0x2b, 0x81, 0x80, 0x80, 0x80, 0x00, 0x8f, 0xff, 0xff, 0xff, 0x7f])
        #expect(parse("1.3.4294967296") == nil && parse("2.4294967216") == nil)
        for text in ["1.3.6.1.2.1.1.3.0", "0.0", "2.999.3", "1.3.268435456.4294967295", "2.4294967215"] {
            let oid = parse(text)!
            var e = BEREncoder()
            e.oid(oid)
            let t = try tlv(e.bytes)
            #expect(try BER.validateOID(e.bytes.span.bytes, t) == oid.arcs.count)
            #expect(BER.oidText(e.bytes.span.bytes, t) == text)
            #expect(OID(e.bytes.span.bytes, t) == oid)
        }
        #expect(parse(".1.3.6") == parse("1.3.6"))
    }

    @Test func badOIDsAreRejected() throws {
        func check(_ value: [UInt8]) throws(BERError) {
            var e = BEREncoder()
            e.octetString(value, tag: BERTag.objectIdentifier)
            try BER.validateOID(e.bytes.span.bytes, tlv(e.bytes))
        }
        #expect(throws: BERError.emptyOID(at: 0)) { try check([]) }
        #expect(throws: BERError.oidTruncatedArc(at: 0)) { try check([0x2b, 0x86]) }
        #expect(throws: BERError.oidNonMinimalArc(at: 4)) { try check([0x2b, 0x06, 0x80, 0x01]) }
        #expect(throws: BERError.oidArcTooLarge(at: 7)) { try check([0x2b, 0x90, 0x80, 0x80, 0x80, 0x00]) }
        // 128 arcs pass (the first octet is two), 129 do not.
        try check([0x2b] + [UInt8](repeating: 1, count: 126))
        #expect(throws: BERError.oidTooLong(at: 0, max: 128)) { try check([0x2b] + [UInt8](repeating: 1, count: 127)) }
    }

    @Test func everyValueTypeRoundTripsThroughAVarbindList() throws {
        let varbinds: [SNMPVarBind] = [
            SNMPVarBind("1.3.6.1.2.1.1.5.0", .octetString(Array("router-1".utf8))),
            SNMPVarBind("1.3.6.1.2.1.1.6.0", .octetString([0x00, 0xff, 0x10])),
            SNMPVarBind("1.3.6.1.2.1.2.2.1.1.1", .integer(-5)),
            SNMPVarBind("1.3.6.1.2.1.2.2.1.1.2", .integer(Int64(Int32.max))),
            SNMPVarBind("1.3.6.1.2.1.1.2.0", .objectIdentifier("1.3.6.1.4.1.8072.3.2.10")),
            SNMPVarBind("1.3.6.1.2.1.4.20.1.1.1", .ipAddress(0xc000_0207)),
            SNMPVarBind("1.3.6.1.2.1.2.2.1.10.1", .counter32(0xffff_ffff)),
            SNMPVarBind("1.3.6.1.2.1.2.2.1.5.1", .gauge32(1_000_000_000)),
            SNMPVarBind("1.3.6.1.2.1.1.3.0", .timeTicks(4242)),
            SNMPVarBind("1.3.6.1.4.1.2021.10.1.6.1", .opaque([0x9f, 0x78, 0x04, 0x3f, 0x80, 0x00, 0x00])),
            SNMPVarBind("1.3.6.1.2.1.31.1.1.1.6.1", .counter64(UInt64.max)),
            SNMPVarBind("1.3.6.1.2.1.1.1.0", .null),
            SNMPVarBind("1.3.6.1.2.1.1.99.0", .noSuchObject),
            SNMPVarBind("1.3.6.1.2.1.1.1.1", .noSuchInstance),
            SNMPVarBind("1.3.6.1.9", .endOfMibView),
            SNMPVarBind("1.3.6.1.9.1", .other(tag: 0x47, [0x01])),
        ]
        var e = BEREncoder()
        e.varbindList(varbinds)
        let b = e.bytes.span.bytes
        let list = try BER.readTLV(b, at: 0, end: b.byteCount)
        var cursor = SNMPVarBindCursor(list, maxVarbinds: 100)
        var decoded: [SNMPVarBind] = []
        while let vb = try cursor.next(b) { decoded.append(SNMPVarBind(OID(b, vb.name), SNMPValue(b, vb.value))) }
        #expect(decoded == varbinds)
    }

    @Test func longFormLengthsMoveTheTrackedOffset() throws {
        var e = BEREncoder()
        let outer = e.begin(BERTag.sequence)
        let inner = e.begin(BERTag.sequence)
        let at = e.placeholder(count: 12)
        e.octetString([UInt8](repeating: 0x41, count: 300))
        e.end(inner)
        e.end(outer)
        // Both sequences grew to long form (2 length octets each), shifting the placeholder by 4.
        #expect(at == 6 && e.tracked == 10)
        #expect(Array(e.bytes.prefix(4)) == [0x30, 0x82, 0x01, 0x42])
        #expect(try BER.walk(e.bytes.span.bytes) == 4)
        var m = e
        m.overwrite(at: m.tracked!, with: [UInt8](repeating: 0xee, count: 12))
        #expect(m.bytes[10] == 0xee && m.bytes[9] == 12)
        e.reset()
        #expect(e.count == 0 && e.tracked == nil)
    }

    @Test func walkBoundsNesting() throws {
        // 20 nested SEQUENCEs around a NULL.
        var bytes: [UInt8] = [0x05, 0x00]
        for _ in 0..<20 { bytes = [0x30, UInt8(bytes.count)] + bytes }
        #expect(try BER.walk(bytes.span.bytes, maxDepth: 32) == 21)
        #expect(throws: BERError.self) { try BER.walk(bytes.span.bytes, maxDepth: 16) }
    }

    @Test func tooManyVarbinds() throws {
        var e = BEREncoder()
        e.varbindList((0..<5).map { SNMPVarBind(OID([1, 3, 6, UInt32($0)]), .null) })
        let b = e.bytes.span.bytes
        var c = SNMPVarBindCursor(try BER.readTLV(b, at: 0, end: b.byteCount), maxVarbinds: 4)
        for _ in 0..<4 { _ = try c.next(b) }
        #expect(throws: SNMPDecodeError.self) { try c.next(b) }
    }

    @Test func valuesWithBadContentsAreRejected() throws {
        // An IpAddress of 3 bytes, a NULL with content, a constructed value.
        for value: [UInt8] in [[0x40, 0x03, 1, 2, 3], [0x05, 0x01, 0x00], [0x80, 0x01, 0x00], [0x30, 0x00], [0x41, 0x00]] {
            let vb: [UInt8] = [0x30, UInt8(5 + value.count), 0x06, 0x03, 0x2b, 0x06, 0x01] + value
            let list = [0x30, UInt8(vb.count)] + vb
            let b = list.span.bytes
            var c = SNMPVarBindCursor(try BER.readTLV(b, at: 0, end: b.byteCount), maxVarbinds: 4)
            #expect(throws: SNMPDecodeError.self, "\(value)") { try c.next(b) }
        }
    }

    @Test func walkingEveryTruncationOfAMessageThrowsAndNeverCrashes() {
        let fixtures = [SNMPFixtures.v2cTrap, SNMPFixtures.v1Trap, SNMPFixtures.v3AuthPrivTrap]
        for f in fixtures {
            #expect((try? BER.walk(f.span.bytes)) != nil)
            for n in 1..<f.count {
                let cut = Array(f.prefix(n))
                // A prefix of a single SEQUENCE is never a complete TLV run.
                #expect(throws: BERError.self) { try BER.walk(cut.span.bytes) }
                #expect(throws: SNMPDecodeError.self) { try SNMPMessage.parseHeader(cut.span.bytes) }
            }
        }
    }
}
