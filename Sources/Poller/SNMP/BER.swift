// The X.690 BER subset SNMP uses, read by offset: a TLV is a tag and a value range in the caller's bytes,
// so walking a message allocates nothing. Definite lengths only, one-byte tags only.

/// One tag-length-value in a buffer: where it starts and where its value lies. Offsets are into the
/// bytes it was read from; nothing is copied.
public struct BERTLV: Equatable, Sendable, BitwiseCopyable {
    /// The identifier octet (class, constructed bit and tag number in one byte).
    public var tag: UInt8
    /// Offset of the identifier octet.
    public var start: Int
    /// Offset of the first value byte.
    public var valueStart: Int
    /// Offset just past the last value byte.
    public var end: Int

    /// Value bytes.
    public var length: Int { end - valueStart }
    /// Bytes of the whole TLV (header and value).
    public var totalLength: Int { end - start }
    public var valueRange: Range<Int> { valueStart..<end }
}

/// Why bytes are not the BER expected. Offsets are into the buffer being read.
public enum BERError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The TLV at `at` needs bytes up to `needed` but its enclosing value ends at `available`.
    case truncated(at: Int, needed: Int, available: Int)
    /// Length octet 0x80: the indefinite form, which SNMP does not use.
    case indefiniteLength(at: Int)
    /// A long-form length of more than 4 octets (or 0xFF).
    case lengthTooLong(at: Int, lengthOctets: Int)
    /// A tag number ≥ 31 (the multi-byte form), which SNMP does not use.
    case multiByteTag(at: Int)
    case unexpectedTag(at: Int, expected: UInt8, found: UInt8)
    /// An INTEGER-like value with a length outside `allowed`.
    case badIntegerLength(at: Int, length: Int, allowed: ClosedRange<Int>)
    /// A value that must have a fixed size (NULL 0, IpAddress 4, msgFlags 1…) but has another.
    case badLength(at: Int, expected: Int, found: Int)
    /// An integer outside the range its field allows.
    case outOfRange(at: Int, value: Int64, allowed: ClosedRange<Int64>)
    case emptyOID(at: Int)
    /// More than `max` sub-identifiers (RFC 2578 allows 128).
    case oidTooLong(at: Int, max: Int)
    /// A sub-identifier above 2^32 − 1.
    case oidArcTooLarge(at: Int)
    /// A sub-identifier starting with 0x80 (X.690 8.19.2: the leading octet may not be 0x80).
    case oidNonMinimalArc(at: Int)
    /// The last octet of the OID still has the continuation bit set.
    case oidTruncatedArc(at: Int)
    /// Bytes left inside a constructed value after its last expected element.
    case trailingBytes(at: Int, count: Int)
    /// Constructed values nested deeper than `max`.
    case tooDeep(at: Int, max: Int)
    /// More varbinds than the configured `max`.
    case tooManyVarbinds(at: Int, max: Int)
    /// A value that is well-formed BER but not allowed here.
    case invalid(at: Int, String)

    public var description: String {
        switch self {
        case .truncated(let at, let needed, let available): "TLV at \(at) needs \(needed) bytes, only \(available) available"
        case .indefiniteLength(let at): "indefinite length at \(at), only definite lengths are allowed"
        case .lengthTooLong(let at, let n): "length at \(at) has \(n) octets, at most 4 allowed"
        case .multiByteTag(let at): "multi-byte tag at \(at), SNMP uses one-byte tags"
        case .unexpectedTag(let at, let e, let f): "tag at \(at): expected 0x\(hex2(e)), found 0x\(hex2(f))"
        case .badIntegerLength(let at, let n, let r): "integer at \(at) has \(n) bytes, expected \(r.lowerBound)…\(r.upperBound)"
        case .badLength(let at, let e, let f): "value at \(at) has \(f) bytes, expected \(e)"
        case .outOfRange(let at, let v, let r): "value \(v) at \(at) is outside \(r.lowerBound)…\(r.upperBound)"
        case .emptyOID(let at): "empty OBJECT IDENTIFIER at \(at)"
        case .oidTooLong(let at, let max): "OBJECT IDENTIFIER at \(at) has more than \(max) sub-identifiers"
        case .oidArcTooLarge(let at): "OBJECT IDENTIFIER sub-identifier at \(at) exceeds 2^32-1"
        case .oidNonMinimalArc(let at): "OBJECT IDENTIFIER sub-identifier at \(at) starts with 0x80"
        case .oidTruncatedArc(let at): "OBJECT IDENTIFIER at \(at) ends inside a sub-identifier"
        case .trailingBytes(let at, let n): "\(n) unexpected bytes at \(at)"
        case .tooDeep(let at, let max): "nesting deeper than \(max) at \(at)"
        case .tooManyVarbinds(let at, let max): "more than \(max) varbinds at \(at)"
        case .invalid(let at, let why): "at \(at): \(why)"
        }
    }
}

@inline(__always)
func hex2(_ b: UInt8) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}

/// Tags SNMP uses (X.690 universal, RFC 2578 application, RFC 3416 context-specific).
public enum BERTag {
    public static let integer: UInt8 = 0x02
    public static let octetString: UInt8 = 0x04
    public static let null: UInt8 = 0x05
    public static let objectIdentifier: UInt8 = 0x06
    public static let sequence: UInt8 = 0x30
    public static let ipAddress: UInt8 = 0x40
    public static let counter32: UInt8 = 0x41
    /// Gauge32 and Unsigned32 share the tag.
    public static let gauge32: UInt8 = 0x42
    public static let timeTicks: UInt8 = 0x43
    public static let opaque: UInt8 = 0x44
    public static let counter64: UInt8 = 0x46
    public static let noSuchObject: UInt8 = 0x80
    public static let noSuchInstance: UInt8 = 0x81
    public static let endOfMibView: UInt8 = 0x82
}

extension RawSpan {
    /// One byte at `offset`; callers check the bounds first (the precondition is the last line of defence).
    @inline(__always)
    func berByte(_ offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < byteCount, "BER read out of bounds")
        return unsafe unsafeLoad(fromUncheckedByteOffset: offset, as: UInt8.self)
    }
}

/// BER reading primitives over a `RawSpan`. Every function checks bounds against an explicit end, so a
/// TLV can never reach past its enclosing value.
public enum BER {
    /// RFC 2578 §3.5: an OBJECT IDENTIFIER has at most 128 sub-identifiers.
    public static let maxOIDArcs = 128

    /// Reads the TLV header at `at`, whose value must end by `end` (≤ `bytes.byteCount`).
    @inline(__always)
    public static func readTLV(_ bytes: RawSpan, at: Int, end: Int) throws(BERError) -> BERTLV {
        let end = min(end, bytes.byteCount)
        guard at + 2 <= end else { throw .truncated(at: at, needed: at + 2, available: end) }
        let tag = bytes.berByte(at)
        if tag & 0x1f == 0x1f { throw .multiByteTag(at: at) }
        let first = bytes.berByte(at + 1)
        var valueStart = at + 2
        var length: Int
        if first < 0x80 {
            length = Int(first)
        } else if first == 0x80 {
            throw .indefiniteLength(at: at)
        } else {
            let n = Int(first & 0x7f)
            guard n <= 4 else { throw .lengthTooLong(at: at, lengthOctets: n) }
            guard valueStart + n <= end else { throw .truncated(at: at, needed: valueStart + n, available: end) }
            length = 0
            for i in 0..<n { length = length << 8 | Int(bytes.berByte(valueStart + i)) }
            valueStart += n
        }
        // Compared as a difference so a 4-octet length cannot overflow the sum.
        guard length <= end - valueStart else { throw .truncated(at: at, needed: valueStart + length, available: end) }
        return BERTLV(tag: tag, start: at, valueStart: valueStart, end: valueStart + length)
    }

    /// A two's-complement INTEGER-like value of 1…8 bytes (INTEGER, and the signed reading of others).
    public static func integer(_ bytes: RawSpan, _ t: BERTLV) throws(BERError) -> Int64 {
        guard t.length >= 1 && t.length <= 8 else { throw .badIntegerLength(at: t.start, length: t.length, allowed: 1...8) }
        var v = Int64(Int8(bitPattern: bytes.berByte(t.valueStart)))
        for i in (t.valueStart + 1)..<t.end { v = v << 8 | Int64(bytes.berByte(i)) }
        return v
    }

    /// An INTEGER that must lie in `range` (e.g. msgID 0…2^31−1).
    public static func integer(_ bytes: RawSpan, _ t: BERTLV, in range: ClosedRange<Int64>) throws(BERError) -> Int64 {
        let v = try integer(bytes, t)
        guard range.contains(v) else { throw .outOfRange(at: t.start, value: v, allowed: range) }
        return v
    }

    /// An unsigned value of up to `bits` (32 or 64) bits: Counter32, Gauge32, TimeTicks, Counter64.
    /// One more byte than the width is allowed when it is the 0x00 sign byte. Like net-snmp, a value
    /// encoded as negative (some agents get the sign byte wrong) is taken as its bit pattern.
    public static func unsigned(_ bytes: RawSpan, _ t: BERTLV, bits: Int) throws(BERError) -> UInt64 {
        let maxBytes = bits / 8
        guard t.length >= 1 && t.length <= maxBytes + 1 else {
            throw .badIntegerLength(at: t.start, length: t.length, allowed: 1...(maxBytes + 1))
        }
        var v: UInt64
        var start = t.valueStart
        if t.length == maxBytes + 1 {
            guard bytes.berByte(start) == 0 else {
                throw .invalid(at: t.start, "\(t.length)-byte unsigned value without a leading zero octet")
            }
            v = 0
        } else {
            // Sign-extended, then shifted: a negative encoding keeps its bit pattern.
            v = UInt64(bitPattern: Int64(Int8(bitPattern: bytes.berByte(start))))
        }
        start += 1
        for i in start..<t.end { v = v << 8 | UInt64(bytes.berByte(i)) }
        return bits == 64 ? v : v & 0xffff_ffff
    }

    /// Checks an OBJECT IDENTIFIER's encoding and returns its number of arcs (the first octet's 40·x+y
    /// counts as two). Throws for an empty value, more than `maxArcs`, an arc above 2^32−1, a
    /// sub-identifier starting 0x80, or one cut off at the end.
    @discardableResult
    public static func validateOID(_ bytes: RawSpan, _ t: BERTLV, maxArcs: Int = maxOIDArcs) throws(BERError) -> Int {
        guard t.length > 0 else { throw .emptyOID(at: t.start) }
        var arcs = 0
        var i = t.valueStart
        var first = true
        while i < t.end {
            let (_, next) = try subidentifier(bytes, at: i, end: t.end, first: first, oid: t.start)
            arcs += first ? 2 : 1
            guard arcs <= maxArcs else { throw .oidTooLong(at: t.start, max: maxArcs) }
            first = false
            i = next
        }
        return arcs
    }

    /// One sub-identifier at `at`: its value and the offset after it. The first one may reach
    /// 2·40 + (2^32−1) since it packs two arcs; the others must fit 32 bits.
    @inline(__always)
    static func subidentifier(_ bytes: RawSpan, at: Int, end: Int, first: Bool, oid: Int) throws(BERError) -> (UInt64, Int) {
        var v: UInt64 = 0
        var i = at
        guard bytes.berByte(i) != 0x80 else { throw .oidNonMinimalArc(at: i) }
        while true {
            guard i < end else { throw .oidTruncatedArc(at: oid) }
            let b = bytes.berByte(i)
            v = v << 7 | UInt64(b & 0x7f)
            guard v <= (first ? 80 + 0xffff_ffff : 0xffff_ffff) else { throw .oidArcTooLarge(at: i) }
            i += 1
            if b & 0x80 == 0 { return (v, i) }
        }
    }

    /// Calls `arc` with each arc of a validated OBJECT IDENTIFIER (the first octet split into x and y).
    @inline(__always)
    public static func forEachArc(_ bytes: RawSpan, _ t: BERTLV, _ arc: (UInt32) -> Void) {
        var i = t.valueStart
        var first = true
        while i < t.end {
            var v: UInt64 = 0
            while i < t.end {
                let b = bytes.berByte(i)
                v = v << 7 | UInt64(b & 0x7f)
                i += 1
                if b & 0x80 == 0 { break }
            }
            if first {
                let x: UInt64 = v < 40 ? 0 : v < 80 ? 1 : 2
                arc(UInt32(x))
                arc(UInt32(truncatingIfNeeded: v - 40 * x))
                first = false
            } else {
                arc(UInt32(truncatingIfNeeded: v))
            }
        }
    }

    /// Appends a validated OBJECT IDENTIFIER as dotted decimal ASCII ("1.3.6.1…").
    public static func appendOIDText(_ bytes: RawSpan, _ t: BERTLV, to out: inout [UInt8]) {
        var dot = false
        forEachArc(bytes, t) { a in
            if dot { out.append(UInt8(ascii: ".")) }
            appendDecimal(UInt64(a), to: &out)
            dot = true
        }
    }

    /// A validated OBJECT IDENTIFIER as dotted decimal text, written straight into the string's storage.
    public static func oidText(_ bytes: RawSpan, _ t: BERTLV) -> String {
        // At most 10 digits and a dot per arc; the first octet holds two arcs.
        let capacity = 11 * (t.length + 1)
        return unsafe String(unsafeUninitializedCapacity: capacity) { buf in
            var n = 0
            forEachArc(bytes, t) { a in
                if n > 0 {
                    unsafe buf[n] = UInt8(ascii: ".")
                    n += 1
                }
                var digits = 1
                var p: UInt32 = 10
                while digits < 10 && a >= p {
                    digits += 1
                    p = p &* 10
                }
                var x = a
                for i in stride(from: n + digits - 1, through: n, by: -1) {
                    unsafe buf[i] = UInt8(ascii: "0") + UInt8(x % 10)
                    x /= 10
                }
                n += digits
            }
            return n
        }
    }

    /// Bytes in `range` as a String (invalid UTF-8 becomes U+FFFD), without an intermediate array.
    public static func string(_ bytes: RawSpan, _ range: Range<Int>) -> String {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.byteCount)
        return unsafe bytes.withUnsafeBytes { raw in unsafe String(decoding: UnsafeRawBufferPointer(rebasing: raw[range]), as: UTF8.self) }
    }

    /// True when the TLV's value equals `encoded` (a pre-encoded OID value, or any byte string).
    @inline(__always)
    public static func valueEquals(_ bytes: RawSpan, _ t: BERTLV, _ encoded: [UInt8]) -> Bool {
        guard t.length == encoded.count else { return false }
        for i in 0..<encoded.count where bytes.berByte(t.valueStart + i) != encoded[i] { return false }
        return true
    }

    /// The value bytes, copied.
    public static func copyValue(_ bytes: RawSpan, _ t: BERTLV) -> [UInt8] {
        copy(bytes, t.valueRange)
    }

    /// Bytes in `range`, copied.
    public static func copy(_ bytes: RawSpan, _ range: Range<Int>) -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.byteCount)
        return unsafe bytes.withUnsafeBytes { raw in unsafe [UInt8](UnsafeRawBufferPointer(rebasing: raw[range])) }
    }

    /// Walks every TLV in `bytes[range]`, descending into constructed ones (bit 0x20 set) and into
    /// nothing else, to at most `maxDepth` levels. For checking arbitrary input and for tests; the SNMP
    /// decoder reads its fixed structure directly and never recurses. Returns the number of TLVs.
    @discardableResult
    public static func walk(
        _ bytes: RawSpan, range: Range<Int>? = nil, maxDepth: Int = 16, visit: (_ depth: Int, _ tlv: BERTLV) -> Void = { _, _ in }
    ) throws(BERError) -> Int {
        let r = range ?? 0..<bytes.byteCount
        // An explicit stack of enclosing ends instead of recursion, so depth costs no call frames.
        var ends: [Int] = [r.upperBound]
        var at = r.lowerBound
        var count = 0
        while true {
            while let top = ends.last, at == top {
                ends.removeLast()
                if ends.isEmpty { return count }
            }
            let t = try readTLV(bytes, at: at, end: ends[ends.count - 1])
            count += 1
            visit(ends.count - 1, t)
            if t.tag & 0x20 != 0 {
                guard ends.count <= maxDepth else { throw .tooDeep(at: t.start, max: maxDepth) }
                ends.append(t.end)
                at = t.valueStart
            } else {
                at = t.end
            }
        }
    }
}

/// Appends `v` in decimal ASCII.
@inline(__always)
func appendDecimal(_ v: UInt64, to out: inout [UInt8]) {
    var digits = 1
    var p: UInt64 = 10
    while digits < 20 && v >= p {
        digits += 1
        p = p &* 10
    }
    let start = out.count
    for _ in 0..<digits { out.append(0) }
    var x = v
    var i = start + digits - 1
    repeat {
        out[i] = UInt8(ascii: "0") + UInt8(x % 10)
        x /= 10
        i -= 1
    } while x > 0
}

/// Appends `v` (signed) in decimal ASCII.
@inline(__always)
func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
    if v < 0 { out.append(UInt8(ascii: "-")) }
    appendDecimal(v.magnitude, to: &out)
}
