// `sotpd replay FILE`: reads a pcap or pcapng capture with libpcap and hands every UDP datagram to the
// worker its destination port reaches under `sotpd run` (the same FlowWorker, SyslogWorker and
// TrapWorker), with the packet's source as the sender and its capture time as the arrival time. Counts
// what was decoded and what was skipped, and why; with --store the rows go to the database as run's do.
import ArgumentParser
import Capture
import Flow
import Foundation
import Logging
import Poller
import Sink
import Synchronization

/// Which receiver a datagram's destination port belongs to.
enum ReplayKind: Int, CaseIterable, Sendable {
    case flow = 1, syslog, trap
    var name: String { ["", "flow", "syslog", "trap"][rawValue] }
}

/// Why a frame reached no decoder; `name` is its fixed summary key.
enum ReplaySkip: Int, CaseIterable, Sendable {
    /// Not IPv4/IPv6 (ARP, another ethertype), or too short for an IP header.
    case notIP
    /// IP, but not UDP.
    case notUDP
    /// An IP fragment: the datagram is not whole in this frame (replay does not reassemble).
    case fragment
    /// UDP to a port no receiver listens on.
    case unmatchedPort
    /// The capture stopped before the datagram's end (caplen < length): decoding it would see a cut payload.
    case truncatedCapture
    /// The IP or UDP length is shorter than the headers it covers.
    case badLength

    var name: String { ["not_ip", "not_udp", "fragment", "unmatched_port", "truncated_capture", "bad_length"][rawValue] }
}

/// Where a frame's network header starts, in the header parser's terms.
struct ReplayStart: Sendable {
    var layer: PacketLayer
    var offset: Int
}

extension PcapFrameStart {
    /// nil for frames that are not IP.
    var replayStart: ReplayStart? {
        switch self {
        case .ethernet(let at): ReplayStart(layer: .ethernet, offset: at)
        case .ipv4(let at): ReplayStart(layer: .ipv4, offset: at)
        case .ipv6(let at): ReplayStart(layer: .ipv6, offset: at)
        case .notIP: nil
        }
    }
}

/// The frame loop every replay consumer shares: each frame of `file` (at most `limit`) in file order,
/// in place, with where its network header starts (nil: not IP) and its record header. The datagram
/// dispatcher below is one consumer; `--probe`'s flow table (ReplayProbe) is the other.
/// `tick` runs every 1024 frames with the file position (for progress); `body` returns false to stop.
func forEachFrame(
    of file: borrowing PcapFile, limit: Int, tick: (_ position: Int) -> Void,
    _ body: (RawSpan, ReplayStart?, PcapFrameInfo) -> Bool
) throws(PcapError) {
    let link = file.linkType
    var n = 0
    try file.forEachFrame { bytes, info in
        let go = body(bytes, link.start(of: bytes).replayStart, info)
        n += 1
        if n & 1023 == 0 { tick(file.position) }
        return go && n < limit
    }
}

/// Set by SIGINT or SIGTERM: the loop stops after the frame in hand, and the summary (and with --store
/// the sink's shutdown) still happen.
final class ReplayStop: Sendable {
    let requested = Atomic<Bool>(false)
    var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// Takes SIGINT and SIGTERM over for the rest of the process.
    func install() -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { self.requested.store(true, ordering: .relaxed) }
            source.resume()
            return source
        }
    }
}

/// What one kind of receiver got and made of it.
struct ReplayKindCounts: Sendable {
    var datagrams = 0
    var bytes = 0
    /// Flows and counter samples; syslog messages; notifications.
    var records = 0
    var errorsByKind: [String: Int] = [:]
    var decodeErrors: Int { errorsByKind.values.reduce(0, +) }
}

/// Everything a replay counted.
struct ReplayCounts: Sendable {
    var frames = 0
    var frameBytes = 0
    var udp = 0
    var skipped = [Int](repeating: 0, count: ReplaySkip.allCases.count)
    var kinds = [Int: ReplayKindCounts]()
    var firstNanos: Int64 = 0
    var lastNanos: Int64 = 0

    func kind(_ k: ReplayKind) -> ReplayKindCounts { kinds[k.rawValue] ?? ReplayKindCounts() }
    var records: Int { kinds.values.reduce(0) { $0 + $1.records } }
    var datagrams: Int { kinds.values.reduce(0) { $0 + $1.datagrams } }
}

/// `--probe`: every frame counted into flows by the capture probe's table, at the capture's clock (its
/// timeouts run on packet timestamps, so a file replays to the same flows at any speed); the flows go
/// through the flow collector's storage path as the probe's do.
final class ReplayProbe: @unchecked Sendable {
    var cache: FlowCache
    let flow: FlowWorker
    private var lastExpiry: Int64 = 0

    init(config: Config, flow: FlowWorker) {
        cache = FlowCache(options: config.probeCacheOptions)
        self.flow = flow
    }

    func handle(_ bytes: RawSpan, _ start: ReplayStart?, _ info: PcapFrameInfo) {
        let micros = info.timestampNanos / 1000
        if micros - lastExpiry >= 1_000_000 {
            lastExpiry = micros
            cache.expire(nowMicros: micros) { flow.store($0) }
        }
        guard let start, start.offset < bytes.byteCount else {
            cache.countNotIP()
            return
        }
        let frame = CapturedFrame(micros: micros, wireLength: info.originalLength, layer: start.layer, start: start.offset)
        cache.add(bytes, frame) { flow.store($0) }
    }

    /// The end of the file: what the table holds is written, at the last packet's time, then the aggregates.
    func finish(lastMicros: Int64) {
        cache.flush(nowMicros: lastMicros) { flow.store($0) }
        flow.flushAggregates()
    }
}

/// Routes each UDP datagram by destination port to `sotpd run`'s workers and counts. Used by the replay
/// thread only.
final class ReplayDispatcher: @unchecked Sendable {
    /// Destination port → ReplayKind raw value, 0 for none.
    var ports = [UInt8](repeating: 0, count: 65536)
    let flow: FlowWorker
    let syslog: SyslogWorker
    let trap: TrapWorker
    let trapStats: TrapStats
    /// With --probe, every frame goes here instead of to the datagram workers.
    var probe: ReplayProbe?
    /// Replies (inform acknowledgements, reports) have nowhere to go: replay sends nothing.
    let replies = ReplyPort()
    var counts = ReplayCounts()
    private var kindDatagrams = [Int](repeating: 0, count: 4)
    private var kindBytes = [Int](repeating: 0, count: 4)

    init(ports: [ReplayKind: [UInt16]], flow: FlowWorker, syslog: SyslogWorker, trap: TrapWorker, trapStats: TrapStats) {
        for (kind, list) in ports {
            for p in list { self.ports[Int(p)] = UInt8(kind.rawValue) }
        }
        self.flow = flow
        self.syslog = syslog
        self.trap = trap
        self.trapStats = trapStats
    }

    /// Between frames now and then, as the receive threads do between batches, at the capture's clock.
    func housekeeping(nowMicros: Int64) {
        flow.housekeeping(nowMicros: nowMicros)
        syslog.housekeeping()
        trap.housekeeping()
    }

    /// One frame: its UDP datagram (found by the flow header parser) to the worker of its port.
    func handle(_ bytes: RawSpan, _ start: ReplayStart?, _ info: PcapFrameInfo) {
        if counts.frames == 0 { counts.firstNanos = info.timestampNanos }
        counts.frames += 1
        counts.frameBytes += info.originalLength
        counts.lastNanos = info.timestampNanos
        if let probe { return probe.handle(bytes, start, info) }
        guard let start, start.offset <= bytes.byteCount else { return skip(.notIP) }
        var record = FlowRecord()
        var m = PacketSummary()
        PacketHeaderParser.parse(bytes, start.offset..<bytes.byteCount, startingAt: start.layer, into: &record, summary: &m)
        guard m.networkOffset >= 0 else { return skip(.notIP) }
        guard record.proto == 17 else { return skip(.notUDP) }
        counts.udp += 1
        guard !m.fragment else { return skip(.fragment) }
        // Ports not reached: the capture stops inside the UDP header.
        guard m.payloadOffset >= 0, m.payloadOffset <= bytes.byteCount else { return skip(.truncatedCapture) }
        let raw = Int(ports[Int(record.dstPort)])
        guard raw != 0, let kind = ReplayKind(rawValue: raw) else { return skip(.unmatchedPort) }
        // The datagram ends where the IP packet does (an Ethernet frame's padding follows), or earlier
        // where UDP's own length says, as the kernel would cut it.
        var end = m.networkOffset + m.ipLength
        let udpLength = bytes.withUnsafeBytes { Int($0[m.transportOffset + 4]) << 8 | Int($0[m.transportOffset + 5]) }
        end = min(end, m.transportOffset + udpLength)
        guard udpLength >= 8, end >= m.payloadOffset else { return skip(.badLength) }
        guard end <= bytes.byteCount else { return skip(.truncatedCapture) }
        let payload = bytes.extracting(m.payloadOffset..<end)
        let peer = record.src.isV4
            ? PeerAddress(v4: UInt32(truncatingIfNeeded: record.src.low), port: record.srcPort)
            : PeerAddress(v6High: record.src.high, v6Low: record.src.low, port: record.srcPort)
        let micros = info.timestampNanos / 1000
        kindDatagrams[raw] += 1
        kindBytes[raw] += payload.byteCount
        switch kind {
        case .flow: flow.handle(payload, from: peer, receivedMicros: micros)
        case .syslog: syslog.handle(payload, from: peer, receivedMicros: micros, transport: .udp)
        case .trap: trap.handle(payload, from: peer, receivedMicros: micros, thread: 0, replies: replies)
        }
    }

    private func skip(_ why: ReplaySkip) { counts.skipped[why.rawValue] += 1 }

    /// The counts, with each worker's records and errors read from its own counters (once the loop ended).
    func finish() -> ReplayCounts {
        probe?.finish(lastMicros: counts.lastNanos / 1000)
        flow.flushAggregates()
        var c = counts
        for kind in ReplayKind.allCases where kindDatagrams[kind.rawValue] > 0 {
            var k = ReplayKindCounts(datagrams: kindDatagrams[kind.rawValue], bytes: kindBytes[kind.rawValue])
            switch kind {
            case .flow:
                for h in flow.health.snapshot().values {
                    k.records += h.records
                    for (e, n) in h.errorsByKind { k.errorsByKind[e, default: 0] += n }
                }
                k.records += flow.counterSamples
            case .syslog:
                let s = syslog.counters
                let statuses: [SyslogParseStatus] = [.rfc5424, .rfc5424Partial, .rfc3164, .rfc3164NoTimestamp, .unparsed]
                k.records = statuses.reduce(0) { $0 + s.parsed($1) }
                // Stored anyway (as text, with the raw bytes), but not understood.
                let unparsed = s.parsed(.unparsed), empty = s.empty.load(ordering: .relaxed)
                if unparsed > 0 { k.errorsByKind["unparsed"] = unparsed }
                if empty > 0 { k.errorsByKind["empty"] = empty }
            case .trap:
                k.records = trapStats[.trapsV1] + trapStats[.trapsV2] + trapStats[.informs]
                // Every rejection the receiver counts, under its metric name.
                for counter in TrapCounter.allCases where counter.rawValue >= TrapCounter.malformed.rawValue && trapStats[counter] > 0 {
                    k.errorsByKind[counter.name] = trapStats[counter]
                }
            }
            c.kinds[kind.rawValue] = k
        }
        return c
    }
}

/// Sleeps so frames keep their recorded spacing (divided by `speed`), measured from the first frame.
struct ReplayPacer {
    let speed: Double
    let stop: ReplayStop
    var firstNanos: Int64?
    var startWall = ContinuousClock.now

    /// Waits until the frame captured at `nanos` is due (in slices, so a stop request is not held up by a
    /// long gap in the capture).
    mutating func wait(until nanos: Int64) {
        guard let first = firstNanos else {
            firstNanos = nanos
            startWall = .now
            return
        }
        let due = startWall + .nanoseconds(Int64(Double(max(0, nanos - first)) / speed))
        while !stop.isRequested {
            let ahead = due - .now
            guard ahead > .microseconds(500) else { return }
            Thread.sleep(forTimeInterval: min(ahead, .milliseconds(100)).seconds)
        }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode the telemetry in a pcap/pcapng capture as `run` would have (count only, or --store).",
        discussion: """
        Every UDP datagram whose destination port is a flow, syslog or trap port of the configuration (or of \
        --flow-port/--syslog-port/--trap-port) goes to the same decoder `sotpd run` uses, with the packet's \
        source address as the sender and its capture time as the arrival time. Exit status: 0 done, 1 the \
        file cannot be read, 2 bad options or configuration, 130 stopped by SIGINT/SIGTERM (after the summary; \
        with --store, what was decoded is written first). With --probe, every frame is counted into flows as the \
        capture probe ([probe]) counts packets on an interface, instead.
        """)
    @OptionGroup var options: ConfigOptions
    @Argument(help: "Capture file (- for standard input): pcap or pcapng; Ethernet, Linux cooked (v1/v2), raw IP or BSD loopback.")
    var file: String?
    @Option(name: .customLong("flow-port"), help: "NetFlow/IPFIX/sFlow port (repeatable; replaces the configured ones).")
    var flowPorts: [String] = []
    @Option(name: .customLong("syslog-port"), help: "Syslog UDP port (repeatable; replaces syslog.udp_port).")
    var syslogPorts: [String] = []
    @Option(name: .customLong("trap-port"), help: "SNMP trap port (repeatable; replaces traps.port).")
    var trapPorts: [String] = []
    @Option(help: "max: as fast as it decodes; recorded: keep the capture's spacing.") var pace: String = "max"
    @Option(help: "With --pace recorded: this many times the recorded speed (0.001…1000).") var speed: String = "1"
    @Option(help: "Stop after this many frames.") var limit: String?
    @Flag(help: "Write the records to the configured database as run does (default: decode and count only).") var store = false
    @Flag(help: "Print the summary as one JSON object on standard output.") var json = false
    @Flag(help: "Count every frame into flows as the capture probe would ([probe] timeouts, max_flows, exporter_address) instead of decoding UDP telemetry.")
    var probe = false

    /// The options checked; a problem exits 2 naming the option.
    struct Plan {
        var file: String
        var ports: [ReplayKind: [UInt16]]?
        var recorded: Bool
        var speed: Double
        var limit: Int
    }

    func plan() throws -> Plan {
        guard let file, !file.isEmpty else { throw replayUsage("give the capture FILE to replay") }
        func portList(_ option: String, _ values: [String]) throws -> [UInt16] {
            try values.map { v in
                guard let p = UInt16(v), p != 0 else { throw replayUsage("\(option) must be a port 1…65535, got \"\(v)\"") }
                return p
            }
        }
        var ports: [ReplayKind: [UInt16]] = [:]
        if !flowPorts.isEmpty { ports[.flow] = try portList("--flow-port", flowPorts) }
        if !syslogPorts.isEmpty { ports[.syslog] = try portList("--syslog-port", syslogPorts) }
        if !trapPorts.isEmpty { ports[.trap] = try portList("--trap-port", trapPorts) }
        guard pace == "max" || pace == "recorded" else { throw replayUsage("--pace must be max or recorded, got \"\(pace)\"") }
        guard let s = Double(speed), s >= 0.001, s <= 1000 else { throw replayUsage("--speed must be a number 0.001…1000, got \"\(speed)\"") }
        var n = Int.max
        if let limit {
            guard let l = Int(limit), l >= 1 else { throw replayUsage("--limit must be a whole number of frames ≥ 1, got \"\(limit)\"") }
            n = l
        }
        return Plan(file: file, ports: ports.isEmpty ? nil : ports, recorded: pace == "recorded", speed: s, limit: n)
    }

    /// The ports each kind listens on: what `run` would bind, except for kinds the options give ports for.
    static func ports(_ config: Config, override: [ReplayKind: [UInt16]]?) throws -> [ReplayKind: [UInt16]] {
        var out: [ReplayKind: [UInt16]] = [:]
        out[.flow] = config.bool("flow.enabled") ? config.flowListeners : []
        // -1: run binds the standard port or its fallback, whichever it can; a capture may hold either.
        let syslog = config.int("syslog.udp_port"), traps = config.int("traps.port")
        out[.syslog] = !config.bool("syslog.enabled") || syslog == 0 ? [] : syslog == -1 ? [514, 5514] : [UInt16(syslog)]
        out[.trap] = !config.bool("traps.enabled") || traps == 0 ? [] : traps == -1 ? [162, 1162] : [UInt16(traps)]
        for (kind, ports) in override ?? [:] { out[kind] = ports }
        var seen: [UInt16: ReplayKind] = [:]
        for kind in ReplayKind.allCases {
            for p in out[kind] ?? [] {
                if let other = seen[p], other != kind {
                    throw replayUsage("port \(p) is both a \(other.name) and a \(kind.name) port")
                }
                seen[p] = kind
            }
        }
        return out
    }

    func run() async throws {
        let plan = try plan()
        let config = try options.load()
        let ports = try Self.ports(config, override: plan.ports)
        // Replay prints its own summary: only problems are logged unless the configuration asks for detail.
        let level = ["trace", "debug"].contains(config.string("log.level")) ? config.string("log.level") : "warning"
        LogSetup.bootstrap(level: level, format: config.string("log.format"))
        let logger = Logger(label: "sotpd.replay")
        // Opened here first so a missing or foreign file fails before the database is touched.
        // "-" (standard input, which libpcap reads too) can be opened only once.
        if plan.file != "-" {
            do { _ = try PcapFile(path: plan.file) } catch { throw fail("cannot replay \(error)") }
        }

        let devices = DeviceAddresses()
        let sink: Sink
        do {
            if store {
                let db = Database(info: config.connectInfo)
                _ = try await db.prepare(autoMigrate: config.bool("database.auto_migrate"), devices: config.devices, logger: logger)
                let info = config.connectInfo
                let map = try await onThread("sotp-replay-devices") { try DeviceAddresses.load(PGConnection(info)) }
                devices.replace(map)
                sink = try Sink(settings: config.sinkSettings, logger: logger)
                sink.start()
            } else {
                var settings = config.sinkSettings
                settings.discard = true
                sink = try Sink(settings: settings, logger: logger)
            }
        } catch {
            throw fail("--store: \(error)")
        }

        let flow = FlowWorker(sink: sink, health: ExporterHealthTable(), overrides: config.samplingOverrides, storage: config.flowStorage)
        let syslog = SyslogWorker(
            sink: sink, zones: SyslogZones(byPrefix: config.syslogSourceZones, fallback: config.syslogZone), devices: devices,
            maxAgeDays: config.int("retention.logs_days"))
        // The engine replay answers as matters only to informs, which it cannot acknowledge anyway; the
        // state file run keeps is left alone.
        let configuredEngine = config.string("traps.engine_id").isEmpty ? nil : parseHex(config.string("traps.engine_id"))
        let engine = EngineState(engineID: configuredEngine ?? SNMPEngineIdentity.generateEngineID(), boots: 1)
        let trapStats = TrapStats()
        let trap: TrapWorker
        do {
            let names = ports[.trap]?.isEmpty == false ? try TrapService.mibNames(config, logger: logger) : nil
            trap = TrapWorker(
                sink: sink, receiver: try TrapReceiver(config: TrapService.receiverConfig(config, engine: engine), stats: trapStats),
                devices: devices, names: names)
        } catch {
            FileHandle.standardError.write(Data("sotpd: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let dispatcher = ReplayDispatcher(ports: ports, flow: flow, syslog: syslog, trap: trap, trapStats: trapStats)
        if probe {
            // The probe's flows get a worker of their own, so the summary tells them from exported ones.
            let probeFlow = FlowWorker(sink: sink, health: ExporterHealthTable(), overrides: [:], storage: config.flowStorage)
            dispatcher.probe = ReplayProbe(config: config, flow: probeFlow)
        }

        let interactive = isatty(2) != 0
        let path = plan.file
        let stop = ReplayStop()
        let signals = stop.install()
        defer { for s in signals { s.cancel() } }
        let start = ContinuousClock.now
        let (link, readError) = try await onThread("sotp-replay") { () throws -> (PcapLinkType?, PcapError?) in
            var link: PcapLinkType?
            do {
                let file = try PcapFile(path: path)
                link = file.linkType
                var pacer = plan.recorded ? ReplayPacer(speed: plan.speed, stop: stop) : nil
                var progress = ReplayProgress(size: file.size, start: start, enabled: interactive)
                dispatcher.housekeeping(nowMicros: 0)
                try forEachFrame(of: file, limit: plan.limit, tick: { position in
                    dispatcher.housekeeping(nowMicros: dispatcher.counts.lastNanos / 1000)
                    progress.show(frames: dispatcher.counts.frames, position: position)
                }) { bytes, frameStart, info in
                    if pacer != nil {
                        pacer?.wait(until: info.timestampNanos)
                        // Stopped while waiting: this frame was never due.
                        if stop.isRequested { return false }
                        // Paced frames may be seconds apart: the line moves with each (still at most 4/s).
                        progress.show(frames: dispatcher.counts.frames, position: file.position)
                    }
                    dispatcher.handle(bytes, frameStart, info)
                    return !stop.isRequested
                }
                progress.clear()
                return (link, nil)
            } catch let e as PcapError {
                return (link, e)
            }
        }
        let counts = dispatcher.finish()
        let decodeSeconds = (ContinuousClock.now - start).seconds
        var sinkStats: SinkStats.Snapshot?
        if store {
            await sink.shutdown(timeout: .seconds(config.int("sink.shutdown_timeout_s")))
            sinkStats = sink.stats.snapshot()
        }
        let summary = ReplaySummary(
            file: path, link: link.map { "\($0)" } ?? "none", counts: counts, flow: flow, decodeSeconds: decodeSeconds,
            totalSeconds: (ContinuousClock.now - start).seconds, sink: sinkStats, readError: readError, ports: ports,
            interrupted: stop.isRequested, probe: dispatcher.probe?.cache.stats)
        if json {
            print(summary.json())
        } else {
            print(summary.text(), terminator: "")
        }
        if let readError { throw fail("\(readError) (the summary counts the frames before it)") }
        if stop.isRequested {
            FileHandle.standardError.write(Data("sotpd replay: interrupted after \(counts.frames) frames\n".utf8))
            throw ExitCode(130)
        }
    }
}

/// Prints a usage problem of replay and returns exit code 2.
func replayUsage(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("sotpd replay: \(message)\n".utf8))
    return ExitCode(2)
}

/// The one updating progress line on a terminal's standard error, at most four times a second.
struct ReplayProgress {
    let size: Int
    let start: ContinuousClock.Instant
    let enabled: Bool
    var last = ContinuousClock.now
    var shown = false

    mutating func show(frames: Int, position: Int) {
        guard enabled, ContinuousClock.now - last >= .milliseconds(250) else { return }
        last = .now
        let elapsed = max((last - start).seconds, 1e-9)
        let percent = size > 0 ? String(format: "%5.1f%%", Double(position) * 100 / Double(size)) : "?"
        let line = "\r\(frames) packets  \(Int(Double(frames) / elapsed)) packets/s  \(percent)  "
        FileHandle.standardError.write(Data(line.utf8))
        shown = true
    }

    func clear() {
        if shown { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
    }
}

/// The end-of-run report, as text for people or one JSON object.
struct ReplaySummary {
    var file: String
    var link: String
    var counts: ReplayCounts
    var flow: FlowWorker
    var decodeSeconds: Double
    var totalSeconds: Double
    var sink: SinkStats.Snapshot?
    var readError: PcapError?
    var ports: [ReplayKind: [UInt16]]
    var interrupted: Bool
    /// With --probe: what the flow table did (the datagram counts are then all zero).
    var probe: FlowCacheStats?

    func rate(_ n: Int) -> Int { Int(Double(n) / max(decodeSeconds, 1e-9)) }

    func object() -> [String: Any] {
        var skipped: [String: Int] = [:]
        for s in ReplaySkip.allCases { skipped[s.name] = counts.skipped[s.rawValue] }
        var kinds: [String: Any] = [:]
        for k in ReplayKind.allCases {
            let c = counts.kind(k)
            kinds[k.name] = [
                "ports": (ports[k] ?? []).map { Int($0) }, "datagrams": c.datagrams, "bytes": c.bytes, "records": c.records,
                "decode_errors": c.decodeErrors, "errors_by_kind": c.errorsByKind,
            ] as [String: Any]
        }
        var flowKind = kinds["flow"] as! [String: Any]
        flowKind["counter_samples"] = flow.counterSamples
        flowKind["exporters"] = flow.health.snapshot().sorted { ($0.key.address.description, $0.key.domain) < ($1.key.address.description, $1.key.domain) }
            .map { id, h -> [String: Any] in
                [
                    "exporter": id.address.description, "observation_domain": Int(id.domain), "protocol": Int(id.source),
                    "packets": h.packets, "records": h.records, "decode_errors": h.decodeErrors, "errors_by_kind": h.errorsByKind,
                    "template_misses": h.templateMisses, "sequence_gaps": h.sequenceGaps,
                ]
            }
        kinds["flow"] = flowKind
        var o: [String: Any] = [
            "file": file, "link_type": link, "frames": counts.frames, "frame_bytes": counts.frameBytes, "udp_datagrams": counts.udp,
            "datagrams": counts.datagrams, "records": counts.records, "skipped": skipped,
            "elapsed_s": decodeSeconds, "total_s": totalSeconds,
            "frames_per_s": rate(counts.frames), "datagrams_per_s": rate(counts.datagrams), "records_per_s": rate(counts.records),
            "capture_span_s": Double(counts.lastNanos - counts.firstNanos) / 1e9,
            "stored": sink != nil, "interrupted": interrupted,
        ]
        for (k, v) in kinds { o[k] = v }
        if let probe {
            var p: [String: Int] = [:]
            for (k, v) in probe.fields { p[k] = v }
            p["records"] = Int(probe.records)
            o["probe"] = p
            o["records"] = Int(probe.records)
            o["records_per_s"] = rate(Int(probe.records))
        }
        if let s = sink {
            o["sink"] = [
                "rows_written": s.rowsWritten, "rows_spooled": s.rowsSpooled, "rows_dropped": s.rowsDropped,
                "rows_dead_lettered": s.rowsDeadLettered,
            ]
        }
        if let readError { o["error"] = readError.description }
        return o
    }

    func json() -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object(), options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    func text() -> String {
        var out = "replayed \(file) (\(link)): \(counts.frames) frames"
        if let probe {
            out += " in \(String(format: "%.3f", decodeSeconds)) s (\(rate(counts.frames)) frames/s, \(rate(Int(probe.records))) flow records/s)\n"
            out += "  probe: \(probe.packets) packets, \(probe.bytes) IP bytes into \(probe.records) flow records ("
            out += probe.fields.filter { !["packets", "bytes"].contains($0.0) }.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + ")\n"
            return out + storedLine()
        }
        out += ", \(counts.udp) UDP datagrams in \(String(format: "%.3f", decodeSeconds)) s "
        out += "(\(rate(counts.frames)) frames/s, \(rate(counts.datagrams)) datagrams/s, \(rate(counts.records)) records/s)\n"
        for k in ReplayKind.allCases {
            let c = counts.kind(k)
            let ports = (self.ports[k] ?? []).map(String.init).joined(separator: ",")
            out += "  \(k.name) [\(ports.isEmpty ? "no port" : ports)]: \(c.datagrams) datagrams, \(c.records) records, \(c.decodeErrors) decode errors"
            if !c.errorsByKind.isEmpty {
                out += " (" + c.errorsByKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
            }
            out += "\n"
        }
        out += "  skipped: " + ReplaySkip.allCases.map { "\($0.name) \(counts.skipped[$0.rawValue])" }.joined(separator: ", ") + "\n"
        return out + storedLine()
    }

    private func storedLine() -> String {
        guard let s = sink else { return "" }
        return "  stored: \(s.rowsWritten) rows written, \(s.rowsSpooled) spooled, \(s.rowsDropped) dropped "
            + "(\(String(format: "%.3f", totalSeconds)) s with the database)\n"
    }
}
