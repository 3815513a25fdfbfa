// The long-running parts of `sotpd run`, as swift-service-lifecycle services. The group stops them in
// reverse order on SIGTERM/SIGINT, so producers stop before the sink flushes.
import Capture
import Foundation
import Logging
import ServiceLifecycle
import Sink

/// Starts the sink's writers; on graceful shutdown stops intake and writes everything out.
struct SinkService: Service {
    let sink: Sink
    let timeout: Duration

    func run() async throws {
        sink.start()
        try? await gracefulShutdown()
        await sink.shutdown(timeout: timeout)
    }
}

/// Retention (drop_chunks on the Apache edition, policies on Timescale's), ledger and dead-letter pruning.
struct MaintenanceService: Service {
    let db: Database
    let sink: Sink
    let retention: Retention
    let license: TimescaleLicense?
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                // The ledger is kept while the spool holds batches (see Schema.applyRetention).
                let n = try await db.maintain(retention: retention, license: license, pruneLedger: sink.stats.snapshot().spoolFiles == 0)
                logger.info("maintenance done", metadata: ["chunks_dropped_or_policies_set": "\(n)"])
            } catch {
                logger.warning("maintenance failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

/// Writes sotpd's own counters into `sotp_stats` through the sink, so Grafana can chart the appliance.
struct StatsService: Service {
    static let table = TableSpec("sotp_stats", [.init("time", .timestamptz), .init("metric", .text), .init("value", .float8)])
    let sink: Sink
    let interval: Duration
    /// Other components' counters, already prefixed ("icmp.probes_sent"), read once per interval.
    var sources: [@Sendable () -> [(String, Double)]] = []

    func run() async throws {
        guard interval > .zero else {
            try? await gracefulShutdown()
            return
        }
        let t = sink.table(Self.table)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            let now = unixMicrosNow()
            var values = sink.stats.snapshot().fields.map { ("sink." + $0.0, Double($0.1)) }
            for source in sources { values += source() }
            for (name, value) in values {
                sink.append(t) { row in
                    row.timestamptz(unixMicros: now)
                    row.text(name)
                    row.float8(value)
                }
            }
        }
    }
}
