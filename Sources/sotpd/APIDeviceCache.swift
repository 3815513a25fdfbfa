// The device list as /api/v1/devices pages it: a snapshot of the whole inventory held in memory, each
// device's JSON already rendered, so a page costs a binary search and a copy instead of a query. It is
// reloaded when sotp.inventory_version moves (checked every second) and every 10 s for the columns the
// SNMP poller writes without moving it (vendor, model…). The API's own writes drop it, so lists go to the
// database until the next reload (read your writes, without a full reload in every write request).
import Foundation
import Sink
import Synchronization

/// One immutable copy of the inventory, in id order.
struct DeviceSnapshot: Sendable {
    var ids: [Int32] = []
    var tags: [[String]] = []
    var enabled: [Bool] = []
    /// Each device's JSON object (DeviceSQL.object), as PostgreSQL rendered it.
    var json: [String] = []
    /// sotp.inventory_version when it was read.
    var version: Int64 = -1
    /// When it was loaded (monotonic).
    var loadedAt: ContinuousClock.Instant = .now

    /// The page after `after`: at most `limit` devices with every tag of `tags` and, when given, that
    /// enabled state, as a JSON array, and the last id when the page is full.
    func page(after: Int32, limit: Int, tags wanted: [String], enabled want: Bool?) -> (items: String, next: Int32?) {
        // First index with an id above `after`.
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] <= after { lo = mid + 1 } else { hi = mid }
        }
        var out = "["
        var n = 0, last: Int32 = 0
        var i = lo
        while i < ids.count && n < limit {
            if (want == nil || enabled[i] == want) && wanted.allSatisfy({ tags[i].contains($0) }) {
                if n > 0 { out += ", " }
                out += json[i]
                n += 1
                last = ids[i]
            }
            i += 1
        }
        out += "]"
        return (out, n == limit ? last : nil)
    }

    static let query = """
        SELECT d.id, array_to_json(d.tags), d.enabled, \(DeviceSQL.object)::text FROM devices d ORDER BY d.id
        """

    /// Reads the whole inventory and its version in one snapshot of the database.
    static func load(_ conn: borrowing PGConnection) throws(PGError) -> DeviceSnapshot {
        try conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do throws(PGError) {
            let version = try ICMPInventory.version(conn)
            let rows = try conn.query(query)
            try conn.execute("COMMIT")
            var s = DeviceSnapshot()
            s.version = version
            s.ids.reserveCapacity(rows.count)
            for row in rows {
                guard let id = row[0].flatMap({ Int32($0) }), let json = row[3] else { continue }
                s.ids.append(id)
                s.tags.append(row[1].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] } ?? [])
                s.enabled.append(row[2] == "t")
                s.json.append(json)
            }
            s.loadedAt = .now
            return s
        } catch {
            if !error.connectionLost { try? conn.execute("ROLLBACK") }
            throw error
        }
    }
}

/// The current snapshot, and whether it may be used.
final class DeviceCache: Sendable {
    /// How long a snapshot serves without a reload although its version has not moved.
    static let maxAge: Duration = .seconds(10)
    /// How long a snapshot serves once version checks fail (database away): then pages go to the
    /// database, which answers 503 as long as it is away.
    static let staleLimit: Duration = .seconds(30)

    private struct State {
        var snapshot: DeviceSnapshot?
        var lastCheck: ContinuousClock.Instant = .now
        /// Moves with every `invalidate`: a load that began before it is not stored.
        var generation = 0
    }

    private let state = Mutex(State())

    init() {}

    /// The snapshot when it is fresh enough to answer from.
    var current: DeviceSnapshot? {
        state.withLock { s in
            guard let snap = s.snapshot, s.lastCheck.duration(to: .now) < Self.staleLimit else { return nil }
            return snap
        }
    }

    /// The generation to pass to `store` for a load starting now.
    var generation: Int { state.withLock { $0.generation } }

    /// Keeps a snapshot loaded in `generation`, unless the inventory was written since (it may predate that).
    func store(_ snapshot: DeviceSnapshot, generation: Int) {
        state.withLock {
            guard $0.generation == generation else { return }
            $0.snapshot = snapshot
            $0.lastCheck = .now
        }
    }

    /// The version was checked and has not moved.
    func confirmed() {
        state.withLock { $0.lastCheck = .now }
    }

    /// Forgets the snapshot after the API changed the inventory: lists go to the database, so they show
    /// the change (read your writes), until the refresher's next load (within a second) brings a
    /// snapshot that has it.
    func invalidate() {
        state.withLock {
            $0.snapshot = nil
            $0.generation += 1
        }
    }

    var version: Int64? { state.withLock { $0.snapshot?.version } }
    var age: Duration? { state.withLock { $0.snapshot.map { $0.loadedAt.duration(to: .now) } } }
}
