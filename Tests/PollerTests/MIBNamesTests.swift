// OID names through net-snmp against net-snmp's own snmptranslate over the same MIB directory
// (Tests/Fixtures/mibs, written for these tests), and the names in the varbinds' JSON.
import Foundation
import Testing
import TestSupport

@testable import Poller

let fixtureMIBDirectory = TestDB.repoRoot + "/Tests/Fixtures/mibs"

@Suite("MIB names through net-snmp", .serialized)
struct MIBNamesTests {
    /// net-snmp's tree is per process: every test here loads the same settings.
    static func names() throws -> MIBNames { try MIBNames(directories: [fixtureMIBDirectory], modules: "ALL") }

    static let oids = [
        "1.3.6.1.4.1.99999.0.1",  // a notification
        "1.3.6.1.4.1.99999.1.1.1.2.7",  // a column, integer index
        "1.3.6.1.4.1.99999.1.2.1.2.3.80.65.82",  // a column, string index
        "1.3.6.1.4.1.99999.9.9",  // under a named node, the rest numeric
        "1.3.6.1.2.1.1.3.0",  // sysUpTime.0: no module loaded here names it
        "1.3.6.1.6.3.1.1.5.3",  // linkDown: likewise
        "0.0",
    ]

    @Test("names equal snmptranslate's for the same directory; unnamed OIDs are nil")
    func sameAsSnmptranslate() throws {
        let names = try Self.names()
        let expected: [String?] = [
            "SOTP-TEST-MIB::sotpTestPortDown", "SOTP-TEST-MIB::sotpTestPortName.7",
            "SOTP-TEST-MIB::sotpTestSiteState.\"PAR\"", "SOTP-TEST-MIB::sotpTest.9.9", nil, nil, nil,
        ]
        #expect(Self.oids.map { names.name(dotted: $0) } == expected)
        // Cached: the same answers again.
        #expect(Self.oids.map { names.name(dotted: $0) } == expected)
        #expect(names.name(dotted: "not an oid") == nil)

        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/snmptranslate") else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/snmptranslate")
        p.arguments = ["-M", fixtureMIBDirectory, "-m", "ALL"] + Self.oids.filter { $0 != "0.0" }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let theirs = text.split(separator: "\n").map(String.init)
        #expect(theirs.count == Self.oids.count - 1, "\(text)")
        for (oid, t) in zip(Self.oids, theirs) {
            // snmptranslate prints unnamed OIDs its own ways ("iso.3.6…", "SOTP-TEST-MIB::1.2.1…").
            if let mine = names.name(dotted: oid) { #expect(mine == t, "\(oid)") } else { #expect(!t.contains("::") || t.split(separator: "::")[1].first!.isNumber, "\(oid): \(t)") }
        }
    }

    @Test("a second load with other settings is refused; the same settings share the tree")
    func oneTreePerProcess() throws {
        _ = try Self.names()
        _ = try Self.names()
        #expect(throws: MIBNames.LoadError.self) { try MIBNames(directories: ["/nonexistent"], modules: "ALL") }
    }

    @Test("the cache stays bounded")
    func cacheIsBounded() throws {
        let names = try MIBNames(directories: [fixtureMIBDirectory], modules: "ALL", cacheLimit: 8)
        for i in 0..<100 { _ = names.name(dotted: "1.3.6.1.4.1.99999.1.1.1.2.\(i)") }
        #expect(names.cache.withLock { $0.count } <= 8)
        #expect(names.name(dotted: "1.3.6.1.4.1.99999.1.1.1.2.42") == "SOTP-TEST-MIB::sotpTestPortName.42")
    }

    @Test("varbinds' JSON carries name and value_name where a module names them")
    func namesInJSON() throws {
        let names = try Self.names()
        let vbs: [SNMPVarBind] = [
            SNMPVarBind("1.3.6.1.4.1.99999.1.1.1.2.7", .octetString(Array("ge-0/0/7".utf8))),
            SNMPVarBind("1.3.6.1.4.1.99999.1.2.1.2.3.80.65.82", .integer(2)),
            SNMPVarBind("1.3.6.1.2.1.1.5.0", .objectIdentifier("1.3.6.1.4.1.99999.0.1")),
        ]
        var r = try TrapReceiver(config: TrapReceiverTests.config())
        var replies: [[UInt8]] = []
        let bytes = communityMessage(.v2c, .snmpV2Trap, v2Header(trap: "1.3.6.1.4.1.99999.0.1") + vbs)
        let n = try #require(TrapReceiverTests.notification(TrapReceiverTests.feed(&r, bytes, replies: &replies)))
        var json: [UInt8] = []
        n.appendVarbindsJSON(to: &json, names: names)
        let expected = #"[{"oid":"1.3.6.1.4.1.99999.1.1.1.2.7","name":"SOTP-TEST-MIB::sotpTestPortName.7","type":"OctetString","value":"ge-0/0/7"},"#
            + #"{"oid":"1.3.6.1.4.1.99999.1.2.1.2.3.80.65.82","name":"SOTP-TEST-MIB::sotpTestSiteState.\"PAR\"","type":"Integer","value":2},"#
            + #"{"oid":"1.3.6.1.2.1.1.5.0","type":"ObjectIdentifier","value":"1.3.6.1.4.1.99999.0.1","value_name":"SOTP-TEST-MIB::sotpTestPortDown"}]"#
        #expect(String(decoding: json, as: UTF8.self) == expected)
        #expect(try JSONSerialization.jsonObject(with: Data(json)) is [Any])
        // Without names: as before.
        #expect(!n.varbindsJSON.contains("name"))
    }
}
