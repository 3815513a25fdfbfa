// The on-disk spool: one file per batch that could not be written to the database (or did not fit in
// memory), named by its sequence number so replay goes in order. Self-describing, checksummed, written
// to a temporary name and renamed, so a crash leaves either the whole file or none of it.
import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// How hard the spool pushes each file to the disk.
public enum SpoolFsync: String, Sendable, CaseIterable {
    /// fsync the file and its directory before the batch counts as spooled: survives power loss.
    case always
    /// leave it to the kernel's writeback (~30 s): survives a crash of sotpd, not of the machine.
    case never
}

/// A batch on disk, as the spool index keeps it.
struct SpoolEntry: Sendable {
    var seq: UInt64
    var path: String
    var bytes: Int
    var rows: Int
}

/// Why a spool file could not be used.
enum SpoolError: Error, CustomStringConvertible {
    case io(op: String, path: String, errno: Int32)
    case corrupt(path: String, reason: String)

    var description: String {
        switch self {
        case let .io(op, path, e): "spool: \(op) \(path): \(unsafe String(cString: strerror(e)))"
        case let .corrupt(path, reason): "spool: \(path) is corrupt: \(reason)"
        }
    }
}

/// File operations on the spool directory; the index of what is in it lives in the sink's queue.
struct Spool: Sendable {
    let dir: String
    let fsync: SpoolFsync
    static let magic: [UInt8] = Array("SOTPSPL1".utf8)

    /// Creates the directory (and its `corrupt/` quarantine) if needed and lists the batches already
    /// in it, oldest first. Unreadable files are moved to `corrupt/` and reported through `onCorrupt`.
    init(dir: String, fsync: SpoolFsync) throws(SpoolError) {
        self.dir = dir
        self.fsync = fsync
        try Self.mkdirs(dir)
        try Self.mkdirs(dir + "/corrupt")
    }

    /// A spool with no directory, for a discarding sink (`SinkSettings.discard`): nothing is ever
    /// written to it and `scan` finds nothing.
    init(unopened: ()) {
        self.dir = ""
        self.fsync = .never
    }

    func path(seq: UInt64) -> String {
        var digits = String(seq)
        if digits.count < 20 { digits = String(repeating: "0", count: 20 - digits.count) + digits }
        return "\(dir)/\(digits).spool"
    }

    /// Lists the spool's batch files, oldest first, reading each header for its size and row count.
    /// Leftover temporary files from a crash mid-write are removed; files with a bad header are moved
    /// to `corrupt/` and returned separately.
    func scan() -> (entries: [SpoolEntry], corrupt: [String]) {
        var entries: [SpoolEntry] = []
        var corrupt: [String] = []
        guard let d = unsafe opendir(dir) else { return ([], []) }
        defer { unsafe closedir(d) }
        while let ent = unsafe readdir(d) {
            let name = unsafe withUnsafeBytes(of: ent.pointee.d_name) { raw in
                unsafe String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            let full = "\(dir)/\(name)"
            if name.hasSuffix(".tmp") {
                unsafe unlink(full)
                continue
            }
            guard name.hasSuffix(".spool"), let seq = UInt64(name.dropLast(6)) else { continue }
            do throws(SpoolError) {
                let b = try read(path: full, seq: seq)
                entries.append(SpoolEntry(seq: seq, path: full, bytes: b.tuples.count, rows: b.rows))
            } catch {
                quarantine(full)
                corrupt.append(full)
            }
        }
        entries.sort { $0.seq < $1.seq }
        return (entries, corrupt)
    }

    /// Writes a batch to its sequence number's file and returns its index entry.
    func write(_ b: Batch) throws(SpoolError) -> SpoolEntry {
        let (seq, table, copySQL, rows, tuples) = (b.seq, b.table, b.copySQL, b.rows, b.tuples[...])
        var head: [UInt8] = Self.magic
        head.reserveCapacity(64 + table.utf8.count + copySQL.utf8.count)
        appendBE(&head, seq)
        appendBE(&head, UInt64(bitPattern: b.batchID))
        appendBE(&head, UInt32(rows))
        appendBE(&head, UInt16(table.utf8.count))
        head.append(contentsOf: table.utf8)
        appendBE(&head, UInt32(copySQL.utf8.count))
        head.append(contentsOf: copySQL.utf8)
        appendBE(&head, UInt64(tuples.count))
        var crc = CRC32()
        crc.update(head[...])
        crc.update(tuples)
        var tail: [UInt8] = []
        appendBE(&tail, crc.value)

        let final = path(seq: seq)
        let tmp = final + ".tmp"
        let fd = unsafe open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(op: "open", path: tmp, errno: errno) }
        do throws(SpoolError) {
            try writeAll(fd, head[...], tmp)
            try writeAll(fd, tuples, tmp)
            try writeAll(fd, tail[...], tmp)
            if fsync == .always, Glibc.fsync(fd) != 0 { throw .io(op: "fsync", path: tmp, errno: errno) }
        } catch {
            close(fd)
            unsafe unlink(tmp)
            throw error
        }
        close(fd)
        guard unsafe rename(tmp, final) == 0 else {
            let e = errno
            unsafe unlink(tmp)
            throw .io(op: "rename", path: final, errno: e)
        }
        if fsync == .always { syncDir() }
        return SpoolEntry(seq: seq, path: final, bytes: tuples.count, rows: rows)
    }

    /// Reads and verifies one spool file.
    func read(path: String, seq: UInt64) throws(SpoolError) -> Batch {
        let data = try readFile(path)
        var r = Reader(bytes: data, path: path)
        guard data.count >= 8 + 8 + 8 + 4 + 2 + 4 + 8 + 4 else { throw .corrupt(path: path, reason: "only \(data.count) bytes") }
        guard Array(data[0..<8]) == Self.magic else { throw .corrupt(path: path, reason: "bad magic") }
        r.offset = 8
        let fileSeq = try r.u64()
        guard fileSeq == seq else { throw .corrupt(path: path, reason: "sequence \(fileSeq) in a file named \(seq)") }
        let id = Int64(bitPattern: try r.u64())
        let rows = Int(try r.u32())
        let table = try r.string(Int(try r.u16()))
        let sql = try r.string(Int(try r.u32()))
        let len = try r.u64()
        let room = data.count - r.offset - 4
        guard room >= 0, len <= UInt64(room) else { throw .corrupt(path: path, reason: "data length \(len) past the end") }
        let tuplesRange = r.offset..<(r.offset + Int(len))
        r.offset += Int(len)
        let stored = try r.u32()
        var crc = CRC32()
        crc.update(data[0..<tuplesRange.upperBound])
        guard crc.value == stored else { throw .corrupt(path: path, reason: "checksum mismatch") }
        guard r.offset == data.count else { throw .corrupt(path: path, reason: "\(data.count - r.offset) trailing bytes") }
        return Batch(seq: seq, batchID: id, table: table, copySQL: sql, rows: rows, tuples: Array(data[tuplesRange]))
    }

    /// Deletes a replayed file; returns the errno when that failed (read before the directory sync,
    /// which would overwrite it), nil otherwise.
    @discardableResult
    func remove(_ path: String) -> Int32? {
        let failure: Int32? = unsafe unlink(path) == 0 || errno == ENOENT ? nil : errno
        if fsync == .always { syncDir() }
        return failure
    }

    /// Moves a file that cannot be replayed to `corrupt/`, where an operator can look at it.
    func quarantine(_ path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? "unknown"
        // Sequence numbers restart with an empty spool: a suffix keeps earlier quarantined files.
        var target = "\(dir)/corrupt/\(name)"
        var n = 1
        while unsafe access(target, F_OK) == 0 {
            target = "\(dir)/corrupt/\(name).\(n)"
            n += 1
        }
        unsafe rename(path, target)
    }

    private func syncDir() {
        let fd = unsafe open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            Glibc.fsync(fd)
            close(fd)
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>, _ path: String) throws(SpoolError) {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = unsafe bytes[offset...].withUnsafeBytes { unsafe Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(op: "write", path: path, errno: errno)
            }
            offset += n
        }
    }

    private func readFile(_ path: String) throws(SpoolError) -> [UInt8] {
        let fd = unsafe open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(op: "open", path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard unsafe fstat(fd, &st) == 0 else { throw .io(op: "stat", path: path, errno: errno) }
        let size = Int(st.st_size)
        var out = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let n = unsafe out.withUnsafeMutableBytes { unsafe Glibc.read(fd, $0.baseAddress! + offset, size - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(op: "read", path: path, errno: errno)
            }
            if n == 0 { throw .corrupt(path: path, reason: "shorter than its size") }
            offset += n
        }
        return out
    }

    static func mkdirs(_ path: String) throws(SpoolError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if unsafe mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw .io(op: "mkdir", path: current, errno: errno)
            }
        }
    }
}

private func appendBE<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
    unsafe withUnsafeBytes(of: v.bigEndian) { unsafe out.append(contentsOf: $0) }
}

/// Bounds-checked big-endian reads over a spool file.
private struct Reader {
    let bytes: [UInt8]
    let path: String
    var offset = 0

    mutating func take(_ n: Int) throws(SpoolError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - offset else {
            throw .corrupt(path: path, reason: "truncated: needed \(n) bytes at \(offset), \(bytes.count - offset) left")
        }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    mutating func int<T: FixedWidthInteger>(_: T.Type) throws(SpoolError) -> T {
        var v: T = 0
        for b in try take(MemoryLayout<T>.size) { v = v << 8 | T(b) }
        return v
    }

    mutating func u16() throws(SpoolError) -> UInt16 { try int(UInt16.self) }
    mutating func u32() throws(SpoolError) -> UInt32 { try int(UInt32.self) }
    mutating func u64() throws(SpoolError) -> UInt64 { try int(UInt64.self) }

    mutating func string(_ n: Int) throws(SpoolError) -> String {
        String(decoding: try take(n), as: UTF8.self)
    }
}

/// CRC-32 (IEEE 802.3, the zlib polynomial), table-driven.
/// CRC-32 (IEEE 802.3) over the spool file, computed by zlib: the table-per-byte loop this replaced
/// took a third of sotpd's CPU while flows spooled at 250k rows/s.
struct CRC32 {
    private(set) var value: UInt32 = 0

    mutating func update(_ bytes: ArraySlice<UInt8>) {
        var c = UInt(value)
        bytes.withUnsafeBytes { raw in
            var rest = raw
            while !rest.isEmpty {
                let n = min(rest.count, 1 << 30)
                c = unsafe crc32(c, rest.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(n))
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            }
        }
        value = UInt32(truncatingIfNeeded: c)
    }
}
