// A UDP listener for exporters (flows, syslog, traps): N sockets on one port with SO_REUSEPORT, each
// read by its own thread (pinnable) in recvmmsg batches into a preallocated pool, the datagram handed to
// the caller in place. The kernel's drop count (SO_RXQ_OVFL) is read with every batch and exported,
// so a full socket queue is a number on /metrics, never a silent loss.
import CSOTPLinux
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How a UDP listener is set up.
public struct UDPReceiverOptions: Sendable {
    /// Port to listen on; 0 picks a free one (see `UDPReceiver.port`).
    public var port: UInt16
    /// Local address: "::" (the default) takes IPv4 and IPv6; "0.0.0.0" IPv4 only; or one address.
    public var bindAddress = "::"
    /// Sockets (and threads) sharing the port; the kernel spreads exporters over them by their address
    /// and port, so one exporter always lands on the same thread.
    public var sockets = 1
    /// CPUs to pin the threads to, thread i on cpus[i % count]; empty: not pinned.
    public var cpus: [Int] = []
    /// SO_RCVBUF per socket. The kernel caps it at net.core.rmem_max unless sotpd may force it.
    public var receiveBufferBytes = 32 << 20
    public var batchSize = 64
    /// Largest datagram kept whole; longer ones are counted as truncated.
    public var maxDatagramBytes = 9216
    /// Thread name prefix (15 bytes are kept with the index).
    public var name = "udp"

    public init(port: UInt16) { self.port = port }
}

/// Counters of a `UDPReceiver`, summed over its sockets.
public final class UDPReceiverStats: Sendable {
    let datagrams = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    let truncated = Atomic<Int>(0)
    let kernelDrops = Atomic<Int>(0)
    let receiveErrors = Atomic<Int>(0)

    public struct Snapshot: Sendable, Equatable {
        public var datagrams = 0
        public var bytes = 0
        /// Datagrams longer than maxDatagramBytes (their tail was lost; the decoder sees the head).
        public var truncated = 0
        /// Datagrams the kernel dropped because a socket's receive queue was full (SO_RXQ_OVFL).
        public var kernelDrops = 0
        public var receiveErrors = 0

        public init() {}

        public var fields: [(String, Int)] {
            [("datagrams", datagrams), ("bytes", bytes), ("truncated", truncated), ("kernel_drops", kernelDrops),
             ("receive_errors", receiveErrors)]
        }
    }

    public func snapshot() -> Snapshot {
        var s = Snapshot()
        s.datagrams = datagrams.load(ordering: .relaxed)
        s.bytes = bytes.load(ordering: .relaxed)
        s.truncated = truncated.load(ordering: .relaxed)
        s.kernelDrops = kernelDrops.load(ordering: .relaxed)
        s.receiveErrors = receiveErrors.load(ordering: .relaxed)
        return s
    }
}

/// Why a listener could not be opened.
public struct UDPReceiverError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The errno of the call that failed, if a call failed (EACCES from bind: a privileged port).
    public var errno: Int32? = nil

    public init(description: String, errno: Int32? = nil) {
        self.description = description
        self.errno = errno
    }
}

/// The listener. `handler(thread, bytes, from, receivedMicros)` runs on receive thread `thread`
/// (0..<sockets) for every datagram, with the bytes valid only during the call.
public final class UDPReceiver: Sendable {
    public typealias Handler = @Sendable (_ thread: Int, _ bytes: RawSpan, _ from: PeerAddress, _ receivedMicros: Int64) -> Void
    /// Runs on receive thread `thread` when its socket is drained, and at least every 100 ms while it
    /// is idle or every 64 batches while it is busy: for work that belongs to that thread (flushing
    /// what it aggregated, handing out its state) and must happen even when no datagram arrives.
    public typealias Housekeeping = @Sendable (_ thread: Int, _ nowMicros: Int64) -> Void

    public let stats = UDPReceiverStats()
    /// The port bound (the chosen one when the options asked for 0).
    public let port: UInt16
    /// SO_RCVBUF as the kernel granted it (what it reports, halved: the kernel doubles the request).
    public let receiveBufferBytes: Int
    /// Set when the kernel granted less receive buffer than asked: names net.core.rmem_max.
    public let bufferWarning: String?

    private let fds: [Int32]
    private let options: UDPReceiverOptions
    private let handler: Handler
    private let housekeeping: Housekeeping?
    private let threads = WorkerThreads()

    public init(options: UDPReceiverOptions, housekeeping: Housekeeping? = nil, handler: @escaping Handler) throws(UDPReceiverError) {
        precondition(options.sockets >= 1 && options.batchSize >= 1)
        self.options = options
        self.handler = handler
        self.housekeeping = housekeeping
        var v4 = in_addr(), v6 = in6_addr()
        let family: Int32
        if unsafe inet_pton(AF_INET, options.bindAddress, &v4) == 1 {
            family = AF_INET
        } else if unsafe inet_pton(AF_INET6, options.bindAddress, &v6) == 1 {
            family = AF_INET6
        } else {
            throw UDPReceiverError(description: "bind address \"\(options.bindAddress)\" is not an IPv4 or IPv6 address")
        }
        var fds: [Int32] = []
        var port = options.port
        var granted = Int.max
        func fail(_ what: String) -> UDPReceiverError {
            let e = Errno.current
            for fd in fds { close(fd) }
            return UDPReceiverError(description: "UDP \(options.bindAddress) port \(port): \(what): \(e)", errno: e.rawValue)
        }
        for _ in 0..<options.sockets {
            let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw fail("socket") }
            fds.append(fd)
            var one: Int32 = 1, zero: Int32 = 0
            let size = MemoryLayout<Int32>.size
            guard unsafe setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(size)) == 0 else { throw fail("SO_REUSEPORT") }
            if family == AF_INET6 {
                // "::" takes IPv4 too (as ::ffff:a.b.c.d, unmapped before the handler sees it).
                _ = unsafe setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(size))
            }
            _ = unsafe setsockopt(fd, SOL_SOCKET, Int32(SOTP_SO_RXQ_OVFL), &one, socklen_t(size))
            var want = Int32(clamping: options.receiveBufferBytes)
            if unsafe setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, socklen_t(size)) != 0 {
                _ = unsafe setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, socklen_t(size))
            }
            var got: Int32 = 0
            var len = socklen_t(size)
            _ = unsafe getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len)
            granted = min(granted, Int(got) / 2)
            let rc: Int32
            if family == AF_INET {
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_port = port.bigEndian
                a.sin_addr = v4
                rc = unsafe withUnsafePointer(to: &a) { unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            } else {
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                a.sin6_port = port.bigEndian
                a.sin6_addr = v6
                rc = unsafe withUnsafePointer(to: &a) { unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            }
            guard rc == 0 else { throw fail("bind") }
            if port == 0 {
                // The first socket chose the port; the others join it.
                var a = sockaddr_in6()
                var alen = socklen_t(MemoryLayout<sockaddr_in6>.size)
                _ = unsafe withUnsafeMutablePointer(to: &a) { unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe getsockname(fd, $0, &alen) } }
                port = UInt16(bigEndian: a.sin6_port)  // sin_port and sin6_port share the offset
            }
        }
        self.fds = fds
        self.port = port
        receiveBufferBytes = granted
        bufferWarning = granted < options.receiveBufferBytes
            ? "receive buffer is \(granted) bytes, not the \(options.receiveBufferBytes) asked for: raise net.core.rmem_max (sysctl) or run with CAP_NET_ADMIN"
            : nil
    }

    /// Sends `bytes` to `peer` from receive thread `thread`'s socket (so the reply leaves from the port the
    /// request came to, as SNMP inform responses must). Non-blocking: false when the datagram was not
    /// sent (socket buffer full, unreachable), for the caller to count.
    public func send(thread: Int, _ bytes: UnsafeRawBufferPointer, to peer: PeerAddress) -> Bool {
        let fd = fds[thread]
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_port = peer.port.bigEndian
        if peer.isV4 {
            // Our sockets are IPv6 ("::") or IPv4: an IPv4 peer is written v4-mapped for the former.
            if options.bindAddress.contains(":") {
                let v4 = UInt32(truncatingIfNeeded: peer.low)
                unsafe withUnsafeMutableBytes(of: &a.sin6_addr) { b in
                    for i in 0..<10 { unsafe b[i] = 0 }
                    unsafe b[10] = 0xff
                    unsafe b[11] = 0xff
                    for i in 0..<4 { unsafe b[12 + i] = UInt8(truncatingIfNeeded: v4 >> (24 - 8 * UInt32(i))) }
                }
            } else {
                var v = sockaddr_in()
                v.sin_family = sa_family_t(AF_INET)
                v.sin_port = peer.port.bigEndian
                v.sin_addr.s_addr = UInt32(truncatingIfNeeded: peer.low).bigEndian
                let n = unsafe withUnsafePointer(to: &v) {
                    unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        unsafe sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                return n == bytes.count
            }
        } else {
            unsafe withUnsafeMutableBytes(of: &a.sin6_addr) { b in
                for i in 0..<8 {
                    unsafe b[i] = UInt8(truncatingIfNeeded: peer.high >> (56 - 8 * UInt64(i)))
                    unsafe b[8 + i] = UInt8(truncatingIfNeeded: peer.low >> (56 - 8 * UInt64(i)))
                }
            }
        }
        let n = unsafe withUnsafePointer(to: &a) {
            unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                unsafe sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        return n == bytes.count
    }

    deinit {
        stop()
        for fd in fds { close(fd) }
    }

    /// Starts one thread per socket.
    public func start() {
        let fds = self.fds
        threads.start(count: fds.count, name: options.name, cpus: options.cpus) { [self] i in receive(thread: i, fd: fds[i]) }
    }

    /// Stops the threads and waits for them (at most ~100 ms each).
    public func stop() { threads.stop() }

    private func receive(thread: Int, fd: Int32) {
        let batch = MessageBatch(count: options.batchSize, bufferSize: options.maxDatagramBytes)
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var lastOverflow: UInt32 = 0
        while !threads.isStopping {
            _ = unsafe poll(&pfd, 1, 100)
            var batches = 0
            while true {
                batches += 1
                if batches % 64 == 0 { housekeeping?(thread, unixMicrosNow()) }
                let n: Int
                do {
                    n = try batch.receive(fd)
                } catch {
                    stats.receiveErrors.wrappingAdd(1, ordering: .relaxed)
                    break
                }
                if n == 0 { break }
                let now = unixMicrosNow()
                var bytes = 0, truncated = 0
                for i in 0..<n {
                    if batch.truncated(i) { truncated += 1 }
                    if let o = batch.queueOverflows(i) {
                        // Cumulative per socket; wraps at 2^32.
                        if o != lastOverflow { stats.kernelDrops.wrappingAdd(Int(o &- lastOverflow), ordering: .relaxed) }
                        lastOverflow = o
                    }
                    let from = (batch.source(i) ?? PeerAddress(v6High: 0, v6Low: 0)).unmapped
                    batch.withReceived(i) { span in
                        bytes += span.byteCount
                        handler(thread, span, from, now)
                    }
                }
                stats.datagrams.wrappingAdd(n, ordering: .relaxed)
                stats.bytes.wrappingAdd(bytes, ordering: .relaxed)
                if truncated > 0 { stats.truncated.wrappingAdd(truncated, ordering: .relaxed) }
                if n < batch.count { break }
            }
            housekeeping?(thread, unixMicrosNow())
        }
    }
}
