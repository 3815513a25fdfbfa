// Configuration: defaults, overrides, secrets, and a clear message naming the key for every kind of
// mistake; the binary exits 2 on each.
import Foundation
@testable import sotpd
import Testing
import TestSupport

@Suite("Config")
struct ConfigTests {
    func error(_ toml: String, env: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try Config.parse(toml, source: "test.toml", environment: env)
            return nil
        } catch {
            return error
        }
    }

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
