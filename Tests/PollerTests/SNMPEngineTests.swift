// The SNMP engine against net-snmp's snmpd on 127.0.0.1/::1: GETs and walks over v1, v2c and every v3
// auth/priv pair give what snmpget/snmpbulkwalk give; a dead agent among live ones holds only itself; an
// agent restart (engineBoots up) is resynced.
import Capture
import Foundation
import Synchronization
import Testing

@testable import Poller

@Suite("SNMP engine with net-snmp's snmpd", .serialized, .enabled(if: SNMPDAgent.available))
struct SNMPEngineTests {
    static let ifColumns = [1, 2, 3, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20].map { OID([1, 3, 6, 1, 2, 1, 2, 2, 1, UInt32($0)]) }
    static let ifXColumns = (1...19).map { OID([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, UInt32($0)]) }
    /// Columns whose values move while the test runs (counters, sysUpTime-based).
    static func moving(_ oid: OID) -> Bool {
        let a = oid.arcs
        if a.starts(with: [1, 3, 6, 1, 2, 1, 2, 2, 1]) { return [10, 11, 12, 13, 14, 16, 17, 18, 19, 20].contains(a[9]) }
        if a.starts(with: [1, 3, 6, 1, 2, 1, 31, 1, 1, 1]) { return (2...13).contains(a[10]) }
        return false
    }

    static func engine() throws -> SNMPEngine {
        let e = try SNMPEngine()
        e.start()
        return e
    }

    static func run(_ e: SNMPEngine, _ t: SNMPTarget, _ kind: SNMPOperationKind, timeout: Double = 20) -> Collector.Result {
        let c = Collector()
        e.submit(t, kind, handler: c)
        return c.wait(timeout)
    }

    /// Checks our walk against snmpbulkwalk runs before and after: the same OIDs, equal values, and
    /// counters between the two runs' values.
    static func compare(_ ours: [(root: Int, bind: SNMPVarBind)], _ before: [(String, String)], _ after: [(String, String)], roots: [OID]) {
        let before = before.filter { row in roots.contains { OID(row.0)!.hasPrefix($0) } }
        let after = after.filter { row in roots.contains { OID(row.0)!.hasPrefix($0) } }
        let a = Dictionary(after, uniquingKeysWith: { x, _ in x })
        #expect(Self.between(ours.map(\.bind.oid.description), before.map(\.0), after.map(\.0)))
        let b = Dictionary(before, uniquingKeysWith: { x, _ in x })
        for (_, vb) in ours {
            let key = vb.oid.description
            guard let lo = b[key], let hi = a[key] else { continue }
            let mine = vb.value.netSNMPText
            if moving(vb.oid), let l = UInt64(lo), let h = UInt64(hi), let m = UInt64(mine) {
                #expect(l <= m && m <= h, "\(key): \(m) not within \(l)…\(h)")
            } else {
                #expect(normal(mine) == normal(lo), "\(key): ours \(mine), snmpbulkwalk \(lo)")
            }
        }
    }

    /// Whether the OIDs of our walk lie between two snmpbulkwalks, one before and one after: every row
    /// of both, and none that neither had. The host's interfaces come and go while the tests run (the
    /// namespace tests' veth pairs are in the root namespace too), so the two may differ.
    static func between(_ ours: [String], _ before: [String], _ after: [String]) -> Bool {
        let o = Set(ours), b = Set(before), a = Set(after)
        return o.count == ours.count && b.intersection(a).isSubset(of: o) && o.isSubset(of: b.union(a))
    }

    static func normal(_ s: String) -> String {
        s.replacingOccurrences(of: "\"", with: "").split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
    }

    @Test func v2cGetEqualsSnmpget() throws {
        let agent = try SNMPDAgent()
        let e = try Self.engine()
        defer { e.stop() }
        let oids: [OID] = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.2.1.0", "1.3.6.1.2.1.1.99.0"]
        let r = Self.run(e, SNMPTarget(address: agent.v4, timeoutMs: 1000), .get(oids))
        #expect(r.done && r.error == nil)
        #expect(r.varbinds.map(\.root) == [0, 1, 2, 3, 4])
        let theirs = try agent.snmpcmd("snmpget", ["-v2c", "-c", "public", "-On", "-OQ", "-Oe", "-Ot", "-Ox", "127.0.0.1:\(agent.port)"] + oids.map(\.description))
        let rows = SNMPDAgent.parse(theirs)
        #expect(rows.count == 5)
        for (i, row) in rows.prefix(4).enumerated() {
            #expect(Self.normal(r.varbinds[i].bind.value.netSNMPText) == Self.normal(row.1))
        }
        #expect(r.varbinds[4].bind.value == .noSuchObject)
    }

    @Test(arguments: [SNMPVersion.v1, .v2c])
    func walkEqualsSnmpbulkwalk(_ version: SNMPVersion) throws {
        let agent = try SNMPDAgent()
        let e = try Self.engine()
        defer { e.stop() }
        for table in [("1.3.6.1.2.1.2.2.1", Self.ifColumns), ("1.3.6.1.2.1.31.1.1.1", Self.ifXColumns)] {
            let before = try agent.walk(table.0, version: version)
            // Small requests on purpose, so each walk takes several of them.
            let r = Self.run(e, SNMPTarget(address: agent.v4, version: version, timeoutMs: 1000, maxRepetitions: 3, maxOIDsPerRequest: 4), .walk(table.1))
            let after = try agent.walk(table.0, version: version)
            #expect(r.done && r.error == nil, "\(String(describing: r.error))")
            #expect(!r.varbinds.isEmpty)
            Self.compare(r.varbinds, before, after, roots: table.1)
            // Each varbind is under the root it is reported for.
            for (root, vb) in r.varbinds { #expect(vb.oid.hasPrefix(table.1[root])) }
        }
        #expect(e.stats[.nonIncreasing] == 0)
    }

    @Test func ipv6Agent() throws {
        let agent = try SNMPDAgent()
        let e = try Self.engine()
        defer { e.stop() }
        let r = Self.run(e, SNMPTarget(address: agent.v6, timeoutMs: 1000), .walk(["1.3.6.1.2.1.2.2.1.2"]))
        #expect(r.done && r.error == nil && !r.varbinds.isEmpty)
    }

    /// Every v3 user against one snmpd (one agent for all 43: starting one per user loaded the machine
    /// enough to disturb the timing tests running beside this suite).
    @Test func everyV3User() throws {
        let agent = try SNMPDAgent()
        let e = try Self.engine()
        defer { e.stop() }
        for (name, _, _) in SNMPDAgent.users {
            let before = try agent.walk("1.3.6.1.2.1.2.2.1.2").map(\.0)
            let r = Self.run(e, agent.v3Target(name), .walk(["1.3.6.1.2.1.2.2.1.2"]))
            let after = try agent.walk("1.3.6.1.2.1.2.2.1.2").map(\.0)
            #expect(r.done && r.error == nil, "\(name): \(String(describing: r.error)) \(e.stats.fields.filter { $0.1 > 0 })")
            #expect(Self.between(r.varbinds.map(\.bind.oid.description), before, after), "\(name): \(r.varbinds.map(\.bind.oid)) vs \(before) / \(after)")
        }
        // One discovery per (agent, user): the engine keeps what it learnt per user.
        #expect(e.stats[.engineDiscoveries] == SNMPDAgent.users.count)
        #expect(e.stats[.authFailures] == 0)
    }

    @Test func v3WrongPassphraseIsAReport() throws {
        let agent = try SNMPDAgent()
        let e = try Self.engine()
        defer { e.stop() }
        var t = agent.v3Target("sha256_aes")
        t.user!.authPassphrase = "wrongpass123"
        let r = Self.run(e, t, .get(["1.3.6.1.2.1.1.5.0"]))
        #expect(r.error == .usm(.wrongDigests))
        var u = agent.v3Target("sha_nopriv")
        u.user = USMUser(name: "nobody", auth: .sha1, authPassphrase: "authpass123")
        #expect(Self.run(e, u, .get(["1.3.6.1.2.1.1.5.0"])).error == .usm(.unknownUserNames))
    }

    @Test func v3AgentRestartIsResynced() throws {
        let agent = try SNMPDAgent()
        let e = try Self.engine()
        defer { e.stop() }
        let t = agent.v3Target("sha_aes")
        #expect(Self.run(e, t, .get(["1.3.6.1.2.1.1.3.0"])).error == nil)
        agent.stop()
        try agent.start()
        // New boots: the first request is outside the time window; the Report resyncs and the request goes again.
        let r = Self.run(e, t, .get(["1.3.6.1.2.1.1.3.0"]))
        #expect(r.error == nil, "\(String(describing: r.error))")
        #expect(e.stats[.timeResyncs] >= 1)
    }

    @Test func deadAgentHoldsOnlyItself() throws {
        let agent = try SNMPDAgent()
        let dead = try SilentAgent()
        let e = try Self.engine()
        defer { e.stop() }
        let start = Date()
        let deadOne = Collector()
        e.submit(SNMPTarget(address: PeerAddress(v4: 0x7f00_0001, port: dead.port), timeoutMs: 500, retries: 2), .walk(Self.ifColumns), handler: deadOne)
        var live: [Collector] = []
        for _ in 0..<50 {
            let c = Collector()
            e.submit(SNMPTarget(address: agent.v4, timeoutMs: 1000), .walk(Self.ifColumns), handler: c)
            live.append(c)
        }
        for c in live {
            let r = c.wait()
            #expect(r.error == nil)
            // All 50 walks end well before the dead agent's 1.5 s of attempts.
            #expect(r.finishedAt!.timeIntervalSince(start) < 1.4)
        }
        let d = deadOne.wait()
        #expect(d.error == .timeout(attempts: 3))
        #expect(d.finishedAt!.timeIntervalSince(start) >= 1.5)
        #expect(e.stats[.timeouts] == 1)
    }

    /// A device poll (system, IF-MIB, HOST-RESOURCES, a profile's UCD memory) gives what snmpget and
    /// snmpbulkwalk give.
    @Test(arguments: ["v2c", "sha256_aes256c"])
    func devicePollEqualsNetSNMP(_ how: String) throws {
        let agent = try SNMPDAgent()
        let e = try Self.engine()
        defer { e.stop() }
        let linux = SNMPProfile(
            name: "linux", vendor: "Linux", sysObjectIDPrefixes: ["1.3.6.1.4.1.8072.3.2.10"],
            sysDescr: [try SNMPPattern(#"^(?<os>Linux) \S+ (?<version>\S+)"#)],
            metrics: [SNMPProfileMetric(kind: .memTotalBytes, oid: "1.3.6.1.4.1.2021.4.5.0", walk: false, aggregate: .first, scale: 1024)])
        let target = how == "v2c" ? SNMPTarget(address: agent.v4, timeoutMs: 1000) : agent.v3Target(how)
        let result = Mutex<SNMPDeviceSample?>(nil)
        let poll = SNMPDevicePoll(deviceID: 7, target: target, engine: e, profiles: SNMPProfileSet([linux])) { s in result.withLock { $0 = s } }
        poll.start()
        let deadline = Date().addingTimeInterval(20)
        while result.withLock({ $0 == nil }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let s = try #require(result.withLock { $0 })
        #expect(s.error == nil, "\(String(describing: s.error))")
        let sys = SNMPDAgent.parse(try agent.snmpcmd("snmpget", ["-v2c", "-c", "public", "-On", "-OQ", "-Oe", "-Ot", "-Ov", "127.0.0.1:\(agent.port)", "1.3.6.1.2.1.1.5.0"]))
        _ = sys
        let name = try agent.snmpcmd("snmpget", ["-v2c", "-c", "public", "-Oqv", "127.0.0.1:\(agent.port)", "1.3.6.1.2.1.1.5.0"])
        #expect("\"\(s.sysName ?? "")\"" == name.trimmingCharacters(in: .whitespacesAndNewlines) || s.sysName == name.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(s.sysObjectID == "1.3.6.1.4.1.8072.3.2.10")
        #expect(s.category == SNMPCategory(profile: "linux", vendor: "Linux", os: "Linux", version: s.category?.version))
        #expect(s.category?.version?.isEmpty == false)
        // Every interface, with the names and types snmpbulkwalk shows, and HC counters.
        let descr = try agent.walk("1.3.6.1.2.1.2.2.1.2")
        let indexes = descr.map { OID($0.0)!.arcs.last! }
        // The host's interfaces (lo, eth0…) are there with names, HC counters and status; the namespace
        // tests' veth interfaces may come or go between the poll and this walk.
        for index in indexes where index < 1000 {
            #expect(s.interfaces.contains { $0.index == index && $0.descr != nil && $0.inOctets64 != nil && $0.operStatus != nil })
        }
        #expect(s.interfaces.filter { $0.index < 1000 }.count == indexes.filter { $0 < 1000 }.count)
        // Memory: the profile's memTotalReal (KB) × 1024.
        let total = try agent.snmpcmd("snmpget", ["-v2c", "-c", "public", "-Oqv", "127.0.0.1:\(agent.port)", "1.3.6.1.4.1.2021.4.5.0"])
        #expect(s.memTotalBytes == Double(total.split(separator: " ")[0].trimmingCharacters(in: .whitespacesAndNewlines))! * 1024)
        #expect(s.memUsedBytes != nil)
        #expect(s.storage.contains { $0.kind == "ram" })
        #expect(s.varbinds > 100)
    }
}
