// `sotpd poll-snmp`: every SNMP device of the inventory (or the ones named) polled once, now, through the
// same engine and writers as `sotpd run`, with a line per device and a summary. Operators use it to check
// credentials and profiles; benchmarks use it to time one full poll.
import ArgumentParser
import Foundation
import Logging
import Poller
import Sink
import Synchronization

struct PollSNMP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poll-snmp",
        abstract: "Poll the SNMP devices of the inventory once, now, store the rows, and print what each answered.",
        discussion: """
            One line per device: NAME ADDRESS ok|partial|failed VARBINDS POLL_MS [vendor model os version | error].
            A summary (devices, varbinds, wall and CPU time) goes to standard error. Exit status: 0 when every
            device answered fully, 1 when some did not, 2 for a bad config.
            """)
    @OptionGroup var options: ConfigOptions
    @Option(name: .customLong("device"), help: "Poll only this device (by name); repeat for more.") var devices: [String] = []
    @Flag(name: [.customShort("q"), .long], help: "Print only the summary.") var quiet = false

    func run() async throws {
        let config = try options.load()
        LogSetup.bootstrap(level: config.string("log.level"), format: config.string("log.format"))
        let logger = Logger(label: "sotpd")
        let db = Database(info: config.connectInfo)
        do {
            _ = try await db.prepare(autoMigrate: config.bool("database.auto_migrate"), devices: config.devices, logger: logger)
        } catch {
            throw fail("\(error)")
        }
        let snmpConfig = SNMPConfig(config)
        let targets: [SNMPPollTarget]
        do {
            let conn = try PGConnection(config.connectInfo)
            let (all, problems) = try SNMPInventory(config: snmpConfig).load(conn)
            for p in problems { logger.warning("device skipped", metadata: ["problem": "\(p)"]) }
            targets = devices.isEmpty ? all : all.filter { devices.contains($0.name) }
            if let missing = devices.first(where: { d in !all.contains { $0.name == d } }) {
                throw fail("no enabled device with snmp = true is named \"\(missing)\"")
            }
        } catch let e as PGError {
            throw fail("\(e)")
        }
        let sink: Sink
        do { sink = try Sink(settings: config.sinkSettings, logger: logger) } catch { throw fail("\(error)") }
        sink.start()
        let core = try SNMPPollerCore(config: snmpConfig, info: config.connectInfo, sink: sink, logger: logger)
        core.start()

        struct Tally {
            var done = 0, ok = 0, partial = 0, failed = 0, varbinds = 0
        }
        let tally = Mutex(Tally())
        // Signalled by the last device's callback: waiting on it costs nothing while slow agents answer
        // (a sleep-and-check loop here was most of this command's CPU against snmpsim).
        let allDone = DispatchSemaphore(value: 0)
        if targets.isEmpty { allDone.signal() }
        let total = targets.count
        let names = Dictionary(targets.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let quiet = quiet
        let cpu0 = processCPUSeconds()
        let start = ContinuousClock.now
        for t in targets {
            core.poll(t) { s in
                let state = s.unreachable ? "failed" : s.error == nil ? "ok" : "partial"
                let last = tally.withLock {
                    $0.done += 1
                    $0.varbinds += s.varbinds
                    if s.unreachable { $0.failed += 1 } else if s.error == nil { $0.ok += 1 } else { $0.partial += 1 }
                    return $0.done == total
                }
                defer { if last { allDone.signal() } }  // after this device's line
                guard !quiet else { return }
                var line = "\(names[s.deviceID] ?? "?") \(s.address) \(state) \(s.varbinds) \(String(format: "%.1f", Double(s.durationMicros) / 1000))"
                if let e = s.error {
                    line += " \(e)"
                } else if let c = s.category {
                    line += " " + [c.vendor, c.model, c.os, c.version].map { $0 ?? "-" }.joined(separator: " | ")
                }
                print(line)
            }
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                allDone.wait()
                c.resume()
            }
        }
        let wall = ContinuousClock.now - start
        let cpu = processCPUSeconds() - cpu0
        core.stop()
        await sink.shutdown(timeout: .seconds(120))
        let t = tally.withLock { $0 }
        let secs = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        let s = core.engine.stats
        FileHandle.standardError.write(Data((
            "devices=\(targets.count) ok=\(t.ok) partial=\(t.partial) failed=\(t.failed) varbinds=\(t.varbinds) "
                + "requests=\(s[.requestsSent]) retries=\(s[.retries]) timeouts=\(s[.timeouts]) "
                + String(format: "wall_s=%.3f cpu_s=%.3f oids_per_s=%.0f", secs, cpu, Double(t.varbinds) / max(secs, 1e-9))
                + String(format: " cpu_with_writes_s=%.3f", processCPUSeconds() - cpu0)
                + " rows_written=\(sink.stats.snapshot().rowsWritten)\n").utf8))
        if t.ok != targets.count { throw ExitCode(1) }
    }
}
