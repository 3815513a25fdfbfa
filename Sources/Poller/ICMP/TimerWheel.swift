// A hashed timing wheel: O(1) schedule and cancel, and per tick only the entries due in it are touched,
// so a million targets cost the sender a few array reads per probe, not a heap operation.

/// Each id (a target slot) has at most one pending deadline. Not thread-safe: the sender owns it.
struct TimerWheel {
    /// Nanoseconds per tick.
    let tick: Int64
    private let mask: Int
    private var heads: [Int32]
    private var next: [Int32] = []
    private var prev: [Int32] = []
    private var bucketOf: [Int32] = []
    private(set) var due: [Int64] = []
    /// Every tick up to and including this one has been processed.
    private(set) var processedTick: Int64

    /// `slots` is rounded up to a power of two; deadlines further than slots × tick away simply stay in
    /// their bucket for more turns.
    init(tick: Duration, slots: Int, now: Int64) {
        self.tick = max(1, Int64(tick.components.seconds) * 1_000_000_000 + tick.components.attoseconds / 1_000_000_000)
        var n = 1
        while n < slots { n <<= 1 }
        mask = n - 1
        heads = [Int32](repeating: -1, count: n)
        processedTick = now / self.tick
    }

    /// Makes room for ids below `capacity`.
    mutating func reserve(_ capacity: Int) {
        guard capacity > next.count else { return }
        let add = capacity - next.count
        next.append(contentsOf: repeatElement(-1, count: add))
        prev.append(contentsOf: repeatElement(-1, count: add))
        bucketOf.append(contentsOf: repeatElement(-1, count: add))
        due.append(contentsOf: repeatElement(0, count: add))
    }

    func isScheduled(_ id: Int32) -> Bool { bucketOf[Int(id)] >= 0 }

    /// Schedules `id` at `time` (ns, monotonic), replacing any earlier deadline. A time already passed
    /// fires on the next `advance`.
    mutating func schedule(_ id: Int32, at time: Int64) {
        if bucketOf[Int(id)] >= 0 { cancel(id) }
        let t = max(time / tick, processedTick + 1)
        let b = Int(t & Int64(mask))
        due[Int(id)] = time
        bucketOf[Int(id)] = Int32(b)
        prev[Int(id)] = -1
        next[Int(id)] = heads[b]
        if heads[b] >= 0 { prev[Int(heads[b])] = id }
        heads[b] = id
    }

    mutating func cancel(_ id: Int32) {
        let b = Int(bucketOf[Int(id)])
        guard b >= 0 else { return }
        let p = prev[Int(id)], n = next[Int(id)]
        if p >= 0 { next[Int(p)] = n } else { heads[b] = n }
        if n >= 0 { prev[Int(n)] = p }
        bucketOf[Int(id)] = -1
    }

    /// Fires (appends to `fired`, unscheduling) every id whose tick is at or before `throughTick`.
    mutating func advance(throughTick target: Int64, into fired: inout [Int32]) {
        guard target > processedTick else { return }
        // After a long stall every bucket is visited once; each still fires only if its time has come.
        let end = min(target, processedTick + Int64(mask + 1))
        var t = processedTick + 1
        while t <= end {
            let b = Int(t & Int64(mask))
            var e = heads[b]
            while e >= 0 {
                let following = next[Int(e)]
                if due[Int(e)] / tick <= target {
                    cancel(e)
                    fired.append(e)
                }
                e = following
            }
            t += 1
        }
        processedTick = target
    }

    /// The first tick after `processedTick`, within `limit` ticks, whose bucket is not empty; nil if none.
    func nextBusyTick(within limit: Int) -> Int64? {
        var t = processedTick + 1
        let end = processedTick + Int64(min(limit, mask + 1))
        while t <= end {
            if heads[Int(t & Int64(mask))] >= 0 { return t }
            t += 1
        }
        return nil
    }
}
