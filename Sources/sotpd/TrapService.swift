// `sotpd run`'s SNMP trap receiver: a UDP listener whose threads each own a Poller `TrapReceiver`
// (v1/v2c/v3 USM decoding, inform acknowledgement, v3 discovery), storing every notification in
// snmp_traps with its varbinds as jsonb. The receiver's engine ID and boot counter live in a small
// state file so v3 senders that cached them keep working across restarts (RFC 3414 §2.2).
import Capture
import Foundation
import Logging
import Poller
import ServiceLifecycle
import Sink
import Synchronization

enum TrapTables {
    static let traps = TableSpec("snmp_traps", [
        .init("time", .timestamptz), .init("received_at", .timestamptz), .init("source", .inet), .init("version", .int2),
        .init("pdu", .text), .init("community", .text), .init("user_name", .text), .init("context_name", .text),
        .init("trap_oid", .text), .init("uptime_cs", .int8), .init("agent_address", .inet), .init("enterprise", .text),
        .init("request_id", .int8), .init("varbinds", .jsonb), .init("device_id", .int4),
        .init("trap_name", .text),
    ])
}

/// The receiver's engine ID and boot counter, kept in `traps.state_file` as `engine_id=HEX` and `boots=N`.
struct EngineState: Equatable {
    var engineID: [UInt8]
    var boots: Int32

    /// Reads the file (nil when missing or unreadable), then returns the state for this start: the
    /// configured ID (or the kept one, or a new one) and the boot counter one past the kept one (back
    /// to 1 when the ID changed). Writes it back; a failure to write is returned for the caller to log.
    static func advance(path: String, configured: [UInt8]?) -> (EngineState, writeError: String?) {
        var kept: EngineState?
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            var id: [UInt8]?, boots: Int32?
            for line in text.split(separator: "\n") {
                let kv = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2 else { continue }
                if kv[0] == "engine_id" { id = parseHex(kv[1]) }
                if kv[0] == "boots" { boots = Int32(kv[1]) }
            }
            if let id, (5...32).contains(id.count), let boots, boots >= 1 { kept = EngineState(engineID: id, boots: boots) }
        }
        let id = configured ?? kept?.engineID ?? SNMPEngineIdentity.generateEngineID()
        // RFC 3414: snmpEngineBoots stops at 2^31-1 (the engine then needs new keys).
        let boots: Int32 = kept.map { $0.engineID == id ? ($0.boots == Int32.max ? Int32.max : $0.boots + 1) : 1 } ?? 1
        let state = EngineState(engineID: id, boots: boots)
        let body = "engine_id=\(id.map { String(format: "%02x", $0) }.joined())\nboots=\(boots)\n"
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try body.write(toFile: path, atomically: true, encoding: .utf8)
            return (state, nil)
        } catch {
            return (state, "\(error)")
        }
    }
}

/// Where a thread's replies (inform responses, reports) go out: the listener's socket of that thread.
/// Set once, before the listener starts.
final class ReplyPort: @unchecked Sendable {
    var receiver: UDPReceiver?
}

/// One receive thread's trap receiver, JSON buffer and sink handle. Used by its thread only.
final class TrapWorker: @unchecked Sendable {
    let sink: Sink
    let table: SinkTable
    var receiver: TrapReceiver
    var json: [UInt8] = []
    var devices: DeviceLookup
    let names: MIBNames?
    let replyFailures = Atomic<Int>(0)
    let rejectedClosed = Atomic<Int>(0)

    init(sink: Sink, receiver: consuming TrapReceiver, devices: DeviceAddresses, names: MIBNames?) {
        self.sink = sink
        self.names = names
        self.table = sink.producer(TrapTables.traps)
        self.receiver = receiver
        self.devices = DeviceLookup(devices)
        json.reserveCapacity(4096)
    }

    func housekeeping() { devices.refresh() }

    func handle(_ bytes: RawSpan, from peer: PeerAddress, receivedMicros: Int64, thread: Int, replies: ReplyPort) {
        let source: IPAddress = peer.isV4 ? .v4(UInt32(truncatingIfNeeded: peer.low)) : .v6(high: peer.high, low: peer.low)
        let outcome = receiver.receive(bytes, from: source, receivedMicros: receivedMicros) { reply in
            let sent = reply.withUnsafeBytes { replies.receiver?.send(thread: thread, $0, to: peer) ?? false }
            if !sent { replyFailures.add(1, ordering: .relaxed) }
        }
        guard case .notification(let n) = outcome else { return }
        json.removeAll(keepingCapacity: true)
        n.appendVarbindsJSON(to: &json, names: names)
        let device = devices.device(peer)
        let trapName = n.trapOID.flatMap { names?.name(dotted: $0) }
        let result = sink.append(table) { row in
            row.timestamptz(unixMicros: receivedMicros)
            row.timestamptz(unixMicros: receivedMicros)
            row.inet(source)
            row.int2(Int16(n.version.number))
            row.text(n.version.number == 1 ? "v1trap" : n.kind.rawValue)
            if let c = n.community { row.text(c) } else { row.null() }
            if let u = n.userName { row.text(u) } else { row.null() }
            if let c = n.contextName { row.text(c) } else { row.null() }
            if let o = n.trapOID { row.text(o) } else { row.null() }
            if let u = n.uptime { row.int8(Int64(u)) } else { row.null() }
            if let a = n.agentAddress { row.inet(a) } else { row.null() }
            if let e = n.enterprise { row.text(e) } else { row.null() }
            if let r = n.requestID { row.int8(Int64(r)) } else { row.null() }
            json.withUnsafeBytes { row.jsonb(copying: $0) }
            if let device { row.int4(device) } else { row.null() }
            if let trapName { row.text(trapName) } else { row.null() }
        }
        if result == .closed { rejectedClosed.add(1, ordering: .relaxed) }
    }
}

/// The trap listener and its workers.
final class TrapService: Service, Sendable {
    let receiver: UDPReceiver
    let workers: [TrapWorker]
    let stats = TrapStats()
    let devices: DeviceAddresses
    let info: PGConnectInfo
    let refresh: Duration
    let engine: EngineState
    let logger: Logger

    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    init(config: Config, sink: Sink, devices: DeviceAddresses, logger: Logger) throws(StartError) {
        let configured = config.string("traps.engine_id").isEmpty ? nil : parseHex(config.string("traps.engine_id"))
        let (engine, writeError) = EngineState.advance(path: config.string("traps.state_file"), configured: configured)
        if let writeError {
            logger.warning("cannot keep the SNMP engine state; v3 informs may be refused after a restart",
                           metadata: ["file": "\(config.string("traps.state_file"))", "error": "\(writeError)"])
        }
        let trapConfig = Self.receiverConfig(config, engine: engine)
        var o = UDPReceiverOptions(port: UInt16(max(0, config.int("traps.port"))))
        o.bindAddress = config.string("traps.bind_address")
        o.sockets = config.int("traps.sockets")
        o.maxDatagramBytes = 65_535
        o.name = "traps"
        let names = try Self.mibNames(config, logger: logger)
        var workers: [TrapWorker] = []
        let stats = self.stats
        for _ in 0..<o.sockets {
            do {
                workers.append(TrapWorker(sink: sink, receiver: try TrapReceiver(config: trapConfig, stats: stats), devices: devices, names: names))
            } catch {
                throw StartError(description: "snmp_users: \(error)")
            }
        }
        let replies = ReplyPort()
        let mine = workers
        do {
            receiver = try bindWithFallback(config.int("traps.port"), o, standard: 162, fallback: 1162) { (o) throws(UDPReceiverError) -> UDPReceiver in
                try UDPReceiver(options: o, housekeeping: { thread, _ in mine[thread].housekeeping() }) { thread, bytes, from, micros in
                    mine[thread].handle(bytes, from: from, receivedMicros: micros, thread: thread, replies: replies)
                }
            }
        } catch {
            throw StartError(description: "\(error)")
        }
        replies.receiver = receiver
        self.workers = workers
        self.devices = devices
        self.engine = engine
        self.info = config.connectInfo
        self.refresh = .seconds(config.int("icmp.inventory_refresh_s"))
        self.logger = logger
    }

    /// The receivers' settings: the configured communities and USM users, answering as `engine`.
    /// (`sotpd replay` builds its receiver from the same.)
    static func receiverConfig(_ config: Config, engine: EngineState) -> TrapReceiverConfig {
        let users = config.snmpUsers.map { u in
            USMUser(
                name: u.name, auth: SNMPUserConfig.auth(u.authProtocol), authPassphrase: u.authPassword,
                priv: SNMPUserConfig.priv(u.privProtocol), privPassphrase: u.privPassword)
        }
        return TrapReceiverConfig(
            communities: config.strings("traps.communities"), users: users,
            engine: SNMPEngineIdentity(engineID: engine.engineID, boots: engine.boots, startMicros: unixMicrosNow()))
    }

    /// The MIB names traps.mibs asks for (nil: none), warning about MIB directories that do not exist.
    static func mibNames(_ config: Config, logger: Logger) throws(StartError) -> MIBNames? {
        for dir in config.strings("traps.mib_dirs") where !FileManager.default.fileExists(atPath: dir) {
            logger.warning("a MIB directory does not exist; its OIDs stay numeric", metadata: ["traps.mib_dirs": "\(dir)"])
        }
        guard !config.string("traps.mibs").isEmpty else { return nil }
        do {
            return try MIBNames(directories: config.strings("traps.mib_dirs"), modules: config.string("traps.mibs"))
        } catch {
            throw StartError(description: "traps.mibs: \(error)")
        }
    }

    func run() async throws {
        devices.start(info: info, interval: refresh, logger: logger)
        receiver.start()
        logger.info("trap listener started", metadata: [
            "port": "\(receiver.port)", "engine_id": "\(engine.engineID.map { String(format: "%02x", $0) }.joined())",
            "engine_boots": "\(engine.boots)",
        ])
        try? await gracefulShutdown()
        receiver.stop()
        devices.stop()
        logger.info("trap listener stopped", metadata: ["stats": "\(statsFields().filter { $0.1 != 0 }.map { "\($0.0)=\(Int($0.1))" }.joined(separator: " "))"])
    }

    /// Totals for sotp_stats.
    func statsFields() -> [(String, Double)] {
        let s = receiver.stats.snapshot()
        var out: [(String, Double)] = [
            ("traps.udp_datagrams", Double(s.datagrams)), ("traps.udp_kernel_drops", Double(s.kernelDrops)),
            ("traps.udp_receive_errors", Double(s.receiveErrors)),
        ]
        out += stats.fields.map { ("traps." + $0.0, Double($0.1)) }
        out.append(("traps.reply_send_failures", Double(workers.reduce(0) { $0 + $1.replyFailures.load(ordering: .relaxed) })))
        out.append(("traps.rejected_closed", Double(workers.reduce(0) { $0 + $1.rejectedClosed.load(ordering: .relaxed) })))
        return out
    }
}

extension SNMPUserConfig {
    static func auth(_ name: String) -> SNMPAuthProtocol? {
        switch name {
        case "md5": .md5
        case "sha": .sha1
        case "sha224": .sha224
        case "sha256": .sha256
        case "sha384": .sha384
        case "sha512": .sha512
        default: nil
        }
    }

    static func priv(_ name: String) -> SNMPPrivProtocol? {
        switch name {
        case "des": .des
        case "aes": .aes128
        case "aes192": .aes192
        case "aes256": .aes256
        case "aes192c": .aes192c
        case "aes256c": .aes256c
        default: nil
        }
    }
}
