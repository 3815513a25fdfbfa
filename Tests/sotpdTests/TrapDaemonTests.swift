// sotpd receiving SNMP notifications from net-snmp's own snmptrap and snmpinform: v1, v2c and v3 (USM
// with authentication and privacy) traps, v2c and v3 informs (which the tools only count as delivered
// once sotpd acknowledges them), and what a wrong community or key costs: a counter, not a row.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

@Suite("sotpd traps", .serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/snmptrap")))
struct TrapDaemonTests {
    @Test("trap and varbind OIDs are named from the MIB files in traps.mib_dirs", .timeLimit(.minutes(2)))
    func mibNames() throws {
        let port = TestDB.freePort()
        let env = ["SNMP_PERSISTENT_DIR": TestDB.tempDir("snmp"), "SNMPCONFPATH": TestDB.tempDir("snmpconf")]
        try withReceiverDaemon("""
        [traps]
        port = \(port)
        state_file = "\(TestDB.tempDir("engine"))/snmp-engine"
        mib_dirs = ["\(TestDB.repoRoot)/Tests/Fixtures/mibs"]
        """, ready: "trap listener started", until: "SELECT count(*) = 2 FROM snmp_traps") { _ in
            for (uptime, trap) in [("11", "1.3.6.1.4.1.99999.0.1"), ("12", "1.3.6.1.6.3.1.1.5.3")] {
                let child = try Child("/usr/bin/snmptrap", ["-v", "2c", "-c", "public", "udp:127.0.0.1:\(port)", uptime, trap,
                                                           "1.3.6.1.4.1.99999.1.1.1.2.7", "s", "ge-0/0/7",
                                                           "1.3.6.1.4.1.99999.1.2.1.2.3.80.65.82", "i", "2",
                                                           "1.3.6.1.2.1.1.2.0", "o", "1.3.6.1.4.1.99999.0.1"], env: env)
                #expect(child.wait(timeout: 30) == 0, "\(child.output)")
            }
        } check: { conn, output in
            let rows = try conn.query("""
                SELECT trap_oid, trap_name, (SELECT string_agg(coalesce(v->>'name', '-'), ' ' ORDER BY n)
                    FROM jsonb_array_elements(varbinds) WITH ORDINALITY AS e(v, n))
                FROM snmp_traps ORDER BY uptime_cs
                """)
            // No module here names sysObjectID.0, nor linkDown.
            let vbNames = "SOTP-TEST-MIB::sotpTestPortName.7 SOTP-TEST-MIB::sotpTestSiteState.\"PAR\" -"
            #expect(rows == [
                ["1.3.6.1.4.1.99999.0.1", "SOTP-TEST-MIB::sotpTestPortDown", vbNames],
                ["1.3.6.1.6.3.1.1.5.3", nil, vbNames],
            ], "\(output)")
            #expect(try TestDB.scalar(conn, """
                SELECT count(*) FROM snmp_traps, jsonb_array_elements(varbinds) v
                WHERE v->>'value_name' = 'SOTP-TEST-MIB::sotpTestPortDown'
                """) == "2")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func netSNMPTrapsAndInformsLandAsSent() throws {
        let port = TestDB.freePort()
        let target = "udp:127.0.0.1:\(port)"
        let state = TestDB.tempDir("engine") + "/snmp-engine"
        let auth = ["-u", "ops", "-l", "authPriv", "-a", "SHA", "-A", "auth-pass-1", "-x", "AES", "-X", "priv-pass-1"]
        // net-snmp keeps what it learns (engine IDs, boots) under SNMP_PERSISTENT_DIR; a private one.
        let env = ["SNMP_PERSISTENT_DIR": TestDB.tempDir("snmp"), "SNMPCONFPATH": TestDB.tempDir("snmpconf")]
        func tool(_ name: String, _ args: [String]) throws -> (status: Int32, output: String) {
            let child = try Child("/usr/bin/" + name, args, env: env)
            let status = child.wait(timeout: 30)
            return (status, child.output)
        }
        try withReceiverDaemon("""
        [traps]
        port = \(port)
        communities = ["public"]
        state_file = "\(state)"
        [[snmp_users]]
        name = "ops"
        auth_protocol = "sha"
        auth_password = "auth-pass-1"
        priv_protocol = "aes"
        priv_password = "priv-pass-1"
        """, ready: "trap listener started", until: "SELECT count(*) = 5 FROM snmp_traps") { _ in
            var r = try tool("snmptrap", ["-v", "1", "-c", "public", target, "1.3.6.1.4.1.8072.2.3.1", "127.0.0.5", "6", "17", "4242",
                                          "1.3.6.1.2.1.1.5.0", "s", "host-a", "1.3.6.1.2.1.2.2.1.1.3", "i", "3"])
            #expect(r.status == 0, "\(r.output)")
            r = try tool("snmptrap", ["-v", "2c", "-c", "public", target, "4243", "1.3.6.1.6.3.1.1.5.3",
                                      "1.3.6.1.2.1.2.2.1.1.2", "i", "2", "1.3.6.1.2.1.2.2.1.2.2", "s", "eth1",
                                      "1.3.6.1.2.1.4.20.1.1.192.0.2.1", "a", "192.0.2.1", "1.3.6.1.2.1.1.3.0", "t", "99",
                                      "1.3.6.1.2.1.2.2.1.10.2", "c", "4000000000", "1.3.6.1.2.1.1.2.0", "o", "1.3.6.1.4.1.8072.3.2.10"])
            #expect(r.status == 0, "\(r.output)")
            // An inform is only delivered once acknowledged: exit 0 says sotpd answered.
            r = try tool("snmpinform", ["-v", "2c", "-c", "public", "-r", "1", "-t", "3", target, "4244", "1.3.6.1.6.3.1.1.5.4",
                                        "1.3.6.1.2.1.2.2.1.1.2", "i", "2"])
            #expect(r.status == 0, "snmpinform v2c: \(r.output)")
            // v3 trap: the sender is authoritative (its engine ID, which the keys are localized with).
            r = try tool("snmptrap", ["-v", "3"] + auth + ["-e", "0x80001f8880aabbccdd", target, "4245", "1.3.6.1.6.3.1.1.5.1",
                                                           "1.3.6.1.2.1.1.5.0", "s", "v3-trap"])
            #expect(r.status == 0, "\(r.output)")
            // v3 inform: sotpd is authoritative; snmpinform discovers its engine ID and time first.
            r = try tool("snmpinform", ["-v", "3"] + auth + ["-r", "1", "-t", "3", target, "4246", "1.3.6.1.6.3.1.1.5.2",
                                                             "1.3.6.1.2.1.1.5.0", "s", "v3-inform"])
            #expect(r.status == 0, "snmpinform v3: \(r.output)")
            // Refused: a community not in the list, and a v3 trap with the wrong passphrase.
            r = try tool("snmptrap", ["-v", "2c", "-c", "private", target, "1", "1.3.6.1.6.3.1.1.5.3"])
            r = try tool("snmptrap", ["-v", "3", "-u", "ops", "-l", "authPriv", "-a", "SHA", "-A", "wrong-pass-1", "-x", "AES",
                                      "-X", "priv-pass-1", "-e", "0x80001f8880aabbccdd", target, "1", "1.3.6.1.6.3.1.1.5.1"])
        } check: { conn, output in
            let rows = try conn.query("""
                SELECT version, pdu, community, user_name, trap_oid, uptime_cs, host(agent_address), enterprise, host(source)
                FROM snmp_traps ORDER BY uptime_cs
                """)
            #expect(rows == [
                ["1", "v1trap", "public", nil, "1.3.6.1.4.1.8072.2.3.1.0.17", "4242", "127.0.0.5", "1.3.6.1.4.1.8072.2.3.1", "127.0.0.1"],
                ["2", "trap", "public", nil, "1.3.6.1.6.3.1.1.5.3", "4243", nil, nil, "127.0.0.1"],
                ["2", "inform", "public", nil, "1.3.6.1.6.3.1.1.5.4", "4244", nil, nil, "127.0.0.1"],
                ["3", "trap", nil, "ops", "1.3.6.1.6.3.1.1.5.1", "4245", nil, nil, "127.0.0.1"],
                ["3", "inform", nil, "ops", "1.3.6.1.6.3.1.1.5.2", "4246", nil, nil, "127.0.0.1"],
            ], "\(output)")
            // Varbinds after sysUpTime.0 and snmpTrapOID.0, typed, in order.
            let v2 = try TestDB.scalar(conn, """
                SELECT jsonb_agg(jsonb_build_array(v->>'oid', v->>'type', v->>'value') ORDER BY n)::text
                FROM snmp_traps, jsonb_array_elements(varbinds) WITH ORDINALITY AS e(v, n)
                WHERE uptime_cs = 4243 AND v->>'oid' NOT IN ('1.3.6.1.2.1.1.3.0', '1.3.6.1.6.3.1.1.4.1.0')
                """) ?? ""
            for piece in ["\"1.3.6.1.2.1.2.2.1.1.2\"", "\"2\"", "\"eth1\"", "\"192.0.2.1\"", "\"4000000000\"", "\"1.3.6.1.4.1.8072.3.2.10\""] {
                #expect(v2.contains(piece), "\(piece) missing from \(v2)")
            }
            // The v1 trap's varbinds too.
            #expect(try TestDB.scalar(conn, "SELECT varbinds::text LIKE '%host-a%' FROM snmp_traps WHERE version = 1") == "t")
            // The refused two are counted, and the engine state was kept.
            let stats = try conn.query("SELECT metric, max(value) FROM sotp_stats WHERE metric LIKE 'traps.%' AND value > 0 GROUP BY 1 ORDER BY 1")
            #expect(stats.contains { $0[0]?.contains("community") == true }, "\(stats)")
            #expect(stats.contains { $0[0]?.contains("digest") == true }, "\(stats)")
            #expect((try? String(contentsOfFile: state, encoding: .utf8))?.contains("boots=1") == true)
        }
    }
}
