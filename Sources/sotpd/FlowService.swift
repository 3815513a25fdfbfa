// `sotpd run`'s flow collector: a UDP listener per configured port (SO_REUSEPORT sockets, a thread
// each), the protocol detected per packet, decoded in place on the receive thread into flows and
// interface_counters rows, and per-exporter health (packets, records, errors by kind, sequence gaps)
// kept for flow_exporters and sotp_stats.
import Capture
import Flow
import Foundation
import Logging
import ServiceLifecycle
import Sink
import Synchronization

/// Which exporter (and observation domain, and protocol) a health entry is about.
struct ExporterID: Hashable, Sendable {
    var address: FlowIP
    var domain: UInt32
    var source: UInt8
}

/// What one exporter sent and what became of it.
struct ExporterHealth: Sendable {
    var packets = 0
    var records = 0
    var decodeErrors = 0
    var errorsByKind: [String: Int] = [:]
    var templateMisses = 0
    /// Export packets (v9, sFlow) or flows/records (v5, IPFIX) missing by sequence number.
    var sequenceGaps = 0
    var samplingRate: UInt32 = 0
    var lastSeenMicros: Int64 = 0
    /// The next sequence number expected, nil before the first packet.
    var nextSequence: UInt32?

    /// Notes sequence number `seq` and what the next one should be (nil: this packet cannot say);
    /// counts what was skipped. A jump backwards or far ahead (exporter restart) resets the expectation
    /// instead of counting billions lost.
    mutating func sequence(_ seq: UInt32, next: UInt32?) {
        if let expected = nextSequence, seq != expected {
            let ahead = seq &- expected
            if ahead < 1 << 20 { sequenceGaps += Int(ahead) }
        }
        nextSequence = next
    }

    mutating func error(_ kind: String) {
        decodeErrors += 1
        errorsByKind[kind, default: 0] += 1
    }
}

/// The name a decode error is counted under.
func errorKind(_ e: FlowDecodeError) -> String {
    switch e {
    case .truncated: "truncated"
    case .unknownVersion: "unknown_version"
    case .malformed: "malformed"
    }
}

/// Every exporter's health, shared by the receive threads of all ports: one lock per datagram (not per
/// record). Sequence numbers are tracked per exporter here, not per thread, so an exporter that restarts
/// on a new source port (which the kernel's SO_REUSEPORT hash may move to another thread) keeps its
/// expectation.
final class ExporterHealthTable: Sendable {
    let entries = Mutex<[ExporterID: ExporterHealth]>([:])

    @inline(__always)
    func count(_ id: ExporterID, records: Int, now: Int64, _ update: (inout ExporterHealth) -> Void) {
        entries.withLock { all in
            // One hash lookup per packet: the entry is modified in place.
            Self.bump(&all[id, default: ExporterHealth()], records: records, now: now, update)
        }
    }

    @inline(__always)
    private static func bump(_ h: inout ExporterHealth, records: Int, now: Int64, _ update: (inout ExporterHealth) -> Void) {
        h.packets += 1
        h.records += records
        h.lastSeenMicros = now
        update(&h)
    }

    func snapshot() -> [ExporterID: ExporterHealth] { entries.withLock { $0 } }
}

/// How records are stored: raw into `flows`, aggregated per minute into `flows_1m`, or both.
struct FlowStorage: Sendable {
    var raw = true
    /// Empty: no aggregation.
    var aggregateKeys: FlowAggregationKeys = []
    var aggregateMaxEntries = 100_000
}

/// One receive thread's decoders, aggregator and its own sink handles (no lock shared with another
/// thread on the per-record path). Used by its thread only, except the atomics and `savedState`.
final class FlowWorker: @unchecked Sendable {
    let sink: Sink
    let flows: SinkTable
    let counters: SinkTable
    let aggregates: SinkTable
    let health: ExporterHealthTable
    let raw: Bool
    let aggregating: Bool
    var aggregator: FlowAggregator
    /// The aggregator's counters, published at housekeeping for /metrics and sotp_stats.
    let aggregateRows = Atomic<Int>(0)
    let aggregateEarlyFlushes = Atomic<Int>(0)
    let aggregateEntries = Atomic<Int>(0)
    var sflow = SFlowDecoder()
    var netflow = FlowDecoder()
    /// sFlow counter samples stored (interface_counters rows); read by `sotpd replay` once its loop ends.
    var counterSamples = 0
    /// Set by the service to ask the receive thread for a copy of its template state, which it leaves in
    /// `savedState` at its next housekeeping (the decoder belongs to that thread alone).
    let snapshotRequested = Atomic<Bool>(false)
    let savedState = Mutex<[UInt8]?>(nil)

    /// flow.sampling_override: exporter → the rate to store whatever the exporter reports.
    let overrides: [FlowIP: UInt32]

    init(sink: Sink, health: ExporterHealthTable, overrides: [FlowIP: UInt32], storage: FlowStorage) {
        self.sink = sink
        self.flows = sink.producer(FlowTables.flows)
        self.counters = sink.producer(FlowTables.interfaceCounters)
        self.aggregates = sink.producer(FlowTables.flows1m)
        self.health = health
        self.overrides = overrides
        self.raw = storage.raw
        self.aggregating = !storage.aggregateKeys.isEmpty
        self.aggregator = FlowAggregator(keys: storage.aggregateKeys, maxEntries: aggregating ? storage.aggregateMaxEntries : 1)
    }

    /// Stores one record raw and/or aggregated, with the configured sampling rate for its exporter if
    /// there is one.
    @inline(__always)
    func store(_ r: FlowRecord) {
        var r = r
        if !overrides.isEmpty, let rate = overrides[r.exporter] { r.samplingRate = rate }
        if raw { sink.append(flows) { encodeFlow(r, &$0) } }
        if aggregating { aggregator.add(r, emit: { self.writeAggregate($0) }) }
    }

    /// One aggregate to `flows_1m`.
    private func writeAggregate(_ a: FlowAggregate) {
        sink.append(aggregates) { encodeAggregate(a, &$0) }
    }

    /// Runs on the receive thread between batches and when idle: writes out a minute that has ended
    /// (traffic may have stopped, so no later record closes it), hands out template state when asked.
    func housekeeping(nowMicros: Int64) {
        if snapshotRequested.load(ordering: .relaxed) {
            snapshotRequested.store(false, ordering: .relaxed)
            let state = netflow.templates.serializedState()
            savedState.withLock { $0 = state }
        }
        if aggregating {
            aggregator.flush(endedBefore: nowMicros, emit: { self.writeAggregate($0) })
            publishAggregatorStats()
        }
    }

    /// At stop, once the receive thread is gone: everything aggregated so far, whatever its minute.
    func flushAggregates() {
        guard aggregating else { return }
        aggregator.flushAll(emit: { self.writeAggregate($0) })
        publishAggregatorStats()
    }

    private func publishAggregatorStats() {
        let s = aggregator.stats
        aggregateRows.store(Int(s.rows), ordering: .relaxed)
        aggregateEarlyFlushes.store(Int(s.earlyFlushes), ordering: .relaxed)
        aggregateEntries.store(s.entries, ordering: .relaxed)
    }

    func handle(_ bytes: RawSpan, from peer: PeerAddress, receivedMicros: Int64) {
        let exporter = peer.isV4 ? FlowIP(v4: UInt32(truncatingIfNeeded: peer.low)) : FlowIP(v6High: peer.high, v6Low: peer.low)
        guard bytes.byteCount >= 4 else {
            count(ExporterID(address: exporter, domain: 0, source: 0), records: 0, now: receivedMicros) { $0.error("truncated") }
            return
        }
        switch FlowDecoder.detect(bytes) {
        case .sflow5:
            decodeSFlow(bytes, exporter: exporter, receivedMicros: receivedMicros)
        case .some(let source):
            decodeNetFlow(bytes, exporter: exporter, receivedMicros: receivedMicros, version: UInt16(source.rawValue))
        case nil:
            count(ExporterID(address: exporter, domain: 0, source: 0), records: 0, now: receivedMicros) {
                $0.error("unknown_version")
            }
        }
    }

    private func decodeSFlow(_ bytes: RawSpan, exporter: FlowIP, receivedMicros: Int64) {
        var records = 0
        let sink = self.sink, counters = self.counters
        do {
            let info = try sflow.decode(
                bytes, receivedMicros: receivedMicros,
                flows: { r in
                    records += 1
                    self.store(r)
                },
                counters: { c in
                    self.counterSamples &+= 1
                    sink.append(counters) { encodeCounters(c, &$0) }
                })
            // The agent address in the datagram names the exporter (it may send from another address).
            let id = ExporterID(address: info.agent.isNone ? exporter : info.agent, domain: info.subAgent, source: FlowSource.sflow5.rawValue)
            count(id, records: records, now: receivedMicros) { h in
                h.sequence(info.sequenceNumber, next: info.sequenceNumber &+ 1)
                if let e = info.error { h.error(errorKind(e)) }
            }
        } catch {
            count(ExporterID(address: exporter, domain: 0, source: FlowSource.sflow5.rawValue), records: records, now: receivedMicros) {
                $0.error(errorKind(error))
            }
        }
    }

    private func decodeNetFlow(_ bytes: RawSpan, exporter: FlowIP, receivedMicros: Int64, version: UInt16) {
        var records = 0
        var sampling: UInt32 = 0
        do {
            let info = try netflow.decode(bytes, exporter: exporter, receivedMicros: receivedMicros) { r in
                records += 1
                sampling = r.samplingRate
                self.store(r)
            }
            count(ExporterID(address: exporter, domain: info.domain, source: UInt8(version)), records: records, now: receivedMicros) { h in
                h.sequence(info.sequence, next: info.nextSequence)
                h.templateMisses += info.templateMisses
                if sampling != 0 { h.samplingRate = sampling }
                let e = info.errors
                // Only a packet with problems builds this list: the common path allocates nothing.
                guard e.total > 0 else { return }
                for (kind, n) in [("malformed_sets", e.malformedSets), ("reserved_sets", e.reservedSets), ("bad_templates", e.badTemplates),
                                  ("short_records", e.shortRecords), ("template_evictions", e.templateEvictions),
                                  ("unknown_withdrawals", e.unknownWithdrawals), ("trailing_bytes", e.trailingBytes)] where n > 0 {
                    h.decodeErrors += n
                    h.errorsByKind[kind, default: 0] += n
                }
            }
        } catch {
            count(ExporterID(address: exporter, domain: 0, source: UInt8(version)), records: records, now: receivedMicros) {
                $0.error(errorKind(error))
            }
        }
    }

    @inline(__always)
    private func count(_ id: ExporterID, records: Int, now: Int64, _ update: (inout ExporterHealth) -> Void) {
        health.count(id, records: records, now: now, update)
    }
}

/// The listeners, their workers, and the periodic health writer.
final class FlowService: Service, Sendable {
    let receivers: [UDPReceiver]
    let workers: [FlowWorker]
    let health = ExporterHealthTable()
    let info: PGConnectInfo
    let interval: Duration
    let logger: Logger
    /// Where template state is kept ("" for nowhere), and one file name per worker.
    let stateDir: String
    let stateFiles: [String]

    init(config: Config, sink: Sink, logger: Logger) throws(UDPReceiverError) {
        var receivers: [UDPReceiver] = []
        var workers: [FlowWorker] = []
        var stateFiles: [String] = []
        for port in config.flowListeners {
            var o = UDPReceiverOptions(port: port)
            o.bindAddress = config.string("flow.bind_address")
            o.sockets = config.int("flow.sockets_per_port")
            o.receiveBufferBytes = config.int("flow.receive_buffer_bytes")
            o.name = "flow\(port)"
            o.cpus = config.flowCPUs
            let overrides = config.samplingOverrides
            let health = self.health
            let storage = config.flowStorage
            let mine = (0..<o.sockets).map { _ in FlowWorker(sink: sink, health: health, overrides: overrides, storage: storage) }
            stateFiles += (0..<o.sockets).map { "templates-\(port)-\($0).bin" }
            let r = try UDPReceiver(options: o, housekeeping: { thread, now in mine[thread].housekeeping(nowMicros: now) }) {
                thread, bytes, from, micros in
                mine[thread].handle(bytes, from: from, receivedMicros: micros)
            }
            if let w = r.bufferWarning { logger.warning("flow listener \(port): \(w)") }
            receivers.append(r)
            workers += mine
        }
        self.receivers = receivers
        self.workers = workers
        self.stateFiles = stateFiles
        self.stateDir = config.string("flow.state_dir")
        self.info = config.connectInfo
        self.interval = .seconds(max(1, config.int("stats.interval_s")))
        self.logger = logger
        loadTemplates()
    }

    func run() async throws {
        var lastSave = ContinuousClock.now
        for w in workers { w.snapshotRequested.store(true, ordering: .relaxed) }
        for r in receivers { r.start() }
        logger.info("flow listeners started", metadata: ["ports": "\(receivers.map(\.port))"])
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await writeHealth()
            if ContinuousClock.now - lastSave >= .seconds(60) {
                lastSave = .now
                // What the threads left since the last request (a thread with no traffic has nothing new).
                saveTemplates(workers.map { w in w.savedState.withLock { $0 } ?? [] })
                for w in workers { w.snapshotRequested.store(true, ordering: .relaxed) }
            }
        }
        for r in receivers { r.stop() }
        // The threads are gone (and the sink stops after this service): the minute in progress is written.
        for w in workers { w.flushAggregates() }
        // The threads are gone: each decoder can be read directly now.
        saveTemplates(workers.map { $0.netflow.templates.serializedState() })
        await writeHealth()
        logger.info("flow listeners stopped", metadata: ["stats": "\(statsFields().map { "\($0.0)=\(Int($0.1))" }.joined(separator: " "))"])
    }

    /// Loads every saved template file into every worker: after a restart the kernel may hash an
    /// exporter to another thread than before, so each thread gets all of them.
    private func loadTemplates() {
        guard !stateDir.isEmpty, let names = try? FileManager.default.contentsOfDirectory(atPath: stateDir) else { return }
        var loaded = 0
        for name in names.sorted() where name.hasPrefix("templates-") && name.hasSuffix(".bin") {
            guard let data = FileManager.default.contents(atPath: stateDir + "/" + name), !data.isEmpty else { continue }
            let bytes = [UInt8](data)
            for w in workers {
                let result: Result<Int, FlowDecodeError> = bytes.withUnsafeBytes { raw in
                    Result { () throws(FlowDecodeError) in try w.netflow.templates.loadState(raw.bytes) }
                }
                switch result {
                case .success(let n): loaded += n
                case .failure(let error):
                    logger.warning("flow template file skipped", metadata: ["file": "\(stateDir)/\(name)", "error": "\(error)"])
                }
                if case .failure = result { break }
            }
        }
        if loaded > 0 { logger.info("flow templates loaded", metadata: ["templates": "\(loaded / max(1, workers.count))", "dir": "\(stateDir)"]) }
    }

    /// Writes each worker's state to its file (write, fsync, rename, so a crash leaves the old one).
    private func saveTemplates(_ states: [[UInt8]]) {
        guard !stateDir.isEmpty else { return }
        do {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        } catch {
            logger.warning("cannot create flow.state_dir; templates are not kept", metadata: ["dir": "\(stateDir)", "error": "\(error)"])
            return
        }
        for (name, state) in zip(stateFiles, states) where !state.isEmpty {
            let path = stateDir + "/" + name
            let tmp = path + ".tmp"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                logger.warning("cannot write flow templates", metadata: ["file": "\(tmp)", "errno": "\(errno)"])
                continue
            }
            let ok = state.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == state.count && fsync(fd) == 0
            close(fd)
            if ok && rename(tmp, path) == 0 { continue }
            logger.warning("cannot write flow templates", metadata: ["file": "\(path)", "errno": "\(errno)"])
            unlink(tmp)
        }
    }

    /// Totals for sotp_stats.
    func statsFields() -> [(String, Double)] {
        let total = UDPReceiverStats.Snapshot.total(receivers)
        var records = 0, errors = 0, gaps = 0
        health.entries.withLock { all in
            for h in all.values {
                records += h.records
                errors += h.decodeErrors
                gaps += h.sequenceGaps
            }
        }
        var out: [(String, Double)] = total.fields.map { ("flow." + $0.0, Double($0.1)) }
        out.append(("flow.records", Double(records)))
        out.append(("flow.decode_errors", Double(errors)))
        out.append(("flow.sequence_gaps", Double(gaps)))
        if workers.contains(where: \.aggregating) {
            out.append(("flow.aggregate_rows", Double(workers.reduce(0) { $0 + $1.aggregateRows.load(ordering: .relaxed) })))
            out.append(("flow.aggregate_early_flushes", Double(workers.reduce(0) { $0 + $1.aggregateEarlyFlushes.load(ordering: .relaxed) })))
            out.append(("flow.aggregate_entries", Double(workers.reduce(0) { $0 + $1.aggregateEntries.load(ordering: .relaxed) })))
        }
        return out
    }

    /// Upserts one flow_exporters row per exporter.
    private func writeHealth() async {
        await writeExporterHealth(health.snapshot(), info: info, logger: logger)
    }
}

/// Upserts one flow_exporters row per entry (the flow listeners' exporters, the capture probe's interfaces).
func writeExporterHealth(_ rows: [ExporterID: ExporterHealth], info: PGConnectInfo, logger: Logger) async {
    guard !rows.isEmpty else { return }
    do {
        try await onThread("sotp-flow-health") {
            let conn = try PGConnection(info)
            for (id, h) in rows {
                let errors = "{" + h.errorsByKind.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
                _ = try conn.query(
                    """
                    INSERT INTO flow_exporters (exporter, observation_domain, protocol, packets, records, decode_errors,
                        errors_by_kind, template_misses, sequence_gaps, sampling_rate, last_seen)
                    VALUES ($1::inet, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, nullif($10::int8, 0), to_timestamp($11::float8 / 1e6))
                    ON CONFLICT (exporter, observation_domain, protocol) DO UPDATE SET
                        packets = EXCLUDED.packets, records = EXCLUDED.records, decode_errors = EXCLUDED.decode_errors,
                        errors_by_kind = EXCLUDED.errors_by_kind, template_misses = EXCLUDED.template_misses,
                        sequence_gaps = EXCLUDED.sequence_gaps, sampling_rate = EXCLUDED.sampling_rate,
                        last_seen = EXCLUDED.last_seen
                    """,
                    [id.address.description, String(id.domain), String(id.source), String(h.packets), String(h.records),
                     String(h.decodeErrors), errors, String(h.templateMisses), String(h.sequenceGaps), String(h.samplingRate),
                     String(h.lastSeenMicros)])
            }
        }
    } catch {
        logger.warning("could not write flow exporter health; will retry", metadata: ["error": "\(error)"])
    }
}

extension UDPReceiverStats.Snapshot {
    /// The sum over a service's listeners.
    static func total(_ receivers: [UDPReceiver]) -> Self {
        var total = Self()
        for r in receivers {
            let s = r.stats.snapshot()
            total.datagrams += s.datagrams
            total.bytes += s.bytes
            total.truncated += s.truncated
            total.kernelDrops += s.kernelDrops
            total.receiveErrors += s.receiveErrors
        }
        return total
    }
}
