// Alert notifications to webhooks: the JSON bodies (generic, Slack, Discord) and one sender per webhook
// with a bounded outbox, delivered in order on a task of its own with retries, exponential backoff and
// jitter, so a slow or failing receiver never stalls evaluation.
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

// MARK: payloads

enum AlertPayload {
    /// RFC 3339 UTC with milliseconds.
    static func timestamp(_ micros: Int64) -> String {
        let seconds = micros / 1_000_000
        var t = time_t(seconds)
        var p = tm()
        gmtime_r(&t, &p)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(p.tm_year) + 1900, Int(p.tm_mon) + 1, Int(p.tm_mday),
                      Int(p.tm_hour), Int(p.tm_min), Int(p.tm_sec), Int((micros % 1_000_000) / 1000))
    }

    /// The generic body: one flat JSON object per notification.
    static func generic(_ n: AlertNotice) -> [String: Any] {
        var o: [String: Any] = [
            "source": "sotpd", "status": n.status.rawValue, "rule": n.rule.rawValue, "severity": n.rule.severity,
            "device_name": n.deviceName, "device_address": n.address, "summary": n.summary, "unit": n.unit,
            "started_at": timestamp(n.startedAtMicros), "fingerprint": n.fingerprint, "repeat": n.repeatCount,
        ]
        o["device_id"] = n.deviceID.map { Int($0) } ?? NSNull()
        o["if_index"] = n.ifIndex.map { Int($0) } ?? NSNull()
        o["if_name"] = n.ifName ?? NSNull()
        o["value"] = n.value.map { $0.isFinite ? $0 : 0 } ?? NSNull()
        o["threshold"] = n.threshold ?? NSNull()
        o["resolved_at"] = n.resolvedAtMicros.map(timestamp) ?? NSNull()
        return o
    }

    /// One line for chat: "[FIRING] critical device_down: core1 (192.0.2.1) is down: …".
    static func line(_ n: AlertNotice) -> String {
        let tag = n.status == .firing ? (n.repeatCount > 0 ? "[FIRING, still]" : "[FIRING]") : "[RESOLVED]"
        return "\(tag) \(n.rule.severity) \(n.rule.rawValue): \(n.summary)"
    }

    /// Slack incoming webhook: `text` (with &, <, > escaped as Slack asks) and a coloured attachment.
    static func slack(_ n: AlertNotice) -> [String: Any] {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var fields = "started \(timestamp(n.startedAtMicros))"
        if let r = n.resolvedAtMicros { fields += ", resolved \(timestamp(r))" }
        fields += " · fingerprint \(n.fingerprint)"
        return [
            "text": esc(line(n)),
            "attachments": [["color": color(n).hex, "text": esc(fields), "fallback": esc(line(n))]],
        ]
    }

    /// Discord webhook: `content` (at most 2000 characters) and an embed.
    static func discord(_ n: AlertNotice) -> [String: Any] {
        var content = line(n)
        if content.count > 2000 { content = String(content.prefix(1999)) + "…" }
        var embed: [String: Any] = [
            "title": String("\(n.status.rawValue.uppercased()): \(n.rule.rawValue) on \(n.deviceName)".prefix(256)),
            "color": color(n).int, "timestamp": timestamp(n.resolvedAtMicros ?? n.startedAtMicros),
            "footer": ["text": "fingerprint \(n.fingerprint)"],
        ]
        embed["description"] = String(n.summary.prefix(4096))
        return ["content": content, "embeds": [embed]]
    }

    private static func color(_ n: AlertNotice) -> (hex: String, int: Int) {
        if n.status == .resolved { return ("#2eb886", 0x2eb886) }
        return n.rule.severity == "critical" ? ("#d00000", 0xd00000) : ("#f2a600", 0xf2a600)
    }

    static func body(_ n: AlertNotice, _ format: WebhookConfig.Format) -> [UInt8] {
        let object: [String: Any]
        switch format {
        case .generic: object = generic(n)
        case .slack: object = slack(n)
        case .discord: object = discord(n)
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}

// MARK: delivery

/// What one attempt came to.
enum DeliveryOutcome: Equatable {
    case delivered
    /// Connection errors, timeouts, 5xx and 429; `after` from Retry-After when the receiver gave one.
    case retry(String, after: Duration?)
    /// Other 4xx: sending the same body again will not help.
    case permanent(String)

    /// Classifies an HTTP status (and its Retry-After header).
    static func of(status: Int, retryAfter: String?) -> DeliveryOutcome {
        switch status {
        case 200..<300: return .delivered
        case 429, 500..<600: return .retry("HTTP \(status)", after: retryAfter.flatMap(parseRetryAfter))
        default: return .permanent("HTTP \(status)")
        }
    }

    /// Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3); nil when it is neither.
    static func parseRetryAfter(_ s: String) -> Duration? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if let n = Int(t), n >= 0 { return .seconds(n) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let d = f.date(from: t) else { return nil }
        return .milliseconds(max(0, Int(d.timeIntervalSinceNow * 1000)))
    }
}

/// The delay before retry `attempt` (1, 2…): `initial`·2^(attempt−1) capped at `max`, with jitter that
/// keeps it in its upper half, so many sotpd instances do not retry in step.
func retryDelay(attempt: Int, initial: Duration, max maxDelay: Duration) -> Duration {
    let base = min(Double(initial / .milliseconds(1)) * pow(2, Double(min(attempt - 1, 40))), Double(maxDelay / .milliseconds(1)))
    return .milliseconds(Int(base * Double.random(in: 0.5...1.0)))
}

/// One webhook: its outbox and the task that empties it.
final class WebhookSender: Sendable {
    let config: WebhookConfig
    let stats: AlertStats
    let client: HTTPClient
    let logger: Logger
    private let outbox = Mutex<[AlertNotice]>([])
    private let capacity: Int
    /// Names the first 100 drops of each 10 s; the rest are counted.
    private let dropLog = ChangeLogWindow()
    /// Set at shutdown: deliver what is queued until then, and no later.
    private let deadline = Mutex<ContinuousClock.Instant?>(nil)

    init(config: WebhookConfig, capacity: Int, client: HTTPClient, stats: AlertStats, logger: Logger) {
        self.config = config
        self.capacity = capacity
        self.client = client
        self.stats = stats
        self.logger = logger
    }

    /// Queues a notification; when the outbox is full it is dropped and counted (alerts.dropped).
    func enqueue(_ n: AlertNotice) {
        let ok = outbox.withLock { q in
            guard q.count < capacity else { return false }
            q.append(n)
            return true
        }
        if ok {
            stats.outbox.add(1, ordering: .relaxed)
        } else {
            stats.dropped.add(1, ordering: .relaxed)
            let (log, skipped) = dropLog.admit()
            if skipped > 0 { logger.warning("\(skipped) more alert notifications were dropped at full outboxes (counted in alerts.dropped)") }
            if log {
                logger.warning("alert outbox full; notification dropped", metadata: ["webhook": "\(config.name)", "fingerprint": "\(n.fingerprint)"])
            }
        }
    }

    /// Stops taking time after `grace`: what is still queued then is dropped (and counted).
    func finish(within grace: Duration) { deadline.withLock { $0 = .now + grace } }

    private var pastDeadline: Bool {
        guard let d = deadline.withLock({ $0 }) else { return false }
        return ContinuousClock.now >= d
    }

    private var finishing: Bool { deadline.withLock { $0 != nil } }

    /// Delivers in order until `finish` and the outbox is empty (or the deadline passes).
    func run() async {
        while true {
            let next = outbox.withLock { q in q.isEmpty ? nil : q.removeFirst() }
            guard let n = next else {
                if finishing { return }
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            stats.outbox.add(-1, ordering: .relaxed)
            if pastDeadline {
                stats.dropped.add(1, ordering: .relaxed)
                continue
            }
            await deliver(n)
        }
    }

    /// One notification, retried as the webhook's settings say.
    func deliver(_ n: AlertNotice) async {
        let body = AlertPayload.body(n, config.format)
        var attempt = 0
        while true {
            let outcome = await post(body)
            switch outcome {
            case .delivered:
                stats.notificationsSent.add(1, ordering: .relaxed)
                return
            case .permanent(let why):
                stats.deliveryFailures.add(1, ordering: .relaxed)
                logger.error("alert webhook refused the notification; not retried", metadata: [
                    "webhook": "\(config.name)", "url": "\(redactURL(config.url))", "error": "\(why)", "fingerprint": "\(n.fingerprint)",
                ])
                return
            case .retry(let why, let after):
                if attempt >= config.maxRetries || pastDeadline {
                    stats.deliveryFailures.add(1, ordering: .relaxed)
                    logger.error("alert webhook failed after \(attempt + 1) attempts; notification dropped", metadata: [
                        "webhook": "\(config.name)", "url": "\(redactURL(config.url))", "error": "\(why)", "fingerprint": "\(n.fingerprint)",
                    ])
                    return
                }
                attempt += 1
                stats.retries.add(1, ordering: .relaxed)
                // Retry-After is honoured up to retry_max_ms: one receiver must not hold the outbox for hours.
                var delay = after.map { min($0, config.retryMax) } ?? retryDelay(attempt: attempt, initial: config.retryInitial, max: config.retryMax)
                if let d = deadline.withLock({ $0 }) { delay = min(delay, max(Duration.zero, d - ContinuousClock.now)) }
                logger.warning("alert webhook attempt failed; retrying", metadata: [
                    "webhook": "\(config.name)", "error": "\(why)", "attempt": "\(attempt)", "delay_ms": "\(Int(delay / .milliseconds(1)))",
                ])
                try? await Task.sleep(for: delay)
            }
        }
    }

    private func post(_ body: [UInt8]) async -> DeliveryOutcome {
        var request = HTTPClientRequest(url: config.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "sotpd")
        for (k, v) in config.headers { request.headers.replaceOrAdd(name: k, value: v) }
        if let token = config.bearerToken { request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let timeout = TimeAmount.milliseconds(Int64(config.timeout / .milliseconds(1)))
            let response = try await client.execute(request, timeout: timeout)
            // Read (and discard) the body so the connection can be reused.
            _ = try? await response.body.collect(upTo: 1 << 16)
            return DeliveryOutcome.of(status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"))
        } catch {
            return .retry("\(error)", after: nil)
        }
    }
}
