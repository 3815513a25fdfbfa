// The SNMP poller's settings: the [snmp] section, per-device overrides (devices.settings jsonb keys and
// [[devices]] keys snmp_version, snmp_user…), v3 users by reference to [[snmp_users]], and the vendor
// profiles read from profiles/snmp/*.toml.
import Capture
import Foundation
import Poller
import TOMLKit

/// A device's own SNMP settings, each overriding its [snmp] default.
struct SNMPOverrides: Equatable, Sendable {
    static let intKeys: [(String, ClosedRange<Int>)] = [
        ("snmp_port", 1...65535), ("snmp_interval_s", 10...86400), ("snmp_timeout_ms", 10...60_000), ("snmp_retries", 0...10),
        ("snmp_max_repetitions", 1...1000), ("snmp_max_oids_per_request", 1...256),
    ]
    /// String keys and, where limited, their allowed values.
    static let stringKeys: [(String, [String]?)] = [
        ("snmp_version", ["1", "2c", "3"]), ("snmp_community", nil), ("snmp_user", nil),
        ("snmp_security_level", ["noAuthNoPriv", "authNoPriv", "authPriv"]), ("snmp_context", nil),
    ]
    static let keys = intKeys.map(\.0) + stringKeys.map(\.0)

    var ints: [String: Int] = [:]
    var strings: [String: String] = [:]

    init() {}

    /// Reads the keys out of a devices.settings object (other keys are ignored); a bad value throws.
    init(settings: [String: Any]) throws(OverrideProblem) {
        for (k, range) in Self.intKeys {
            guard let v = settings[k] else { continue }
            guard let n = jsonInt(v), range.contains(n) else { throw OverrideProblem(key: k, problem: "must be an integer in \(range.lowerBound)…\(range.upperBound), got \(jsonText(v))") }
            ints[k] = n
        }
        for (k, allowed) in Self.stringKeys {
            guard let v = settings[k] else { continue }
            guard let s = v as? String else { throw OverrideProblem(key: k, problem: "must be a string, got \(jsonText(v))") }
            try Self.check(k, s, allowed)
            strings[k] = s
        }
    }

    static func check(_ k: String, _ s: String, _ allowed: [String]?) throws(OverrideProblem) {
        if let allowed, !allowed.contains(s) {
            throw OverrideProblem(key: k, problem: "must be one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(s)\"")
        }
    }

    /// The overrides as JSON object members for devices.settings.
    var jsonMembers: [(String, String)] {
        Self.intKeys.compactMap { k, _ in ints[k].map { (k, String($0)) } }
            + Self.stringKeys.compactMap { k, _ in strings[k].map { (k, jsonString($0)) } }
    }
}

/// The [snmp] section and the users, typed.
struct SNMPConfig: Sendable {
    var enabled: Bool
    var interval: Int
    var version: String
    var community: String
    var user: String
    var securityLevel: String
    var context: String
    var port: Int
    var timeoutMs: Int
    var retries: Int
    var maxRepetitions: Int
    var maxOIDs: Int
    var maxInFlight: Int
    var sockets: Int
    var profileDirs: [String]
    var inventoryRefresh: Duration
    /// [[snmp_users]] by name.
    var users: [String: USMUser]

    init(_ c: Config) {
        enabled = c.bool("snmp.enabled")
        interval = c.int("snmp.interval_s")
        version = c.string("snmp.version")
        community = c.string("snmp.community")
        user = c.string("snmp.user")
        securityLevel = c.string("snmp.security_level")
        context = c.string("snmp.context")
        port = c.int("snmp.port")
        timeoutMs = c.int("snmp.timeout_ms")
        retries = c.int("snmp.retries")
        maxRepetitions = c.int("snmp.max_repetitions")
        maxOIDs = c.int("snmp.max_oids_per_request")
        maxInFlight = c.int("snmp.max_in_flight")
        sockets = c.int("snmp.sockets")
        profileDirs = c.strings("snmp.profile_dirs")
        inventoryRefresh = .seconds(c.int("snmp.inventory_refresh_s"))
        var u: [String: USMUser] = [:]
        for x in c.snmpUsers {
            u[x.name] = USMUser(
                name: x.name, auth: SNMPUserConfig.auth(x.authProtocol), authPassphrase: x.authPassword,
                priv: SNMPUserConfig.priv(x.privProtocol), privPassphrase: x.privPassword)
        }
        users = u
    }

    /// The target for a device at `address` with `o`, and its poll interval; or which key is wrong.
    func target(_ address: IPAddress, _ o: SNMPOverrides) -> Result<(SNMPTarget, Int), OverrideProblem> {
        let port = UInt16(o.ints["snmp_port"] ?? self.port)
        let peer: PeerAddress = switch address {
        case .v4(let a): PeerAddress(v4: a, port: port)
        case .v6(let h, let l): PeerAddress(v6High: h, v6Low: l, port: port)
        }
        let v = o.strings["snmp_version"] ?? version
        let ver: SNMPVersion = v == "1" ? .v1 : v == "3" ? .v3 : .v2c
        var t = SNMPTarget(
            address: peer, version: ver, community: o.strings["snmp_community"] ?? community,
            contextName: o.strings["snmp_context"] ?? context, timeoutMs: o.ints["snmp_timeout_ms"] ?? timeoutMs,
            retries: o.ints["snmp_retries"] ?? retries, maxRepetitions: o.ints["snmp_max_repetitions"] ?? maxRepetitions,
            maxOIDsPerRequest: o.ints["snmp_max_oids_per_request"] ?? maxOIDs)
        if ver == .v3 {
            let name = o.strings["snmp_user"] ?? user
            guard !name.isEmpty else {
                return .failure(OverrideProblem(key: "snmp_user", problem: "is required for SNMPv3 (set snmp.user or the device's snmp_user)"))
            }
            guard let u = users[name] else {
                return .failure(OverrideProblem(
                    key: "snmp_user", problem: "names \"\(name)\", which is not a [[snmp_users]] entry (known: \(users.keys.sorted().joined(separator: ", ")))"))
            }
            t.user = u
            let levelName = o.strings["snmp_security_level"] ?? securityLevel
            let level: SNMPSecurityLevel = switch levelName {
            case "noAuthNoPriv": .noAuthNoPriv
            case "authNoPriv": .authNoPriv
            case "authPriv": .authPriv
            default: u.securityLevel
            }
            guard level <= u.securityLevel else {
                return .failure(OverrideProblem(key: "snmp_security_level", problem: "\(level) needs keys the user \"\(name)\" does not have"))
            }
            t.securityLevel = level
        }
        return .success((t, o.ints["snmp_interval_s"] ?? interval))
    }
}

/// Vendor profiles from TOML files.
enum SNMPProfileLoader {
    struct Problem: Error, CustomStringConvertible {
        var file: String
        var key: String
        var problem: String
        var description: String { "\(file): \"\(key)\" \(problem)" }
    }

    /// Every *.toml in `dirs` (a missing directory is reported in `missing`); a malformed file throws
    /// naming the file and key.
    static func load(dirs: [String]) throws(Problem) -> (SNMPProfileSet, missing: [String], files: Int) {
        var profiles: [SNMPProfile] = []
        var missing: [String] = []
        var files = 0
        for dir in dirs {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
                missing.append(dir)
                continue
            }
            for name in names.sorted() where name.hasSuffix(".toml") {
                let path = dir + "/" + name
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw Problem(file: path, key: "", problem: "cannot be read")
                }
                profiles.append(try parse(text, file: path))
                files += 1
            }
        }
        return (SNMPProfileSet(profiles), missing, files)
    }

    static func parse(_ text: String, file: String) throws(Problem) -> SNMPProfile {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch {
            throw Problem(file: file, key: "", problem: "is not valid TOML: \(error)")
        }
        func str(_ k: String) throws(Problem) -> String {
            guard let s = table[k]?.string, !s.isEmpty else { throw Problem(file: file, key: k, problem: "must be a non-empty string") }
            return s
        }
        func strings(_ k: String) throws(Problem) -> [String] {
            guard let v = table[k] else { return [] }
            guard let a = v.array else { throw Problem(file: file, key: k, problem: "must be an array of strings") }
            var out: [String] = []
            for e in a {
                guard let s = e.string else { throw Problem(file: file, key: k, problem: "must be an array of strings") }
                out.append(s)
            }
            return out
        }
        var p = SNMPProfile(name: try str("name"), vendor: try str("vendor"))
        p.sysObjectIDPrefixes = try strings("sys_object_id_prefixes")
        for (i, pattern) in try strings("sys_descr").enumerated() {
            do { p.sysDescr.append(try SNMPPattern(pattern)) } catch {
                throw Problem(file: file, key: "sys_descr[\(i)]", problem: "is not a valid pattern: \(error)")
            }
        }
        if let models = table["models"] {
            guard let t = models.table else { throw Problem(file: file, key: "models", problem: "must be a table of \"sysObjectID\" = \"model\"") }
            for (k, v) in t {
                guard let m = v.string else { throw Problem(file: file, key: "models.\(k)", problem: "must be a string") }
                p.models[k] = m
            }
        }
        if let metrics = table["metrics"] {
            guard let a = metrics.array else { throw Problem(file: file, key: "metrics", problem: "must be an array of tables ([[metrics]])") }
            for (i, e) in a.enumerated() {
                let at = "metrics[\(i)]"
                guard let m = e.table else { throw Problem(file: file, key: at, problem: "must be a table") }
                guard let kindName = m["name"]?.string, let kind = SNMPProfileMetric.Kind(rawValue: kindName) else {
                    throw Problem(file: file, key: at + ".name", problem: "must be one of \(SNMPProfileMetric.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                guard let oidText = m["oid"]?.string, let oid = OID(oidText) else {
                    throw Problem(file: file, key: at + ".oid", problem: "must be a dotted OID (\"1.3.6.1.4.1.9.9.109.1.1.1.1.8\")")
                }
                let walk = m["walk"]?.bool ?? false
                let aggName = m["aggregate"]?.string ?? "first"
                guard let agg = SNMPProfileMetric.Aggregate(rawValue: aggName) else {
                    throw Problem(file: file, key: at + ".aggregate", problem: "must be one of \(SNMPProfileMetric.Aggregate.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let scale = m["scale"]?.double ?? m["scale"]?.int.map(Double.init) ?? 1
                p.metrics.append(SNMPProfileMetric(kind: kind, oid: oid, walk: walk, aggregate: agg, scale: scale))
            }
        }
        return p
    }
}
