// `sotpd run`'s alerting: the bounded inbox the pollers and receivers drop observations into (never
// blocking them), the evaluator task that applies the rules, and the webhook senders it hands notices to.
import AsyncHTTPClient
import Capture
import Foundation
import Logging
import Poller
import ServiceLifecycle
import Sink
import Synchronization

/// alerts.* counters for sotp_stats and /metrics.
final class AlertStats: Sendable {
    let firing = Atomic<Int>(0), fired = Atomic<Int>(0), resolved = Atomic<Int>(0)
    let notificationsSent = Atomic<Int>(0), deliveryFailures = Atomic<Int>(0), retries = Atomic<Int>(0)
    let dropped = Atomic<Int>(0), inputsDropped = Atomic<Int>(0), outbox = Atomic<Int>(0), inputs = Atomic<Int>(0)

    var fields: [(String, Double)] {
        [("firing", firing.load(ordering: .relaxed)), ("fired", fired.load(ordering: .relaxed)),
         ("resolved", resolved.load(ordering: .relaxed)), ("notifications_sent", notificationsSent.load(ordering: .relaxed)),
         ("delivery_failures", deliveryFailures.load(ordering: .relaxed)), ("retries", retries.load(ordering: .relaxed)),
         ("dropped", dropped.load(ordering: .relaxed)), ("inputs", inputs.load(ordering: .relaxed)),
         ("inputs_dropped", inputsDropped.load(ordering: .relaxed)), ("outbox", outbox.load(ordering: .relaxed))]
            .map { ("alerts." + $0.0, Double($0.1)) }
    }
}

/// Where the services hand observations to the evaluator: a bounded list behind a lock held for one
/// append. Full: the observation is dropped and counted (alerts.inputs_dropped), the producer never waits.
final class AlertInbox: Sendable {
    private let items: Mutex<[AlertInput]>
    let capacity: Int
    let stats: AlertStats
    /// Producers skip what no enabled rule reads (and build no strings for it).
    let wantsICMP: Bool, wantsSNMP: Bool
    /// Least severe syslog severity that alerts; -1: syslog rule off.
    let syslogSeverity: Int

    init(capacity: Int, rules: AlertRules, stats: AlertStats) {
        self.capacity = capacity
        self.stats = stats
        var a: [AlertInput] = []
        a.reserveCapacity(min(capacity, 4096))
        items = Mutex(a)
        wantsICMP = rules.deviceDown || rules.loss || rules.rtt
        wantsSNMP = rules.interfaceDown || rules.interfaceErrors
        syslogSeverity = rules.syslog ? rules.syslogSeverity : -1
    }

    func push(_ input: AlertInput) {
        let ok = items.withLock { q in
            guard q.count < capacity else { return false }
            q.append(input)
            return true
        }
        if !ok { stats.inputsDropped.add(1, ordering: .relaxed) }
    }

    /// Swaps the queued observations into `buffer` (which should be empty).
    func take(_ buffer: inout [AlertInput]) { items.withLock { swap(&$0, &buffer) } }

    /// An SNMP poll as the interface rules see it; built on the poller's thread only when they are on.
    func snmpPoll(_ s: SNMPDeviceSample, _ rates: [SNMPInterfaceRates]) {
        guard wantsSNMP else { return }
        var list: [AlertInterfaceObservation] = []
        list.reserveCapacity(s.interfaces.count)
        for (i, f) in s.interfaces.enumerated() {
            let r = i < rates.count ? rates[i] : SNMPInterfaceRates()
            let errors: Double? = r.inErrorsPs == nil && r.outErrorsPs == nil ? nil : (r.inErrorsPs ?? 0) + (r.outErrorsPs ?? 0)
            let packets: Double? = r.inPps == nil && r.outPps == nil ? nil : (r.inPps ?? 0) + (r.outPps ?? 0)
            list.append(AlertInterfaceObservation(
                index: f.index, name: f.name ?? f.descr, adminStatus: f.adminStatus, operStatus: f.operStatus,
                errorsPerSecond: errors, packetsPerSecond: packets))
        }
        push(.snmpPoll(deviceID: s.deviceID, address: s.address, reachable: !s.unreachable, interfaces: list))
    }
}

/// Per syslog thread: at most one observation per source per second reaches the inbox, carrying how many
/// messages it stands for, so a storm of critical messages costs the evaluator nothing.
struct SyslogAlertThrottle {
    private var last: [PeerAddress: (micros: Int64, pending: Int)] = [:]

    /// How many messages to report now for `peer` (this one and those held back), or 0 to hold it back.
    mutating func admit(_ peer: PeerAddress, now: Int64) -> Int {
        if last.count > 10_000 { last.removeAll(keepingCapacity: true) }
        if let l = last[peer], now - l.micros < 1_000_000 {
            last[peer] = (l.micros, l.pending + 1)
            return 0
        }
        let n = (last[peer]?.pending ?? 0) + 1
        last[peer] = (now, 0)
        return n
    }
}

/// Device names by id for the notices, reloaded when sotp.inventory_version moves.
final class AlertDeviceNames: Sendable {
    private let names = Mutex<(generation: Int, map: [Int32: String])>((0, [:]))
    private let stopping = Atomic<Bool>(false)

    func snapshot() -> (generation: Int, map: [Int32: String]) { names.withLock { $0 } }

    func start(info: PGConnectInfo, interval: Duration, logger: Logger) {
        followInventory(
            "sotp-alert-names", info: info, interval: interval, what: "alert device names", logger: logger,
            stopping: { [self] in stopping.load(ordering: .relaxed) }
        ) { [self] (conn) throws(PGError) in
            var map: [Int32: String] = [:]
            for row in try conn.query("SELECT id, name FROM devices") {
                if let id = row[0].flatMap({ Int32($0) }), let name = row[1] { map[id] = name }
            }
            names.withLock { $0 = ($0.generation + 1, map) }
        }
    }

    func stop() { stopping.store(true, ordering: .relaxed) }
}

/// Evaluates the rules on its own task and feeds the webhook senders.
final class AlertService: Service, Sendable {
    let inbox: AlertInbox
    let stats: AlertStats
    let rules: AlertRules
    let webhooks: [WebhookConfig]
    let outboxSize: Int
    let names = AlertDeviceNames()
    let info: PGConnectInfo?
    let refresh: Duration
    let logger: Logger
    /// How often the evaluator drains the inbox and checks timers.
    let step: Duration

    init(config: Config, logger: Logger, step: Duration = .milliseconds(200)) {
        let stats = AlertStats()
        let rules = config.alertRules
        self.stats = stats
        self.rules = rules
        self.inbox = AlertInbox(capacity: config.int("alerts.queue_size"), rules: rules, stats: stats)
        webhooks = config.alertWebhooks
        outboxSize = config.int("alerts.outbox_size")
        info = config.connectInfo
        refresh = .seconds(config.int("icmp.inventory_refresh_s"))
        self.logger = logger
        self.step = step
    }

    func statsFields() -> [(String, Double)] { stats.fields }

    func run() async throws {
        // Made here, not in init: a client must be shut down before it goes, and sotpd may stop before it runs.
        var c = HTTPClient.Configuration()
        c.redirectConfiguration = .disallow
        c.timeout.connect = .seconds(10)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: c)
        let senders = webhooks.map { WebhookSender(config: $0, capacity: outboxSize, client: client, stats: stats, logger: logger) }
        if let info { names.start(info: info, interval: refresh, logger: logger) }
        if senders.isEmpty {
            logger.notice("alerts are evaluated but no [[alerts.webhooks]] is configured; they are only counted and logged")
        }
        logger.info("alert evaluator started", metadata: ["webhooks": "\(senders.map(\.config.name))"])
        await withTaskGroup(of: Void.self) { group in
            for s in senders { group.addTask { await s.run() } }
            await evaluate(senders)
            // Shutdown: what is queued gets a few seconds to go out.
            for s in senders { s.finish(within: .seconds(5)) }
            await group.waitForAll()
        }
        names.stop()
        try? await client.shutdown()
        logger.info("alert evaluator stopped", metadata: ["stats": "\(stats.fields.map { "\($0.0)=\(Int($0.1))" }.joined(separator: " "))"])
    }

    /// The evaluator loop, until graceful shutdown.
    private func evaluate(_ senders: [WebhookSender]) async {
        var evaluator = AlertEvaluator(rules: rules)
        var generation = -1
        var buffer: [AlertInput] = []
        var lastTick: Int64 = 0
        var droppedLogged = 0, lastDropLog: Int64 = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var notices: [AlertNotice] = []
            let now = unixMicrosNow()
            let n = names.snapshot()
            if n.generation != generation {
                generation = n.generation
                evaluator.names = n.map
                notices += evaluator.retainDevices(Set(n.map.keys), now: now)
            }
            inbox.take(&buffer)
            for input in buffer { notices += evaluator.apply(input, now: now) }
            stats.inputs.add(buffer.count, ordering: .relaxed)
            buffer.removeAll(keepingCapacity: true)
            if now - lastTick >= 500_000 {
                lastTick = now
                notices += evaluator.tick(now: now)
            }
            // Inbox drops: one log line per 10 s at most, with the count since the last one.
            let dropped = stats.inputsDropped.load(ordering: .relaxed)
            if dropped != droppedLogged && now - lastDropLog >= 10_000_000 {
                logger.warning("alert evaluator queue full; observations dropped (raise alerts.queue_size)", metadata: [
                    "dropped": "\(dropped - droppedLogged)", "total": "\(dropped)",
                ])
                droppedLogged = dropped
                lastDropLog = now
            }
            for notice in notices { dispatch(notice, senders) }
            stats.firing.store(evaluator.firingCount, ordering: .relaxed)
            try? await Task.sleep(for: step)
        }
    }

    private func dispatch(_ n: AlertNotice, _ senders: [WebhookSender]) {
        if n.status == .firing && n.repeatCount == 0 { stats.fired.add(1, ordering: .relaxed) }
        if n.status == .resolved { stats.resolved.add(1, ordering: .relaxed) }
        logger.notice("alert \(n.status.rawValue)", metadata: [
            "rule": "\(n.rule.rawValue)", "device": "\(n.deviceName)", "summary": "\(n.summary)", "fingerprint": "\(n.fingerprint)",
        ])
        for s in senders { s.enqueue(n) }
    }
}
