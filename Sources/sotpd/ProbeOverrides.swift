// A device's own ICMP probe settings: parsed from [[devices]] and from the devices.settings jsonb, and
// combined with the [icmp] defaults into the ProbeSettings the poller uses.
import Foundation
import Poller

/// A device's own ICMP probe settings. The `[[devices]]` keys and the `devices.settings` jsonb keys are
/// the `[icmp]` key names (`timeout_ms`, `source`…), with the same ranges; keys not given keep the
/// `[icmp]` defaults.
struct ProbeOverrides: Equatable, Sendable {
    /// Integer overrides by key name, each within its `icmp.<name>` range.
    var ints: [String: Int] = [:]
    /// The address to send from; of the device address's family.
    var source: IPAddress?

    /// The integer keys a device may override, in the order they are printed.
    static let intKeys = ["interval_s", "probes", "spacing_ms", "timeout_ms", "payload_bytes", "tos", "down_after", "up_after"]
    /// Every key a device may override.
    static let keys = intKeys + ["source"]

    /// The allowed values of an integer key: those of `icmp.<name>`.
    static func range(of name: String) -> ClosedRange<Int> {
        guard let key = configKeys.first(where: { $0.path == "icmp." + name }), case .int(let r) = key.kind else {
            preconditionFailure("icmp.\(name) is not an integer key")
        }
        return r
    }

    var isEmpty: Bool { ints.isEmpty && source == nil }

    /// (key, value as TOML/JSON text) for each override, in `keys` order.
    var entries: [(String, String)] {
        Self.intKeys.compactMap { k in ints[k].map { (k, String($0)) } } + (source.map { [("source", "\"\($0)\"")] } ?? [])
    }

    /// The overrides as a JSON object for devices.settings: `{"timeout_ms": 800, "source": "192.0.2.1"}`.
    var json: String { "{" + entries.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}" }

    /// The settings a device at `address` is probed with: the `[icmp]` defaults (with the source of the
    /// address's family), then these overrides; or which key makes them unusable, and why.
    func settings(for address: IPAddress, icmp: ICMPConfig) -> Result<ProbeSettings, OverrideProblem> {
        var s = icmp.settings(for: address)
        if let v = ints["interval_s"] { s.interval = .seconds(v) }
        if let v = ints["probes"] { s.probes = v }
        if let v = ints["spacing_ms"] { s.spacing = .milliseconds(v) }
        if let v = ints["timeout_ms"] { s.timeout = .milliseconds(v) }
        if let v = ints["payload_bytes"] { s.payloadBytes = v }
        if let v = ints["tos"] { s.tos = UInt8(clamping: v) }
        if let v = ints["down_after"] { s.downAfter = v }
        if let v = ints["up_after"] { s.upAfter = v }
        if let source {
            guard source.isV4 == address.isV4 else {
                let family = address.isV4 ? "IPv4" : "IPv6"
                return .failure(OverrideProblem(key: "source", problem: "must be an \(family) address like the device's \(address), got \(source)"))
            }
            s.source = source
        }
        if let p = s.problem {
            // Ranges are checked key by key, so what is left is the cycle not fitting its interval:
            // name the timing key this device changed (the [icmp] defaults alone were checked to fit).
            let key = ["timeout_ms", "interval_s", "spacing_ms", "probes"].first { ints[$0] != nil } ?? "timeout_ms"
            return .failure(OverrideProblem(key: key, problem: "does not fit with the device's other ICMP settings: \(p)"))
        }
        return .success(s)
    }
}

extension ProbeOverrides {
    /// Reads the overrides out of a devices.settings object. Keys that are not overrides (SNMP
    /// settings…) are ignored; a bad value throws naming its key.
    init(settings: [String: Any]) throws(OverrideProblem) {
        for k in Self.intKeys {
            guard let v = settings[k] else { continue }
            let range = Self.range(of: k)
            guard let n = jsonInt(v), range.contains(n) else {
                throw OverrideProblem(key: k, problem: "must be an integer in \(range.lowerBound)…\(range.upperBound), got \(jsonText(v))")
            }
            ints[k] = n
        }
        if let v = settings["source"] {
            guard let s = v as? String, let a = IPAddress(s) else {
                throw OverrideProblem(key: "source", problem: "must be an IPv4 or IPv6 address, got \(jsonText(v))")
            }
            source = a
        }
    }
}

/// A bad per-device override: the key (`timeout_ms`) and what is wrong with it.
struct OverrideProblem: Error, Equatable, Sendable {
    var key: String
    var problem: String
}

/// JSON true and false arrive as NSNumber as well; their class tells them from 1 and 0.
private let jsonBoolClass = type(of: NSNumber(value: true))

/// An integer JSON value (2.0 counts; 2.5, true and "2" do not).
func jsonInt(_ v: Any) -> Int? {
    guard let n = v as? NSNumber, type(of: n) != jsonBoolClass else { return nil }
    return v as? Int
}

/// A JSON value as it reads in a message: `true`, `"3"`, `2.5`, `null`.
func jsonText(_ v: Any) -> String {
    if let n = v as? NSNumber, type(of: n) == jsonBoolClass { return n.boolValue ? "true" : "false" }
    if let s = v as? String { return "\"\(s)\"" }
    if v is NSNull { return "null" }
    if let n = v as? NSNumber { return n.description }
    return "a JSON \(v is [Any] ? "array" : "object")"
}
