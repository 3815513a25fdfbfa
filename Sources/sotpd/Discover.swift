// `sotpd discover`: sweeps bounded address ranges at a bounded rate with the poller's engine, shows its
// progress, and adds the addresses that answered to the devices table.
import ArgumentParser
import Foundation
import Poller
import Sink
import Synchronization

struct Discover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ping every address of the given ranges and add those that answer as devices.",
        discussion: """
            Ranges must lie inside [discovery] allow in the configuration, and together hold at most
            [discovery] max_addresses addresses; the sweep sends at most [discovery] rate_per_s probes a
            second. Responders are added with the tag "discovered" and their address as name; addresses
            already in the inventory are left as they are.
            """)
    @OptionGroup var options: ConfigOptions
    @Argument(help: "Ranges in CIDR notation (10.1.2.0/24, 2001:db8::/120) or single addresses.") var ranges: [String]
    @Flag(help: "List the responders without adding them.") var dryRun = false
    @Option(help: "Probes per second (at most [discovery] rate_per_s).") var rate: Int?

    func run() async throws {
        let config = try options.load()
        let d = config.discovery
        var prefixes: [IPPrefix] = []
        var total = 0
        for r in ranges {
            guard let p = IPPrefix(r) else { throw usage("\"\(r)\" is not a CIDR range (host bits must be zero) or an address") }
            guard d.allow.contains(where: { $0.contains(p) }) else {
                let allowed = d.allow.isEmpty ? "nothing (the list is empty)" : d.allow.map(\.description).joined(separator: ", ")
                throw usage("\(p) is outside discovery.allow, which permits \(allowed)")
            }
            guard p.size <= d.maxAddresses - total else {
                throw usage("the ranges hold more than discovery.max_addresses (\(d.maxAddresses)) addresses")
            }
            total += p.size
            prefixes.append(p)
        }
        let ratePerSecond = min(rate ?? d.ratePerSecond, d.ratePerSecond)
        guard ratePerSecond > 0 else { throw usage("--rate must be positive") }

        var settings = ProbeSettings()
        settings.probes = 1
        settings.timeout = d.timeout
        var targets: [ICMPTarget] = []
        targets.reserveCapacity(total)
        for p in prefixes {
            // IPv4 network and broadcast addresses are skipped in ranges of 4 or more.
            let skipEnds = p.address.isV4 && p.length <= 30
            for i in 0..<p.size where !(skipEnds && (i == 0 || i == p.size - 1)) {
                let a = p.address(at: i)
                targets.append(ICMPTarget(id: Int32(targets.count), name: a.description, address: a, settings: settings))
            }
        }
        let responders = Mutex<[(IPAddress, Double)]>([])
        let done = Atomic<Int>(0)
        var o = ICMPPollerOptions()
        o.socketMode = config.icmp.socket
        o.ipv6 = targets.contains { !$0.address.isV4 }
        let poller: ICMPPoller
        do {
            poller = try ICMPPoller(options: o, onResult: { r in
                if r.received > 0 { responders.withLock { $0.append((r.address, r.rttAvgMs ?? 0)) } }
                done.wrappingAdd(1, ordering: .releasing)
            })
        } catch {
            throw fail("\(error)")
        }
        let interactive = isatty(2) != 0
        let start = ContinuousClock.now
        poller.start()
        poller.sweep(targets, ratePerSecond: ratePerSecond)
        let bound = Duration.seconds(Double(targets.count) / Double(ratePerSecond)) + d.timeout + .seconds(10)
        var lastPrint = ContinuousClock.now - .seconds(1)
        while done.load(ordering: .acquiring) < targets.count && ContinuousClock.now - start < bound {
            try await Task.sleep(for: .milliseconds(50))
            if ContinuousClock.now - lastPrint >= (interactive ? .milliseconds(200) : .seconds(5)) {
                lastPrint = ContinuousClock.now
                let n = done.load(ordering: .acquiring), found = responders.withLock { $0.count }
                let left = Double(targets.count - n) / Double(ratePerSecond)
                let line = String(format: "discover: %d/%d swept (%.0f%%), %d answered, ~%.0f s left", n, targets.count,
                                  Double(n) * 100 / Double(max(1, targets.count)), found, left)
                FileHandle.standardError.write(Data((interactive ? "\r\u{1b}[K" + line : line + "\n").utf8))
            }
        }
        poller.stop()
        if interactive { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
        let found = responders.withLock { $0 }.sorted { $0.0 < $1.0 }
        for (a, rtt) in found { print(String(format: "%@ %.3f ms", a.description, rtt)) }
        let s = poller.stats.snapshot()
        FileHandle.standardError.write(Data("discover: \(targets.count) addresses swept, \(found.count) answered, \(s.sendErrors) send errors\n".utf8))
        guard !dryRun, !found.isEmpty else { return }
        let added: Int
        do {
            added = try await onThread("sotp-discover") {
                let conn = try PGConnection(config.connectInfo)
                var n = 0
                for (a, _) in found {
                    let rows = try conn.query(
                        """
                        INSERT INTO devices (name, address, tags) SELECT $1::text, $1::inet, '{discovered}'
                        WHERE NOT EXISTS (SELECT 1 FROM devices WHERE address = $1::inet)
                        ON CONFLICT (name) DO NOTHING RETURNING id
                        """, [a.description])
                    n += rows.count
                }
                return n
            }
        } catch {
            throw fail("could not add the responders: \(error)")
        }
        FileHandle.standardError.write(Data("discover: added \(added) new devices (\(found.count - added) were known)\n".utf8))
    }

    private func usage(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("sotpd discover: \(message)\n".utf8))
        return ExitCode(2)
    }
}
