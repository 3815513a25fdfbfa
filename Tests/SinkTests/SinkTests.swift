// The sink against the real TimescaleDB: rows arrive exactly once, a poisoned row goes to the dead-letter
// table while its batch-mates are stored, and a database stopped mid-stream (pg_ctl stop -m immediate)
// loses nothing and duplicates nothing.
import Foundation
import Logging
@testable import Sink
import Testing
import TestSupport

/// A test table: id (unique per row), payload text, note text.
func testTable(_ name: String) -> TableSpec {
    TableSpec(name, [.init("id", .int8), .init("payload", .text), .init("at", .timestamptz)])
}

func makeSink(_ info: PGConnectInfo, spool: String, batchRows: Int = 1000, configure: (inout SinkSettings) -> Void = { _ in }) throws -> Sink {
    var s = SinkSettings(connection: info, spoolDirectory: spool)
    s.batchRows = batchRows
    s.flushInterval = .milliseconds(50)
    s.spoolFsync = .never
    s.reconnectBackoff = (.milliseconds(50), .milliseconds(500))
    configure(&s)
    var logger = Logger(label: "sink-test")
    logger.logLevel = .warning
    return try Sink(settings: s, logger: logger)
}

/// A sealed batch of `rows` test rows (ids 0…rows-1) for the BatchWriter tests, with a fresh id.
func testBatch(_ table: String, rows: Int) -> Batch {
    var buf = CopyBuffer()
    for i in 0..<rows {
        buf.beginRow(fields: 3)
        buf.int8(Int64(i))
        buf.text("x")
        buf.timestamptz(unixMicros: 0)
    }
    return Batch(seq: 1, batchID: Int64.random(in: 1...Int64.max), table: table, copySQL: testTable(table).copySQL, rows: rows, tuples: buf.bytes)
}

func appendRows(_ sink: Sink, _ t: SinkTable, _ ids: Range<Int>, payload: (Int) -> String = { "row \($0)" }) {
    for i in ids {
        sink.append(t) { r in
            r.int8(Int64(i))
            r.text(payload(i))
            r.timestamptz(unixMicros: 1_700_000_000_000_000 + Int64(i))
        }
    }
}

@Suite("Sink")
struct SinkTests {
    @Test func writesEveryRowOnce() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("sink_basic")
        try conn.execute("CREATE TABLE \(name) (id int8 NOT NULL, payload text, at timestamptz)")
        defer { try? conn.execute("DROP TABLE \(name)") }
        let sink = try makeSink(TestDB.info, spool: TestDB.tempDir("spool"), batchRows: 777)
        sink.start()
        let t = sink.table(testTable(name))
        appendRows(sink, t, 0..<20_000)
        #expect(sink.drain(timeout: .seconds(60)))
        sink.shutdown(timeout: .seconds(10))
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM \(name)") == "20000")
        #expect(try TestDB.scalar(conn, "SELECT count(DISTINCT id) FROM \(name)") == "20000")
        let s = sink.stats.snapshot()
        #expect(s.rowsWritten == 20_000 && s.rowsDropped == 0 && s.rowsSpooled == 0)
    }

    @Test func poisonedRowGoesToDeadLetterAndItsBatchMatesAreStored() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("sink_poison")
        // Two kinds of poison: a NUL byte in text (22021, class 22) and a CHECK violation (23514, class 23).
        try conn.execute("CREATE TABLE \(name) (id int8 NOT NULL CHECK (id <> 777), payload text, at timestamptz)")
        defer { try? conn.execute("DROP TABLE \(name)") }
        let sink = try makeSink(TestDB.info, spool: TestDB.tempDir("spool"), batchRows: 1000)
        sink.start()
        let t = sink.table(testTable(name))
        appendRows(sink, t, 0..<1000) { $0 == 123 ? "bad\u{0}byte" : "row \($0)" }
        #expect(sink.drain(timeout: .seconds(60)))
        sink.shutdown(timeout: .seconds(10))

        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM \(name)") == "998")
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM \(name) WHERE id IN (123, 777)") == "0")
        let dead = try conn.query(
            "SELECT row_index, sqlstate, length(row_data) > 0 FROM sotp.dead_letter WHERE table_name = $1 ORDER BY row_index", [name])
        #expect(dead.map { $0[0] } == ["123", "777"])
        #expect(dead.map { $0[1] } == ["22021", "23514"])
        #expect(dead.allSatisfy { $0[2] == "t" })
        let s = sink.stats.snapshot()
        #expect(s.rowsWritten == 998 && s.rowsDeadLettered == 2 && s.rowsDropped == 0)

        // The raw bytes are the row's own COPY tuple: re-sending it with the fixed column works.
        let raw = try conn.query("SELECT encode(row_data, 'hex') FROM sotp.dead_letter WHERE table_name = $1 AND row_index = 777", [name])
        var expected = CopyBuffer()
        expected.beginRow(fields: 3)
        expected.int8(777)
        expected.text("row 777")
        expected.timestamptz(unixMicros: 1_700_000_000_000_777)
        #expect(raw.first?.first == expected.bytes.map { String(format: "%02x", $0) }.joined())
    }

    @Test func ledgerSkipsABatchAlreadyCommitted() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("sink_ledger")
        try conn.execute("CREATE TABLE \(name) (id int8 NOT NULL, payload text, at timestamptz)")
        defer { try? conn.execute("DROP TABLE \(name)") }
        let batch = testBatch(name, rows: 10)
        // The first attempt commits; a retry (as after a lost COMMIT reply) must not write again.
        let first = try BatchWriter.write(batch, on: conn)
        let second = try BatchWriter.write(batch, on: conn)
        #expect(first.written == 10 && first.alreadyApplied == 0)
        #expect(second.written == 0 && second.alreadyApplied == 10)
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM \(name)") == "10")
    }

    @Test func aRetriedBatchThatWasSplitIsNotWrittenTwice() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("sink_resplit")
        try conn.execute("CREATE TABLE \(name) (id int8 NOT NULL CONSTRAINT no_five CHECK (id <> 5), payload text, at timestamptz)")
        defer { try? conn.execute("DROP TABLE \(name)") }
        var batch = testBatch(name, rows: 16)
        let first = try BatchWriter.write(batch, on: conn)
        #expect(first.written == 15 && first.deadLettered == 1)
        // The cause goes away, and the batch comes back (as after a crash before the spool file was
        // deleted): the whole COPY would now succeed, but the parts already stored must not be again.
        try conn.execute("ALTER TABLE \(name) DROP CONSTRAINT no_five")
        batch.retried = true
        let second = try BatchWriter.write(batch, on: conn)
        #expect(second.written == 0 && second.alreadyApplied == 16)
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM \(name)") == "15")
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM sotp.dead_letter WHERE table_name = $1", [name]) == "1")
    }

    /// Receive threads each append to a handle of their own; shutdown seals every handle, so all rows
    /// land exactly once without a drain.
    @Test func privateProducerHandlesFromTwoThreadsLoseNothingAtShutdown() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("sink_producers")
        try conn.execute("CREATE TABLE \(name) (id int8 NOT NULL, payload text, at timestamptz)")
        defer { try? conn.execute("DROP TABLE \(name)") }
        let sink = try makeSink(TestDB.info, spool: TestDB.tempDir("spool"), batchRows: 999)
        sink.start()
        let done = DispatchGroup()
        for k in 0..<2 {
            let handle = sink.producer(testTable(name))
            done.enter()
            Thread.detachNewThread {
                appendRows(sink, handle, k * 30_000..<(k + 1) * 30_000)
                done.leave()
            }
        }
        done.wait()
        sink.shutdown(timeout: .seconds(60))
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM \(name)") == "60000")
        #expect(try TestDB.scalar(conn, "SELECT count(DISTINCT id) FROM \(name)") == "60000")
        let s = sink.stats.snapshot()
        #expect(s.rowsAccepted == 60_000 && s.rowsDropped == 0)
        #expect(sink.append(sink.producer(testTable(name))) { $0.int8(0); $0.text(""); $0.null() } == .closed)
    }

    @Test func databaseDownFromTheStartSpoolsAndALaterRunReplays() throws {
        let conn = try TestDB.connect()
        let name = TestDB.uniqueName("sink_replay")
        try conn.execute("CREATE TABLE \(name) (id int8 NOT NULL, payload text, at timestamptz)")
        defer { try? conn.execute("DROP TABLE \(name)") }
        let spool = TestDB.tempDir("spool")
        // Nothing listens on port 9 of 127.0.0.1: every connect is refused at once.
        let down = PGConnectInfo(url: "postgresql://sotp@127.0.0.1:9/sotp", password: "x", connectTimeoutSeconds: 1)
        let first = try makeSink(down, spool: spool, batchRows: 500)
        first.start()
        appendRows(first, first.table(testTable(name)), 0..<5_000)
        first.shutdown(timeout: .milliseconds(300))
        let s1 = first.stats.snapshot()
        #expect(s1.rowsWritten == 0 && s1.rowsSpooled == 5_000 && s1.rowsDropped == 0)
        #expect(s1.spoolFiles == 10)

        // The next run (same spool directory) replays before anything else.
        let second = try makeSink(TestDB.info, spool: spool)
        #expect(second.stats.snapshot().spoolFiles == 10)
        second.start()
        #expect(second.drain(timeout: .seconds(60)))
        second.shutdown(timeout: .seconds(10))
        let s2 = second.stats.snapshot()
        #expect(s2.rowsReplayed == 5_000 && s2.spoolFiles == 0)
        #expect(try TestDB.scalar(conn, "SELECT count(*) FROM \(name)") == "5000")
        #expect(try TestDB.scalar(conn, "SELECT count(DISTINCT id) FROM \(name)") == "5000")
    }

    @Test func memoryAndSpoolFullDropsAndCounts() throws {
        let spool = TestDB.tempDir("spool")
        let down = PGConnectInfo(url: "postgresql://sotp@127.0.0.1:9/sotp", password: "x", connectTimeoutSeconds: 1)
        // Tiny limits: 2 batches fit in the spool, about 2 in memory; the rest must be dropped and counted.
        let sink = try makeSink(down, spool: spool, batchRows: 100) { s in
            s.batchBytes = 4096
            s.spoolMaxBytes = 2 * 4096
            s.memoryBytes = 2 * 4096
        }
        sink.start()
        appendRows(sink, sink.table(testTable("never_written")), 0..<2_000)
        sink.shutdown(timeout: .milliseconds(200))
        let s = sink.stats.snapshot()
        #expect(s.rowsDropped > 0)
        #expect(s.rowsAccepted == 2_000)
        // Every accepted row is accounted for: spooled or dropped (memory is emptied into either at exit).
        #expect(s.rowsSpooled + s.rowsDropped == 2_000)
    }

    @Test func pressureIsSignalledWhenMemoryFills() async throws {
        // Database down and no spool: sealed batches can only wait in memory, so pressure must show.
        let down = PGConnectInfo(url: "postgresql://sotp@127.0.0.1:9/sotp", password: "x", connectTimeoutSeconds: 1)
        let sink = try makeSink(down, spool: TestDB.tempDir("spool"), batchRows: 100) { s in
            s.batchBytes = 4096
            s.spoolMaxBytes = 0
            s.memoryBytes = 64 * 1024
        }
        sink.start()
        let t = sink.table(testTable("pressure"))
        #expect(!sink.isUnderPressure)
        var i = 0
        while !sink.isUnderPressure && i < 100_000 {
            appendRows(sink, t, i..<(i + 100))
            i += 100
        }
        #expect(sink.isUnderPressure)
        let start = ContinuousClock.now
        await sink.waitForCapacity(timeout: .milliseconds(200))
        #expect(ContinuousClock.now - start >= .milliseconds(200), "nothing drains, so the wait runs to its timeout")
        await sink.shutdown(timeout: .milliseconds(100))
        let s = sink.stats.snapshot()
        #expect(s.rowsAccepted == s.rowsDropped + s.rowsSpooled && s.rowsSpooled == 0)
    }

    @Test(.timeLimit(.minutes(3)))
    func databaseStoppedMidStreamLosesNothingAndDuplicatesNothing() throws {
        // A server of its own, so stopping it does not disturb the other tests.
        let instance = "sinktest-restart-\(getpid())", port = TestDB.freePort()
        let started = try TestDB.tsdb(["start"], instance: instance, port: port)
        #expect(started.status == 0, "\(started.output)")
        defer { _ = try? TestDB.tsdb(["destroy"], instance: instance, port: port) }
        let info = PGConnectInfo(url: "postgresql://sotp@127.0.0.1:\(port)/sotp", password: TestDB.password, connectTimeoutSeconds: 2)
        do {
            let c = try PGConnection(info)
            try Schema.migrate(c)
            try c.execute("CREATE TABLE restart_rows (id int8 NOT NULL, payload text, at timestamptz)")
        }
        let sink = try makeSink(info, spool: TestDB.tempDir("spool"), batchRows: 2_000)
        sink.start()
        let t = sink.table(testTable("restart_rows"))
        let total = 400_000
        let producer = Thread {
            // About 4 s of load, so the stop lands in the middle of it.
            for chunk in stride(from: 0, to: total, by: 10_000) {
                appendRows(sink, t, chunk..<min(chunk + 10_000, total))
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        producer.start()
        Thread.sleep(forTimeInterval: 1.0)
        let stop = try TestDB.tsdb(["stop-immediate"], instance: instance, port: port)
        #expect(stop.status == 0, "\(stop.output)")
        Thread.sleep(forTimeInterval: 1.5)
        let restart = try TestDB.tsdb(["start"], instance: instance, port: port)
        #expect(restart.status == 0, "\(restart.output)")
        while sink.stats.snapshot().rowsAccepted + 3_000 < total { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(sink.drain(timeout: .seconds(90)))
        sink.shutdown(timeout: .seconds(10))

        let c = try PGConnection(info)
        #expect(try TestDB.scalar(c, "SELECT count(*) FROM restart_rows") == String(total))
        #expect(try TestDB.scalar(c, "SELECT count(DISTINCT id) FROM restart_rows") == String(total))
        let s = sink.stats.snapshot()
        #expect(s.rowsDropped == 0)
        #expect(s.rowsSpooled > 0, "the outage should have sent batches to the spool")
        // A COPY whose COMMIT landed just before the server died is found in the ledger on retry and
        // counted as already applied, not written a second time.
        #expect(s.rowsWritten + s.rowsAlreadyApplied == total)
    }
}
