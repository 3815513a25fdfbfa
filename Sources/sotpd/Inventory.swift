// The ICMP poller's targets: the enabled devices in the `devices` table, each probed with the [icmp]
// defaults plus its own overrides from devices.settings; and the version that says when to reload them.
import Foundation
import Poller
import Sink

/// Loads the ICMP poller's targets from the `devices` table.
struct ICMPInventory: Sendable {
    /// A device left out of the targets, and why; for the caller to log.
    struct Problem: Equatable, Sendable, CustomStringConvertible {
        var device: String
        var message: String
        var description: String { "device \"\(device)\": \(message)" }
    }

    /// The `[icmp]` section every target starts from.
    var icmp: ICMPConfig

    init(icmp: ICMPConfig) {
        self.icmp = icmp
    }

    /// The targets of every enabled device with ICMP on, in id order, and the devices skipped because an
    /// override or the address cannot be used. Throws only for the database.
    func load(_ conn: borrowing PGConnection) throws(PGError) -> (targets: [ICMPTarget], problems: [Problem]) {
        let rows = try conn.query("SELECT id, name, host(address), settings FROM devices WHERE enabled AND icmp ORDER BY id")
        var targets: [ICMPTarget] = []
        var problems: [Problem] = []
        for row in rows {
            let name = row[1] ?? "?"
            switch target(id: row[0], name: name, address: row[2], settings: row[3]) {
            case .success(let t): targets.append(t)
            case .failure(let p): problems.append(Problem(device: name, message: p.problem))
            }
        }
        return (targets, problems)
    }

    /// One `devices` row (its text columns) as a target, or why it cannot be one.
    func target(id: String?, name: String, address: String?, settings: String?) -> Result<ICMPTarget, OverrideProblem> {
        guard let id = id.flatMap({ Int32($0) }) else {
            return .failure(OverrideProblem(key: "id", problem: "id \(id ?? "NULL") is not a 32-bit integer"))
        }
        guard let address = address.flatMap({ IPAddress($0) }) else {
            return .failure(OverrideProblem(key: "address", problem: "address \(address ?? "NULL") cannot be parsed"))
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data((settings ?? "{}").utf8))
        } catch {
            return .failure(OverrideProblem(key: "settings", problem: "settings are not valid JSON"))
        }
        guard let dict = object as? [String: Any] else {
            return .failure(OverrideProblem(key: "settings", problem: "settings must be a JSON object, got \(jsonText(object))"))
        }
        let overrides: ProbeOverrides
        do {
            overrides = try ProbeOverrides(settings: dict)
        } catch {
            return .failure(OverrideProblem(key: error.key, problem: "settings.\(error.key) \(error.problem)"))
        }
        switch overrides.settings(for: address, icmp: icmp) {
        case .success(let s):
            return .success(ICMPTarget(id: id, name: name, address: address, settings: s))
        case .failure(let e):
            return .failure(OverrideProblem(key: e.key, problem: "settings.\(e.key) \(e.problem)"))
        }
    }

    /// The inventory's version: it moves with every committed change to `devices`, so a poller that
    /// reads it every `icmp.inventory_refresh_s` reloads only when something changed.
    static func version(_ conn: borrowing PGConnection) throws(PGError) -> Int64 {
        let v = try conn.query("SELECT version FROM sotp.inventory_version").first?.first ?? nil
        guard let v, let n = Int64(v) else {
            throw PGError(sqlstate: nil, message: "sotp.inventory_version holds no version (got \(v ?? "no row"))", connectionLost: false)
        }
        return n
    }
}
