// Vendor profiles (data, not code: profiles/snmp/*.toml, parsed by sotpd): which vendor CPU/memory OIDs to
// poll, chosen by sysObjectID, and how to name the vendor, model, OS and version from sysObjectID and
// sysDescr (the device's automatic categorisation).

/// A compiled sysDescr pattern. Regex is not marked Sendable; this one is built once and only read.
public struct SNMPPattern: @unchecked Sendable {
    public let source: String
    public let regex: Regex<AnyRegexOutput>

    /// Compiles `source` (Swift Regex syntax, named captures `(?<os>…)`); throws for a bad pattern.
    public init(_ source: String) throws {
        self.source = source
        regex = try Regex(source)
    }
}

/// One vendor metric a profile polls.
public struct SNMPProfileMetric: Sendable {
    /// What the value means once scaled.
    public enum Kind: String, Sendable, CaseIterable {
        case cpuPct = "cpu_pct"
        /// Idle percent: CPU is 100 − value.
        case cpuIdlePct = "cpu_idle_pct"
        case memUsedBytes = "mem_used_bytes"
        case memFreeBytes = "mem_free_bytes"
        case memTotalBytes = "mem_total_bytes"
    }

    /// How walked rows become one value.
    public enum Aggregate: String, Sendable, CaseIterable {
        case avg, sum, max, min, first
    }

    public var kind: Kind
    public var oid: OID
    /// Walk the subtree (a column) and aggregate; false: GET `oid` exactly.
    public var walk: Bool
    public var aggregate: Aggregate
    /// Multiplies the value (1024 for KB → bytes).
    public var scale: Double

    public init(kind: Kind, oid: OID, walk: Bool, aggregate: Aggregate, scale: Double) {
        self.kind = kind
        self.oid = oid
        self.walk = walk
        self.aggregate = aggregate
        self.scale = scale
    }
}

/// One profile file.
public struct SNMPProfile: Sendable {
    public var name: String
    public var vendor: String
    /// sysObjectID prefixes, dotted without a leading dot; one ending in "." is a subtree, one without
    /// matches itself and its subtree.
    public var sysObjectIDPrefixes: [String]
    /// sysDescr patterns with named captures os, version, model (any of them); first match wins.
    public var sysDescr: [SNMPPattern]
    /// Model by exact sysObjectID.
    public var models: [String: String]
    public var metrics: [SNMPProfileMetric]

    public init(
        name: String, vendor: String, sysObjectIDPrefixes: [String] = [], sysDescr: [SNMPPattern] = [],
        models: [String: String] = [:], metrics: [SNMPProfileMetric] = []
    ) {
        self.name = name
        self.vendor = vendor
        self.sysObjectIDPrefixes = sysObjectIDPrefixes
        self.sysDescr = sysDescr
        self.models = models
        self.metrics = metrics
    }

    /// Length of the longest prefix matching `oid`, 0 for none.
    func prefixMatch(_ oid: String) -> Int {
        var best = 0
        for p in sysObjectIDPrefixes where !p.isEmpty {
            let hit = p.hasSuffix(".") ? oid.hasPrefix(p) : (oid == p || oid.hasPrefix(p + "."))
            if hit { best = max(best, p.count) }
        }
        return best
    }
}

/// What the categorisation says about a device; nil fields are unknown.
public struct SNMPCategory: Equatable, Sendable {
    public var profile: String
    public var vendor: String?
    public var model: String?
    public var os: String?
    public var version: String?

    public init(profile: String, vendor: String? = nil, model: String? = nil, os: String? = nil, version: String? = nil) {
        self.profile = profile
        self.vendor = vendor
        self.model = model
        self.os = os
        self.version = version
    }
}

/// All profiles, and the choice among them.
public struct SNMPProfileSet: Sendable {
    public var profiles: [SNMPProfile]

    public init(_ profiles: [SNMPProfile]) { self.profiles = profiles }

    /// The profile for a device: the longest sysObjectID prefix; if none matches, the first profile
    /// with a sysDescr pattern that matches; else the one named "generic" (or a bare unknown one).
    public func profile(sysObjectID: String, sysDescr: String) -> SNMPProfile {
        var best: SNMPProfile?
        var bestLength = 0
        for p in profiles {
            let n = p.prefixMatch(sysObjectID)
            if n > bestLength {
                best = p
                bestLength = n
            }
        }
        if let best { return best }
        for p in profiles where !p.sysObjectIDPrefixes.isEmpty || !p.sysDescr.isEmpty {
            if p.sysDescr.contains(where: { (try? $0.regex.firstMatch(in: sysDescr)) != nil }) { return p }
        }
        return profiles.first { $0.name == "generic" } ?? SNMPProfile(name: "generic", vendor: "unknown")
    }

    /// Vendor, model, OS and version of a device.
    public func categorise(sysObjectID: String, sysDescr: String) -> SNMPCategory {
        let p = profile(sysObjectID: sysObjectID, sysDescr: sysDescr)
        var c = SNMPCategory(profile: p.name, vendor: p.vendor == "unknown" ? nil : p.vendor)
        for r in p.sysDescr {
            guard let m = try? r.regex.firstMatch(in: sysDescr) else { continue }
            func capture(_ name: String) -> String? {
                guard let s = m.output[name]?.substring else { return nil }
                let t = s.trimmingCharacters(in: " \t\r\n")
                return t.isEmpty ? nil : String(t)
            }
            c.os = capture("os")
            c.version = capture("version")
            c.model = capture("model")
            break
        }
        if let m = p.models[sysObjectID] { c.model = m }
        return c
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        let s = Substring(self)
        guard let a = s.firstIndex(where: { !set.contains($0) }), let b = s.lastIndex(where: { !set.contains($0) }) else { return "" }
        return s[a...b]
    }
}
