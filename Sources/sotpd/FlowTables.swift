// How decoded flow records, their per-minute aggregates and sFlow interface counters become rows: the
// COPY column lists of `flows`, `interface_counters` (migration 3) and `flows_1m` (migration 4) and one
// encoder each.
import Flow
import Sink

enum FlowTables {
    static let flows = TableSpec("flows", [
        .init("time", .timestamptz), .init("exporter", .inet), .init("observation_domain", .int8),
        .init("src_addr", .inet), .init("dst_addr", .inet), .init("src_port", .int4), .init("dst_port", .int4),
        .init("protocol", .int2), .init("tos", .int2), .init("tcp_flags", .int2), .init("packets", .int8),
        .init("bytes", .int8), .init("in_if", .int8), .init("out_if", .int8), .init("sampling_rate", .int4),
        .init("flow_start", .timestamptz), .init("flow_end", .timestamptz), .init("next_hop", .inet),
        .init("src_as", .int8), .init("dst_as", .int8), .init("vlan", .int4), .init("src_mac", .macaddr),
        .init("dst_mac", .macaddr), .init("direction", .int2), .init("flow_source", .int2),
    ])

    /// Per-minute aggregates (Flow's `FlowAggregator`): the key columns share `flows`' names and types.
    static let flows1m = TableSpec("flows_1m", [
        .init("time", .timestamptz), .init("exporter", .inet), .init("observation_domain", .int8),
        .init("src_addr", .inet), .init("dst_addr", .inet), .init("src_port", .int4), .init("dst_port", .int4),
        .init("protocol", .int2), .init("tos", .int2), .init("tcp_flags", .int2), .init("in_if", .int8),
        .init("out_if", .int8), .init("src_as", .int8), .init("dst_as", .int8), .init("next_hop", .inet),
        .init("vlan", .int4), .init("src_mac", .macaddr), .init("dst_mac", .macaddr), .init("direction", .int2),
        .init("packets", .int8), .init("bytes", .int8), .init("flows", .int8),
    ])

    static let interfaceCounters = TableSpec("interface_counters", [
        .init("time", .timestamptz), .init("agent", .inet), .init("sub_agent", .int8), .init("if_index", .int8),
        .init("if_type", .int8), .init("if_speed", .int8), .init("direction", .int2), .init("status", .int2),
        .init("in_octets", .int8), .init("in_ucast", .int8), .init("in_mcast", .int8), .init("in_bcast", .int8),
        .init("in_discards", .int8), .init("in_errors", .int8), .init("in_unknown_protos", .int8),
        .init("out_octets", .int8), .init("out_ucast", .int8), .init("out_mcast", .int8), .init("out_bcast", .int8),
        .init("out_discards", .int8), .init("out_errors", .int8), .init("promiscuous", .int2),
    ])
}

extension CopyBuffer {
    /// An address column; `FlowIP.none` is NULL.
    @inline(__always)
    mutating func inet(_ a: FlowIP) {
        if a.isNone {
            null()
        } else if a.isV4 {
            inet(ipv4: UInt32(truncatingIfNeeded: a.low))
        } else {
            inet(ipv6High: a.high, low: a.low)
        }
    }

    /// A timestamp column; 0 (not carried) is NULL.
    @inline(__always)
    mutating func timestamptzOrNull(_ micros: Int64) {
        if micros == 0 { null() } else { timestamptz(unixMicros: micros) }
    }
}

/// One `flows` row. Counts are stored as exported, with the sampling rate beside them (scale in SQL).
@inline(__always)
func encodeFlow(_ r: FlowRecord, _ row: inout CopyBuffer) {
    row.timestamptz(unixMicros: r.receivedMicros)
    row.inet(r.exporter.isNone ? FlowIP(v4: 0) : r.exporter)
    row.int8(Int64(r.observationDomain))
    row.inet(r.src.isNone ? FlowIP(v4: 0) : r.src)
    row.inet(r.dst.isNone ? FlowIP(v4: 0) : r.dst)
    row.int4(Int32(r.srcPort))
    row.int4(Int32(r.dstPort))
    row.int2(Int16(r.proto))
    row.int2(Int16(r.tos))
    row.int2(Int16(r.tcpFlags))
    row.int8(Int64(bitPattern: r.packets))
    row.int8(Int64(bitPattern: r.bytes))
    row.int8(Int64(r.inIf))
    row.int8(Int64(r.outIf))
    row.int4(Int32(bitPattern: r.samplingRate))
    row.timestamptzOrNull(r.startMicros)
    row.timestamptzOrNull(r.endMicros)
    row.inet(r.nextHop)
    row.int8(Int64(r.srcAS))
    row.int8(Int64(r.dstAS))
    row.int4(Int32(r.vlan))
    if r.srcMAC == 0 { row.null() } else { row.macaddr(r.srcMAC) }
    if r.dstMAC == 0 { row.null() } else { row.macaddr(r.dstMAC) }
    if r.direction > 1 { row.null() } else { row.int2(Int16(r.direction)) }
    row.int2(Int16(r.source.rawValue))
}

/// One `flows_1m` row. A field outside the aggregation key is NULL; one inside it is stored exactly as
/// `encodeFlow` stores it (an absent exporter or address as 0.0.0.0, an absent next hop or MAC and an
/// unknown direction as NULL), so grouping `flows` by the same columns gives the same values.
/// Packets and bytes are already multiplied by the sampling rate.
@inline(__always)
func encodeAggregate(_ a: FlowAggregate, _ row: inout CopyBuffer) {
    let k = a.keys
    row.timestamptz(unixMicros: a.minuteMicros)
    if k.contains(.exporter) { row.inet(a.exporter.isNone ? FlowIP(v4: 0) : a.exporter) } else { row.null() }
    if k.contains(.observationDomain) { row.int8(Int64(a.observationDomain)) } else { row.null() }
    if k.contains(.srcAddr) { row.inet(a.src.isNone ? FlowIP(v4: 0) : a.src) } else { row.null() }
    if k.contains(.dstAddr) { row.inet(a.dst.isNone ? FlowIP(v4: 0) : a.dst) } else { row.null() }
    if k.contains(.srcPort) { row.int4(Int32(a.srcPort)) } else { row.null() }
    if k.contains(.dstPort) { row.int4(Int32(a.dstPort)) } else { row.null() }
    if k.contains(.proto) { row.int2(Int16(a.proto)) } else { row.null() }
    if k.contains(.tos) { row.int2(Int16(a.tos)) } else { row.null() }
    if k.contains(.tcpFlags) { row.int2(Int16(a.tcpFlags)) } else { row.null() }
    if k.contains(.inIf) { row.int8(Int64(a.inIf)) } else { row.null() }
    if k.contains(.outIf) { row.int8(Int64(a.outIf)) } else { row.null() }
    if k.contains(.srcAS) { row.int8(Int64(a.srcAS)) } else { row.null() }
    if k.contains(.dstAS) { row.int8(Int64(a.dstAS)) } else { row.null() }
    if k.contains(.nextHop) { row.inet(a.nextHop) } else { row.null() }
    if k.contains(.vlan) { row.int4(Int32(a.vlan)) } else { row.null() }
    if k.contains(.srcMAC) && a.srcMAC != 0 { row.macaddr(a.srcMAC) } else { row.null() }
    if k.contains(.dstMAC) && a.dstMAC != 0 { row.macaddr(a.dstMAC) } else { row.null() }
    if k.contains(.direction) && a.direction <= 1 { row.int2(Int16(a.direction)) } else { row.null() }
    row.int8(Int64(bitPattern: a.packets))
    row.int8(Int64(bitPattern: a.bytes))
    row.int8(Int64(bitPattern: a.flows))
}

/// One `interface_counters` row from an sFlow generic interface counters record.
func encodeCounters(_ c: SFlowInterfaceCounters, _ row: inout CopyBuffer) {
    row.timestamptz(unixMicros: c.receivedMicros)
    row.inet(c.agent.isNone ? FlowIP(v4: 0) : c.agent)
    row.int8(Int64(c.subAgent))
    row.int8(Int64(c.ifIndex))
    row.int8(Int64(c.ifType))
    row.int8(Int64(bitPattern: c.ifSpeed))
    row.int2(Int16(truncatingIfNeeded: c.direction))
    row.int2(Int16(truncatingIfNeeded: c.status))
    row.int8(Int64(bitPattern: c.inOctets))
    row.int8(Int64(c.inUnicastPackets))
    row.int8(Int64(c.inMulticastPackets))
    row.int8(Int64(c.inBroadcastPackets))
    row.int8(Int64(c.inDiscards))
    row.int8(Int64(c.inErrors))
    row.int8(Int64(c.inUnknownProtocols))
    row.int8(Int64(bitPattern: c.outOctets))
    row.int8(Int64(c.outUnicastPackets))
    row.int8(Int64(c.outMulticastPackets))
    row.int8(Int64(c.outBroadcastPackets))
    row.int8(Int64(c.outDiscards))
    row.int8(Int64(c.outErrors))
    row.int2(Int16(truncatingIfNeeded: c.promiscuous))
}
