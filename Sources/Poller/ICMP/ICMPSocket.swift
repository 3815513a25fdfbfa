// The ICMP poller's sockets: one per address family, raw (CAP_NET_RAW) or unprivileged ICMP datagram
// ("ping") sockets, with kernel receive and transmit timestamps. Replies are read with Capture's
// MessageBatch, probes sent with ProbeBatch, transmit timestamps read with ErrorQueue.
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
    /// SO_TIMESTAMPING is on with software transmit and receive stamps, keyed (OPT_ID) and without the
    /// packet (OPT_TSONLY); false: SO_TIMESTAMPNS for receive only.
    let txTimestamps: Bool

    /// The SO_TIMESTAMPING flags: one option, one clock (CLOCK_REALTIME, the software field) for both
    /// directions, so an RTT is the difference of two stamps the kernel took the same way.
    static let timestampingFlags = Int32(SOTP_SOF_TIMESTAMPING_TX_SOFTWARE | SOTP_SOF_TIMESTAMPING_RX_SOFTWARE
        | SOTP_SOF_TIMESTAMPING_SOFTWARE | SOTP_SOF_TIMESTAMPING_OPT_ID | SOTP_SOF_TIMESTAMPING_OPT_TSONLY)

    /// Opens the socket for one family in `mode` (`.auto` tries raw, then datagram), with kernel
    /// transmit timestamps if `txTimestamps` and the kernel agrees.
    init(v6: Bool, mode: ICMPSocketMode, receiveBufferBytes: Int, txTimestamps: Bool = true) throws(ICMPSocketError) {
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
        var flags = ICMPSocket.timestampingFlags
        if txTimestamps, unsafe setsockopt(fd, SOL_SOCKET, Int32(SOTP_SO_TIMESTAMPING), &flags, socklen_t(MemoryLayout<Int32>.size)) == 0 {
            self.txTimestamps = true
        } else {
            self.txTimestamps = false
            var one: Int32 = 1
            _ = unsafe setsockopt(fd, SOL_SOCKET, Int32(SOTP_SO_TIMESTAMPNS), &one, socklen_t(MemoryLayout<Int32>.size))
        }
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

    /// Whether the kernel keys transmit timestamps per packet (SCM_TS_OPT_ID). Asked of the IPv4 socket
    /// only (see sotp_ts_key_supported_v4); the answer holds for both families of one kernel.
    func acceptsPerPacketKeys() -> Bool {
        precondition(!v6, "asked of the IPv4 socket")
        guard txTimestamps else { return false }
        return sotp_ts_key_supported_v4(fd) != 0
    }

    /// Restarts the socket's OPT_ID counter at 0: the kernel resets it when OPT_ID is turned on.
    func resetTxKeyCounter() -> Bool {
        var without = ICMPSocket.timestampingFlags & ~Int32(SOTP_SOF_TIMESTAMPING_OPT_ID)
        var with = ICMPSocket.timestampingFlags
        let size = socklen_t(MemoryLayout<Int32>.size)
        guard unsafe setsockopt(fd, SOL_SOCKET, Int32(SOTP_SO_TIMESTAMPING), &without, size) == 0 else { return false }
        return unsafe setsockopt(fd, SOL_SOCKET, Int32(SOTP_SO_TIMESTAMPING), &with, size) == 0
    }

    static var pingGroupRange: String {
        guard let f = unsafe fopen("/proc/sys/net/ipv4/ping_group_range", "r") else { return "unreadable" }
        defer { unsafe fclose(f) }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = unsafe fread(&buf, 1, 63, f)
        return String(decoding: buf[..<n], as: UTF8.self).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}

extension IPAddress {
    /// As a Capture peer address (port 0).
    var peer: PeerAddress {
        switch self {
        case .v4(let a): PeerAddress(v4: a)
        case .v6(let h, let l): PeerAddress(v6High: h, v6Low: l)
        }
    }

    init(_ p: PeerAddress) {
        self = p.isV4 ? .v4(UInt32(truncatingIfNeeded: p.low)) : .v6(high: p.high, low: p.low)
    }
}
