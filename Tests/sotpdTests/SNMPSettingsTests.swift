// The SNMP poller's configuration: [snmp] keys, per-device snmp_* overrides and [[snmp_users]] by name,
// each problem naming its key; the vendor profiles in profiles/snmp categorise the examples written for
// them, and a broken profile file names the file and key.
import Foundation
import Poller
@testable import sotpd
import Testing
import TestSupport

@Suite("SNMP settings and profiles")
struct SNMPSettingsTests {
    func error(_ toml: String) -> ConfigError? {
        do {
            _ = try Config.parse(toml, source: "test.toml")
            return nil
        } catch {
            return error
        }
    }

    static let user = """
        [[snmp_users]]
        name = "mon"
        auth_protocol = "sha512"
        auth_password = "authpass123"
        priv_protocol = "aes256c"
        priv_password = "privpass123"
        """

    @Test func v3NeedsAKnownUser() {
        #expect(error("[snmp]\nversion = \"3\"\n")?.key == "snmp.user")
        #expect(error("[snmp]\nversion = \"3\"\nuser = \"nobody\"\n")?.problem.contains("not a [[snmp_users]] entry") == true)
        #expect(error("[snmp]\nversion = \"3\"\nuser = \"mon\"\n" + Self.user) == nil)
        let device = "[[devices]]\nname = \"r1\"\naddress = \"192.0.2.1\"\nsnmp = true\nsnmp_version = \"3\"\nsnmp_user = \"other\"\n"
        #expect(error(Self.user + "\n" + device)?.key == "devices[0].snmp_user")
        #expect(error("[[devices]]\nname = \"r1\"\naddress = \"192.0.2.1\"\nsnmp_port = 0\n")?.key == "devices[0].snmp_port")
        #expect(error("[[devices]]\nname = \"r1\"\naddress = \"192.0.2.1\"\nsnmp_version = \"2\"\n")?.problem.contains("\"1\", \"2c\", \"3\"") == true)
        #expect(error("[snmp]\nmax_repetitions = 0\n")?.key == "snmp.max_repetitions")
    }

    @Test func targetsFromDefaultsAndOverrides() throws {
        let c = try Config.parse("[snmp]\ncommunity = \"s3cret\"\ntimeout_ms = 700\n" + Self.user, source: "t")
        let snmp = SNMPConfig(c)
        var o = SNMPOverrides()
        o.ints["snmp_port"] = 1161
        guard case .success(let (t, interval)) = snmp.target(IPAddress("192.0.2.7")!, o) else { Issue.record("no target"); return }
        #expect(t.address.port == 1161 && t.version == .v2c && t.community == "s3cret" && t.timeoutMs == 700 && interval == 300)
        o.strings["snmp_version"] = "3"
        o.strings["snmp_user"] = "mon"
        o.strings["snmp_security_level"] = "authNoPriv"
        guard case .success(let (v3, _)) = snmp.target(IPAddress("2001:db8::7")!, o) else { Issue.record("no v3 target"); return }
        #expect(v3.user?.authProtocol == .sha512 && v3.user?.privProtocol == .aes256c && v3.securityLevel == .authNoPriv)
        // From devices.settings jsonb, as an operator sets it with SQL.
        #expect(throws: OverrideProblem.self) { try SNMPOverrides(settings: ["snmp_retries": 99]) }
        #expect(throws: OverrideProblem.self) { try SNMPOverrides(settings: ["snmp_version": 3]) }
        #expect(try SNMPOverrides(settings: ["snmp_retries": 1, "timeout_ms": 5]).ints == ["snmp_retries": 1])
    }

    @Test func profilesCategoriseTheirExamples() throws {
        let (set, missing, files) = try SNMPProfileLoader.load(dirs: [TestDB.repoRoot + "/profiles/snmp"])
        #expect(missing.isEmpty && files >= 6)
        let lines = try String(contentsOfFile: TestDB.repoRoot + "/profiles/snmp/examples.txt", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        #expect(lines.count >= 12)
        for line in lines {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 6 else { Issue.record("bad example line: \(line)"); continue }
            let c = set.categorise(sysObjectID: f[0], sysDescr: f[1])
            // The generic profile's vendor is "unknown" in the file and NULL in the database.
            let got = [c.vendor ?? "unknown", c.model ?? "", c.os ?? "", c.version ?? ""]
            #expect(got == Array(f[2...5]), "\(f[0]) \(f[1].prefix(60))")
        }
        // An unknown enterprise falls back to the generic profile (HOST-RESOURCES only).
        #expect(set.profile(sysObjectID: "1.3.6.1.4.1.424242.1", sysDescr: "Some box").name == "generic")
    }

    @Test func brokenProfileIsAConfigError() throws {
        let dir = TestDB.tempDir("profiles")
        try "name = \"x\"\nvendor = \"X\"\nsys_descr = ['(?<os>']\n".write(toFile: dir + "/x.toml", atomically: true, encoding: .utf8)
        let e = error("[snmp]\nprofile_dirs = [\"\(dir)\"]\n")
        #expect(e?.key == "snmp.profile_dirs")
        #expect(e?.problem.contains("x.toml: \"sys_descr[0]\" is not a valid pattern") == true, "\(String(describing: e))")
        // A missing directory is not an error (a warning at start).
        #expect(error("[snmp]\nprofile_dirs = [\"/nonexistent\"]\n") == nil)
    }

    @Test func brokenProfileNamesFileAndKey() {
        func problem(_ text: String) -> String? {
            do {
                _ = try SNMPProfileLoader.parse(text, file: "x.toml")
                return nil
            } catch { return error.description }
        }
        #expect(problem("vendor = \"A\"\n") == "x.toml: \"name\" must be a non-empty string")
        #expect(problem("name = \"a\"\nvendor = \"A\"\nsys_descr = ['(?<os>unclosed']\n")?.hasPrefix("x.toml: \"sys_descr[0]\" is not a valid pattern") == true)
        #expect(problem("name = \"a\"\nvendor = \"A\"\n[[metrics]]\nname = \"cpu\"\noid = \"1.3.6\"\n")?.hasPrefix("x.toml: \"metrics[0].name\"") == true)
        #expect(problem("name = \"a\"\nvendor = \"A\"\n[[metrics]]\nname = \"cpu_pct\"\noid = \"1.x\"\n")?.hasPrefix("x.toml: \"metrics[0].oid\"") == true)
    }
}
