// sotpd's configuration: one TOML file, every key optional with a documented default, SOTP_* environment
// overrides, and *_file keys for secrets. Every problem names the key (or the file and line) and sotpd
// exits with code 2.
import Capture
import Flow
import Foundation
import Poller
import Sink
import TOMLKit

/// A configuration problem; `description` is what the operator sees.
struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// The key (`sink.batch_rows`), environment variable, or file the problem is in.
    var key: String
    var problem: String
    var description: String { "config: \"\(key)\" \(problem)" }
}

/// The type and allowed values of a key.
enum ConfigKind: Equatable {
    case int(ClosedRange<Int>)
    case string
    case bool
    case choice([String])
    /// A TOML array of strings; from the environment, comma-separated (`a,b`; empty: none).
    case stringList

    var expected: String {
        switch self {
        case .int(let r): "an integer in \(r.lowerBound)…\(r.upperBound)"
        case .string: "a string"
        case .bool: "true or false"
        case .choice(let c): "one of " + c.map { "\"\($0)\"" }.joined(separator: ", ")
        case .stringList: "an array of strings"
        }
    }
}

/// What a string key's value, or each entry of a list key, must look like beyond being a string.
enum StringFormat: Equatable {
    case ipv4OrEmpty, ipv6OrEmpty, cidr, address, addressRate, cpuList, listenOrEmpty, flowAggregationKey
    case timeZone, prefixZone, hexOrEmpty

    var expected: String {
        switch self {
        case .ipv4OrEmpty: "an IPv4 address, or \"\" to let the kernel choose"
        case .ipv6OrEmpty: "an IPv6 address, or \"\" to let the kernel choose"
        case .cidr: "a CIDR prefix with its host bits zero (\"192.0.2.0/24\", \"2001:db8::/32\")"
        case .address: "an IPv4 or IPv6 address (\"::\" for every address of both)"
        case .addressRate: "ADDRESS=RATE, an exporter address and its 1-in-N sampling rate (\"192.0.2.1=1000\")"
        case .cpuList: "CPU numbers 0…1023 and ranges, comma-separated (\"0,1\", \"2-5\"), or \"\" for none"
        case .listenOrEmpty: "ADDRESS:PORT with an IP address and a port 1…65535 (\"127.0.0.1:9750\", \"[::]:9750\"), or \"\" for none"
        case .flowAggregationKey: "one of the flow fields " + FlowAggregationKeys.names.joined(separator: ", ")
        case .timeZone: "UTC, an offset from UTC (\"+02:00\", \"-0530\") or an IANA zone name (\"Europe/Paris\")"
        case .prefixZone: "PREFIX=ZONE, an address or CIDR prefix and a zone (\"192.0.2.0/24=Europe/Paris\", \"2001:db8::1=+01:00\")"
        case .hexOrEmpty: "an even number of hex digits (5 to 32 bytes), or \"\""
        }
    }

    func accepts(_ s: String) -> Bool {
        switch self {
        case .ipv4OrEmpty: s.isEmpty || IPAddress(s)?.isV4 == true
        case .ipv6OrEmpty: s.isEmpty || IPAddress(s)?.isV4 == false
        case .cidr: IPPrefix(s) != nil
        case .address: IPAddress(s) != nil
        case .addressRate: parseAddressRate(s) != nil
        case .cpuList: parseCPUList(s) != nil
        case .listenOrEmpty: s.isEmpty || parseListen(s) != nil
        case .flowAggregationKey: FlowAggregationKeys(name: s) != nil
        case .timeZone: SourceZone(s) != nil
        case .prefixZone: parsePrefixZone(s) != nil
        case .hexOrEmpty: s.isEmpty || parseHex(s).map { (5...32).contains($0.count) } == true
        }
    }
}

enum ConfigValue: Equatable, CustomStringConvertible {
    case int(Int), string(String), bool(Bool), strings([String])
    var description: String {
        switch self {
        case .int(let v): String(v)
        case .string(let v): "\"\(v)\""
        case .bool(let v): String(v)
        case .strings(let v): "[" + v.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        }
    }
}

/// One documented key.
struct ConfigKey {
    var path: String
    var kind: ConfigKind
    var defaultValue: ConfigValue
    var doc: String
    var secret = false
    /// For string and list keys: the form each value must have (nil: any string).
    var format: StringFormat? = nil

    /// The environment variable that overrides it: `sink.batch_rows` → `SOTP_SINK_BATCH_ROWS`.
    var envName: String { "SOTP_" + path.uppercased().replacingOccurrences(of: ".", with: "_") }
}

/// Every scalar key sotpd reads (the `[[devices]]` list is described apart), in reference order.
let configKeys: [ConfigKey] = [
    .init(path: "database.url", kind: .string, defaultValue: .string("postgresql://sotp@127.0.0.1:55432/sotp"),
          doc: "libpq connection URL or key=value string (without the password)"),
    .init(path: "database.password", kind: .string, defaultValue: .string(""),
          doc: "password; prefer password_file", secret: true),
    .init(path: "database.password_file", kind: .string, defaultValue: .string(""),
          doc: "file holding the password (trailing newline ignored), as Vault's agent injector writes it"),
    .init(path: "database.connect_timeout_s", kind: .int(1...300), defaultValue: .int(5), doc: "connect timeout"),
    .init(path: "database.auto_migrate", kind: .bool, defaultValue: .bool(false),
          doc: "apply pending migrations at start instead of refusing to start"),
    .init(path: "sink.writers", kind: .int(1...32), defaultValue: .int(2),
          doc: "writer threads, each with its own database connection"),
    .init(path: "sink.batch_rows", kind: .int(1...1_000_000), defaultValue: .int(10_000), doc: "seal a batch at this many rows"),
    .init(path: "sink.batch_bytes", kind: .int(4096...(256 << 20)), defaultValue: .int(4 << 20),
          doc: "…or at this many encoded bytes"),
    .init(path: "sink.flush_interval_ms", kind: .int(1...60_000), defaultValue: .int(250),
          doc: "…or when its first row is this old"),
    .init(path: "sink.memory_bytes", kind: .int((1 << 20)...(64 << 30)), defaultValue: .int(256 << 20),
          doc: "sealed batches kept in memory at most; beyond it batches go to the spool"),
    .init(path: "sink.spool_dir", kind: .string, defaultValue: .string("/var/lib/sotp/spool"),
          doc: "on-disk spool for batches the database cannot take"),
    .init(path: "sink.spool_max_bytes", kind: .int(0...(1 << 40)), defaultValue: .int(1 << 30),
          doc: "spool size limit; rows are dropped (and counted) only when memory and spool are both full"),
    .init(path: "sink.spool_fsync", kind: .choice(SpoolFsync.allCases.map(\.rawValue)), defaultValue: .string("always"),
          doc: "always: fsync each spool file and the directory (survives power loss); never: leave it to writeback"),
    .init(path: "sink.shutdown_timeout_s", kind: .int(0...3600), defaultValue: .int(30),
          doc: "on SIGTERM, how long to keep writing before leaving the rest in the spool"),
    .init(path: "retention.metrics_days", kind: .int(1...36500), defaultValue: .int(90),
          doc: "ICMP, SNMP and sotpd's own statistics"),
    .init(path: "retention.logs_days", kind: .int(1...36500), defaultValue: .int(30), doc: "syslog, traps, dead letters"),
    .init(path: "retention.flows_days", kind: .int(1...36500), defaultValue: .int(30), doc: "flow records"),
    .init(path: "retention.events_days", kind: .int(1...36500), defaultValue: .int(730),
          doc: "up/down events (device_events): how far back availability can be computed"),
    .init(path: "retention.maintenance_interval_s", kind: .int(60...86400), defaultValue: .int(3600),
          doc: "how often expired chunks are dropped (Apache edition) and the ledger pruned"),
    .init(path: "log.level", kind: .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]),
          defaultValue: .string("info"), doc: "least severe level logged"),
    .init(path: "log.format", kind: .choice(["text", "json"]), defaultValue: .string("text"),
          doc: "text for people, json (one object a line) for log shippers"),
    .init(path: "stats.interval_s", kind: .int(0...3600), defaultValue: .int(10),
          doc: "how often sotpd writes its own counters to sotp_stats; 0 turns it off"),
    .init(path: "api.listen", kind: .string, defaultValue: .string("127.0.0.1:9750"),
          doc: "address and port of the HTTP API (/healthz, /readyz, /metrics, /api/v1): \"[::]:9750\" for every address; \"\": no API",
          format: .listenOrEmpty),
    .init(path: "api.metrics_auth", kind: .bool, defaultValue: .bool(false),
          doc: "require a viewer token for /metrics too (/healthz and /readyz stay open for probes)"),
    .init(path: "api.max_body_bytes", kind: .int(1024...(64 << 20)), defaultValue: .int(1 << 20),
          doc: "largest request body accepted (413 beyond it)"),
    .init(path: "api.db_connections", kind: .int(1...32), defaultValue: .int(2),
          doc: "database connections the API keeps for /api/v1 (each on a thread of its own)"),
    // The probe keys (interval_s … up_after) are also per-device overrides in [[devices]] with these ranges.
    .init(path: "icmp.enabled", kind: .bool, defaultValue: .bool(true), doc: "run the ICMP poller"),
    .init(path: "icmp.interval_s", kind: .int(1...86400), defaultValue: .int(30), doc: "time between the starts of a target's cycles"),
    .init(path: "icmp.probes", kind: .int(1...64), defaultValue: .int(3), doc: "echo requests per cycle"),
    .init(path: "icmp.spacing_ms", kind: .int(0...60_000), defaultValue: .int(1000), doc: "time between the probes of a cycle"),
    .init(path: "icmp.timeout_ms", kind: .int(1...60_000), defaultValue: .int(5000),
          doc: "a reply later than this is counted late, not received; the last probe's must fit in the interval"),
    .init(path: "icmp.payload_bytes", kind: .int(32...65000), defaultValue: .int(56), doc: "ICMP payload size"),
    .init(path: "icmp.tos", kind: .int(0...255), defaultValue: .int(0), doc: "IPv4 TOS / IPv6 traffic class byte (DSCP << 2)"),
    .init(path: "icmp.source_v4", kind: .string, defaultValue: .string(""),
          doc: "source address for IPv4 targets; empty: the kernel chooses", format: .ipv4OrEmpty),
    .init(path: "icmp.source_v6", kind: .string, defaultValue: .string(""),
          doc: "source address for IPv6 targets; empty: the kernel chooses", format: .ipv6OrEmpty),
    .init(path: "icmp.down_after", kind: .int(1...100), defaultValue: .int(2), doc: "consecutive failed cycles before a target is down"),
    .init(path: "icmp.up_after", kind: .int(1...100), defaultValue: .int(1), doc: "consecutive good cycles before it is up again"),
    .init(path: "icmp.fail_loss_percent", kind: .int(1...100), defaultValue: .int(100),
          doc: "a cycle fails when its loss is at least this (100: only when every probe is lost)"),
    .init(path: "icmp.socket", kind: .choice(ICMPSocketMode.allCases.map(\.rawValue)), defaultValue: .string("auto"),
          doc: "raw (needs CAP_NET_RAW), dgram (unprivileged ICMP, net.ipv4.ping_group_range), auto: raw if permitted"),
    .init(path: "icmp.sender_cpu", kind: .int(-1...1023), defaultValue: .int(-1), doc: "CPU the sender thread is pinned to; -1: not pinned"),
    .init(path: "icmp.sender_priority", kind: .int(0...99), defaultValue: .int(10),
          doc: "SCHED_FIFO priority of the sender thread so probes leave on time on a busy box; 0: normal scheduling"),
    .init(path: "icmp.receiver_priority", kind: .int(0...99), defaultValue: .int(10),
          doc: "SCHED_FIFO priority of the receiver thread so replies are read before the socket buffer fills; 0: normal"),
    .init(path: "icmp.receiver_cpu", kind: .int(-1...1023), defaultValue: .int(-1), doc: "CPU the receiver thread is pinned to; -1: not pinned"),
    .init(path: "icmp.inventory_refresh_s", kind: .int(1...3600), defaultValue: .int(2),
          doc: "how often the poller checks the devices table for changes (one single-row read)"),
    .init(path: "discovery.allow", kind: .stringList, defaultValue: .strings([]),
          doc: "prefixes discovery may sweep; empty: discovery is refused everywhere", format: .cidr),
    .init(path: "discovery.rate_per_s", kind: .int(1...100_000), defaultValue: .int(1000), doc: "probes sent per second at most"),
    .init(path: "discovery.max_addresses", kind: .int(1...16_777_216), defaultValue: .int(65536),
          doc: "addresses one discovery run may cover at most"),
    .init(path: "discovery.timeout_ms", kind: .int(1...60_000), defaultValue: .int(1000), doc: "how long to wait for each reply"),
    .init(path: "flow.enabled", kind: .bool, defaultValue: .bool(true), doc: "receive NetFlow, IPFIX and sFlow"),
    .init(path: "flow.netflow_port", kind: .int(0...65535), defaultValue: .int(2055),
          doc: "UDP port for NetFlow (any port takes any of the three protocols); 0: no listener"),
    .init(path: "flow.ipfix_port", kind: .int(0...65535), defaultValue: .int(4739), doc: "UDP port for IPFIX; 0: no listener"),
    .init(path: "flow.sflow_port", kind: .int(0...65535), defaultValue: .int(6343), doc: "UDP port for sFlow; 0: no listener"),
    .init(path: "flow.bind_address", kind: .string, defaultValue: .string("::"),
          doc: "local address of the flow listeners; \"::\" takes IPv4 and IPv6", format: .address),
    .init(path: "flow.sockets_per_port", kind: .int(1...64), defaultValue: .int(2),
          doc: "SO_REUSEPORT sockets (each with its own receive thread) per port"),
    .init(path: "flow.sampling_override", kind: .stringList, defaultValue: .strings([]),
          doc: "per-exporter sampling rates that win over what the exporter reports (ADDRESS=RATE)", format: .addressRate),
    .init(path: "flow.state_dir", kind: .string, defaultValue: .string("/var/lib/sotp/flow"),
          doc: "where NetFlow v9/IPFIX templates are saved (every minute and at stop) and loaded at start; \"\": not kept"),
    .init(path: "flow.cpus", kind: .string, defaultValue: .string(""),
          doc: "CPUs the receive threads are pinned to: thread i of a port on the i-th (round robin); \"\": not pinned",
          format: .cpuList),
    .init(path: "flow.receive_buffer_bytes", kind: .int((64 << 10)...(1 << 30)), defaultValue: .int(32 << 20),
          doc: "SO_RCVBUF per socket; a warning names net.core.rmem_max when the kernel grants less"),
    .init(path: "flow.raw", kind: .bool, defaultValue: .bool(true),
          doc: "store every record in flows; false with flow.aggregate set: aggregates only"),
    .init(path: "flow.aggregate", kind: .stringList, defaultValue: .strings([]),
          doc: "flows columns to sum records by per minute into flows_1m (e.g. [\"exporter\", \"in_if\"]); empty: off",
          format: .flowAggregationKey),
    .init(path: "flow.aggregate_max_entries", kind: .int(1_000...10_000_000), defaultValue: .int(100_000),
          doc: "keys each receive thread holds per minute (~300 bytes each); when full, rows are written early"),
    .init(path: "probe.interfaces", kind: .stringList, defaultValue: .strings([]),
          doc: "interfaces to capture and build flows from (a SPAN or TAP port); \"any\" for all; empty: no capture probe"),
    .init(path: "probe.threads", kind: .int(1...64), defaultValue: .int(1),
          doc: "capture threads per interface (one TPACKET_V3 ring each, flows spread by PACKET_FANOUT_HASH)"),
    .init(path: "probe.cpus", kind: .string, defaultValue: .string(""),
          doc: "CPUs the capture threads are pinned to, round robin; \"\": not pinned", format: .cpuList),
    .init(path: "probe.filter", kind: .string, defaultValue: .string(""),
          doc: "tcpdump filter expression run in the kernel (\"not port 22\"); \"\": every packet"),
    .init(path: "probe.sampling", kind: .int(1...1_000_000), defaultValue: .int(1),
          doc: "keep 1 packet in N, chosen at random in the kernel; records carry N so counts scale"),
    .init(path: "probe.snap_length", kind: .int(64...65535), defaultValue: .int(256),
          doc: "bytes of each packet copied to the ring: the headers the flow key needs"),
    .init(path: "probe.ring_bytes", kind: .int((1 << 20)...(1 << 32)), defaultValue: .int(64 << 20),
          doc: "ring size per capture thread (locked in memory when the limit allows)"),
    .init(path: "probe.block_bytes", kind: .int(4096...(1 << 28)), defaultValue: .int(1 << 20),
          doc: "ring block size, a power of two; a block reaches sotpd when full or after 50 ms"),
    .init(path: "probe.idle_timeout_s", kind: .int(1...3600), defaultValue: .int(15),
          doc: "a flow with no packet for this long is written"),
    .init(path: "probe.active_timeout_s", kind: .int(1...86400), defaultValue: .int(60),
          doc: "a longer flow is written every this long (as NetFlow's active timeout)"),
    .init(path: "probe.max_flows", kind: .int(1_000...10_000_000), defaultValue: .int(262_144),
          doc: "flows each capture thread holds (~250 bytes each); when full, idle ones are written early"),
    .init(path: "probe.exporter_address", kind: .string, defaultValue: .string("127.0.0.1"),
          doc: "the exporter address the probe's flows carry (flows.exporter, flow_exporters)", format: .address),
    .init(path: "syslog.enabled", kind: .bool, defaultValue: .bool(true), doc: "receive syslog over UDP, TCP and TLS"),
    .init(path: "syslog.udp_port", kind: .int(-1...65535), defaultValue: .int(-1),
          doc: "UDP port; -1: 514 when the process may bind it, else 5514; 0: no UDP listener"),
    .init(path: "syslog.tcp_port", kind: .int(-1...65535), defaultValue: .int(-1),
          doc: "TCP port (RFC 6587 octet counting or LF/CRLF/NUL framing, detected per connection); -1: 514 when the process may bind it, else 5514; 0: none"),
    .init(path: "syslog.tls_port", kind: .int(0...65535), defaultValue: .int(6514),
          doc: "TLS port (RFC 5425), used only when syslog.tls_certificate is set; 0: none"),
    .init(path: "syslog.tls_certificate", kind: .string, defaultValue: .string(""),
          doc: "PEM certificate chain for the TLS listener; \"\": no TLS"),
    .init(path: "syslog.tls_private_key", kind: .string, defaultValue: .string(""), doc: "PEM private key of that certificate"),
    .init(path: "syslog.tls_client_ca", kind: .string, defaultValue: .string(""),
          doc: "PEM CA bundle; when set, TLS clients must present a certificate it signed"),
    .init(path: "syslog.bind_address", kind: .string, defaultValue: .string("::"),
          doc: "local address of the syslog listeners; \"::\" takes IPv4 and IPv6", format: .address),
    .init(path: "syslog.sockets_per_port", kind: .int(1...64), defaultValue: .int(2),
          doc: "SO_REUSEPORT UDP sockets (each with its own receive thread); also the TCP event-loop threads"),
    .init(path: "syslog.receive_buffer_bytes", kind: .int((64 << 10)...(1 << 30)), defaultValue: .int(32 << 20),
          doc: "SO_RCVBUF per UDP socket; a warning names net.core.rmem_max when the kernel grants less"),
    .init(path: "syslog.max_message_bytes", kind: .int(2048...(16 << 20)), defaultValue: .int(64 << 10),
          doc: "largest TCP/TLS message kept whole; longer ones are stored truncated to it and counted (UDP keeps any datagram whole)"),
    .init(path: "syslog.tcp_max_connections", kind: .int(1...1_000_000), defaultValue: .int(10_000),
          doc: "open TCP/TLS connections at most; more are refused and counted"),
    .init(path: "syslog.tcp_idle_timeout_s", kind: .int(0...86400), defaultValue: .int(0),
          doc: "close a TCP/TLS connection silent this long; 0: never (TCP keepalive still finds dead peers)"),
    .init(path: "syslog.timezone", kind: .string, defaultValue: .string("UTC"),
          doc: "zone of timestamps that carry none (RFC 3164): UTC, an offset (\"+02:00\") or an IANA name (\"Europe/Paris\")",
          format: .timeZone),
    .init(path: "syslog.source_timezones", kind: .stringList, defaultValue: .strings([]),
          doc: "per-source zones that win over syslog.timezone: PREFIX=ZONE (\"192.0.2.0/24=America/New_York\"); the longest prefix wins",
          format: .prefixZone),
    .init(path: "traps.enabled", kind: .bool, defaultValue: .bool(true), doc: "receive SNMP traps and informs"),
    .init(path: "traps.port", kind: .int(-1...65535), defaultValue: .int(-1),
          doc: "UDP port; -1: 162 when the process may bind it, else 1162; 0: none"),
    .init(path: "traps.bind_address", kind: .string, defaultValue: .string("::"),
          doc: "local address of the trap listener; \"::\" takes IPv4 and IPv6", format: .address),
    .init(path: "traps.sockets", kind: .int(1...64), defaultValue: .int(1), doc: "SO_REUSEPORT sockets (a receive thread each)"),
    .init(path: "traps.communities", kind: .stringList, defaultValue: .strings([]),
          doc: "v1/v2c communities accepted; empty: any (others are counted and dropped)"),
    .init(path: "traps.engine_id", kind: .string, defaultValue: .string(""),
          doc: "SNMPv3 engine ID of this receiver (hex), which v3 informs are sent to; \"\": generated once and kept in traps.state_file",
          format: .hexOrEmpty),
    .init(path: "traps.state_file", kind: .string, defaultValue: .string("/var/lib/sotp/snmp-engine"),
          doc: "where the generated engine ID and the boot counter (RFC 3414 snmpEngineBoots) are kept"),
    .init(path: "traps.mibs", kind: .string, defaultValue: .string("ALL"),
          doc: "MIB modules net-snmp loads to name trap and varbind OIDs: \"ALL\" or names joined by \":\"; \"\": store numeric OIDs only"),
    .init(path: "traps.mib_dirs", kind: .stringList, defaultValue: .strings([]),
          doc: "directories of MIB files; empty: net-snmp's default ($HOME/.snmp/mibs, /usr/share/snmp/mibs and its iana and ietf)"),
    // The per-device keys (version … max_repetitions) are also overrides in devices.settings and [[devices]]
    // as snmp_<key> (snmp_version = "3", snmp_user = "monitor"…).
    .init(path: "snmp.enabled", kind: .bool, defaultValue: .bool(true), doc: "poll the devices that have snmp = true"),
    .init(path: "snmp.interval_s", kind: .int(10...86400), defaultValue: .int(300), doc: "time between the starts of a device's polls"),
    .init(path: "snmp.version", kind: .choice(["1", "2c", "3"]), defaultValue: .string("2c"), doc: "SNMP version"),
    .init(path: "snmp.community", kind: .string, defaultValue: .string("public"), doc: "v1/v2c community", secret: true),
    .init(path: "snmp.user", kind: .string, defaultValue: .string(""),
          doc: "v3: the name of a [[snmp_users]] entry (its protocols and passphrases); required with version \"3\""),
    .init(path: "snmp.security_level", kind: .choice(["", "noAuthNoPriv", "authNoPriv", "authPriv"]), defaultValue: .string(""),
          doc: "v3 security level; \"\": the highest the user's keys allow"),
    .init(path: "snmp.context", kind: .string, defaultValue: .string(""), doc: "v3 contextName"),
    .init(path: "snmp.port", kind: .int(1...65535), defaultValue: .int(161), doc: "agent UDP port"),
    .init(path: "snmp.timeout_ms", kind: .int(10...60_000), defaultValue: .int(2000), doc: "wait for each response this long before resending"),
    .init(path: "snmp.retries", kind: .int(0...10), defaultValue: .int(2), doc: "resends after the first attempt"),
    .init(path: "snmp.max_repetitions", kind: .int(1...1000), defaultValue: .int(25),
          doc: "GETBULK max-repetitions (agents may answer fewer; 1 walks with GETNEXT)"),
    .init(path: "snmp.max_oids_per_request", kind: .int(1...256), defaultValue: .int(8),
          doc: "OIDs (table columns) in one request; tooBig answers halve repetitions, then OIDs, by themselves"),
    .init(path: "snmp.max_in_flight", kind: .int(1...65536), defaultValue: .int(1000),
          doc: "requests in flight at once over all devices (a device has one at a time)"),
    .init(path: "snmp.sockets", kind: .int(1...64), defaultValue: .int(2), doc: "UDP sockets per address family shared by every device"),
    .init(path: "snmp.profile_dirs", kind: .stringList, defaultValue: .strings(["profiles/snmp"]),
          doc: "directories of vendor profiles (*.toml: vendor CPU/memory OIDs and categorisation); relative to the working directory"),
    .init(path: "snmp.inventory_refresh_s", kind: .int(1...3600), defaultValue: .int(5),
          doc: "how often the poller checks the devices table for changes"),
] + alertConfigKeys

/// The `[icmp]` section, typed.
struct ICMPConfig: Sendable, Equatable {
    var enabled: Bool
    /// Settings of a target without overrides, except `source`, which depends on the address family
    /// (see `settings(for:)`); here it is nil.
    var defaults: ProbeSettings
    /// Source addresses by family; nil: the kernel chooses.
    var sourceV4: IPAddress?
    var sourceV6: IPAddress?
    var socket: ICMPSocketMode
    /// CPUs the sender and receiver threads are pinned to; nil: not pinned.
    var senderCPU: Int?
    var senderPriority: Int
    var receiverPriority: Int
    var receiverCPU: Int?
    /// How often the poller reads sotp.inventory_version.
    var inventoryRefresh: Duration

    /// The defaults for a target at `address`, with the source of its family.
    func settings(for address: IPAddress) -> ProbeSettings {
        var s = defaults
        s.source = address.isV4 ? sourceV4 : sourceV6
        return s
    }
}

/// The `[discovery]` section, typed.
struct DiscoveryConfig: Sendable, Equatable {
    /// Where discovery may send; empty: nowhere.
    var allow: [IPPrefix]
    var ratePerSecond: Int
    var maxAddresses: Int
    var timeout: Duration
}

/// A device from `[[devices]]`: upserted by name into the `devices` table at start.
struct DeviceConfig: Equatable {
    var name: String
    var address: String
    var tags: [String] = []
    var enabled = true
    var icmp = true
    var snmp = false
    /// ICMP probe settings of this device alone (`timeout_ms = 800`…), seeded into devices.settings.
    var probe = ProbeOverrides()
    /// SNMP settings of this device alone (`snmp_version = "3"`…), seeded into devices.settings.
    var snmpOverrides = SNMPOverrides()

    /// devices.settings as configured: the ICMP and SNMP overrides.
    var settingsJSON: String {
        "{" + (probe.entries + snmpOverrides.jsonMembers).map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// The parsed, validated configuration.
struct Config {
    var values: [String: ConfigValue]
    var devices: [DeviceConfig]
    /// The password after reading password_file; nil when none is set.
    var databasePassword: String?
    /// `[[snmp_users]]`: SNMPv3 users (traps and informs now, the SNMP poller later), secrets resolved.
    var snmpUsers: [SNMPUserConfig] = []
    /// `[[api_tokens]]`: bearer tokens of /api/v1, as digests.
    var apiTokens: [APIToken] = []
    /// `[[alerts.webhooks]]`, secrets resolved.
    var alertWebhooks: [WebhookConfig] = []

    func int(_ key: String) -> Int {
        guard case .int(let v) = values[key] else { preconditionFailure("\(key) is not an int key") }
        return v
    }

    func string(_ key: String) -> String {
        guard case .string(let v) = values[key] else { preconditionFailure("\(key) is not a string key") }
        return v
    }

    func bool(_ key: String) -> Bool {
        guard case .bool(let v) = values[key] else { preconditionFailure("\(key) is not a bool key") }
        return v
    }

    func strings(_ key: String) -> [String] {
        guard case .strings(let v) = values[key] else { preconditionFailure("\(key) is not a list key") }
        return v
    }

    /// The `[icmp]` section. Valid by construction: `parse` checked every value.
    var icmp: ICMPConfig {
        var d = ProbeSettings()
        d.interval = .seconds(int("icmp.interval_s"))
        d.probes = int("icmp.probes")
        d.spacing = .milliseconds(int("icmp.spacing_ms"))
        d.timeout = .milliseconds(int("icmp.timeout_ms"))
        d.payloadBytes = int("icmp.payload_bytes")
        d.tos = UInt8(int("icmp.tos"))
        d.downAfter = int("icmp.down_after")
        d.upAfter = int("icmp.up_after")
        d.failLossPercent = Double(int("icmp.fail_loss_percent"))
        let cpu = { (key: String) -> Int? in int(key) < 0 ? nil : int(key) }
        return ICMPConfig(
            enabled: bool("icmp.enabled"), defaults: d,
            sourceV4: IPAddress(string("icmp.source_v4")), sourceV6: IPAddress(string("icmp.source_v6")),
            socket: ICMPSocketMode(rawValue: string("icmp.socket"))!,
            senderCPU: cpu("icmp.sender_cpu"), senderPriority: int("icmp.sender_priority"), receiverPriority: int("icmp.receiver_priority"), receiverCPU: cpu("icmp.receiver_cpu"),
            inventoryRefresh: .seconds(int("icmp.inventory_refresh_s")))
    }

    /// The probe settings of a target without overrides (source nil: see `ICMPConfig.settings(for:)`).
    var icmpDefaults: ProbeSettings { icmp.defaults }

    /// The `[discovery]` section.
    var discovery: DiscoveryConfig {
        DiscoveryConfig(
            allow: discoveryAllow, ratePerSecond: int("discovery.rate_per_s"),
            maxAddresses: int("discovery.max_addresses"), timeout: .milliseconds(int("discovery.timeout_ms")))
    }

    /// Where discovery may send; empty: nowhere.
    var discoveryAllow: [IPPrefix] { strings("discovery.allow").compactMap { IPPrefix($0) } }

    /// flow.sampling_override as exporter → rate.
    /// How flow records are stored (flow.raw, flow.aggregate, flow.aggregate_max_entries), for the flow
    /// listeners, the capture probe and replay alike.
    var flowStorage: FlowStorage {
        FlowStorage(raw: bool("flow.raw"), aggregateKeys: flowAggregateKeys, aggregateMaxEntries: int("flow.aggregate_max_entries"))
    }

    /// The capture probe's flow table from [probe]: timeouts, max_flows, exporter_address. The sampling
    /// rate and observation domain are the caller's (a live interface's, or none for replay).
    var probeCacheOptions: FlowCacheOptions {
        var o = FlowCacheOptions()
        o.idleTimeoutMicros = Int64(int("probe.idle_timeout_s")) * 1_000_000
        o.activeTimeoutMicros = Int64(int("probe.active_timeout_s")) * 1_000_000
        o.maxEntries = int("probe.max_flows")
        o.exporter = probeExporter
        return o
    }

    /// probe.cpus as CPU numbers, in the order given.
    var probeCPUs: [Int] { parseCPUList(string("probe.cpus")) ?? [] }

    /// probe.exporter_address as a flow address (127.0.0.1 if it does not parse, which `parse` rules out).
    var probeExporter: FlowIP {
        switch IPAddress(string("probe.exporter_address")) {
        case .v4(let v): FlowIP(v4: v)
        case .v6(let h, let l): FlowIP(v6High: h, v6Low: l)
        case nil: FlowIP(v4: 0x7f00_0001)
        }
    }

    var samplingOverrides: [FlowIP: UInt32] {
        var out: [FlowIP: UInt32] = [:]
        for entry in strings("flow.sampling_override") {
            if let (a, rate) = parseAddressRate(entry) {
                switch a {
                case .v4(let v): out[FlowIP(v4: v)] = rate
                case .v6(let h, let l): out[FlowIP(v6High: h, v6Low: l)] = rate
                }
            }
        }
        return out
    }

    /// flow.aggregate as a key set; empty: aggregation is off. Valid by construction: `parse` checked
    /// every name.
    var flowAggregateKeys: FlowAggregationKeys { FlowAggregationKeys(names: strings("flow.aggregate")) ?? [] }

    /// The flow listeners: one per non-zero port, duplicates merged.
    /// flow.cpus as CPU numbers, in the order given.
    var flowCPUs: [Int] { parseCPUList(string("flow.cpus")) ?? [] }

    var flowListeners: [UInt16] {
        var seen = Set<Int>()
        return ["flow.netflow_port", "flow.ipfix_port", "flow.sflow_port"].map { int($0) }
            .filter { $0 != 0 && seen.insert($0).inserted }.map { UInt16($0) }
    }

    /// api.listen as host and port; nil when the API is off ("").
    var apiListen: (host: String, port: Int)? { parseListen(string("api.listen")) }

    /// The API's tokens, limits and the validators its requests go through.
    var apiSettings: APISettings {
        APISettings(
            tokens: APITokenStore(apiTokens), metricsAuth: bool("api.metrics_auth"), maxBodyBytes: int("api.max_body_bytes"),
            dbConnections: int("api.db_connections"), connectInfo: connectInfo,
            devices: DeviceValidator(icmp: ICMPInventory(icmp: icmp), snmp: SNMPConfig(self)),
            ingest: IngestParser(retentionDays: int("retention.metrics_days")))
    }

    /// database.url with any password in it replaced by `***`, for logs.
    var redactedDatabaseURL: String { redactPassword(string("database.url")) }

    var connectInfo: PGConnectInfo {
        PGConnectInfo(url: string("database.url"), password: databasePassword, connectTimeoutSeconds: int("database.connect_timeout_s"))
    }

    var sinkSettings: SinkSettings {
        var s = SinkSettings(connection: connectInfo, spoolDirectory: string("sink.spool_dir"))
        s.writers = int("sink.writers")
        s.batchRows = int("sink.batch_rows")
        s.batchBytes = int("sink.batch_bytes")
        s.flushInterval = .milliseconds(int("sink.flush_interval_ms"))
        s.memoryBytes = int("sink.memory_bytes")
        s.spoolMaxBytes = int("sink.spool_max_bytes")
        s.spoolFsync = SpoolFsync(rawValue: string("sink.spool_fsync"))!
        return s
    }

    var retention: Retention {
        Retention(
            metricsDays: int("retention.metrics_days"), logsDays: int("retention.logs_days"),
            flowsDays: int("retention.flows_days"), eventsDays: int("retention.events_days"))
    }

    /// Reads `path` (nil: defaults only) and applies `environment` overrides.
    static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> Config {
        var text = ""
        if let path {
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigError(key: path, problem: "cannot be read: \((error as NSError).localizedDescription)")
            }
        }
        return try parse(text, source: path ?? "(defaults)", environment: environment)
    }

    /// Parses TOML text; `source` names it in messages.
    static func parse(_ text: String, source: String, environment: [String: String] = [:]) throws(ConfigError) -> Config {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(key: source, problem: "is not valid TOML at line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        } catch {
            throw ConfigError(key: source, problem: "is not valid TOML: \(error)")
        }
        var values = Dictionary(uniqueKeysWithValues: configKeys.map { ($0.path, $0.defaultValue) })
        let byPath = Dictionary(uniqueKeysWithValues: configKeys.map { ($0.path, $0) })
        let sections = Set(configKeys.map { String($0.path.split(separator: ".")[0]) })
        var devices: [DeviceConfig] = []
        var snmpUsers: [SNMPUserConfig] = []
        var apiTokens: [APIToken] = []
        var webhooks: [WebhookConfig] = []

        for (name, value) in table {
            if name == "devices" {
                devices = try parseDevices(value)
                continue
            }
            if name == "snmp_users" {
                snmpUsers = try parseSNMPUsers(value)
                continue
            }
            if name == "api_tokens" {
                apiTokens = try parseAPITokens(value)
                continue
            }
            guard sections.contains(name) else {
                throw ConfigError(key: name, problem: "is not a known section\(suggest(name, among: sections.sorted() + ["devices", "snmp_users", "api_tokens"]))")
            }
            guard let section = value.table else {
                throw ConfigError(key: name, problem: "must be a table ([\(name)]), got \(describe(value))")
            }
            for (k, v) in section {
                let path = "\(name).\(k)"
                if path == "alerts.webhooks" {
                    webhooks = try parseWebhooks(v)
                    continue
                }
                guard let key = byPath[path] else {
                    let known = configKeys.filter { $0.path.hasPrefix(name + ".") }.map { String($0.path.dropFirst(name.count + 1)) }
                        + (name == "alerts" ? ["webhooks"] : [])
                    throw ConfigError(key: path, problem: "is not a known key\(suggest(k, among: known, prefix: name + "."))")
                }
                values[path] = try convert(v, for: key)
            }
        }
        for key in configKeys {
            if let raw = environment[key.envName] {
                values[key.path] = try convertEnv(raw, for: key)
            }
        }
        var config = Config(
            values: values, devices: devices, databasePassword: nil, snmpUsers: snmpUsers, apiTokens: apiTokens, alertWebhooks: webhooks)
        try config.resolveSecrets()
        try config.crossCheck()
        return config
    }

    private mutating func resolveSecrets() throws(ConfigError) {
        let pw = string("database.password"), file = string("database.password_file")
        if !pw.isEmpty && !file.isEmpty {
            throw ConfigError(key: "database.password_file", problem: "and database.password are both set: keep one")
        }
        if !file.isEmpty {
            databasePassword = try readSecret(file, key: "database.password_file")
        } else if !pw.isEmpty {
            databasePassword = pw
        }
    }

    private func crossCheck() throws(ConfigError) {
        if string("database.url").isEmpty { throw ConfigError(key: "database.url", problem: "must not be empty") }
        if string("sink.spool_dir").isEmpty { throw ConfigError(key: "sink.spool_dir", problem: "must not be empty") }
        if int("sink.spool_max_bytes") > 0 && int("sink.spool_max_bytes") < int("sink.batch_bytes") {
            throw ConfigError(key: "sink.spool_max_bytes", problem: "must be 0 (no spool) or at least sink.batch_bytes (\(int("sink.batch_bytes"))), got \(int("sink.spool_max_bytes"))")
        }
        if int("sink.memory_bytes") < 2 * int("sink.batch_bytes") {
            throw ConfigError(key: "sink.memory_bytes", problem: "must be at least twice sink.batch_bytes (\(2 * int("sink.batch_bytes"))), got \(int("sink.memory_bytes"))")
        }
        if bool("flow.enabled") && !bool("flow.raw") && strings("flow.aggregate").isEmpty {
            throw ConfigError(key: "flow.raw", problem: "is false and flow.aggregate is empty, so every flow record would be dropped: name the fields to aggregate by in flow.aggregate, or set flow.raw = true")
        }
        if let problem = CaptureFilter.problem(string("probe.filter")) {
            throw ConfigError(key: "probe.filter", problem: "is not a filter libpcap compiles: \(problem)")
        }
        let block = int("probe.block_bytes")
        if block & (block - 1) != 0 {
            throw ConfigError(key: "probe.block_bytes", problem: "must be a power of two (4096, 65536, 1048576…), got \(block)")
        }
        if int("probe.ring_bytes") < 2 * block {
            throw ConfigError(key: "probe.ring_bytes", problem: "must hold at least two blocks of probe.block_bytes (\(2 * block)), got \(int("probe.ring_bytes"))")
        }
        if int("probe.active_timeout_s") < int("probe.idle_timeout_s") {
            throw ConfigError(key: "probe.active_timeout_s", problem: "must be at least probe.idle_timeout_s (\(int("probe.idle_timeout_s"))), got \(int("probe.active_timeout_s"))")
        }
        for (i, name) in strings("probe.interfaces").enumerated() where name.isEmpty || name.count > 15 || name.contains("/") {
            throw ConfigError(key: "probe.interfaces[\(i)]", problem: "\"\(name)\" is not an interface name (1–15 characters, no \"/\")")
        }
        let icmp = icmp
        if let p = icmp.defaults.problem {
            throw ConfigError(key: "icmp.timeout_ms", problem: "does not fit with the other [icmp] settings: \(p)")
        }
        // A device's overrides combine with the defaults (after environment overrides), so they are
        // checked here rather than where [[devices]] is parsed.
        for (i, d) in devices.enumerated() {
            guard let address = IPAddress(d.address) else { continue }  // parseDevices checked it
            if case .failure(let e) = d.probe.settings(for: address, icmp: icmp) {
                throw ConfigError(key: "devices[\(i)].\(e.key)", problem: e.problem)
            }
        }
        // SNMPv3 users are named, not inlined: the default and every device's must exist.
        let snmp = SNMPConfig(self)
        if snmp.enabled, case .failure(let e) = snmp.target(.v4(0x7f00_0001), SNMPOverrides()), string("snmp.version") == "3" {
            throw ConfigError(key: e.key == "snmp_user" ? "snmp.user" : "snmp.security_level", problem: e.problem)
        }
        for (i, d) in devices.enumerated() where d.snmp {
            guard let address = IPAddress(d.address) else { continue }
            if case .failure(let e) = snmp.target(address, d.snmpOverrides) {
                throw ConfigError(key: "devices[\(i)].\(e.key)", problem: e.problem)
            }
        }
        try checkAlerts()
        // The vendor profiles are configuration too: a broken file stops sotpd (and check-config) here,
        // naming the file and key. A missing directory is only a warning at start.
        if snmp.enabled {
            do { _ = try SNMPProfileLoader.load(dirs: snmp.profileDirs) } catch {
                throw ConfigError(key: "snmp.profile_dirs", problem: "has a profile that cannot be used: \(error)")
            }
        }
    }

    /// A redacted, effective view for `sotpd check-config`.
    var effective: String {
        var out = ""
        var section = ""
        for key in configKeys {
            let parts = key.path.split(separator: ".", maxSplits: 1).map(String.init)
            if parts[0] != section {
                section = parts[0]
                out += (out.isEmpty ? "" : "\n") + "[\(section)]\n"
            }
            let v = values[key.path]!
            let shown = key.secret && v != .string("") ? "\"<redacted>\"" : v.description
            out += "\(parts[1]) = \(shown)\n"
        }
        for d in devices {
            out += "\n[[devices]]\nname = \"\(d.name)\"\naddress = \"\(d.address)\"\ntags = [\(d.tags.map { "\"\($0)\"" }.joined(separator: ", "))]\nenabled = \(d.enabled)\nicmp = \(d.icmp)\nsnmp = \(d.snmp)\n"
            for (k, v) in d.probe.entries { out += "\(k) = \(v)\n" }
            for (k, v) in d.snmpOverrides.jsonMembers {
                // A device's community is a secret like snmp.community.
                out += "\(k) = \(k == "snmp_community" ? "\"<redacted>\"" : v)\n"
            }
        }
        for t in apiTokens {
            // The digest is shown: it is what the file holds anyway, and it tells which token is which.
            out += "\n[[api_tokens]]\nname = \"\(t.name)\"\nrole = \"\(t.role.rawValue)\"\ntoken_sha256 = \"\(t.sha256.map { String(format: "%02x", $0) }.joined())\"\n"
        }
        return out + alertsEffective
    }
}

// MARK: conversions

private func describe(_ v: TOMLValueConvertible) -> String {
    switch v.type {
    case .string: "string \"\(v.string ?? "")\""
    case .int: "integer \(v.int.map(String.init) ?? "?")"
    case .double: "float \(v.double.map { String($0) } ?? "?")"
    case .bool: "boolean \(v.bool.map(String.init) ?? "?")"
    case .table: "a table"
    case .array: "an array"
    default: "a date or time"
    }
}

private func convert(_ v: TOMLValueConvertible, for key: ConfigKey) throws(ConfigError) -> ConfigValue {
    let bad = ConfigError(key: key.path, problem: "must be \(key.kind.expected), got \(describe(v))")
    switch key.kind {
    case .int(let range):
        guard v.type == .int, let i = v.int else { throw bad }
        guard range.contains(i) else { throw bad }
        return .int(i)
    case .string:
        guard let s = v.string, v.type == .string else { throw bad }
        if let f = key.format, !f.accepts(s) {
            throw ConfigError(key: key.path, problem: "must be \(f.expected), got \"\(s)\"")
        }
        return .string(s)
    case .bool:
        guard v.type == .bool, let b = v.bool else { throw bad }
        return .bool(b)
    case .choice(let options):
        guard let s = v.string, v.type == .string, options.contains(s) else { throw bad }
        return .string(s)
    case .stringList:
        guard v.type == .array, let a = v.array else { throw bad }
        var out: [String] = []
        for (i, e) in a.enumerated() {
            let at = "\(key.path)[\(i)]"
            guard e.type == .string, let s = e.string else {
                throw ConfigError(key: at, problem: "must be \(key.format?.expected ?? "a string"), got \(describe(e))")
            }
            if let f = key.format, !f.accepts(s) { throw ConfigError(key: at, problem: "must be \(f.expected), got \"\(s)\"") }
            out.append(s)
        }
        return .strings(out)
    }
}

private func convertEnv(_ raw: String, for key: ConfigKey) throws(ConfigError) -> ConfigValue {
    let bad = ConfigError(key: key.envName, problem: "(overriding \(key.path)) must be \(key.kind.expected), got \"\(raw)\"")
    switch key.kind {
    case .int(let range):
        guard let i = Int(raw.replacingOccurrences(of: "_", with: "")), range.contains(i) else { throw bad }
        return .int(i)
    case .string:
        if let f = key.format, !f.accepts(raw) {
            throw ConfigError(key: key.envName, problem: "(overriding \(key.path)) must be \(f.expected), got \"\(raw)\"")
        }
        return .string(raw)
    case .stringList:
        let items = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for (i, s) in items.enumerated() {
            if let f = key.format, !f.accepts(s) {
                throw ConfigError(key: key.envName, problem: "(overriding \(key.path)[\(i)]) must be \(f.expected), got \"\(s)\"")
            }
        }
        return .strings(items)
    case .bool:
        switch raw.lowercased() {
        case "true", "1", "yes", "on": return .bool(true)
        case "false", "0", "no", "off": return .bool(false)
        default: throw bad
        }
    case .choice(let options):
        guard options.contains(raw) else { throw bad }
        return .string(raw)
    }
}

/// Reads a secret file, dropping one trailing newline; an empty or missing file is an error.
func readSecret(_ path: String, key: String) throws(ConfigError) -> String {
    guard FileManager.default.fileExists(atPath: path) else {
        throw ConfigError(key: key, problem: "names \(path), which does not exist")
    }
    guard let data = FileManager.default.contents(atPath: path), var s = String(data: data, encoding: .utf8) else {
        throw ConfigError(key: key, problem: "names \(path), which cannot be read as UTF-8 text")
    }
    if s.hasSuffix("\r\n") { s.removeLast(2) } else if s.hasSuffix("\n") { s.removeLast() }
    guard !s.isEmpty else { throw ConfigError(key: key, problem: "names \(path), which is empty") }
    return s
}

private func parseDevices(_ value: TOMLValueConvertible) throws(ConfigError) -> [DeviceConfig] {
    guard let array = value.array else {
        throw ConfigError(key: "devices", problem: "must be an array of tables ([[devices]]), got \(describe(value))")
    }
    var out: [DeviceConfig] = []
    var names = Set<String>()
    for (i, item) in array.enumerated() {
        let at = "devices[\(i)]"
        guard let t = item.table else { throw ConfigError(key: at, problem: "must be a table, got \(describe(item))") }
        var d = DeviceConfig(name: "", address: "")
        for (k, v) in t {
            let path = "\(at).\(k)"
            switch k {
            case "name", "address":
                guard v.type == .string, let s = v.string, !s.isEmpty else {
                    throw ConfigError(key: path, problem: "must be a non-empty string, got \(describe(v))")
                }
                if k == "name" { d.name = s } else { d.address = s }
            case "tags":
                guard let a = v.array else { throw ConfigError(key: path, problem: "must be an array of strings, got \(describe(v))") }
                var tags: [String] = []
                for e in a {
                    guard e.type == .string, let s = e.string else {
                        throw ConfigError(key: path, problem: "must be an array of strings, got an element \(describe(e))")
                    }
                    tags.append(s)
                }
                d.tags = tags
            case "enabled", "icmp", "snmp":
                guard v.type == .bool, let b = v.bool else { throw ConfigError(key: path, problem: "must be true or false, got \(describe(v))") }
                switch k {
                case "enabled": d.enabled = b
                case "icmp": d.icmp = b
                default: d.snmp = b
                }
            case "source":
                guard v.type == .string, let s = v.string, let a = IPAddress(s) else {
                    throw ConfigError(key: path, problem: "must be an IPv4 or IPv6 address, got \(describe(v))")
                }
                d.probe.source = a
            case _ where ProbeOverrides.intKeys.contains(k):
                let range = ProbeOverrides.range(of: k)
                guard v.type == .int, let n = v.int, range.contains(n) else {
                    throw ConfigError(key: path, problem: "must be \(ConfigKind.int(range).expected), got \(describe(v))")
                }
                d.probe.ints[k] = n
            case _ where SNMPOverrides.intKeys.contains { $0.0 == k }:
                let range = SNMPOverrides.intKeys.first { $0.0 == k }!.1
                guard v.type == .int, let n = v.int, range.contains(n) else {
                    throw ConfigError(key: path, problem: "must be \(ConfigKind.int(range).expected), got \(describe(v))")
                }
                d.snmpOverrides.ints[k] = n
            case _ where SNMPOverrides.stringKeys.contains { $0.0 == k }:
                guard v.type == .string, let s = v.string else { throw ConfigError(key: path, problem: "must be a string, got \(describe(v))") }
                do { try SNMPOverrides.check(k, s, SNMPOverrides.stringKeys.first { $0.0 == k }!.1) } catch {
                    throw ConfigError(key: path, problem: error.problem)
                }
                d.snmpOverrides.strings[k] = s
            default:
                let known = ["name", "address", "tags", "enabled", "icmp", "snmp"] + ProbeOverrides.keys + SNMPOverrides.keys
                throw ConfigError(key: path, problem: "is not a known key\(suggest(k, among: known, prefix: at + "."))")
            }
        }
        if d.name.isEmpty { throw ConfigError(key: "\(at).name", problem: "is required") }
        if d.address.isEmpty { throw ConfigError(key: "\(at).address", problem: "is required") }
        guard IPAddress(d.address) != nil else {
            throw ConfigError(key: "\(at).address", problem: "must be an IPv4 or IPv6 address, got \"\(d.address)\"")
        }
        guard names.insert(d.name).inserted else {
            throw ConfigError(key: "\(at).name", problem: "repeats the device name \"\(d.name)\"")
        }
        out.append(d)
    }
    return out
}

/// A libpq URL or key=value string with its password (`user:pw@`, `password=pw`) masked.
func redactPassword(_ url: String) -> String {
    var out = url
    if let scheme = out.range(of: "://"), let at = out[scheme.upperBound...].firstIndex(of: "@"),
       let colon = out[scheme.upperBound..<at].firstIndex(of: ":") {
        out.replaceSubrange(out.index(after: colon)..<at, with: "***")
    }
    if let r = out.range(of: #"password\s*=\s*('([^'\\]|\\.)*'|[^\s&]*)"#, options: .regularExpression) {
        out.replaceSubrange(r, with: "password=***")
    }
    return out
}

/// ", did you mean "x"?" for the closest known name within two edits, else "" or the list of names.
private func suggest(_ name: String, among known: [String], prefix: String = "") -> String {
    let best = known.map { ($0, editDistance($0, name)) }.min { $0.1 < $1.1 }
    if let best, best.1 <= 2 { return " (did you mean \"\(prefix)\(best.0)\"?)" }
    return " (known: \(known.joined(separator: ", ")))"
}

private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var prev = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return a.isEmpty ? b.count : prev[b.count]
}

/// "ADDRESS=RATE" with a rate of 1…2^31−1; nil otherwise.
func parseAddressRate(_ s: String) -> (IPAddress, UInt32)? {
    let parts = s.split(separator: "=", maxSplits: 1)
    guard parts.count == 2, let a = IPAddress(parts[0].trimmingCharacters(in: .whitespaces)),
          let r = UInt32(parts[1].trimmingCharacters(in: .whitespaces)), r >= 1, r <= UInt32(Int32.max)
    else { return nil }
    return (a, r)
}

/// "0,2-3" → [0, 2, 3]; "" → []; nil for anything else (numbers outside 0…1023, reversed ranges).
func parseCPUList(_ s: String) -> [Int]? {
    let text = s.filter { $0 != " " }
    if text.isEmpty { return [] }
    var out: [Int] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count <= 2, let lo = Int(bounds[0]), let hi = Int(bounds.last!), 0 <= lo, lo <= hi, hi <= 1023 else { return nil }
        out += Array(lo...hi)
    }
    return out
}

/// "127.0.0.1:9750" or "[2001:db8::1]:9750" → the address (without brackets) and a port 1…65535; nil for
/// anything else (host names included: the API binds at start, without waiting on DNS).
func parseListen(_ s: String) -> (host: String, port: Int)? {
    guard let colon = s.lastIndex(of: ":") else { return nil }
    let portText = s[s.index(after: colon)...]
    guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber), portText.count <= 5,
          let port = Int(portText), (1...65535).contains(port) else { return nil }
    let host = s[..<colon]
    if host.hasPrefix("[") && host.hasSuffix("]") && host.count > 2 {
        let inner = String(host.dropFirst().dropLast())
        return IPAddress(inner)?.isV4 == false ? (inner, port) : nil
    }
    return IPAddress(String(host))?.isV4 == true ? (String(host), port) : nil
}
