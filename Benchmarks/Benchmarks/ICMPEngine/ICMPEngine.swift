// The ICMP poller in steady state on loopback: 2,000 targets in 127.0.0.0/8 every 200 ms (10k probes a
// second) through both threads (schedule, build, sendmmsg, recvmmsg, match, close, report). Each
// iteration is 0.5 s of polling; the malloc count over it, divided by the "probes" metric, is the
// allocations per probe, which must be 0 (a result reaching onResult costs nothing to allocate).
import Benchmark
import Poller
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .cpuTotal, .custom("probes", polarity: .prefersLarger)],
        maxDuration: .seconds(10),
        maxIterations: 10
    )

    // The same 0.5 s with no poller: what the harness and the process allocate on their own.
    Benchmark("baseline: 0.5 s idle") { benchmark in
        benchmark.startMeasurement()
        usleep(500_000)
        benchmark.stopMeasurement()
        benchmark.measurement(.custom("probes", polarity: .prefersLarger), 0)
    }

    Benchmark("ICMP poller steady state, 10k probes/s on loopback") { benchmark in
        let results = Atomic<Int>(0)
        let poller = try! ICMPPoller(onResult: { _ in results.wrappingAdd(1, ordering: .relaxed) })
        var s = ProbeSettings()
        s.interval = .milliseconds(200)
        s.probes = 1
        s.timeout = .milliseconds(100)
        let targets = (0..<2000).map { i in
            ICMPTarget(id: Int32(i), name: "t\(i)", address: .v4(0x7f02_0001 + UInt32(i)), settings: s)
        }
        poller.start()
        poller.setTargets(targets)
        // Warm up: first cycles, slot tables, socket buffers.
        while results.load(ordering: .relaxed) < 6000 { usleep(10_000) }
        let before = poller.stats.snapshot().probesSent
        benchmark.startMeasurement()
        usleep(500_000)
        benchmark.stopMeasurement()
        let probes = poller.stats.snapshot().probesSent - before
        benchmark.measurement(.custom("probes", polarity: .prefersLarger), probes)
        poller.stop()
    }
}
