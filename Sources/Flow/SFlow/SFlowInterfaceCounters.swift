// One sFlow generic interface counters record (enterprise 0, format 1 inside a counter sample): the
// IF-MIB counters of one interface as the agent read them, plus who sent them and when they arrived.

/// The generic interface counters (sFlow v5 `if_counters`) of one interface. Counters are as the agent
/// sent them (they wrap; 32-bit packet counters included); a value the agent does not know is sent as
/// all ones and passed on as such.
public struct SFlowInterfaceCounters: Sendable, BitwiseCopyable, Equatable {
    /// When the collector received the datagram, µs since the Unix epoch.
    public var receivedMicros: Int64 = 0
    /// The datagram's agent address and sub-agent id.
    public var agent: FlowIP = .none
    public var subAgent: UInt32 = 0
    /// The interface these counters are for.
    public var ifIndex: UInt32 = 0
    /// IANAifType (6 is ethernetCsmacd).
    public var ifType: UInt32 = 0
    /// Bits per second.
    public var ifSpeed: UInt64 = 0
    /// 0 unknown, 1 full duplex, 2 half duplex, 3 in, 4 out.
    public var direction: UInt32 = 0
    /// Bit 0 ifAdminStatus up, bit 1 ifOperStatus up.
    public var status: UInt32 = 0
    /// IF-MIB ifHCInOctets, then the 32-bit packet, discard and error counters of the receive side.
    public var inOctets: UInt64 = 0
    public var inUnicastPackets: UInt32 = 0
    public var inMulticastPackets: UInt32 = 0
    public var inBroadcastPackets: UInt32 = 0
    public var inDiscards: UInt32 = 0
    public var inErrors: UInt32 = 0
    public var inUnknownProtocols: UInt32 = 0
    /// IF-MIB ifHCOutOctets, then the same counters for the transmit side.
    public var outOctets: UInt64 = 0
    public var outUnicastPackets: UInt32 = 0
    public var outMulticastPackets: UInt32 = 0
    public var outBroadcastPackets: UInt32 = 0
    public var outDiscards: UInt32 = 0
    public var outErrors: UInt32 = 0
    /// ifPromiscuousMode as the agent sends it: IF-MIB says 1 true, 2 false; some agents send 0 for false.
    public var promiscuous: UInt32 = 0

    /// All zero; the decoder fills one per record.
    public init() {}

    /// Bytes the record takes on the wire.
    static let wireSize = 88
}
