// The ICMP poller's counters: every probe sent and every packet received lands in exactly one of them,
// so a forged, garbled or foreign packet is counted by kind rather than lost silently.
import Synchronization

/// Live counters of an `ICMPPoller`.
public final class ICMPStats: Sendable {
    let probesSent = Atomic<Int>(0)
    let sendErrors = Atomic<Int>(0)
    let sendRetries = Atomic<Int>(0)
    let repliesMatched = Atomic<Int>(0)
    let repliesLate = Atomic<Int>(0)
    let duplicates = Atomic<Int>(0)
    let forged = Atomic<Int>(0)
    let foreign = Atomic<Int>(0)
    let wrongSource = Atomic<Int>(0)
    let stale = Atomic<Int>(0)
    let malformed = Atomic<Int>(0)
    let icmpErrors = Atomic<Int>(0)
    let icmpErrorsUnattributed = Atomic<Int>(0)
    let noKernelTimestamp = Atomic<Int>(0)
    let cyclesClosed = Atomic<Int>(0)
    let closeQueueWaits = Atomic<Int>(0)
    let reportQueueWaits = Atomic<Int>(0)
    let receiveErrors = Atomic<Int>(0)
    let txTimestamps = Atomic<Int>(0)
    let txTimestampFallbacks = Atomic<Int>(0)
    let txKeyResets = Atomic<Int>(0)
    let errorQueueOther = Atomic<Int>(0)
    /// Send lateness against schedule: buckets of 10 µs below 10 ms, then of 1 ms below 10 s, then one.
    /// `lateness` holds everything since start; `window` since the last `takeLatenessWindow()`.
    let lateness = Mutex<(total: [Int], window: [Int])>((
        [Int](repeating: 0, count: ICMPStats.latenessBuckets), [Int](repeating: 0, count: ICMPStats.latenessBuckets)))

    static let latenessBuckets = 1000 + 9990 + 1
    /// How late against schedule the most overdue probe of the latest send batch left, in µs: the
    /// poller's lag now (/metrics' cycle lag), where the histogram above is its history.
    let lagMicros = Atomic<Int>(0)

    /// The sender's current lag behind schedule in microseconds (see `lagMicros`).
    public var currentLagMicros: Int { lagMicros.load(ordering: .relaxed) }

    init() {}

    static func bucket(latenessNanos ns: Int64) -> Int {
        let us = max(0, ns / 1000)
        if us < 10_000 { return Int(us / 10) }
        let ms = us / 1000
        if ms < 10_000 { return 1000 + Int(ms - 10) }
        return latenessBuckets - 1
    }

    /// The upper edge of a bucket in microseconds.
    static func bucketUpperMicros(_ b: Int) -> Int {
        if b < 1000 { return (b + 1) * 10 }
        if b < latenessBuckets - 1 { return (b - 1000 + 11) * 1000 }
        return Int.max
    }

    @inline(__always) func add(_ counter: borrowing Atomic<Int>, _ n: Int = 1) {
        counter.wrappingAdd(n, ordering: .relaxed)
    }

    /// A point-in-time copy.
    public struct Snapshot: Sendable, Equatable {
        public var probesSent = 0
        /// Probes the kernel refused (no route, EPERM…); they count as sent and lost in their cycle.
        public var sendErrors = 0
        /// Times the send buffer was full and the sender waited.
        public var sendRetries = 0
        /// Replies matched to a probe within its timeout.
        public var repliesMatched = 0
        /// Replies after their probe's timeout (not counted as received).
        public var repliesLate = 0
        public var duplicates = 0
        /// Replies whose token failed the MAC: forged, garbled, or sent to an earlier sotpd.
        public var forged = 0
        /// Echo replies without our token or identifier: other programs' pings.
        public var foreign = 0
        /// Valid tokens coming back from an address other than the probed one.
        public var wrongSource = 0
        /// Replies for a target removed or replaced since.
        public var stale = 0
        /// Packets too short or with a broken IP header.
        public var malformed = 0
        /// ICMP errors attributed to a probe (unreachable, time exceeded…).
        public var icmpErrors = 0
        /// ICMP errors quoting an echo request we cannot attribute.
        public var icmpErrorsUnattributed = 0
        public var noKernelTimestamp = 0
        public var cyclesClosed = 0
        public var closeQueueWaits = 0
        /// Times the receiver waited because the reporter (the sink) was 256k results behind.
        public var reportQueueWaits = 0
        public var receiveErrors = 0
        /// Kernel transmit timestamps read from the sockets' error queues.
        public var txTimestamps = 0
        /// Replies timed from the clock read in user space before the send, because the kernel's transmit
        /// timestamp was not there (lost to a full error queue, evicted, or a send whose key was unknown).
        public var txTimestampFallbacks = 0
        /// Times a socket's OPT_ID counter was reset after a send left it unknown (counter keys only).
        public var txKeyResets = 0
        /// Error-queue messages that are not transmit timestamps (counted and dropped).
        public var errorQueueOther = 0
        /// Send lateness percentiles in microseconds (bucket upper edges, 10 µs resolution below 10 ms).
        public var latenessP50Micros = 0
        public var latenessP99Micros = 0
        public var latenessMaxMicros = 0
        /// Probes whose lateness was recorded.
        public var latenessSamples = 0

        public var fields: [(String, Int)] {
            [
                ("probes_sent", probesSent), ("send_errors", sendErrors), ("send_retries", sendRetries),
                ("replies_matched", repliesMatched), ("replies_late", repliesLate), ("duplicates", duplicates),
                ("forged", forged), ("foreign", foreign), ("wrong_source", wrongSource), ("stale", stale),
                ("malformed", malformed), ("icmp_errors", icmpErrors), ("icmp_errors_unattributed", icmpErrorsUnattributed),
                ("no_kernel_timestamp", noKernelTimestamp), ("cycles_closed", cyclesClosed),
                ("close_queue_waits", closeQueueWaits), ("report_queue_waits", reportQueueWaits), ("receive_errors", receiveErrors),
                ("tx_timestamps", txTimestamps), ("tx_timestamp_fallbacks", txTimestampFallbacks),
                ("tx_key_resets", txKeyResets), ("error_queue_other", errorQueueOther),
                ("send_lateness_p50_us", latenessP50Micros), ("send_lateness_p99_us", latenessP99Micros),
                ("send_lateness_max_us", latenessMaxMicros),
            ]
        }
    }

    public func snapshot() -> Snapshot {
        var s = Snapshot()
        s.probesSent = probesSent.load(ordering: .relaxed)
        s.sendErrors = sendErrors.load(ordering: .relaxed)
        s.sendRetries = sendRetries.load(ordering: .relaxed)
        s.repliesMatched = repliesMatched.load(ordering: .relaxed)
        s.repliesLate = repliesLate.load(ordering: .relaxed)
        s.duplicates = duplicates.load(ordering: .relaxed)
        s.forged = forged.load(ordering: .relaxed)
        s.foreign = foreign.load(ordering: .relaxed)
        s.wrongSource = wrongSource.load(ordering: .relaxed)
        s.stale = stale.load(ordering: .relaxed)
        s.malformed = malformed.load(ordering: .relaxed)
        s.icmpErrors = icmpErrors.load(ordering: .relaxed)
        s.icmpErrorsUnattributed = icmpErrorsUnattributed.load(ordering: .relaxed)
        s.noKernelTimestamp = noKernelTimestamp.load(ordering: .relaxed)
        s.cyclesClosed = cyclesClosed.load(ordering: .relaxed)
        s.closeQueueWaits = closeQueueWaits.load(ordering: .relaxed)
        s.reportQueueWaits = reportQueueWaits.load(ordering: .relaxed)
        s.receiveErrors = receiveErrors.load(ordering: .relaxed)
        s.txTimestamps = txTimestamps.load(ordering: .relaxed)
        s.txTimestampFallbacks = txTimestampFallbacks.load(ordering: .relaxed)
        s.txKeyResets = txKeyResets.load(ordering: .relaxed)
        s.errorQueueOther = errorQueueOther.load(ordering: .relaxed)
        let p = lateness.withLock { ICMPStats.percentiles($0.total) }
        s.latenessSamples = p.samples
        s.latenessP50Micros = p.p50
        s.latenessP99Micros = p.p99
        s.latenessMaxMicros = p.max
        return s
    }

    /// Send lateness percentiles (µs, bucket upper edges) since the previous call, and how many probes
    /// they cover; the window then starts again. For a stats exporter that charts lateness over time.
    public func takeLatenessWindow() -> (p50: Int, p99: Int, max: Int, samples: Int) {
        lateness.withLock { h in
            let p = ICMPStats.percentiles(h.window)
            for i in h.window.indices { h.window[i] = 0 }
            return p
        }
    }

    static func percentiles(_ h: [Int]) -> (p50: Int, p99: Int, max: Int, samples: Int) {
        let total = h.reduce(0, +)
        guard total > 0 else { return (0, 0, 0, 0) }
        var acc = 0
        var p50 = -1, p99 = -1, mx = 0
        for (b, n) in h.enumerated() where n > 0 {
            acc += n
            if p50 < 0 && acc * 2 >= total { p50 = b }
            if p99 < 0 && acc * 100 >= total * 99 { p99 = b }
            mx = b
        }
        return (bucketUpperMicros(p50), bucketUpperMicros(p99), bucketUpperMicros(mx), total)
    }
}
