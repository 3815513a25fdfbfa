// The alert rules as a state machine: observations and clock in, notices out. Device down after its
// delay and back up, deduplication, loss/RTT runs, interface down and errors, a syslog storm as one alert,
// repeats.
import Capture
import Foundation
import Poller
@testable import sotpd
import Testing

@Suite("Alert evaluator")
struct AlertEvaluatorTests {
    static let a = IPAddress("192.0.2.10")!
    let minute: Int64 = 60_000_000

    func cycle(_ t: Int64, sent: Int = 3, received: Int, rtt: Double? = 5) -> AlertInput {
        .icmpCycle(AlertICMPCycle(timeMicros: t, deviceID: 7, address: Self.a, sent: sent, received: received, rttAvgMs: rtt))
    }

    func change(_ t: Int64, up: Bool) -> AlertInput {
        .icmpChange(AlertICMPChange(timeMicros: t, deviceID: 7, address: Self.a, up: up, reason: up ? "1 cycle answered" : "2 cycles at 100% loss"))
    }

    func evaluator(_ edit: (inout AlertRules) -> Void = { _ in }) -> AlertEvaluator {
        var r = AlertRules()
        edit(&r)
        var e = AlertEvaluator(rules: r)
        e.names = [7: "core1"]
        return e
    }

    @Test func deviceDownFiresAfterItsDelayOnceAndResolvesWhenBack() {
        var e = evaluator { $0.deviceDownAfterMicros = 2 * minute }
        let t0: Int64 = 1_700_000_000_000_000
        #expect(e.apply(change(t0, up: true), now: t0).isEmpty)
        #expect(e.apply(change(t0 + 10_000_000, up: false), now: t0 + 20_000_000).isEmpty)
        #expect(e.tick(now: t0 + minute).isEmpty, "not yet two minutes")
        // Down cycles keep coming: nothing new.
        for i in 0..<5 { #expect(e.apply(cycle(t0 + Int64(i) * 30_000_000, received: 0), now: t0 + minute).isEmpty) }
        let fired = e.tick(now: t0 + 10_000_000 + 2 * minute)
        #expect(fired.count == 1)
        let f = fired[0]
        #expect(f.status == .firing && f.rule == .deviceDown && f.deviceName == "core1" && f.address == "192.0.2.10")
        #expect(f.startedAtMicros == t0 + 10_000_000 && f.resolvedAtMicros == nil && f.fingerprint.count == 16)
        #expect(f.summary.contains("core1 (192.0.2.10) is down"))
        #expect(e.firingCount == 1)
        // Deduplicated: more ticks and down cycles say nothing.
        #expect(e.tick(now: t0 + 5 * minute).isEmpty)
        #expect(e.apply(cycle(t0 + 5 * minute, received: 0), now: t0 + 5 * minute).isEmpty)
        let back = e.apply(change(t0 + 6 * minute, up: true), now: t0 + 6 * minute)
        #expect(back.count == 1)
        #expect(back[0].status == .resolved && back[0].fingerprint == f.fingerprint && back[0].startedAtMicros == f.startedAtMicros)
        #expect(back[0].resolvedAtMicros == t0 + 6 * minute)
        #expect(e.firingCount == 0)
    }

    @Test func aShortOutageNeverFires() {
        var e = evaluator { $0.deviceDownAfterMicros = 2 * minute }
        #expect(e.apply(change(0, up: false), now: 0).isEmpty)
        #expect(e.tick(now: minute).isEmpty)
        #expect(e.apply(change(minute, up: true), now: minute).isEmpty, "no resolve without a firing")
        #expect(e.tick(now: 10 * minute).isEmpty)
    }

    @Test func zeroDelayFiresAtTheDownEvent() {
        var e = evaluator { $0.deviceDownAfterMicros = 0 }
        #expect(e.apply(change(5, up: false), now: 5).map(\.status) == [.firing])
    }

    @Test func deviceDownRuleCanBeDisabled() {
        var e = evaluator { $0.deviceDown = false; $0.deviceDownAfterMicros = 0 }
        #expect(e.apply(change(5, up: false), now: 5).isEmpty)
    }

    @Test func lossNeedsConsecutiveCyclesAndResolvesAfterAsManyGoodOnes() {
        var e = evaluator { $0.lossPercent = 20; $0.lossCycles = 3; $0.rtt = false }
        var t: Int64 = 0
        func step(_ received: Int) -> [AlertNotice] {
            t += 30_000_000
            return e.apply(cycle(t, sent: 10, received: received), now: t)
        }
        #expect(step(7).isEmpty && step(7).isEmpty)
        #expect(step(10).isEmpty, "a good cycle breaks the run")
        #expect(step(7).isEmpty && step(7).isEmpty)
        #expect(step(0).isEmpty, "a silent cycle is device_down's")
        let fired = step(6)
        #expect(fired.count == 1 && fired[0].rule == .loss && fired[0].value == 40 && fired[0].threshold == 20 && fired[0].unit == "%")
        #expect(step(5).isEmpty, "still firing: no duplicate")
        #expect(step(10).isEmpty && step(10).isEmpty)
        let resolved = step(10)
        #expect(resolved.map(\.status) == [.resolved])
        #expect(resolved.first?.fingerprint == fired[0].fingerprint)
    }

    @Test func rttAboveThreshold() {
        var e = evaluator { $0.rttMs = 100; $0.rttCycles = 2; $0.loss = false }
        #expect(e.apply(cycle(1, received: 3, rtt: 150), now: 1).isEmpty)
        let f = e.apply(cycle(2, received: 3, rtt: 180), now: 2)
        #expect(f.count == 1 && f[0].rule == .rtt && f[0].value == 180 && f[0].unit == "ms" && f[0].rule.severity == "warning")
        #expect(e.apply(cycle(3, received: 3, rtt: 20), now: 3).isEmpty)
        #expect(e.apply(cycle(4, received: 3, rtt: 20), now: 4).map(\.status) == [.resolved])
    }

    func poll(oper: Int32, admin: Int32 = 1, errors: Double? = 0, pps: Double? = 1000) -> AlertInput {
        .snmpPoll(deviceID: 7, address: "192.0.2.10", reachable: true, interfaces: [
            AlertInterfaceObservation(index: 3, name: "ge-0/0/3", adminStatus: admin, operStatus: oper, errorsPerSecond: errors, packetsPerSecond: pps),
        ])
    }

    @Test func interfaceDownOnlyAfterItWasSeenUpAndOnlyWhileAdminUp() {
        var e = evaluator { $0.interfacePolls = 2; $0.interfaceErrors = false }
        #expect(e.apply(poll(oper: 2), now: 1).isEmpty && e.apply(poll(oper: 2), now: 2).isEmpty, "never seen up: an unused port")
        #expect(e.apply(poll(oper: 1), now: 3).isEmpty)
        #expect(e.apply(poll(oper: 2), now: 4).isEmpty)
        let f = e.apply(poll(oper: 7), now: 5)
        #expect(f.count == 1 && f[0].rule == .interfaceDown && f[0].ifIndex == 3 && f[0].ifName == "ge-0/0/3")
        // The agent unreachable: the state stands.
        #expect(e.apply(.snmpPoll(deviceID: 7, address: "192.0.2.10", reachable: false, interfaces: []), now: 6).isEmpty)
        // Shut down by the operator (admin down) clears it.
        #expect(e.apply(poll(oper: 2, admin: 2), now: 7).isEmpty)
        #expect(e.apply(poll(oper: 2, admin: 2), now: 8).map(\.status) == [.resolved])
    }

    @Test func interfaceErrorsByRateOrRatio() {
        var e = evaluator { $0.interfacePolls = 1; $0.interfaceDown = false; $0.interfaceErrorsPerSecond = 5; $0.interfaceErrorPermille = 10 }
        #expect(e.apply(poll(oper: 1, errors: 1, pps: 10_000), now: 1).isEmpty)
        #expect(e.apply(poll(oper: 1, errors: nil), now: 2).isEmpty, "no rate: no opinion")
        let byRate = e.apply(poll(oper: 1, errors: 50, pps: 100_000), now: 3)
        #expect(byRate.count == 1 && byRate[0].unit == "errors/s" && byRate[0].value == 50)
        #expect(e.apply(poll(oper: 1, errors: 0), now: 4).map(\.status) == [.resolved])
        // 3 errors/s of 100 packets/s: under the rate, over 10 per 1000.
        let byRatio = e.apply(poll(oper: 1, errors: 3, pps: 97), now: 5)
        #expect(byRatio.count == 1 && byRatio[0].unit == "errors per 1000 packets" && byRatio[0].value == 30)
    }

    @Test func aSyslogStormIsOneAlertResolvedAfterTheWindow() {
        var e = evaluator { $0.syslogWindowMicros = 300_000_000 }
        var notices: [AlertNotice] = []
        for i in 0..<10_000 {
            let t = Int64(i) * 10_000
            notices += e.apply(.syslog(deviceID: 7, source: "192.0.2.10", severity: i % 3, count: 1, text: "fan failure", timeMicros: t), now: t)
            if i % 1000 == 0 { notices += e.tick(now: t) }
        }
        #expect(notices.count == 1)
        #expect(notices.first?.rule == .syslog && notices.first?.summary.contains("syslog emerg: fan failure") == true)
        // Severity 3 (err) is under the default threshold (crit) and changes nothing.
        #expect(e.apply(.syslog(deviceID: 8, source: "192.0.2.11", severity: 3, count: 1, text: "x", timeMicros: 0), now: 0).isEmpty)
        #expect(e.tick(now: 100_000_000 + 299_000_000).isEmpty)
        let resolved = e.tick(now: 100_000_000 + 301_000_000)
        #expect(resolved.count == 1 && resolved[0].status == .resolved && resolved[0].value == 10_000)
    }

    @Test func repeatsWhileFiringWhenAsked() {
        var e = evaluator { $0.deviceDownAfterMicros = 0; $0.repeatMicros = 10 * minute }
        #expect(e.apply(change(0, up: false), now: 0).count == 1)
        #expect(e.tick(now: 9 * minute).isEmpty)
        let again = e.tick(now: 10 * minute)
        #expect(again.count == 1 && again[0].status == .firing && again[0].repeatCount == 1)
        #expect(e.tick(now: 15 * minute).isEmpty)
    }

    @Test func fingerprintsAreStableAndDistinct() {
        let k = AlertKey(rule: .interfaceDown, device: "7", ifIndex: 3)
        #expect(k.fingerprint == AlertKey(rule: .interfaceDown, device: "7", ifIndex: 3).fingerprint)
        #expect(k.fingerprint != AlertKey(rule: .interfaceDown, device: "7", ifIndex: 4).fingerprint)
        #expect(k.fingerprint != AlertKey(rule: .interfaceErrors, device: "7", ifIndex: 3).fingerprint)
        // FNV-1a 64 of "interface_down|7|3": fixed, so receivers can key on it across restarts.
        #expect(k.fingerprint.count == 16 && k.fingerprint.allSatisfy(\.isHexDigit))
    }

    @Test func theInboxDropsAndCountsWhenFull() {
        let stats = AlertStats()
        let inbox = AlertInbox(capacity: 100, rules: AlertRules(), stats: stats)
        for i in 0..<150 { inbox.push(cycle(Int64(i), received: 3)) }
        #expect(stats.inputsDropped.load(ordering: .relaxed) == 50)
        var buffer: [AlertInput] = []
        inbox.take(&buffer)
        #expect(buffer.count == 100)
    }

    @Test func theSyslogThrottleLetsOneASecondPerSourceThrough() {
        var t = SyslogAlertThrottle()
        let p = PeerAddress(v4: 0xc000_020a)
        #expect(t.admit(p, now: 0) == 1)
        for i in 1...99 { #expect(t.admit(p, now: Int64(i) * 1000) == 0) }
        #expect(t.admit(p, now: 1_000_000) == 100, "the 99 held back and this one")
    }

    @Test func everyAlertCounterIsInTheCatalog() {
        let names = AlertStats().fields.map(\.0)
        #expect(names.contains("alerts.firing") && names.contains("alerts.notifications_sent") && names.contains("alerts.dropped"))
        #expect(names.filter { StatsCatalog.entries[$0] == nil } == [])
        #expect(StatsCatalog.sample("alerts.firing", 2).name == "sotp_alerts_firing")
        #expect(StatsCatalog.sample("alerts.retries", 2).name == "sotp_alerts_retries_total")
    }
}

extension AlertEvaluatorTests {
    @Test func aDeviceRemovedFromTheInventoryResolves() {
        var e = evaluator { $0.deviceDownAfterMicros = 0 }
        #expect(e.apply(change(0, up: false), now: 0).count == 1)
        #expect(e.apply(.syslog(deviceID: nil, source: "198.51.100.1", severity: 0, count: 1, text: "x", timeMicros: 0), now: 0).count == 1)
        #expect(e.retainDevices([7], now: 1).isEmpty)
        let gone = e.retainDevices([], now: 2)
        #expect(gone.map(\.status) == [.resolved] && gone.first?.rule == .deviceDown)
        #expect(e.firingCount == 1, "the syslog alert of a source outside the inventory stays")
    }
}
