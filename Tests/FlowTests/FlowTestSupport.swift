// Helpers for the flow decoder tests: hex fixtures with comments, a big-endian packet builder and
// decoding into arrays.
@testable import Flow

/// Bytes from hex text; whitespace is ignored and `#` starts a comment running to the end of the line.
func hex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let digits = code.filter { !$0.isWhitespace }
        precondition(digits.count % 2 == 0, "odd hex digits in \(line)")
        var i = digits.startIndex
        while i < digits.endIndex {
            let j = digits.index(i, offsetBy: 2)
            out.append(UInt8(digits[i..<j], radix: 16)!)
            i = j
        }
    }
    return out
}

/// Builds packets field by field, big-endian.
struct Wire {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xff)] }
    mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xffff)) }
    mutating func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(v & 0xffff_ffff)) }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    /// An unsigned integer in `length` bytes (reduced-size encoding).
    mutating func uint(_ v: UInt64, _ length: Int) {
        for i in stride(from: length - 1, through: 0, by: -1) { u8(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    /// A set (or v9 flowset): id, length including the 4-byte header, body.
    mutating func set(_ id: UInt16, _ body: [UInt8]) {
        u16(id)
        u16(UInt16(body.count + 4))
        raw(body)
    }
}

/// A v9 export packet around `sets` (already encoded).
func v9Packet(uptime: UInt32, seconds: UInt32, sequence: UInt32, sourceID: UInt32, count: UInt16 = 1, _ sets: [UInt8]) -> [UInt8] {
    var w = Wire()
    w.u16(9)
    w.u16(count)
    w.u32(uptime)
    w.u32(seconds)
    w.u32(sequence)
    w.u32(sourceID)
    w.raw(sets)
    return w.bytes
}

/// An IPFIX message around `sets`.
func ipfixMessage(seconds: UInt32, sequence: UInt32, domain: UInt32, _ sets: [UInt8]) -> [UInt8] {
    var w = Wire()
    w.u16(10)
    w.u16(UInt16(16 + sets.count))
    w.u32(seconds)
    w.u32(sequence)
    w.u32(domain)
    w.raw(sets)
    return w.bytes
}

/// Template record body: (id, length) pairs, or (id | 0x8000, length, PEN) for enterprise fields.
func templateRecord(_ id: UInt16, _ fields: [(UInt16, UInt16)], enterprise: [Int: UInt32] = [:]) -> [UInt8] {
    var w = Wire()
    w.u16(id)
    w.u16(UInt16(fields.count))
    for (i, f) in fields.enumerated() {
        if let pen = enterprise[i] {
            w.u16(f.0 | 0x8000)
            w.u16(f.1)
            w.u32(pen)
        } else {
            w.u16(f.0)
            w.u16(f.1)
        }
    }
    return w.bytes
}

let exporterA = FlowIP(v4: 0xC000_0201)  // 192.0.2.1
let exporterB = FlowIP(v4: 0xC000_0202)  // 192.0.2.2
let exporterV6 = FlowIP(v6High: 0x2001_0db8_0000_0000, v6Low: 1)  // 2001:db8::1
let receivedAt: Int64 = 1_700_000_100_000_000

extension TemplateDecoder {
    /// Decodes into an array; test convenience.
    mutating func run(
        _ p: [UInt8], from exporter: FlowIP = exporterA, at micros: Int64 = receivedAt
    ) throws(FlowDecodeError) -> ([FlowRecord], PacketInfo) {
        var out: [FlowRecord] = []
        let info = try decode(p.span.bytes, exporter: exporter, receivedMicros: micros) { out.append($0) }
        return (out, info)
    }
}

extension NetFlowV5Decoder {
    func run(_ p: [UInt8], from exporter: FlowIP = exporterA) throws(FlowDecodeError) -> ([FlowRecord], PacketInfo) {
        var out: [FlowRecord] = []
        let info = try decode(p.span.bytes, exporter: exporter, receivedMicros: receivedAt) { out.append($0) }
        return (out, info)
    }
}

/// A deterministic generator for garbage and shuffles (SplitMix64), so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
