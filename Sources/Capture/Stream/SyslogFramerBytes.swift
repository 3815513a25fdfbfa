// Byte reads and memchr over a RawSpan for SyslogFramer: its only unsafe code, each access checked
// against the span's bounds first. No NIO, so the framer builds alone (tests, fuzzing).
#if canImport(Glibc)
import Glibc
#endif

extension RawSpan {
    /// The byte at `offset`. Callers check the bounds; the precondition catches a missed check.
    @inline(__always)
    func byte(_ offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < byteCount, "byte offset past the end")
        return unsafe unsafeLoad(fromByteOffset: offset, as: UInt8.self)
    }

    /// The offset of the first `value` in `from..<to` (memchr), or nil.
    func firstIndex(of value: UInt8, from: Int, to: Int) -> Int? {
        precondition(from >= 0 && from <= to && to <= byteCount, "search range outside the span")
        guard from < to else { return nil }
        return unsafe withUnsafeBytes { raw in
            guard let base = raw.baseAddress, let hit = unsafe memchr(base + from, Int32(value), to - from) else { return nil }
            return unsafe base.distance(to: UnsafeRawPointer(hit))
        }
    }
}
