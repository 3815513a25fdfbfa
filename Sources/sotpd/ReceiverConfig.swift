// The typed parts of the [syslog] and [traps] sections and the [[snmp_users]] list: time zones for
// timestamps that carry none, per source prefix, and SNMPv3 users with their secrets resolved.
import Foundation
import Poller
import TOMLKit

/// The zone a source's zoneless timestamps are read in: a fixed offset, or an IANA zone whose offset
/// follows its daylight-saving rules.
enum SourceZone: Equatable, Sendable, CustomStringConvertible {
    case fixed(seconds: Int32)
    case named(String)

    /// "UTC"/"GMT"/"Z", an offset ("+02:00", "-0530", "+2"), or an IANA name Foundation knows.
    init?(_ s: String) {
        let t = s.trimmingCharacters(in: .whitespaces)
        if ["UTC", "GMT", "Z", "utc", "gmt"].contains(t) {
            self = .fixed(seconds: 0)
            return
        }
        if let first = t.first, first == "+" || first == "-" {
            let digits = t.dropFirst().filter { $0 != ":" }
            guard !digits.isEmpty, digits.count <= 4, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
            let (h, m): (Int, Int) = digits.count <= 2 ? (Int(digits)!, 0) : (Int(digits.dropLast(2))!, Int(digits.suffix(2))!)
            guard h <= 14, m < 60 else { return nil }
            self = .fixed(seconds: Int32((h * 3600 + m * 60) * (first == "-" ? -1 : 1)))
            return
        }
        guard t.contains("/"), TimeZone(identifier: t) != nil else { return nil }
        self = .named(t)
    }

    var description: String {
        switch self {
        case .fixed(let s):
            let a = abs(Int(s))
            return s == 0 ? "UTC" : String(format: "%@%02d:%02d", s < 0 ? "-" : "+", a / 3600, a / 60 % 60)
        case .named(let n): return n
        }
    }

    /// The offset from UTC, in seconds, of local time `localSeconds` (seconds since 1970 as if the
    /// local wall clock were UTC). For a named zone around a change (the skipped or repeated hour), the
    /// offset in force just before the change.
    func offset(localSeconds: Int64) -> Int32 {
        switch self {
        case .fixed(let s): return s
        case .named(let n):
            guard let tz = TimeZone(identifier: n) else { return 0 }
            // Guess with the offset at the local time read as UTC, then correct once.
            let guess = tz.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(localSeconds)))
            return Int32(tz.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(localSeconds - Int64(guess)))))
        }
    }
}

/// PREFIX=ZONE from syslog.source_timezones.
func parsePrefixZone(_ s: String) -> (IPPrefix, SourceZone)? {
    guard let eq = s.firstIndex(of: "=") else { return nil }
    guard let prefix = IPPrefix(s[..<eq].trimmingCharacters(in: .whitespaces)), let zone = SourceZone(String(s[s.index(after: eq)...])) else { return nil }
    return (prefix, zone)
}

/// Hex digits (optionally "0x"-prefixed, ":" separators allowed) as bytes.
func parseHex(_ s: String) -> [UInt8]? {
    var t = Substring(s.filter { $0 != ":" })
    if t.hasPrefix("0x") || t.hasPrefix("0X") { t = t.dropFirst(2) }
    guard t.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    var i = t.startIndex
    while i < t.endIndex {
        let j = t.index(i, offsetBy: 2)
        guard let b = UInt8(t[i..<j], radix: 16) else { return nil }
        out.append(b)
        i = j
    }
    return out
}

/// One `[[snmp_users]]` entry: an SNMPv3 USM user.
struct SNMPUserConfig: Equatable, Sendable {
    var name: String
    /// none, md5, sha (SHA-1), sha224, sha256, sha384, sha512.
    var authProtocol = "none"
    var authPassword = ""
    /// none, des, aes (AES-128), aes192, aes256 (Blumenthal key extension, net-snmp's AES-192/256), aes192c,
    /// aes256c (Reeder key extension, Cisco's and net-snmp's AES-192-C/256-C).
    var privProtocol = "none"
    var privPassword = ""

    static let authProtocols = ["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
    static let privProtocols = ["none", "des", "aes", "aes192", "aes256", "aes192c", "aes256c"]
}

/// Parses `[[snmp_users]]`: name, auth_protocol, auth_password or auth_password_file, priv_protocol,
/// priv_password or priv_password_file. RFC 3414 wants passphrases of 8 characters or more.
func parseSNMPUsers(_ value: TOMLValueConvertible) throws(ConfigError) -> [SNMPUserConfig] {
    guard let array = value.array else {
        throw ConfigError(key: "snmp_users", problem: "must be an array of tables ([[snmp_users]]), got \(value.debugDescription)")
    }
    var out: [SNMPUserConfig] = []
    var names = Set<String>()
    for (i, item) in array.enumerated() {
        let at = "snmp_users[\(i)]"
        guard let t = item.table else { throw ConfigError(key: at, problem: "must be a table, got \(item.debugDescription)") }
        var u = SNMPUserConfig(name: "")
        var files: [String: String] = [:]
        for (k, v) in t {
            let path = "\(at).\(k)"
            guard v.type == .string, let s = v.string else { throw ConfigError(key: path, problem: "must be a string, got \(v.debugDescription)") }
            switch k {
            case "name": u.name = s
            case "auth_protocol":
                guard SNMPUserConfig.authProtocols.contains(s.lowercased()) else {
                    throw ConfigError(key: path, problem: "must be one of \(SNMPUserConfig.authProtocols.joined(separator: ", ")), got \"\(s)\"")
                }
                u.authProtocol = s.lowercased()
            case "priv_protocol":
                guard SNMPUserConfig.privProtocols.contains(s.lowercased()) else {
                    throw ConfigError(key: path, problem: "must be one of \(SNMPUserConfig.privProtocols.joined(separator: ", ")), got \"\(s)\"")
                }
                u.privProtocol = s.lowercased()
            case "auth_password": u.authPassword = s
            case "priv_password": u.privPassword = s
            case "auth_password_file", "priv_password_file": files[k] = s
            default:
                let known = ["name", "auth_protocol", "auth_password", "auth_password_file", "priv_protocol", "priv_password", "priv_password_file"]
                throw ConfigError(key: path, problem: "is not a known key; known: \(known.joined(separator: ", "))")
            }
        }
        for (key, file) in files {
            let secret = try readSecret(file, key: "\(at).\(key)")
            if key == "auth_password_file" { u.authPassword = secret } else { u.privPassword = secret }
        }
        if u.name.isEmpty { throw ConfigError(key: "\(at).name", problem: "is required") }
        guard names.insert(u.name).inserted else { throw ConfigError(key: "\(at).name", problem: "repeats the user \"\(u.name)\"") }
        if u.authProtocol != "none" && u.authPassword.count < 8 {
            throw ConfigError(key: "\(at).auth_password", problem: "must be at least 8 characters (RFC 3414) with auth_protocol \(u.authProtocol)")
        }
        if u.privProtocol != "none" {
            if u.authProtocol == "none" {
                throw ConfigError(key: "\(at).priv_protocol", problem: "needs an auth_protocol: SNMPv3 has no privacy without authentication")
            }
            if u.privPassword.count < 8 {
                throw ConfigError(key: "\(at).priv_password", problem: "must be at least 8 characters (RFC 3414) with priv_protocol \(u.privProtocol)")
            }
        }
        out.append(u)
    }
    return out
}

extension Config {
    /// syslog.timezone.
    var syslogZone: SourceZone { SourceZone(string("syslog.timezone")) ?? .fixed(seconds: 0) }
    /// syslog.source_timezones, longest prefix first.
    var syslogSourceZones: [(IPPrefix, SourceZone)] {
        strings("syslog.source_timezones").compactMap(parsePrefixZone).sorted { $0.0.length > $1.0.length }
    }
}
