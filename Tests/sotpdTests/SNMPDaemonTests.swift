// sotpd polling net-snmp's snmpd over v2c and v3 (SHA-256 with Cisco's AES-256-C) next to an address
// where nothing answers: rows in snmp_device_samples, snmp_interface_samples (rates from the second
// poll), snmp_storage_samples and snmp_interfaces; devices categorised from profiles/snmp; device_events
// for reachability and for the agent restarted between polls.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

@Suite("sotpd SNMP poller", .serialized, .enabled(if: SNMPD.available))
struct SNMPDaemonTests {
    @Test(.timeLimit(.minutes(3)))
    func pollsLiveAgentsRecordsTheDeadOneAndTheRestart() throws {
        let a = try SNMPD()
        let b = try SNMPD(users: [("mon", "SHA-256", "AES-256-C")])
        let dead = TestDB.freePort()
        try withReceiverDaemon("""
        [snmp]
        interval_s = 10
        timeout_ms = 300
        retries = 1
        profile_dirs = ["\(TestDB.repoRoot)/profiles/snmp"]
        [[snmp_users]]
        name = "mon"
        auth_protocol = "sha256"
        auth_password = "\(SNMPD.authPass)"
        priv_protocol = "aes256c"
        priv_password = "\(SNMPD.privPass)"
        [[devices]]
        name = "agent-a"
        address = "127.0.0.1"
        icmp = false
        snmp = true
        snmp_port = \(a.port)
        [[devices]]
        name = "agent-b"
        address = "::1"
        icmp = false
        snmp = true
        snmp_port = \(b.port)
        snmp_version = "3"
        snmp_user = "mon"
        [[devices]]
        name = "agent-dead"
        address = "127.0.0.1"
        icmp = false
        snmp = true
        snmp_port = \(dead)
        """, ready: "SNMP devices loaded",
        until: """
            (SELECT count(*) FROM device_events e JOIN devices d ON d.id = e.device_id WHERE d.name = 'agent-a' AND e.kind = 'reboot') = 1
            AND (SELECT count(*) FROM snmp_interface_samples s JOIN devices d ON d.id = s.device_id
                 WHERE d.name = 'agent-b' AND s.in_bps IS NOT NULL) > 0
            """) { conn in
            // Restart agent A after its first poll: the next one must see a reboot, not a counter spike.
            var polled = false
            for _ in 0..<300 where !polled {
                polled = try TestDB.scalar(conn, "SELECT count(*) > 0 FROM snmp_device_samples s JOIN devices d ON d.id = s.device_id WHERE d.name = 'agent-a' AND s.reachable") == "t"
                if !polled { Thread.sleep(forTimeInterval: 0.1) }
            }
            #expect(polled)
            // 6 s into the 10 s interval, so that at the next poll its uptime lags the clock by more
            // than the 10 s tolerance (agents' clocks drift a little; restarts lose the whole uptime).
            Thread.sleep(forTimeInterval: 6)
            a.stop()
            try a.start()
        } check: { conn, output in
            // Categorised from profiles/snmp/linux.toml (net-snmp on Linux).
            let cat = try conn.query("SELECT name, vendor, os, sys_object_id, sys_name, snmp_profile FROM devices WHERE name LIKE 'agent-%' ORDER BY name")
            #expect(cat[0] == ["agent-a", "Net-SNMP", "Linux", "1.3.6.1.4.1.8072.3.2.10", "sotp-test-agent", "linux"], "\(output)")
            #expect(cat[1] == ["agent-b", "Net-SNMP", "Linux", "1.3.6.1.4.1.8072.3.2.10", "sotp-test-agent", "linux"])
            #expect(cat[2][1] == nil)
            // The interface table equals what snmpbulkwalk lists.
            // The interface table holds the host's interfaces as snmpbulkwalk lists them (low ifIndexes:
            // lo, eth0…; the namespace tests' veth pairs, with high ones, may come and go meanwhile).
            let descr = try a.walk("1.3.6.1.2.1.2.2.1.2")
            let walked = descr.map { Int($0.0.split(separator: ".").last!)! }.filter { $0 < 1000 }
            let stored = try conn.query("""
                SELECT if_index FROM snmp_interfaces i JOIN devices d ON d.id = i.device_id
                WHERE d.name = 'agent-a' AND if_index < 1000 AND descr IS NOT NULL ORDER BY if_index
                """).map { Int($0[0] ?? "") ?? -1 }
            #expect(stored == walked, "\(output)")
            // Reachability events: up for both agents, down for the dead address; the restart as a reboot.
            let events = try conn.query("""
                SELECT d.name, e.kind, e.state FROM device_events e JOIN devices d ON d.id = e.device_id
                WHERE d.name LIKE 'agent-%' ORDER BY d.name, e.time, e.kind
                """).map { $0.compactMap { $0 }.joined(separator: " ") }
            #expect(events.contains("agent-a snmp up") && events.contains("agent-b snmp up") && events.contains("agent-dead snmp down"), "\(events)")
            let samplesA = try conn.query("SELECT s.time::text, uptime_s, reachable, error FROM snmp_device_samples s JOIN devices d ON d.id = s.device_id WHERE d.name = 'agent-a' ORDER BY time")
            #expect(events.filter { $0 == "agent-a reboot up" }.count == 1, "\(events) \(samplesA)")
            #expect(!events.contains("agent-b reboot up"))
            // Device rows: memory from the profile (UCD) or HOST-RESOURCES, uptime, and the dead one unreachable.
            #expect(try TestDB.scalar(conn, """
                SELECT bool_and(mem_total_bytes > 0 AND uptime_s >= 0 AND varbinds > 100) FROM snmp_device_samples s
                JOIN devices d ON d.id = s.device_id WHERE d.name IN ('agent-a', 'agent-b')
                """) == "t")
            #expect(try TestDB.scalar(conn, """
                SELECT bool_and(NOT reachable AND error LIKE 'no response%') FROM snmp_device_samples s
                JOIN devices d ON d.id = s.device_id WHERE d.name = 'agent-dead'
                """) == "t")
            #expect(try TestDB.scalar(conn, "SELECT count(*) > 0 FROM snmp_storage_samples WHERE kind = 'ram'") == "t")
            // No rate across the restart: agent A's second poll has none.
            #expect(try TestDB.scalar(conn, """
                SELECT count(*) FROM snmp_interface_samples s JOIN devices d ON d.id = s.device_id
                WHERE d.name = 'agent-a' AND s.in_bps IS NOT NULL AND s.time < (SELECT max(time) FROM device_events e WHERE e.device_id = d.id AND kind = 'reboot')
                """) == "0")
            #expect(try TestDB.scalar(conn, "SELECT max(value) FROM sotp_stats WHERE metric = 'snmp.polls'").flatMap(Double.init).map { $0 >= 4 } == true)
        }
    }
}
