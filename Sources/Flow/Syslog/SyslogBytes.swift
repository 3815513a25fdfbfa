// The only unsafe code of the syslog parser: a byte read, an eight-byte read for the ASCII fast paths and a
// bulk copy of a range into a caller's [UInt8]. Every read is bounds-checked by RawSpan (a precondition);
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
