// `sotpd ping`: the poller's engine as a one-shot command, fping-style: many targets, one line each.
// Operators use it to check reachability from the appliance; benchmarks use it to compare with fping.
import ArgumentParser
import Foundation
import Poller
import Synchronization

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ping targets once (or --count times) with the poller's engine and print one line per target.",
        discussion: """
            Output per target, like `fping -C`: ADDRESS : RTT_MS… with "-" for a lost probe.
            A summary (sent, received, wall and CPU time) goes to standard error. Exit status: 0 when
            every target answered, 1 when some did not, 2 for bad arguments.
            """)
    @Argument(help: "Target addresses (IPv4 or IPv6).") var addresses: [String] = []
    @Option(name: [.customShort("f"), .long], help: "Read targets from this file, one per line ('-' for standard input).") var file: String?
    @Option(name: [.customShort("c"), .long], help: "Probes per target (1…64).") var count: Int = 1
    @Option(help: "Time between a target's probes, ms.") var spacingMs: Int = 1000
    @Option(name: [.customShort("t"), .long], help: "Reply timeout, ms.") var timeoutMs: Int = 500
    @Option(help: "New targets per second (0: as fast as the sender goes).") var rate: Int = 0
    @Option(help: "ICMP payload bytes (32…65000).") var payloadBytes: Int = 56
    @Option(help: "Socket kind: auto, raw or dgram.") var socket: String = "auto"
    @Flag(name: [.customShort("q"), .long], help: "Print only the summary.") var quiet = false

    func validate() throws {
        guard (1...64).contains(count) else { throw ValidationError("--count must be 1…64, got \(count)") }
        guard (1...60_000).contains(timeoutMs) else { throw ValidationError("--timeout-ms must be 1…60000, got \(timeoutMs)") }
        guard (0...60_000).contains(spacingMs) else { throw ValidationError("--spacing-ms must be 0…60000, got \(spacingMs)") }
        guard (32...65000).contains(payloadBytes) else { throw ValidationError("--payload-bytes must be 32…65000, got \(payloadBytes)") }
        guard rate >= 0 else { throw ValidationError("--rate must be 0 or more, got \(rate)") }
        guard ICMPSocketMode(rawValue: socket) != nil else { throw ValidationError("--socket must be auto, raw or dgram, got \(socket)") }
        guard file != nil || !addresses.isEmpty else { throw ValidationError("give target addresses or -f FILE") }
    }

    func run() async throws {
        var settings = ProbeSettings()
        settings.probes = count
        settings.spacing = .milliseconds(spacingMs)
        settings.timeout = .milliseconds(timeoutMs)
        settings.payloadBytes = payloadBytes
        var targets: [ICMPTarget] = []
        func add(_ text: String) throws {
            guard let a = IPAddress(text) else {
                FileHandle.standardError.write(Data("sotpd ping: \"\(text)\" is not an IP address\n".utf8))
                throw ExitCode(2)
            }
            targets.append(ICMPTarget(id: Int32(truncatingIfNeeded: targets.count), name: text, address: a, settings: settings))
        }
        for a in addresses { try add(a) }
        if let file {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
            guard let data else { throw fail("cannot read \(file)") }
            // Byte-wise: a million-line target list should take milliseconds, not String's seconds.
            for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
                let trimmed = line.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }.reversed()
                guard let first = trimmed.first, first != UInt8(ascii: "#") else { continue }
                try add(String(decoding: trimmed, as: UTF8.self))
            }
        }
        let total = targets.count
        let results = Mutex<[ICMPCycleResult?]>([ICMPCycleResult?](repeating: nil, count: total))
        let got = Atomic<Int>(0)
        var options = ICMPPollerOptions()
        options.socketMode = ICMPSocketMode(rawValue: socket)!
        options.ipv6 = targets.contains { !$0.address.isV4 }
        let poller: ICMPPoller
        do {
            poller = try ICMPPoller(options: options, onResult: { r in
                results.withLock { $0[Int(r.deviceID)] = r }
                got.wrappingAdd(1, ordering: .releasing)
            })
        } catch {
            throw fail("\(error)")
        }
        let cpu0 = processCPUSeconds()
        let start = ContinuousClock.now
        poller.start()
        let refused = poller.sweep(targets, ratePerSecond: rate)
        for (t, why) in refused { FileHandle.standardError.write(Data("sotpd ping: \(t.name): \(why)\n".utf8)) }
        let expected = total - refused.count
        // Bounded: the last target starts after total/rate s, and its cycle ends count×spacing+timeout later.
        let bound = Duration.seconds(rate > 0 ? Double(total) / Double(rate) : 0)
            + .milliseconds(spacingMs * (count - 1) + timeoutMs) + .seconds(10)
        while got.load(ordering: .acquiring) < expected && ContinuousClock.now - start < bound {
            try await Task.sleep(for: .milliseconds(2))
        }
        let wall = ContinuousClock.now - start
        poller.stop()
        let cpu = processCPUSeconds() - cpu0
        let all = results.withLock { $0 }
        var out = ""
        var sent = 0, received = 0, answered = 0
        for (i, t) in targets.enumerated() {
            guard let r = all[i] else { continue }
            sent += r.sent
            received += r.received
            if r.received > 0 { answered += 1 }
            if !quiet {
                // One probe: its RTT; several: min/avg/max (per-probe values are not kept by the engine).
                let rtt: String
                if r.received == 0 {
                    rtt = Array(repeating: "-", count: r.sent).joined(separator: " ")
                } else if r.sent == 1 {
                    rtt = String(format: "%.3f", r.rttAvgMs!)
                } else {
                    rtt = String(format: "%d/%d min/avg/max = %.3f/%.3f/%.3f", r.received, r.sent, r.rttMinMs!, r.rttAvgMs!, r.rttMaxMs!)
                }
                out += "\(t.name) : \(rtt)\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        let s = poller.stats.snapshot()
        let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18
        FileHandle.standardError.write(Data(String(
            format: "sotpd ping: %d targets, %d/%d probes answered (%.2f%% loss), %d targets up; wall %.3f s, CPU %.3f s (%.2f µs/probe); send lateness p99 %d µs; forged %d, foreign %d, late %d\n",
            total, received, sent, sent == 0 ? 0 : Double(sent - received) * 100 / Double(sent), answered, seconds, cpu,
            sent == 0 ? 0 : cpu * 1e6 / Double(sent), s.latenessP99Micros, s.forged, s.foreign, s.repliesLate).utf8))
        if answered < total { throw ExitCode(1) }
    }
}

/// User + system CPU time of this process so far, in seconds.
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) * 1e-6
}
