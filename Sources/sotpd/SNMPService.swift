// `sotpd run`'s SNMP poller: devices with snmp = true from the inventory, each polled every interval
// (phases spread over it) through one asynchronous engine; rows to snmp_device_samples,
// snmp_interface_samples, snmp_storage_samples and device_events through the sink; the categorisation
// (devices.vendor…) and the current interface table (snmp_interfaces) written by a thread of its own
// when they change.
import Capture
import Foundation
import Logging
import Poller
import ServiceLifecycle
import Sink
import Synchronization

enum SNMPTables {
    static let interfaces = TableSpec("snmp_interface_samples", [
        .init("time", .timestamptz), .init("device_id", .int4), .init("if_index", .int4), .init("if_name", .text),
        .init("in_octets", .int8), .init("out_octets", .int8), .init("in_ucast_pkts", .int8), .init("out_ucast_pkts", .int8),
        .init("in_errors", .int8), .init("out_errors", .int8), .init("in_discards", .int8), .init("out_discards", .int8),
        .init("oper_status", .int2), .init("speed_bps", .int8), .init("admin_status", .int2), .init("in_mcast_pkts", .int8),
        .init("out_mcast_pkts", .int8), .init("in_bcast_pkts", .int8), .init("out_bcast_pkts", .int8), .init("hc_counters", .bool),
        .init("in_bps", .float8), .init("out_bps", .float8), .init("in_pps", .float8), .init("out_pps", .float8),
        .init("in_errors_ps", .float4), .init("out_errors_ps", .float4), .init("in_discards_ps", .float4),
        .init("out_discards_ps", .float4), .init("in_util_pct", .float4), .init("out_util_pct", .float4),
    ])
    static let devices = TableSpec("snmp_device_samples", [
        .init("time", .timestamptz), .init("device_id", .int4), .init("cpu_pct", .float4), .init("mem_used_bytes", .int8),
        .init("mem_total_bytes", .int8), .init("uptime_s", .int8), .init("reachable", .bool), .init("poll_ms", .float4),
        .init("varbinds", .int4), .init("error", .text),
    ])
    static let storage = TableSpec("snmp_storage_samples", [
        .init("time", .timestamptz), .init("device_id", .int4), .init("storage_index", .int4), .init("descr", .text),
        .init("kind", .text), .init("size_bytes", .int8), .init("used_bytes", .int8),
    ])
}

extension CopyBuffer {
    mutating func int8(_ v: UInt64?) {
        if let v { int8(Int64(bitPattern: v)) } else { null() }
    }

    mutating func int8(_ v: UInt32?) {
        if let v { int8(Int64(v)) } else { null() }
    }

    mutating func int8(_ v: Int64?) {
        if let v { int8(v) } else { null() }
    }

    mutating func text(_ v: String?) {
        if let v { text(v) } else { null() }
    }

    mutating func int2(_ v: Int32?) {
        if let v { int2(Int16(clamping: v)) } else { null() }
    }

    mutating func float8(_ v: Double?) {
        if let v { float8(v) } else { null() }
    }
}

/// The poller's own counters besides the engine's.
final class SNMPPollStats: Sendable {
    let polls = Atomic<Int>(0), pollsFailed = Atomic<Int>(0), pollsPartial = Atomic<Int>(0), overruns = Atomic<Int>(0)
    let wraps = Atomic<Int>(0), resets = Atomic<Int>(0), reboots = Atomic<Int>(0), metadataDropped = Atomic<Int>(0)
    let devices = Atomic<Int>(0), running = Atomic<Int>(0)
    /// How late the most overdue poll of the scheduler's latest pass that started any began, in µs.
    let lagMicros = Atomic<Int>(0)

    var fields: [(String, Int)] {
        [("polls", polls.load(ordering: .relaxed)), ("polls_failed", pollsFailed.load(ordering: .relaxed)),
         ("polls_partial", pollsPartial.load(ordering: .relaxed)), ("polls_overrun", overruns.load(ordering: .relaxed)),
         ("counter32_wraps", wraps.load(ordering: .relaxed)), ("counter_resets", resets.load(ordering: .relaxed)),
         ("reboots", reboots.load(ordering: .relaxed)), ("metadata_dropped", metadataDropped.load(ordering: .relaxed)),
         ("devices", devices.load(ordering: .relaxed)), ("polls_running", running.load(ordering: .relaxed))]
    }
}

/// Turns finished polls into rows and events. Called on the engine thread only (the state map is its).
final class SNMPResultWriter: @unchecked Sendable {
    let sink: Sink
    let interfaces: SinkTable, devices: SinkTable, storage: SinkTable, events: SinkTable
    let metadata: SNMPMetadataWriter
    let stats: SNMPPollStats
    let logger: Logger
    private var states: [Int32: SNMPDeviceState] = [:]
    private var lastCategory: [Int32: SNMPCategory] = [:]
    private var lastInterfaces: [Int32: [InterfaceMeta]] = [:]
    private let changeLog = ChangeLogWindow()
    /// Where polls also go for the interface alert rules (nil: alerting off).
    let alerts: AlertInbox?

    struct InterfaceMeta: Equatable {
        var index: UInt32, name: String?, descr: String?, alias: String?, type: Int32?, speed: UInt64?, admin: Int32?, oper: Int32?
    }

    init(sink: Sink, metadata: SNMPMetadataWriter, stats: SNMPPollStats, logger: Logger, alerts: AlertInbox? = nil) {
        self.sink = sink
        self.alerts = alerts
        self.metadata = metadata
        self.stats = stats
        self.logger = logger
        interfaces = sink.table(SNMPTables.interfaces)
        devices = sink.table(SNMPTables.devices)
        storage = sink.table(SNMPTables.storage)
        events = sink.table(ICMPTables.events)
    }

    func write(_ s: SNMPDeviceSample) {
        stats.polls.wrappingAdd(1, ordering: .relaxed)
        if s.unreachable { stats.pollsFailed.wrappingAdd(1, ordering: .relaxed) } else if s.error != nil { stats.pollsPartial.wrappingAdd(1, ordering: .relaxed) }
        let outcome = states[s.deviceID, default: SNMPDeviceState()].update(s)
        stats.wraps.wrappingAdd(outcome.wraps, ordering: .relaxed)
        stats.resets.wrappingAdd(outcome.resets, ordering: .relaxed)
        if outcome.rebooted { stats.reboots.wrappingAdd(1, ordering: .relaxed) }
        let time = s.timeMicros > 0 ? s.timeMicros : unixMicrosNow()
        sink.append(devices) { r in
            r.timestamptz(unixMicros: time)
            r.int4(s.deviceID)
            r.float4(s.cpuPct)
            r.int8(s.memUsedBytes.map { Int64($0) })
            r.int8(s.memTotalBytes.map { Int64($0) })
            r.int8(s.sysUpTime.map { Int64($0 / 100) })
            r.bool(!s.unreachable)
            r.float4(Float(Double(s.durationMicros) / 1000))
            r.int4(Int32(clamping: s.varbinds))
            r.text(s.error.map { "\($0)" })
        }
        for (i, f) in s.interfaces.enumerated() {
            let rate = i < outcome.rates.count ? outcome.rates[i] : SNMPInterfaceRates()
            let hc = f.inOctets64 != nil || f.outOctets64 != nil
            let speed = f.speedBps
            sink.append(interfaces) { r in
                r.timestamptz(unixMicros: time)
                r.int4(s.deviceID)
                r.int4(Int32(clamping: f.index))
                r.text(f.name ?? f.descr)
                r.int8(f.inOctets64 ?? f.inOctets32.map(UInt64.init))
                r.int8(f.outOctets64 ?? f.outOctets32.map(UInt64.init))
                r.int8(f.inUcast64 ?? f.inUcast32.map(UInt64.init))
                r.int8(f.outUcast64 ?? f.outUcast32.map(UInt64.init))
                r.int8(f.inErrors)
                r.int8(f.outErrors)
                r.int8(f.inDiscards)
                r.int8(f.outDiscards)
                r.int2(f.operStatus)
                r.int8(speed)
                r.int2(f.adminStatus)
                r.int8(f.inMcast64 ?? f.inMcast32.map(UInt64.init))
                r.int8(f.outMcast64 ?? f.outMcast32.map(UInt64.init))
                r.int8(f.inBcast64 ?? f.inBcast32.map(UInt64.init))
                r.int8(f.outBcast64 ?? f.outBcast32.map(UInt64.init))
                r.bool(hc)
                r.float8(rate.inBps)
                r.float8(rate.outBps)
                r.float8(rate.inPps)
                r.float8(rate.outPps)
                r.float4(rate.inErrorsPs)
                r.float4(rate.outErrorsPs)
                r.float4(rate.inDiscardsPs)
                r.float4(rate.outDiscardsPs)
                let sp = speed.flatMap { $0 > 0 ? Double($0) : nil }
                r.float4(rate.inBps.flatMap { b in sp.map { 100 * b / $0 } })
                r.float4(rate.outBps.flatMap { b in sp.map { 100 * b / $0 } })
            }
        }
        for st in s.storage {
            sink.append(storage) { r in
                r.timestamptz(unixMicros: time)
                r.int4(s.deviceID)
                r.int4(Int32(clamping: st.index))
                r.text(st.descr)
                r.text(st.kind)
                r.int8(st.sizeBytes)
                r.int8(st.usedBytes)
            }
        }
        for e in outcome.events {
            sink.append(events) { r in
                r.timestamptz(unixMicros: time)
                r.int4(s.deviceID)
                if let a = IPAddress(s.address) { r.inet(a) } else { r.null() }
                r.text(e.kind)
                r.text(e.up ? "up" : "down")
                r.text(e.reason)
                if let i = e.ifIndex { r.int8(Int64(i)) } else { r.null() }
            }
            let (log, skipped) = changeLog.admit()
            if skipped > 0 { logger.notice("\(skipped) more SNMP events were not logged (all are in device_events)") }
            if log {
                logger.notice("SNMP \(e.kind) \(e.up ? "up" : "down")", metadata: [
                    "device_id": "\(s.deviceID)", "address": "\(s.address)", "reason": "\(e.reason)",
                ])
            }
        }
        alerts?.snmpPoll(s, outcome.rates)
        // The categorisation and the interface table, when they changed.
        if let c = s.category, lastCategory[s.deviceID] != c {
            lastCategory[s.deviceID] = c
            metadata.enqueue(.category(s.deviceID, c, sysObjectID: s.sysObjectID, sysName: s.sysName, sysDescr: s.sysDescr))
        }
        if !s.unreachable && s.error == nil {
            let meta = s.interfaces.map {
                InterfaceMeta(index: $0.index, name: $0.name, descr: $0.descr, alias: $0.alias, type: $0.type, speed: $0.speedBps,
                              admin: $0.adminStatus, oper: $0.operStatus)
            }
            if lastInterfaces[s.deviceID] != meta {
                lastInterfaces[s.deviceID] = meta
                metadata.enqueue(.interfaces(s.deviceID, meta))
            }
        }
    }

    /// Forgets devices no longer polled.
    func retain(_ ids: Set<Int32>) {
        states = states.filter { ids.contains($0.key) }
        lastCategory = lastCategory.filter { ids.contains($0.key) }
        lastInterfaces = lastInterfaces.filter { ids.contains($0.key) }
    }
}

/// Writes the categorisation and snmp_interfaces on a connection of its own, off the engine thread.
final class SNMPMetadataWriter: @unchecked Sendable {
    enum Item: Sendable {
        case category(Int32, SNMPCategory, sysObjectID: String?, sysName: String?, sysDescr: String?)
        case interfaces(Int32, [SNMPResultWriter.InterfaceMeta])
    }

    private let info: PGConnectInfo
    private let logger: Logger
    private let stats: SNMPPollStats
    private let queue = Mutex<[Item]>([])
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let wake = DispatchSemaphore(value: 0)
    static let maxQueued = 100_000

    init(info: PGConnectInfo, stats: SNMPPollStats, logger: Logger) {
        self.info = info
        self.stats = stats
        self.logger = logger
    }

    func enqueue(_ item: Item) {
        let ok = queue.withLock { q in
            guard q.count < Self.maxQueued else { return false }
            q.append(item)
            return true
        }
        if ok { wake.signal() } else { stats.metadataDropped.wrappingAdd(1, ordering: .relaxed) }
    }

    func start() {
        let t = Thread { [self] in
            run()
            done.signal()
        }
        t.name = "sotp-snmp-meta"
        t.start()
    }

    /// Writes what is queued, then stops.
    func stop() {
        stopping.store(true, ordering: .releasing)
        wake.signal()
        done.wait()
    }

    private func run() {
        var conn: PGConnection?
        var lastFailure = ""
        while true {
            let items = queue.withLock { q -> [Item] in
                let taken = q
                q.removeAll(keepingCapacity: true)
                return taken
            }
            if items.isEmpty {
                if stopping.load(ordering: .acquiring) { return }
                _ = wake.wait(timeout: .now() + 1)
                continue
            }
            do throws(PGError) {
                if conn == nil { conn = try PGConnection(info) }
                try conn!.execute("BEGIN")
                for item in items { try write(conn!, item) }
                try conn!.execute("COMMIT")
                lastFailure = ""
            } catch {
                // Only the latest state matters: a failed batch is dropped and rewritten when it changes
                // again; the samples themselves go through the sink and its spool.
                conn = nil
                stats.metadataDropped.wrappingAdd(items.count, ordering: .relaxed)
                if "\(error)" != lastFailure {
                    logger.warning("cannot write SNMP categorisation or interfaces", metadata: ["error": "\(error)"])
                    lastFailure = "\(error)"
                }
                if stopping.load(ordering: .acquiring) { return }
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    private func write(_ conn: borrowing PGConnection, _ item: Item) throws(PGError) {
        switch item {
        case .category(let id, let c, let oid, let name, let descr):
            _ = try conn.query(
                """
                UPDATE devices SET vendor = $2, model = $3, os = $4, os_version = $5, sys_object_id = $6, sys_name = $7,
                    sys_descr = $8, snmp_profile = $9
                WHERE id = $1 AND (vendor, model, os, os_version, sys_object_id, sys_name, sys_descr, snmp_profile)
                    IS DISTINCT FROM ($2, $3, $4, $5, $6, $7, $8, $9)
                """,
                [String(id), c.vendor, c.model, c.os, c.version, oid, name.map(Self.clean), descr.map(Self.clean), c.profile])
        case .interfaces(let id, let list):
            func ints<T>(_ f: (SNMPResultWriter.InterfaceMeta) -> T?) -> String {
                "{" + list.map { f($0).map { "\($0)" } ?? "NULL" }.joined(separator: ",") + "}"
            }
            func texts(_ f: (SNMPResultWriter.InterfaceMeta) -> String?) -> String {
                "{" + list.map { m in f(m).map(Self.arrayElement) ?? "NULL" }.joined(separator: ",") + "}"
            }
            _ = try conn.query(
                """
                INSERT INTO snmp_interfaces AS cur (device_id, if_index, name, descr, alias, type, speed_bps, admin_status, oper_status)
                SELECT $1::int, * FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::int8[], $8::int2[], $9::int2[])
                ON CONFLICT (device_id, if_index) DO UPDATE SET name = EXCLUDED.name, descr = EXCLUDED.descr, alias = EXCLUDED.alias,
                    type = EXCLUDED.type, speed_bps = EXCLUDED.speed_bps, admin_status = EXCLUDED.admin_status,
                    oper_status = EXCLUDED.oper_status, updated_at = now()
                WHERE (cur.name, cur.descr, cur.alias, cur.type, cur.speed_bps, cur.admin_status, cur.oper_status)
                    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.descr, EXCLUDED.alias, EXCLUDED.type, EXCLUDED.speed_bps,
                                      EXCLUDED.admin_status, EXCLUDED.oper_status)
                """,
                [String(id), ints { $0.index }, texts { $0.name }, texts { $0.descr }, texts { $0.alias }, ints { $0.type },
                 ints { $0.speed.map { Int64(clamping: $0) } }, ints { $0.admin.map { Int16(clamping: $0) } }, ints { $0.oper.map { Int16(clamping: $0) } }])
            _ = try conn.query(
                "DELETE FROM snmp_interfaces WHERE device_id = $1 AND NOT (if_index = ANY ($2::int8[]))", [String(id), ints { $0.index }])
        }
    }

    /// Text PostgreSQL accepts: no NUL bytes. (Byte loops: Foundation's string search was a tenth of the
    /// poller's CPU at 10,000 devices.)
    static func clean(_ s: String) -> String {
        guard s.utf8.contains(0) else { return s }
        return String(decoding: s.utf8.filter { $0 != 0 }, as: UTF8.self)
    }

    /// A quoted element of a PostgreSQL array literal: NULs dropped, `\` and `"` escaped.
    static func arrayElement(_ s: String) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(s.utf8.count + 2)
        for c in s.utf8 where c != 0 {
            if c == UInt8(ascii: "\\") || c == UInt8(ascii: "\"") { out.append(UInt8(ascii: "\\")) }
            out.append(c)
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }
}

/// One device the poller polls.
struct SNMPPollTarget: Sendable {
    var id: Int32
    var name: String
    var target: SNMPTarget
    var intervalSeconds: Int
}

/// The devices with SNMP on.
struct SNMPInventory {
    let config: SNMPConfig

    struct Problem: CustomStringConvertible {
        var device: String
        var message: String
        var description: String { "device \"\(device)\": \(message)" }
    }

    func load(_ conn: borrowing PGConnection) throws(PGError) -> ([SNMPPollTarget], [Problem]) {
        let rows = try conn.query("SELECT id, name, host(address), settings FROM devices WHERE enabled AND snmp ORDER BY id")
        var out: [SNMPPollTarget] = []
        var problems: [Problem] = []
        for row in rows {
            let name = row[1] ?? "?"
            guard let id = row[0].flatMap({ Int32($0) }), let address = row[2].flatMap({ IPAddress($0) }) else {
                problems.append(Problem(device: name, message: "id or address cannot be used"))
                continue
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data((row[3] ?? "{}").utf8)), let dict = object as? [String: Any] else {
                problems.append(Problem(device: name, message: "settings must be a JSON object"))
                continue
            }
            do {
                let o = try SNMPOverrides(settings: dict)
                switch config.target(address, o) {
                case .success(let (t, interval)): out.append(SNMPPollTarget(id: id, name: name, target: t, intervalSeconds: interval))
                case .failure(let e): problems.append(Problem(device: name, message: "settings.\(e.key) \(e.problem)"))
                }
            } catch {
                problems.append(Problem(device: name, message: "settings.\(error.key) \(error.problem)"))
            }
        }
        return (out, problems)
    }
}

/// The engine, the result writer and the metadata writer, shared by `sotpd run` and `sotpd poll-snmp`.
final class SNMPPollerCore: Sendable {
    let engine: SNMPEngine
    let profiles: SNMPProfileSet
    let stats = SNMPPollStats()
    let metadata: SNMPMetadataWriter
    let writer: SNMPResultWriter
    private let running = Mutex<Set<Int32>>([])

    init(config: SNMPConfig, info: PGConnectInfo, sink: Sink, logger: Logger, alerts: AlertInbox? = nil) throws {
        var o = SNMPEngineOptions()
        o.socketsPerFamily = config.sockets
        o.maxInFlight = config.maxInFlight
        do { engine = try SNMPEngine(options: o) } catch { throw fail("\(error) (or set snmp.enabled = false)") }
        let loaded: (SNMPProfileSet, missing: [String], files: Int)
        // The config check loaded them once already; a file changed since is a runtime failure.
        do { loaded = try SNMPProfileLoader.load(dirs: config.profileDirs) } catch {
            throw fail("snmp.profile_dirs: \(error)")
        }
        profiles = loaded.0
        for dir in loaded.missing {
            logger.warning("SNMP profile directory not found; vendor CPU/memory OIDs and categorisation from it are off", metadata: [
                "key": "snmp.profile_dirs", "directory": "\(dir)",
            ])
        }
        logger.info("SNMP profiles loaded", metadata: ["files": "\(loaded.files)", "profiles": "\(profiles.profiles.map(\.name).joined(separator: ","))"])
        metadata = SNMPMetadataWriter(info: info, stats: stats, logger: logger)
        writer = SNMPResultWriter(sink: sink, metadata: metadata, stats: stats, logger: logger, alerts: alerts)
    }

    func start() {
        engine.start()
        metadata.start()
    }

    func stop() {
        engine.stop()
        metadata.stop()
    }

    /// Starts a poll of `t` unless its previous one is still running (then counted as an overrun).
    /// `done` runs after its rows are appended.
    @discardableResult
    func poll(_ t: SNMPPollTarget, done: (@Sendable (SNMPDeviceSample) -> Void)? = nil) -> Bool {
        guard running.withLock({ $0.insert(t.id).inserted }) else {
            stats.overruns.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        stats.running.wrappingAdd(1, ordering: .relaxed)
        let p = SNMPDevicePoll(deviceID: t.id, target: t.target, engine: engine, profiles: profiles) { [self] s in
            writer.write(s)
            running.withLock { _ = $0.remove(t.id) }
            stats.running.wrappingAdd(-1, ordering: .relaxed)
            done?(s)
        }
        p.start()
        return true
    }

    func statsFields() -> [(String, Double)] {
        (stats.fields + engine.stats.fields + [("in_flight", engine.inFlight), ("queued", engine.queued)]).map { ("snmp." + $0.0, Double($0.1)) }
    }
}

/// Polls every device at its interval while sotpd runs.
final class SNMPService: Service, Sendable {
    let config: SNMPConfig
    let info: PGConnectInfo
    let core: SNMPPollerCore
    let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private let schedulerDone = DispatchSemaphore(value: 0)

    init(config: SNMPConfig, info: PGConnectInfo, sink: Sink, logger: Logger, alerts: AlertInbox? = nil) throws {
        self.config = config
        self.info = info
        self.logger = logger
        core = try SNMPPollerCore(config: config, info: info, sink: sink, logger: logger, alerts: alerts)
    }

    func run() async throws {
        core.start()
        logger.info("SNMP poller started", metadata: ["interval_s": "\(config.interval)", "max_in_flight": "\(config.maxInFlight)"])
        let t = Thread { [self] in
            schedule()
            schedulerDone.signal()
        }
        t.name = "sotp-snmp-sched"
        t.start()
        try? await gracefulShutdown()
        stopping.store(true, ordering: .releasing)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.schedulerDone.wait()
                self.core.stop()
                c.resume()
            }
        }
        logger.info("SNMP poller stopped", metadata: ["stats": "\(core.statsFields().map { "\($0.0)=\(Int($0.1))" }.joined(separator: " "))"])
    }

    func statsFields() -> [(String, Double)] { core.statsFields() }

    /// Reloads the inventory when its version moves, and starts each device's poll when it is due:
    /// the first at a phase spread over the interval by the device id, then every interval.
    private func schedule() {
        let inventory = SNMPInventory(config: config)
        var conn: PGConnection?
        var seen: Int64 = -1
        var lastFailure = ""
        var targets: [Int32: (SNMPPollTarget, next: Int64)] = [:]
        var nextRefresh: Int64 = 0
        let refresh = Int64(config.inventoryRefresh.components.seconds) * 1_000_000_000
        while !stopping.load(ordering: .acquiring) {
            let now = monotonicNanos()
            if now >= nextRefresh {
                nextRefresh = now + refresh
                do throws(PGError) {
                    if conn == nil { conn = try PGConnection(info) }
                    let v = try ICMPInventory.version(conn!)
                    if v != seen {
                        let (list, problems) = try inventory.load(conn!)
                        for p in problems { logger.warning("device skipped by the SNMP poller", metadata: ["problem": "\(p)"]) }
                        var next: [Int32: (SNMPPollTarget, next: Int64)] = [:]
                        for t in list {
                            if let old = targets[t.id], old.0.intervalSeconds == t.intervalSeconds {
                                next[t.id] = (t, old.next)
                            } else {
                                // Golden-ratio phases: any number of devices spreads evenly over the interval.
                                let phase = (Double(t.id) * 0.618_033_988_749_895).truncatingRemainder(dividingBy: 1)
                                next[t.id] = (t, now + Int64(phase * Double(t.intervalSeconds) * 1e9))
                            }
                        }
                        targets = next
                        core.stats.devices.store(targets.count, ordering: .relaxed)
                        let ids = Set(targets.keys)
                        core.engine.onEngineThread { [core] in core.writer.retain(ids) }
                        logger.info("SNMP devices loaded", metadata: ["inventory_version": "\(v)", "devices": "\(targets.count)", "skipped": "\(problems.count)"])
                        seen = v
                    }
                    lastFailure = ""
                } catch {
                    conn = nil
                    if "\(error)" != lastFailure {
                        logger.warning("cannot read the device inventory; polling the last known devices", metadata: ["error": "\(error)"])
                        lastFailure = "\(error)"
                    }
                }
            }
            var soonest = nextRefresh
            var lag: Int64 = -1
            for (id, entry) in targets {
                var e = entry
                if e.next <= now {
                    lag = max(lag, now - e.next)
                    core.poll(e.0)
                    // Keep the grid: skip whole intervals missed (a stall), never poll twice to catch up.
                    let step = Int64(e.0.intervalSeconds) * 1_000_000_000
                    repeat { e.next += step } while e.next <= now
                    targets[id] = e
                }
                soonest = min(soonest, e.next)
            }
            // The lag of the polls started in this pass (kept from the last pass that started one).
            if lag >= 0 { core.stats.lagMicros.store(Int(lag / 1000), ordering: .relaxed) }
            let wait = max(0, min(soonest - monotonicNanos(), 100_000_000))
            if wait > 0 { Thread.sleep(forTimeInterval: Double(wait) / 1e9) }
        }
    }
}
