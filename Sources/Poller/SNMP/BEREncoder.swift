// BER writing into a reusable byte buffer: responses to informs, Reports, and later the poller's
// requests. Lengths are minimal (DER-style); a constructed value's length is patched in when it ends.

/// Writes BER into `bytes`, which keeps its capacity across `reset()`s.
public struct BEREncoder: Sendable {
    /// What has been written.
    public private(set) var bytes: [UInt8]
    /// An offset that moves with the bytes when an enclosing length grows (the USM code keeps the
    /// position of msgAuthenticationParameters here, to write the MAC over the finished message).
    public var tracked: Int?

    /// An encoder whose buffer starts with room for `capacity` bytes.
    public init(capacity: Int = 1500) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the buffer, keeping its storage.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        tracked = nil
    }

    /// Where the next byte goes.
    public var count: Int { bytes.count }

    /// Starts a constructed value (SEQUENCE, a PDU, a wrapping OCTET STRING…); pass the returned mark to
    /// `end` once its contents are written.
    public mutating func begin(_ tag: UInt8) -> Int {
        bytes.append(tag)
        bytes.append(0)
        return bytes.count - 1
    }

    /// Ends the value begun at `mark`, writing its length (inserting long-form octets if needed).
    public mutating func end(_ mark: Int) {
        let length = bytes.count - mark - 1
        if length < 0x80 {
            bytes[mark] = UInt8(length)
            return
        }
        let n = length <= 0xff ? 1 : length <= 0xffff ? 2 : length <= 0xff_ffff ? 3 : 4
        bytes[mark] = 0x80 | UInt8(n)
        bytes.insert(contentsOf: repeatElement(0, count: n), at: mark + 1)
        for i in 0..<n { bytes[mark + 1 + i] = UInt8(truncatingIfNeeded: length >> (8 * (n - 1 - i))) }
        if let t = tracked, t > mark { tracked = t + n }
    }

    /// Writes a tag and a definite length.
    public mutating func header(_ tag: UInt8, length: Int) {
        bytes.append(tag)
        if length < 0x80 {
            bytes.append(UInt8(length))
        } else {
            let n = length <= 0xff ? 1 : length <= 0xffff ? 2 : length <= 0xff_ffff ? 3 : 4
            bytes.append(0x80 | UInt8(n))
            for i in 0..<n { bytes.append(UInt8(truncatingIfNeeded: length >> (8 * (n - 1 - i)))) }
        }
    }

    /// A signed INTEGER (or any tag with INTEGER encoding) in the fewest two's-complement bytes.
    public mutating func integer(_ v: Int64, tag: UInt8 = BERTag.integer) {
        var n = 8
        // Drop leading bytes that only repeat the sign of the next byte's top bit.
        while n > 1 {
            let top = v >> (8 * (n - 1)) & 0xff
            let nextBit = v >> (8 * (n - 1) - 1) & 1
            if (top == 0 && nextBit == 0) || (top == 0xff && nextBit == 1) { n -= 1 } else { break }
        }
        header(tag, length: n)
        for i in 0..<n { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * (n - 1 - i)))) }
    }

    /// An unsigned value (Counter32, Gauge32, TimeTicks, Counter64) with a leading zero octet when the
    /// top bit would otherwise read as a sign.
    public mutating func unsigned(_ v: UInt64, tag: UInt8) {
        var n = 1
        while n < 8 && v >> (8 * UInt64(n)) != 0 { n += 1 }
        let pad = v >> (8 * UInt64(n) - 1) & 1 == 1
        header(tag, length: n + (pad ? 1 : 0))
        if pad { bytes.append(0) }
        for i in 0..<n { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(n - 1 - i)))) }
    }

    /// An OCTET STRING (or another tag with raw byte content).
    public mutating func octetString(_ value: some Collection<UInt8>, tag: UInt8 = BERTag.octetString) {
        header(tag, length: value.count)
        bytes.append(contentsOf: value)
    }

    /// An OCTET STRING from bytes in a span.
    public mutating func octetString(_ value: RawSpan, tag: UInt8 = BERTag.octetString) {
        header(tag, length: value.byteCount)
        appendRaw(value)
    }

    /// Appends already-encoded bytes (a varbind list copied from a request, say).
    public mutating func appendRaw(_ value: RawSpan) {
        unsafe value.withUnsafeBytes { raw in unsafe bytes.append(contentsOf: raw) }
    }

    /// A zero-length value: NULL by default, or an exception (noSuchObject…).
    public mutating func null(tag: UInt8 = BERTag.null) {
        header(tag, length: 0)
    }

    public mutating func oid(_ oid: OID) {
        let mark = begin(BERTag.objectIdentifier)
        OID.appendValue(oid.arcs, to: &bytes)
        end(mark)
    }

    /// Writes `count` zero bytes as an OCTET STRING and returns the offset of its first value byte
    /// (e.g. a placeholder for a MAC computed later), also kept in `tracked`.
    public mutating func placeholder(count: Int) -> Int {
        header(BERTag.octetString, length: count)
        tracked = bytes.count
        for _ in 0..<count { bytes.append(0) }
        return bytes.count - count
    }

    /// Overwrites bytes at `offset` (a placeholder's value).
    public mutating func overwrite(at offset: Int, with value: [UInt8]) {
        precondition(offset >= 0 && offset + value.count <= bytes.count)
        for i in 0..<value.count { bytes[offset + i] = value[i] }
    }

    public mutating func value(_ v: SNMPValue) {
        switch v {
        case .integer(let i): integer(i)
        case .octetString(let s): octetString(s)
        case .null: null()
        case .objectIdentifier(let o): oid(o)
        case .ipAddress(let a): octetString([UInt8(a >> 24), UInt8(a >> 16 & 0xff), UInt8(a >> 8 & 0xff), UInt8(a & 0xff)], tag: BERTag.ipAddress)
        case .counter32(let c): unsigned(UInt64(c), tag: BERTag.counter32)
        case .gauge32(let g): unsigned(UInt64(g), tag: BERTag.gauge32)
        case .timeTicks(let t): unsigned(UInt64(t), tag: BERTag.timeTicks)
        case .opaque(let o): octetString(o, tag: BERTag.opaque)
        case .counter64(let c): unsigned(c, tag: BERTag.counter64)
        case .noSuchObject: null(tag: BERTag.noSuchObject)
        case .noSuchInstance: null(tag: BERTag.noSuchInstance)
        case .endOfMibView: null(tag: BERTag.endOfMibView)
        case .other(let tag, let raw): octetString(raw, tag: tag)
        }
    }

    /// A VarBindList of `varbinds`.
    public mutating func varbindList(_ varbinds: [SNMPVarBind]) {
        let list = begin(BERTag.sequence)
        for vb in varbinds {
            let m = begin(BERTag.sequence)
            oid(vb.oid)
            value(vb.value)
            end(m)
        }
        end(list)
    }
}
