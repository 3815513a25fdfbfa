// The spool on its own: files round-trip, and damaged files are refused with a reason, never a crash.
import Foundation
@testable import Sink
import Testing
import TestSupport

@Suite("Spool")
struct SpoolTests {
    func sample() -> [UInt8] {
        var b = CopyBuffer()
        for i in 0..<3 {
            b.beginRow(fields: 2)
            b.int8(Int64(i))
            b.text("spooled ✓")
        }
        return b.bytes
    }

    /// The check value of CRC-32/ISO-HDLC, so spool files written before the switch to zlib still read.
    @Test func checksumIsTheStandardCRC32() {
        var c = CRC32()
        c.update(Array("123456789".utf8)[...])
        #expect(c.value == 0xCBF4_3926)
        var split = CRC32()
        split.update(Array("1234".utf8)[...])
        split.update(Array("56789".utf8)[...])
        #expect(split.value == 0xCBF4_3926)
    }

    @Test func roundTripAndScanInOrder() throws {
        let spool = try Spool(dir: TestDB.tempDir("spool"), fsync: .always)
        let tuples = sample()
        for seq: UInt64 in [7, 3, 12] {
            _ = try spool.write(Batch(seq: seq, batchID: -5, table: "t", copySQL: "COPY t FROM STDIN", rows: 3, tuples: tuples))
        }
        let (entries, corrupt) = spool.scan()
        #expect(entries.map(\.seq) == [3, 7, 12])
        #expect(corrupt.isEmpty)
        let back = try spool.read(path: entries[0].path, seq: 3)
        #expect(back.tuples == tuples && back.batchID == -5 && back.table == "t" && back.rows == 3)
    }

    @Test func truncatedOrFlippedFilesAreRefused() throws {
        let dir = TestDB.tempDir("spool")
        let spool = try Spool(dir: dir, fsync: .never)
        let e = try spool.write(Batch(seq: 1, batchID: 1, table: "t", copySQL: "COPY t FROM STDIN", rows: 3, tuples: sample()))
        let good = try Data(contentsOf: URL(fileURLWithPath: e.path))
        for cut in 0..<good.count {
            try good.prefix(cut).write(to: URL(fileURLWithPath: e.path))
            #expect(throws: SpoolError.self) { try spool.read(path: e.path, seq: 1) }
        }
        for i in stride(from: 0, to: good.count, by: 7) {
            var bad = good
            bad[i] ^= 0x40
            try bad.write(to: URL(fileURLWithPath: e.path))
            #expect(throws: SpoolError.self) { try spool.read(path: e.path, seq: 1) }
        }
        // scan() moves the bad file to corrupt/ and reports it.
        let (entries, corrupt) = spool.scan()
        #expect(entries.isEmpty && corrupt.count == 1)
        #expect(FileManager.default.fileExists(atPath: dir + "/corrupt/00000000000000000001.spool"))
    }
}
