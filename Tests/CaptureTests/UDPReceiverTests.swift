// The UDP listener on loopback: datagrams from IPv4 and IPv6 peers over several SO_REUSEPORT sockets,
// truncation counted, and every datagram the kernel could not queue counted as a kernel drop, so
// received + dropped equals sent exactly.
import Foundation
import Synchronization
import Testing

@testable import Capture

@Suite("UDP receiver", .serialized)
struct UDPReceiverTests {
    /// Sends `count` datagrams of `size` bytes from one new socket to 127.0.0.1 or ::1 `port`.
    static func send(port: UInt16, v6: Bool = false, count: Int, size: Int = 100, fill: UInt8 = 7) -> UInt16 {
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var buf = [UInt8](repeating: fill, count: size)
        var local = sockaddr_in6()
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        for i in 0..<count {
            if size >= 4 { buf[0] = UInt8(i >> 24 & 0xff); buf[1] = UInt8(i >> 16 & 0xff); buf[2] = UInt8(i >> 8 & 0xff); buf[3] = UInt8(i & 0xff) }
            if v6 {
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                a.sin6_port = port.bigEndian
                a.sin6_addr.__in6_u.__u6_addr8.15 = 1
                _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buf, size, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            } else {
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_port = port.bigEndian
                a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buf, size, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
        }
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: local.sin6_port)
    }

    static func wait(_ timeout: Double, until done: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while !done() {
            if Date() > end { return false }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }

    @Test func deliversIPv4AndIPv6DatagramsWithTheirSourceAcrossSockets() throws {
        struct Seen: Hashable { var from: PeerAddress; var first: UInt8; var thread: Int }
        let seen = Mutex<[Seen]>([])
        var o = UDPReceiverOptions(port: 0)
        o.sockets = 3
        let r = try UDPReceiver(options: o) { thread, bytes, from, micros in
            #expect(micros > 1_700_000_000_000_000)
            let b: UInt8 = bytes.byteCount > 4 ? unsafe bytes.unsafeLoad(fromByteOffset: 4, as: UInt8.self) : 0
            seen.withLock { $0.append(Seen(from: from, first: b, thread: thread)) }
        }
        r.start()
        defer { r.stop() }
        var ports: [UInt16] = []
        for i in 0..<12 { ports.append(Self.send(port: r.port, v6: i % 3 == 0, count: 5, fill: UInt8(i))) }
        #expect(Self.wait(5) { seen.withLock { $0.count } == 60 })
        let all = seen.withLock { $0 }
        #expect(all.filter { $0.from.isV4 }.count == 40, "IPv4 peers arrive unmapped from ::ffff:")
        #expect(all.filter { !$0.from.isV4 && $0.from.low == 1 && $0.from.high == 0 }.count == 20)
        #expect(Set(all.map(\.from.port)) == Set(ports))
        // One peer always lands on the same socket.
        for p in ports { #expect(Set(all.filter { $0.from.port == p }.map(\.thread)).count == 1) }
        let s = r.stats.snapshot()
        #expect(s.datagrams == 60 && s.bytes == 6000 && s.kernelDrops == 0 && s.truncated == 0)
    }

    @Test func longDatagramsAreTruncatedAndCounted() throws {
        let sizes = Mutex<[Int]>([])
        var o = UDPReceiverOptions(port: 0)
        o.bindAddress = "127.0.0.1"
        o.maxDatagramBytes = 100
        let r = try UDPReceiver(options: o) { _, bytes, _, _ in sizes.withLock { $0.append(bytes.byteCount) } }
        r.start()
        defer { r.stop() }
        _ = Self.send(port: r.port, count: 1, size: 300)
        _ = Self.send(port: r.port, count: 1, size: 50)
        #expect(Self.wait(5) { sizes.withLock { $0.count } == 2 })
        #expect(sizes.withLock { $0 }.sorted() == [50, 100])
        #expect(r.stats.snapshot().truncated == 1)
    }

    @Test func whatTheKernelDropsIsCountedSoNothingIsSilentlyLost() throws {
        // A tiny receive buffer and a handler that stalls at first: the queue overflows.
        let handled = Atomic<Int>(0)
        var o = UDPReceiverOptions(port: 0)
        o.bindAddress = "127.0.0.1"
        o.receiveBufferBytes = 64 << 10
        let r = try UDPReceiver(options: o) { _, _, _, _ in
            if handled.wrappingAdd(1, ordering: .relaxed).oldValue == 0 { Thread.sleep(forTimeInterval: 0.5) }
        }
        r.start()
        defer { r.stop() }
        let sent = 20_000
        _ = Self.send(port: r.port, count: sent, size: 200)
        // Until the handler has drained what the queue held (the count of drops lags by one datagram).
        _ = Self.wait(3) { handled.load(ordering: .relaxed) > 1 && r.stats.snapshot().kernelDrops + r.stats.snapshot().datagrams >= sent - 1 }
        // SO_RXQ_OVFL reaches us only with the next datagram after a drop: one more flushes the count.
        Thread.sleep(forTimeInterval: 0.2)
        _ = Self.send(port: r.port, count: 1, size: 10)
        #expect(Self.wait(5) { r.stats.snapshot().datagrams + r.stats.snapshot().kernelDrops == sent + 1 })
        let s = r.stats.snapshot()
        #expect(s.kernelDrops > 0, "\(s)")
        #expect(s.datagrams + s.kernelDrops == sent + 1, "\(s)")
        #expect(handled.load(ordering: .relaxed) == s.datagrams)
    }

    @Test func aBadBindAddressIsAClearError() {
        var o = UDPReceiverOptions(port: 0)
        o.bindAddress = "not-an-address"
        #expect(throws: UDPReceiverError.self) { try UDPReceiver(options: o) { _, _, _, _ in } }
        do {
            _ = try UDPReceiver(options: o) { _, _, _, _ in }
        } catch {
            #expect(error.description.contains("\"not-an-address\" is not an IPv4 or IPv6 address"))
        }
    }
}
