// sotpd discover: refuses ranges outside discovery.allow or larger than discovery.max_addresses before
// sending anything, sweeps an allowed loopback range, and adds its responders once.
import Foundation
import Sink
@testable import sotpd
import Testing
import TestSupport

@Suite("sotpd discover", .serialized)
struct DiscoverTests {
    func config(_ url: String, allow: String, max: Int = 1000) throws -> String {
        let path = TestDB.tempDir("cfg") + "/sotpd.toml"
        try """
        [database]
        url = "\(url)"
        password_file = "\(TestDB.passwordFile)"
        [discovery]
        allow = [\(allow)]
        max_addresses = \(max)
        rate_per_s = 2000
        timeout_ms = 500
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func refusesRangesOutsideTheAllowListOrTooLarge() throws {
        let cfg = try config(TestDB.info.url, allow: "\"127.0.3.0/28\"", max: 16)
        var r = try TestDB.run(sotpdBinary, ["discover", "--config", cfg, "127.0.4.0/28"])
        #expect(r.status == 2 && r.output.contains("127.0.4.0/28 is outside discovery.allow, which permits 127.0.3.0/28"), "\(r.output)")
        r = try TestDB.run(sotpdBinary, ["discover", "--config", cfg, "127.0.3.0/28", "127.0.3.0/30"])
        #expect(r.status == 2 && r.output.contains("discovery.max_addresses (16)"), "\(r.output)")
        r = try TestDB.run(sotpdBinary, ["discover", "--config", cfg, "127.0.3.1/28"])
        #expect(r.status == 2 && r.output.contains("is not a CIDR range"), "\(r.output)")
        let none = try config(TestDB.info.url, allow: "")
        r = try TestDB.run(sotpdBinary, ["discover", "--config", none, "127.0.3.0/30"])
        #expect(r.status == 2 && r.output.contains("permits nothing"), "\(r.output)")
    }

    @Test(.timeLimit(.minutes(2)))
    func addsTheRespondersOfAnAllowedRangeOnce() throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        _ = try conn.query("INSERT INTO devices (name, address) VALUES ('known', '127.0.3.5')")
        let cfg = try config(url, allow: "\"127.0.3.0/24\", \"::1/128\"")
        var r = try TestDB.run(sotpdBinary, ["discover", "--config", cfg, "127.0.3.0/28", "::1"])
        #expect(r.status == 0, "\(r.output)")
        // 14 usable IPv4 hosts (network and broadcast skipped) and ::1 answer; .5 was known already.
        #expect(r.output.contains("15 answered"), "\(r.output)")
        #expect(r.output.contains("added 14 new devices"), "\(r.output)")
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM devices WHERE 'discovered' = ANY(tags)") == "14")
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM devices WHERE address = '127.0.3.0' OR address = '127.0.3.15'") == "0")
        r = try TestDB.run(sotpdBinary, ["discover", "--config", cfg, "127.0.3.0/28", "::1"])
        #expect(r.output.contains("added 0 new devices"), "\(r.output)")
        r = try TestDB.run(sotpdBinary, ["discover", "--config", cfg, "--dry-run", "127.0.3.16/28"])
        #expect(r.status == 0 && r.output.contains("127.0.3.17 "), "\(r.output)")
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM devices") == "15")
    }
}
