// Webhook delivery against a receiver the test starts on 127.0.0.1: retries after 500s and dropped
// connections, Retry-After on 429, no retry on other 4xx, order kept, and the three body shapes.
import AsyncHTTPClient
import Foundation
import Logging
@testable import sotpd
import Testing
import TestSupport

@Suite("Alert webhooks", .serialized)
struct AlertWebhookTests {
    static let notice = AlertNotice(
        status: .firing, rule: .deviceDown, deviceID: 7, deviceName: "core1", address: "192.0.2.10", ifIndex: nil, ifName: nil,
        value: 100, threshold: 2, unit: "minutes", summary: "core1 (192.0.2.10) is down: 2 cycles at 100% loss",
        startedAtMicros: 1_700_000_000_123_000, resolvedAtMicros: nil, fingerprint: "0123456789abcdef")

    func webhook(_ url: String, format: WebhookConfig.Format = .generic, retries: Int = 5) -> WebhookConfig {
        var w = WebhookConfig(name: "test", url: url, format: format)
        w.maxRetries = retries
        w.retryInitial = .milliseconds(50)
        w.retryMax = .milliseconds(400)
        w.timeout = .seconds(5)
        w.headers = ["X-Team": "netops"]
        w.bearerToken = "t0ken"
        return w
    }

    /// Runs a sender for `notices` until they are all handled, then stops it.
    func deliver(_ notices: [AlertNotice], to w: WebhookConfig, stats: AlertStats = AlertStats()) async throws -> AlertStats {
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        let sender = WebhookSender(config: w, capacity: 100, client: client, stats: stats, logger: Logger(label: "test"))
        for n in notices { sender.enqueue(n) }
        let task = Task { await sender.run() }
        // Generous: the whole suite runs in parallel on 2 cores, and this task and the sender's share
        // Swift's cooperative pool with tests that block it; the test's own limit is a minute.
        let end = ContinuousClock.now + .seconds(50)
        while ContinuousClock.now < end {
            let handled = stats.notificationsSent.load(ordering: .relaxed) + stats.deliveryFailures.load(ordering: .relaxed)
            if handled >= notices.count { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        sender.finish(within: .seconds(1))
        await task.value
        try await client.shutdown()
        return stats
    }

    @Test(.timeLimit(.minutes(2)))
    func retriesAfterServerErrorsAndDroppedConnectionsThenSucceeds() async throws {
        let receiver = try WebhookReceiver(script: [.status(500), .close, .status(503)])
        defer { receiver.stop() }
        let stats = try await deliver([Self.notice], to: webhook(receiver.url))
        let requests = receiver.requests
        #expect(requests.count == 4, "500, closed, 503, then 200")
        #expect(requests.map(\.answered) == [500, nil, 503, 200])
        #expect(stats.retries.load(ordering: .relaxed) == 3)
        #expect(stats.notificationsSent.load(ordering: .relaxed) == 1)
        #expect(stats.deliveryFailures.load(ordering: .relaxed) == 0)
        // Every attempt carries the same body and the configured headers.
        #expect(Set(requests.map(\.body)).count == 1)
        let last = try #require(requests.last)
        #expect(last.method == "POST" && last.path == "/hook")
        #expect(last.headers["content-type"] == "application/json")
        #expect(last.headers["authorization"] == "Bearer t0ken")
        #expect(last.headers["x-team"] == "netops")
        // Backoff: the attempts are spread out (50 ms · 2^n, jittered to its upper half).
        let gaps = zip(requests.dropFirst(), requests).map { $0.at.timeIntervalSince($1.at) }
        #expect(gaps.allSatisfy { $0 >= 0.02 }, "\(gaps)")
    }

    @Test(.timeLimit(.minutes(2)))
    func givesUpAfterMaxRetries() async throws {
        let receiver = try WebhookReceiver(script: Array(repeating: .status(502), count: 10))
        defer { receiver.stop() }
        let stats = try await deliver([Self.notice], to: webhook(receiver.url, retries: 2))
        #expect(receiver.requests.count == 3)
        #expect(stats.deliveryFailures.load(ordering: .relaxed) == 1 && stats.notificationsSent.load(ordering: .relaxed) == 0)
    }

    @Test(.timeLimit(.minutes(2)))
    func doesNotRetryAClientError() async throws {
        let receiver = try WebhookReceiver(script: [.status(400)])
        defer { receiver.stop() }
        let stats = try await deliver([Self.notice], to: webhook(receiver.url))
        #expect(receiver.requests.count == 1)
        #expect(stats.retries.load(ordering: .relaxed) == 0 && stats.deliveryFailures.load(ordering: .relaxed) == 1)
    }

    @Test(.timeLimit(.minutes(2)))
    func honoursRetryAfterOn429UpToRetryMax() async throws {
        let receiver = try WebhookReceiver(script: [.status(429, headers: [("Retry-After", "1")])])
        defer { receiver.stop() }
        var w = webhook(receiver.url)
        w.retryMax = .seconds(2)
        let stats = try await deliver([Self.notice], to: w)
        let r = receiver.requests
        #expect(r.count == 2 && stats.notificationsSent.load(ordering: .relaxed) == 1)
        if r.count == 2 { #expect(r[1].at.timeIntervalSince(r[0].at) >= 0.95, "waited as Retry-After said") }
    }

    @Test(.timeLimit(.minutes(2)))
    func connectionRefusedIsRetriedAndCounted() async throws {
        // A port nothing listens on.
        let port = TestDB.freePort()
        let stats = try await deliver([Self.notice], to: webhook("http://127.0.0.1:\(port)/hook", retries: 2))
        #expect(stats.retries.load(ordering: .relaxed) == 2 && stats.deliveryFailures.load(ordering: .relaxed) == 1)
    }

    @Test(.timeLimit(.minutes(2)))
    func keepsOrderBehindARetry() async throws {
        let receiver = try WebhookReceiver(script: [.status(500)])
        defer { receiver.stop() }
        var resolved = Self.notice
        resolved.status = .resolved
        resolved.resolvedAtMicros = 1_700_000_100_000_000
        _ = try await deliver([Self.notice, resolved], to: webhook(receiver.url))
        let statuses = receiver.accepted.compactMap { $0.json?["status"] as? String }
        #expect(statuses == ["firing", "resolved"])
    }

    @Test func aFullOutboxDropsAndCounts() {
        let stats = AlertStats()
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        defer { try? client.syncShutdown() }
        let sender = WebhookSender(config: webhook("http://127.0.0.1:9/x"), capacity: 3, client: client, stats: stats, logger: Logger(label: "t"))
        for _ in 0..<5 { sender.enqueue(Self.notice) }
        #expect(stats.dropped.load(ordering: .relaxed) == 2 && stats.outbox.load(ordering: .relaxed) == 3)
    }

    func json(_ n: AlertNotice, _ f: WebhookConfig.Format) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(AlertPayload.body(n, f))) as? [String: Any])
    }

    @Test func genericBodyCarriesEveryField() throws {
        var n = Self.notice
        n.rule = .interfaceDown
        n.ifIndex = 3
        n.ifName = "ge-0/0/3"
        n.status = .resolved
        n.resolvedAtMicros = 1_700_000_060_000_000
        let o = try json(n, .generic)
        #expect(o["status"] as? String == "resolved" && o["rule"] as? String == "interface_down" && o["severity"] as? String == "critical")
        #expect(o["device_id"] as? Int == 7 && o["device_name"] as? String == "core1" && o["device_address"] as? String == "192.0.2.10")
        #expect(o["if_index"] as? Int == 3 && o["if_name"] as? String == "ge-0/0/3")
        #expect(o["value"] as? Double == 100 && o["threshold"] as? Double == 2 && o["unit"] as? String == "minutes")
        #expect(o["started_at"] as? String == "2023-11-14T22:13:20.123Z")
        #expect(o["resolved_at"] as? String == "2023-11-14T22:14:20.000Z")
        #expect(o["fingerprint"] as? String == "0123456789abcdef")
        // Device-level alerts have explicit nulls for the interface.
        let d = try json(Self.notice, .generic)
        #expect(d["if_index"] is NSNull && d["if_name"] is NSNull && d["resolved_at"] is NSNull)
    }

    @Test func slackBodyIsTextWithAnAttachment() throws {
        var n = Self.notice
        n.summary = "a < b & c"
        let o = try json(n, .slack)
        let text = try #require(o["text"] as? String)
        #expect(text == "[FIRING] critical device_down: a &lt; b &amp; c")
        let attachments = try #require(o["attachments"] as? [[String: Any]])
        #expect(attachments.first?["color"] as? String == "#d00000")
    }

    @Test func discordBodyIsContentWithAnEmbed() throws {
        var n = Self.notice
        n.summary = String(repeating: "x", count: 3000)
        let o = try json(n, .discord)
        let content = try #require(o["content"] as? String)
        #expect(content.hasPrefix("[FIRING] critical device_down: xxx") && content.count == 2000)
        let embeds = try #require(o["embeds"] as? [[String: Any]])
        #expect(embeds.first?["title"] as? String == "FIRING: device_down on core1")
        #expect(embeds.first?["color"] as? Int == 0xd00000)
    }

    @Test func retryAfterAndStatusClassification() {
        #expect(DeliveryOutcome.of(status: 204, retryAfter: nil) == .delivered)
        #expect(DeliveryOutcome.of(status: 503, retryAfter: nil) == .retry("HTTP 503", after: nil))
        #expect(DeliveryOutcome.of(status: 429, retryAfter: "7") == .retry("HTTP 429", after: .seconds(7)))
        #expect(DeliveryOutcome.of(status: 404, retryAfter: "7") == .permanent("HTTP 404"))
        #expect(DeliveryOutcome.parseRetryAfter("soon") == nil)
        #expect(DeliveryOutcome.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == .zero, "a date in the past: at once")
        for attempt in 1...10 {
            let d = retryDelay(attempt: attempt, initial: .milliseconds(100), max: .seconds(2))
            let top = min(100.0 * pow(2, Double(attempt - 1)), 2000)
            #expect(d >= .milliseconds(Int(top / 2) - 1) && d <= .milliseconds(Int(top)))
        }
    }
}
