// The ICMP poller's sockets: one per address family, raw (CAP_NET_RAW) or unprivileged ICMP datagram
// ("ping") sockets, with kernel receive timestamps, and message batches for sendmmsg/recvmmsg.
import Capture
import CSOTPLinux
#if canImport(Glibc)
import Glibc
#endif

/// Which kind of ICMP socket to open.
public enum ICMPSocketMode: String, Sendable, CaseIterable {
    /// Raw if this process may open raw sockets, else datagram.
    case auto
    /// SOCK_RAW: needs CAP_NET_RAW; sees ICMP errors; the identifier is ours.
    case raw
    /// SOCK_DGRAM/IPPROTO_ICMP: needs the group in net.ipv4.ping_group_range; the kernel picks the
    /// identifier and filters replies to this socket; ICMP errors are not delivered as packets.
    case dgram
}

/// Why the ICMP sockets could not be opened.
public struct ICMPSocketError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// One open ICMP socket (closed when it goes away).
final class ICMPSocket: Sendable {
    let fd: Int32
    let v6: Bool
    let raw: Bool

    /// Opens the socket for one family in `mode` (`.auto` tries raw, then datagram).
    init(v6: Bool, mode: ICMPSocketMode, receiveBufferBytes: Int) throws(ICMPSocketError) {
        let family = v6 ? AF_INET6 : AF_INET
        let proto = Int32(v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)
        var fd: Int32 = -1
        var rawErr: Int32 = 0, dgramErr: Int32 = 0
        if mode != .dgram {
            fd = socket(family, Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto)
            if fd < 0 { rawErr = errno }
        }
        var isRaw = fd >= 0
        if fd < 0 && mode != .raw {
            fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto)
            if fd < 0 { dgramErr = errno }
            isRaw = false
        }
        if fd < 0 {
            let fam = v6 ? "IPv6" : "IPv4"
            var parts: [String] = []
            if mode != .dgram {
                parts.append("raw ICMP socket: \(Errno(rawErr)) (needs root or CAP_NET_RAW: setcap cap_net_raw+ep on sotpd)")
            }
            if mode != .raw {
                parts.append("ICMP datagram socket: \(Errno(dgramErr)) (needs the process's group inside net.ipv4.ping_group_range, now \(ICMPSocket.pingGroupRange))")
            }
            throw ICMPSocketError(description: "cannot open an \(fam) ICMP socket: " + parts.joined(separator: "; "))
        }
        self.fd = fd
        self.v6 = v6
        self.raw = isRaw
        var one: Int32 = 1
        _ = unsafe setsockopt(fd, SOL_SOCKET, Int32(SOTP_SO_TIMESTAMPNS), &one, socklen_t(MemoryLayout<Int32>.size))
        // Room for a few hundred ms of replies at 100k/s; SO_RCVBUFFORCE passes rmem_max where we may.
        var size = Int32(clamping: receiveBufferBytes)
        if unsafe setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = unsafe setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var sndSize = Int32(4 << 20)
        if unsafe setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndSize, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = unsafe setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndSize, socklen_t(MemoryLayout<Int32>.size))
        }
        if isRaw {
            // Only replies and the errors that may quote a probe reach us: not the echo requests this
            // box sends or receives, which on a busy poller would double the receive load.
            if v6 {
                let pass: [UInt8] = [129, 1, 2, 3, 4]
                _ = unsafe pass.withUnsafeBufferPointer { unsafe sotp_icmp_filter_v6(fd, $0.baseAddress, UInt32($0.count)) }
            } else {
                let pass: UInt32 = 1 << 0 | 1 << 3 | 1 << 4 | 1 << 11 | 1 << 12
                _ = sotp_icmp_filter_v4(fd, pass)
            }
        }
    }

    deinit { close(fd) }

    /// Sets the default TOS / traffic class for packets without a per-packet one.
    func setTOS(_ tos: UInt8) {
        var v = Int32(tos)
        if v6 {
            _ = unsafe setsockopt(fd, Int32(IPPROTO_IPV6), Int32(SOTP_IPV6_TCLASS), &v, socklen_t(MemoryLayout<Int32>.size))
        } else {
            _ = unsafe setsockopt(fd, Int32(IPPROTO_IP), IP_TOS, &v, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    static var pingGroupRange: String {
        guard let f = unsafe fopen("/proc/sys/net/ipv4/ping_group_range", "r") else { return "unreadable" }
        defer { unsafe fclose(f) }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = unsafe fread(&buf, 1, 63, f)
        return String(decoding: buf[..<n], as: UTF8.self).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}

/// A batch of messages (see batch.c): owned buffers, addresses and control areas for one syscall.
@safe
struct MessageBatch: ~Copyable {
    private let b: OpaquePointer
    let count: Int
    let bufferSize: Int

    init(count: Int, bufferSize: Int) {
        guard let b = unsafe sotp_batch_new(UInt32(count), UInt32(bufferSize)) else { fatalError("out of memory for a message batch") }
        unsafe self.b = b
        self.count = count
        self.bufferSize = bufferSize
    }

    deinit { unsafe sotp_batch_free(b) }

    /// recvmmsg without blocking; the number of messages, 0 when nothing is waiting.
    func receive(_ socket: ICMPSocket) throws(Errno) -> Int {
        let n = unsafe sotp_batch_recv(socket.fd, b, Int32(MSG_DONTWAIT))
        if n >= 0 { return Int(n) }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK { return 0 }
        throw Errno(e)
    }

    /// Message i's received bytes.
    func withReceived<R, E: Error>(_ i: Int, _ body: (RawSpan) throws(E) -> R) throws(E) -> R {
        let len = Int(unsafe sotp_batch_length(b, UInt32(i)))
        let p = unsafe UnsafeRawBufferPointer(start: sotp_batch_buffer(b, UInt32(i)), count: len)
        return try unsafe body(p.bytes)
    }

    func truncated(_ i: Int) -> Bool { unsafe sotp_batch_truncated(b, UInt32(i)) != 0 }

    /// Kernel receive time of message i (CLOCK_REALTIME ns), nil if the kernel gave none.
    func receiveNanos(_ i: Int) -> Int64? {
        let t = unsafe sotp_batch_rx_nanos(b, UInt32(i))
        return t < 0 ? nil : t
    }

    func source(_ i: Int) -> IPAddress? {
        var v4: UInt32 = 0
        var v6 = (UInt64(0), UInt64(0))
        let fam = unsafe withUnsafeMutableBytes(of: &v6) { unsafe sotp_batch_source(b, UInt32(i), &v4, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        switch fam {
        case 4: return .v4(v4)
        case 6: return .v6(high: UInt64(bigEndian: v6.0), low: UInt64(bigEndian: v6.1))
        default: return nil
        }
    }

    /// Lets `body` write message i's packet; it returns the length.
    func fill(_ i: Int, _ body: (inout MutableRawSpan) -> Int) -> Int {
        let p = unsafe UnsafeMutableRawBufferPointer(start: sotp_batch_buffer(b, UInt32(i)), count: bufferSize)
        var span = unsafe p.mutableBytes
        return body(&span)
    }

    /// Addresses message i; `tos` nil keeps the socket default, `source` nil lets the kernel choose.
    func address(_ i: Int, to dst: IPAddress, length: Int, tos: UInt8?, source: IPAddress?) {
        let t = tos.map { Int32($0) } ?? -1
        switch dst {
        case .v4(let a):
            var src: UInt32 = 0
            if case .v4(let s)? = source { src = s }
            unsafe sotp_batch_set_v4(b, UInt32(i), a, UInt32(length), t, src)
        case .v6(let h, let l):
            var d = (h.bigEndian, l.bigEndian)
            unsafe withUnsafeBytes(of: &d) { dp in
                if case .v6(let sh, let sl)? = source {
                    var s = (sh.bigEndian, sl.bigEndian)
                    unsafe withUnsafeBytes(of: &s) { sp in
                        unsafe sotp_batch_set_v6(b, UInt32(i), dp.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(length), t, sp.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                } else {
                    unsafe sotp_batch_set_v6(b, UInt32(i), dp.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(length), t, nil)
                }
            }
        }
    }

    /// sendmmsg of messages start..<start+n: the number sent (0 when the socket buffer is full), or the
    /// errno of message `start` when it could not be sent at all.
    func send(_ socket: ICMPSocket, start: Int, count n: Int) -> Result<Int, Errno> {
        let r = unsafe sotp_batch_send(socket.fd, b, UInt32(start), UInt32(n))
        if r >= 0 { return .success(Int(r)) }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS { return .success(0) }
        return .failure(Errno(e))
    }
}
