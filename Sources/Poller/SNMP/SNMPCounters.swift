// Counters done right: rates from the deltas of two polls. A Counter32 that went down is a wrap only
// when the implied rate fits the interface's speed; a Counter64 that went down was reset; a sysUpTime
// that fell behind the clock (a reboot) or a changed ifCounterDiscontinuityTime is a discontinuity. None of those
// produces a spike: the rate is simply absent for that interval. Interface status changes and reboots
// become events.

/// What the poller keeps per device between polls (owned by one thread).
public struct SNMPDeviceState: Sendable {
    var timeMicros: Int64 = 0
    var sysUpTime: UInt32?
    var interfaces: [UInt32: SNMPInterfaceSample] = [:]
    /// nil before the first poll; then whether the last one answered.
    public var reachable: Bool?

    public init() {}
}

/// Rates of one interface over the last interval (per second); nil where there is no valid delta.
public struct SNMPInterfaceRates: Sendable, Equatable {
    public var inBps: Double?, outBps: Double?
    public var inPps: Double?, outPps: Double?
    public var inErrorsPs: Double?, outErrorsPs: Double?
    public var inDiscardsPs: Double?, outDiscardsPs: Double?

    public init() {}
}

/// A row for device_events.
public struct SNMPDeviceEvent: Sendable, Equatable {
    /// "snmp" (reachability), "reboot", "interface".
    public var kind: String
    public var up: Bool
    public var ifIndex: UInt32?
    public var reason: String
}

/// What one poll changed: rates per interface (same order as the sample's interfaces) and events.
public struct SNMPPollOutcome: Sendable {
    public var rates: [SNMPInterfaceRates] = []
    public var events: [SNMPDeviceEvent] = []
    /// The interval was a discontinuity for the whole device (reboot): no rates.
    public var rebooted = false
    /// Counter32 wraps accepted, and decreases refused as resets (both counted for the stats).
    public var wraps = 0
    public var resets = 0
}

/// The delta and rate arithmetic (pure).
public enum SNMPCounterMath {
    static let minFrameBits = 84.0 * 8  // smallest Ethernet frame on the wire, with preamble and gap

    /// The increase of a Counter32 from `prev` to `cur` over `seconds`, or nil. A decrease is taken as
    /// one wrap when the rate it implies is at most `maxPerSecond` (with 10 % slack); with no bound
    /// known, only when the counter was in its upper half and is now in its lower half.
    public static func delta32(_ prev: UInt32, _ cur: UInt32, seconds: Double, maxPerSecond: Double?) -> (UInt64, wrapped: Bool)? {
        if cur >= prev { return (UInt64(cur - prev), false) }
        let wrapped = UInt64(cur) + (1 << 32) - UInt64(prev)
        if let m = maxPerSecond, m > 0 {
            return Double(wrapped) / seconds <= m * 1.1 ? (wrapped, true) : nil
        }
        return prev >= 1 << 31 && cur < 1 << 31 ? (wrapped, true) : nil
    }

    /// The increase of a Counter64, or nil when it went down (a reset: 64 bits do not wrap).
    public static func delta64(_ prev: UInt64, _ cur: UInt64) -> UInt64? { cur >= prev ? cur - prev : nil }

    /// Whether sysUpTime going from `prev` to `cur` over `seconds` of wall clock means the agent
    /// restarted: it is behind where it should be (prev + the time elapsed) by more than 10 s or 10 % of
    /// the interval, so a restart shows even when the new uptime has passed the old one. Its own 497-day
    /// wrap (2^32 hundredths) is not a restart.
    public static func rebooted(prevUptime prev: UInt32, uptime cur: UInt32, seconds: Double) -> Bool {
        let expected = Double(prev) + seconds * 100
        let tolerance = max(1000, seconds * 10)
        if expected >= 4_294_967_296, abs(Double(cur) - (expected - 4_294_967_296)) <= tolerance { return false }
        return Double(cur) < expected - tolerance
    }
}

extension SNMPDeviceState {
    /// Applies one poll: rates against the previous one, events for what changed, then remembers it.
    public mutating func update(_ s: SNMPDeviceSample) -> SNMPPollOutcome {
        var out = SNMPPollOutcome()
        if s.unreachable {
            if reachable != false {
                out.events.append(SNMPDeviceEvent(kind: "snmp", up: false, ifIndex: nil, reason: s.error.map { "\($0)" } ?? "no answer"))
            }
            reachable = false
            return out
        }
        if reachable != true {
            out.events.append(SNMPDeviceEvent(kind: "snmp", up: true, ifIndex: nil, reason: "answered (sysUpTime \(Double(s.sysUpTime ?? 0) / 100) s)"))
        }
        reachable = true
        let seconds = Double(s.timeMicros - timeMicros) / 1_000_000
        var valid = timeMicros > 0 && seconds > 0
        if valid, let prev = sysUpTime, let cur = s.sysUpTime, SNMPCounterMath.rebooted(prevUptime: prev, uptime: cur, seconds: seconds) {
            out.rebooted = true
            valid = false
            out.events.append(SNMPDeviceEvent(
                kind: "reboot", up: true, ifIndex: nil,
                reason: "sysUpTime was \(Double(prev) / 100) s, \(Int(seconds.rounded())) s later it is \(Double(cur) / 100) s: the agent restarted"))
        }
        out.rates.reserveCapacity(s.interfaces.count)
        var seen: [UInt32: SNMPInterfaceSample] = [:]
        seen.reserveCapacity(s.interfaces.count)
        for i in s.interfaces {
            var r = SNMPInterfaceRates()
            if let p = interfaces[i.index] {
                if !out.rebooted, p.operStatus != i.operStatus, let o = i.operStatus {
                    let label = i.name ?? i.descr ?? "ifIndex \(i.index)"
                    out.events.append(SNMPDeviceEvent(
                        kind: "interface", up: o == 1, ifIndex: i.index,
                        reason: "\(label): operStatus \(Self.status(p.operStatus)) → \(Self.status(o)), adminStatus \(Self.status(i.adminStatus))"))
                }
                // Same interface (the index was not reused) and no counter discontinuity.
                let sameInterface = p.descr == i.descr && p.name == i.name
                if valid && sameInterface && p.discontinuityTime == i.discontinuityTime {
                    r = Self.rates(p, i, seconds: seconds, outcome: &out)
                }
            }
            out.rates.append(r)
            seen[i.index] = i
        }
        interfaces = seen
        timeMicros = s.timeMicros
        sysUpTime = s.sysUpTime
        return out
    }

    static func status(_ s: Int32?) -> String {
        switch s {
        case 1: "up"
        case 2: "down"
        case 3: "testing"
        case 4: "unknown"
        case 5: "dormant"
        case 6: "notPresent"
        case 7: "lowerLayerDown"
        case nil: "absent"
        default: "\(s!)"
        }
    }

    static func rates(_ p: SNMPInterfaceSample, _ c: SNMPInterfaceSample, seconds: Double, outcome: inout SNMPPollOutcome) -> SNMPInterfaceRates {
        let speed = c.speedBps.flatMap { $0 > 0 ? Double($0) : nil }
        let maxBytes = speed.map { $0 / 8 }
        let maxPackets = speed.map { $0 / SNMPCounterMath.minFrameBits }
        func d64(_ a: UInt64?, _ b: UInt64?) -> UInt64?? {
            guard let a, let b else { return .none }
            let d = SNMPCounterMath.delta64(a, b)
            if d == nil { outcome.resets += 1 }
            return .some(d)
        }
        func d32(_ a: UInt32?, _ b: UInt32?, _ max: Double?) -> UInt64?? {
            guard let a, let b else { return .none }
            let d = SNMPCounterMath.delta32(a, b, seconds: seconds, maxPerSecond: max)
            if let d, d.wrapped { outcome.wraps += 1 }
            if d == nil { outcome.resets += 1 }
            return .some(d?.0)
        }
        /// The HC delta when both polls had the HC counter, else the 32-bit one.
        func delta(_ h: (UInt64?, UInt64?), _ l: (UInt32?, UInt32?), _ max: Double?) -> UInt64? {
            if let d = d64(h.0, h.1) { return d }
            if let d = d32(l.0, l.1, max) { return d }
            return nil
        }
        func rate(_ d: UInt64?, _ k: Double = 1) -> Double? { d.map { Double($0) * k / seconds } }
        var r = SNMPInterfaceRates()
        r.inBps = rate(delta((p.inOctets64, c.inOctets64), (p.inOctets32, c.inOctets32), maxBytes), 8)
        r.outBps = rate(delta((p.outOctets64, c.outOctets64), (p.outOctets32, c.outOctets32), maxBytes), 8)
        // Packets: unicast + multicast + broadcast where the agent has them.
        func packets(_ u: (UInt64?, UInt64?, UInt32?, UInt32?), _ m: (UInt64?, UInt64?, UInt32?, UInt32?), _ b: (UInt64?, UInt64?, UInt32?, UInt32?)) -> Double? {
            guard let ud = delta((u.0, u.1), (u.2, u.3), maxPackets) else { return nil }
            var total = ud
            for x in [m, b] {
                if let d = delta((x.0, x.1), (x.2, x.3), maxPackets) { total &+= d }
            }
            return rate(total)
        }
        r.inPps = packets((p.inUcast64, c.inUcast64, p.inUcast32, c.inUcast32), (p.inMcast64, c.inMcast64, p.inMcast32, c.inMcast32),
                          (p.inBcast64, c.inBcast64, p.inBcast32, c.inBcast32))
        r.outPps = packets((p.outUcast64, c.outUcast64, p.outUcast32, c.outUcast32), (p.outMcast64, c.outMcast64, p.outMcast32, c.outMcast32),
                           (p.outBcast64, c.outBcast64, p.outBcast32, c.outBcast32))
        r.inErrorsPs = rate(d32(p.inErrors, c.inErrors, maxPackets) ?? nil)
        r.outErrorsPs = rate(d32(p.outErrors, c.outErrors, maxPackets) ?? nil)
        r.inDiscardsPs = rate(d32(p.inDiscards, c.inDiscards, maxPackets) ?? nil)
        r.outDiscardsPs = rate(d32(p.outDiscards, c.outDiscards, maxPackets) ?? nil)
        return r
    }
}
