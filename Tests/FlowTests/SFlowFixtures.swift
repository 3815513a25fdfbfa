// Building sFlow test datagrams by hand: hex with per-line comments for packet headers, an XDR writer for
// the sFlow structures around them, and a decode helper that collects what the decoder delivers.
@testable import Flow

/// Bytes from hex text; everything after `#` on a line is a comment, whitespace is ignored.
func sflowHex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var pending: UInt8? = nil
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        for ch in line.prefix(while: { $0 != "#" }) {
            guard let nibble = ch.hexDigitValue else {
                precondition(ch.isWhitespace, "not hex: \(ch)")
                continue
            }
            if let high = pending {
                out.append(high << 4 | UInt8(nibble))
                pending = nil
            } else {
                pending = UInt8(nibble)
            }
        }
    }
    precondition(pending == nil, "odd number of hex digits")
    return out
}

/// Writes XDR (big-endian, 4-byte aligned) the way an sFlow agent does.
struct XDRWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    mutating func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(truncatingIfNeeded: v)) }
    /// A variable-length opaque: length, bytes, zero padding to a multiple of 4.
    mutating func opaque(_ b: [UInt8]) {
        u32(UInt32(b.count))
        bytes += b
        bytes += [UInt8](repeating: 0, count: (4 - b.count % 4) % 4)
    }
    mutating func ipv4(_ a: UInt32) { u32(1); u32(a) }
    mutating func ipv6(_ high: UInt64, _ low: UInt64) { u32(2); u64(high); u64(low) }
}

/// An sFlow v5 datagram header followed by `samples`, each (data format, body).
func sflowDatagram(agentV4: UInt32 = 0xC000_0201, subAgent: UInt32 = 7, sequence: UInt32 = 42,
                   declaredSamples: UInt32? = nil, _ samples: [(UInt32, [UInt8])]) -> [UInt8] {
    var w = XDRWriter()
    w.u32(5)  // version
    w.ipv4(agentV4)  // agent address
    w.u32(subAgent)
    w.u32(sequence)
    w.u32(1000)  // uptime, ms
    w.u32(declaredSamples ?? UInt32(samples.count))
    for (format, body) in samples {
        w.u32(format)
        w.opaque(body)
    }
    return w.bytes
}

/// A compact flow sample (0/1): source id ifIndex `source`, the given rate and interfaces (raw compact
/// encodings), then `records`, each (data format, body).
func compactFlowSample(source: UInt32 = 3, rate: UInt32 = 1024, input: UInt32 = 3, output: UInt32 = 5,
                       declaredRecords: UInt32? = nil, _ records: [(UInt32, [UInt8])]) -> [UInt8] {
    var w = XDRWriter()
    w.u32(9)  // sample sequence number
    w.u32(source)  // source id: type 0 (ifIndex) in the top byte, index below
    w.u32(rate)
    w.u32(123_456)  // sample pool
    w.u32(0)  // drops
    w.u32(input)
    w.u32(output)
    w.u32(declaredRecords ?? UInt32(records.count))
    for (format, body) in records {
        w.u32(format)
        w.opaque(body)
    }
    return w.bytes
}

/// A raw packet header record body (0/1): header protocol, frame length, stripped, header bytes.
func rawHeaderRecord(protocol: UInt32 = 1, frameLength: UInt32, _ header: [UInt8]) -> [UInt8] {
    var w = XDRWriter()
    w.u32(`protocol`)
    w.u32(frameLength)
    w.u32(4)  // stripped (the FCS)
    w.opaque(header)
    return w.bytes
}

/// Ethernet II, IPv4 10.0.0.1 → 10.0.0.2 (TOS 0xb8), TCP 50000 → 443 with PSH|ACK: 54 bytes.
let frameEthernetIPv4TCP = sflowHex("""
    001122334455 66778899aabb 0800          # Ethernet: dst MAC, src MAC, type IPv4
    45 b8 05dc 1234 4000 40 06 0000         # IPv4: version 4 IHL 5, TOS, length 1500, id, DF, TTL 64, TCP, checksum
    0a000001 0a000002                       # src 10.0.0.1, dst 10.0.0.2
    c350 01bb 00000001 00000000             # TCP: src port 50000, dst port 443, seq, ack
    50 18 ffff 0000 0000                    # data offset 5, flags PSH|ACK, window, checksum, urgent
    """)

/// What one decode delivered.
struct SFlowDecoded {
    var info: SFlowDatagramInfo
    var flows: [FlowRecord]
    var counters: [SFlowInterfaceCounters]
}

/// Decodes `bytes` and collects the records.
func sflowDecode(_ bytes: [UInt8], receivedMicros: Int64 = 1_700_000_000_000_000) throws(FlowDecodeError) -> SFlowDecoded {
    var decoder = SFlowDecoder()
    var flows: [FlowRecord] = []
    var counters: [SFlowInterfaceCounters] = []
    let info = try decoder.decode(bytes.span.bytes, receivedMicros: receivedMicros,
                                  flows: { flows.append($0) }, counters: { counters.append($0) })
    return SFlowDecoded(info: info, flows: flows, counters: counters)
}

/// A small deterministic generator (SFlowTestRandom) so random tests repeat exactly.
struct SFlowTestRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
