// `[alerts]` and `[[alerts.webhooks]]`: defaults, every key parsed, every mistake named by its key, and
// the binary exiting 2 on each.
import Foundation
@testable import sotpd
import Testing
import TestSupport

@Suite("Alert config")
struct AlertConfigTests {
    func error(_ toml: String, env: [String: String] = [:]) -> ConfigError? { configParseError(toml, env: env) }

    @Test func defaults() throws {
        let c = try Config.parse("", source: "empty")
        #expect(c.alertsEnabled)
        #expect(c.alertWebhooks.isEmpty)
        let r = c.alertRules
        #expect(r.deviceDown && r.deviceDownAfterMicros == 120_000_000)
        #expect(r.loss && r.lossPercent == 20 && r.lossCycles == 3)
        #expect(r.rtt && r.rttMs == 250 && r.rttCycles == 3)
        #expect(r.interfaceDown && r.interfaceDownSeenUp && r.interfaceErrors && r.interfaceErrorsPerSecond == 2 && r.interfaceErrorPermille == 10)
        #expect(r.syslog && r.syslogSeverity == 2 && r.syslogWindowMicros == 300_000_000 && r.repeatMicros == 0)
    }

    @Test func everyKeyAndWebhooksParse() throws {
        let token = TestDB.tempDir("secret") + "/token"
        try "abc123\n".write(toFile: token, atomically: true, encoding: .utf8)
        let c = try Config.parse("""
        [alerts]
        device_down_after_min = 5
        loss = false
        rtt_ms = 80
        rtt_cycles = 4
        interface_down_seen_up = false
        syslog_severity = 3
        syslog_window_s = 60
        repeat_interval_min = 30
        [[alerts.webhooks]]
        name = "ops"
        url = "https://hooks.example.com/T000/B000/XXXX"
        format = "slack"
        headers = { "X-Team" = "netops" }
        bearer_token_file = "\(token)"
        timeout_s = 3
        max_retries = 7
        retry_initial_ms = 200
        retry_max_ms = 5000
        [[alerts.webhooks]]
        url = "http://127.0.0.1:8080/alerts"
        """, source: "t", environment: ["SOTP_ALERTS_RTT_MS": "90"])
        let r = c.alertRules
        #expect(r.deviceDownAfterMicros == 300_000_000 && !r.loss && r.rttMs == 90 && r.rttCycles == 4 && !r.interfaceDownSeenUp)
        #expect(r.syslogSeverity == 3 && r.syslogWindowMicros == 60_000_000 && r.repeatMicros == 1_800_000_000)
        #expect(c.alertWebhooks.count == 2)
        let w = c.alertWebhooks[0]
        #expect(w.name == "ops" && w.format == .slack && w.headers == ["X-Team": "netops"] && w.bearerToken == "abc123")
        #expect(w.timeout == .seconds(3) && w.maxRetries == 7 && w.retryInitial == .milliseconds(200) && w.retryMax == .seconds(5))
        #expect(c.alertWebhooks[1].name == "webhook1" && c.alertWebhooks[1].format == .generic && c.alertWebhooks[1].maxRetries == 5)
        // check-config shows the webhooks without their secrets.
        let shown = c.effective
        #expect(shown.contains("[alerts]\nenabled = true\n"))
        #expect(shown.contains("url = \"https://hooks.example.com/<redacted>\""))
        #expect(!shown.contains("XXXX") && !shown.contains("abc123") && !shown.contains("netops"))
    }

    static let cases: [(String, String, String)] = [
        ("[alerts]\nloss_percent = 0\n", "alerts.loss_percent", "must be an integer in 1…100, got integer 0"),
        ("[alerts]\nlos_percent = 5\n", "alerts.los_percent", "did you mean \"alerts.loss_percent\""),
        ("[alerts]\nsyslog_severity = 8\n", "alerts.syslog_severity", "must be an integer in 0…7"),
        ("[alerts]\nenabled = \"yes\"\n", "alerts.enabled", "must be true or false"),
        ("[alerts]\ninterface_errors_per_s = 0\ninterface_error_permille = 0\n", "alerts.interface_errors", "are both 0"),
        ("[alerts]\nwebhooks = \"x\"\n", "alerts.webhooks", "must be an array of tables"),
        ("[[alerts.webhook]]\nurl = \"http://127.0.0.1/\"\n", "alerts.webhook", "did you mean \"alerts.webhooks\""),
        ("[[alerts.webhooks]]\nname = \"a\"\n", "alerts.webhooks[0].url", "is required"),
        ("[[alerts.webhooks]]\nurl = \"ftp://example.com/x\"\n", "alerts.webhooks[0].url", "must be an http:// or https:// URL"),
        ("[[alerts.webhooks]]\nurl = \"http://127.0.0.1/\"\nformat = \"teams\"\n", "alerts.webhooks[0].format", "must be one of \"generic\", \"slack\", \"discord\""),
        ("[[alerts.webhooks]]\nurl = \"http://127.0.0.1/\"\ncolour = \"red\"\n", "alerts.webhooks[0].colour", "is not a known key"),
        ("[[alerts.webhooks]]\nurl = \"http://127.0.0.1/\"\nmax_retries = -1\n", "alerts.webhooks[0].max_retries", "must be an integer in 0…100"),
        ("[[alerts.webhooks]]\nurl = \"http://127.0.0.1/\"\ntimeout_s = \"5\"\n", "alerts.webhooks[0].timeout_s", "must be an integer in 1…300"),
        ("[[alerts.webhooks]]\nurl = \"http://127.0.0.1/\"\nbearer_token_file = \"/nonexistent/tok\"\n", "alerts.webhooks[0].bearer_token_file", "which does not exist"),
        ("[[alerts.webhooks]]\nurl = \"http://127.0.0.1/\"\nheaders = { \"X-A\" = 1 }\n", "alerts.webhooks[0].headers.X-A", "must be a string"),
        ("[[alerts.webhooks]]\nurl = \"http://127.0.0.1/\"\nheaders = { \"Content-Type\" = \"text/plain\" }\n", "alerts.webhooks[0].headers.Content-Type", "is set by sotpd itself"),
        ("[[alerts.webhooks]]\nurl = \"http://127.0.0.1/\"\nretry_initial_ms = 5000\nretry_max_ms = 100\n", "alerts.webhooks[0].retry_max_ms", "at least retry_initial_ms"),
        ("[[alerts.webhooks]]\nurl = \"http://a/\"\nname = \"x\"\n[[alerts.webhooks]]\nurl = \"http://b/\"\nname = \"x\"\n", "alerts.webhooks[1].name", "repeats"),
    ]

    @Test(arguments: 0..<cases.count)
    func mistakesNameTheKey(_ i: Int) {
        let (toml, key, message) = Self.cases[i]
        let e = error(toml)
        #expect(e?.key == key, "\(toml): \(String(describing: e))")
        #expect(e?.description.contains(message) == true, "\(toml): \(String(describing: e))")
    }

    @Test func environmentOverrideErrorNamesTheVariable() {
        #expect(error("", env: ["SOTP_ALERTS_LOSS_PERCENT": "200"])?.key == "SOTP_ALERTS_LOSS_PERCENT")
    }

    @Test(arguments: [0, 7, 13])
    func theBinaryExitsTwoNamingTheKey(_ i: Int) throws {
        let (toml, key, _) = Self.cases[i]
        let path = TestDB.tempDir("cfg") + "/sotpd.toml"
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        for command in ["run", "check-config"] {
            let r = try TestDB.run(sotpdBinary, [command, "--config", path])
            #expect(r.status == 2, "\(command): \(r.output)")
            #expect(r.output.contains("config: \"\(key)\""), "\(command): \(r.output)")
        }
    }
}
