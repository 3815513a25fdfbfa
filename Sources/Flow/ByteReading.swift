// Reading big-endian wire fields from a RawSpan for the Flow decoders: one checked unaligned load, and a
// cursor over length-prefixed structures that throws `.truncated` where the bytes run out.

extension RawSpan {
    /// An unaligned load of a trivial value at `offset`. Callers check the bounds first; the
    /// precondition only catches a missed check (a programmer error), it is not the input validation.
    @inline(__always)
    func flowLoad<T: BitwiseCopyable>(_ offset: Int, as: T.Type = T.self) -> T {
        precondition(offset >= 0 && offset <= byteCount - MemoryLayout<T>.size, "flowLoad past the end")
        return unsafe unsafeLoadUnaligned(fromByteOffset: offset, as: T.self)
    }
}

/// A read position in the byte range `offset..<end` of a span. It holds offsets only, not the span (so it
/// needs no lifetime annotations); each read takes the span, checks what remains before `end` and throws
/// `.truncated(needed:available:)` with absolute offsets: the end offset the read needed and `end`.
/// `end` must not exceed the span's `byteCount`; `init(_:)` and `take(_:)` keep that true.
struct FlowCursor {
    /// The next byte to read.
    private(set) var offset: Int
    /// One past the last byte this cursor may read.
    let end: Int

    /// A cursor over the whole of `bytes`.
    init(_ bytes: RawSpan) {
        offset = 0
        end = bytes.byteCount
    }

    private init(offset: Int, end: Int) {
        self.offset = offset
        self.end = end
    }

    /// Bytes left before `end`.
    var remaining: Int { end - offset }

    /// Throws unless `count` more bytes are there.
    @inline(__always)
    func require(_ count: Int) throws(FlowDecodeError) {
        guard count >= 0, count <= end - offset else {
            throw .truncated(needed: offset &+ max(count, 0), available: end)
        }
    }

    /// Moves past `count` bytes.
    mutating func skip(_ count: Int) throws(FlowDecodeError) {
        try require(count)
        offset += count
    }

    mutating func u8(_ bytes: RawSpan) throws(FlowDecodeError) -> UInt8 {
        try require(1)
        defer { offset += 1 }
        return bytes.flowLoad(offset)
    }

    mutating func u16(_ bytes: RawSpan) throws(FlowDecodeError) -> UInt16 {
        try require(2)
        defer { offset += 2 }
        return UInt16(bigEndian: bytes.flowLoad(offset))
    }

    mutating func u32(_ bytes: RawSpan) throws(FlowDecodeError) -> UInt32 {
        try require(4)
        defer { offset += 4 }
        return UInt32(bigEndian: bytes.flowLoad(offset))
    }

    mutating func u64(_ bytes: RawSpan) throws(FlowDecodeError) -> UInt64 {
        try require(8)
        defer { offset += 8 }
        return UInt64(bigEndian: bytes.flowLoad(offset))
    }

    /// A cursor over the next `count` bytes; this one moves past them.
    mutating func take(_ count: Int) throws(FlowDecodeError) -> FlowCursor {
        try require(count)
        let sub = FlowCursor(offset: offset, end: offset + count)
        offset += count
        return sub
    }

    /// An XDR variable-length opaque (`opaque x<>`): a 32-bit length, that many bytes, then zero to three
    /// bytes of padding to a multiple of four. Returns a cursor over the bytes and moves past them and
    /// the padding. Padding missing at the very end of this cursor's range is tolerated (some agents
    /// count it in no length), a length past the end is not.
    mutating func xdrOpaque(_ bytes: RawSpan) throws(FlowDecodeError) -> FlowCursor {
        let length = Int(try u32(bytes))
        let sub = try take(length)
        offset = min(offset + (-length & 3), end)
        return sub
    }
}
