// PostgreSQL binary COPY encoding: one buffer of tuples and one encoder per column type.
// Format: https://www.postgresql.org/docs/current/sql-copy.html ("Binary Format"); each type's binary
// layout is what the type's `*_send` function writes in the PostgreSQL sources.

/// The PostgreSQL types the sink can encode, with their type OIDs (pg_type.oid).
public enum ColumnType: String, Sendable, CaseIterable {
    case bool, bytea, int2, int4, int8, float4, float8, text, inet, macaddr, timestamptz, jsonb, uuid
    case int2Array = "int2[]", int4Array = "int4[]", int8Array = "int8[]", float8Array = "float8[]"
    case textArray = "text[]"

    /// pg_type.oid of the type (for arrays: of the array type).
    public var oid: UInt32 {
        switch self {
        case .bool: 16
        case .bytea: 17
        case .int8: 20
        case .int2: 21
        case .int4: 23
        case .text: 25
        case .float4: 700
        case .float8: 701
        case .macaddr: 829
        case .inet: 869
        case .timestamptz: 1184
        case .uuid: 2950
        case .jsonb: 3802
        case .int2Array: 1005
        case .int4Array: 1007
        case .int8Array: 1016
        case .float8Array: 1022
        case .textArray: 1009
        }
    }
}

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 00:00:00 UTC).
@usableFromInline let postgresEpochOffsetMicros: Int64 = 946_684_800_000_000

/// A growing buffer of binary COPY tuples (no file header or trailer: those are added when the batch is
/// sent). Encoders append one field each; `beginRow` starts a tuple with its field count.
///
/// This is the per-row hot path, so the storage is allocated up front (its count is the room) and fields are stored
/// in place (no per-field growth checks beyond one comparison), and the encoders are inlinable into the
/// producers. The storage is reused between batches, so in steady state appending rows never allocates.
public struct CopyBuffer: Sendable {
    /// The writable area: its `count` is the room, `_count` of it is used; writes store in place.
    @usableFromInline var storage: [UInt8]
    @usableFromInline var _count = 0
    @usableFromInline var _rowCount = 0
    @usableFromInline var _fieldsInRow = 0
    /// Encoded bytes so far.
    public var count: Int { _count }
    /// Tuples begun so far.
    public var rowCount: Int { _rowCount }
    /// Fields written in the current tuple (checked against the table's column count).
    public var fieldsInRow: Int { _fieldsInRow }

    /// An empty buffer with room for `capacity` bytes before it grows.
    public init(capacity: Int = 0) {
        storage = [UInt8](repeating: 0, count: max(capacity, 256))
    }

    /// A copy of the encoded bytes.
    public var bytes: [UInt8] { Array(storage[..<_count]) }

    /// Empties the buffer, keeping its storage.
    public mutating func removeAll() {
        _count = 0
        _rowCount = 0
        _fieldsInRow = 0
    }

    /// Hands over the encoded bytes (exactly `count` of them, with little spare capacity, so memory
    /// accounting by byte count stays honest) and empties the buffer. A mostly-empty buffer (sealed by
    /// age) is copied out and keeps its storage; a mostly-full one hands its storage over and gets a
    /// new one of the same size.
    mutating func take() -> [UInt8] {
        let out: [UInt8]
        if _count * 2 < storage.count {
            out = Array(storage[..<_count])
        } else {
            var full = [UInt8](repeating: 0, count: storage.count)
            swap(&full, &storage)
            full.removeSubrange(_count...)
            out = full
        }
        removeAll()
        return out
    }

    /// Starts a tuple of `fields` columns.
    @inlinable
    public mutating func beginRow(fields: Int) {
        reserve(2)
        put(Int16(truncatingIfNeeded: fields))
        _rowCount += 1
        _fieldsInRow = 0
    }

    // MARK: raw stores

    /// Makes room for `n` more bytes.
    @inlinable @inline(__always)
    mutating func reserve(_ n: Int) {
        if _count + n > storage.count { grow(n) }
    }

    @usableFromInline
    mutating func grow(_ n: Int) {
        storage += [UInt8](repeating: 0, count: max(n, storage.count))
    }

    /// Stores `value` big-endian at the end; room must have been reserved.
    @inlinable @inline(__always)
    mutating func put<T: FixedWidthInteger>(_ value: T) {
        let at = _count
        unsafe storage.withUnsafeMutableBytes { unsafe $0.storeBytes(of: value.bigEndian, toByteOffset: at, as: T.self) }
        _count = at + MemoryLayout<T>.size
    }

    /// Stores raw bytes at the end, reserving room for them.
    @usableFromInline
    mutating func putBytes<Bytes: Collection<UInt8>>(_ v: Bytes) {
        let n = v.count
        reserve(n)
        let at = _count
        storage.replaceSubrange(at..<(at + n), with: v)
        _count = at + n
    }

    /// A field's length word, with room reserved for the value that follows.
    @inlinable @inline(__always)
    mutating func fieldHeader(length: Int, reserving value: Int) {
        reserve(4 + value)
        put(Int32(truncatingIfNeeded: length))
        _fieldsInRow += 1
    }


    /// A fixed-size field: length word and big-endian value in one reservation.
    @inlinable @inline(__always)
    mutating func fixed<T: FixedWidthInteger>(_ value: T) {
        fieldHeader(length: MemoryLayout<T>.size, reserving: MemoryLayout<T>.size)
        put(value)
    }

    // MARK: one encoder per column type

    /// SQL NULL, for a column of any type.
    @inlinable
    public mutating func null() { fieldHeader(length: -1, reserving: 0) }

    /// `bool`: one byte, 0 or 1.
    @inlinable
    public mutating func bool(_ v: Bool) { fixed(UInt8(v ? 1 : 0)) }

    /// `int2`: big-endian 16-bit.
    @inlinable
    public mutating func int2(_ v: Int16) { fixed(v) }

    /// `int4`: big-endian 32-bit.
    @inlinable
    public mutating func int4(_ v: Int32) { fixed(v) }

    /// `int8`: big-endian 64-bit.
    @inlinable
    public mutating func int8(_ v: Int64) { fixed(v) }

    /// `float4`: IEEE 754 single, big-endian bit pattern (NaN and infinities pass through).
    @inlinable
    public mutating func float4(_ v: Float) { fixed(v.bitPattern) }

    /// `float8`: IEEE 754 double, big-endian bit pattern.
    @inlinable
    public mutating func float8(_ v: Double) { fixed(v.bitPattern) }

    /// `text` (also varchar): the UTF-8 bytes. PostgreSQL rejects NUL bytes in text (SQLSTATE 22021);
    /// such a row is isolated into the dead-letter table by the sink, not silently altered.
    public mutating func text(_ v: String) {
        var s = v
        s.withUTF8 { utf8 in
            fieldHeader(length: utf8.count, reserving: 0)
            unsafe putBytes(utf8)
        }
    }

    /// `text` from bytes already known to be UTF-8 (e.g. a slice of a syslog packet); PostgreSQL checks
    /// the encoding and rejects invalid sequences (SQLSTATE 22021).
    public mutating func text<Bytes: Collection<UInt8>>(utf8 v: Bytes) {
        fieldHeader(length: v.count, reserving: 0)
        putBytes(v)
    }

    /// `bytea`: the raw bytes.
    public mutating func bytea<Bytes: Collection<UInt8>>(_ v: Bytes) {
        fieldHeader(length: v.count, reserving: 0)
        putBytes(v)
    }

    /// `timestamptz` from microseconds since the Unix epoch (UTC). `Int64.max` and `Int64.min` are
    /// written as PostgreSQL's `infinity` and `-infinity`.
    @inlinable
    public mutating func timestamptz(unixMicros v: Int64) {
        fixed(v == .max || v == .min ? v : v &- postgresEpochOffsetMicros)
    }

    /// `inet` holding an IPv4 address (`v` in host order, e.g. 0x7F000001 for 127.0.0.1) with a
    /// prefix length of 0…32 (32 for a host address).
    @inlinable
    public mutating func inet(ipv4 v: UInt32, prefix: UInt8 = 32) {
        // inet_send: family (PGSQL_AF_INET = AF_INET + 0 = 2), bits, is_cidr, address length, address.
        fieldHeader(length: 8, reserving: 8)
        put(UInt32(0x0200_0004) | UInt32(prefix) << 16)
        put(v)
    }

    /// `inet` holding an IPv6 address as two host-order halves (`high` is the first 8 bytes on the
    /// wire) with a prefix length of 0…128.
    public mutating func inet(ipv6High high: UInt64, low: UInt64, prefix: UInt8 = 128) {
        // PGSQL_AF_INET6 = AF_INET + 1 = 3 (not the platform's AF_INET6).
        fieldHeader(length: 20, reserving: 20)
        put(UInt32(0x0300_0010) | UInt32(prefix) << 16)
        put(high)
        put(low)
    }

    /// `inet` from 4 or 16 network-order address bytes; any other length is a programmer error.
    public mutating func inet<Bytes: Collection<UInt8>>(bytes address: Bytes) {
        precondition(address.count == 4 || address.count == 16, "inet needs 4 or 16 bytes, got \(address.count)")
        let v6 = address.count == 16
        fieldHeader(length: 4 + address.count, reserving: 4)
        put(v6 ? UInt32(0x0380_0010) : UInt32(0x0220_0004))
        putBytes(address)
    }

    /// `macaddr` from the low 48 bits of `v` (0x0011_2233_4455 is 00:11:22:33:44:55).
    public mutating func macaddr(_ v: UInt64) {
        fieldHeader(length: 6, reserving: 6)
        put(UInt16(truncatingIfNeeded: v >> 32))
        put(UInt32(truncatingIfNeeded: v))
    }

    /// `uuid` from its 16 bytes as two host-order halves.
    public mutating func uuid(high: UInt64, low: UInt64) {
        fieldHeader(length: 16, reserving: 16)
        put(high)
        put(low)
    }

    /// `jsonb` from JSON text: version byte 1, then the text. PostgreSQL validates it (invalid JSON is
    /// SQLSTATE 22P02 and goes to the dead-letter table).
    public mutating func jsonb(_ json: String) {
        var s = json
        s.withUTF8 { utf8 in
            fieldHeader(length: utf8.count + 1, reserving: 1)
            put(UInt8(1))
            unsafe putBytes(utf8)
        }
    }

    // MARK: from raw memory (one copy, no per-byte generic loop: receive paths that write what arrived)

    /// `text` from bytes that are valid UTF-8 without NUL (PostgreSQL checks, SQLSTATE 22021 otherwise).
    public mutating func text(copying raw: UnsafeRawBufferPointer) {
        fieldHeader(length: raw.count, reserving: raw.count)
        unsafe copyRaw(raw)
    }

    /// `bytea` from raw bytes.
    public mutating func bytea(copying raw: UnsafeRawBufferPointer) {
        fieldHeader(length: raw.count, reserving: raw.count)
        unsafe copyRaw(raw)
    }

    /// `jsonb` from JSON text in raw bytes: version byte 1, then the text.
    public mutating func jsonb(copying raw: UnsafeRawBufferPointer) {
        fieldHeader(length: raw.count + 1, reserving: raw.count + 1)
        put(UInt8(1))
        unsafe copyRaw(raw)
    }

    /// Appends `raw`; room must have been reserved.
    mutating func copyRaw(_ raw: UnsafeRawBufferPointer) {
        guard raw.count > 0 else { return }
        let at = _count
        unsafe storage.withUnsafeMutableBytes { unsafe UnsafeMutableRawBufferPointer(rebasing: $0[at..<(at + raw.count)]).copyMemory(from: raw) }
        _count = at + raw.count
    }

    // MARK: arrays

    /// A one-dimensional array whose elements are written by `elements`, one encoder call each (or
    /// `null()`); `elementType` is the element's scalar type and `count` how many `elements` writes.
    public mutating func array(of elementType: ColumnType, count: Int, _ elements: (inout CopyBuffer) -> Void) {
        let start = self._count
        fieldHeader(length: 0, reserving: 20)  // length patched below
        let outerFields = fieldsInRow
        put(Int32(count == 0 ? 0 : 1))  // ndim (an empty array has no dimensions)
        let hasNullAt = self._count
        put(Int32(0))  // has-null flag, patched below
        put(Int32(bitPattern: elementType.oid))
        if count > 0 {
            put(Int32(truncatingIfNeeded: count))
            put(Int32(1))  // lower bound
        }
        let elementsStart = self._count
        _fieldsInRow = 0
        elements(&self)
        precondition(fieldsInRow == count, "array declared \(count) elements, wrote \(fieldsInRow)")
        _fieldsInRow = outerFields
        // Scan the element headers for NULLs (-1 lengths) to set the flag array_recv expects.
        var offset = elementsStart
        var hasNull = false
        while offset < self._count {
            let len = readBE(Int32.self, at: offset)
            offset += 4
            if len < 0 { hasNull = true } else { offset += Int(len) }
        }
        if hasNull { patchBE(Int32(1), at: hasNullAt) }
        patchBE(Int32(truncatingIfNeeded: self._count - start - 4), at: start)
    }

    /// `int8[]` (NULL elements allowed).
    public mutating func int8Array(_ values: [Int64?]) {
        array(of: .int8, count: values.count) { b in
            for v in values { if let v { b.int8(v) } else { b.null() } }
        }
    }

    /// `int4[]` (NULL elements allowed).
    public mutating func int4Array(_ values: [Int32?]) {
        array(of: .int4, count: values.count) { b in
            for v in values { if let v { b.int4(v) } else { b.null() } }
        }
    }

    /// `text[]` (NULL elements allowed).
    public mutating func textArray(_ values: [String?]) {
        array(of: .text, count: values.count) { b in
            for v in values { if let v { b.text(v) } else { b.null() } }
        }
    }

    /// `float8[]` (NULL elements allowed).
    public mutating func float8Array(_ values: [Double?]) {
        array(of: .float8, count: values.count) { b in
            for v in values { if let v { b.float8(v) } else { b.null() } }
        }
    }

    // MARK: helpers

    func readBE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size {
            v = (v << 8) | T(storage[offset + i])
        }
        return v
    }

    mutating func patchBE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        for i in 0..<size {
            storage[offset + i] = UInt8(truncatingIfNeeded: value >> T((size - 1 - i) * 8))
        }
    }
}

extension CopyBuffer {
    /// The bytes before the tuples of a binary COPY file.
    public static var fileHeader: [UInt8] { copyHeader }
    /// The bytes after the tuples of a binary COPY file.
    public static var fileTrailer: [UInt8] { copyTrailer }
}

/// The binary COPY file header: signature, flags (0), header extension length (0).
let copyHeader: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
/// The binary COPY trailer: a field count of -1.
let copyTrailer: [UInt8] = [0xFF, 0xFF]

/// Splits encoded tuples into their byte ranges, for isolating a bad row. Returns nil when the bytes
/// are not a whole number of well-formed tuples (a corrupt spool file, say).
func tupleRanges(_ bytes: [UInt8]) -> [Range<Int>]? {
    var ranges: [Range<Int>] = []
    var offset = 0
    let n = bytes.count
    func be32(_ at: Int) -> Int32 {
        Int32(bitPattern: UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3]))
    }
    while offset < n {
        let start = offset
        guard offset + 2 <= n else { return nil }
        let fields = Int(Int16(bitPattern: UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])))
        offset += 2
        guard fields >= 0 else { return nil }
        for _ in 0..<fields {
            guard offset + 4 <= n else { return nil }
            let len = Int(be32(offset))
            offset += 4
            if len >= 0 {
                guard len <= n - offset else { return nil }
                offset += len
            } else if len != -1 {
                return nil
            }
        }
        ranges.append(start..<offset)
    }
    return ranges
}
