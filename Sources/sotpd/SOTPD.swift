// The sotpd command line: run (the default), migrate, check-config and sink-load.
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Sink

@main
struct SOTPD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sotpd",
        abstract: "SOTP appliance daemon: polls devices, receives telemetry, writes it to TimescaleDB.",
        subcommands: [Run.self, Migrate.self, CheckConfig.self, SinkLoad.self, Ping.self, Discover.self, PollSNMP.self, Report.self, Replay.self],
        defaultSubcommand: Run.self
    )
}

/// `--config`, shared by every subcommand.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Configuration file (TOML). Environment: SOTP_CONFIG.")
    var config: String = ProcessInfo.processInfo.environment["SOTP_CONFIG"] ?? "/etc/sotp/sotpd.toml"

    /// Loads and validates the file; a problem is printed naming the key and the process exits 2.
    func load() throws -> Config {
        do {
            return try Config.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("sotpd: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// Fails the command with a message and exit code 1 (a runtime problem, not a config one).
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("sotpd: \(message)\n".utf8))
    return ExitCode(1)
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the appliance (default).")
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        LogSetup.bootstrap(level: config.string("log.level"), format: config.string("log.format"))
        let logger = Logger(label: "sotpd")
        logger.notice(
            "sotpd starting",
            metadata: [
                "config": "\(options.config)", "allocator": "jemalloc \(Jemalloc.version ?? "not linked")",
                "database": "\(config.redactedDatabaseURL)",
            ])
        let db = Database(info: config.connectInfo)
        var license: TimescaleLicense?
        do {
            license = try await db.prepare(autoMigrate: config.bool("database.auto_migrate"), devices: config.devices, logger: logger)
        } catch let e as SchemaError {
            if case .database(let pg) = e, pg.connectionLost {
                logger.warning("database unreachable at start; rows are spooled until it is back", metadata: ["error": "\(pg)"])
            } else {
                throw fail("\(e)")
            }
        }
        let sink: Sink
        do {
            sink = try Sink(settings: config.sinkSettings, logger: logger)
        } catch {
            throw fail("\(error)")
        }
        var services: [any Service] = [
            SinkService(sink: sink, timeout: .seconds(config.int("sink.shutdown_timeout_s"))),
            MaintenanceService(
                db: db, sink: sink, retention: config.retention, license: license,
                interval: .seconds(config.int("retention.maintenance_interval_s")), logger: logger),
        ]
        var stats = StatsService(sink: sink, interval: .seconds(config.int("stats.interval_s")))
        // What /metrics reads at each scrape: the same counters as sotp_stats, plus per-listener and
        // per-exporter series.
        let sinkStats = sink.stats
        var metrics: [MetricSource] = [{ StatsCatalog.samples(sinkStats.snapshot().fields.map { ("sink." + $0.0, Double($0.1)) }) }]
        // What /readyz checks: each listener and poller service is running (and the API's database probe).
        let readiness = Readiness()
        metrics.append { readiness.samples }
        // Alerting before the producers in the list, so the group stops it after them.
        var alerts: AlertInbox?
        if config.alertsEnabled {
            let service = AlertService(config: config, logger: logger)
            services.append(service)
            alerts = service.inbox
            let fields: @Sendable () -> [(String, Double)] = { service.statsFields() }
            stats.sources.append(fields)
            metrics.append { StatsCatalog.samples(fields()) }
        }
        if config.icmp.enabled {
            // After the sink in the list, so the group stops the poller first and its last rows get written.
            let icmp: ICMPService
            do {
                icmp = try ICMPService(config: config.icmp, info: config.connectInfo, sink: sink, logger: logger, alerts: alerts)
            } catch {
                throw fail("\(error) (or set icmp.enabled = false)")
            }
            services.append(ReadinessTracked(icmp, "icmp", .pollers, readiness))
            stats.sources.append { icmp.statsFields() }
            metrics.append { icmp.metricSamples() + [cycleLagSample("icmp", micros: icmp.poller.stats.currentLagMicros)] }
        }
        if config.bool("flow.enabled") && !config.flowListeners.isEmpty {
            let flow: FlowService
            do {
                flow = try FlowService(config: config, sink: sink, logger: logger)
            } catch {
                throw fail("\(error) (or set flow.enabled = false)")
            }
            services.append(ReadinessTracked(flow, "flow", .listeners, readiness))
            let flowFields: @Sendable () -> [(String, Double)] = { flow.statsFields() }
            stats.sources.append(flowFields)
            metrics.append { StatsCatalog.samples(flowFields()) + flow.metricSamples() + listenerSamples("flow", flow.receivers) }
        }
        if !config.strings("probe.interfaces").isEmpty {
            let probe: ProbeService
            do {
                probe = try ProbeService(config: config, sink: sink, logger: logger)
            } catch let error where error.option != nil {
                // A missing interface or a value the kernel refuses: the configuration's problem.
                FileHandle.standardError.write(Data("sotpd: probe.\(error.option!): \(error)\n".utf8))
                throw ExitCode(2)
            } catch {
                throw fail("\(error) (or set probe.interfaces = [] to run without the capture probe)")
            }
            services.append(ReadinessTracked(probe, "probe", .listeners, readiness))
            let fields: @Sendable () -> [(String, Double)] = { probe.statsFields() }
            stats.sources.append(fields)
            metrics.append { StatsCatalog.samples(fields()) + probe.metricSamples() }
        }
        // Syslog and traps link what they store to devices by source address, through one shared map.
        let deviceAddresses = DeviceAddresses()
        if config.bool("syslog.enabled") {
            let syslog: SyslogService
            do {
                syslog = try SyslogService(config: config, sink: sink, devices: deviceAddresses, logger: logger, alerts: alerts)
            } catch {
                throw fail("\(error) (or set syslog.enabled = false)")
            }
            services.append(ReadinessTracked(syslog, "syslog", .listeners, readiness))
            let fields: @Sendable () -> [(String, Double)] = { syslog.statsFields() }
            stats.sources.append(fields)
            metrics.append { StatsCatalog.samples(fields()) + listenerSamples("syslog", syslog.receivers) }
        }
        if config.bool("traps.enabled") && config.int("traps.port") != 0 {
            let traps: TrapService
            do {
                traps = try TrapService(config: config, sink: sink, devices: deviceAddresses, logger: logger)
            } catch {
                throw fail("\(error) (or set traps.enabled = false)")
            }
            services.append(ReadinessTracked(traps, "traps", .listeners, readiness))
            let fields: @Sendable () -> [(String, Double)] = { traps.statsFields() }
            stats.sources.append(fields)
            metrics.append { StatsCatalog.samples(fields()) + listenerSamples("traps", [traps.receiver]) }
        }
        if config.bool("snmp.enabled") {
            let snmp = try SNMPService(config: SNMPConfig(config), info: config.connectInfo, sink: sink, logger: logger, alerts: alerts)
            services.append(ReadinessTracked(snmp, "snmp", .pollers, readiness))
            let fields: @Sendable () -> [(String, Double)] = { snmp.statsFields() }
            stats.sources.append(fields)
            metrics.append { StatsCatalog.samples(fields()) + [cycleLagSample("snmp", micros: snmp.core.stats.lagMicros.load(ordering: .relaxed))] }
        }
        services.append(stats)
        if let (host, port) = config.apiListen {
            // Last in the list, so the group stops the API first.
            do {
                let registry = MetricsRegistry(sources: metrics, textSources: [{ sinkLatencyExposition(sinkStats) }], logger: logger)
                services.append(try APIService(
                    host: host, port: port, metrics: registry, readiness: readiness, settings: config.apiSettings, sink: sink, logger: logger))
            } catch {
                throw fail("\(error) (or set api.listen = \"\" to run without the API)")
            }
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let e as APIError {
            // Another process took the port between the check at start and the server's own bind.
            throw fail("\(e) (or set api.listen = \"\" to run without the API)")
        }
        logger.notice("sotpd stopped")
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        let db = Database(info: config.connectInfo)
        do {
            let (from, to, license) = try await db.migrate()
            print(from == to ? "schema is at version \(to) (TimescaleDB license: \(license.rawValue))"
                : "schema migrated from version \(from) to \(to) (TimescaleDB license: \(license.rawValue))")
        } catch {
            throw fail("\(error)")
        }
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate the configuration and print its effective values (secrets redacted).")
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        print(config.effective, terminator: "")
    }
}
