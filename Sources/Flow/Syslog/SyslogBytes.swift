// The only unsafe code of the syslog parser: a byte read, an eight-byte read for the ASCII fast paths and a
// bulk copy of a range into a caller's [UInt8] or an OutputSpan. Every read is bounds-checked by RawSpan (a precondition);
// callers stay below their own trimmed end, so a failed check is a programmer error, not bad input.

extension RawSpan {
    /// The byte at `offset`.
    @inline(__always)
    func syslogByte(_ offset: Int) -> UInt8 {
        unsafe unsafeLoad(fromByteOffset: offset, as: UInt8.self)
    }

    /// Eight bytes at `offset` in memory order (little-endian on every platform we build for).
    @inline(__always)
    func syslogWord(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: unsafe unsafeLoadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

extension OutputSpan where Element == UInt8 {
    /// Appends the bytes of `range` of `bytes` with one copy. The range must lie inside the span and fit
    /// the remaining capacity (both preconditions: callers size the output before writing).
    @inline(__always)
    mutating func syslogAppend(_ bytes: RawSpan, _ range: Range<Int>) {
        let n = range.count
        guard n > 0 else { return }
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.byteCount && n <= freeCapacity, "syslog output overflow")
        unsafe withUnsafeMutableBufferPointer { buffer, initialized in
            unsafe bytes.withUnsafeBytes { source in
                unsafe UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[initialized...]))
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[range]))
            }
            initialized += n
        }
    }
}

extension Array where Element == UInt8 {
    /// Appends the bytes of `range` (clamped to the span) with one copy.
    @inline(__always)
    mutating func syslogAppend(_ bytes: RawSpan, _ range: Range<Int>) {
        let lower = Swift.max(0, Swift.min(range.lowerBound, bytes.byteCount))
        let upper = Swift.max(lower, Swift.min(range.upperBound, bytes.byteCount))
        guard upper > lower else { return }
        unsafe bytes.withUnsafeBytes { buffer in
            unsafe self.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[lower..<upper]))
        }
    }
}

/// Eight-bytes-at-a-time tests on a word from `RawSpan.syslogWord` (plain arithmetic, no memory access):
/// each returns a nonzero value exactly when some byte of `w` matches, and its lowest set bit is the high
/// bit of the first matching byte (bits above it may be false positives), so `trailingZeroBitCount >> 3`
/// is that byte's index (8 when none).
enum SyslogSWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Some byte equals `b`.
    @inline(__always)
    static func has(_ w: UInt64, _ b: UInt8) -> UInt64 {
        let x = w ^ (ones &* UInt64(b))
        return (x &- ones) & ~x & highs
    }

    /// Some byte is below `n` (n ≤ 128).
    @inline(__always)
    static func hasBelow(_ w: UInt64, _ n: UInt8) -> UInt64 {
        (w &- ones &* UInt64(n)) & ~w & highs
    }
}
