// A discarding sink (SinkSettings.discard, for sotpd replay without --store): rows are encoded and
// counted, nothing is kept in memory, no spool directory is made, and shutdown has nothing to write.
import Foundation
import Logging
@testable import Sink
import Testing
import TestSupport

@Suite("Sink discard mode")
struct SinkDiscardTests {
    @Test func encodesAndCountsButKeepsNothing() throws {
        let spool = NSTemporaryDirectory() + "sink-discard-\(UInt64.random(in: 0...UInt64.max))"
        // Nothing listens on port 1: a sink that tried to write would fail, not pass silently.
        let sink = try makeSink(PGConnectInfo(url: "postgresql://sotp@127.0.0.1:1/none"), spool: spool, batchRows: 100) { $0.discard = true }
        let t = sink.producer(testTable("discarded"))
        appendRows(sink, t, 0..<1050)
        // Ten full batches went nowhere; the last 50 rows are still in the open batch.
        #expect(sink.stats.snapshot().rowsAccepted == 1000)
        #expect(sink.stats.snapshot().memoryBytes == 0)
        #expect(!FileManager.default.fileExists(atPath: spool))
        sink.shutdown(timeout: .seconds(5))
        let s = sink.stats.snapshot()
        #expect(s.rowsAccepted == 1050 && s.rowsWritten == 0 && s.rowsSpooled == 0 && s.rowsDropped == 0, "\(s)")
        #expect(!FileManager.default.fileExists(atPath: spool))
    }
}
