// The ICMP poller against a host in a network namespace whose answers come from sotp-test-responder
// at a set delay and loss (this kernel has no netem): RTT accuracy, loss accuracy, up/down, IPv4 and IPv6.
import Foundation
import Synchronization
import Testing
import TestSupport

@testable import Poller

@Suite("ICMP poller across a namespace", .serialized, .enabled(if: NetNS.available, Comment(rawValue: NetNS.unavailableReason ?? "")))
struct ICMPPollerNetNSTests {
    final class Collected: Sendable {
        let results = Mutex<[ICMPCycleResult]>([])
        let changes = Mutex<[ICMPStateChange]>([])

        func wait(_ timeout: Duration, until done: () -> Bool) -> Bool {
            let end = ContinuousClock.now + timeout
            while !done() {
                if ContinuousClock.now > end { return false }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return true
        }
    }

    static func poller(_ c: Collected) throws -> ICMPPoller {
        try ICMPPoller(
            onResult: { r in c.results.withLock { $0.append(r) } },
            onStateChange: { s in c.changes.withLock { $0.append(s) } })
    }

    /// `n` one-probe sweeps of the namespace host at `rate` a second; returns their results.
    static func sweep(_ ns: NetNS, v6: Bool, count n: Int, rate: Int, timeout: Duration = .milliseconds(500)) throws -> [ICMPCycleResult] {
        let c = Collected()
        let p = try poller(c)
        p.start()
        defer { p.stop() }
        var s = ProbeSettings()
        s.probes = 1
        s.timeout = timeout
        let address = try #require(IPAddress(v6 ? ns.hostV6 : ns.hostV4))
        let targets = (0..<n).map { ICMPTarget(id: Int32($0), name: "h", address: address, settings: s) }
        #expect(p.sweep(targets, ratePerSecond: rate).isEmpty)
        let done = c.wait(.seconds(Double(n) / Double(rate)) + timeout + .seconds(10)) { c.results.withLock { $0.count } == n }
        #expect(done, "\(c.results.withLock { $0.count }) of \(n) results")
        let st = p.stats.snapshot()
        #expect(st.forged == 0 && st.stale == 0 && st.wrongSource == 0 && st.noKernelTimestamp == 0, "\(st)")
        return c.results.withLock { $0 }
    }

    /// The reference is the wire (tcpdump on the veth), not the 20 ms asked of the responder: on a busy
    /// machine the kernel delivers replies late for everyone, and that is real delay the poller should see.
    @Test("median RTT within 0.2 ms of the wire's, never below an injected 20 ms delay", arguments: [false, true])
    func rttMatchesTheWire(v6: Bool) throws {
        let ns = try NetNS.create(tag: "rtt")
        defer { ns.destroy() }
        try ns.startResponder(delayMicros: 20_000, lossPercent: 0)
        let wire = try WireCapture.start(interface: ns.interface)
        let results = try Self.sweep(ns, v6: v6, count: 300, rate: 200)
        // tcpdump hands packets over a buffer at a time, or after its 1 s buffer timeout: stopped sooner,
        // it loses the last second of the capture (about 115 of the 300 pairs).
        Thread.sleep(forTimeInterval: 1.2)
        let onWire = try wire.stop()
        let rtts = results.compactMap(\.rttAvgMs)
        // tcpdump may miss a few packets on a loaded machine; the median needs most of them, not all.
        #expect(rtts.count == 300 && onWire.count >= 250, "\(rtts.count) results, \(onWire.count) answered on the wire")
        let median = try #require(rtts.median), wireMedian = try #require(onWire.median)
        let family = v6 ? "IPv6" : "IPv4"
        #expect(abs(median - wireMedian) <= 0.2, "median \(median) ms, wire \(wireMedian) ms (\(family))")
        #expect(rtts.min()! >= 20, "fastest \(rtts.min()!) ms (\(family))")
    }

    @Test("loss within 2 points of an injected 10% over 1000 probes", arguments: [false, true])
    func lossMatchesInjectedLoss(v6: Bool) throws {
        let ns = try NetNS.create(tag: "loss")
        defer { ns.destroy() }
        try ns.startResponder(delayMicros: 1_000, lossPercent: 10, seed: 7)
        let results = try Self.sweep(ns, v6: v6, count: 1000, rate: 1000)
        let sent = results.reduce(0) { $0 + $1.sent }, received = results.reduce(0) { $0 + $1.received }
        let loss = Double(sent - received) * 100 / Double(sent)
        #expect(sent == 1000)
        #expect(abs(loss - 10) <= 2, "measured \(loss)% loss (\(v6 ? "IPv6" : "IPv4"))")
    }

    @Test("a host that stops answering goes down after the hysteresis and comes back up", arguments: [false, true])
    func downAndUpAgain(v6: Bool) throws {
        let ns = try NetNS.create(tag: "updown")
        defer { ns.destroy() }
        try ns.startResponder(delayMicros: 2_000, lossPercent: 0)
        let c = Collected()
        let p = try Self.poller(c)
        p.start()
        defer { p.stop() }
        var s = ProbeSettings()
        s.interval = .milliseconds(300)
        s.probes = 2
        s.spacing = .milliseconds(20)
        s.timeout = .milliseconds(150)
        s.downAfter = 3
        s.upAfter = 2
        let address = try #require(IPAddress(v6 ? ns.hostV6 : ns.hostV4))
        #expect(p.setTargets([ICMPTarget(id: 9, name: "h", address: address, settings: s)]).isEmpty)
        #expect(c.wait(.seconds(5)) { c.changes.withLock { $0.count } == 1 })
        try ns.pauseResponder()
        let pausedAt = Int64(Date().timeIntervalSince1970 * 1e6)
        #expect(c.wait(.seconds(5)) { c.changes.withLock { $0.count } == 2 })
        try ns.resumeResponder()
        let resumedAt = Int64(Date().timeIntervalSince1970 * 1e6)
        #expect(c.wait(.seconds(5)) { c.changes.withLock { $0.count } == 3 })
        let changes = c.changes.withLock { $0 }
        let results = c.results.withLock { $0 }
        #expect(changes.map(\.up) == [true, false, true])
        guard changes.count == 3 else { return }
        // Down only after three failed cycles, stamped with the first of them (within a cycle of the pause).
        let failedBeforeDown = results.filter { $0.received == 0 && $0.timeMicros >= changes[1].timeMicros && $0.timeMicros < changes[2].timeMicros }
        #expect(failedBeforeDown.count >= 3)
        #expect(changes[1].timeMicros >= pausedAt - 300_000 && changes[1].timeMicros <= pausedAt + 300_000)
        #expect(changes[2].timeMicros >= resumedAt - 300_000 && changes[2].timeMicros <= resumedAt + 300_000)
        #expect(results.allSatisfy { $0.deviceID == 9 && $0.address == address })
    }

    @Test("an unreachable neighbour's errors are counted against its probes")
    func unreachableIsCounted() throws {
        // The network address of the namespace's own /30 (no host has it), routed into the namespace by a
        // /32, where a route marks it unreachable: the namespace answers our probe with host unreachable
        // (ICMP type 3 code 1). The probe never leaves the veth pair the test made.
        let ns = try NetNS.create(tag: "unreach")
        defer { ns.destroy() }
        let parts = ns.hostV4.split(separator: ".")
        let network = "\(parts[0]).\(parts[1]).\(parts[2]).\(Int(parts[3])! & ~3)"
        #expect(try TestDB.run("/usr/sbin/ip", ["route", "add", network + "/32", "via", ns.hostV4, "dev", ns.interface]).status == 0)
        #expect(try ns.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"]).status == 0)
        #expect(try ns.run(["ip", "route", "add", "unreachable", network + "/32"]).status == 0)
        let absent = try #require(IPAddress(network))
        let c = Collected()
        let p = try Self.poller(c)
        p.start()
        defer { p.stop() }
        var s = ProbeSettings()
        s.probes = 1
        s.timeout = .seconds(5)
        #expect(p.sweep([ICMPTarget(id: 1, name: "absent", address: absent, settings: s)], ratePerSecond: 0).isEmpty)
        #expect(c.wait(.seconds(15)) { c.results.withLock { $0.count } == 1 })
        let r = c.results.withLock { $0 }.first
        #expect(r?.received == 0)
        #expect(r?.icmpErrors == 1, "\(String(describing: r)) \(p.stats.snapshot())")
    }
}

@Suite("ICMP probe options on the wire", .serialized, .enabled(if: NetNS.available && FileManager.default.isExecutableFile(atPath: "/usr/bin/tcpdump"), "needs ip netns and tcpdump"))
struct ICMPProbeOptionsTests {
    @Test func tosPayloadAndSourceAreWhatTheTargetAsksFor() throws {
        let ns = try NetNS.create(tag: "opts")
        defer { ns.destroy() }
        try ns.startResponder(delayMicros: 1_000, lossPercent: 0)
        // A second source address on our side of the link; the namespace reaches it on-link.
        let v6Prefix = ns.localV6.dropLast(1)  // "2001:2:0:N::"
        let source6 = v6Prefix + "5"
        #expect(try TestDB.run("/usr/sbin/ip", ["-6", "addr", "add", source6 + "/128", "dev", ns.interface, "nodad"]).status == 0)
        // tcpdump on our end of the veth pair sees exactly what was sent.
        let dump = try Child("/usr/bin/tcpdump", ["-i", ns.interface, "-n", "-v", "-l", "-c", "4", "icmp[0] == 8 or icmp6[0] == 128"])
        defer { dump.signal(SIGTERM); _ = dump.wait(timeout: 10) }
        for _ in 0..<100 where !dump.output.contains("listening on") { Thread.sleep(forTimeInterval: 0.05) }

        let results = Mutex<[ICMPCycleResult]>([])
        let p = try ICMPPoller(onResult: { r in results.withLock { $0.append(r) } })
        p.start()
        defer { p.stop() }
        var s = ProbeSettings()
        s.probes = 2
        s.spacing = .milliseconds(20)
        s.timeout = .milliseconds(500)
        s.tos = 0xb8  // DSCP EF
        s.payloadBytes = 200
        var s6 = s
        s6.source = IPAddress(source6)
        p.sweep([
            ICMPTarget(id: 4, name: "v4", address: try #require(IPAddress(ns.hostV4)), settings: s),
            ICMPTarget(id: 6, name: "v6", address: try #require(IPAddress(ns.hostV6)), settings: s6),
        ], ratePerSecond: 0)
        for _ in 0..<200 where results.withLock({ $0.count }) < 2 { Thread.sleep(forTimeInterval: 0.02) }
        #expect(results.withLock { $0.map(\.received) } == [2, 2], "the source address must be answered too")
        #expect(dump.wait(timeout: 10) == 0, "\(dump.output)")
        let lines = dump.output.split(separator: "\n")
        // IPv4: TOS byte and total length 20 + 8 + 200.
        #expect(lines.filter { $0.contains("tos 0xb8") && $0.contains("length 228") }.count == 2, "\(dump.output)")
        // IPv6: traffic class, and the chosen source.
        #expect(lines.filter { $0.contains("class 0xb8") }.count == 2, "\(dump.output)")
        #expect(dump.output.components(separatedBy: "\(source6) > \(ns.hostV6)").count - 1 == 2, "\(dump.output)")
    }
}
