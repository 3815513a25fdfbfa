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

        init(count: Int = 2, seconds: Int = 20) throws {
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

    @Test("median RTT within 0.2 ms of the wire's and never below the injected 20 ms",
          arguments: [(false, false), (true, false), (false, true), (true, true)])
    func rttAgainstTheWire(v6: Bool, loaded: Bool) throws {
        let ns = try NetNS.create(tag: "txts")
        defer { ns.destroy() }
        try ns.startResponder(delayMicros: 20_000, lossPercent: 0)
        let wire = try WireCapture.start(interface: ns.interface)
        let burners = loaded ? try Burners() : nil
        defer { burners?.stop() }
        if loaded { Thread.sleep(forTimeInterval: 0.5) }  // let the burners take the cores

        let results = Mutex<[ICMPCycleResult]>([])
        let p = try ICMPPoller(onResult: { r in results.withLock { $0.append(r) } })
        p.start()
        var s = ProbeSettings()
        s.probes = 1
        s.timeout = .milliseconds(500)
        let address = try #require(IPAddress(v6 ? ns.hostV6 : ns.hostV4))
        let n = 300
        let targets = (0..<n).map { ICMPTarget(id: Int32($0), name: "h", address: address, settings: s) }
        #expect(p.sweep(targets, ratePerSecond: 200).isEmpty)
        for _ in 0..<1500 where results.withLock({ $0.count }) < n { Thread.sleep(forTimeInterval: 0.01) }
        p.stop()
        burners?.stop()
        let onWire = try wire.stop()
        let st = p.stats.snapshot()

        let rtts = results.withLock { $0 }.compactMap(\.rttAvgMs)
        #expect(rtts.count == n && onWire.count == n, "\(rtts.count) results, \(onWire.count) answered on the wire")
        let median = try #require(rtts.median), wireMedian = try #require(onWire.median)
        let label = "\(v6 ? "IPv6" : "IPv4") \(loaded ? "loaded" : "idle")"
        print(String(format: "TXTS %@: poller median %.4f ms, wire median %.4f ms, diff %+.4f ms, min %.4f ms",
                     label, median, wireMedian, median - wireMedian, rtts.min() ?? -1))
        #expect(abs(median - wireMedian) <= 0.2, "median \(median) ms, wire \(wireMedian) ms (\(label))")
        #expect(rtts.min()! >= 20, "fastest \(rtts.min()!) ms (\(label))")
        #expect(st.forged == 0 && st.stale == 0 && st.wrongSource == 0 && st.noKernelTimestamp == 0, "\(st)")
    }
}
