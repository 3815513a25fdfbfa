// The one flow record every decoder (NetFlow v5, v9, IPFIX, sFlow) produces, and the address type it
// carries. Fixed-size and trivially copyable, so decoders fill records in place and hand them on through
// rings without allocating.

/// An IPv4 or IPv6 address in 17 bytes: IPv4 is `low` (host order) with `isV4`; IPv6 is two host-order
/// halves of the big-endian address. The all-zero value with `isV4 == false` means "absent".
public struct FlowIP: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var isV4: Bool

    public init(v4: UInt32) {
        high = 0
        low = UInt64(v4)
        isV4 = true
    }

    public init(v6High: UInt64, v6Low: UInt64) {
        high = v6High
        low = v6Low
        isV4 = false
    }

    public static let none = FlowIP(v6High: 0, v6Low: 0)
    public var isNone: Bool { !isV4 && high == 0 && low == 0 }

    public var description: String {
        if isV4 {
            let a = UInt32(truncatingIfNeeded: low)
            return "\(a >> 24).\(a >> 16 & 0xff).\(a >> 8 & 0xff).\(a & 0xff)"
        }
        var groups: [String] = []
        for w in [high, low] {
            for s in stride(from: 48, through: 0, by: -16) { groups.append(String(UInt16(truncatingIfNeeded: w >> UInt64(s)), radix: 16)) }
        }
        return groups.joined(separator: ":")
    }
}

/// Which protocol a record came from.
public enum FlowSource: UInt8, Sendable, BitwiseCopyable {
    case netflow5 = 5
    case netflow9 = 9
    case ipfix = 10
    case sflow5 = 65
    /// sotpd's own capture probe (flows built from packets on an interface).
    case probe = 100
}

/// One flow (or one sampled packet, from sFlow): what the flows hypertable stores. Fields a protocol
/// does not carry stay zero (`FlowIP.none` for addresses). Byte and packet counts are as exported;
/// `samplingRate` (1 when unsampled) says how to scale them, and `scaledBytes`/`scaledPackets` do it.
public struct FlowRecord: Sendable, BitwiseCopyable, Equatable {
    /// When the collector received the export packet, µs since the Unix epoch.
    public var receivedMicros: Int64 = 0
    /// Flow start and end as the exporter reports them (µs since the epoch); 0 when not carried.
    public var startMicros: Int64 = 0
    public var endMicros: Int64 = 0
    public var exporter: FlowIP = .none
    /// NetFlow v9 source id, IPFIX observation domain, sFlow sub-agent id; v5 engine type << 8 | id.
    public var observationDomain: UInt32 = 0
    public var src: FlowIP = .none
    public var dst: FlowIP = .none
    public var nextHop: FlowIP = .none
    public var srcPort: UInt16 = 0
    public var dstPort: UInt16 = 0
    public var proto: UInt8 = 0
    public var tcpFlags: UInt8 = 0
    public var tos: UInt8 = 0
    /// 0 ingress, 1 egress, 255 unknown.
    public var direction: UInt8 = 255
    public var inIf: UInt32 = 0
    public var outIf: UInt32 = 0
    public var srcAS: UInt32 = 0
    public var dstAS: UInt32 = 0
    public var vlan: UInt16 = 0
    /// 48-bit MAC addresses in the low bits; 0 when absent.
    public var srcMAC: UInt64 = 0
    public var dstMAC: UInt64 = 0
    public var bytes: UInt64 = 0
    public var packets: UInt64 = 0
    /// 1 in N packets sampled; 1 when unsampled or unknown.
    public var samplingRate: UInt32 = 1
    public var source: FlowSource = .netflow5

    public init() {}

    public var scaledBytes: UInt64 { bytes &* UInt64(max(samplingRate, 1)) }
    public var scaledPackets: UInt64 { packets &* UInt64(max(samplingRate, 1)) }
}

/// Why a packet (or part of it) could not be decoded. Each case is a counter kind per exporter.
public enum FlowDecodeError: Error, Equatable, Sendable {
    /// The packet or a structure in it ends before its declared size: what was needed and what was there.
    case truncated(needed: Int, available: Int)
    /// The first two bytes are no version this collector decodes.
    case unknownVersion(UInt16)
    /// A header or set field holds an impossible value (a length below its header, a zero-length
    /// template, a field count beyond the set): which field and the value found.
    case malformed(String)
}
