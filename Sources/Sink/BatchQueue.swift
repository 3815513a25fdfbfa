// The sealed batches waiting for a writer, in memory and in the spool, handed out oldest (lowest
// sequence number) first whichever tier holds them, so replay after an outage keeps the original order.
import Foundation
import Logging
import Synchronization

/// A batch a writer took: from memory or from a spool file.
enum Work: Sendable {
    case memory(Batch)
    case spool(SpoolEntry)
}

/// Where a newly sealed batch goes.
enum Route: Sendable {
    case memory
    /// To the spool; the space is reserved, the caller writes the file.
    case spool(Batch)
    case drop(Batch)
}

/// Memory queue, spool index and writer coordination under one condition variable.
final class BatchQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var memory: [Batch] = []
    private var memoryBytes = 0  // queued and in-flight memory batches
    private var spooled: [SpoolEntry] = []  // files not being written right now
    private var spoolBytes = 0  // files, reservations and in-flight files
    private var spoolFilesInFlight = 0
    private var inFlight = 0
    private var transit = 0  // batches on their way to the spool (being written)
    private var nextSeq: UInt64
    private var up = true
    private var stopping = false
    private var deadline = ContinuousClock.now
    private var running = 0
    private let stats: SinkStats

    init(spooled entries: [SpoolEntry], stats: SinkStats) {
        self.stats = stats
        spooled = entries
        spoolBytes = entries.reduce(0) { $0 + $1.bytes }
        nextSeq = (entries.last?.seq ?? 0) + 1
        publish()
    }

    private func publish() {
        stats.memoryBytes.store(memoryBytes, ordering: .relaxed)
        stats.spoolBytes.store(spoolBytes, ordering: .relaxed)
        stats.spoolFiles.store(spooled.count + spoolFilesInFlight, ordering: .relaxed)
    }

    private func locked<T>(_ body: () -> T) -> T {
        cond.lock()
        defer {
            publish()
            cond.unlock()
        }
        return body()
    }

    // MARK: producers

    /// Numbers the batch and decides where it goes: memory while the database is up and memory has
    /// room; else the spool if it has room; else memory as a last resort; else it is dropped.
    func route(_ b: Batch, memoryLimit: Int, spoolLimit: Int) -> Route {
        locked {
            var b = b
            b.seq = nextSeq
            nextSeq += 1
            let size = b.tuples.count
            if up && memoryBytes + size <= memoryLimit {
                insert(b)
                return .memory
            }
            if spoolBytes + size <= spoolLimit {
                spoolBytes += size
                transit += 1
                return .spool(b)
            }
            if memoryBytes + size <= memoryLimit {
                insert(b)
                return .memory
            }
            return .drop(b)
        }
    }

    private func insert(_ b: Batch) {
        memoryBytes += b.tuples.count
        let at = memory.firstIndex { $0.seq > b.seq } ?? memory.endIndex
        memory.insert(b, at: at)
        cond.signal()
    }

    private func insert(_ e: SpoolEntry) {
        let at = spooled.firstIndex { $0.seq > e.seq } ?? spooled.endIndex
        spooled.insert(e, at: at)
        cond.signal()
    }

    /// A reserved spool write completed.
    func spooled(_ e: SpoolEntry, reserved: Int) {
        locked {
            spoolBytes += e.bytes - reserved
            transit -= 1
            insert(e)
        }
    }

    /// A reserved spool write failed: back to memory if there is room (true), else the caller drops it.
    func unspooled(_ b: Batch, reserved: Int, memoryLimit: Int) -> Bool {
        locked {
            spoolBytes -= reserved
            transit -= 1
            cond.broadcast()
            guard memoryBytes + b.tuples.count <= memoryLimit else { return false }
            insert(b)
            return true
        }
    }

    /// A batch routed to the spool was dropped before it was written: releases its reservation.
    func cancelSpool(reserved: Int) {
        locked {
            spoolBytes -= reserved
            transit -= 1
            cond.broadcast()
        }
    }

    /// The oldest memory batch, moved to the spool's account, while the spool has room.
    func takeMemoryForSpool(spoolLimit: Int) -> Batch? {
        locked {
            guard let first = memory.first, spoolBytes + first.tuples.count <= spoolLimit else { return nil }
            memory.removeFirst()
            memoryBytes -= first.tuples.count
            spoolBytes += first.tuples.count
            transit += 1
            return first
        }
    }

    /// Empties the memory queue (at shutdown, after the spool took what it could).
    func takeAllMemory() -> [Batch] {
        locked {
            defer {
                memory.removeAll()
                memoryBytes = 0
            }
            return memory
        }
    }

    // MARK: writers

    /// The oldest batch in memory or spool, waiting up to `wait` for one.
    func take(wait: Duration) -> Work? {
        locked {
            if memory.isEmpty && spooled.isEmpty {
                _ = cond.wait(until: Date(timeIntervalSinceNow: wait.seconds))
            }
            let m = memory.first?.seq ?? .max
            let s = spooled.first?.seq ?? .max
            if m == .max && s == .max { return nil }
            inFlight += 1
            if m < s {
                return .memory(memory.removeFirst())
            }
            spoolFilesInFlight += 1
            return .spool(spooled.removeFirst())
        }
    }

    /// A taken batch is done (written, dead-lettered or quarantined).
    func finished(_ w: Work) {
        locked {
            inFlight -= 1
            switch w {
            case .memory(let b): memoryBytes -= b.tuples.count
            case .spool(let e):
                spoolBytes -= e.bytes
                spoolFilesInFlight -= 1
            }
            cond.broadcast()
        }
    }

    /// A taken batch goes back in its place to be tried again.
    func retry(_ w: Work) {
        locked {
            inFlight -= 1
            switch w {
            case .memory(var b):
                memoryBytes -= b.tuples.count
                b.retried = true
                insert(b)
            case .spool(let e):
                spoolFilesInFlight -= 1
                insert(e)
            }
        }
    }

    var isUp: Bool { locked { up } }

    /// Records whether the database is reachable; true when that changed.
    @discardableResult
    func setUp(_ value: Bool) -> Bool {
        locked {
            defer { up = value }
            return up != value
        }
    }

    /// Sleeps for `d` (other wake-ups do not cut it short), but not past the shutdown deadline.
    func sleep(_ d: Duration) {
        locked {
            let until = ContinuousClock.now + d
            while true {
                let end = stopping ? min(until, deadline) : until
                let now = ContinuousClock.now
                if now >= end { return }
                _ = cond.wait(until: Date(timeIntervalSinceNow: (end - now).seconds))
            }
        }
    }

    // MARK: lifecycle

    func writerStarted() { locked { running += 1 } }

    func writerExited() {
        locked {
            running -= 1
            cond.broadcast()
        }
    }

    var isStopping: Bool { locked { stopping } }

    /// Writers exit once everything is written, or at `deadline` if the database stays away.
    func stop(deadline: ContinuousClock.Instant) {
        locked {
            stopping = true
            self.deadline = deadline
            cond.broadcast()
        }
    }

    func shouldExit() -> Bool {
        locked {
            stopping && ((memory.isEmpty && spooled.isEmpty && inFlight == 0 && transit == 0) || ContinuousClock.now >= deadline)
        }
    }

    func waitForWriters() {
        locked {
            while running > 0 { _ = cond.wait(until: Date(timeIntervalSinceNow: 0.1)) }
        }
    }

    /// Waits until memory and spool are empty and nothing is in flight.
    func waitEmpty(until: ContinuousClock.Instant) -> Bool {
        locked {
            while !(memory.isEmpty && spooled.isEmpty && inFlight == 0 && transit == 0) {
                if ContinuousClock.now >= until { return false }
                _ = cond.wait(until: Date(timeIntervalSinceNow: 0.05))
            }
            return true
        }
    }

    var spoolCount: Int { locked { spooled.count + spoolFilesInFlight } }
}

/// Logs a message at most once per interval per key, saying how many were held back.
final class LogLimiter: Sendable {
    private let state = Mutex<[String: (last: ContinuousClock.Instant, suppressed: Int)]>([:])
    let interval: Duration

    init(interval: Duration = .seconds(10)) { self.interval = interval }

    func log(_ logger: Logger, _ level: Logger.Level, _ key: String, _ message: @autoclosure () -> String) {
        let now = ContinuousClock.now
        let suppressed: Int? = state.withLock { s in
            if let e = s[key], now - e.last < interval {
                s[key]!.suppressed += 1
                return nil
            }
            let n = s[key]?.suppressed ?? 0
            s[key] = (now, 0)
            return n
        }
        guard let suppressed else { return }
        let suffix = suppressed > 0 ? " (\(suppressed) similar messages suppressed)" : ""
        logger.log(level: level, "\(message())\(suffix)")
    }
}
