// A batch of datagrams for one recvmmsg or sendmmsg call (see batch.c): owned buffers, addresses and
// control areas, wired once and reused, so the hot paths of the ICMP poller and the UDP receivers
// allocate nothing per packet.
import CSOTPLinux
#if canImport(Glibc)
import Glibc
#endif

/// A peer's address and port: IPv4 in `low` (host order) with `isV4`, IPv6 as two host-order halves.
public struct PeerAddress: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var isV4: Bool
    public var port: UInt16

    public init(v4: UInt32, port: UInt16 = 0) {
        high = 0
        low = UInt64(v4)
        isV4 = true
        self.port = port
    }

    public init(v6High: UInt64, v6Low: UInt64, port: UInt16 = 0) {
        high = v6High
        low = v6Low
        isV4 = false
        self.port = port
    }

    /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d), as a dual-stack socket reports IPv4 peers, as IPv4.
    public var unmapped: PeerAddress {
        if !isV4 && high == 0 && low >> 32 == 0xffff { return PeerAddress(v4: UInt32(truncatingIfNeeded: low), port: port) }
        return self
    }

    public var description: String {
        if isV4 {
            let a = UInt32(truncatingIfNeeded: low)
            return "\(a >> 24).\(a >> 16 & 0xff).\(a >> 8 & 0xff).\(a & 0xff):\(port)"
        }
        var parts: [String] = []
        for w in [high, low] {
            for s in stride(from: 48, through: 0, by: -16) { parts.append(String(UInt16(truncatingIfNeeded: w >> UInt64(s)), radix: 16)) }
        }
        return "[\(parts.joined(separator: ":"))]:\(port)"
    }
}

/// The messages of one batched syscall. Not thread-safe: one thread owns a batch.
@safe
package struct MessageBatch: ~Copyable {
    private let b: OpaquePointer
    package let count: Int
    package let bufferSize: Int

    package init(count: Int, bufferSize: Int) {
        guard let b = unsafe sotp_batch_new(UInt32(count), UInt32(bufferSize)) else { fatalError("out of memory for a message batch") }
        unsafe self.b = b
        self.count = count
        self.bufferSize = bufferSize
    }

    deinit { unsafe sotp_batch_free(b) }

    /// recvmmsg without blocking on `fd`; the number of messages, 0 when nothing is waiting.
    package func receive(_ fd: Int32) throws(Errno) -> Int {
        let n = unsafe sotp_batch_recv(fd, b, Int32(MSG_DONTWAIT))
        if n >= 0 { return Int(n) }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK { return 0 }
        throw Errno(e)
    }

    /// Message i's received bytes (at most `bufferSize`; see `truncated`).
    package func withReceived<R, E: Error>(_ i: Int, _ body: (RawSpan) throws(E) -> R) throws(E) -> R {
        let len = Int(unsafe sotp_batch_length(b, UInt32(i)))
        let p = unsafe UnsafeRawBufferPointer(start: sotp_batch_buffer(b, UInt32(i)), count: len)
        return try unsafe body(p.bytes)
    }

    /// Whether message i was longer than the buffer (the rest is lost).
    package func truncated(_ i: Int) -> Bool { unsafe sotp_batch_truncated(b, UInt32(i)) != 0 }

    /// Kernel receive time of message i (CLOCK_REALTIME ns; needs SO_TIMESTAMPNS), nil if none came.
    package func receiveNanos(_ i: Int) -> Int64? {
        let t = unsafe sotp_batch_rx_nanos(b, UInt32(i))
        return t < 0 ? nil : t
    }

    /// The socket's cumulative count of datagrams dropped for a full receive queue, as of message i
    /// (needs SO_RXQ_OVFL); nil when the kernel attached none (no drop has happened yet).
    package func queueOverflows(_ i: Int) -> UInt32? {
        let v = unsafe sotp_batch_rxq_ovfl(b, UInt32(i))
        return v < 0 ? nil : UInt32(v)
    }

    package func source(_ i: Int) -> PeerAddress? {
        var v4: UInt32 = 0
        var port: UInt16 = 0
        var v6 = (UInt64(0), UInt64(0))
        let fam = unsafe withUnsafeMutableBytes(of: &v6) {
            unsafe sotp_batch_source(b, UInt32(i), &v4, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &port)
        }
        switch fam {
        case 4: return PeerAddress(v4: v4, port: port)
        case 6: return PeerAddress(v6High: UInt64(bigEndian: v6.0), v6Low: UInt64(bigEndian: v6.1), port: port)
        default: return nil
        }
    }

    /// Lets `body` write message i's packet; it returns the length.
    package func fill(_ i: Int, _ body: (inout MutableRawSpan) -> Int) -> Int {
        let p = unsafe UnsafeMutableRawBufferPointer(start: sotp_batch_buffer(b, UInt32(i)), count: bufferSize)
        var span = unsafe p.mutableBytes
        return body(&span)
    }

    /// Addresses message i to `dst` with `length` bytes; `tos` nil keeps the socket default, `source`
    /// nil lets the kernel choose (same family as `dst`); `txKey` (SCM_TS_OPT_ID) keys the message's
    /// transmit timestamp, nil leaves that to the socket's counter (the ICMP sender's use).
    package func address(_ i: Int, to dst: PeerAddress, length: Int, tos: UInt8?, source: PeerAddress?, txKey: UInt32? = nil) {
        let t = tos.map { Int32($0) } ?? -1
        // After the address: setting it starts the message's control area afresh.
        defer { if let txKey { unsafe sotp_batch_set_ts_key(b, UInt32(i), txKey) } }
        if dst.isV4 {
            let src = source.map { UInt32(truncatingIfNeeded: $0.low) } ?? 0
            unsafe sotp_batch_set_v4(b, UInt32(i), UInt32(truncatingIfNeeded: dst.low), dst.port, UInt32(length), t, src)
            return
        }
        var d = (dst.high.bigEndian, dst.low.bigEndian)
        unsafe withUnsafeBytes(of: &d) { dp in
            let dptr = unsafe dp.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if let source {
                var s = (source.high.bigEndian, source.low.bigEndian)
                unsafe withUnsafeBytes(of: &s) { sp in
                    unsafe sotp_batch_set_v6(b, UInt32(i), dptr, dst.port, UInt32(length), t, sp.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            } else {
                unsafe sotp_batch_set_v6(b, UInt32(i), dptr, dst.port, UInt32(length), t, nil)
            }
        }
    }

    /// sendmmsg of messages start..<start+n on `fd`: the number sent (0 when the socket buffer or the
    /// device queue is full: EAGAIN, ENOBUFS), or the errno of message `start` when it could not be sent.
    package func send(_ fd: Int32, start: Int, count n: Int) -> Result<Int, Errno> {
        let r = unsafe sotp_batch_send(fd, b, UInt32(start), UInt32(n))
        if r >= 0 { return .success(Int(r)) }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS { return .success(0) }
        return .failure(Errno(e))
    }
}
