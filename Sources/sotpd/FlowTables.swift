// How decoded flow records and sFlow interface counters become rows: the COPY column lists of `flows`
// and `interface_counters` (migration 3) and one encoder each.
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
