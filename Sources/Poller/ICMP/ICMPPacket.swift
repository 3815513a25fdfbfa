// The ICMP echo wire format with SOTP's probe token, and the parsing of what comes back (echo replies
// and the errors that quote a probe). Pure: bytes in, values out; the sockets are in ICMPSocket.swift.

/// What a probe's payload carries so a reply can be matched without per-probe state: the target's slot
/// and generation, the cycle and probe number, the send time, the key of the kernel's transmit timestamp,
/// and a SipHash MAC over all of it.
struct ProbeToken: Equatable, Sendable {
    var slot: UInt32
    var generation: UInt32
    var cycle: UInt32
    var probe: UInt8
    /// CLOCK_REALTIME nanoseconds just before the probe was handed to the kernel (user space).
    var sentNanos: Int64
    /// The SOF_TIMESTAMPING_OPT_ID key the kernel reports with this probe's transmit timestamp, nil
    /// when it is not known. Its low 16 bits are the echo sequence number, the high 16 ride in the token.
    var txKey: UInt32? = nil

    /// Bytes the token takes at the start of the payload.
    static let size = 32
}

/// Whether a payload holds a token this process made.
enum TokenCheck: Equatable, Sendable {
    case valid(ProbeToken)
    /// Shorter than a token: some other program's ping, or a quote cut short.
    case absent
    /// Token-sized but the MAC does not match: forged, garbled, or an earlier sotpd's probe.
    case invalid
}

/// One parsed ICMP message.
enum ParsedICMP: Equatable, Sendable {
    case echoReply(id: UInt16, seq: UInt16, token: TokenCheck)
    /// An error (unreachable, time exceeded, parameter problem, packet too big) quoting an echo request.
    case error(type: UInt8, code: UInt8, quotedDestination: IPAddress, id: UInt16, seq: UInt16, token: TokenCheck)
    /// Anything else: echo requests, errors quoting something that is not an echo request, other types.
    case other(type: UInt8)
}

/// Why a packet could not be parsed.
enum ICMPParseError: Error, Equatable, Sendable {
    case truncated(needed: Int, available: Int)
    case badIPHeader(String)
}

/// Builds echo requests and parses replies for one address family.
struct ICMPCodec: Sendable {
    let key: SipHash24
    let v6: Bool

    init(key: SipHash24, v6: Bool) {
        self.key = key
        self.v6 = v6
    }

    var echoRequestType: UInt8 { v6 ? 128 : 8 }
    var echoReplyType: UInt8 { v6 ? 129 : 0 }

    /// Writes an echo request (ICMP header + `payloadBytes`) into `out`, which must hold 8 + payloadBytes
    /// bytes; returns the length. The IPv4 checksum is filled in; for ICMPv6 the kernel computes it.
    /// With a `txKey` in the token, `seq` must be its low 16 bits.
    func writeEchoRequest(into out: inout MutableRawSpan, id: UInt16, seq: UInt16, token t: ProbeToken, payloadBytes: Int) -> Int {
        let length = 8 + payloadBytes
        precondition(payloadBytes >= ProbeToken.size && out.byteCount >= length, "echo request does not fit")
        precondition(t.txKey.map { UInt16(truncatingIfNeeded: $0) == seq } ?? true, "seq is not the key's low half")
        out.storeBytes(of: echoRequestType, toByteOffset: 0, as: UInt8.self)
        out.storeBytes(of: 0, toByteOffset: 1, as: UInt8.self)
        out.storeBytes(of: 0, toByteOffset: 2, as: UInt16.self)
        out.storeBytes(of: id.bigEndian, toByteOffset: 4, as: UInt16.self)
        out.storeBytes(of: seq.bigEndian, toByteOffset: 6, as: UInt16.self)
        let w0 = UInt64(t.slot) | UInt64(t.generation) << 32
        // Byte 13 is the token format: 1 without a transmit key, 2 with the key's high half in bytes 14–15.
        var w1 = UInt64(t.cycle) | UInt64(t.probe) << 32 | 1 << 40
        if let k = t.txKey { w1 = UInt64(t.cycle) | UInt64(t.probe) << 32 | 2 << 40 | UInt64(k >> 16) << 48 }
        let w2 = UInt64(bitPattern: t.sentNanos)
        let mac = key.hash(w0, w1, w2, UInt64(seq))
        out.storeBytes(of: w0.littleEndian, toByteOffset: 8, as: UInt64.self)
        out.storeBytes(of: w1.littleEndian, toByteOffset: 16, as: UInt64.self)
        out.storeBytes(of: w2.littleEndian, toByteOffset: 24, as: UInt64.self)
        out.storeBytes(of: mac.littleEndian, toByteOffset: 32, as: UInt64.self)
        var i = 8 + ProbeToken.size
        while i < length {
            out.storeBytes(of: UInt8(truncatingIfNeeded: i), toByteOffset: i, as: UInt8.self)
            i += 1
        }
        if !v6 {
            let sum = ICMPCodec.checksum(out.bytes.extracting(0..<length))
            out.storeBytes(of: sum.bigEndian, toByteOffset: 2, as: UInt16.self)
        }
        return length
    }

    /// The Internet checksum (RFC 1071) of `bytes`.
    static func checksum(_ bytes: RawSpan) -> UInt16 {
        var sum: UInt64 = 0
        var i = 0
        let n = bytes.byteCount
        while i + 8 <= n {
            // Eight bytes at a time as four big-endian 16-bit words.
            let w = UInt64(bigEndian: unsafe bytes.unsafeLoadUnaligned(fromByteOffset: i, as: UInt64.self))
            sum &+= (w >> 48) + (w >> 32 & 0xffff) + (w >> 16 & 0xffff) + (w & 0xffff)
            i += 8
        }
        while i + 2 <= n {
            sum &+= UInt64(UInt16(bigEndian: unsafe bytes.unsafeLoadUnaligned(fromByteOffset: i, as: UInt16.self)))
            i += 2
        }
        if i < n { sum &+= UInt64(unsafe bytes.unsafeLoad(fromByteOffset: i, as: UInt8.self)) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(truncatingIfNeeded: sum)
    }

    /// Reads the token at `offset` (the start of an echo payload) of `bytes`.
    func token(in bytes: RawSpan, at offset: Int, seq: UInt16) -> TokenCheck {
        guard bytes.byteCount - offset >= ProbeToken.size else { return .absent }
        let w0 = UInt64(littleEndian: bytes.load(offset))
        let w1 = UInt64(littleEndian: bytes.load(offset + 8))
        let w2 = UInt64(littleEndian: bytes.load(offset + 16))
        let mac = UInt64(littleEndian: bytes.load(offset + 24))
        guard key.hash(w0, w1, w2, UInt64(seq)) == mac else { return .invalid }
        let txKey: UInt32? = (w1 >> 40) & 0xff == 2 ? UInt32(truncatingIfNeeded: w1 >> 48) << 16 | UInt32(seq) : nil
        return .valid(ProbeToken(
            slot: UInt32(truncatingIfNeeded: w0), generation: UInt32(truncatingIfNeeded: w0 >> 32),
            cycle: UInt32(truncatingIfNeeded: w1), probe: UInt8(truncatingIfNeeded: w1 >> 32),
            sentNanos: Int64(bitPattern: w2), txKey: txKey))
    }

    /// Parses one received message. `withIPHeader` is true for raw IPv4 sockets, whose reads start at
    /// the IP header; raw ICMPv6 and datagram ICMP sockets start at the ICMP header.
    func parse(_ bytes: RawSpan, withIPHeader: Bool) throws(ICMPParseError) -> ParsedICMP {
        var at = 0
        if withIPHeader {
            at = try ICMPCodec.ipv4HeaderLength(bytes, at: 0, expectingICMP: true)
        }
        guard bytes.byteCount >= at + 8 else { throw .truncated(needed: at + 8, available: bytes.byteCount) }
        let type: UInt8 = bytes.load(at), code: UInt8 = bytes.load(at + 1)
        if type == echoReplyType {
            let id = UInt16(bigEndian: bytes.load(at + 4)), seq = UInt16(bigEndian: bytes.load(at + 6))
            return .echoReply(id: id, seq: seq, token: token(in: bytes, at: at + 8, seq: seq))
        }
        guard isError(type) else { return .other(type: type) }
        // The quote: the original IP header, then (at least) the first 8 bytes of our echo request.
        let inner = at + 8
        let dst: IPAddress
        let quotedICMP: Int
        if v6 {
            guard bytes.byteCount >= inner + 40 + 8 else {
                throw .truncated(needed: inner + 48, available: bytes.byteCount)
            }
            let version: UInt8 = bytes.load(inner)
            guard version >> 4 == 6 else { throw .badIPHeader("quoted IPv6 header has version \(version >> 4)") }
            let next: UInt8 = bytes.load(inner + 6)
            guard next == 58 else { return .other(type: type) }
            dst = .v6(high: UInt64(bigEndian: bytes.load(inner + 24)), low: UInt64(bigEndian: bytes.load(inner + 32)))
            quotedICMP = inner + 40
        } else {
            let ihl = try ICMPCodec.ipv4HeaderLength(bytes, at: inner, expectingICMP: false)
            let proto: UInt8 = bytes.load(inner + 9)
            guard proto == 1 else { return .other(type: type) }
            guard bytes.byteCount >= inner + ihl + 8 else {
                throw .truncated(needed: inner + ihl + 8, available: bytes.byteCount)
            }
            dst = .v4(UInt32(bigEndian: bytes.load(inner + 16)))
            quotedICMP = inner + ihl
        }
        let quotedType: UInt8 = bytes.load(quotedICMP)
        guard quotedType == echoRequestType else { return .other(type: type) }
        let id = UInt16(bigEndian: bytes.load(quotedICMP + 4)), seq = UInt16(bigEndian: bytes.load(quotedICMP + 6))
        return .error(type: type, code: code, quotedDestination: dst, id: id, seq: seq,
                      token: token(in: bytes, at: quotedICMP + 8, seq: seq))
    }

    private func isError(_ type: UInt8) -> Bool {
        // v4: destination unreachable, source quench, time exceeded, parameter problem.
        // v6: destination unreachable, packet too big, time exceeded, parameter problem.
        v6 ? (1...4).contains(type) : (type == 3 || type == 4 || type == 11 || type == 12)
    }

    /// The IPv4 header length at `at`, after checking version and length (and protocol, when asked).
    private static func ipv4HeaderLength(_ bytes: RawSpan, at: Int, expectingICMP: Bool) throws(ICMPParseError) -> Int {
        guard bytes.byteCount >= at + 20 else { throw .truncated(needed: at + 20, available: bytes.byteCount) }
        let vihl: UInt8 = bytes.load(at)
        guard vihl >> 4 == 4 else { throw .badIPHeader("version \(vihl >> 4), expected 4") }
        let ihl = Int(vihl & 0x0f) * 4
        guard ihl >= 20 else { throw .badIPHeader("header length \(ihl) below 20") }
        guard bytes.byteCount >= at + ihl else { throw .truncated(needed: at + ihl, available: bytes.byteCount) }
        if expectingICMP {
            let proto: UInt8 = bytes.load(at + 9)
            guard proto == 1 else { throw .badIPHeader("protocol \(proto), expected 1 (ICMP)") }
        }
        return ihl
    }
}

extension RawSpan {
    /// An unaligned load of a trivial value; callers check the bounds first (the span traps otherwise).
    @inline(__always)
    func load<T: BitwiseCopyable>(_ offset: Int, as: T.Type = T.self) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= byteCount)
        return unsafe unsafeLoadUnaligned(fromByteOffset: offset, as: T.self)
    }
}
