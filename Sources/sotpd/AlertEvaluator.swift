// The alert rules over what the pollers and receivers observe: a pure state machine (observations and
// clock ticks in, firing and resolved notices out), so every rule is testable without sockets or time.
import Foundation
import Poller

/// One SNMP-polled interface as the interface rules see it.
struct AlertInterfaceObservation: Sendable, Equatable {
    var index: UInt32
    var name: String?
    var adminStatus: Int32?
    var operStatus: Int32?
    /// In + out errors per second over the last interval; nil without a rate (first poll, counter reset).
    var errorsPerSecond: Double?
    /// In + out packets per second over the same interval.
    var packetsPerSecond: Double?
}

/// One ICMP cycle as the loss and RTT rules see it (copied from the poller's result, no allocation).
struct AlertICMPCycle: Sendable, Equatable {
    var timeMicros: Int64
    var deviceID: Int32
    var address: IPAddress
    var sent: Int
    var received: Int
    var rttAvgMs: Double?

    var lossPercent: Double { sent == 0 ? 0 : Double(sent - received) * 100 / Double(sent) }
}

/// A device going up or down by ICMP (after the poller's hysteresis).
struct AlertICMPChange: Sendable, Equatable {
    /// Start of the run of cycles that caused it.
    var timeMicros: Int64
    var deviceID: Int32
    var address: IPAddress
    var up: Bool
    var reason: String
}

extension AlertICMPCycle {
    init(_ r: ICMPCycleResult) {
        self.init(timeMicros: r.timeMicros, deviceID: r.deviceID, address: r.address, sent: r.sent, received: r.received, rttAvgMs: r.rttAvgMs)
    }
}

extension AlertICMPChange {
    init(_ c: ICMPStateChange) {
        self.init(timeMicros: c.timeMicros, deviceID: c.deviceID, address: c.address, up: c.up, reason: c.reason)
    }
}

/// What the services hand the evaluator.
enum AlertInput: Sendable {
    case icmpCycle(AlertICMPCycle)
    case icmpChange(AlertICMPChange)
    case snmpPoll(deviceID: Int32, address: String, reachable: Bool, interfaces: [AlertInterfaceObservation])
    /// `count` messages at `severity` or worse (the sender may group a burst); `deviceID` nil for a source not in the inventory.
    case syslog(deviceID: Int32?, source: String, severity: Int, count: Int, text: String, timeMicros: Int64)
}

/// Which rule an alert comes from.
enum AlertRule: String, Sendable, CaseIterable {
    case deviceDown = "device_down", loss = "loss", rtt = "rtt", interfaceDown = "interface_down"
    case interfaceErrors = "interface_errors", syslog = "syslog"

    var severity: String {
        switch self {
        case .deviceDown, .interfaceDown, .syslog: "critical"
        case .loss, .rtt, .interfaceErrors: "warning"
        }
    }
}

/// A notification: an alert fired (or repeated while firing), or resolved.
struct AlertNotice: Sendable, Equatable {
    enum Status: String, Sendable { case firing, resolved }
    var status: Status
    var rule: AlertRule
    var deviceID: Int32?
    var deviceName: String
    var address: String
    var ifIndex: UInt32?
    var ifName: String?
    /// The observed value that fired it (the latest one while firing; the one that cleared it when resolved).
    var value: Double?
    var threshold: Double?
    var unit: String
    var summary: String
    var startedAtMicros: Int64
    var resolvedAtMicros: Int64?
    /// Stable over restarts: rule, device and interface.
    var fingerprint: String
    /// 0 for the first firing notice of an incident, then 1, 2… for repeats.
    var repeatCount = 0
}

/// Stable identity of an alert: rule + device (+ interface).
struct AlertKey: Hashable, Sendable {
    var rule: AlertRule
    /// The device id, or for a source outside the inventory its address.
    var device: String
    var ifIndex: UInt32?

    /// FNV-1a 64 of the identity, in hex: the same alert has the same fingerprint after a restart.
    var fingerprint: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in "\(rule.rawValue)|\(device)|\(ifIndex.map(String.init) ?? "")".utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return String(h, radix: 16).leftPadded(to: 16)
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// The rules' state. Not thread-safe: owned by the evaluator task.
struct AlertEvaluator {
    var rules: AlertRules
    /// Device names by id, from the inventory.
    var names: [Int32: String] = [:]

    private struct State {
        var firing = false
        /// When the condition began (the alert's started_at).
        var since: Int64 = 0
        /// Consecutive observations failing / passing the rule.
        var badRun = 0
        var goodRun = 0
        var lastNotified: Int64 = 0
        var repeats = 0
        var value: Double?
        var threshold: Double?
        var unit = ""
        var summary = ""
        var deviceID: Int32?
        var address = ""
        var ifName: String?
        /// Syslog: when the last message came, and how many so far.
        var lastSeen: Int64 = 0
        var count = 0
    }

    private var states: [AlertKey: State] = [:]
    /// Interfaces seen operationally up since start (for interface_down_seen_up).
    private var seenUp: Set<AlertKey> = []

    init(rules: AlertRules) { self.rules = rules }

    /// Alerts firing now.
    var firingCount: Int { states.values.reduce(0) { $0 + ($1.firing ? 1 : 0) } }

    /// Applies one observation; returns the notices it causes.
    mutating func apply(_ input: AlertInput, now: Int64) -> [AlertNotice] {
        var out: [AlertNotice] = []
        switch input {
        case .icmpChange(let c):
            guard rules.deviceDown else { break }
            let key = AlertKey(rule: .deviceDown, device: String(c.deviceID))
            if c.up {
                if let s = states[key], s.firing {
                    var s = s
                    s.value = 0
                    s.summary = "\(label(c.deviceID, c.address.description)) is up again (\(c.reason))"
                    out.append(notice(key, s, .resolved, at: c.timeMicros))
                }
                states[key] = nil
            } else if states[key] == nil {
                var s = State()
                s.since = c.timeMicros
                s.deviceID = c.deviceID
                s.address = c.address.description
                s.value = 100
                s.threshold = Double(rules.deviceDownAfterMicros / 60_000_000)
                s.unit = "minutes"
                s.summary = "\(label(c.deviceID, s.address)) is down: \(c.reason)"
                states[key] = s
                out += tick(key, now: now)
            }
        case .icmpCycle(let r):
            // A cycle without any reply is device_down's business: it neither fails nor clears these.
            guard r.sent > 0, r.received > 0 else { break }
            let a = r.address.description
            let who = label(r.deviceID, a)
            if rules.loss {
                let loss = r.lossPercent, limit = rules.lossPercent
                out += run(AlertKey(rule: .loss, device: String(r.deviceID)), bad: loss >= limit, need: rules.lossCycles,
                           value: loss, threshold: limit, unit: "%", deviceID: r.deviceID, address: a, at: r.timeMicros) {
                    "\(who): \(Self.format(loss))% ICMP loss (threshold \(Self.format(limit))%)"
                }
            }
            if rules.rtt, let rtt = r.rttAvgMs {
                let limit = rules.rttMs
                out += run(AlertKey(rule: .rtt, device: String(r.deviceID)), bad: rtt > limit, need: rules.rttCycles,
                           value: rtt, threshold: limit, unit: "ms", deviceID: r.deviceID, address: a, at: r.timeMicros) {
                    "\(who): ICMP round trip \(Self.format(rtt)) ms (threshold \(Self.format(limit)) ms)"
                }
            }
        case .snmpPoll(let id, let address, let reachable, let interfaces):
            // An unreachable agent says nothing about its interfaces: the last state stands.
            guard reachable else { break }
            let who = label(id, address)
            for f in interfaces {
                let ifName = f.name ?? "ifIndex \(f.index)"
                if rules.interfaceDown {
                    let key = AlertKey(rule: .interfaceDown, device: String(id), ifIndex: f.index)
                    if f.operStatus == 1 { seenUp.insert(key) }
                    let down = f.adminStatus == 1 && (f.operStatus == 2 || f.operStatus == 7)
                    let eligible = !rules.interfaceDownSeenUp || seenUp.contains(key) || states[key] != nil
                    out += run(key, bad: down && eligible, need: rules.interfacePolls, value: Double(f.operStatus ?? 0), threshold: nil,
                               unit: "ifOperStatus", deviceID: id, address: address, ifName: f.name, at: now) {
                        "\(who) interface \(ifName) is down (admin up, ifOperStatus \(f.operStatus.map(String.init) ?? "?"))"
                    }
                }
                if rules.interfaceErrors, let eps = f.errorsPerSecond {
                    let permille = f.packetsPerSecond.flatMap { $0 > 0 ? 1000 * eps / ($0 + eps) : nil }
                    let overRate = rules.interfaceErrorsPerSecond > 0 && eps > rules.interfaceErrorsPerSecond
                    let overRatio = rules.interfaceErrorPermille > 0 && (permille ?? 0) > rules.interfaceErrorPermille
                    let key = AlertKey(rule: .interfaceErrors, device: String(id), ifIndex: f.index)
                    // Reported by the threshold crossed; errors/s when both (or neither) are.
                    let byRatio = overRatio && !overRate
                    let threshold = byRatio ? rules.interfaceErrorPermille : rules.interfaceErrorsPerSecond
                    let unit = byRatio ? "errors per 1000 packets" : "errors/s"
                    let value = byRatio ? (permille ?? 0) : eps
                    out += run(key, bad: overRate || overRatio, need: rules.interfacePolls, value: value, threshold: threshold,
                               unit: unit, deviceID: id, address: address, ifName: f.name, at: now) {
                        "\(who) interface \(ifName): \(Self.format(eps)) errors/s" + (permille.map { " (\(Self.format($0)) per 1000 packets)" } ?? "")
                    }
                }
            }
        case .syslog(let id, let source, let severity, let count, let text, let time):
            guard rules.syslog, severity <= rules.syslogSeverity else { break }
            let key = AlertKey(rule: .syslog, device: id.map(String.init) ?? source)
            var s = states[key] ?? State()
            s.count += count
            s.lastSeen = max(s.lastSeen, now)
            s.value = Double(min(severity, Int(s.value ?? 7)))
            if !s.firing {
                s.firing = true
                s.since = time
                s.deviceID = id
                s.address = source
                s.threshold = Double(rules.syslogSeverity)
                s.unit = "severity"
                s.summary = "\(id.map { label($0, source) } ?? source): syslog \(Self.severityName(severity)): \(text)"
                s.lastNotified = now
                states[key] = s
                out.append(notice(key, s, .firing, at: now))
            } else {
                states[key] = s
            }
        }
        return out
    }

    /// Resolves and forgets the alerts of devices no longer in the inventory, so a deleted device does
    /// not fire forever. Syslog alerts of sources outside the inventory are kept.
    mutating func retainDevices(_ ids: Set<Int32>, now: Int64) -> [AlertNotice] {
        var out: [AlertNotice] = []
        for (key, s) in states {
            guard let id = s.deviceID, !ids.contains(id) else { continue }
            states[key] = nil
            if s.firing {
                var s = s
                s.summary = "\(s.address): device removed from the inventory"
                out.append(notice(key, s, .resolved, at: now))
            }
        }
        seenUp = seenUp.filter { Int32($0.device).map(ids.contains) ?? true }
        return out
    }

    /// Time-driven changes: device_down after its delay, syslog windows that ended, repeats.
    mutating func tick(now: Int64) -> [AlertNotice] {
        var out: [AlertNotice] = []
        for key in Array(states.keys) { out += tick(key, now: now) }
        return out
    }

    private mutating func tick(_ key: AlertKey, now: Int64) -> [AlertNotice] {
        guard var s = states[key] else { return [] }
        switch key.rule {
        case .deviceDown where !s.firing:
            if now - s.since >= rules.deviceDownAfterMicros {
                s.firing = true
                s.lastNotified = now
                states[key] = s
                return [notice(key, s, .firing, at: now)]
            }
            return []
        case .syslog where s.firing && now - s.lastSeen >= rules.syslogWindowMicros:
            states[key] = nil
            s.summary = "\(s.deviceID.map { label($0, s.address) } ?? s.address): no syslog message at severity \(rules.syslogSeverity) or worse for \(rules.syslogWindowMicros / 1_000_000) s (\(s.count) in all)"
            s.value = Double(s.count)
            return [notice(key, s, .resolved, at: now)]
        default:
            break
        }
        if s.firing && rules.repeatMicros > 0 && now - s.lastNotified >= rules.repeatMicros {
            s.lastNotified = now
            s.repeats += 1
            states[key] = s
            return [notice(key, s, .firing, at: now)]
        }
        return []
    }

    /// A rule over consecutive observations: fires after `need` bad ones, resolves after `need` good ones.
    private mutating func run(
        _ key: AlertKey, bad: Bool, need: Int, value: Double, threshold: Double?, unit: String, deviceID: Int32, address: String,
        ifName: String? = nil, at time: Int64, summary: () -> String
    ) -> [AlertNotice] {
        var s = states[key] ?? State()
        if bad {
            if s.badRun == 0 && !s.firing { s.since = time }
            s.badRun += 1
            s.goodRun = 0
        } else {
            if states[key] == nil { return [] }
            s.goodRun += 1
            s.badRun = 0
        }
        s.value = value
        s.threshold = threshold
        s.unit = unit
        s.deviceID = deviceID
        s.address = address
        s.ifName = ifName ?? s.ifName
        if bad || !s.firing { s.summary = summary() }
        if !s.firing && s.badRun >= need {
            s.firing = true
            s.lastNotified = time
            states[key] = s
            return [notice(key, s, .firing, at: time)]
        }
        if s.firing && s.goodRun >= need {
            states[key] = nil
            s.summary = "resolved: " + summary()
            return [notice(key, s, .resolved, at: time)]
        }
        if !s.firing && s.goodRun > 0 {
            // A bad run shorter than `need`: forget it.
            states[key] = nil
            return []
        }
        states[key] = s
        return []
    }

    private func notice(_ key: AlertKey, _ s: State, _ status: AlertNotice.Status, at time: Int64) -> AlertNotice {
        AlertNotice(
            status: status, rule: key.rule, deviceID: s.deviceID, deviceName: s.deviceID.flatMap { names[$0] } ?? s.address,
            address: s.address, ifIndex: key.ifIndex, ifName: s.ifName, value: s.value, threshold: s.threshold, unit: s.unit,
            summary: s.summary, startedAtMicros: s.since, resolvedAtMicros: status == .resolved ? time : nil,
            fingerprint: key.fingerprint, repeatCount: s.repeats)
    }

    private func label(_ id: Int32, _ address: String) -> String {
        if let n = names[id] { return "\(n) (\(address))" }
        return address
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%.1f", v)
    }

    static func severityName(_ s: Int) -> String {
        ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"][max(0, min(7, s))]
    }
}
