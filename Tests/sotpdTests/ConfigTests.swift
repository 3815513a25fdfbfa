// Configuration: defaults, overrides, secrets, and a clear message naming the key for every kind of
// mistake; the binary exits 2 on each.
import Flow
import Foundation
import Poller
@testable import sotpd
import Testing
import TestSupport

/// The error parsing `toml` (with `env` as the environment) gives, nil when it parses.
func configParseError(_ toml: String, env: [String: String] = [:]) -> ConfigError? {
    do {
        _ = try Config.parse(toml, source: "test.toml", environment: env)
        return nil
    } catch {
        return error
    }
}

@Suite("Config")
struct ConfigTests {
    func error(_ toml: String, env: [String: String] = [:]) -> ConfigError? { configParseError(toml, env: env) }

    @Test func emptyFileGivesDocumentedDefaults() throws {
        let c = try Config.parse("", source: "empty")
        #expect(c.int("sink.batch_rows") == 10_000)
        #expect(c.int("sink.flush_interval_ms") == 250)
        #expect(c.int("retention.metrics_days") == 90)
        #expect(c.int("retention.logs_days") == 30)
        #expect(c.string("sink.spool_fsync") == "always")
        #expect(c.databasePassword == nil)
    }

    @Test func exampleConfigIsValid() throws {
        let text = try String(contentsOfFile: TestDB.repoRoot + "/config/sotpd.example.toml", encoding: .utf8)
        let pwFile = TestDB.tempDir("secret") + "/pw"
        try "s3cret\n".write(toFile: pwFile, atomically: true, encoding: .utf8)
        let c = try Config.parse(text, source: "example", environment: ["SOTP_DATABASE_PASSWORD_FILE": pwFile])
        #expect(c.devices.count == 3)
        #expect(c.devices[2].address == "::1")
        #expect(c.databasePassword == "s3cret")
    }

    @Test func unknownKeySuggestsTheNearOne() {
        let e = error("[sink]\nbatch_rowz = 5\n")
        #expect(e?.key == "sink.batch_rowz")
        #expect(e?.description.contains("did you mean \"sink.batch_rows\"") == true)
    }

    @Test func unknownSection() {
        #expect(error("[sinc]\nbatch_rows = 5\n")?.key == "sinc")
    }

    @Test func wrongType() {
        let e = error("[sink]\nbatch_rows = \"many\"\n")
        #expect(e?.key == "sink.batch_rows")
        #expect(e?.problem == "must be an integer in 1…1000000, got string \"many\"")
        #expect(error("[database]\nauto_migrate = 1\n")?.problem == "must be true or false, got integer 1")
    }

    @Test func outOfRange() {
        let e = error("[sink]\nbatch_rows = 0\n")
        #expect(e?.description == "config: \"sink.batch_rows\" must be an integer in 1…1000000, got integer 0")
        #expect(error("[sink]\nspool_fsync = \"sometimes\"\n")?.problem == "must be one of \"always\", \"never\", got string \"sometimes\"")
    }

    @Test func missingSecretFile() {
        let e = error("[database]\npassword_file = \"/nonexistent/sotp-pw\"\n")
        #expect(e?.key == "database.password_file")
        #expect(e?.problem == "names /nonexistent/sotp-pw, which does not exist")
    }

    @Test func emptySecretFileAndBothPasswordsAreErrors() throws {
        let empty = TestDB.tempDir("secret") + "/empty"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(error("[database]\npassword_file = \"\(empty)\"\n")?.problem.hasSuffix("which is empty") == true)
        #expect(error("[database]\npassword = \"a\"\npassword_file = \"\(empty)\"\n")?.key == "database.password_file")
    }

    @Test func environmentOverridesAndItsErrorsNameTheVariable() throws {
        let c = try Config.parse("[sink]\nbatch_rows = 5\n", source: "t", environment: ["SOTP_SINK_BATCH_ROWS": "7000", "SOTP_LOG_FORMAT": "json"])
        #expect(c.int("sink.batch_rows") == 7000)
        #expect(c.string("log.format") == "json")
        let e = error("", env: ["SOTP_SINK_BATCH_ROWS": "lots"])
        #expect(e?.key == "SOTP_SINK_BATCH_ROWS")
        #expect(e?.problem.contains("overriding sink.batch_rows") == true)
    }

    @Test func syntaxErrorGivesTheLine() {
        let e = error("[sink]\nbatch_rows = = 3\n")
        #expect(e?.key == "test.toml")
        #expect(e?.problem.contains("line 2") == true)
    }

    @Test func badDevices() {
        #expect(error("[[devices]]\nname = \"a\"\naddress = \"not-an-ip\"\n")?.key == "devices[0].address")
        #expect(error("[[devices]]\naddress = \"127.0.0.1\"\n")?.key == "devices[0].name")
        #expect(error("[[devices]]\nname = \"a\"\naddress = \"127.0.0.1\"\n[[devices]]\nname = \"a\"\naddress = \"::1\"\n")?.key == "devices[1].name")
        #expect(error("[[devices]]\nname = \"a\"\naddress = \"127.0.0.1\"\nsnmpp = true\n")?.key == "devices[0].snmpp")
    }

    @Test func crossKeyLimits() {
        #expect(error("[sink]\nmemory_bytes = 4194304\n")?.key == "sink.memory_bytes")
    }

    @Test func icmpAndDiscoveryDefaults() throws {
        let c = try Config.parse("", source: "empty")
        // The documented [icmp] defaults are ProbeSettings' own.
        #expect(c.icmpDefaults == ProbeSettings())
        let icmp = c.icmp
        #expect(icmp.enabled && icmp.socket == .auto)
        #expect(icmp.sourceV4 == nil && icmp.sourceV6 == nil)
        #expect(icmp.senderCPU == nil && icmp.receiverCPU == nil)
        #expect(icmp.inventoryRefresh == .seconds(2))
        #expect(c.discoveryAllow.isEmpty)
        #expect(c.discovery == DiscoveryConfig(allow: [], ratePerSecond: 1000, maxAddresses: 65536, timeout: .milliseconds(1000)))
        #expect(c.retention.eventsDays == 730)
    }

    @Test func icmpAndDiscoveryKeysParse() throws {
        let c = try Config.parse(
            """
            [icmp]
            enabled = false
            interval_s = 60
            probes = 5
            spacing_ms = 200
            timeout_ms = 2000
            payload_bytes = 1400
            tos = 184
            source_v4 = "192.0.2.10"
            source_v6 = "2001:db8::10"
            down_after = 3
            up_after = 2
            fail_loss_percent = 60
            socket = "dgram"
            sender_cpu = 0
            receiver_cpu = 1
            inventory_refresh_s = 5
            [discovery]
            allow = ["192.0.2.0/24", "2001:db8:1::/64"]
            rate_per_s = 50
            max_addresses = 256
            timeout_ms = 300
            """, source: "t")
        var want = ProbeSettings()
        want.interval = .seconds(60)
        want.probes = 5
        want.spacing = .milliseconds(200)
        want.timeout = .seconds(2)
        want.payloadBytes = 1400
        want.tos = 184
        want.downAfter = 3
        want.upAfter = 2
        want.failLossPercent = 60
        let icmp = c.icmp
        #expect(icmp.defaults == want)
        #expect(!icmp.enabled && icmp.socket == .dgram && icmp.senderCPU == 0 && icmp.receiverCPU == 1)
        #expect(icmp.inventoryRefresh == .seconds(5))
        // The source follows the target's family.
        #expect(icmp.settings(for: IPAddress("198.51.100.1")!).source == IPAddress("192.0.2.10"))
        #expect(icmp.settings(for: IPAddress("2001:db8:5::1")!).source == IPAddress("2001:db8::10"))
        #expect(c.discoveryAllow == [IPPrefix("192.0.2.0/24")!, IPPrefix("2001:db8:1::/64")!])
        #expect(c.discovery.ratePerSecond == 50 && c.discovery.maxAddresses == 256 && c.discovery.timeout == .milliseconds(300))
    }

    @Test func icmpValuesOutOfRangeNameTheKey() {
        #expect(error("[icmp]\nprobes = 0\n")?.description == "config: \"icmp.probes\" must be an integer in 1…64, got integer 0")
        #expect(error("[icmp]\nsender_cpu = 1024\n")?.key == "icmp.sender_cpu")
        #expect(error("[icmp]\npayload_bytes = 31\n")?.key == "icmp.payload_bytes")
        #expect(error("[icmp]\nfail_loss_percent = 0\n")?.key == "icmp.fail_loss_percent")
        #expect(error("[icmp]\nsocket = \"udp\"\n")?.problem == "must be one of \"auto\", \"raw\", \"dgram\", got string \"udp\"")
        #expect(error("[icmp]\nsource_v4 = \"::1\"\n")?.problem == "must be an IPv4 address, or \"\" to let the kernel choose, got \"::1\"")
        #expect(error("[icmp]\nsource_v6 = \"192.0.2.1\"\n")?.key == "icmp.source_v6")
        #expect(error("[discovery]\nmax_addresses = 16777217\n")?.key == "discovery.max_addresses")
        #expect(error("[icmp]\ntimout_ms = 5\n")?.description.contains("did you mean \"icmp.timeout_ms\"") == true)
    }

    @Test func flowCPUsAreAListOfCPUNumbers() throws {
        #expect(try Config.parse("[flow]\ncpus = \"0, 2-3\"\n", source: "t", environment: [:]).flowCPUs == [0, 2, 3])
        #expect(try Config.parse("", source: "t", environment: [:]).flowCPUs == [])
        for bad in ["1024", "3-1", "0,,1", "a", "-1", "1-2-3"] {
            let e = error("[flow]\ncpus = \"\(bad)\"\n")
            #expect(e?.key == "flow.cpus", "\(bad)")
            #expect(e?.problem.hasPrefix("must be CPU numbers 0…1023") == true, "\(bad)")
        }
    }

    @Test func apiListenIsAnAddressAndPortOrNothing() throws {
        #expect(try Config.parse("", source: "t").apiListen! == ("127.0.0.1", 9750))
        #expect(try Config.parse("[api]\nlisten = \"[::]:80\"\n", source: "t").apiListen! == ("::", 80))
        #expect(try Config.parse("[api]\nlisten = \"\"\n", source: "t").apiListen == nil)
        #expect(try Config.parse("", source: "t", environment: ["SOTP_API_LISTEN": "0.0.0.0:9100"]).apiListen! == ("0.0.0.0", 9100))
        let e = error("[api]\nlisten = \"localhost:9750\"\n")
        #expect(e?.key == "api.listen")
        #expect(error("", env: ["SOTP_API_LISTEN": "9750"])?.key == "SOTP_API_LISTEN")
    }

    @Test func probesMustFitTheInterval() {
        // (3 − 1) × 1 s + 5 s is not less than 5 s.
        let e = error("[icmp]\ninterval_s = 5\n")
        #expect(e?.key == "icmp.timeout_ms")
        #expect(e?.problem.contains("must end before the next cycle") == true)
        #expect(error("[icmp]\ninterval_s = 5\ntimeout_ms = 2999\n") == nil)
        #expect(error("[icmp]\ninterval_s = 5\nprobes = 2\nspacing_ms = 4000\ntimeout_ms = 1000\n")?.key == "icmp.timeout_ms")
    }

    @Test func discoveryAllowIsAListOfPrefixes() {
        let e = error("[discovery]\nallow = [\"192.0.2.0/24\", \"10.0.0.1/8\"]\n")
        #expect(e?.key == "discovery.allow[1]")
        #expect(e?.problem == "must be a CIDR prefix with its host bits zero (\"192.0.2.0/24\", \"2001:db8::/32\"), got \"10.0.0.1/8\"")
        #expect(error("[discovery]\nallow = [\"2001:db8::/129\"]\n")?.key == "discovery.allow[0]")
        #expect(error("[discovery]\nallow = [5]\n")?.key == "discovery.allow[0]")
        #expect(error("[discovery]\nallow = \"10.0.0.0/8\"\n")?.problem == "must be an array of strings, got string \"10.0.0.0/8\"")
    }

    @Test func listsAndAddressesFromTheEnvironment() throws {
        let c = try Config.parse(
            "[discovery]\nallow = [\"192.0.2.0/24\"]\n", source: "t",
            environment: ["SOTP_DISCOVERY_ALLOW": "10.0.0.0/8, 2001:db8::/32,", "SOTP_ICMP_SOURCE_V6": "::1"])
        #expect(c.discoveryAllow == [IPPrefix("10.0.0.0/8")!, IPPrefix("2001:db8::/32")!])
        #expect(c.icmp.sourceV6 == IPAddress("::1"))
        #expect(try Config.parse("[discovery]\nallow = [\"192.0.2.0/24\"]\n", source: "t", environment: ["SOTP_DISCOVERY_ALLOW": ""]).discoveryAllow.isEmpty)
        let e = error("", env: ["SOTP_DISCOVERY_ALLOW": "10.0.0.0/8,10.1.2.3/16"])
        #expect(e?.key == "SOTP_DISCOVERY_ALLOW")
        #expect(e?.problem.hasPrefix("(overriding discovery.allow[1]) must be a CIDR prefix") == true)
        #expect(error("", env: ["SOTP_ICMP_SOURCE_V4": "fe80::1"])?.key == "SOTP_ICMP_SOURCE_V4")
    }

    @Test func flowAggregationKeys() throws {
        let d = try Config.parse("", source: "t")
        #expect(d.flowAggregateKeys == [] && d.bool("flow.raw") && d.int("flow.aggregate_max_entries") == 100_000)
        let c = try Config.parse("[flow]\naggregate = [\"exporter\", \"in_if\", \"protocol\"]\nraw = false\naggregate_max_entries = 5000\n", source: "t")
        #expect(c.flowAggregateKeys == [.exporter, .inIf, .proto])
        #expect(!c.bool("flow.raw") && c.int("flow.aggregate_max_entries") == 5000)
        #expect(try Config.parse("", source: "t", environment: ["SOTP_FLOW_AGGREGATE": "dst_as, src_as"]).flowAggregateKeys == [.srcAS, .dstAS])

        // An unknown name: the key, the name and every allowed name.
        let e = error("[flow]\naggregate = [\"exporter\", \"src_ip\"]\n")
        #expect(e?.key == "flow.aggregate[1]")
        #expect(e?.problem == "must be one of the flow fields " + FlowAggregationKeys.names.joined(separator: ", ") + ", got \"src_ip\"")
        #expect(e?.problem.contains("src_addr, dst_addr, src_port, dst_port, protocol") == true)
        #expect(error("", env: ["SOTP_FLOW_AGGREGATE": "exporter,bogus"])?.problem.hasPrefix("(overriding flow.aggregate[1]) must be one of the flow fields exporter") == true)
        #expect(error("[flow]\naggregate = \"exporter\"\n")?.key == "flow.aggregate")
        #expect(error("[flow]\naggregate_max_entries = 10\n")?.problem == "must be an integer in 1000…10000000, got integer 10")
        // Neither raw records nor aggregates: refused, unless flows are off altogether.
        #expect(error("[flow]\nraw = false\n")?.key == "flow.raw")
        #expect(error("[flow]\nenabled = false\nraw = false\n") == nil)
    }

    @Test func deviceOverridesParseAndAreValidated() throws {
        let c = try Config.parse(
            """
            [[devices]]
            name = "a"
            address = "192.0.2.1"
            [[devices]]
            name = "b"
            address = "2001:db8::1"
            interval_s = 10
            timeout_ms = 800
            source = "2001:db8::10"
            tos = 46
            """, source: "t")
        #expect(c.devices[0].probe.isEmpty)
        #expect(c.devices[1].probe == ProbeOverrides(ints: ["interval_s": 10, "timeout_ms": 800, "tos": 46], source: IPAddress("2001:db8::10")))
        #expect(c.devices[1].probe.json == #"{"interval_s": 10, "timeout_ms": 800, "tos": 46, "source": "2001:db8::10"}"#)

        let dev = "[[devices]]\nname = \"a\"\naddress = \"192.0.2.1\"\n"
        #expect(error(dev + "[[devices]]\nname = \"b\"\naddress = \"192.0.2.2\"\ntimeout_ms = 0\n")?.description
            == "config: \"devices[1].timeout_ms\" must be an integer in 1…60000, got integer 0")
        #expect(error(dev + "probes = \"3\"\n")?.key == "devices[0].probes")
        #expect(error(dev + "source = \"2001:db8::1\"\n")?.key == "devices[0].source")
        #expect(error(dev + "source = \"nowhere\"\n")?.key == "devices[0].source")
        #expect(error(dev + "timout_ms = 5\n")?.description.contains("did you mean \"devices[0].timeout_ms\"") == true)
        // Valid alone, but the cycle does not fit: the key the device changed is named.
        #expect(error(dev + "interval_s = 5\n")?.key == "devices[0].interval_s")
        #expect(error(dev + "timeout_ms = 28000\n")?.key == "devices[0].timeout_ms")
        // The defaults it combines with are the effective ones, environment included.
        #expect(error(dev + "interval_s = 10\n") == nil)
        #expect(error(dev + "interval_s = 10\n", env: ["SOTP_ICMP_TIMEOUT_MS": "9000"])?.key == "devices[0].interval_s")
    }

    @Test func effectiveConfigIsCompleteAndReadsBackTheSame() throws {
        let c = try Config.parse(
            """
            [icmp]
            probes = 4
            [discovery]
            allow = ["192.0.2.0/24"]
            [[devices]]
            name = "a"
            address = "192.0.2.1"
            probes = 2
            source = "192.0.2.9"
            """, source: "t")
        let text = c.effective
        for key in configKeys where !key.secret {
            let leaf = key.path.split(separator: ".")[1]
            #expect(text.contains("\n\(leaf) = "), "\(key.path) missing from check-config output")
        }
        #expect(text.contains("allow = [\"192.0.2.0/24\"]"))
        let again = try Config.parse(text, source: "effective")
        // Secrets read back as "<redacted>"; everything else as it was.
        let secrets = Set(configKeys.filter(\.secret).map(\.path))
        #expect(again.values.filter { !secrets.contains($0.key) } == c.values.filter { !secrets.contains($0.key) })
        #expect(again.devices == c.devices)
    }

    @Test func readmeAndExampleListEveryKey() throws {
        let readme = try String(contentsOfFile: TestDB.repoRoot + "/README.md", encoding: .utf8)
        let example = try String(contentsOfFile: TestDB.repoRoot + "/config/sotpd.example.toml", encoding: .utf8)
        for key in configKeys {
            #expect(readme.contains("`\(key.path)`"), "README's configuration reference lacks \(key.path)")
            if key.secret { continue }
            let parts = key.path.split(separator: ".").map(String.init)
            var body = example.range(of: "\n[\(parts[0])]\n").map { example[$0.upperBound...] } ?? ""
            if let end = body.range(of: "\n[") { body = body[..<end.lowerBound] }
            #expect(("\n" + body).contains("\n\(parts[1]) = "), "config/sotpd.example.toml lacks \(key.path)")
        }
        for key in ProbeOverrides.keys {
            #expect(readme.contains("`\(key)`"), "README does not list the device override \(key)")
        }
    }

    @Test func passwordsInTheURLAreMaskedForLogs() {
        #expect(redactPassword("postgresql://sotp:hunter2@db:5432/sotp") == "postgresql://sotp:***@db:5432/sotp")
        #expect(redactPassword("postgresql://sotp@db/sotp?password=hunter2&sslmode=require") == "postgresql://sotp@db/sotp?password=***&sslmode=require")
        #expect(redactPassword("host=db password='a b' user=x") == "host=db password=*** user=x")
        #expect(redactPassword("postgresql://sotp@127.0.0.1:55432/sotp") == "postgresql://sotp@127.0.0.1:55432/sotp")
    }

    @Test func secretsAreRedacted() throws {
        let c = try Config.parse("[database]\npassword = \"hunter2\"\n", source: "t")
        #expect(!c.effective.contains("hunter2"))
        #expect(c.effective.contains("password = \"<redacted>\""))
    }
}

/// The built sotpd next to the test bundle.
let sotpdBinary: String = {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sotpd").path
}()

@Suite("sotpd exits 2 on a bad config")
struct BadConfigExitTests {
    static let cases: [(String, String)] = [
        ("[sink]\nbatch_rowz = 1\n", "\"sink.batch_rowz\" is not a known key"),
        ("[sink]\nbatch_rows = \"x\"\n", "\"sink.batch_rows\" must be an integer"),
        ("[sink]\nbatch_rows = 0\n", "\"sink.batch_rows\" must be an integer in 1…1000000, got integer 0"),
        ("[database]\npassword_file = \"/nonexistent/pw\"\n", "\"database.password_file\" names /nonexistent/pw, which does not exist"),
        ("[discovery]\nallow = [\"10.0.0.1/8\"]\n", "\"discovery.allow[0]\" must be a CIDR prefix"),
        ("[flow]\naggregate = [\"src_ip\"]\n", "\"flow.aggregate[0]\" must be one of the flow fields exporter, observation_domain, src_addr"),
        ("[[devices]]\nname = \"a\"\naddress = \"192.0.2.1\"\ntimeout_ms = 30000\n", "\"devices[0].timeout_ms\" does not fit"),
        ("[api]\nmax_body_bytes = 10\n", "\"api.max_body_bytes\" must be an integer in 1024…67108864"),
        ("[[api_tokens]]\nname = \"g\"\nrole = \"root\"\ntoken_sha256 = \"\(String(repeating: "a", count: 64))\"\n",
         "\"api_tokens[0].role\" must be one of admin, operator, viewer, got \"root\""),
        ("[[api_tokens]]\nname = \"g\"\nrole = \"viewer\"\ntoken_sha256 = \"abc\"\n", "\"api_tokens[0].token_sha256\" must be 64 hex digits"),
        ("[[api_tokens]]\nname = \"g\"\nrole = \"viewer\"\n", "\"api_tokens[0].token_sha256\" or token_file is required"),
        ("[[api_tokens]]\nrole = \"viewer\"\ntoken_sha256 = \"\(String(repeating: "a", count: 64))\"\n", "\"api_tokens[0].name\" is required"),
        ("[[api_tokens]]\nname = \"g\"\nrole = \"viewer\"\ntoken = \"plain\"\n", "\"api_tokens[0].token\" is not a known key"),
        ("[[api_tokens]]\nname = \"g\"\nrole = \"viewer\"\ntoken_file = \"/nonexistent/t\"\n", "\"api_tokens[0].token_file\" names /nonexistent/t"),
        ("[[api_tokens]]\nname = \"g\"\nrole = \"viewer\"\ntoken_sha256 = \"\(String(repeating: "a", count: 64))\"\n[[api_tokens]]\nname = \"g\"\nrole = \"admin\"\ntoken_sha256 = \"\(String(repeating: "b", count: 64))\"\n",
         "\"api_tokens[1].name\" repeats the token name \"g\""),
    ]

    @Test(arguments: 0..<cases.count)
    func exitsTwoNamingTheKey(_ i: Int) throws {
        let (toml, message) = Self.cases[i]
        let path = TestDB.tempDir("cfg") + "/sotpd.toml"
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        for command in ["run", "migrate", "check-config"] {
            let r = try TestDB.run(sotpdBinary, [command, "--config", path])
            #expect(r.status == 2, "\(command): \(r.output)")
            #expect(r.output.contains(message), "\(command): \(r.output)")
        }
    }

    @Test func missingConfigFileExitsTwo() throws {
        let r = try TestDB.run(sotpdBinary, ["check-config", "--config", "/nonexistent/sotpd.toml"])
        #expect(r.status == 2)
        #expect(r.output.contains("/nonexistent/sotpd.toml"))
    }
}
