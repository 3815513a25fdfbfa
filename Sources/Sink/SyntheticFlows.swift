// Synthetic flow-like rows for capacity runs (`sotpd sink-load`) and benchmarks: the same 12 columns as
// a flow record without its optional fields, deterministic so two runs write identical rows.

/// Deterministic 12-column flow rows.
public enum SyntheticFlows {
    /// time, exporter, src_addr, dst_addr, src_port, dst_port, protocol, tcp_flags, packets, bytes, in_if, out_if.
    public static let columns: [TableSpec.Column] = [
        .init("time", .timestamptz), .init("exporter", .inet), .init("src_addr", .inet), .init("dst_addr", .inet),
        .init("src_port", .int4), .init("dst_port", .int4), .init("protocol", .int2), .init("tcp_flags", .int2),
        .init("packets", .int8), .init("bytes", .int8), .init("in_if", .int4), .init("out_if", .int4),
    ]

    static let ports: [Int32] = [53, 80, 443, 123, 22]
    static let protocols: [Int16] = [6, 17, 6, 1]

    /// Encodes row `i` of a run of `total` starting at `base` (µs since the Unix epoch): `packets` is
    /// i + 1 (unique), times spread over two hours (several 1-hour chunks), addresses and ports varied
    /// like real traffic, one row in 16 with an IPv6 source.
    @inlinable
    public static func encode(_ row: inout CopyBuffer, _ i: Int, base: Int64, total: Int) {
        let x = UInt32(truncatingIfNeeded: i &* 2_654_435_761)
        row.timestamptz(unixMicros: base + Int64(i) * 7_200_000_000 / Int64(max(total, 1)))
        row.inet(ipv4: 0x7F00_0001 + UInt32(i % 8))
        if i % 16 == 0 {
            row.inet(ipv6High: 0x2001_0db8_0000_0000, low: UInt64(x))
        } else {
            row.inet(ipv4: 0x0A00_0000 | (x & 0x00FF_FFFF))
        }
        row.inet(ipv4: 0xC0A8_0000 | (x >> 16))
        row.int4(Int32(1024 + x % 60000))
        row.int4(port(i))
        row.int2(proto(i))
        row.int2(Int16(x & 0x3F))
        row.int8(Int64(i) + 1)
        row.int8(Int64(x % 1_500_000) + 40)
        row.int4(Int32(x % 48) + 1)
        row.int4(Int32((x >> 8) % 48) + 1)
    }

    @usableFromInline static func port(_ i: Int) -> Int32 { ports[i % ports.count] }
    @usableFromInline static func proto(_ i: Int) -> Int16 { protocols[i % protocols.count] }
}
