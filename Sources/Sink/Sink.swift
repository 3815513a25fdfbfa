// The TimescaleDB sink: producers append rows to per-table (or per-producer) batches; full or old
// batches are sealed and go to memory (while the database keeps up) or, through the spooler thread, to
// the on-disk spool (while it is down, or memory is full); writer threads, each with its own
// connection, COPY them oldest first. Rows are dropped only
// when memory and spool are both full, and then counted and logged.
import Foundation
import Logging
import Synchronization

/// Settings of a `Sink`; `SinkSettings.validate()` gives the ranges.
public struct SinkSettings: Sendable {
    public var connection: PGConnectInfo
    /// Writer threads, each with its own connection (the pool).
    public var writers: Int = 2
    /// A batch is sealed at this many rows…
    public var batchRows: Int = 10_000
    /// …or this many encoded bytes…
    public var batchBytes: Int = 4 << 20
    /// …or when its first row is this old.
    public var flushInterval: Duration = .milliseconds(250)
    /// Sealed batches held in memory, at most (bytes).
    public var memoryBytes: Int = 256 << 20
    /// Where batches wait while the database is unreachable.
    public var spoolDirectory: String
    /// Spool size limit (bytes of batch data).
    public var spoolMaxBytes: Int = 1 << 30
    public var spoolFsync: SpoolFsync = .always
    /// Reconnect backoff, doubling from the first to the second.
    public var reconnectBackoff: (min: Duration, max: Duration) = (.milliseconds(100), .seconds(5))
    /// Rows are encoded and counted as accepted, then thrown away when their batch fills: nothing reaches
    /// memory, the spool (not even created) or the database. For `sotpd replay` without `--store`,
    /// which exercises the producers' whole path and stores nothing. Such a sink is never started.
    public var discard = false

    public init(connection: PGConnectInfo, spoolDirectory: String) {
        self.connection = connection
        self.spoolDirectory = spoolDirectory
    }
}

/// Producers' handle on one destination table and its open batch: shared by every caller of
/// `Sink.table(_:)` for that table, or private to one thread with `Sink.producer(_:)`.
public final class SinkTable: Sendable {
    public let spec: TableSpec
    let columnCount: Int
    let open: Mutex<OpenBatch>

    init(spec: TableSpec, capacity: Int) {
        self.spec = spec
        self.columnCount = spec.columns.count
        self.open = Mutex(OpenBatch(buffer: CopyBuffer(capacity: capacity)))
    }
}

struct OpenBatch: Sendable {
    var buffer: CopyBuffer
    var openedAt: ContinuousClock.Instant?
}

/// Where `append` put the row.
public enum AppendResult: Sendable, Equatable {
    /// In the table's open batch.
    case accepted
    /// Refused: the sink is shutting down (counted in `rowsRejectedClosed`).
    case closed
}

/// The TimescaleDB sink. Thread-safe; `append` may be called from any thread.
public final class Sink: Sendable {
    public let stats = SinkStats()
    let settings: SinkSettings
    let spool: Spool
    let queue: BatchQueue
    let logger: Logger
    let limiter = LogLimiter()
    let tables = Mutex<[String: SinkTable]>([:])
    /// Every handle, shared (`table`) and private (`producer`), for the flusher and shutdown.
    let handles = Mutex<[SinkTable]>([])
    /// Sealed batches assigned to the spool, waiting for the spooler thread to write them.
    let toSpool = SpoolHandoff()
    let closed = Atomic<Bool>(false)
    let started = Atomic<Bool>(false)

    /// Opens the spool (creating its directory) and indexes what an earlier run left in it. Writers start
    /// with `start()`.
    public init(settings: SinkSettings, logger: Logger) throws {
        var settings = settings
        // Writers' sessions: a COPY of one batch takes well under a second; one that waits this long
        // on a lock or the server is retried rather than holding the writer (and shutdown) hostage.
        settings.connection.statementTimeoutMs = settings.connection.statementTimeoutMs ?? 120_000
        settings.connection.lockTimeoutMs = settings.connection.lockTimeoutMs ?? 30_000
        self.settings = settings
        self.logger = logger
        do {
            spool = settings.discard ? Spool(unopened: ()) : try Spool(dir: settings.spoolDirectory, fsync: settings.spoolFsync)
        } catch {
            throw SinkError.spool(error.description)
        }
        let (entries, corrupt) = spool.scan()
        queue = BatchQueue(spooled: entries, stats: stats)
        stats.add(stats.spoolCorruptFiles, corrupt.count)
        for path in corrupt {
            logger.error("spool file is corrupt, moved to corrupt/", metadata: ["path": "\(path)"])
        }
        if !entries.isEmpty {
            logger.notice(
                "spool holds batches from an earlier run; replaying them first",
                metadata: ["batches": "\(entries.count)", "rows": "\(entries.reduce(0) { $0 + $1.rows })"])
        }
    }

    /// The producer handle for a table; the same object for the same name.
    public func table(_ spec: TableSpec) -> SinkTable {
        tables.withLock { t in
            if let existing = t[spec.name] {
                precondition(existing.spec == spec, "table \(spec.name) registered with two different column lists")
                return existing
            }
            let handle = makeHandle(spec)
            t[spec.name] = handle
            return handle
        }
    }

    /// A handle of its own for one producer thread (a flow receive thread): its rows go to the same
    /// table, but into a batch no other thread appends to, so producers never contend on a lock.
    public func producer(_ spec: TableSpec) -> SinkTable {
        tables.withLock { t in
            if let existing = t[spec.name] {
                precondition(existing.spec == spec, "table \(spec.name) registered with two different column lists")
            }
        }
        return makeHandle(spec)
    }

    private func makeHandle(_ spec: TableSpec) -> SinkTable {
        // Room for a full batch up front: the buffer then never grows while rows are appended.
        let handle = SinkTable(spec: spec, capacity: settings.batchBytes + (64 << 10))
        handles.withLock { $0.append(handle) }
        return handle
    }

    /// Starts the writer threads and the age flusher.
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for i in 0..<settings.writers {
            let t = Thread { [self] in self.writerLoop(index: i) }
            t.name = "sotp-sink-\(i)"
            queue.writerStarted()
            t.start()
        }
        let f = Thread { [self] in self.flusherLoop() }
        f.name = "sotp-sink-flush"
        queue.writerStarted()
        f.start()
        let s = Thread { [self] in self.spoolerLoop() }
        s.name = "sotp-sink-spool"
        queue.writerStarted()
        s.start()
    }

    // MARK: producers

    /// Appends one row: `encode` writes exactly one field per column of the table, in order.
    /// Never blocks on the database or the disk: a full batch is sealed on the calling thread into
    /// memory, or handed to the spooler thread.
    @discardableResult
    public func append(_ table: SinkTable, _ encode: (inout CopyBuffer) -> Void) -> AppendResult {
        let rows = settings.batchRows, bytes = settings.batchBytes
        return table.open.withLock { open in
            // Read under the handle's lock: shutdown sets `closed` and then seals every handle under
            // its lock, so a row either made it into a batch shutdown seals, or is refused here.
            if closed.load(ordering: .relaxed) {
                stats.add(stats.rowsRejectedClosed, 1)
                return .closed
            }
            if open.buffer.rowCount == 0 { open.openedAt = .now }
            open.buffer.beginRow(fields: table.columnCount)
            encode(&open.buffer)
            precondition(
                open.buffer.fieldsInRow == table.columnCount,
                "\(table.spec.name): row has \(open.buffer.fieldsInRow) fields, table has \(table.columnCount)")
            if open.buffer.rowCount >= rows || open.buffer.count >= bytes {
                if settings.discard {
                    // Same size checks as a real batch, so the buffer's growth is the same; no copy, no allocation.
                    stats.add(stats.rowsAccepted, open.buffer.rowCount)
                    open.buffer.removeAll()
                    open.openedAt = nil
                } else {
                    seal(table, takeOpen(&open))
                }
            }
            return .accepted
        }
    }

    /// True while sealed batches use more than 3/4 of the memory budget: producers that can wait
    /// (pollers) should slow down; ones that cannot (UDP receivers) go on, and the spool absorbs it.
    public var isUnderPressure: Bool {
        stats.memoryBytes.load(ordering: .relaxed) > settings.memoryBytes / 4 * 3
    }

    /// Waits up to `timeout` for the memory queue to drop below the pressure mark.
    public func waitForCapacity(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while isUnderPressure && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Takes the open batch's tuples, leaving the table an empty buffer.
    private func takeOpen(_ open: inout OpenBatch) -> Sealed {
        let rows = open.buffer.rowCount
        let tuples = open.buffer.take()
        open.openedAt = nil
        return Sealed(rows: rows, tuples: tuples)
    }

    struct Sealed {
        var rows: Int
        var tuples: [UInt8]
    }

    /// Hands a full or old batch to memory or the spool.
    private func seal(_ table: SinkTable, _ sealed: Sealed) {
        let rows = sealed.rows
        guard rows > 0 else { return }
        stats.add(stats.rowsAccepted, rows)
        // A discarding sink's last partial batches (sealed by age or at shutdown) go nowhere either.
        if settings.discard { return }
        let batch = Batch(
            seq: 0, batchID: Int64.random(in: .min ... .max), table: table.spec.name, copySQL: table.spec.copySQL,
            rows: rows, tuples: sealed.tuples)
        switch queue.route(batch, memoryLimit: settings.memoryBytes, spoolLimit: settings.spoolMaxBytes) {
        case .memory:
            break
        case .spool(let b):
            // Written by the spooler thread: a producer (a UDP receive thread) must not wait for the
            // disk. What waits for it is bounded; past that the batch is dropped and counted.
            if !toSpool.push(b, limit: settings.memoryBytes / 4) {
                queue.cancelSpool(reserved: b.tuples.count)
                drop(b, reason: "the spool cannot be written as fast as batches arrive")
            }
        case .drop(let b):
            drop(b, reason: "memory and spool are full")
        }
    }

    /// Writes a batch the queue assigned to the spool (space already reserved); on an I/O error keeps
    /// it in memory if there is room, else drops and counts it.
    func spoolBatch(_ b: Batch) {
        do {
            let entry = try spool.write(b)
            queue.spooled(entry, reserved: b.tuples.count)
            stats.add(stats.rowsSpooled, b.rows)
        } catch {
            stats.add(stats.spoolWriteErrors, 1)
            limiter.log(logger, .error, "spool-write", "spool write failed: \(error)")
            if !queue.unspooled(b, reserved: b.tuples.count, memoryLimit: settings.memoryBytes) {
                drop(b, reason: "spool write failed and memory is full")
            }
        }
    }

    private func drop(_ b: Batch, reason: String) {
        stats.add(stats.rowsDropped, b.rows)
        limiter.log(logger, .error, "drop", "dropped \(b.rows) rows for \(b.table): \(reason)")
    }

    // MARK: spooler

    private func spoolerLoop() {
        defer { queue.writerExited() }
        while true {
            if let b = toSpool.pop(wait: .milliseconds(100)) {
                spoolBatch(b)
            } else if queue.isStopping && toSpool.isEmpty {
                return
            }
        }
    }

    // MARK: flusher

    private func flusherLoop() {
        let interval = settings.flushInterval
        let tick = max(interval / 4, .milliseconds(5))
        while !queue.isStopping {
            Thread.sleep(forTimeInterval: tick.seconds)
            flushOld(olderThan: interval)
        }
        queue.writerExited()
    }

    /// Seals every open batch whose first row is older than `age` (all of them for `.zero`).
    func flushOld(olderThan age: Duration) {
        let now = ContinuousClock.now
        for t in handles.withLock({ $0 }) {
            t.open.withLock { open in
                guard let at = open.openedAt, open.buffer.rowCount > 0, now - at >= age else { return }
                seal(t, takeOpen(&open))
            }
        }
    }

    // MARK: writers

    private func writerLoop(index: Int) {
        var conn: PGConnection? = nil
        var backoff = settings.reconnectBackoff.min
        var everConnected = false
        defer { queue.writerExited() }
        func pause() {
            queue.sleep(backoff)
            backoff = min(backoff * 2, settings.reconnectBackoff.max)
        }
        while !queue.shouldExit() {
            if conn == nil {
                do {
                    conn = try PGConnection(settings.connection)
                    if everConnected { stats.add(stats.reconnects, 1) }
                    if everConnected || !queue.isUp {
                        logger.notice("database reachable", metadata: ["writer": "\(index)"])
                    }
                    everConnected = true
                    queue.setUp(true)
                } catch {
                    if queue.setUp(false) {
                        logger.warning("database unreachable; spooling", metadata: ["error": "\(error)"])
                    }
                    spoolMemory()
                    pause()
                    continue
                }
            }
            guard let work = queue.take(wait: .milliseconds(200)) else { continue }
            var batch: Batch
            switch work {
            case .memory(let b):
                batch = b
            case .spool(let entry):
                do throws(SpoolError) {
                    batch = try spool.read(path: entry.path, seq: entry.seq)
                    // It may have been tried before a crash: the writer checks the ledger first.
                    batch.retried = true
                } catch {
                    if case .corrupt = error {
                        stats.add(stats.spoolCorruptFiles, 1)
                        logger.error("spool file unreadable, moved to corrupt/", metadata: ["error": "\(error)"])
                        spool.quarantine(entry.path)
                        queue.finished(work)
                    } else {
                        // An I/O error (EMFILE, EIO…) says nothing about the file: try it again later.
                        limiter.log(logger, .error, "spool-read", "spool read failed, will retry: \(error)")
                        queue.retry(work)
                        pause()
                    }
                    continue
                }
            }
            do {
                let started = ContinuousClock.now
                let outcome = try BatchWriter.write(batch, on: conn!)
                let took = ContinuousClock.now - started
                stats.recordLatency(micros: Int(took.components.seconds) * 1_000_000 + Int(took.components.attoseconds / 1_000_000_000_000))
                stats.add(stats.rowsWritten, outcome.written)
                stats.add(stats.rowsDeadLettered, outcome.deadLettered)
                stats.add(stats.rowsAlreadyApplied, outcome.alreadyApplied)
                stats.add(stats.copyFailures, outcome.copyFailures)
                stats.add(stats.batchesWritten, 1)
                if outcome.deadLettered > 0 {
                    limiter.log(logger, .warning, "dead-letter", "\(outcome.deadLettered) rows of \(batch.table) rejected; kept in sotp.dead_letter")
                }
                if case .spool(let entry) = work {
                    stats.add(stats.rowsReplayed, outcome.written)
                    if let e = spool.remove(entry.path) {
                        // Harmless: maintenance keeps the ledger while the spool holds files, so a replay
                        // of this one after a restart is skipped.
                        logger.error("could not delete replayed spool file", metadata: ["path": "\(entry.path)", "errno": "\(e)"])
                    }
                }
                queue.finished(work)
                backoff = settings.reconnectBackoff.min
            } catch {
                stats.add(stats.copyFailures, 1)
                // Back in its place by sequence, to be tried again after a pause.
                queue.retry(work)
                // connectionLost also covers a connection libpq no longer considers usable.
                if error.connectionLost {
                    conn = nil
                    if queue.setUp(false) {
                        logger.warning("database write failed; spooling until it is back", metadata: ["error": "\(error)"])
                    }
                    spoolMemory()
                } else {
                    limiter.log(logger, .warning, "write-retry", "write to \(batch.table) failed, will retry: \(error)")
                }
                pause()
            }
        }
    }

    /// While the database is down: moves batches from memory to the spool, oldest first, as far as the
    /// spool has room, so that a crash of sotpd or the machine then loses nothing.
    func spoolMemory() {
        while let b = queue.takeMemoryForSpool(spoolLimit: settings.spoolMaxBytes) {
            spoolBatch(b)
        }
    }

    // MARK: shutdown

    /// Stops intake, seals every open batch, and writes everything (memory and spool) to the database,
    /// waiting up to `timeout` for it. What could not be written by then is left in the spool for the
    /// next start. Blocks the calling thread.
    public func shutdown(timeout: Duration) {
        closed.store(true, ordering: .sequentiallyConsistent)
        // Each handle's lock orders this with the appends: the ones before are sealed here, the ones
        // after see `closed`.
        flushOld(olderThan: .zero)
        let deadline = ContinuousClock.now + timeout
        queue.stop(deadline: deadline)
        queue.waitForWriters()
        // Anything still in memory (the database stayed down): to the spool; what does not fit there is
        // lost with the process, so it is counted and logged as dropped, never silently.
        spoolMemory()
        for b in queue.takeAllMemory() {
            drop(b, reason: "shutting down with the database unreachable and the spool full")
        }
        let s = stats.snapshot()
        logger.notice(
            "sink stopped",
            metadata: [
                "rows_written": "\(s.rowsWritten)", "rows_spooled": "\(s.rowsSpooled)", "rows_replayed": "\(s.rowsReplayed)",
                "rows_dead_lettered": "\(s.rowsDeadLettered)", "rows_dropped": "\(s.rowsDropped)",
                "left_in_spool": "\(queue.spoolCount)",
            ])
    }

    /// `shutdown(timeout:)` on its own thread, for async callers.
    public func shutdown(timeout: Duration) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let t = Thread { [self] in
                self.shutdown(timeout: timeout)
                c.resume()
            }
            t.name = "sotp-sink-stop"
            t.start()
        }
    }

    /// Waits until every row sealed so far has been written or dead-lettered (memory and spool empty),
    /// up to `timeout`; true when that happened. For tests and benchmarks.
    public func drain(timeout: Duration) -> Bool {
        flushOld(olderThan: .zero)
        return queue.waitEmpty(until: ContinuousClock.now + timeout)
    }
}

/// Batches on their way to the spool file, from the thread that sealed them to the spooler thread.
final class SpoolHandoff: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [Batch] = []
    private var head = 0
    private var bytes = 0

    /// Queues `b` unless `limit` bytes are already waiting (false: the caller drops it).
    func push(_ b: Batch, limit: Int) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        guard bytes == 0 || bytes + b.tuples.count <= limit else { return false }
        items.append(b)
        bytes += b.tuples.count
        cond.signal()
        return true
    }

    /// The oldest waiting batch, waiting up to `wait` for one.
    func pop(wait: Duration) -> Batch? {
        cond.lock()
        defer { cond.unlock() }
        if head == items.count { _ = cond.wait(until: Date(timeIntervalSinceNow: wait.seconds)) }
        guard head < items.count else { return nil }
        let b = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        bytes -= b.tuples.count
        return b
    }

    var isEmpty: Bool {
        cond.lock()
        defer { cond.unlock() }
        return head == items.count
    }
}

/// Errors that stop the sink from starting.
public enum SinkError: Error, CustomStringConvertible {
    case spool(String)
    public var description: String {
        switch self {
        case .spool(let m): m
        }
    }
}

extension Duration {
    package var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
