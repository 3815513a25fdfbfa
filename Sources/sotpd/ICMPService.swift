// `sotpd run`'s ICMP part: the poller engine fed from the devices table (re-read when its version
// changes), writing one icmp_samples row per target per cycle and one device_events row per up/down.
import Foundation
import Logging
import Poller
import ServiceLifecycle
import Sink
import Synchronization

enum ICMPTables {
    static let samples = TableSpec("icmp_samples", [
        .init("time", .timestamptz), .init("device_id", .int4), .init("address", .inet), .init("sent", .int2),
        .init("received", .int2), .init("rtt_min_ms", .float4), .init("rtt_avg_ms", .float4), .init("rtt_max_ms", .float4),
        .init("jitter_ms", .float4), .init("loss_pct", .float4), .init("icmp_errors", .int2), .init("late", .int2),
    ])
    static let events = TableSpec("device_events", [
        .init("time", .timestamptz), .init("device_id", .int4), .init("address", .inet), .init("kind", .text),
        .init("state", .text), .init("reason", .text), .init("if_index", .int8),
    ])
}

extension CopyBuffer {
    mutating func inet(_ a: IPAddress) {
        switch a {
        case .v4(let v): inet(ipv4: v)
        case .v6(let h, let l): inet(ipv6High: h, low: l)
        }
    }

    mutating func float4(_ v: Double?) {
        if let v { float4(Float(v)) } else { null() }
    }
}

/// Encodes one cycle as an icmp_samples row.
func encodeSample(_ r: ICMPCycleResult, _ row: inout CopyBuffer) {
    row.timestamptz(unixMicros: r.timeMicros)
    row.int4(r.deviceID)
    row.inet(r.address)
    row.int2(Int16(clamping: r.sent))
    row.int2(Int16(clamping: r.received))
    row.float4(r.rttMinMs)
    row.float4(r.rttAvgMs)
    row.float4(r.rttMaxMs)
    row.float4(r.jitterMs)
    row.float4(Float(r.lossPercent))
    row.int2(Int16(clamping: r.icmpErrors))
    row.int2(Int16(clamping: r.late))
}

func encodeEvent(_ c: ICMPStateChange, _ row: inout CopyBuffer) {
    row.timestamptz(unixMicros: c.timeMicros)
    row.int4(c.deviceID)
    row.inet(c.address)
    row.text("icmp")
    row.text(c.up ? "up" : "down")
    row.text(c.reason)
    row.null()  // if_index: SNMP interface events only
}

/// Runs the poller while sotpd runs; stops it on graceful shutdown (before the sink flushes).
final class ICMPService: Service, Sendable {
    let config: ICMPConfig
    let info: PGConnectInfo
    let sink: Sink
    let logger: Logger
    let poller: ICMPPoller
    private let stopping = Atomic<Bool>(false)
    private let watcherDone = DispatchSemaphore(value: 0)

    /// `alerts`: where cycles and up/down changes also go for the alert rules (nil: alerting off).
    init(config: ICMPConfig, info: PGConnectInfo, sink: Sink, logger: Logger, alerts: AlertInbox? = nil) throws(ICMPSocketError) {
        self.config = config
        self.info = info
        self.sink = sink
        self.logger = logger
        var o = ICMPPollerOptions()
        o.socketMode = config.socket
        o.senderCPU = config.senderCPU
        o.senderPriority = config.senderPriority
        o.receiverPriority = config.receiverPriority
        o.receiverCPU = config.receiverCPU
        let samples = sink.table(ICMPTables.samples), events = sink.table(ICMPTables.events)
        let alerts = alerts?.wantsICMP == true ? alerts : nil
        poller = try ICMPPoller(
            options: o,
            onResult: { r in
                sink.append(samples) { encodeSample(r, &$0) }
                alerts?.push(.icmpCycle(AlertICMPCycle(r)))
            },
            onStateChange: { [changeLog = ChangeLogWindow()] c in
                sink.append(events) { encodeEvent(c, &$0) }
                alerts?.push(.icmpChange(AlertICMPChange(c)))
                // Every change is in device_events; the log names the first 100 of each 10 s and counts the
                // rest, so an outage of a whole site does not flood it.
                let (log, skipped) = changeLog.admit()
                if skipped > 0 { logger.notice("\(skipped) more device up/down changes were not logged (all are in device_events)") }
                if log {
                    logger.notice(
                        "device \(c.up ? "up" : "down")",
                        metadata: ["device_id": "\(c.deviceID)", "address": "\(c.address)", "reason": "\(c.reason)"])
                }
            })
    }

    func run() async throws {
        poller.start()
        logger.info("ICMP poller started", metadata: ["sockets": "\(poller.rawSockets ? "raw" : "datagram")"])
        try? await Task.sleep(for: .milliseconds(50))
        if let problem = poller.schedulingProblem {
            logger.warning(
                "ICMP threads run with normal scheduling; on a busy box probes may leave late and replies overflow the socket (set icmp.sender_priority and icmp.receiver_priority to 0 to silence)",
                metadata: ["problem": "\(problem)"])
        }
        let watcher = Thread { [self] in
            watchInventory()
            watcherDone.signal()
        }
        watcher.name = "sotp-icmp-inv"
        watcher.start()
        try? await gracefulShutdown()
        stopping.store(true, ordering: .releasing)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.watcherDone.wait()
                self.poller.stop()
                c.resume()
            }
        }
        logger.info("ICMP poller stopped", metadata: ["stats": "\(poller.stats.snapshot().fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))"])
    }

    /// Counters for sotp_stats: totals, and send lateness over the last stats interval.
    func statsFields() -> [(String, Double)] {
        var out = poller.stats.snapshot().fields.filter { !$0.0.hasPrefix("send_lateness") }.map { ("icmp." + $0.0, Double($0.1)) }
        let w = poller.stats.takeLatenessWindow()
        out += [
            ("icmp.targets", Double(poller.targetCount)), ("icmp.send_lateness_p50_us", Double(w.p50)),
            ("icmp.send_lateness_p99_us", Double(w.p99)), ("icmp.send_lateness_max_us", Double(w.max)),
            ("icmp.send_lateness_samples", Double(w.samples)),
        ]
        return out
    }

    /// Polls the inventory version and reloads the targets when it changes; keeps going (with the last
    /// good targets) while the database is away.
    private func watchInventory() {
        let inventory = ICMPInventory(icmp: config)
        var conn: PGConnection?
        var seen: Int64 = -1
        var lastFailure = ""
        while !stopping.load(ordering: .acquiring) {
            do throws(PGError) {
                if conn == nil { conn = try PGConnection(info) }
                let v = try ICMPInventory.version(conn!)
                if v != seen {
                    let (targets, problems) = try inventory.load(conn!)
                    for p in problems { logger.warning("device skipped by the ICMP poller", metadata: ["problem": "\(p)"]) }
                    let refused = poller.setTargets(targets)
                    for (t, why) in refused {
                        logger.warning("device refused by the ICMP poller", metadata: ["device": "\(t.name)", "problem": "\(why)"])
                    }
                    logger.info("ICMP targets loaded", metadata: [
                        "inventory_version": "\(v)", "targets": "\(poller.targetCount)", "skipped": "\(problems.count + refused.count)",
                    ])
                    seen = v
                }
                lastFailure = ""
            } catch {
                conn = nil
                if "\(error)" != lastFailure {
                    logger.warning("cannot read the device inventory; polling the last known targets", metadata: ["error": "\(error)"])
                    lastFailure = "\(error)"
                }
            }
            // Sleep in short steps so shutdown is prompt.
            let end = ContinuousClock.now + config.inventoryRefresh
            while ContinuousClock.now < end && !stopping.load(ordering: .acquiring) {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }
}

/// Admits the first 100 up/down log lines of each 10 s window; reports how many the last window skipped.
final class ChangeLogWindow: Sendable {
    private let state = Mutex<(start: ContinuousClock.Instant, seen: Int, skipped: Int)>((.now, 0, 0))

    /// Whether to log this change, and how many were skipped in the window that just ended (log it once).
    func admit() -> (Bool, Int) {
        state.withLock { w in
            let now = ContinuousClock.now
            var ended = 0
            if now - w.start >= .seconds(10) {
                ended = w.skipped
                w = (now, 0, 0)
            }
            w.seen += 1
            if w.seen > 100 { w.skipped += 1 }
            return (w.seen <= 100, ended)
        }
    }
}
