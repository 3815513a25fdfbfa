// The stream listener's unsafe code: byte reads and memchr over a RawSpan for the framer (each access
// checked against the span's bounds first), and the in6_addr union read for a peer's address.
import NIOCore
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

extension PeerAddress {
    /// The address NIO reports for a peer; IPv4-mapped IPv6 (a dual-stack socket's IPv4 peers) as IPv4.
    init(_ address: SocketAddress?) {
        switch address {
        case .v4(let a):
            let s = a.address
            self.init(v4: UInt32(bigEndian: s.sin_addr.s_addr), port: UInt16(bigEndian: s.sin_port))
        case .v6(let a):
            let s = a.address
            // in6_addr as four network-order 32-bit words (a C union: every member covers the 16 bytes).
            let w = unsafe s.sin6_addr.__in6_u.__u6_addr32
            let high = UInt64(UInt32(bigEndian: w.0)) << 32 | UInt64(UInt32(bigEndian: w.1))
            let low = UInt64(UInt32(bigEndian: w.2)) << 32 | UInt64(UInt32(bigEndian: w.3))
            self = PeerAddress(v6High: high, v6Low: low, port: UInt16(bigEndian: s.sin6_port)).unmapped
        default:
            self.init(v6High: 0, v6Low: 0)
        }
    }
}
