// `sotpd run`'s syslog receiver: UDP listeners (SO_REUSEPORT sockets, a thread each) and TCP/TLS
// listeners (RFC 6587 framing), every message parsed in place on the thread that received it (Flow's
// SyslogParser: no copy, no allocation) and written straight into that thread's own sink buffer for the
// syslog table. Nothing is rejected: what does not parse is stored as text with its parse status and
// its raw bytes.
import Capture
import Flow
import Foundation
import Logging
import Poller
import ServiceLifecycle
import Sink
import Synchronization

enum SyslogTables {
    static let syslog = TableSpec("syslog", [
        .init("time", .timestamptz), .init("received_at", .timestamptz), .init("source", .inet),
        .init("facility", .int2), .init("severity", .int2), .init("hostname", .text), .init("app_name", .text),
        .init("proc_id", .text), .init("msg_id", .text), .init("structured_data", .jsonb), .init("message", .text),
        .init("parse_status", .text), .init("raw", .bytea), .init("device_id", .int4), .init("transport", .text),
    ])
}

/// How a message reached sotpd; stored in syslog.transport.
enum SyslogTransport: Int, Sendable, CaseIterable {
    case udp, tcp, tls
    var name: String { ["udp", "tcp", "tls"][rawValue] }
}

/// The zone of each source's zoneless timestamps: the longest configured prefix holding the source,
/// else the default.
struct SyslogZones: Sendable {
    var byPrefix: [(IPPrefix, SourceZone)]
    var fallback: SourceZone

    func zone(_ peer: PeerAddress) -> SourceZone {
        guard !byPrefix.isEmpty else { return fallback }
        let a: IPAddress = peer.isV4 ? .v4(UInt32(truncatingIfNeeded: peer.low)) : .v6(high: peer.high, low: peer.low)
        return byPrefix.first { $0.0.contains(a) }?.1 ?? fallback
    }
}

/// Counters of one worker, read by the service for sotp_stats and /metrics.
final class SyslogCounters: Sendable {
    let rfc5424 = Atomic<Int>(0)
    let rfc5424Partial = Atomic<Int>(0)
    let rfc3164 = Atomic<Int>(0)
    let rfc3164NoTimestamp = Atomic<Int>(0)
    let unparsed = Atomic<Int>(0)
    let udp = Atomic<Int>(0)
    let tcp = Atomic<Int>(0)
    let tls = Atomic<Int>(0)
    let rawKept = Atomic<Int>(0)
    let truncated = Atomic<Int>(0)
    let timestampReplaced = Atomic<Int>(0)
    let rejectedClosed = Atomic<Int>(0)
    let empty = Atomic<Int>(0)

    func count(_ s: SyslogParseStatus) {
        switch s {
        case .rfc5424: rfc5424.add(1, ordering: .relaxed)
        case .rfc5424Partial: rfc5424Partial.add(1, ordering: .relaxed)
        case .rfc3164: rfc3164.add(1, ordering: .relaxed)
        case .rfc3164NoTimestamp: rfc3164NoTimestamp.add(1, ordering: .relaxed)
        case .unparsed: unparsed.add(1, ordering: .relaxed)
        }
    }

    func count(_ t: SyslogTransport) {
        switch t {
        case .udp: udp.add(1, ordering: .relaxed)
        case .tcp: tcp.add(1, ordering: .relaxed)
        case .tls: tls.add(1, ordering: .relaxed)
        }
    }

    func parsed(_ s: SyslogParseStatus) -> Int {
        switch s {
        case .rfc5424: rfc5424.load(ordering: .relaxed)
        case .rfc5424Partial: rfc5424Partial.load(ordering: .relaxed)
        case .rfc3164: rfc3164.load(ordering: .relaxed)
        case .rfc3164NoTimestamp: rfc3164NoTimestamp.load(ordering: .relaxed)
        case .unparsed: unparsed.load(ordering: .relaxed)
        }
    }

    func received(_ t: SyslogTransport) -> Int {
        switch t {
        case .udp: udp.load(ordering: .relaxed)
        case .tcp: tcp.load(ordering: .relaxed)
        case .tls: tls.load(ordering: .relaxed)
        }
    }
}

/// One receive thread's parser, scratch buffers and sink handle. Used by its thread only.
final class SyslogWorker: @unchecked Sendable {
    let sink: Sink
    let table: SinkTable
    let parser = SyslogParser()
    var sd = SyslogStructuredDataJSON()
    var text: [UInt8] = []
    var json: [UInt8] = []
    let zones: SyslogZones
    var devices: DeviceLookup
    let counters = SyslogCounters()
    /// Oldest a sender's timestamp may be, in µs before its arrival (older: the arrival time is stored,
    /// so retention does not drop a message the moment it lands); newest: `maxAheadMicros` after.
    let maxAgeMicros: Int64
    static let maxAheadMicros: Int64 = 3_600_000_000
    /// The last named-zone offset worked out, per local hour: one Foundation call an hour per zone.
    var zoneCache: (zone: SourceZone, hour: Int64, offset: Int32)?
    /// Where messages at the alert severity or worse also go (nil: alerting or its syslog rule off).
    let alerts: AlertInbox?
    var alertThrottle = SyslogAlertThrottle()

    init(sink: Sink, zones: SyslogZones, devices: DeviceAddresses, maxAgeDays: Int, alerts: AlertInbox? = nil) {
        self.sink = sink
        self.alerts = alerts.flatMap { $0.syslogSeverity >= 0 ? $0 : nil }
        self.table = sink.producer(SyslogTables.syslog)
        self.zones = zones
        self.devices = DeviceLookup(devices)
        self.maxAgeMicros = Int64(maxAgeDays) * 86_400_000_000
        text.reserveCapacity(64 << 10)
        json.reserveCapacity(16 << 10)
    }

    /// Between batches: picks up a changed inventory.
    func housekeeping() { devices.refresh() }

    /// Parses and stores one message (a datagram, or a frame without its RFC 6587 framing).
    func handle(_ bytes: RawSpan, from peer: PeerAddress, receivedMicros: Int64, transport: SyslogTransport, truncated: Bool = false) {
        counters.count(transport)
        if truncated { counters.truncated.add(1, ordering: .relaxed) }
        if bytes.byteCount == 0 {
            counters.empty.add(1, ordering: .relaxed)
            return
        }
        let zone = zones.zone(peer)
        let m = parser.parse(bytes, receivedMicros: receivedMicros) { local in self.offset(zone, local) }
        counters.count(m.status)
        var time = receivedMicros
        if let t = m.timestampMicros, m.clockMark != .notSynchronized,
           t >= receivedMicros - maxAgeMicros, t <= receivedMicros + Self.maxAheadMicros {
            time = t
        } else if m.timestampMicros != nil {
            counters.timestampReplaced.add(1, ordering: .relaxed)
        }
        text.removeAll(keepingCapacity: true)
        let clean = m.clean || SyslogText.appendSanitized(bytes, m.message, to: &text)
        json.removeAll(keepingCapacity: true)
        if let sdRange = m.structuredData { sd.append(bytes, structuredData: sdRange, to: &json) }
        let keepRaw = m.keepRaw || !clean || truncated
        if keepRaw { counters.rawKept.add(1, ordering: .relaxed) }
        let device = devices.device(peer)
        let result = bytes.withUnsafeBytes { raw in
            sink.append(table) { row in
                row.timestamptz(unixMicros: time)
                row.timestamptz(unixMicros: receivedMicros)
                if peer.isV4 { row.inet(ipv4: UInt32(truncatingIfNeeded: peer.low)) } else { row.inet(ipv6High: peer.high, low: peer.low) }
                if let f = m.facility { row.int2(Int16(f)) } else { row.null() }
                if let s = m.severity { row.int2(Int16(s)) } else { row.null() }
                func field(_ r: Range<Int>?) {
                    if let r { row.text(copying: UnsafeRawBufferPointer(rebasing: raw[r])) } else { row.null() }
                }
                field(m.hostname)
                field(m.appName)
                field(m.procID)
                field(m.msgID)
                if m.structuredData != nil { json.withUnsafeBytes { row.jsonb(copying: $0) } } else { row.null() }
                if m.clean {
                    row.text(copying: UnsafeRawBufferPointer(rebasing: raw[m.message]))
                } else {
                    text.withUnsafeBytes { row.text(copying: $0) }
                }
                row.text(m.status.rawValue)
                if keepRaw { row.bytea(copying: raw) } else { row.null() }
                if let device { row.int4(device) } else { row.null() }
                row.text(transport.name)
            }
        }
        if result == .closed { counters.rejectedClosed.add(1, ordering: .relaxed) }
        // An integer compare per message; strings only for the few that alert, at most one a second per source.
        if let alerts, let severity = m.severity, Int(severity) <= alerts.syslogSeverity {
            var host = peer.unmapped
            host.port = 0
            let n = alertThrottle.admit(host, now: receivedMicros)
            if n > 0 {
                let source: IPAddress = host.isV4 ? .v4(UInt32(truncatingIfNeeded: host.low)) : .v6(high: host.high, low: host.low)
                let message = m.clean
                    ? bytes.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[m.message]), as: UTF8.self) }
                    : String(decoding: text, as: UTF8.self)
                alerts.push(.syslog(deviceID: device, source: source.description, severity: Int(severity), count: n,
                                    text: String(message.prefix(300)), timeMicros: time))
            }
        }
    }

    private func offset(_ zone: SourceZone, _ localSeconds: Int64) -> Int32 {
        guard case .named = zone else { return zone.offset(localSeconds: localSeconds) }
        let hour = localSeconds / 3600
        if let c = zoneCache, c.zone == zone, c.hour == hour { return c.offset }
        let o = zone.offset(localSeconds: localSeconds)
        zoneCache = (zone, hour, o)
        return o
    }
}

/// The syslog listeners and their workers.
final class SyslogService: Service, Sendable {
    let receivers: [UDPReceiver]
    let streams: [StreamListener]
    let workers: [SyslogWorker]
    let devices: DeviceAddresses
    let info: PGConnectInfo
    let refresh: Duration
    let logger: Logger

    init(config: Config, sink: Sink, devices: DeviceAddresses, logger: Logger, alerts: AlertInbox? = nil) throws(UDPReceiverError) {
        let zones = SyslogZones(byPrefix: config.syslogSourceZones, fallback: config.syslogZone)
        let maxAge = config.int("retention.logs_days")
        var receivers: [UDPReceiver] = []
        var workers: [SyslogWorker] = []
        let port = config.int("syslog.udp_port")
        if port != 0 {
            var o = UDPReceiverOptions(port: UInt16(max(0, port)))
            o.bindAddress = config.string("syslog.bind_address")
            o.sockets = config.int("syslog.sockets_per_port")
            o.receiveBufferBytes = config.int("syslog.receive_buffer_bytes")
            // Any datagram whole: a syslog message is never cut by the receiver.
            o.maxDatagramBytes = 65_535
            o.name = "syslog"
            let mine = (0..<o.sockets).map { _ in SyslogWorker(sink: sink, zones: zones, devices: devices, maxAgeDays: maxAge, alerts: alerts) }
            let r = try bindWithFallback(port, o) { (o) throws(UDPReceiverError) -> UDPReceiver in
                try UDPReceiver(options: o, housekeeping: { thread, _ in mine[thread].housekeeping() }) { thread, bytes, from, micros in
                    mine[thread].handle(bytes, from: from, receivedMicros: micros, transport: .udp)
                }
            }
            if let w = r.bufferWarning { logger.warning("syslog listener \(r.port): \(w)") }
            receivers.append(r)
            workers += mine
        }
        // TCP and TLS: one worker per event-loop thread of each listener (a thread's calls never overlap).
        var streams: [StreamListener] = []
        var streamWorkers: [SyslogWorker] = []
        let tcpPort = config.int("syslog.tcp_port"), tlsPort = config.int("syslog.tls_port")
        let certificate = config.string("syslog.tls_certificate")
        var plans: [(port: Int, tls: StreamTLSOptions?)] = []
        if tcpPort != 0 { plans.append((tcpPort, nil)) }
        if tlsPort != 0 && !certificate.isEmpty {
            let ca = config.string("syslog.tls_client_ca")
            plans.append((tlsPort, StreamTLSOptions(
                certificateChainPath: certificate, privateKeyPath: config.string("syslog.tls_private_key"),
                caPath: ca.isEmpty ? nil : ca, requireClientCertificate: !ca.isEmpty)))
        }
        if !plans.isEmpty {
            // Each connection is a descriptor: raise the soft limit as far as the hard one allows.
            let want = rlim_t(config.int("syslog.tcp_max_connections") * plans.count + 1024)
            var l = rlimit()
            if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l) == 0 && l.rlim_cur < want {
                l.rlim_cur = min(want, l.rlim_max)
                _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &l)
                if l.rlim_cur < want {
                    logger.warning("open file limit is below syslog.tcp_max_connections; raise RLIMIT_NOFILE (LimitNOFILE= in systemd)",
                                   metadata: ["limit": "\(l.rlim_cur)", "wanted": "\(want)"])
                }
            }
        }
        for plan in plans {
            // -1: 514 when it can be bound (privileges, no other syslog daemon on it), else 5514.
            let port = plan.port == -1 ? (canBindTCP(config.string("syslog.bind_address"), 514) ? 514 : 5514) : plan.port
            var o = StreamListenerOptions(port: UInt16(port))
            o.bindAddress = config.string("syslog.bind_address")
            o.threads = config.int("syslog.sockets_per_port")
            o.maxConnections = config.int("syslog.tcp_max_connections")
            o.maxFrameBytes = config.int("syslog.max_message_bytes")
            let idle = config.int("syslog.tcp_idle_timeout_s")
            o.idleTimeout = idle > 0 ? .seconds(idle) : nil
            o.tls = plan.tls
            let mine = (0..<o.threads).map { _ in SyslogWorker(sink: sink, zones: zones, devices: devices, maxAgeDays: maxAge, alerts: alerts) }
            let transport: SyslogTransport = plan.tls == nil ? .tcp : .tls
            let listener: StreamListener
            do {
                listener = try StreamListener(options: o, housekeeping: { thread, _ in mine[thread].housekeeping() }) {
                    thread, frame, from, micros, info in
                    mine[thread].handle(frame, from: from, receivedMicros: micros, transport: transport, truncated: info.truncated)
                }
            } catch {
                throw UDPReceiverError(description: "syslog \(transport.name) listener: \(error)")
            }
            streams.append(listener)
            streamWorkers += mine
        }
        self.streams = streams
        self.receivers = receivers
        self.workers = workers + streamWorkers
        self.devices = devices
        self.info = config.connectInfo
        self.refresh = .seconds(config.int("icmp.inventory_refresh_s"))
        self.logger = logger
    }

    func run() async throws {
        devices.start(info: info, interval: refresh, logger: logger)
        for r in receivers { r.start() }
        var bound: [UInt16] = []
        for listener in streams {
            do {
                bound.append(try listener.start())
            } catch {
                for r in receivers { r.stop() }
                for s in streams { s.stop() }
                logger.critical("syslog stream listener did not start", metadata: ["error": "\(error)"])
                throw error
            }
        }
        logger.info("syslog listeners started", metadata: ["udp": "\(receivers.map(\.port))", "tcp_tls": "\(bound)"])
        try? await gracefulShutdown()
        for r in receivers { r.stop() }
        for s in streams { s.stop() }
        devices.stop()
        logger.info("syslog listeners stopped", metadata: ["stats": "\(statsFields().map { "\($0.0)=\(Int($0.1))" }.joined(separator: " "))"])
    }

    /// Totals for sotp_stats.
    func statsFields() -> [(String, Double)] {
        let total = UDPReceiverStats.Snapshot.total(receivers)
        var out: [(String, Double)] = [
            ("syslog.udp_datagrams", Double(total.datagrams)), ("syslog.udp_bytes", Double(total.bytes)),
            ("syslog.udp_kernel_drops", Double(total.kernelDrops)), ("syslog.udp_receive_errors", Double(total.receiveErrors)),
        ]
        func sum(_ pick: (SyslogCounters) -> Int) -> Double { Double(workers.reduce(0) { $0 + pick($1.counters) }) }
        var messages = 0.0
        for s in SyslogParseStatus.allCases {
            let n = sum { $0.parsed(s) }
            messages += n
            out.append(("syslog.parsed_\(s.rawValue)", n))
        }
        out.append(("syslog.messages", messages))
        var st = StreamListenerStats.Snapshot()
        for l in streams {
            let x = l.stats.snapshot()
            st.accepted += x.accepted
            st.open += x.open
            st.refused += x.refused
            st.idleClosed += x.idleClosed
            st.tlsHandshakeFailures += x.tlsHandshakeFailures
            st.framingErrors += x.framingErrors
            st.truncated += x.truncated
            st.bytes += x.bytes
        }
        if !streams.isEmpty {
            out += [
                ("syslog.stream_accepted", Double(st.accepted)), ("syslog.stream_open", Double(st.open)),
                ("syslog.stream_refused", Double(st.refused)), ("syslog.stream_idle_closed", Double(st.idleClosed)),
                ("syslog.stream_tls_handshake_failures", Double(st.tlsHandshakeFailures)),
                ("syslog.stream_framing_errors", Double(st.framingErrors)), ("syslog.stream_truncated", Double(st.truncated)),
                ("syslog.stream_bytes", Double(st.bytes)),
            ]
        }
        for t in SyslogTransport.allCases { out.append(("syslog.messages_\(t.name)", sum { $0.received(t) })) }
        out.append(("syslog.raw_kept", sum { $0.rawKept.load(ordering: .relaxed) }))
        out.append(("syslog.truncated", sum { $0.truncated.load(ordering: .relaxed) }))
        out.append(("syslog.timestamp_replaced", sum { $0.timestampReplaced.load(ordering: .relaxed) }))
        out.append(("syslog.empty", sum { $0.empty.load(ordering: .relaxed) }))
        out.append(("syslog.rejected_closed", sum { $0.rejectedClosed.load(ordering: .relaxed) }))
        return out
    }
}

/// Binds `port`, or for -1 ("the standard port when the process may bind it") 514, falling back to 5514
/// when binding 514 is not permitted or the port is taken (a system syslog daemon).
func bindWithFallback<T>(
    _ port: Int, _ options: UDPReceiverOptions, standard: UInt16 = 514, fallback: UInt16 = 5514,
    _ open: (UDPReceiverOptions) throws(UDPReceiverError) -> T
) throws(UDPReceiverError) -> T {
    var o = options
    guard port == -1 else { return try open(o) }
    o.port = standard
    do {
        return try open(o)
    } catch where error.errno == EACCES || error.errno == EADDRINUSE {
        o.port = fallback
        return try open(o)
    }
}

/// Whether a TCP socket can be bound to `address`:`port` now (privileges, and nothing else listening).
func canBindTCP(_ address: String, _ port: UInt16) -> Bool {
    var v4 = in_addr(), v6 = in6_addr()
    let isV4 = inet_pton(AF_INET, address, &v4) == 1
    guard isV4 || inet_pton(AF_INET6, address, &v6) == 1 else { return false }
    let fd = socket(isV4 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var one: Int32 = 1
    _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    if isV4 {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr = v4
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }
    var a = sockaddr_in6()
    a.sin6_family = sa_family_t(AF_INET6)
    a.sin6_port = port.bigEndian
    a.sin6_addr = v6
    return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } } == 0
}
