// The poller's RTTs against the wire (tcpdump on the veth) with the machine idle and with two CPU burners
// running: the send time must be when the probe left, not when the sender thread last ran.
import Foundation
import Synchronization
import Testing
import TestSupport

@testable import Poller

@Suite("ICMP RTTs against the wire, idle and loaded", .serialized,
       .enabled(if: NetNS.available && FileManager.default.isExecutableFile(atPath: "/usr/bin/tcpdump"), "needs ip netns and tcpdump"))
struct ICMPTxTimestampTests {
    /// Two busy loops, one per core of the test VM, each bounded by `timeout` in case the test dies.
    final class Burners {
        let children: [Child]

        /// `count` defaults to TXTS_BURNERS from the environment, else 2.
        init(count: Int = Int(ProcessInfo.processInfo.environment["TXTS_BURNERS"] ?? "") ?? 2, seconds: Int = 20) throws {
            children = try (0..<count).map { _ in
                try Child("/usr/bin/timeout", [String(seconds), "sh", "-c", "while :; do :; done"])
            }
        }

        /// SIGTERM to each `timeout` by pid: it passes the signal on to its shell.
        func stop() {
            for c in children { c.signal(SIGTERM) }
            for c in children { _ = c.wait(timeout: 5) }
        }
    }

    struct Run {
        var rtts: [Double]
        var wire: [Double]
        var stats: ICMPStats.Snapshot
        var keys: ICMPTxTimestampKeys
    }

    /// `n` one-probe sweeps of a namespace host answering after 20 ms, at 200 a second, captured on the
    /// veth; `during` runs on the test's thread while the sweep goes.
    static func sweep(v6: Bool, loaded: Bool, mode: ICMPTxTimestamps, n: Int = 300,
                      during: (ICMPPoller) -> Void = { _ in }) throws -> Run {
        let ns = try NetNS.create(tag: "txts")
        defer { ns.destroy() }
        try ns.startResponder(delayMicros: 20_000, lossPercent: 0)
        let wire = try WireCapture.start(interface: ns.interface)
        let burners = loaded ? try Burners() : nil
        defer { burners?.stop() }
        if loaded { Thread.sleep(forTimeInterval: 0.5) }  // let the burners take the cores

        let results = Mutex<[ICMPCycleResult]>([])
        var o = ICMPPollerOptions()
        o.txTimestamps = mode
        let p = try ICMPPoller(options: o, onResult: { r in results.withLock { $0.append(r) } })
        p.start()
        var s = ProbeSettings()
        s.probes = 1
        s.timeout = .milliseconds(500)
        let address = try #require(IPAddress(v6 ? ns.hostV6 : ns.hostV4))
        let targets = (0..<n).map { ICMPTarget(id: Int32($0), name: "h", address: address, settings: s) }
        #expect(p.sweep(targets, ratePerSecond: 200).isEmpty)
        during(p)
        for _ in 0..<1500 where results.withLock({ $0.count }) < n { Thread.sleep(forTimeInterval: 0.01) }
        p.stop()
        burners?.stop()
        // tcpdump hands packets over a buffer at a time, or after its 1 s buffer timeout: stopped sooner,
        // it would lose the last second of the capture.
        Thread.sleep(forTimeInterval: 1.2)
        let onWire = try wire.stop()
        return Run(rtts: results.withLock { $0 }.compactMap(\.rttAvgMs), wire: onWire, stats: p.stats.snapshot(), keys: p.txTimestampKeys)
    }

    /// Poller minus wire, quantile by quantile (both sorted): the largest difference either way, the
    /// 99th percentile of the absolute ones and of the signed ones (how far the poller runs above the
    /// wire), in ms; nil when the counts differ.
    static func perProbe(_ r: Run) -> (low: Double, high: Double, p99: Double, p99Above: Double)? {
        guard r.rtts.count == r.wire.count, !r.rtts.isEmpty else { return nil }
        // Quantile against quantile: results come in the order cycles close, which on a busy machine
        // is not quite the order replies arrived, so pairing by position compared different probes.
        // A probe the poller times late still shows, as a tail the wire does not have.
        let d = zip(r.rtts.sorted(), r.wire.sorted()).map { $0 - $1 }
        let abs = d.map(Swift.abs).sorted(), signed = d.sorted()
        let i = min(d.count - 1, d.count * 99 / 100)
        return (d.min()!, d.max()!, abs[i], signed[i])
    }

    /// The median against the wire's and the floor, printed with a TXTS prefix for the record.
    static func check(_ r: Run, _ label: String, n: Int = 300) throws {
        // tcpdump, a normal process, misses packets when the burners starve it; the median needs half of
        // them, not all (the quantile comparison below is then skipped).
        #expect(r.rtts.count == n && r.wire.count >= n / 2, "\(r.rtts.count) results, \(r.wire.count) answered on the wire")
        let median = try #require(r.rtts.median), wireMedian = try #require(r.wire.median)
        let pp = perProbe(r)
        print(String(format: "TXTS %@ (%@ keys): poller median %.4f ms, wire median %.4f ms, diff %+.4f ms, min %.4f ms, fallbacks %d, stamps %d; per probe %+.4f…%+.4f ms, p99 |diff| %.4f ms",
                     label, r.keys.rawValue, median, wireMedian, median - wireMedian, r.rtts.min() ?? -1,
                     r.stats.txTimestampFallbacks, r.stats.txTimestamps, pp?.low ?? .nan, pp?.high ?? .nan, pp?.p99 ?? .nan))
        #expect(abs(median - wireMedian) <= 0.2, "median \(median) ms, wire \(wireMedian) ms (\(label))")
        #expect(r.rtts.min()! >= 20, "fastest \(r.rtts.min()!) ms (\(label))")
        // A send held up after the clock was read shows as one probe far above the wire, which the median
        // hides: with the kernel's stamps (all of them), 99 % of probes must be within 0.2 ms of the wire too.
        // The bound is 0.5 ms, not the median's 0.2, and one-sided: tcpdump's copy of a request is stamped
        // at the device tap, the kernel's send stamp later in the driver, and a vCPU stolen between the two
        // (this VM: up to 65 % steal) makes the *wire* slow, never the poller: CI once saw the wire 7 ms
        // above the poller on one probe of an idle run. A send held up in the poller shows the other way.
        if let pp, r.stats.txTimestampFallbacks == 0 {
            #expect(pp.p99Above <= 0.5, "p99 of poller − wire \(pp.p99Above) ms (\(label))")
        }
        let st = r.stats
        #expect(st.forged == 0 && st.stale == 0 && st.wrongSource == 0 && st.noKernelTimestamp == 0, "\(st)")
    }

    @Test("median RTT within 0.2 ms of the wire's and never below the injected 20 ms",
          arguments: [(false, false), (true, false), (false, true), (true, true)])
    func rttAgainstTheWire(v6: Bool, loaded: Bool) throws {
        TimingIsolation.beginTiming()
        defer { TimingIsolation.endTiming() }
        let label = "\(v6 ? "IPv6" : "IPv4") \(loaded ? "loaded" : "idle")"
        let r = try Self.sweep(v6: v6, loaded: loaded, mode: .auto)
        try Self.check(r, label)
        #expect(r.keys != .none)
        #expect(r.stats.txTimestampFallbacks == 0 && r.stats.txTimestamps >= 300 && r.stats.errorQueueOther == 0, "\(r.stats)")
    }

    @Test("counter keys: the same, where the kernel cannot key each packet", arguments: [false, true])
    func counterKeysAgainstTheWire(loaded: Bool) throws {
        TimingIsolation.beginTiming()
        defer { TimingIsolation.endTiming() }
        let r = try Self.sweep(v6: false, loaded: loaded, mode: .counter)
        try Self.check(r, "IPv4 \(loaded ? "loaded" : "idle")")
        #expect(r.keys == .counter)
        #expect(r.stats.txTimestampFallbacks == 0 && r.stats.txKeyResets == 0, "\(r.stats)")
    }

    @Test("user-space send times (txTimestamps off), for comparison: printed, not checked against the wire",
          arguments: [false, true])
    func userSpaceSendTimes(loaded: Bool) throws {
        TimingIsolation.beginTiming()
        defer { TimingIsolation.endTiming() }
        let r = try Self.sweep(v6: false, loaded: loaded, mode: .off)
        let median = try #require(r.rtts.median), wireMedian = try #require(r.wire.median)
        let pp = Self.perProbe(r)
        print(String(format: "TXTS IPv4 %@ (user-space send times): poller median %.4f ms, wire median %.4f ms, diff %+.4f ms; per probe %+.4f…%+.4f ms, p99 |diff| %.4f ms",
                     loaded ? "loaded" : "idle", median, wireMedian, median - wireMedian, pp?.low ?? .nan, pp?.high ?? .nan, pp?.p99 ?? .nan))
        #expect(r.keys == .none && r.stats.txTimestamps == 0 && r.stats.txTimestampFallbacks == 0)
        #expect(median >= wireMedian - 0.05, "user space reads the clock before the packet leaves")
    }

    @Test("counter keys: after a lost count, probes go unkeyed until the counter is reset, and no stamp is misplaced")
    func counterResetAfterALostCount() throws {
        TimingIsolation.beginTiming()
        defer { TimingIsolation.endTiming() }
        let r = try Self.sweep(v6: false, loaded: false, mode: .counter) { p in
            Thread.sleep(forTimeInterval: 0.4)
            p.loseTxKeyCount()
        }
        try Self.check(r, "IPv4 idle, count lost once")
        // Unkeyed for the hold-off (the 500 ms timeout + 100 ms) at 200 probes a second: about 120.
        #expect(r.stats.txKeyResets == 1, "\(r.stats)")
        #expect((60...180).contains(r.stats.txTimestampFallbacks), "\(r.stats.txTimestampFallbacks) fallbacks")
    }

    @Test("counter keys stay right past sends refused at routing", arguments: [ICMPTxTimestamps.auto, .counter])
    func refusedSendsKeepTheCount(mode: ICMPTxTimestamps) throws {
        TimingIsolation.beginTiming()
        defer { TimingIsolation.endTiming() }
        let ns = try NetNS.create(tag: "txref")
        defer { ns.destroy() }
        try ns.startResponder(delayMicros: 20_000, lossPercent: 0)
        // The namespace /30's network address, refused by a prohibit route here: sendmsg fails with EACCES
        // at the route lookup, before the kernel builds the packet.
        let parts = ns.hostV4.split(separator: ".")
        let network = "\(parts[0]).\(parts[1]).\(parts[2]).\(Int(parts[3])! & ~3)"
        #expect(try TestDB.run("/usr/sbin/ip", ["route", "add", "prohibit", network + "/32"]).status == 0)
        defer { _ = try? TestDB.run("/usr/sbin/ip", ["route", "del", "prohibit", network + "/32"]) }
        let wire = try WireCapture.start(interface: ns.interface)

        let results = Mutex<[ICMPCycleResult]>([])
        var o = ICMPPollerOptions()
        o.txTimestamps = mode
        let p = try ICMPPoller(options: o, onResult: { r in results.withLock { $0.append(r) } })
        p.start()
        var s = ProbeSettings()
        s.probes = 1
        s.timeout = .milliseconds(500)
        let host = try #require(IPAddress(ns.hostV4)), refused = try #require(IPAddress(network))
        // Interleaved, all due at once: each batch has refusals between answered probes.
        let targets = (0..<100).map { ICMPTarget(id: Int32($0), name: "h", address: $0 % 3 == 1 ? refused : host, settings: s) }
        #expect(p.sweep(targets, ratePerSecond: 0).isEmpty)
        for _ in 0..<1000 where results.withLock({ $0.count }) < 100 { Thread.sleep(forTimeInterval: 0.01) }
        p.stop()
        Thread.sleep(forTimeInterval: 1.2)  // tcpdump's buffer timeout (see sweep)
        let onWire = try wire.stop()
        let st = p.stats.snapshot()
        let answered = results.withLock { $0 }.filter { $0.address == host }
        let rtts = answered.compactMap(\.rttAvgMs)
        #expect(rtts.count == 67, "\(rtts.count) answered, \(onWire.count) on the wire")
        #expect(st.sendErrors == 33, "\(st)")
        #expect(st.txTimestampFallbacks == 0 && st.txKeyResets == 0, "\(st)")
        // Keys that ran ahead of the kernel's counter would find no stamp for the last probes; keys that fell
        // behind would find, for the second batch's probes, stamps taken before their send: either way
        // fallbacks, which must be none.
        #expect(rtts.min()! >= 20)
        // The wire is a reference only when tcpdump saw most of it: one burst of 100 while the whole suite
        // runs in parallel can starve it (the claim above, no fallbacks, does not depend on it).
        guard onWire.count >= 50 else {
            print("TXTS IPv4 refusals (\(p.txTimestampKeys.rawValue) keys): tcpdump saw \(onWire.count) of 67 pairs, no wire comparison")
            return
        }
        let median = try #require(rtts.median), wireMedian = try #require(onWire.median)
        print(String(format: "TXTS IPv4 refusals (%@ keys): poller median %.4f ms, wire median %.4f ms, diff %+.4f ms",
                     p.txTimestampKeys.rawValue, median, wireMedian, median - wireMedian))
        #expect(abs(median - wireMedian) <= 0.2)
    }
}
