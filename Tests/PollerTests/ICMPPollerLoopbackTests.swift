// The ICMP poller against the kernel's own echo replies on 127.0.0.0/8 and ::1: every address in
// 127/8 answers, so many distinct targets need no setup.
import Foundation
import Synchronization
import Testing

@testable import Poller

@Suite("ICMP poller on loopback", .serialized)
struct ICMPPollerLoopbackTests {
    final class Collected: Sendable {
        let results = Mutex<[ICMPCycleResult]>([])
        let changes = Mutex<[ICMPStateChange]>([])
        var count: Int { results.withLock { $0.count } }

        func wait(for n: Int, timeout: Duration) -> Bool {
            let end = ContinuousClock.now + timeout
            while count < n {
                if ContinuousClock.now > end { return false }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return true
        }
    }

    static func poller(_ c: Collected, ipv6: Bool = true) throws -> ICMPPoller {
        var o = ICMPPollerOptions()
        o.ipv6 = ipv6
        return try ICMPPoller(
            options: o, onResult: { r in c.results.withLock { $0.append(r) } },
            onStateChange: { s in c.changes.withLock { $0.append(s) } })
    }

    @Test func sweepOf2000LoopbackAddressesAllAnswer() throws {
        let c = Collected()
        let p = try Self.poller(c)
        p.start()
        defer { p.stop() }
        var settings = ProbeSettings()
        settings.probes = 1
        settings.timeout = .seconds(2)
        let targets = (0..<2000).map { i in
            ICMPTarget(id: Int32(i), name: "t\(i)", address: .v4(0x7f00_0001 + UInt32(i)), settings: settings)
        }
        #expect(p.sweep(targets, ratePerSecond: 0).isEmpty)
        #expect(c.wait(for: 2000, timeout: .seconds(10)))
        let results = c.results.withLock { $0 }
        #expect(results.allSatisfy { $0.sent == 1 && $0.received == 1 })
        #expect(Set(results.map(\.deviceID)).count == 2000)
        let rtts = results.compactMap(\.rttAvgMs).sorted()
        #expect(rtts.count == 2000)
        #expect(rtts[rtts.count / 2] < 5, "loopback median RTT \(rtts[rtts.count / 2]) ms")
        let s = p.stats.snapshot()
        #expect(s.probesSent == 2000 && s.repliesMatched == 2000 && s.forged == 0 && s.stale == 0)
        #expect(s.noKernelTimestamp == 0)
    }

    @Test func aProbeSentLateStillGetsItsWholeTimeout() throws {
        // 20,000 probes due at once take the sender far longer than the 30 ms timeout to send; each
        // must still wait 30 ms from its own send, not from the common schedule, before it is closed.
        let c = Collected()
        let p = try Self.poller(c, ipv6: false)
        p.start()
        defer { p.stop() }
        var settings = ProbeSettings()
        settings.probes = 1
        settings.timeout = .milliseconds(30)
        let targets = (0..<20_000).map { i in
            ICMPTarget(id: Int32(i), name: "t", address: .v4(0x7f05_0001 + UInt32(i)), settings: settings)
        }
        p.sweep(targets, ratePerSecond: 0)
        #expect(c.wait(for: 20_000, timeout: .seconds(20)))
        // The sender publishes its lateness counts about once a second.
        var s = p.stats.snapshot()
        for _ in 0..<300 where s.latenessSamples < 20_000 {
            Thread.sleep(forTimeInterval: 0.01)
            s = p.stats.snapshot()
        }
        #expect(s.latenessMaxMicros > 30_000, "the sends should have taken longer than the timeout")
        #expect(c.results.withLock { $0.filter { $0.received == 0 }.count } == 0, "\(s)")
        #expect(s.repliesLate == 0)
    }

    @Test func probesOfACycleSentTogetherAreCountedApart() throws {
        // spacing 0: all five probes of a cycle leave in one batch; each reply must count once.
        let c = Collected()
        let p = try Self.poller(c)
        p.start()
        defer { p.stop() }
        var settings = ProbeSettings()
        settings.probes = 5
        settings.spacing = .zero
        settings.timeout = .milliseconds(300)
        p.sweep([ICMPTarget(id: 1, name: "lo", address: .v4(0x7f00_0001), settings: settings),
                 ICMPTarget(id: 2, name: "lo6", address: .v6(high: 0, low: 1), settings: settings)], ratePerSecond: 0)
        #expect(c.wait(for: 2, timeout: .seconds(5)))
        #expect(c.results.withLock { $0.map { "\($0.received)/\($0.sent)" } } == ["5/5", "5/5"])
        #expect(p.stats.snapshot().duplicates == 0)
    }

    @Test func scheduledTargetsReportEveryCycleIncludingIPv6() throws {
        let c = Collected()
        let p = try Self.poller(c)
        p.start()
        defer { p.stop() }
        var settings = ProbeSettings()
        settings.interval = .milliseconds(500)
        settings.probes = 3
        settings.spacing = .milliseconds(50)
        settings.timeout = .milliseconds(200)
        let targets = [
            ICMPTarget(id: 1, name: "v4", address: IPAddress("127.0.0.1")!, settings: settings),
            ICMPTarget(id: 2, name: "v6", address: IPAddress("::1")!, settings: settings),
        ]
        #expect(p.setTargets(targets).isEmpty)
        #expect(c.wait(for: 6, timeout: .seconds(5)))
        let results = c.results.withLock { $0 }
        for id: Int32 in [1, 2] {
            let mine = results.filter { $0.deviceID == id }
            #expect(mine.count >= 2)
            #expect(mine.allSatisfy { $0.sent == 3 && $0.received == 3 && $0.jitterMs != nil })
            // Cycles are one interval apart.
            if mine.count >= 2 { #expect(abs(mine[1].timeMicros - mine[0].timeMicros - 500_000) < 2_000) }
        }
        let ups = c.changes.withLock { $0 }
        #expect(Set(ups.filter(\.up).map(\.deviceID)) == [1, 2])
    }
}
