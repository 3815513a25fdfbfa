// What the ICMP poller is told (targets and their probe settings) and what it reports (one result per
// target per cycle, and up/down changes). Pure values: no sockets here.

/// An IPv4 or IPv6 address. IPv4 is kept in host byte order; IPv6 as two big-endian-ordered halves
/// (the high 64 bits first), so comparisons and hashing are plain integer work.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible, Comparable, BitwiseCopyable {
    case v4(UInt32)
    case v6(high: UInt64, low: UInt64)

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and an embedded IPv4 tail); nil if invalid.
    /// A zone (`%eth0`) or prefix length is not accepted.
    public init?(_ text: some StringProtocol) {
        if let v4 = IPAddress.parseV4(Substring(text)) {
            self = .v4(v4)
        } else if let (h, l) = IPAddress.parseV6(Substring(text)) {
            self = .v6(high: h, low: l)
        } else {
            return nil
        }
    }

    public var isV4: Bool { if case .v4 = self { true } else { false } }

    /// True for 127.0.0.0/8 and ::1: where every load test may send.
    public var isLoopback: Bool {
        switch self {
        case .v4(let a): a >> 24 == 127
        case .v6(let h, let l): h == 0 && l == 1
        }
    }

    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\(a >> 16 & 0xff).\(a >> 8 & 0xff).\(a & 0xff)"
        case .v6(let h, let l):
            var groups = [UInt16](repeating: 0, count: 8)
            for i in 0..<4 {
                groups[i] = UInt16(truncatingIfNeeded: h >> (48 - 16 * UInt64(i)))
                groups[4 + i] = UInt16(truncatingIfNeeded: l >> (48 - 16 * UInt64(i)))
            }
            // RFC 5952: the longest run (2 or more) of zero groups becomes "::", the first if tied.
            var best = (start: -1, len: 0), run = (start: -1, len: 0)
            for (i, g) in groups.enumerated() {
                if g == 0 {
                    run = run.start < 0 ? (i, 1) : (run.start, run.len + 1)
                    if run.len > best.len { best = run }
                } else {
                    run = (-1, 0)
                }
            }
            func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
            if best.len < 2 { return hex(groups[...]) }
            return hex(groups[..<best.start]) + "::" + hex(groups[(best.start + best.len)...])
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        case (.v6(let ah, let al), .v6(let bh, let bl)): (ah, al) < (bh, bl)
        }
    }

    static func parseV4(_ s: Substring) -> UInt32? {
        var value: UInt32 = 0, parts = 0
        for part in s.split(separator: ".", omittingEmptySubsequences: false) {
            guard parts < 4, !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII),
                  let n = UInt32(part), n <= 255, part.count == 1 || part.first != "0"
            else { return nil }
            value = value << 8 | n
            parts += 1
        }
        return parts == 4 ? value : nil
    }

    static func parseV6(_ s: Substring) -> (UInt64, UInt64)? {
        guard s.count >= 2, s.count <= 45 else { return nil }
        var groups: [UInt16] = []
        var gapAt: Int?
        var rest = s
        if rest.hasPrefix("::") {
            gapAt = 0
            rest = rest.dropFirst(2)
        }
        while !rest.isEmpty {
            let end = rest.firstIndex(of: ":") ?? rest.endIndex
            let piece = rest[..<end]
            if piece.contains(".") {
                // An embedded IPv4 tail must be last.
                guard end == rest.endIndex, let v4 = parseV4(piece) else { return nil }
                groups.append(UInt16(v4 >> 16))
                groups.append(UInt16(v4 & 0xffff))
                rest = rest[end...]
                break
            }
            guard !piece.isEmpty, piece.count <= 4, piece.allSatisfy(\.isHexDigit), let g = UInt16(piece, radix: 16)
            else { return nil }
            groups.append(g)
            rest = rest[end...]
            if rest.hasPrefix("::") {
                guard gapAt == nil else { return nil }
                gapAt = groups.count
                rest = rest.dropFirst(2)
            } else if rest.hasPrefix(":") {
                rest = rest.dropFirst()
                if rest.isEmpty { return nil }
            }
        }
        if let gap = gapAt {
            guard groups.count <= 7 else { return nil }
            groups.insert(contentsOf: [UInt16](repeating: 0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<4 {
            h = h << 16 | UInt64(groups[i])
            l = l << 16 | UInt64(groups[4 + i])
        }
        return (h, l)
    }
}

/// A CIDR prefix: an address and a prefix length. Used by discovery and its allow list.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var length: Int

    /// Parses `a.b.c.d/n` or `v6/n` (a bare address is a /32 or /128). Host bits must be zero.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = IPAddress(parts[0]) else { return nil }
        let maxLen = a.isV4 ? 32 : 128
        var len = maxLen
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...maxLen).contains(n), parts[1].allSatisfy(\.isASCII) else { return nil }
            len = n
        }
        guard IPPrefix.masked(a, len) == a else { return nil }
        address = a
        length = len
    }

    public var description: String { "\(address)/\(length)" }

    /// How many addresses it holds (saturating at Int.max for large IPv6 prefixes).
    public var size: Int {
        let bits = (address.isV4 ? 32 : 128) - length
        return bits >= 63 ? Int.max : 1 << bits
    }

    public func contains(_ a: IPAddress) -> Bool {
        a.isV4 == address.isV4 && IPPrefix.masked(a, length) == address
    }

    /// True when every address of `other` is in this prefix.
    public func contains(_ other: IPPrefix) -> Bool { other.length >= length && contains(other.address) }

    static func masked(_ a: IPAddress, _ len: Int) -> IPAddress {
        switch a {
        case .v4(let x):
            return .v4(len == 0 ? 0 : x & ~UInt32(0) << UInt32(32 - len))
        case .v6(let h, let l):
            let mh: UInt64 = len >= 64 ? ~0 : (len == 0 ? 0 : ~UInt64(0) << UInt64(64 - len))
            let ml: UInt64 = len <= 64 ? 0 : (len >= 128 ? ~0 : ~UInt64(0) << UInt64(128 - len))
            return .v6(high: h & mh, low: l & ml)
        }
    }

    /// The `i`-th address of the prefix (0-based); `i` must be below `size`.
    public func address(at i: Int) -> IPAddress {
        switch address {
        case .v4(let x): return .v4(x + UInt32(i))
        case .v6(let h, let l):
            let (sum, carry) = l.addingReportingOverflow(UInt64(i))
            return .v6(high: h &+ (carry ? 1 : 0), low: sum)
        }
    }
}

/// How one target is probed. Defaults follow what fping-based pollers (Zabbix, Smokeping) use, with a
/// timeout long enough that a slow satellite or congested link is not called lost.
public struct ProbeSettings: Sendable, Equatable {
    /// Time between the starts of two cycles.
    public var interval: Duration = .seconds(30)
    /// Echo requests per cycle (1…64).
    public var probes: Int = 3
    /// Time between the probes of one cycle.
    public var spacing: Duration = .seconds(1)
    /// A reply later than this after its request is counted late, not received.
    public var timeout: Duration = .seconds(5)
    /// ICMP payload bytes (32…65000): our 32-byte token first, then a fixed pattern.
    public var payloadBytes: Int = 56
    /// IPv4 TOS / IPv6 traffic class byte (DSCP << 2).
    public var tos: UInt8 = 0
    /// Source address to send from; nil lets the kernel choose.
    public var source: IPAddress? = nil
    /// Consecutive failed cycles before a target is declared down, and successful ones before up again.
    public var downAfter: Int = 2
    public var upAfter: Int = 1
    /// A cycle counts as failed when its loss is at or above this percentage (100: only when all are lost).
    public var failLossPercent: Double = 100

    public init() {}

    /// Why these settings cannot be used, or nil. Probes of a cycle must be done before the next starts.
    public var problem: String? {
        if !(1...64).contains(probes) { return "probes must be 1…64, got \(probes)" }
        if !(32...65000).contains(payloadBytes) { return "payload_bytes must be 32…65000, got \(payloadBytes)" }
        if interval < .milliseconds(100) { return "interval must be at least 100 ms" }
        if timeout <= .zero { return "timeout must be positive" }
        if spacing < .zero { return "spacing must not be negative" }
        if spacing * (probes - 1) + timeout >= interval {
            return "(probes − 1) × spacing + timeout (\(spacing * (probes - 1) + timeout)) must end before the next cycle (interval \(interval))"
        }
        if downAfter < 1 || upAfter < 1 { return "down_after and up_after must be at least 1" }
        if !(0...100).contains(failLossPercent) || failLossPercent <= 0 { return "fail_loss_percent must be in (0, 100]" }
        return nil
    }
}

/// One thing to ping. `id` is the device id (rows carry it); `address` is what is pinged.
public struct ICMPTarget: Sendable, Equatable {
    public var id: Int32
    public var name: String
    public var address: IPAddress
    public var settings: ProbeSettings
    public init(id: Int32, name: String, address: IPAddress, settings: ProbeSettings = ProbeSettings()) {
        self.id = id
        self.name = name
        self.address = address
        self.settings = settings
    }
}

/// One target's cycle: written as one `icmp_samples` row.
public struct ICMPCycleResult: Sendable, Equatable, BitwiseCopyable {
    /// When the cycle's first probe was scheduled, in microseconds since the Unix epoch.
    public var timeMicros: Int64
    public var deviceID: Int32
    public var address: IPAddress
    public var sent: Int
    public var received: Int
    /// Round-trip times in milliseconds over the received replies; nil when none came back.
    public var rttMinMs: Double?
    public var rttAvgMs: Double?
    public var rttMaxMs: Double?
    /// Mean absolute difference of consecutive RTTs (RFC 3550's idea, unsmoothed); nil with < 2 replies.
    public var jitterMs: Double?
    /// ICMP errors (unreachable, time exceeded…) that quoted one of this cycle's probes.
    public var icmpErrors: Int
    /// Replies that came after the timeout (not counted as received).
    public var late: Int

    /// Lost share in percent, 0…100.
    public var lossPercent: Double { sent == 0 ? 0 : Double(sent - received) * 100 / Double(sent) }
}

/// A target changing between up and down (after the hysteresis): one `device_events` row.
public struct ICMPStateChange: Sendable, Equatable {
    public var timeMicros: Int64
    public var deviceID: Int32
    public var address: IPAddress
    public var up: Bool
    /// Why, for people: "3 cycles with 100% loss", "reply received".
    public var reason: String
}
