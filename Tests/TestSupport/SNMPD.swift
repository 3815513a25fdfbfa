// net-snmp's snmpd (Debian's package) as a test agent: on 127.0.0.1 and ::1 at a free port, with a private
// config and state directory (engineBoots goes up at each start), community "public" and the v3 users
// asked for; started and stopped (by pid) by the test. Also net-snmp's tools against it.
import Foundation

public final class SNMPD: @unchecked Sendable {
    public static let available = FileManager.default.isExecutableFile(atPath: "/usr/sbin/snmpd")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/snmpbulkwalk")
    public static let authPass = "authpass123"
    public static let privPass = "privpass123"

    /// A user-name part for a net-snmp protocol name: "SHA-256" → "sha256", "AES-192-C" → "aes192c".
    public static func userPart(_ name: String) -> String { name.lowercased().replacingOccurrences(of: "-", with: "") }

    public let port: UInt16
    public let dir: String
    let users: [(String, String?, String?)]
    private var child: Child?

    /// Starts snmpd with `users` (name, net-snmp auth protocol or nil, priv protocol or nil; passphrases
    /// `authPass`/`privPass`) and waits until it answers a GET (at most 30 s: a loaded machine).
    public init(users: [(String, String?, String?)] = []) throws {
        // An agent and the tools run against it load the machine: not while a wire-timing test measures.
        TimingIsolation.beginLoad()
        dir = NSTemporaryDirectory() + "snmpd-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        port = UInt16(TestDB.freePort())
        self.users = users
        do { try start() } catch {
            TimingIsolation.endLoad()
            throw error
        }
    }

    /// (Re)starts snmpd with the same state directory.
    public func start() throws {
        var conf = """
            agentAddress udp:127.0.0.1:\(port),udp6:[::1]:\(port)
            engineID sotp-test
            view all included .1
            rocommunity public 127.0.0.1 -V all
            rocommunity6 public ::1 -V all
            sysName sotp-test-agent

            """
        for (name, auth, priv) in users {
            guard let auth else {
                conf += "createUser \(name)\nrouser -s usm \(name) noauth -V all\n"
                continue
            }
            var line = "createUser \(name) \(auth) \(SNMPD.authPass)"
            if let priv { line += " \(priv) \(SNMPD.privPass)" }
            conf += line + "\nrouser -s usm \(name) \(priv == nil ? "auth" : "priv") -V all\n"
        }
        try conf.write(toFile: dir + "/snmpd.conf", atomically: true, encoding: .utf8)
        // The state directory's snmpd.conf is read too (-C skips it otherwise), so engineBoots goes up at
        // each start; -I -smux: no SMUX listener on TCP 199.
        let persisted = dir + "/state"
        try FileManager.default.createDirectory(atPath: persisted, withIntermediateDirectories: true)
        let env = ["SNMP_PERSISTENT_DIR": persisted, "MIBS": "", "HOME": dir]
        child = try Child("/usr/sbin/snmpd", ["-f", "-Lo", "-C", "-I", "-smux", "-c", dir + "/snmpd.conf," + persisted + "/snmpd.conf", "-p", dir + "/pid"], env: env)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? snmpcmd("snmpget", ["-v2c", "-c", "public", "-t", "0.3", "-r", "0", "127.0.0.1:\(port)", "1.3.6.1.2.1.1.3.0"]))?.contains("Timeticks") == true { return }
            if child?.exitStatus() != nil { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw NSError(domain: "snmpd", code: 1, userInfo: [NSLocalizedDescriptionKey: "snmpd did not start: \(child?.output ?? "")"])
    }

    /// Stops snmpd (SIGTERM, SIGKILL after 5 s).
    public func stop() {
        guard let c = child else { return }
        c.signal(SIGTERM)
        _ = c.wait(timeout: 5)
        child = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
        TimingIsolation.endLoad()
    }

    /// Runs a net-snmp tool with a private state directory and no MIBs; its output.
    public func snmpcmd(_ tool: String, _ args: [String]) throws -> String {
        let env = ["SNMP_PERSISTENT_DIR": dir + "/client", "MIBS": "", "MIBDIRS": dir, "HOME": dir]
        let c = try Child("/usr/bin/" + tool, args, env: env)
        _ = c.wait(timeout: 30)
        return c.output
    }

    /// snmpbulkwalk (snmpwalk for v1) of `oid`: (numeric OID, value text) per line, `-On -OQ -Oe -Ot -Ox`.
    public func walk(_ oid: String, v1: Bool = false) throws -> [(String, String)] {
        let out = try snmpcmd(v1 ? "snmpwalk" : "snmpbulkwalk", [v1 ? "-v1" : "-v2c", "-c", "public", "-On", "-OQ", "-Oe", "-Ot", "-Ox", "127.0.0.1:\(port)", oid])
        return SNMPD.parse(out)
    }

    /// net-snmp output (`-On -OQ`) as (OID without the leading dot, value); a hex string longer than 16
    /// bytes continues on the next lines.
    public static func parse(_ out: String) -> [(String, String)] {
        var rows: [(String, String)] = []
        for line in out.split(separator: "\n") {
            if line.hasPrefix("."), let eq = line.range(of: " = ") {
                rows.append((String(line[line.index(after: line.startIndex)..<eq.lowerBound]), String(line[eq.upperBound...])))
            } else if !rows.isEmpty {
                rows[rows.count - 1].1 += " " + line
            }
        }
        return rows
    }
}
