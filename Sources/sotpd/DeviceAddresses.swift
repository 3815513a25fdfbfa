// Which device an address belongs to, for the receivers that link what they store (syslog, traps) to
// the inventory by source address. One table shared by every receive thread, replaced whole when the
// inventory changes; each thread reads it through its own copy, refreshed between batches.
import Capture
import Foundation
import Logging
import Poller
import Sink
import Synchronization

/// address → device id for every device in `devices` (enabled or not: a disabled device's logs still
/// belong to it). Where two devices share an address, the lower id wins.
final class DeviceAddresses: Sendable {
    private let table = Mutex<[IPAddress: Int32]>([:])
    /// Moves with every replacement, so a thread can tell its copy is old with one atomic load.
    let generation = Atomic<Int>(0)

    func replace(_ t: [IPAddress: Int32]) {
        table.withLock { $0 = t }
        generation.add(1, ordering: .releasing)
    }

    func snapshot() -> [IPAddress: Int32] { table.withLock { $0 } }

    /// Loads the table from `devices`.
    static func load(_ conn: borrowing PGConnection) throws(PGError) -> [IPAddress: Int32] {
        var out: [IPAddress: Int32] = [:]
        for row in try conn.query("SELECT host(address), id FROM devices ORDER BY id") {
            guard let a = row[0].flatMap({ IPAddress($0) }), let id = row[1].flatMap({ Int32($0) }) else { continue }
            if out[a] == nil { out[a] = id }
        }
        return out
    }

    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)

    /// Starts a thread that reloads the table whenever sotp.inventory_version moves, checking every
    /// `interval` over one kept connection (reconnecting after errors), until `stop()`. Once per
    /// process no matter how many receivers ask.
    func start(info: PGConnectInfo, interval: Duration, logger: Logger) {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        followInventory(
            "sotp-device-map", info: info, interval: interval, what: "device address map", logger: logger,
            stopping: { [self] in stopping.load(ordering: .relaxed) }
        ) { [self] (conn) throws(PGError) in replace(try Self.load(conn)) }
    }

    func stop() { stopping.store(true, ordering: .relaxed) }
}

/// Starts a thread `name` that calls `reload` whenever sotp.inventory_version moves (and once at first),
/// checking every `interval` over one kept connection, reconnecting after errors, until `stopping()`.
/// For in-memory views of the inventory that must follow it: the receivers' address map, the alert
/// evaluator's device names.
func followInventory(
    _ name: String, info: PGConnectInfo, interval: Duration, what: String, logger: Logger,
    stopping: @escaping @Sendable () -> Bool, reload: @escaping @Sendable (borrowing PGConnection) throws(PGError) -> Void
) {
    let t = Thread {
        var seen: Int64 = -1
        let steps = max(1, Int(interval / .milliseconds(100)))
        func pause() {
            for _ in 0..<steps where !stopping() { Thread.sleep(forTimeInterval: 0.1) }
        }
        while !stopping() {
            do throws(PGError) {
                let conn = try PGConnection(info)
                while !stopping() {
                    let v = try ICMPInventory.version(conn)
                    if v != seen {
                        try reload(conn)
                        seen = v
                    }
                    pause()
                }
            } catch {
                logger.debug("\(what) not refreshed; will retry", metadata: ["error": "\(error)"])
                pause()
            }
        }
    }
    t.name = name
    t.start()
}

/// One thread's copy of the shared table.
struct DeviceLookup {
    let shared: DeviceAddresses
    private var generation = -1
    private var table: [IPAddress: Int32] = [:]

    init(_ shared: DeviceAddresses) { self.shared = shared }

    /// Picks up a replaced table; call between batches, not per message.
    mutating func refresh() {
        let g = shared.generation.load(ordering: .acquiring)
        if g != generation {
            generation = g
            table = shared.snapshot()
        }
    }

    func device(_ peer: PeerAddress) -> Int32? {
        guard !table.isEmpty else { return nil }
        return table[peer.isV4 ? .v4(UInt32(truncatingIfNeeded: peer.low)) : .v6(high: peer.high, low: peer.low)]
    }
}
