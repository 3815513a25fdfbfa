// The sFlow version 5 datagram decoder (sflow.org, "sFlow Version 5", July 2004): flow samples become
// FlowRecords (one per sampled packet), generic interface counters become SFlowInterfaceCounters.
// Pure: bytes in, values out through non-escaping closures, nothing allocated on the way.

/// What a datagram's header said and what became of its samples.
///
/// Samples are length-delimited, so a sample whose contents are malformed is dropped on its own
/// (`samplesMalformed`) and decoding goes on with the next one. When the framing itself breaks (a
/// sample length past the end of the datagram, fewer samples than `sampleCount` says) decoding stops
/// there; records of the samples before were delivered. Either way `error` holds the first problem, and
/// `samplesDecoded + samplesSkipped + samplesMalformed < sampleCount` tells that decoding stopped early.
public struct SFlowDatagramInfo: Sendable, Equatable {
    /// The agent address (`FlowIP.none` when the agent sent the "unknown" address type).
    public var agent: FlowIP = .none
    public var subAgent: UInt32 = 0
    /// The datagram sequence number of this agent and sub-agent; tracking gaps is the caller's job.
    public var sequenceNumber: UInt32 = 0
    /// Agent uptime in milliseconds when the datagram was sent.
    public var uptimeMillis: UInt32 = 0
    /// Samples the header declares.
    public var sampleCount: UInt32 = 0
    /// Flow and counter samples decoded (their records delivered).
    public var samplesDecoded: Int = 0
    /// Samples of a format this decoder does not read (other enterprises, discarded-packet samples…),
    /// passed over by their length.
    public var samplesSkipped: Int = 0
    /// Samples dropped because their contents were malformed; nothing of them was delivered.
    public var samplesMalformed: Int = 0
    /// Flow records delivered (one per flow sample with a raw packet header record).
    public var flowRecords: Int = 0
    /// Interface counter records delivered.
    public var counterRecords: Int = 0
    /// Flow and counter records of formats this decoder does not read, passed over by their length, and
    /// raw packet headers after the first in one sample.
    public var recordsSkipped: Int = 0
    /// The first problem met, or nil when every declared sample was read.
    public var error: FlowDecodeError? = nil

    /// An empty result, for callers that keep one around; `decode` fills its own.
    public init() {}
}

/// Decodes sFlow v5 datagrams. It keeps no state between datagrams (per-agent sequence tracking belongs
/// to the caller); `decode` is `mutating` so all flow decoders share one shape.
///
/// Flow samples (compact 0/1 and expanded 0/3) with a raw packet header record (0/1) yield one
/// FlowRecord: `bytes` is the sampled frame's length, `packets` 1, `samplingRate` the sample's rate,
/// `inIf`/`outIf` the ifIndexes (0 when discarded, several, internal or unknown), `observationDomain`
/// the sub-agent id, `exporter` the agent address, and the header's fields (see `PacketHeaderParser`).
/// `direction` is ingress (0) when the data source is the input interface, egress (1) when it is the
/// output one, otherwise unknown (255). Extended records of the same sample are applied to it: switch
/// (0/1001) sets `vlan` to the incoming VLAN when the agent knows it (over the header's tag), router
/// (0/1002) sets `nextHop`, gateway (0/1003) sets `srcAS`, `dstAS` (the last AS of the destination
/// path, 0 when the path is empty) and `nextHop` when no router record gave one. A flow sample without a
/// raw packet header yields nothing.
///
/// Counter samples (compact 0/2 and expanded 0/4) yield one SFlowInterfaceCounters per generic
/// interface counters record (0/1); other counter records are skipped.
public struct SFlowDecoder: Sendable {
    /// A decoder; one per receiving thread, or one per datagram, costs the same.
    public init() {}

    /// Decodes one datagram, calling `flows` for each sampled packet and `counters` for each interface
    /// counters record as it goes, and returns what the header said with what became of the samples.
    /// - Parameter receivedMicros: when the datagram arrived (µs since the epoch), copied into every record.
    /// - Throws: only when the header cannot be read: `.truncated`, `.unknownVersion` (values above
    ///   65535 reported as 65535), `.malformed` for an agent address type other than 0, 1 or 2. Nothing
    ///   was delivered then. Problems in samples are reported in the result (see `SFlowDatagramInfo`).
    public mutating func decode(
        _ bytes: RawSpan, receivedMicros: Int64,
        flows: (FlowRecord) -> Void, counters: (SFlowInterfaceCounters) -> Void
    ) throws(FlowDecodeError) -> SFlowDatagramInfo {
        var c = FlowCursor(bytes)
        let version = try c.u32(bytes)
        guard version == 5 else { throw .unknownVersion(UInt16(clamping: version)) }
        var info = SFlowDatagramInfo()
        info.agent = try Self.address(&c, bytes, "agent address")
        info.subAgent = try c.u32(bytes)
        info.sequenceNumber = try c.u32(bytes)
        info.uptimeMillis = try c.u32(bytes)
        info.sampleCount = try c.u32(bytes)

        // Each sample takes at least 8 bytes or throws, so a huge count ends where the bytes do.
        var index: UInt32 = 0
        while index < info.sampleCount {
            let format: UInt32
            let body: FlowCursor
            do throws(FlowDecodeError) {
                format = try c.u32(bytes)
                body = try c.xdrOpaque(bytes)
            } catch {
                info.error = error
                return info
            }
            do throws(FlowDecodeError) {
                // The data format is enterprise << 12 | format; sflow.org's own formats have enterprise 0.
                switch format {
                case 1, 3:
                    try Self.flowSample(bytes, body, expanded: format == 3, receivedMicros, &info, flows)
                    info.samplesDecoded += 1
                case 2, 4:
                    try Self.counterSample(bytes, body, expanded: format == 4, receivedMicros, &info, counters)
                    info.samplesDecoded += 1
                default:
                    info.samplesSkipped += 1
                }
            } catch {
                info.samplesMalformed += 1
                if info.error == nil { info.error = error }
            }
            index += 1
        }
        return info
    }

    /// An sFlow `address`: a type (0 unknown, 1 IPv4, 2 IPv6) and 0, 4 or 16 bytes.
    private static func address(_ c: inout FlowCursor, _ bytes: RawSpan, _ what: StaticString) throws(FlowDecodeError) -> FlowIP {
        let type = try c.u32(bytes)
        switch type {
        case 0:
            return .none
        case 1:
            return FlowIP(v4: try c.u32(bytes))
        case 2:
            let high = try c.u64(bytes)
            return FlowIP(v6High: high, v6Low: try c.u64(bytes))
        default:
            throw .malformed("\(what) type \(type), expected 0 (unknown), 1 (IPv4) or 2 (IPv6)")
        }
    }

    /// A compact `interface`: the top two bits are the format (0 ifIndex, 1 discarded, 2 several
    /// interfaces); 0x3FFFFFFF is traffic from or to the device itself.
    private static func compactInterface(_ value: UInt32) -> UInt32 {
        value >> 30 == 0 && value != 0x3FFF_FFFF ? value : 0
    }

    /// An `interface_expanded`: format and value apart; 0xFFFFFFFF is the device itself.
    private static func expandedInterface(format: UInt32, value: UInt32) -> UInt32 {
        format == 0 && value != 0xFFFF_FFFF ? value : 0
    }

    /// A flow sample; delivers its record only once every record in it has been read.
    private static func flowSample(
        _ bytes: RawSpan, _ body: FlowCursor, expanded: Bool, _ receivedMicros: Int64,
        _ info: inout SFlowDatagramInfo, _ flows: (FlowRecord) -> Void
    ) throws(FlowDecodeError) {
        var c = body
        _ = try c.u32(bytes)  // sample sequence number
        let sourceType: UInt32, sourceIndex: UInt32
        if expanded {
            sourceType = try c.u32(bytes)
            sourceIndex = try c.u32(bytes)
        } else {
            let source = try c.u32(bytes)
            sourceType = source >> 24
            sourceIndex = source & 0x00ff_ffff
        }
        let rate = try c.u32(bytes)
        try c.skip(8)  // sample pool, drops
        let inIf: UInt32, outIf: UInt32
        if expanded {
            let inFormat = try c.u32(bytes), inValue = try c.u32(bytes)
            let outFormat = try c.u32(bytes), outValue = try c.u32(bytes)
            inIf = expandedInterface(format: inFormat, value: inValue)
            outIf = expandedInterface(format: outFormat, value: outValue)
        } else {
            inIf = compactInterface(try c.u32(bytes))
            outIf = compactInterface(try c.u32(bytes))
        }
        let recordCount = try c.u32(bytes)

        var r = FlowRecord()
        r.receivedMicros = receivedMicros
        r.exporter = info.agent
        r.observationDomain = info.subAgent
        r.source = .sflow5
        r.samplingRate = max(rate, 1)
        r.packets = 1
        r.inIf = inIf
        r.outIf = outIf
        // Source type 0 is an ifIndex: the interface the agent samples on tells the direction.
        if sourceType == 0 && sourceIndex != 0 && inIf != outIf {
            if sourceIndex == inIf { r.direction = 0 } else if sourceIndex == outIf { r.direction = 1 }
        }

        // Records come in any order; the header fills r as it is read, the rest wait until the end.
        var haveHeader = false
        var switchVLAN: UInt16 = 0
        var gatewayNextHop = FlowIP.none
        var skipped = 0
        var index: UInt32 = 0
        while index < recordCount {
            let format = try c.u32(bytes)
            var rc = try c.xdrOpaque(bytes)
            switch format {
            case 1 where !haveHeader:  // sampled_header
                let headerProtocol = try rc.u32(bytes)
                r.bytes = UInt64(try rc.u32(bytes))  // frame_length
                try rc.skip(4)  // stripped
                let header = try rc.xdrOpaque(bytes)
                let layer: PacketLayer?
                switch headerProtocol {
                case 1: layer = .ethernet
                case 11: layer = .ipv4
                case 12: layer = .ipv6
                case 13: layer = .mpls
                default: layer = nil  // token ring, FDDI, PPP, POS…: counted by length, no fields
                }
                if let layer { _ = PacketHeaderParser.parse(bytes, header.offset..<header.end, startingAt: layer, into: &r) }
                haveHeader = true
            case 1001:  // extended_switch: src_vlan, src_priority, dst_vlan, dst_priority
                let vlan = try rc.u32(bytes)
                try rc.skip(12)
                // 0 and all ones mean "not known"; keep the header's tag then.
                if (1...4095).contains(vlan) { switchVLAN = UInt16(vlan) }
            case 1002:  // extended_router: next hop, source and destination mask lengths
                r.nextHop = try address(&rc, bytes, "extended router next hop")
                try rc.skip(8)
            case 1003:  // extended_gateway
                gatewayNextHop = try address(&rc, bytes, "extended gateway next hop")
                try rc.skip(4)  // the router's own AS
                r.srcAS = try rc.u32(bytes)
                try rc.skip(4)  // source peer AS
                r.dstAS = try lastAS(bytes, &rc)
                // Communities and local preference follow; nothing here needs them.
            default:
                skipped += 1
            }
            index += 1
        }
        if switchVLAN != 0 { r.vlan = switchVLAN }
        if r.nextHop.isNone { r.nextHop = gatewayNextHop }
        info.recordsSkipped += skipped
        if haveHeader {
            flows(r)
            info.flowRecords += 1
        }
    }

    /// Reads an `as_path_type dst_as_path<>` and returns the last AS of it (the destination's origin
    /// AS), 0 when the path is empty. Each segment is a type (1 AS_SET, 2 AS_SEQUENCE) and a list.
    private static func lastAS(_ bytes: RawSpan, _ c: inout FlowCursor) throws(FlowDecodeError) -> UInt32 {
        let segments = try c.u32(bytes)
        var last: UInt32 = 0
        var index: UInt32 = 0
        while index < segments {  // each segment takes 8 bytes or throws
            try c.skip(4)  // segment type
            let count = Int(try c.u32(bytes))
            var list = try c.take(count * 4)
            if count > 0 {
                try list.skip((count - 1) * 4)
                last = try list.u32(bytes)
            }
            index += 1
        }
        return last
    }

    /// A counter sample. The record framing is checked in a first pass so that a malformed sample
    /// delivers nothing, like a malformed flow sample.
    private static func counterSample(
        _ bytes: RawSpan, _ body: FlowCursor, expanded: Bool, _ receivedMicros: Int64,
        _ info: inout SFlowDatagramInfo, _ counters: (SFlowInterfaceCounters) -> Void
    ) throws(FlowDecodeError) {
        var c = body
        try c.skip(expanded ? 12 : 8)  // sequence number, source id (type and index apart when expanded)
        let recordCount = try c.u32(bytes)

        var check = c
        var index: UInt32 = 0
        while index < recordCount {
            let format = try check.u32(bytes)
            let rc = try check.xdrOpaque(bytes)
            if format == 1 { try rc.require(SFlowInterfaceCounters.wireSize) }
            index += 1
        }

        index = 0
        while index < recordCount {
            let format = try c.u32(bytes)
            var rc = try c.xdrOpaque(bytes)
            if format == 1 {
                var k = SFlowInterfaceCounters()
                k.receivedMicros = receivedMicros
                k.agent = info.agent
                k.subAgent = info.subAgent
                k.ifIndex = try rc.u32(bytes)
                k.ifType = try rc.u32(bytes)
                k.ifSpeed = try rc.u64(bytes)
                k.direction = try rc.u32(bytes)
                k.status = try rc.u32(bytes)
                k.inOctets = try rc.u64(bytes)
                k.inUnicastPackets = try rc.u32(bytes)
                k.inMulticastPackets = try rc.u32(bytes)
                k.inBroadcastPackets = try rc.u32(bytes)
                k.inDiscards = try rc.u32(bytes)
                k.inErrors = try rc.u32(bytes)
                k.inUnknownProtocols = try rc.u32(bytes)
                k.outOctets = try rc.u64(bytes)
                k.outUnicastPackets = try rc.u32(bytes)
                k.outMulticastPackets = try rc.u32(bytes)
                k.outBroadcastPackets = try rc.u32(bytes)
                k.outDiscards = try rc.u32(bytes)
                k.outErrors = try rc.u32(bytes)
                k.promiscuous = try rc.u32(bytes)
                counters(k)
                info.counterRecords += 1
            } else {
                info.recordsSkipped += 1
            }
            index += 1
        }
    }
}
