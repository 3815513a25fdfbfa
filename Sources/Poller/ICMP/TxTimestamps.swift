// Kernel transmit timestamps for the ICMP poller: the error-queue reader (recvmmsg with MSG_ERRQUEUE,
// see txstamp.c) and the ring that keeps each socket's recent stamps by key until the replies come.
import Capture
import CSOTPLinux
#if canImport(Glibc)
import Glibc
#endif

/// How the poller takes a probe's send time.
public enum ICMPTxTimestamps: String, Sendable, CaseIterable {
    /// The kernel's transmit timestamp, each packet keyed by SCM_TS_OPT_ID where the kernel has it
    /// (Linux 6.13), else by the socket's SOF_TIMESTAMPING_OPT_ID counter.
    case auto
    /// The kernel's transmit timestamp keyed by the socket's counter even where per-packet keys work.
    case counter
    /// The clock read in user space just before sendmmsg: scheduler delay before the send lands in the RTT.
    case off
}

/// How the probes' transmit timestamps are told apart, as the sockets were opened.
public enum ICMPTxTimestampKeys: String, Sendable {
    /// Each packet carries its key (SCM_TS_OPT_ID): exact whatever happens to a send.
    case perPacket
    /// The socket's counter, which the sender follows; a send whose effect on it is unknown stops the
    /// keys until the counter is reset (after the longest timeout, so no old key can be mistaken).
    case counter
    /// No kernel transmit timestamps: option off, or the kernel refused SO_TIMESTAMPING.
    case none
}

/// One batch of error-queue reads. Not thread-safe: the receiver thread owns it.
@safe
struct ErrorQueue: ~Copyable {
    private let q: OpaquePointer
    let count: Int

    enum Entry {
        /// A software transmit timestamp: the key given at send, and CLOCK_REALTIME ns.
        case transmitted(key: UInt32, nanos: Int64)
        case icmpError(type: UInt8, code: UInt8)
        case other
    }

    init(count: Int) {
        guard let q = unsafe sotp_errq_new(UInt32(count)) else { fatalError("out of memory for an error-queue batch") }
        unsafe self.q = q
        self.count = count
    }

    deinit { unsafe sotp_errq_free(q) }

    /// recvmmsg(MSG_ERRQUEUE) without blocking; the number of messages, 0 when the queue is empty.
    func receive(_ fd: Int32) throws(Errno) -> Int {
        let n = unsafe sotp_errq_recv(fd, q)
        if n >= 0 { return Int(n) }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK { return 0 }
        throw Errno(e)
    }

    func entry(_ i: Int) -> Entry {
        var key: UInt32 = 0
        var nanos: Int64 = 0
        switch unsafe sotp_errq_entry(q, UInt32(i), &key, &nanos) {
        case Int32(SOTP_ERRQ_TX_SOFTWARE): return .transmitted(key: key, nanos: nanos)
        case Int32(SOTP_ERRQ_ICMP): return .icmpError(type: UInt8(truncatingIfNeeded: key >> 8), code: UInt8(truncatingIfNeeded: key))
        default: return .other
        }
    }
}

/// The last `capacity` transmit timestamps of one socket, by key (keys count up, so the oldest go first).
/// Allocated once.
struct TxStampRing {
    private var keys: [UInt32]
    private var nanos: [Int64]
    private let mask: Int

    /// `capacity` is rounded up to a power of two.
    init(capacity: Int) {
        var c = 1
        while c < capacity { c <<= 1 }
        keys = [UInt32](repeating: 0, count: c)
        nanos = [Int64](repeating: -1, count: c)
        mask = c - 1
    }

    mutating func insert(key: UInt32, nanos t: Int64) {
        let i = Int(key) & mask
        keys[i] = key
        nanos[i] = t
    }

    /// The stamp for `key` if it is there and falls between `notBefore` (the clock read before the send)
    /// and `notAfter` (the reply's arrival): a stamp outside them is another packet's (a key reused after
    /// the counter was reset) or the realtime clock stepped.
    func lookup(key: UInt32, notBefore: Int64, notAfter: Int64) -> Int64? {
        let i = Int(key) & mask
        guard keys[i] == key else { return nil }
        let t = nanos[i]
        return t >= 0 && t >= notBefore && t <= notAfter ? t : nil  // -1: never stamped
    }
}
