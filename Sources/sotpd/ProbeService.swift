// `sotpd run`'s capture probe ([probe]): for networks without exporters, flows are built from the packets
// on an interface (a SPAN or TAP port), the way softflowd or pmacctd do. Per interface a PacketCapture
// (TPACKET_V3 rings, one per thread, in a PACKET_FANOUT_HASH group); per thread a FlowCache and the same
// FlowWorker storage path as exported flows, so probe flows land in flows/flows_1m with the probe as their
// exporter (flow_source 100, observation domain = the interface index) and its health in flow_exporters.
import Capture
import Flow
import Foundation
import Logging
import ServiceLifecycle
import Sink
import Synchronization

/// One capture thread's flow table and storage path. Used by its thread only, except `published` and
/// what `stop` does once the thread is gone.
final class ProbeWorker: @unchecked Sendable {
    // Touched by its capture thread alone (and by `flush` once that thread is gone): no runtime exclusivity check per packet.
    @exclusivity(unchecked) var cache: FlowCache
    let flow: FlowWorker
    /// The table's counters as of the thread's last housekeeping, for sotp_stats and /metrics.
    let published = Mutex(FlowCacheStats())
    private var lastExpiry: Int64 = 0

    init(cache: FlowCacheOptions, flow: FlowWorker) {
        self.cache = FlowCache(options: cache)
        self.flow = flow
    }

    /// Counts one captured frame into its flow.
    @inline(__always)
    func handle(_ bytes: RawSpan, _ info: CapturedFrameInfo) {
        guard let frame = Self.frame(info) else {
            cache.countNotIP()
            return
        }
        cache.add(bytes, frame) { flow.store($0) }
    }

    /// Where a captured frame's parsing starts: Ethernet (and loopback's zeroed Ethernet header) from the
    /// link header, other devices from the network header by ethertype. Nil for what is not IP or MPLS.
    static func frame(_ info: CapturedFrameInfo) -> CapturedFrame? {
        let layer: PacketLayer, start: Int
        if info.linkType == 1 || info.linkType == 772 {  // ARPHRD_ETHER, ARPHRD_LOOPBACK
            layer = .ethernet
            start = 0
        } else {
            switch info.ethertype {
            case 0x0800: layer = .ipv4
            case 0x86dd: layer = .ipv6
            case 0x8847, 0x8848: layer = .mpls
            default: return nil
            }
            start = info.networkOffset
        }
        return CapturedFrame(
            micros: info.micros, wireLength: info.wireLength, layer: layer, start: start, ifIndex: UInt32(bitPattern: info.ifIndex),
            outgoing: info.outgoing, strippedVLAN: info.strippedVLAN)
    }

    /// Every 100 ms on the capture thread: flows that ended are written (once a second), aggregates of an
    /// ended minute too, and the counters published.
    func housekeeping(nowMicros: Int64) {
        if nowMicros - lastExpiry >= 1_000_000 {
            lastExpiry = nowMicros
            cache.expire(nowMicros: nowMicros) { flow.store($0) }
        }
        flow.housekeeping(nowMicros: nowMicros)
        let s = cache.stats
        published.withLock { $0 = s }
    }

    /// At stop, once the thread is gone: every flow held is written, then the aggregates.
    func flush(nowMicros: Int64) {
        cache.flush(nowMicros: nowMicros) { flow.store($0) }
        flow.flushAggregates()
        let s = cache.stats
        published.withLock { $0 = s }
    }
}

/// The probe's captures and workers, and its flow_exporters rows.
final class ProbeService: Service, Sendable {
    struct Interface: Sendable {
        let name: String
        let capture: PacketCapture
        let workers: [ProbeWorker]
        let exporter: FlowIP

        /// The interface's flow tables together, as their threads last published them.
        var table: FlowCacheStats { workers.reduce(FlowCacheStats()) { $0 + $1.published.withLock { $0 } } }
    }

    let interfaces: [Interface]
    let info: PGConnectInfo
    let interval: Duration
    let logger: Logger
    let sampling: UInt32

    init(config: Config, sink: Sink, logger: Logger) throws(PacketCaptureError) {
        let exporter = config.probeExporter
        let storage = config.flowStorage
        sampling = UInt32(config.int("probe.sampling"))
        var interfaces: [Interface] = []
        var cpuOffset = 0
        for name in config.strings("probe.interfaces") {
            var o = PacketCaptureOptions(interface: name)
            o.threads = config.int("probe.threads")
            o.cpus = config.probeCPUs.isEmpty ? [] : (0..<o.threads).map { config.probeCPUs[(cpuOffset + $0) % config.probeCPUs.count] }
            cpuOffset += o.threads
            o.ringBytes = config.int("probe.ring_bytes")
            o.blockBytes = config.int("probe.block_bytes")
            o.snapLength = config.int("probe.snap_length")
            o.filter = config.string("probe.filter")
            o.sampling = sampling
            o.name = "probe-" + String(name.prefix(6))
            var cacheOptions = config.probeCacheOptions
            cacheOptions.samplingRate = sampling
            // The interface index is the observation domain (0 for "any", whose records carry each
            // packet's own interface in in_if/out_if).
            cacheOptions.observationDomain = name == "any" ? 0 : if_nametoindex(name)
            let health = ExporterHealthTable()
            let workers = (0..<o.threads).map { _ in
                ProbeWorker(cache: cacheOptions, flow: FlowWorker(sink: sink, health: health, overrides: [:], storage: storage))
            }
            let capture = try PacketCapture(options: o, housekeeping: { thread, now in workers[thread].housekeeping(nowMicros: now) }) {
                thread, bytes, info in
                workers[thread].handle(bytes, info)
            }
            interfaces.append(Interface(name: name, capture: capture, workers: workers, exporter: exporter))
        }
        self.interfaces = interfaces
        info = config.connectInfo
        interval = .seconds(max(1, config.int("stats.interval_s")))
        self.logger = logger
    }

    func run() async throws {
        for i in interfaces { i.capture.start() }
        logger.info("capture probe started", metadata: [
            "interfaces": "\(interfaces.map { "\($0.name)(\($0.capture.options.threads) threads)" })",
            "sampling": "\(sampling)",
        ])
        var errors = interfaces.map { _ in 0 }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await writeExporterHealth(health(), info: info, logger: logger)
            for (k, i) in interfaces.enumerated() {
                let now = i.capture.stats.snapshot().errors
                if now > errors[k] {
                    // ENETDOWN: the interface was deleted; the socket stays unbound until sotpd restarts.
                    logger.warning("capture errors on \(i.name): was the interface deleted? Restart sotpd once it is back",
                                   metadata: ["errors": "\(now)"])
                }
                errors[k] = now
            }
        }
        for i in interfaces { i.capture.stop() }
        // The threads are gone: what the tables hold is written before the sink stops (it stops after us).
        let now = unixMicrosNow()
        for i in interfaces { for w in i.workers { w.flush(nowMicros: now) } }
        await writeExporterHealth(health(), info: info, logger: logger)
        logger.info("capture probe stopped", metadata: ["stats": "\(statsFields().map { "\($0.0)=\(Int($0.1))" }.joined(separator: " "))"])
    }

    /// One flow_exporters row per interface: packets captured, records written, frames that were not IP.
    func health() -> [ExporterID: ExporterHealth] {
        var out: [ExporterID: ExporterHealth] = [:]
        for i in interfaces {
            let s = i.table
            var h = ExporterHealth()
            h.packets = Int(s.packets)
            h.records = Int(s.records)
            h.samplingRate = sampling
            h.lastSeenMicros = unixMicrosNow()
            if s.notIP > 0 { h.errorsByKind["not_ip"] = Int(s.notIP) }
            let drops = i.capture.stats.snapshot().kernelDrops
            if drops > 0 { h.errorsByKind["ring_drops"] = drops }
            h.decodeErrors = h.errorsByKind.values.reduce(0, +)
            out[ExporterID(address: i.exporter, domain: UInt32(bitPattern: i.capture.ifIndex), source: FlowSource.probe.rawValue)] = h
        }
        return out
    }

    /// Totals for sotp_stats and /metrics.
    func statsFields() -> [(String, Double)] {
        let capture = interfaces.reduce(PacketCaptureStats.Snapshot()) { $0 + $1.capture.stats.snapshot() }
        let table = interfaces.reduce(FlowCacheStats()) { $0 + $1.table }
        var out = capture.fields.map { ("probe." + $0.0, Double($0.1)) }
        out += [("probe.records", Double(table.records))]
        out += table.fields.filter { $0.0 != "packets" && $0.0 != "bytes" }.map { ("probe." + $0.0, Double($0.1)) }
        return out
    }

    /// Per-interface capture counters for /metrics.
    func metricSamples() -> [MetricSample] {
        var out: [MetricSample] = []
        for i in interfaces {
            let s = i.capture.stats.snapshot()
            let labels = [("interface", i.name)]
            func add(_ name: String, _ help: String, _ v: Int) {
                out.append(MetricSample(name: "sotp_probe_interface_\(name)_total", kind: .counter, help: help, labels: labels, value: Double(v)))
            }
            add("packets", "Packets the capture probe read from the interface's rings.", s.packets)
            add("ring_drops", "Packets the kernel dropped because a capture ring was full.", s.kernelDrops)
            add("flows", "Flow records the probe built from the interface's packets.", Int(i.table.records))
            // Losses before the rings: the NIC and driver's own counters (a SPAN port oversubscribed, a
            // NIC ring too small), which no capture statistic sees.
            for (file, help) in Self.interfaceDropCounters {
                if let v = Self.interfaceCounter(i.name, file) { add(file, help, v) }
            }
        }
        return out
    }

    static let interfaceDropCounters = [
        ("rx_dropped", "Packets the interface's driver or the kernel dropped before any capture saw them (/sys/class/net/IF/statistics)."),
        ("rx_missed_errors", "Packets the NIC missed for lack of receive buffers (/sys/class/net/IF/statistics)."),
    ]

    /// A counter from /sys/class/net/IF/statistics, nil when the interface ("any") or file is not there.
    static func interfaceCounter(_ interface: String, _ file: String) -> Int? {
        guard interface != "any",
              let text = try? String(contentsOfFile: "/sys/class/net/\(interface)/statistics/\(file)", encoding: .utf8)
        else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
