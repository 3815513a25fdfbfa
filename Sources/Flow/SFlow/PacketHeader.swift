// Decoding a captured packet header (sFlow's sampled header; also what IPFIX carries as a data-link frame
// or IP header section) into the address, port and tag fields of a FlowRecord. The capture is usually cut
// short (128 bytes by default), so parsing stops quietly wherever the bytes run out.

/// Where a captured header starts.
public enum PacketLayer: Sendable {
    /// Ethernet II (802.3 frames with an LLC header stop after the MACs), then 802.1Q/802.1ad tags.
    case ethernet
    /// An MPLS label stack; after the bottom label, IPv4 or IPv6 by the first nibble.
    case mpls
    case ipv4
    case ipv6
}

/// How deep parsing got: fields of that layer and those above it were filled.
public enum PacketDepth: Int, Comparable, Sendable {
    /// Nothing usable: too short or not the protocol said.
    case none = 0
    /// MACs and VLAN (or an MPLS stack) but no IP header.
    case link
    /// Addresses, protocol and TOS, but no ports: a later fragment, an unknown protocol, or cut short.
    case network
    /// Ports (or ICMP type and code), and for TCP the flags when the capture reaches them.
    case transport

    public static func < (a: PacketDepth, b: PacketDepth) -> Bool { a.rawValue < b.rawValue }
}

/// What parsing found besides the record's fields: how deep it got, the IP packet's own length, and where
/// the transport header and its payload start (a capture probe counts the first, replay needs the last).
public struct PacketSummary: Sendable, Equatable {
    public var depth: PacketDepth = .none
    /// The IP packet's length from its header (IPv4 total length; IPv6 40 plus the payload length), what
    /// NetFlow counts as a flow's bytes. 0 without an IP header.
    public var ipLength = 0
    /// Offset of the IP header in the span; -1 without one. The packet ends at `networkOffset + ipLength`
    /// (an Ethernet frame's padding comes after), or where the capture stops, whichever is first.
    public var networkOffset = -1
    /// Offset of the transport header in the span; -1 when not reached.
    public var transportOffset = -1
    /// Offset of the transport payload (after the UDP header, or TCP's data offset); -1 when not known.
    public var payloadOffset = -1
    /// The packet is an IP fragment (a first fragment with more to come, or a later one): its payload is
    /// not the whole datagram.
    public var fragment = false

    public init() {}
}

/// Parses captured headers. Loops over tags, labels and IPv6 extension headers are bounded by the
/// constants below as well as by the bytes, so a hostile header costs a few dozen reads at most.
public enum PacketHeaderParser {
    static let maxVLANTags = 4
    static let maxMPLSLabels = 16
    static let maxIPv6ExtensionHeaders = 8

    /// Fills `record` from the header in `bytes[range]`, which starts with `layer`: srcMAC/dstMAC and the
    /// outer VLAN id, src/dst, proto, tos (IPv4 TOS or IPv6 traffic class), ports and tcpFlags. ICMP and
    /// ICMPv6 put `type << 8 | code` in dstPort and 0 in srcPort (as nfdump does). Fields of layers that
    /// are absent or cut off are left as they were. Never throws: a short capture is normal.
    public static func parse(_ bytes: RawSpan, _ range: Range<Int>, startingAt layer: PacketLayer,
                             into record: inout FlowRecord) -> PacketDepth {
        var summary = PacketSummary()
        return parse(bytes, range, startingAt: layer, into: &record, summary: &summary)
    }

    /// `parse` that also fills `summary` (its depth is the value returned).
    @discardableResult
    public static func parse(_ bytes: RawSpan, _ range: Range<Int>, startingAt layer: PacketLayer,
                             into record: inout FlowRecord, summary: inout PacketSummary) -> PacketDepth {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.byteCount, "range outside the span")
        let at = range.lowerBound, end = range.upperBound
        let depth: PacketDepth
        switch layer {
        case .ethernet: depth = ethernet(bytes, at, end, &record, &summary)
        case .mpls: depth = mpls(bytes, at, end, &record, &summary)
        case .ipv4: depth = ipv4(bytes, at, end, &record, &summary)
        case .ipv6: depth = ipv6(bytes, at, end, &record, &summary)
        }
        summary.depth = depth
        return depth
    }

    private static func ethernet(_ bytes: RawSpan, _ start: Int, _ end: Int, _ r: inout FlowRecord, _ m: inout PacketSummary) -> PacketDepth {
        guard end - start >= 14 else { return .none }
        r.dstMAC = mac(bytes, start)
        r.srcMAC = mac(bytes, start + 6)
        var type = UInt16(bigEndian: bytes.flowLoad(start + 12))
        var at = start + 14
        var tags = 0
        // 0x8100 802.1Q, 0x88a8 802.1ad S-tag, 0x9100 the pre-standard QinQ outer tag.
        while type == 0x8100 || type == 0x88a8 || type == 0x9100 {
            guard tags < maxVLANTags, end - at >= 4 else { return .link }
            if tags == 0 { r.vlan = UInt16(bigEndian: bytes.flowLoad(at)) & 0x0fff }
            type = UInt16(bigEndian: bytes.flowLoad(at + 2))
            at += 4
            tags += 1
        }
        let next: PacketDepth
        switch type {
        case 0x0800: next = ipv4(bytes, at, end, &r, &m)
        case 0x86dd: next = ipv6(bytes, at, end, &r, &m)
        case 0x8847, 0x8848: next = mpls(bytes, at, end, &r, &m)
        default: next = .none
        }
        return max(next, .link)
    }

    private static func mac(_ bytes: RawSpan, _ at: Int) -> UInt64 {
        UInt64(UInt16(bigEndian: bytes.flowLoad(at))) << 32 | UInt64(UInt32(bigEndian: bytes.flowLoad(at + 2)))
    }

    private static func mpls(_ bytes: RawSpan, _ start: Int, _ end: Int, _ r: inout FlowRecord, _ m: inout PacketSummary) -> PacketDepth {
        var at = start
        var labels = 0
        while true {
            guard labels < maxMPLSLabels, end - at >= 4 else { return labels == 0 ? .none : .link }
            let entry = UInt32(bigEndian: bytes.flowLoad(at))
            at += 4
            labels += 1
            if entry & 0x100 != 0 { break }  // bottom of stack
        }
        // MPLS says nothing about the payload; IP is the common case and its version nibble tells which.
        guard end - at >= 1 else { return .link }
        let nibble = bytes.flowLoad(at, as: UInt8.self) >> 4
        let next: PacketDepth
        switch nibble {
        case 4: next = ipv4(bytes, at, end, &r, &m)
        case 6: next = ipv6(bytes, at, end, &r, &m)
        default: next = .none
        }
        return max(next, .link)
    }

    private static func ipv4(_ bytes: RawSpan, _ at: Int, _ end: Int, _ r: inout FlowRecord, _ m: inout PacketSummary) -> PacketDepth {
        guard end - at >= 20 else { return .none }
        let vihl: UInt8 = bytes.flowLoad(at)
        let ihl = Int(vihl & 0x0f) * 4
        guard vihl >> 4 == 4, ihl >= 20 else { return .none }
        r.tos = bytes.flowLoad(at + 1)
        m.networkOffset = at
        m.ipLength = Int(UInt16(bigEndian: bytes.flowLoad(at + 2)))
        let flagsAndOffset = UInt16(bigEndian: bytes.flowLoad(at + 6))
        let fragmentOffset = flagsAndOffset & 0x1fff
        m.fragment = fragmentOffset != 0 || flagsAndOffset & 0x2000 != 0
        r.proto = bytes.flowLoad(at + 9)
        r.src = FlowIP(v4: UInt32(bigEndian: bytes.flowLoad(at + 12)))
        r.dst = FlowIP(v4: UInt32(bigEndian: bytes.flowLoad(at + 16)))
        // Only the first fragment carries the transport header.
        guard fragmentOffset == 0 else { return .network }
        return transport(bytes, at + ihl, end, r.proto, &r, &m)
    }

    private static func ipv6(_ bytes: RawSpan, _ start: Int, _ end: Int, _ r: inout FlowRecord, _ m: inout PacketSummary) -> PacketDepth {
        guard end - start >= 40 else { return .none }
        let first = UInt32(bigEndian: bytes.flowLoad(start))
        guard first >> 28 == 6 else { return .none }
        r.tos = UInt8(truncatingIfNeeded: first >> 20)
        m.networkOffset = start
        m.ipLength = 40 + Int(UInt16(bigEndian: bytes.flowLoad(start + 4)))
        r.src = FlowIP(v6High: UInt64(bigEndian: bytes.flowLoad(start + 8)), v6Low: UInt64(bigEndian: bytes.flowLoad(start + 16)))
        r.dst = FlowIP(v6High: UInt64(bigEndian: bytes.flowLoad(start + 24)), v6Low: UInt64(bigEndian: bytes.flowLoad(start + 32)))
        var next: UInt8 = bytes.flowLoad(start + 6)
        var at = start + 40
        var seen = 0
        // Walk the extension headers to the upper-layer protocol. Where the walk stops early (cut off,
        // too many headers, a later fragment), proto is the last next-header value known.
        walk: while true {
            switch next {
            case 0, 43, 60:  // hop-by-hop, routing, destination options: length in 8-octet units after the first 8
                guard seen < maxIPv6ExtensionHeaders, end - at >= 2 else { break walk }
                let length = (Int(bytes.flowLoad(at + 1, as: UInt8.self)) + 1) * 8
                next = bytes.flowLoad(at)
                at += length
            case 44:  // fragment: fixed 8 bytes; offset in the top 13 bits of bytes 2-3
                guard seen < maxIPv6ExtensionHeaders, end - at >= 8 else { break walk }
                next = bytes.flowLoad(at)
                let offsetAndFlags = UInt16(bigEndian: bytes.flowLoad(at + 2))
                let fragmentOffset = offsetAndFlags >> 3
                m.fragment = fragmentOffset != 0 || offsetAndFlags & 1 != 0
                at += 8
                if fragmentOffset != 0 {
                    r.proto = next
                    return .network
                }
            case 51:  // authentication header: length in 4-octet units after the first 8
                guard seen < maxIPv6ExtensionHeaders, end - at >= 2 else { break walk }
                let length = (Int(bytes.flowLoad(at + 1, as: UInt8.self)) + 2) * 4
                next = bytes.flowLoad(at)
                at += length
            default:
                r.proto = next
                return transport(bytes, at, end, next, &r, &m)
            }
            seen += 1
        }
        r.proto = next
        return .network
    }

    private static func transport(_ bytes: RawSpan, _ at: Int, _ end: Int, _ proto: UInt8, _ r: inout FlowRecord, _ m: inout PacketSummary) -> PacketDepth {
        guard at <= end else { return .network }
        m.transportOffset = at
        switch proto {
        case 6:  // TCP: flags are byte 13 (CWR ECE URG ACK PSH RST SYN FIN), the data offset byte 12's top nibble
            guard end - at >= 4 else { return .network }
            r.srcPort = UInt16(bigEndian: bytes.flowLoad(at))
            r.dstPort = UInt16(bigEndian: bytes.flowLoad(at + 2))
            if end - at >= 14 {
                r.tcpFlags = bytes.flowLoad(at + 13)
                m.payloadOffset = at + Int(bytes.flowLoad(at + 12, as: UInt8.self) >> 4) * 4
            }
            return .transport
        case 17, 136:  // UDP, UDP-Lite: ports first, 8-byte header
            guard end - at >= 4 else { return .network }
            r.srcPort = UInt16(bigEndian: bytes.flowLoad(at))
            r.dstPort = UInt16(bigEndian: bytes.flowLoad(at + 2))
            m.payloadOffset = at + 8
            return .transport
        case 132:  // SCTP: ports first
            guard end - at >= 4 else { return .network }
            r.srcPort = UInt16(bigEndian: bytes.flowLoad(at))
            r.dstPort = UInt16(bigEndian: bytes.flowLoad(at + 2))
            return .transport
        case 1, 58:  // ICMP, ICMPv6
            guard end - at >= 2 else { return .network }
            r.srcPort = 0
            r.dstPort = UInt16(bigEndian: bytes.flowLoad(at))  // type << 8 | code
            return .transport
        default:
            return .network
        }
    }
}
