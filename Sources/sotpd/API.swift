// sotpd's /metrics (Prometheus text format): the catalogue of names and the registry that renders them.
// Every metric is read at scrape time from counters sotpd already keeps. The server is APIService.
import Capture
import Flow
import Foundation
import Hummingbird
import Logging
import Prometheus
import Sink
import ServiceLifecycle
import Synchronization

/// Whether a series only grows (a `_total` counter, reset only by a restart) or goes up and down.
enum MetricKind: Sendable, Equatable {
    case counter, gauge
}

/// One value of one series, as a source reports it at scrape time.
struct MetricSample: Sendable {
    /// The full Prometheus name, `_total` included for counters (`sotp_flow_exporter_packets_total`).
    var name: String
    var kind: MetricKind
    /// The `# HELP` text; every sample of a name must carry the same one.
    var help: String
    var labels: [(String, String)] = []
    var value: Double
}

/// Something /metrics reads at each scrape.
typealias MetricSource = @Sendable () -> [MetricSample]

/// The /metrics form of the names sotpd writes to `sotp_stats` (`sink.rows_written`, `icmp.probes_sent`,
/// `flow.kernel_drops`): `sotp_` + the name with `_` for `.`, `_total` on counters, and values in µs
/// (`_us`) as `_seconds`. A name missing here is exported as a gauge, which is never wrong the way a
/// counter that goes down is; a test lists every component field, so one added without an entry fails it.
enum StatsCatalog {
    struct Entry: Sendable {
        var kind: MetricKind
        var help: String
    }

    private static func counter(_ help: String) -> Entry { Entry(kind: .counter, help: help) }
    private static func gauge(_ help: String) -> Entry { Entry(kind: .gauge, help: help) }

    static let entries: [String: Entry] = [
        // Sink (SinkStats).
        "sink.rows_accepted": counter("Rows sealed into batches (handed to memory or the spool)."),
        "sink.rows_written": counter("Rows committed to their table, replayed ones included."),
        "sink.rows_spooled": counter("Rows written to the on-disk spool."),
        "sink.rows_replayed": counter("Rows committed from the spool."),
        "sink.rows_dead_lettered": counter("Rows the database rejected for their data, kept in sotp.dead_letter."),
        "sink.rows_dropped": counter("Rows lost because memory and spool were both full."),
        "sink.rows_rejected_closed": counter("Rows offered after shutdown began."),
        "sink.rows_already_applied": counter("Rows found already committed on a retry, not written twice."),
        "sink.batches_written": counter("Batches committed."),
        "sink.copy_failures": counter("COPY attempts that failed (retried, split or dead-lettered after)."),
        "sink.reconnects": counter("Database connections made after each writer's first."),
        "sink.spool_corrupt_files": counter("Spool files skipped for a bad checksum or header."),
        "sink.spool_write_errors": counter("Batches that could not be written to the spool."),
        "sink.memory_bytes": gauge("Bytes of sealed batches held in memory."),
        "sink.spool_bytes": gauge("Bytes of batch data in the spool."),
        "sink.spool_files": gauge("Batch files in the spool."),
        // ICMP poller (ICMPStats).
        "icmp.targets": gauge("Targets the ICMP poller probes."),
        "icmp.probes_sent": counter("Echo requests sent (send errors included)."),
        "icmp.send_errors": counter("Echo requests the kernel refused."),
        "icmp.send_retries": counter("Times the send buffer was full and the sender waited."),
        "icmp.replies_matched": counter("Replies matched to a probe within its timeout."),
        "icmp.replies_late": counter("Replies after their probe's timeout."),
        "icmp.duplicates": counter("Duplicate replies."),
        "icmp.forged": counter("Replies whose token failed its MAC."),
        "icmp.foreign": counter("Echo replies to other programs' pings."),
        "icmp.wrong_source": counter("Replies from an address other than the probed one."),
        "icmp.stale": counter("Replies for a target removed or replaced since."),
        "icmp.malformed": counter("ICMP packets too short or with a broken IP header."),
        "icmp.icmp_errors": counter("ICMP errors (unreachable, time exceeded) attributed to a probe."),
        "icmp.icmp_errors_unattributed": counter("ICMP errors quoting an echo request that cannot be attributed."),
        "icmp.no_kernel_timestamp": counter("Replies without a kernel receive timestamp."),
        "icmp.tx_timestamps": counter("Kernel transmit timestamps read from the sockets' error queues."),
        "icmp.tx_timestamp_fallbacks": counter("Replies timed from the user-space send time because the kernel's was missing."),
        "icmp.tx_key_resets": counter("Times the transmit-timestamp key counter was resynchronised after an ambiguous send failure."),
        "icmp.error_queue_other": counter("Error-queue messages that were not transmit timestamps."),
        "icmp.cycles_closed": counter("Probe cycles completed (one icmp_samples row each)."),
        "icmp.close_queue_waits": counter("Times the receiver waited on the cycle-close queue."),
        "icmp.report_queue_waits": counter("Times the receiver waited because the sink side was behind."),
        "icmp.receive_errors": counter("Errors reading the ICMP sockets."),
        "icmp.send_lateness_p50_us": gauge("Median lateness of probe sends against schedule since start."),
        "icmp.send_lateness_p99_us": gauge("99th percentile lateness of probe sends against schedule since start."),
        "icmp.send_lateness_max_us": gauge("Largest lateness of a probe send against schedule since start."),
        // Flow collector, all listeners together (per listener: sotp_flow_listener_*).
        "flow.datagrams": counter("Datagrams received by the flow listeners."),
        "flow.bytes": counter("Bytes of datagrams received by the flow listeners."),
        "flow.truncated": counter("Datagrams longer than the receive buffer (their tail lost)."),
        "flow.kernel_drops": counter("Datagrams the kernel dropped because a receive queue was full."),
        "flow.receive_errors": counter("Errors reading the flow sockets."),
        "flow.records": counter("Flow records decoded."),
        "flow.decode_errors": counter("Decode errors over every exporter."),
        "flow.sequence_gaps": counter("Export packets or records missing by sequence number, over every exporter."),
        "flow.aggregate_rows": counter("Per-minute aggregates handed to the sink for flows_1m."),
        "flow.aggregate_early_flushes": counter("Times an aggregation table was full and written out before its minute ended."),
        "flow.aggregate_entries": gauge("Keys held in the aggregation tables now (the minute in progress)."),
        // Capture probe, all interfaces together (per interface: sotp_probe_interface_*).
        "probe.packets": counter("Packets the capture probe read from its rings."),
        "probe.bytes": counter("Bytes on the wire of the packets the capture probe read."),
        "probe.kernel_packets": counter("Packets the kernel passed to the capture sockets (after the filter and sampling; drops included)."),
        "probe.ring_drops": counter("Packets the kernel dropped because a capture ring was full."),
        "probe.queue_freezes": counter("Times the kernel froze a capture queue (TPACKET_V3 ring full)."),
        "probe.errors": counter("Errors reading the capture rings."),
        "probe.records": counter("Flow records the probe wrote (every reason)."),
        "probe.not_ip": counter("Captured frames without an IP header (ARP, LLDP, cut off or malformed): not flows."),
        "probe.flows_created": counter("Flows the probe started."),
        "probe.expired_idle": counter("Flow records written after the idle timeout."),
        "probe.expired_active": counter("Flow records written at the active timeout (a long flow continues in a new record)."),
        "probe.ended_tcp": counter("Flow records written because a TCP FIN or RST ended the flow."),
        "probe.evicted": counter("Flow records written early because a flow table was full."),
        "probe.overflow": counter("Packets that found a flow table full and became one-packet records."),
        "probe.flushed": counter("Flow records written at stop."),
        "probe.entries": gauge("Flows held in the probe's tables now."),
        // Syslog receiver.
        "syslog.udp_datagrams": counter("Datagrams received by the syslog UDP listener."),
        "syslog.udp_bytes": counter("Bytes of datagrams received by the syslog UDP listener."),
        "syslog.udp_kernel_drops": counter("Syslog datagrams the kernel dropped because a receive queue was full."),
        "syslog.udp_receive_errors": counter("Errors reading the syslog UDP sockets."),
        "syslog.messages": counter("Syslog messages parsed and handed to the sink (every transport)."),
        "syslog.messages_udp": counter("Syslog messages received over UDP."),
        "syslog.messages_tcp": counter("Syslog messages received over TCP."),
        "syslog.messages_tls": counter("Syslog messages received over TLS."),
        "syslog.parsed_rfc5424": counter("Messages parsed as RFC 5424."),
        "syslog.parsed_rfc5424_partial": counter("RFC 5424 messages malformed after the start of the header (stored with raw bytes)."),
        "syslog.parsed_rfc3164": counter("Messages parsed as RFC 3164 or a device variant of it."),
        "syslog.parsed_rfc3164_no_timestamp": counter("Messages with a PRI but no timestamp (stored with the received time)."),
        "syslog.parsed_unparsed": counter("Messages with neither PRI nor timestamp, stored whole as text with raw bytes."),
        "syslog.raw_kept": counter("Messages stored with their raw bytes (text changed, partial parse or truncated)."),
        "syslog.truncated": counter("TCP/TLS messages longer than syslog.max_message_bytes, stored truncated."),
        "syslog.timestamp_replaced": counter("Sender timestamps not kept (unsynchronized clock, older than retention, more than an hour ahead)."),
        "syslog.empty": counter("Empty datagrams or frames, counted and not stored."),
        "syslog.rejected_closed": counter("Messages that arrived after shutdown began."),
        "syslog.stream_accepted": counter("TCP/TLS connections accepted."),
        "syslog.stream_open": gauge("TCP/TLS connections open now."),
        "syslog.stream_refused": counter("TCP/TLS connections refused at syslog.tcp_max_connections."),
        "syslog.stream_idle_closed": counter("TCP/TLS connections closed after syslog.tcp_idle_timeout_s of silence."),
        "syslog.stream_tls_handshake_failures": counter("TLS handshakes that failed."),
        "syslog.stream_framing_errors": counter("TCP frames with a bad octet count."),
        "syslog.stream_truncated": counter("TCP/TLS frames longer than syslog.max_message_bytes."),
        "syslog.stream_bytes": counter("Bytes received over TCP/TLS."),
        // Trap receiver (Poller's TrapStats).
        "traps.udp_datagrams": counter("Datagrams received by the trap listener."),
        "traps.udp_kernel_drops": counter("Trap datagrams the kernel dropped because a receive queue was full."),
        "traps.udp_receive_errors": counter("Errors reading the trap sockets."),
        "traps.received": counter("Datagrams handed to the trap decoder."),
        "traps.traps_v1": counter("v1 Trap-PDUs stored."),
        "traps.traps_v2": counter("SNMPv2-Trap PDUs (v2c and v3) stored."),
        "traps.informs": counter("InformRequests stored."),
        "traps.informs_acknowledged": counter("Responses sent to informs."),
        "traps.reports_sent": counter("SNMPv3 Reports sent (engine discovery, time window, USM errors)."),
        "traps.malformed": counter("Datagrams that are not valid SNMP (snmpInASNParseErrs)."),
        "traps.bad_community": counter("v1/v2c notifications with a community not in traps.communities."),
        "traps.usm_unknown_user_names": counter("v3 messages from a user not in [[snmp_users]]."),
        "traps.usm_wrong_digests": counter("v3 messages whose authentication digest did not match."),
        "traps.usm_decryption_errors": counter("v3 messages that could not be decrypted."),
        "traps.usm_not_in_time_windows": counter("v3 informs outside the time window (replays)."),
        "traps.reply_send_failures": counter("Inform responses and reports the socket would not send."),
        "traps.rejected_closed": counter("Notifications that arrived after shutdown began."),
        // SNMP poller (SNMPPollStats, SNMPEngineStats).
        "snmp.polls": counter("Device polls finished (answered, partial or failed)."),
        "snmp.polls_failed": counter("Polls whose system group got no answer (device unreachable by SNMP)."),
        "snmp.polls_partial": counter("Polls that answered the system group but failed later (timeout, agent error)."),
        "snmp.polls_overrun": counter("Polls not started because the device's previous poll was still running."),
        "snmp.counter32_wraps": counter("Counter32 decreases taken as a wrap (the implied rate fitted the speed)."),
        "snmp.counter_resets": counter("Counter decreases taken as a reset (no rate for that interval)."),
        "snmp.reboots": counter("Agent restarts seen (sysUpTime fell behind the wall clock)."),
        "snmp.metadata_dropped": counter("Categorisation or interface-table updates not written (queue full or database error)."),
        "snmp.devices": gauge("Devices the SNMP poller polls."),
        "snmp.polls_running": gauge("Device polls in progress."),
        "snmp.in_flight": gauge("SNMP requests awaiting a response."),
        "snmp.queued": gauge("SNMP operations waiting for a free request slot."),
        "snmp.requests_sent": counter("SNMP requests sent, retries included."),
        "snmp.retries": counter("SNMP requests sent again after a timeout."),
        "snmp.timeouts": counter("SNMP requests unanswered after every retry."),
        "snmp.responses": counter("SNMP datagrams received."),
        "snmp.varbinds": counter("Varbinds received in responses."),
        "snmp.responses_unmatched": counter("Responses matching no request in flight (late after a retry, duplicates)."),
        "snmp.responses_wrong_source": counter("Responses from an address other than the agent asked."),
        "snmp.responses_malformed": counter("Responses that are not valid SNMP or not the response expected."),
        "snmp.responses_auth_failed": counter("v3 responses failing authentication or decryption."),
        "snmp.engine_discoveries": counter("v3 engine discoveries (engine ID, boots and time learnt)."),
        "snmp.time_resyncs": counter("v3 requests resent after a notInTimeWindow report (agent reboot)."),
        "snmp.reports_unsupported_sec_levels": counter("v3 reports: security level not supported for the user."),
        "snmp.reports_not_in_time_windows": counter("v3 reports: request outside the agent's time window."),
        "snmp.reports_unknown_user_names": counter("v3 reports: user unknown to the agent."),
        "snmp.reports_unknown_engine_ids": counter("v3 reports: engine ID unknown (discovery, or the agent's changed)."),
        "snmp.reports_wrong_digests": counter("v3 reports: wrong authentication key."),
        "snmp.reports_decryption_errors": counter("v3 reports: the agent could not decrypt."),
        "snmp.agent_errors": counter("Responses with an error-status (genErr, noAccess…)."),
        "snmp.too_big": counter("tooBig responses (the request is repeated smaller)."),
        "snmp.walk_non_increasing": counter("Walk columns stopped because the agent returned an OID not after the one asked for."),
        "snmp.walk_row_limit": counter("Walk columns stopped at 100,000 rows."),
        "snmp.send_errors": counter("SNMP requests the kernel refused to send."),
        // Alerting (AlertStats).
        "alerts.firing": gauge("Alerts firing now."),
        "alerts.fired": counter("Alert incidents opened (first firing notice of each)."),
        "alerts.resolved": counter("Alert incidents resolved."),
        "alerts.notifications_sent": counter("Webhook notifications the receiver accepted (2xx)."),
        "alerts.delivery_failures": counter("Webhook notifications given up on (retries exhausted, or a 4xx other than 429)."),
        "alerts.retries": counter("Webhook attempts repeated after a connection error, timeout, 5xx or 429."),
        "alerts.dropped": counter("Notifications dropped because a webhook's outbox was full (or at shutdown)."),
        "alerts.inputs": counter("Observations (ICMP cycles, SNMP polls, syslog messages) the evaluator applied."),
        "alerts.inputs_dropped": counter("Observations dropped because the evaluator's queue was full."),
        "alerts.outbox": gauge("Notifications waiting in the webhook outboxes."),
    ]

    /// The Prometheus name, kind, help and value of a `sotp_stats` name and value.
    static func sample(_ name: String, _ value: Double) -> MetricSample {
        var base = "sotp_" + name.replacingOccurrences(of: ".", with: "_")
        var value = value
        if base.hasSuffix("_us") {
            base = base.dropLast(3) + "_seconds"
            value /= 1_000_000
        }
        guard let e = entries[name] else { return MetricSample(name: base, kind: .gauge, help: "", value: value) }
        return MetricSample(name: e.kind == .counter ? base + "_total" : base, kind: e.kind, help: e.help, value: value)
    }

    static func samples(_ fields: [(String, Double)]) -> [MetricSample] { fields.map { sample($0.0, $0.1) } }
}

/// Renders samples with swift-prometheus: one Counter or Gauge per name and label set, made at its first
/// scrape and set at every one. Sources are read, values set and the text emitted under one lock, so no
/// scrape sees a counter between its reset and its new value.
final class MetricsRegistry: Sendable {
    private struct SeriesKey: Hashable {
        var name: String
        var labels: [String]
    }

    private struct State {
        var counters: [SeriesKey: Counter] = [:]
        var gauges: [SeriesKey: Gauge] = [:]
        /// Kind and help of each name, as first registered.
        var families: [String: (kind: MetricKind, help: String)] = [:]
        /// Names refused for a kind or help differing from the first registration (logged once each).
        var refused: Set<String> = []
    }

    private let registry = PrometheusCollectorRegistry()
    private let state = Mutex(State())
    let sources: [MetricSource]
    /// Families rendered by their owners (histograms kept outside swift-prometheus), appended as they are.
    let textSources: [@Sendable () -> String]
    let logger: Logger

    init(sources: [MetricSource], textSources: [@Sendable () -> String] = [], logger: Logger) {
        self.sources = sources
        self.textSources = textSources
        self.logger = logger
    }

    /// The text exposition of every source's current values.
    func scrape() -> [UInt8] {
        state.withLock { s in
            for source in sources {
                for m in source() { set(m, &s) }
            }
            var out = registry.emitToBuffer()
            for t in textSources { out += Array(t().utf8) }
            return out
        }
    }

    private func set(_ m: MetricSample, _ s: inout State) {
        if let f = s.families[m.name], f.kind != m.kind || f.help != m.help {
            // swift-prometheus stops the process on such a mismatch; a naming slip must not take sotpd down.
            if s.refused.insert(m.name).inserted {
                logger.error("metric skipped: registered before with another type or help", metadata: ["metric": "\(m.name)"])
            }
            return
        }
        s.families[m.name] = (m.kind, m.help)
        let key = SeriesKey(name: m.name, labels: m.labels.flatMap { [$0.0, $0.1] })
        switch m.kind {
        case .counter:
            let c = s.counters[key] ?? {
                let c = registry.makeCounter(descriptor: descriptor(m), labels: m.labels)
                s.counters[key] = c
                return c
            }()
            // Counters only count up in swift-prometheus; ours are read whole, so the value is put back.
            c.reset()
            if m.value == m.value.rounded(), let i = Int64(exactly: m.value) {
                c.increment(by: max(0, i))
            } else if m.value > 0 {
                c.increment(by: m.value)
            }
        case .gauge:
            let g = s.gauges[key] ?? {
                let g = registry.makeGauge(descriptor: descriptor(m), labels: m.labels)
                s.gauges[key] = g
                return g
            }()
            g.set(to: m.value)
        }
    }

    private func descriptor(_ m: MetricSample) -> MetricNameDescriptor {
        // The name is already complete; unitName "" adds nothing to it.
        MetricNameDescriptor(metricName: m.name, unitName: "", helpText: m.help)
    }
}

// MARK: component sources

extension FlowService {
    /// Per listener (port) receive counters and per exporter health, for /metrics. Exporters are few
    /// (tens), so they are labels; a listener's sockets are summed (the kernel's hash picks the socket).
    func metricSamples() -> [MetricSample] {
        var out: [MetricSample] = []
        for r in receivers {
            let labels = [("port", String(r.port))]
            for (field, v) in r.stats.snapshot().fields {
                let help = StatsCatalog.entries["flow." + field]?.help ?? ""
                out.append(MetricSample(name: "sotp_flow_listener_\(field)_total", kind: .counter, help: help, labels: labels, value: Double(v)))
            }
        }
        for (id, h) in health.snapshot() {
            let labels = [("exporter", id.address.description), ("domain", String(id.domain)), ("protocol", protocolName(id.source))]
            func add(_ name: String, _ kind: MetricKind, _ help: String, _ value: Double, _ extra: [(String, String)] = []) {
                out.append(MetricSample(name: "sotp_flow_exporter_" + name, kind: kind, help: help, labels: labels + extra, value: value))
            }
            add("packets_total", .counter, "Export packets (datagrams) received from the exporter.", Double(h.packets))
            add("records_total", .counter, "Flow records decoded from the exporter.", Double(h.records))
            for (kind, n) in h.errorsByKind {
                add("decode_errors_total", .counter, "Decode errors by kind.", Double(n), [("kind", kind)])
            }
            add("template_misses_total", .counter, "NetFlow v9/IPFIX data sets that arrived before their template.", Double(h.templateMisses))
            add("sequence_gaps_total", .counter, "Export packets (v9, sFlow) or records (v5, IPFIX) missing by sequence number.",
                Double(h.sequenceGaps))
            add("sampling_rate", .gauge, "Last sampling rate the exporter reported (1 in N); 0: none reported.", Double(h.samplingRate))
            add("last_seen_timestamp_seconds", .gauge, "When the last packet from the exporter arrived (Unix time).",
                Double(h.lastSeenMicros) / 1_000_000)
        }
        return out
    }

    /// The `protocol` label of an exporter's entry; 0 is a datagram no decoder recognised.
    private func protocolName(_ source: UInt8) -> String {
        switch FlowSource(rawValue: source) {
        case .netflow5: "netflow5"
        case .netflow9: "netflow9"
        case .ipfix: "ipfix"
        case .sflow5: "sflow5"
        case .probe: "probe"
        case nil: source == 0 ? "unknown" : String(source)
        }
    }
}

extension ICMPService {
    /// The poller's counters for /metrics. Unlike `statsFields()` it leaves the lateness window (charted
    /// per interval in sotp_stats) alone, so a scrape does not take from it; lateness here is since start.
    func metricSamples() -> [MetricSample] {
        var fields = poller.stats.snapshot().fields.map { ("icmp." + $0.0, Double($0.1)) }
        fields.append(("icmp.targets", Double(poller.targetCount)))
        return StatsCatalog.samples(fields)
    }
}

// MARK: the service

/// Why the API could not start; names `api.listen`.
struct APIError: Error, CustomStringConvertible {
    var description: String
}

/// Set once the server listens: an error before it is about the address, one after is not.
final class RunningFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// Binds (and closes) a TCP socket at host:port with SO_REUSEADDR, as Hummingbird's own socket is; nil
/// when that works, else what the kernel said.
func tryBind(host: String, port: Int) -> String? {
    var v4 = in_addr(), v6 = in6_addr()
    let isV4 = inet_pton(AF_INET, host, &v4) == 1
    guard isV4 || inet_pton(AF_INET6, host, &v6) == 1 else { return "\"\(host)\" is not an IP address" }
    let fd = socket(isV4 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
    defer { close(fd) }
    var one: Int32 = 1
    _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    let rc: Int32
    if isV4 {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr = v4
        rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    } else {
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_port = UInt16(port).bigEndian
        a.sin6_addr = v6
        rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }
    let e = errno
    return rc == 0 ? nil : "\(String(cString: strerror(e))) (errno \(e))"
}

// MARK: listeners, histograms, lag

/// `sotp_listener_*_total{listener, port}` of UDP receivers: the same families for flow, syslog and
/// trap listeners, so one alert rule covers kernel drops on any of them.
func listenerSamples(_ listener: String, _ receivers: [UDPReceiver]) -> [MetricSample] {
    var out: [MetricSample] = []
    for r in receivers {
        let s = r.stats.snapshot()
        let labels = [("listener", listener), ("port", String(r.port))]
        out.append(MetricSample(name: "sotp_listener_datagrams_total", kind: .counter, help: "Datagrams received by a UDP listener.", labels: labels, value: Double(s.datagrams)))
        out.append(MetricSample(name: "sotp_listener_bytes_total", kind: .counter, help: "Bytes of datagrams received by a UDP listener.", labels: labels, value: Double(s.bytes)))
        out.append(MetricSample(
            name: "sotp_listener_kernel_drops_total", kind: .counter, help: "Datagrams the kernel dropped at a UDP listener because a receive queue was full.",
            labels: labels, value: Double(s.kernelDrops)))
        out.append(MetricSample(
            name: "sotp_listener_truncated_total", kind: .counter, help: "Datagrams longer than a UDP listener's receive buffer (their tail lost).",
            labels: labels, value: Double(s.truncated)))
    }
    return out
}

/// `sotp_poller_cycle_lag_seconds{poller}`: how far behind schedule a poller's latest work started.
func cycleLagSample(_ poller: String, micros: Int) -> MetricSample {
    MetricSample(
        name: "sotp_poller_cycle_lag_seconds", kind: .gauge,
        help: "How late against schedule the poller's latest probes or polls started (ICMP: the latest send batch; SNMP: the latest scheduler pass).",
        labels: [("poller", poller)], value: Double(micros) / 1_000_000)
}

/// The text exposition of the sink's batch latency histogram (`sotp_sink_batch_latency_seconds`):
/// swift-prometheus' histograms record observations themselves, while this one is kept by the sink.
func sinkLatencyExposition(_ stats: SinkStats) -> String {
    let (counts, sum) = stats.latency()
    let name = "sotp_sink_batch_latency_seconds"
    var text = "# HELP \(name) Time to write one batch (ledger row, COPY, COMMIT).\n# TYPE \(name) histogram\n"
    var cumulative = 0
    for (i, bound) in SinkStats.latencyBoundsMicros.enumerated() {
        cumulative += counts[i]
        text += "\(name)_bucket{le=\"\(Double(bound) / 1_000_000)\"} \(cumulative)\n"
    }
    cumulative += counts.last ?? 0
    text += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n\(name)_sum \(Double(sum) / 1_000_000)\n\(name)_count \(cumulative)\n"
    return text
}
