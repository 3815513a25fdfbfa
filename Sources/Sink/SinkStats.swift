// The sink's counters: what was accepted, written, spooled, replayed, dead-lettered and dropped.
import Synchronization

/// Live counters of a `Sink`. Rows are counted once per place they go; `rowsWritten` includes
/// `rowsReplayed` (a replayed row is also a written row).
public final class SinkStats: Sendable {
    let rowsAccepted = Atomic<Int>(0)
    let rowsWritten = Atomic<Int>(0)
    let rowsSpooled = Atomic<Int>(0)
    let rowsReplayed = Atomic<Int>(0)
    let rowsDeadLettered = Atomic<Int>(0)
    let rowsDropped = Atomic<Int>(0)
    let rowsRejectedClosed = Atomic<Int>(0)
    let rowsAlreadyApplied = Atomic<Int>(0)
    let batchesWritten = Atomic<Int>(0)
    let copyFailures = Atomic<Int>(0)
    let reconnects = Atomic<Int>(0)
    let spoolCorruptFiles = Atomic<Int>(0)
    let spoolWriteErrors = Atomic<Int>(0)
    let memoryBytes = Atomic<Int>(0)
    let spoolBytes = Atomic<Int>(0)
    let spoolFiles = Atomic<Int>(0)
    /// Batch write latency (ledger, COPY and COMMIT of one batch): a count per bucket of
    /// `latencyBoundsMicros` (the last is above every bound), and the sum in microseconds. A lock, not
    /// atomics: it is taken once per batch, a few times a second.
    let latencyHistogram = Mutex<(counts: [Int], sumMicros: Int)>(([Int](repeating: 0, count: SinkStats.latencyBoundsMicros.count + 1), 0))

    /// Upper bounds of the batch latency buckets, in microseconds (Prometheus `le`): 1 ms … 30 s.
    public static let latencyBoundsMicros: [Int] = [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
        10_000_000, 30_000_000,
    ]

    init() {}

    /// Records one batch written in `micros`.
    func recordLatency(micros: Int) {
        let i = Self.latencyBoundsMicros.firstIndex { micros <= $0 } ?? Self.latencyBoundsMicros.count
        latencyHistogram.withLock {
            $0.counts[i] += 1
            $0.sumMicros += micros
        }
    }

    /// Batch write latency so far: the count in each bucket (not cumulative; the last is above every
    /// bound) and the sum of latencies in microseconds.
    public func latency() -> (counts: [Int], sumMicros: Int) {
        latencyHistogram.withLock { $0 }
    }

    /// A point-in-time copy of the counters.
    public struct Snapshot: Sendable, Equatable {
        /// Rows in sealed batches (handed from the open per-table buffer to memory or spool).
        public var rowsAccepted: Int
        /// Rows committed to their table, including replayed ones; rows an earlier attempt committed
        /// without seeing the reply are in `rowsAlreadyApplied` instead.
        public var rowsWritten: Int
        /// Rows written to the on-disk spool.
        public var rowsSpooled: Int
        /// Rows committed from the spool.
        public var rowsReplayed: Int
        /// Rows the database rejected for their data, stored in `sotp.dead_letter`.
        public var rowsDeadLettered: Int
        /// Rows lost because memory and spool were both full (or the spool failed). Stays 0 otherwise.
        public var rowsDropped: Int
        /// Rows offered after shutdown began.
        public var rowsRejectedClosed: Int
        /// Rows found already committed on a retry (a lost COMMIT reply), not written twice.
        public var rowsAlreadyApplied: Int
        public var batchesWritten: Int
        /// COPY attempts that failed for any reason (retried, split or dead-lettered after).
        public var copyFailures: Int
        /// Successful connections after the first one per writer.
        public var reconnects: Int
        public var spoolCorruptFiles: Int
        public var spoolWriteErrors: Int
        /// Bytes of sealed batches held in memory (queued or being written).
        public var memoryBytes: Int
        /// Bytes of batch data in the spool.
        public var spoolBytes: Int
        public var spoolFiles: Int

        /// (name, value) pairs for exporting, names in Prometheus style without a prefix.
        public var fields: [(String, Int)] {
            [
                ("rows_accepted", rowsAccepted), ("rows_written", rowsWritten), ("rows_spooled", rowsSpooled),
                ("rows_replayed", rowsReplayed), ("rows_dead_lettered", rowsDeadLettered),
                ("rows_dropped", rowsDropped), ("rows_rejected_closed", rowsRejectedClosed),
                ("rows_already_applied", rowsAlreadyApplied), ("batches_written", batchesWritten),
                ("copy_failures", copyFailures), ("reconnects", reconnects),
                ("spool_corrupt_files", spoolCorruptFiles), ("spool_write_errors", spoolWriteErrors),
                ("memory_bytes", memoryBytes), ("spool_bytes", spoolBytes), ("spool_files", spoolFiles),
            ]
        }
    }

    public func snapshot() -> Snapshot {
        Snapshot(
            rowsAccepted: rowsAccepted.load(ordering: .relaxed),
            rowsWritten: rowsWritten.load(ordering: .relaxed),
            rowsSpooled: rowsSpooled.load(ordering: .relaxed),
            rowsReplayed: rowsReplayed.load(ordering: .relaxed),
            rowsDeadLettered: rowsDeadLettered.load(ordering: .relaxed),
            rowsDropped: rowsDropped.load(ordering: .relaxed),
            rowsRejectedClosed: rowsRejectedClosed.load(ordering: .relaxed),
            rowsAlreadyApplied: rowsAlreadyApplied.load(ordering: .relaxed),
            batchesWritten: batchesWritten.load(ordering: .relaxed),
            copyFailures: copyFailures.load(ordering: .relaxed),
            reconnects: reconnects.load(ordering: .relaxed),
            spoolCorruptFiles: spoolCorruptFiles.load(ordering: .relaxed),
            spoolWriteErrors: spoolWriteErrors.load(ordering: .relaxed),
            memoryBytes: memoryBytes.load(ordering: .relaxed),
            spoolBytes: spoolBytes.load(ordering: .relaxed),
            spoolFiles: spoolFiles.load(ordering: .relaxed)
        )
    }

    @inline(__always) func add(_ counter: borrowing Atomic<Int>, _ n: Int) {
        if n != 0 { counter.wrappingAdd(n, ordering: .relaxed) }
    }
}
