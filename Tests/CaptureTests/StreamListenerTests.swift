// The TCP syslog listener on loopback: plain socket clients over IPv4 and IPv6, util-linux logger in both
// framings, 2000 connections at once over two event loops, the idle timeout, the connection limit,
// stop() delivering unfinished frames, and options that must be refused with a message.
import Foundation
import Synchronization
import Testing

@testable import Capture

/// A blocking TCP client socket for the tests.
final class TestClient {
    let fd: Int32

    init(port: UInt16, v6: Bool = false) throws {
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Errno.current }
        let rc: Int32
        if v6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            a.sin6_addr.__in6_u.__u6_addr8.15 = 1
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0 else {
            let e = Errno.current
            Glibc.close(fd)
            throw e
        }
    }

    deinit { Glibc.close(fd) }

    var localPort: UInt16 {
        var a = sockaddr_in6()
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: a.sin6_port)
    }

    @discardableResult
    func send(_ s: String) -> Bool { send(Array(s.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// Half-closes (FIN): the server sees the end of the stream.
    func finish() { shutdown(fd, Int32(SHUT_WR)) }

    /// Whether the server closed the connection (EOF or reset) within `timeout` seconds; what it sent
    /// before (a TLS alert) is skipped.
    func closedByServer(within timeout: Double) -> Bool {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var b = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &b, b.count, 0)
            if n > 0 { continue }
            return n == 0 || errno == ECONNRESET
        }
    }
}

/// What a handler saw, copied out of the call.
struct SeenFrame: Sendable, Equatable {
    var thread: Int
    var text: String
    var from: PeerAddress
    var micros: Int64
    var info: StreamFrameInfo
}

/// Collects frames and checks that calls for one thread never overlap.
final class FrameSink: Sendable {
    let frames = Mutex<[SeenFrame]>([])
    let inside = Mutex<Set<Int>>([])
    let overlaps = Atomic<Int>(0)

    var handler: StreamListener.Handler {
        { [self] thread, bytes, from, micros, info in
            if !inside.withLock({ $0.insert(thread).inserted }) { overlaps.wrappingAdd(1, ordering: .relaxed) }
            let text = bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            frames.withLock { $0.append(SeenFrame(thread: thread, text: text, from: from, micros: micros, info: info)) }
            _ = inside.withLock { $0.remove(thread) }
        }
    }

    var all: [SeenFrame] { frames.withLock { $0 } }
    var count: Int { frames.withLock { $0.count } }

    func wait(for n: Int, timeout: Double = 10) -> Bool { StreamTestSupport.wait(timeout) { self.count >= n } }
}

enum StreamTestSupport {
    static func wait(_ timeout: Double, until done: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while !done() {
            if Date() > end { return false }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }

    /// Runs a program; returns its exit status and what it wrote to stdout and stderr.
    @discardableResult
    static func run(_ argv: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

@Suite("Stream listener", .serialized)
struct StreamListenerTests {
    static let loopback4 = PeerAddress(v4: 0x7f00_0001)
    static let loopback6 = PeerAddress(v6High: 0, v6Low: 1)

    @Test func plainClientsOverIPv4AndIPv6() throws {
        let sink = FrameSink()
        let l = try StreamListener(options: StreamListenerOptions(port: 0), handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        #expect(port != 0 && l.port == port)
        let before = unixMicrosNow()
        let a = try TestClient(port: port)
        let b = try TestClient(port: port, v6: true)
        a.send("11 <13>hello 4")
        a.send("12 <13>second 4")
        b.send("<14>hello 6\r\n<14>again 6\n")
        b.send("<14>unfinished")
        a.finish()
        b.finish()
        #expect(sink.wait(for: 5))
        #expect(a.closedByServer(within: 2) && b.closedByServer(within: 2), "the server closes after the client's FIN")
        let all = sink.all
        #expect(all.filter { $0.from.isV4 }.map(\.text) == ["<13>hello 4", "<13>second 4"])
        #expect(all.filter { !$0.from.isV4 }.map(\.text) == ["<14>hello 6", "<14>again 6", "<14>unfinished"])
        #expect(all.filter { !$0.from.isV4 }.map(\.info.framing) == [.crlf, .lf, .streamEnd])
        for f in all {
            let client = f.from.isV4 ? a : b
            var expected = f.from.isV4 ? Self.loopback4 : Self.loopback6
            expected.port = client.localPort
            #expect(f.from == expected)
            #expect(f.thread == 0 && f.info.transport == .tcp && !f.info.truncated)
            #expect(f.micros >= before && f.micros <= unixMicrosNow())
        }
        #expect(StreamTestSupport.wait(2) { l.stats.snapshot().open == 0 })
        let s = l.stats.snapshot()
        #expect(s.accepted == 2 && s.open == 0 && s.refused == 0)
        #expect(s.octetCountedFrames == 2 && s.crlfFrames == 1 && s.lfFrames == 1 && s.streamEndFrames == 1 && s.frames == 5)
        #expect(s.bytes == 14 + 15 + 25 + 14 && s.framingErrors == 0 && s.truncated == 0)
        #expect(sink.overlaps.load(ordering: .relaxed) == 0)
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func bindsOneAddress(_ address: String) throws {
        let sink = FrameSink()
        var o = StreamListenerOptions(port: 0)
        o.bindAddress = address
        let l = try StreamListener(options: o, handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        let v6 = address == "::1"
        let c = try TestClient(port: port, v6: v6)
        c.send("<13>on \(address)\n")
        #expect(sink.wait(for: 1))
        #expect(sink.all.first?.text == "<13>on \(address)")
        #expect(sink.all.first?.from.isV4 == !v6)
        #expect(throws: Errno.self, "the other family is not bound") { _ = try TestClient(port: port, v6: !v6) }
    }

    @Test func oversizeFramesAreTruncatedAndCounted() throws {
        let sink = FrameSink()
        var o = StreamListenerOptions(port: 0)
        o.maxFrameBytes = 16
        let l = try StreamListener(options: o, handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        let c = try TestClient(port: port)
        c.send("40 <13>0123456789abcdefghijklmnopqrstuvwxyz3 <1>5x<1>\n")
        let d = try TestClient(port: port)
        d.send("<13>" + String(repeating: "z", count: 100_000) + "\n<13>next\n")
        #expect(sink.wait(for: 5))
        let all = sink.all
        #expect(all.filter { $0.from.port == c.localPort }.map(\.text) == ["<13>0123456789ab", "<1>", "5x<1>"])
        #expect(all.filter { $0.from.port == d.localPort }.map(\.text) == ["<13>zzzzzzzzzzzz", "<13>next"])
        let s = l.stats.snapshot()
        #expect(s.truncated == 2 && s.framingErrors == 1 && s.discardedBytes == 24 + 100_004 - 16)
        #expect(all.filter(\.info.truncated).count == 2)
    }

    /// util-linux logger, in both framings, in RFC 5424 and 3164: the frames are the messages it sent
    /// (it prints each message to stderr with --stderr, octet count or trailer included).
    @Test(arguments: [true, false])
    func interoperatesWithLogger(octetCount: Bool) throws {
        let sink = FrameSink()
        let l = try StreamListener(options: StreamListenerOptions(port: 0), handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        var sent: [String] = []
        for format in ["--rfc5424", "--rfc3164"] {
            var argv = ["/usr/bin/logger", "--server", "127.0.0.1", "--port", "\(port)", "--tcp", format, "--stderr", "-t", "sotp-test"]
            if octetCount { argv.append("--octet-count") }
            let r = try StreamTestSupport.run(argv, stdin: "first \(format) line\nsecond with ünïcode\nthird [x=\"y\"]\n")
            #expect(r.status == 0, "logger: \(r.err)")
            // stderr has one message per line; octet counting prefixes each with its count.
            for line in r.err.split(separator: "\n", omittingEmptySubsequences: true) {
                var m = String(line)
                if octetCount, let sp = m.firstIndex(of: " ") {
                    #expect(Int(m[..<sp]) == m.utf8.count - m[...sp].utf8.count)
                    m = String(m[m.index(after: sp)...])
                }
                sent.append(m)
            }
        }
        #expect(sent.count == 6)
        #expect(sink.wait(for: 6))
        #expect(Set(sink.all.map(\.text)) == Set(sent))
        #expect(sink.all.allSatisfy { $0.info.framing == (octetCount ? .octetCounted : .lf) && $0.from.isV4 })
        #expect(l.stats.snapshot().framingErrors == 0)
    }

    /// 2000 connections open at once on two event loops, each sending one frame: all delivered, each
    /// from its own port, on both loops, with calls for one loop never overlapping.
    @Test func thousandsOfConcurrentConnections() throws {
        let n = 2000
        var lim = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        if lim.rlim_cur < 3 * UInt(n) + 100 {
            lim.rlim_cur = min(lim.rlim_max, 3 * UInt(n) + 100)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        }
        let sink = FrameSink()
        var o = StreamListenerOptions(port: 0)
        o.threads = 2
        let l = try StreamListener(options: o, handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        var clients: [TestClient] = []
        for i in 0..<n { clients.append(try TestClient(port: port, v6: i % 2 == 1)) }
        #expect(StreamTestSupport.wait(10) { l.stats.snapshot().open == n })
        for (i, c) in clients.enumerated() { c.send(i % 3 == 0 ? "<13>connection \(i)\n" : "\("<13>connection \(i)".utf8.count) <13>connection \(i)") }
        #expect(sink.wait(for: n, timeout: 20))
        let all = sink.all
        #expect(all.count == n)
        #expect(Set(all.map(\.text)) == Set((0..<n).map { "<13>connection \($0)" }))
        #expect(Set(all.map(\.from)).count == n, "one frame from each address and port")
        #expect(Set(all.map(\.thread)) == [0, 1])
        #expect(sink.overlaps.load(ordering: .relaxed) == 0)
        clients.removeAll()
        #expect(StreamTestSupport.wait(10) { l.stats.snapshot().open == 0 })
        let s = l.stats.snapshot()
        #expect(s.accepted == n && s.refused == 0 && s.frames == n)
    }

    @Test func idleConnectionsAreClosed() throws {
        let sink = FrameSink()
        var o = StreamListenerOptions(port: 0)
        o.idleTimeout = .milliseconds(300)
        let l = try StreamListener(options: o, handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        let quiet = try TestClient(port: port)
        let talker = try TestClient(port: port)
        // The talker sends every 100 ms for a second and stays open; the quiet one is closed.
        for i in 0..<10 {
            talker.send("<13>tick \(i)\n")
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(quiet.closedByServer(within: 5), "closed for silence (a loaded machine runs timers late)")
        #expect(!talker.closedByServer(within: 0.1))
        #expect(talker.closedByServer(within: 10), "and it is closed once it stops talking (a loaded machine runs timers late)")
        #expect(sink.count == 10)
        #expect(l.stats.snapshot().idleClosed == 2)
    }

    @Test func connectionsBeyondTheLimitAreRefused() throws {
        let sink = FrameSink()
        var o = StreamListenerOptions(port: 0)
        o.maxConnections = 2
        let l = try StreamListener(options: o, handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        let a = try TestClient(port: port), b = try TestClient(port: port)
        #expect(StreamTestSupport.wait(5) { l.stats.snapshot().open == 2 })
        let c = try TestClient(port: port)
        #expect(c.closedByServer(within: 2))
        #expect(l.stats.snapshot().refused == 1)
        a.send("<13>from a\n")
        b.send("<13>from b\n")
        #expect(sink.wait(for: 2))
        a.finish()
        #expect(StreamTestSupport.wait(5) { l.stats.snapshot().open == 1 })
        let d = try TestClient(port: port)
        d.send("<13>from d\n")
        #expect(sink.wait(for: 3))
        #expect(Set(sink.all.map(\.text)) == ["<13>from a", "<13>from b", "<13>from d"])
        let s = l.stats.snapshot()
        #expect(s.accepted == 4 && s.refused == 1 && s.open == 2)
    }

    @Test func stopDeliversUnfinishedFramesThenRunsHousekeeping() throws {
        let sink = FrameSink()
        let ticks = Mutex<[(thread: Int, frames: Int)]>([])
        var o = StreamListenerOptions(port: 0)
        o.threads = 2
        let l = try StreamListener(options: o, housekeeping: { thread, _ in
            let n = sink.count
            ticks.withLock { $0.append((thread, n)) }
        }, handler: sink.handler)
        let port = try l.start()
        let c = try TestClient(port: port)
        c.send("<13>done\n<13>half")
        #expect(sink.wait(for: 1))
        #expect(StreamTestSupport.wait(2) { Set(ticks.withLock { $0.map(\.thread) }) == [0, 1] }, "housekeeping every 100 ms on each loop")
        let before = ticks.withLock { $0.count }
        l.stop()
        #expect(sink.all.map(\.text) == ["<13>done", "<13>half"])
        #expect(sink.all.last?.info.framing == .streamEnd)
        let last = ticks.withLock { Array($0.suffix(2)) }
        #expect(ticks.withLock { $0.count } >= before + 2)
        #expect(Set(last.map(\.thread)) == [0, 1] && last.allSatisfy { $0.frames == 2 }, "the last housekeeping sees the last frame")
        // 5 s, not 1: once (scripts/test, CPU burners of the ICMP suite running) the client saw no close
        // within 1 s of stop() returning.
        #expect(c.closedByServer(within: 5))
        l.stop()  // twice is harmless
        #expect(throws: StreamListenerError.self) { try l.start() }
    }

    @Test func badOptionsAreRefusedWithTheirName() {
        func message(_ change: (inout StreamListenerOptions) -> Void) -> String {
            var o = StreamListenerOptions(port: 0)
            change(&o)
            do {
                _ = try StreamListener(options: o) { _, _, _, _, _ in }
                return ""
            } catch { return error.description }
        }
        #expect(message { $0.threads = 0 }.contains("threads"))
        #expect(message { $0.maxConnections = 0 }.contains("maxConnections"))
        #expect(message { $0.maxFrameBytes = 0 }.contains("maxFrameBytes"))
        #expect(message { $0.idleTimeout = .zero }.contains("idleTimeout"))
        #expect(message { $0.bindAddress = "localhost" }.contains("\"localhost\""))
        #expect(message { _ in } == "")
    }

    @Test func aPortInUseIsAnErrorNamingIt() throws {
        let l = try StreamListener(options: StreamListenerOptions(port: 0)) { _, _, _, _, _ in }
        let port = try l.start()
        defer { l.stop() }
        var o = StreamListenerOptions(port: port)
        o.bindAddress = "127.0.0.1"
        let other = try StreamListener(options: o) { _, _, _, _, _ in }
        let e = #expect(throws: StreamListenerError.self) { try other.start() }
        #expect(e?.description.contains("port \(port)") == true && e?.description.contains("bind") == true)
    }
}
