// The `[alerts]` section and its `[[alerts.webhooks]]` list: which rules the daemon evaluates on its own
// state, their thresholds, and where notifications go. Every key is checked and named on error (exit 2).
import Foundation
import TOMLKit

/// The scalar `[alerts]` keys, in reference order (appended to `configKeys`).
let alertConfigKeys: [ConfigKey] = [
    .init(path: "alerts.enabled", kind: .bool, defaultValue: .bool(true),
          doc: "evaluate the alert rules below and notify [[alerts.webhooks]] (with no webhook the alerts are only counted)"),
    .init(path: "alerts.device_down", kind: .bool, defaultValue: .bool(true), doc: "alert when a device is down by ICMP"),
    .init(path: "alerts.device_down_after_min", kind: .int(0...10_080), defaultValue: .int(2),
          doc: "minutes a device stays down (from the first failed cycle of its down run) before the alert fires; 0: at once"),
    .init(path: "alerts.loss", kind: .bool, defaultValue: .bool(true),
          doc: "alert on ICMP loss (cycles with at least one reply; a silent device is device_down's)"),
    .init(path: "alerts.loss_percent", kind: .int(1...100), defaultValue: .int(20), doc: "loss at or above this fails a cycle"),
    .init(path: "alerts.loss_cycles", kind: .int(1...1000), defaultValue: .int(3),
          doc: "consecutive failing cycles before the loss alert fires, and good cycles before it resolves"),
    .init(path: "alerts.rtt", kind: .bool, defaultValue: .bool(true), doc: "alert on ICMP round-trip time (cycle average)"),
    .init(path: "alerts.rtt_ms", kind: .int(1...600_000), defaultValue: .int(250), doc: "an average RTT above this fails a cycle"),
    .init(path: "alerts.rtt_cycles", kind: .int(1...1000), defaultValue: .int(3),
          doc: "consecutive failing cycles before the RTT alert fires, and good cycles before it resolves"),
    .init(path: "alerts.interface_down", kind: .bool, defaultValue: .bool(true),
          doc: "alert when an interface is administratively up but operationally down (ifOperStatus down or lowerLayerDown)"),
    .init(path: "alerts.interface_down_seen_up", kind: .bool, defaultValue: .bool(true),
          doc: "only for interfaces seen up since sotpd started (unused access ports stay quiet)"),
    .init(path: "alerts.interface_errors", kind: .bool, defaultValue: .bool(true), doc: "alert on interface errors (in + out)"),
    .init(path: "alerts.interface_errors_per_s", kind: .int(0...1_000_000_000), defaultValue: .int(2),
          doc: "errors per second over the SNMP interval above this fail a poll; 0: not used"),
    .init(path: "alerts.interface_error_permille", kind: .int(0...1000), defaultValue: .int(10),
          doc: "errors per 1000 packets above this fail a poll; 0: not used"),
    .init(path: "alerts.interface_polls", kind: .int(1...100), defaultValue: .int(2),
          doc: "consecutive SNMP polls an interface rule must fail before it fires, and pass before it resolves"),
    .init(path: "alerts.syslog", kind: .bool, defaultValue: .bool(true), doc: "alert on syslog messages at alerts.syslog_severity or worse"),
    .init(path: "alerts.syslog_severity", kind: .int(0...7), defaultValue: .int(2),
          doc: "least severe syslog severity that alerts (0 emerg … 2 crit … 7 debug)"),
    .init(path: "alerts.syslog_window_s", kind: .int(10...86_400), defaultValue: .int(300),
          doc: "a device's messages are one alert until none has come for this long (then it resolves), so a storm is one notification"),
    .init(path: "alerts.repeat_interval_min", kind: .int(0...10_080), defaultValue: .int(0),
          doc: "notify a still-firing alert again every this many minutes; 0: once per incident"),
    .init(path: "alerts.queue_size", kind: .int(100...1_000_000), defaultValue: .int(10_000),
          doc: "observations waiting for the evaluator at most; more are dropped and counted (alerts.inputs_dropped)"),
    .init(path: "alerts.outbox_size", kind: .int(1...100_000), defaultValue: .int(1000),
          doc: "notifications waiting per webhook at most; more are dropped and counted (alerts.dropped)"),
]

/// One `[[alerts.webhooks]]` entry, secrets resolved.
struct WebhookConfig: Sendable, Equatable {
    enum Format: String, Sendable, CaseIterable { case generic, slack, discord }
    var name: String
    var url: String
    var format: Format = .generic
    /// Extra request headers (`headers = { "X-Team" = "netops" }`).
    var headers: [String: String] = [:]
    /// Sent as `Authorization: Bearer …`; from bearer_token_file.
    var bearerToken: String?
    var timeout: Duration = .seconds(10)
    /// Attempts after the first one.
    var maxRetries = 5
    var retryInitial: Duration = .seconds(1)
    var retryMax: Duration = .seconds(60)

    static let keys = ["name", "url", "format", "headers", "bearer_token_file", "timeout_s", "max_retries", "retry_initial_ms", "retry_max_ms"]
}

/// Parses `[[alerts.webhooks]]`.
func parseWebhooks(_ value: TOMLValueConvertible) throws(ConfigError) -> [WebhookConfig] {
    guard let array = value.array else {
        throw ConfigError(key: "alerts.webhooks", problem: "must be an array of tables ([[alerts.webhooks]]), got \(value.debugDescription)")
    }
    var out: [WebhookConfig] = []
    var names = Set<String>()
    for (i, item) in array.enumerated() {
        let at = "alerts.webhooks[\(i)]"
        guard let t = item.table else { throw ConfigError(key: at, problem: "must be a table, got \(item.debugDescription)") }
        var w = WebhookConfig(name: "", url: "")
        func string(_ v: TOMLValueConvertible, _ path: String) throws(ConfigError) -> String {
            guard v.type == .string, let s = v.string else { throw ConfigError(key: path, problem: "must be a string, got \(v.debugDescription)") }
            return s
        }
        func int(_ v: TOMLValueConvertible, _ path: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int {
            guard v.type == .int, let n = v.int, range.contains(n) else {
                throw ConfigError(key: path, problem: "must be \(ConfigKind.int(range).expected), got \(v.debugDescription)")
            }
            return n
        }
        for (k, v) in t {
            let path = "\(at).\(k)"
            switch k {
            case "name": w.name = try string(v, path)
            case "url":
                let s = try string(v, path)
                guard let u = URL(string: s), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https",
                      let host = u.host, !host.isEmpty else {
                    throw ConfigError(key: path, problem: "must be an http:// or https:// URL with a host, got \"\(s)\"")
                }
                w.url = s
            case "format":
                let s = try string(v, path)
                guard let f = WebhookConfig.Format(rawValue: s) else {
                    throw ConfigError(key: path, problem: "must be one of \"generic\", \"slack\", \"discord\", got \"\(s)\"")
                }
                w.format = f
            case "headers":
                guard let table = v.table else { throw ConfigError(key: path, problem: "must be a table of strings ({ \"X-Name\" = \"value\" }), got \(v.debugDescription)") }
                for (hk, hv) in table {
                    let hs = try string(hv, "\(path).\(hk)")
                    guard !hk.isEmpty, hk.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }),
                          !hs.contains("\r"), !hs.contains("\n") else {
                        throw ConfigError(key: "\(path).\(hk)", problem: "must be a header name of visible ASCII without \":\" and a one-line value")
                    }
                    if hk.lowercased() == "content-type" || hk.lowercased() == "content-length" {
                        throw ConfigError(key: "\(path).\(hk)", problem: "is set by sotpd itself")
                    }
                    w.headers[hk] = hs
                }
            case "bearer_token_file": w.bearerToken = try readSecret(string(v, path), key: path)
            case "timeout_s": w.timeout = try .seconds(int(v, path, 1...300))
            case "max_retries": w.maxRetries = try int(v, path, 0...100)
            case "retry_initial_ms": w.retryInitial = try .milliseconds(int(v, path, 1...3_600_000))
            case "retry_max_ms": w.retryMax = try .milliseconds(int(v, path, 1...86_400_000))
            default:
                throw ConfigError(key: path, problem: "is not a known key; known: \(WebhookConfig.keys.joined(separator: ", "))")
            }
        }
        if w.url.isEmpty { throw ConfigError(key: "\(at).url", problem: "is required") }
        if w.name.isEmpty { w.name = "webhook\(i)" }
        guard names.insert(w.name).inserted else { throw ConfigError(key: "\(at).name", problem: "repeats the webhook name \"\(w.name)\"") }
        if w.retryMax < w.retryInitial {
            throw ConfigError(key: "\(at).retry_max_ms", problem: "must be at least retry_initial_ms")
        }
        out.append(w)
    }
    return out
}

/// The `[alerts]` section, typed.
struct AlertRules: Sendable, Equatable {
    var deviceDown = true
    var deviceDownAfterMicros: Int64 = 120_000_000
    var loss = true
    var lossPercent = 20.0
    var lossCycles = 3
    var rtt = true
    var rttMs = 250.0
    var rttCycles = 3
    var interfaceDown = true
    var interfaceDownSeenUp = true
    var interfaceErrors = true
    var interfaceErrorsPerSecond = 2.0
    var interfaceErrorPermille = 10.0
    var interfacePolls = 2
    var syslog = true
    var syslogSeverity = 2
    var syslogWindowMicros: Int64 = 300_000_000
    /// 0: never repeat.
    var repeatMicros: Int64 = 0
}

extension Config {
    var alertsEnabled: Bool { bool("alerts.enabled") }

    var alertRules: AlertRules {
        AlertRules(
            deviceDown: bool("alerts.device_down"), deviceDownAfterMicros: Int64(int("alerts.device_down_after_min")) * 60_000_000,
            loss: bool("alerts.loss"), lossPercent: Double(int("alerts.loss_percent")), lossCycles: int("alerts.loss_cycles"),
            rtt: bool("alerts.rtt"), rttMs: Double(int("alerts.rtt_ms")), rttCycles: int("alerts.rtt_cycles"),
            interfaceDown: bool("alerts.interface_down"), interfaceDownSeenUp: bool("alerts.interface_down_seen_up"),
            interfaceErrors: bool("alerts.interface_errors"), interfaceErrorsPerSecond: Double(int("alerts.interface_errors_per_s")),
            interfaceErrorPermille: Double(int("alerts.interface_error_permille")), interfacePolls: int("alerts.interface_polls"),
            syslog: bool("alerts.syslog"), syslogSeverity: int("alerts.syslog_severity"),
            syslogWindowMicros: Int64(int("alerts.syslog_window_s")) * 1_000_000,
            repeatMicros: Int64(int("alerts.repeat_interval_min")) * 60_000_000)
    }

    /// Cross-key checks of `[alerts]`.
    func checkAlerts() throws(ConfigError) {
        if bool("alerts.interface_errors") && int("alerts.interface_errors_per_s") == 0 && int("alerts.interface_error_permille") == 0 {
            throw ConfigError(key: "alerts.interface_errors", problem: "is true but alerts.interface_errors_per_s and alerts.interface_error_permille are both 0: set a threshold, or set alerts.interface_errors = false")
        }
    }

    /// `[[alerts.webhooks]]` for check-config, secrets redacted.
    var alertsEffective: String {
        var out = ""
        for w in alertWebhooks {
            out += "\n[[alerts.webhooks]]\nname = \"\(w.name)\"\nurl = \"\(redactURL(w.url))\"\nformat = \"\(w.format.rawValue)\"\n"
            if !w.headers.isEmpty {
                out += "headers = { " + w.headers.keys.sorted().map { "\"\($0)\" = \"<redacted>\"" }.joined(separator: ", ") + " }\n"
            }
            if w.bearerToken != nil { out += "bearer_token_file = \"<redacted>\"\n" }
            out += "timeout_s = \(w.timeout.components.seconds)\nmax_retries = \(w.maxRetries)\n"
            out += "retry_initial_ms = \(Int(w.retryInitial / .milliseconds(1)))\nretry_max_ms = \(Int(w.retryMax / .milliseconds(1)))\n"
        }
        return out
    }
}

/// A webhook URL for logs: Slack and Discord put the secret in the path, so only scheme, host and port show.
func redactURL(_ s: String) -> String {
    guard let u = URL(string: s), let scheme = u.scheme, let host = u.host else { return "<redacted>" }
    let port = u.port.map { ":\($0)" } ?? ""
    return u.path.isEmpty || u.path == "/" ? "\(scheme)://\(host)\(port)/" : "\(scheme)://\(host)\(port)/<redacted>"
}
