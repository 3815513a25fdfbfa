// The probe token, echo request layout and reply/error parsing, with packets built here byte by byte.
import Testing

@testable import Poller

@Suite("ICMP packets")
struct ICMPPacketTests {
    let key = SipHash24(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0908)

    @Test func sipHashMatchesThePapersVectors() {
        // Key 00 01 … 0f; messages 00 01 … (n-1). Vectors from the SipHash reference implementation.
        #expect(key.hash([]) == 0x726f_db47_dd0e_0e31)
        #expect(key.hash(Array(0..<15)) == 0xa129_ca61_49be_45e5)
        // The four-word fast path is the same function.
        let bytes: [UInt8] = Array(0..<32)
        func w(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[i * 8 + $1]) << (8 * UInt64($1)) } }
        #expect(key.hash(w(0), w(1), w(2), w(3)) == key.hash(bytes))
    }

    let token = ProbeToken(slot: 123_456, generation: 7, cycle: 42, probe: 2, sentNanos: 1_700_000_000_123_456_789)

    func request(v6: Bool, payload: Int = 56, seq: UInt16 = 9) -> [UInt8] {
        let codec = ICMPCodec(key: key, v6: v6)
        var buf = [UInt8](repeating: 0, count: 8 + payload)
        let n = buf.withUnsafeMutableBytes { raw in
            var span = raw.mutableBytes
            return codec.writeEchoRequest(into: &span, id: 0xbeef, seq: seq, token: token, payloadBytes: payload)
        }
        #expect(n == 8 + payload)
        return buf
    }

    /// A 20-byte IPv4 header from `src` to `dst` carrying `proto`.
    func ipv4Header(src: UInt32, dst: UInt32, proto: UInt8 = 1, length: Int) -> [UInt8] {
        var h: [UInt8] = [0x45, 0, UInt8(length >> 8), UInt8(length & 0xff), 0, 0, 0, 0, 64, proto, 0, 0]
        for a in [src, dst] { h += [UInt8(a >> 24), UInt8(a >> 16 & 0xff), UInt8(a >> 8 & 0xff), UInt8(a & 0xff)] }
        return h
    }

    func parse(_ bytes: [UInt8], v6: Bool, ipHeader: Bool) throws(ICMPParseError) -> ParsedICMP {
        let codec = ICMPCodec(key: key, v6: v6)
        let r: Result<ParsedICMP, ICMPParseError> = bytes.withUnsafeBytes { raw in
            Result { () throws(ICMPParseError) in try codec.parse(raw.bytes, withIPHeader: ipHeader) }
        }
        return try r.get()
    }

    @Test func echoRequestLayoutAndChecksum() {
        let r = request(v6: false)
        #expect(r[0] == 8 && r[1] == 0 && r[4] == 0xbe && r[5] == 0xef && r[6] == 0 && r[7] == 9)
        // A correct Internet checksum sums to zero over the whole message.
        #expect(r.withUnsafeBytes { ICMPCodec.checksum($0.bytes) } == 0)
        let r6 = request(v6: true)
        #expect(r6[0] == 128 && r6[2] == 0 && r6[3] == 0, "ICMPv6 checksums are the kernel's")
    }

    @Test func replyRoundTripsTheToken() throws {
        var reply = request(v6: false)
        reply[0] = 0  // echo reply; the checksum does not matter to the parser
        let packet = ipv4Header(src: 0x7f00_0002, dst: 0x7f00_0001, length: 20 + reply.count) + reply
        #expect(try parse(packet, v6: false, ipHeader: true) == .echoReply(id: 0xbeef, seq: 9, token: .valid(token)))
        // A datagram socket reads from the ICMP header on.
        #expect(try parse(reply, v6: false, ipHeader: false) == .echoReply(id: 0xbeef, seq: 9, token: .valid(token)))
        var reply6 = request(v6: true)
        reply6[0] = 129
        #expect(try parse(reply6, v6: true, ipHeader: false) == .echoReply(id: 0xbeef, seq: 9, token: .valid(token)))
    }

    @Test func transmitKeyRidesInTheSequenceAndTheToken() throws {
        // The key's low half is the sequence number, the high half bytes 14–15 of the token (format 2).
        let keyed = ProbeToken(slot: 5, generation: 6, cycle: 7, probe: 1, sentNanos: 1_700_000_000_000_000_001, txKey: 0xabcd_1234)
        let codec = ICMPCodec(key: key, v6: false)
        var buf = [UInt8](repeating: 0, count: 8 + 56)
        _ = buf.withUnsafeMutableBytes { raw in
            var span = raw.mutableBytes
            return codec.writeEchoRequest(into: &span, id: 0xbeef, seq: 0x1234, token: keyed, payloadBytes: 56)
        }
        #expect(buf[6] == 0x12 && buf[7] == 0x34)
        #expect(buf[8 + 13] == 2 && buf[8 + 14] == 0xcd && buf[8 + 15] == 0xab)
        buf[0] = 0
        #expect(try parse(buf, v6: false, ipHeader: false) == .echoReply(id: 0xbeef, seq: 0x1234, token: .valid(keyed)))
        // Without a key the format stays 1 and no key comes back.
        var plain = request(v6: false)
        #expect(plain[8 + 13] == 1)
        plain[0] = 0
        guard case .echoReply(_, _, .valid(let t)) = try parse(plain, v6: false, ipHeader: false) else {
            Issue.record("no valid token")
            return
        }
        #expect(t.txKey == nil)
    }

    @Test func transmitStampRingKeepsTheLatestByKeyWithinBounds() {
        var ring = TxStampRing(capacity: 6)  // rounded up to 8
        ring.insert(key: 3, nanos: 1_000)
        #expect(ring.lookup(key: 3, notBefore: 900, notAfter: 2_000) == 1_000)
        #expect(ring.lookup(key: 3, notBefore: 1_001, notAfter: 2_000) == nil, "stamped before the send")
        #expect(ring.lookup(key: 3, notBefore: 900, notAfter: 999) == nil, "stamped after the reply")
        #expect(ring.lookup(key: 0, notBefore: -10, notAfter: 2_000) == nil, "never stamped")
        ring.insert(key: 11, nanos: 1_500)  // same place as 3: the older one is gone
        #expect(ring.lookup(key: 3, notBefore: 900, notAfter: 2_000) == nil)
        #expect(ring.lookup(key: 11, notBefore: 900, notAfter: 2_000) == 1_500)
        ring.insert(key: UInt32.max, nanos: 1_600)
        #expect(ring.lookup(key: UInt32.max, notBefore: 900, notAfter: 2_000) == 1_600)
    }

    @Test func anyChangedTokenByteOrSequenceFailsTheMAC() throws {
        var reply = request(v6: false)
        reply[0] = 0
        for i in 8..<(8 + ProbeToken.size) {
            var bad = reply
            bad[i] ^= 0x01
            #expect(try parse(bad, v6: false, ipHeader: false) == .echoReply(id: 0xbeef, seq: 9, token: .invalid), "byte \(i)")
        }
        var badSeq = reply
        badSeq[7] = 10
        #expect(try parse(badSeq, v6: false, ipHeader: false) == .echoReply(id: 0xbeef, seq: 10, token: .invalid))
        // Another program's ping: a short payload carries no token.
        let foreign: [UInt8] = [0, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4]
        #expect(try parse(foreign, v6: false, ipHeader: false) == .echoReply(id: 0x1234, seq: 1, token: .absent))
    }

    @Test func unreachableIsAttributedThroughItsQuote() throws {
        let probe = request(v6: false)
        let quotedIP = ipv4Header(src: 0x7f00_0001, dst: 0xc612_0002, length: 20 + probe.count)
        let icmp: [UInt8] = [3, 1, 0, 0, 0, 0, 0, 0]
        let full = ipv4Header(src: 0xc612_0001, dst: 0x7f00_0001, length: 0) + icmp + quotedIP + probe
        #expect(try parse(full, v6: false, ipHeader: true)
            == .error(type: 3, code: 1, quotedDestination: .v4(0xc612_0002), id: 0xbeef, seq: 9, token: .valid(token)))
        // RFC 792's minimum quote: the IP header and 8 bytes. Still attributable by address and id.
        let short = ipv4Header(src: 0xc612_0001, dst: 0x7f00_0001, length: 0) + icmp + quotedIP + probe[0..<8]
        #expect(try parse(short, v6: false, ipHeader: true)
            == .error(type: 3, code: 1, quotedDestination: .v4(0xc612_0002), id: 0xbeef, seq: 9, token: .absent))
        // IPv6 time exceeded quoting our probe.
        var ip6: [UInt8] = [0x60, 0, 0, 0, 0, UInt8(probe.count), 58, 64]
        ip6 += [UInt8](repeating: 0, count: 15) + [1]  // src ::1
        ip6 += [0x20, 0x01, 0, 2] + [UInt8](repeating: 0, count: 11) + [2]  // dst 2001:2::2
        let probe6 = request(v6: true)
        let err6: [UInt8] = [3, 0, 0, 0, 0, 0, 0, 0] + ip6 + probe6
        #expect(try parse(err6, v6: true, ipHeader: false)
            == .error(type: 3, code: 0, quotedDestination: IPAddress("2001:2::2")!, id: 0xbeef, seq: 9, token: .valid(token)))
    }

    @Test func everyTruncationIsAnErrorOrAPartialParseNeverACrash() {
        var reply = request(v6: false)
        reply[0] = 0
        let packet = ipv4Header(src: 1, dst: 2, length: 0) + reply
        for n in 0..<packet.count {
            let cut = Array(packet[..<n])
            do {
                let p = try parse(cut, v6: false, ipHeader: true)
                // A cut inside the token leaves no valid token; one after it (in the filler) still matches.
                if case .echoReply(_, _, let t) = p { #expect((t == .valid(token)) == (n >= 28 + ProbeToken.size), "cut at \(n)") }
            } catch {
                #expect(n < 28, "cut at \(n): \(error)")
            }
        }
        // Garbage never traps either.
        var g = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let junk = (0..<Int.random(in: 0..<120, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            _ = try? parse(junk, v6: false, ipHeader: true)
            _ = try? parse(junk, v6: true, ipHeader: false)
        }
    }
}

@Suite("IP addresses")
struct IPAddressTests {
    @Test func parsesAndPrintsCanonically() {
        #expect(IPAddress("127.0.0.1") == .v4(0x7f00_0001))
        #expect(IPAddress("::1") == .v6(high: 0, low: 1))
        for text in ["2001:db8::1", "::", "fe80::1:2", "2001:2:0:1::2", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4"] {
            #expect(IPAddress(text)?.description == text || text == "::ffff:1.2.3.4", "\(text)")
        }
        #expect(IPAddress("::ffff:1.2.3.4") == .v6(high: 0, low: 0xffff_0102_0304))
        for bad in ["", "1.2.3", "1.2.3.256", "01.2.3.4", "1.2.3.4.5", ":::", "1::2::3", "12345::", "::1%eth0", "1:2:3:4:5:6:7:8:9", "a.b.c.d"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func prefixes() {
        let p = IPPrefix("198.18.0.0/15")!
        #expect(p.contains(IPAddress("198.19.255.255")!) && !p.contains(IPAddress("198.20.0.0")!))
        #expect(p.size == 131_072 && p.address(at: 65536) == IPAddress("198.19.0.0"))
        #expect(IPPrefix("10.0.0.1/8") == nil, "host bits set")
        #expect(IPPrefix("127.0.0.0/8")!.contains(IPPrefix("127.1.0.0/16")!))
        #expect(IPPrefix("2001:2::/48")!.contains(IPAddress("2001:2:0:ffff::1")!))
        #expect(IPPrefix("::1")!.length == 128)
    }
}

@Suite("Timing wheel")
struct TimerWheelTests {
    @Test func firesEachDeadlineOnceNeverEarlyAndInTickOrder() {
        let tick: Int64 = 250_000
        var w = TimerWheel(tick: .microseconds(250), slots: 1024, now: 0)
        w.reserve(10_000)
        var g = SystemRandomNumberGenerator()
        var deadlines: [Int64] = []
        for id in 0..<10_000 {
            // Up to 3 s ahead: several turns of a 256 ms wheel.
            let t = Int64.random(in: 0..<3_000_000_000, using: &g)
            deadlines.append(t)
            w.schedule(Int32(id), at: t)
        }
        w.cancel(5)
        var fired: [Int32] = []
        var now: Int64 = 0
        var firedAt = [Int64](repeating: -1, count: 10_000)
        while now < 3_100_000_000 {
            now += Int64.random(in: 100_000..<2_000_000, using: &g)
            fired.removeAll()
            w.advance(throughTick: now / tick - 1, into: &fired)
            for id in fired {
                #expect(firedAt[Int(id)] < 0, "fired twice")
                firedAt[Int(id)] = now
                #expect(deadlines[Int(id)] <= now, "early")
                #expect(now - deadlines[Int(id)] < 2_000_000 + 2 * tick, "late")
            }
        }
        #expect(firedAt[5] < 0)
        #expect(firedAt.enumerated().filter { $0.offset != 5 }.allSatisfy { $0.element >= 0 })
    }
}
