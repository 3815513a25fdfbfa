// The ICMP sender's sendmmsg batch: Capture's MessageBatch layout (batch.c) plus, per message, the key
// of the kernel's transmit timestamp (SCM_TS_OPT_ID), which MessageBatch does not carry. Wired once and
// reused, so sending allocates nothing.
import Capture
import CSOTPLinux
#if canImport(Glibc)
import Glibc
#endif

/// Echo requests for one sendmmsg call. Not thread-safe: the sender thread owns it.
@safe
struct ProbeBatch: ~Copyable {
    private let b: OpaquePointer
    let count: Int
    let bufferSize: Int

    init(count: Int, bufferSize: Int) {
        guard let b = unsafe sotp_batch_new(UInt32(count), UInt32(bufferSize)) else { fatalError("out of memory for a probe batch") }
        unsafe self.b = b
        self.count = count
        self.bufferSize = bufferSize
    }

    deinit { unsafe sotp_batch_free(b) }

    /// Lets `body` write message i's packet; it returns the length.
    func fill(_ i: Int, _ body: (inout MutableRawSpan) -> Int) -> Int {
        let p = unsafe UnsafeMutableRawBufferPointer(start: sotp_batch_buffer(b, UInt32(i)), count: bufferSize)
        var span = unsafe p.mutableBytes
        return body(&span)
    }

    /// Addresses message i to `dst` with `length` bytes; `tos` nil keeps the socket default, `source` nil
    /// lets the kernel choose; `txKey` (SCM_TS_OPT_ID) keys its transmit timestamp, nil leaves the
    /// socket's counter to.
    func address(_ i: Int, to dst: PeerAddress, length: Int, tos: UInt8?, source: PeerAddress?, txKey: UInt32?) {
        let t = tos.map { Int32($0) } ?? -1
        if dst.isV4 {
            let src = source.map { UInt32(truncatingIfNeeded: $0.low) } ?? 0
            unsafe sotp_batch_set_v4(b, UInt32(i), UInt32(truncatingIfNeeded: dst.low), dst.port, UInt32(length), t, src)
        } else {
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
        if let txKey { unsafe sotp_batch_set_ts_key(b, UInt32(i), txKey) }
    }

    /// sendmmsg of messages start..<start+n on `fd`: the number sent (0 when the socket buffer or the
    /// device queue is full: EAGAIN, ENOBUFS), or the errno of message `start` when it could not be sent.
    func send(_ fd: Int32, start: Int, count n: Int) -> Result<Int, Errno> {
        let r = unsafe sotp_batch_send(fd, b, UInt32(start), UInt32(n))
        if r >= 0 { return .success(Int(r)) }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS { return .success(0) }
        return .failure(Errno(e))
    }
}
