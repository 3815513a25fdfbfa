// What the NetFlow v5, v9 and IPFIX decoders report about each export packet besides the records: the
// header (for sequence tracking per exporter) and counts of what was learned, held and rejected.

/// The header of one export packet and what decoding it produced.
///
/// Sequence numbers mean different things per version (see `nextSequence`):
/// - v5: `flow_sequence` counts flow records; the next packet should carry `sequence + records`.
/// - v9 (RFC 3954 §5.1): counts export packets per source id; the next packet carries `sequence + 1`.
/// - IPFIX (RFC 7011 §3.1): counts data records (including options data records) per observation
///   domain, before this message; the next message carries `sequence + dataRecords`, which is only
///   known when every data set in this one could be decoded (`dataRecordsExact`).
public struct PacketInfo: Sendable, Equatable {
    /// 5, 9 or 10 (IPFIX).
    public var version: UInt16 = 0
    /// Export time from the header, seconds since the Unix epoch.
    public var exportSeconds: UInt32 = 0
    /// v5 and v9: the exporter's uptime at export, ms. 0 for IPFIX.
    public var sysUptimeMillis: UInt32 = 0
    /// The header's sequence number, as the exporter counts (see the type's documentation).
    public var sequence: UInt32 = 0
    /// v9 source id, IPFIX observation domain, v5 engine type << 8 | engine id.
    public var domain: UInt32 = 0
    /// Flow records handed to `emit` while decoding this packet, including records from data sets an
    /// earlier packet carried before their template (`pendingReleased`).
    public var records: Int = 0
    /// Data records and options data records this packet carries, as far as they could be decoded.
    public var dataRecords: Int = 0
    /// False when a data set could not be counted (template unknown, set malformed): `dataRecords` is
    /// then a lower bound and an IPFIX sequence check for the next message would misfire.
    public var dataRecordsExact: Bool = true
    /// Options data records decoded (sampling, system init time, or ignored kinds).
    public var optionsRecords: Int = 0
    /// Template records learned or refreshed.
    public var templates: Int = 0
    /// Options template records learned or refreshed.
    public var optionsTemplates: Int = 0
    /// Template withdrawals (IPFIX template records with no fields), each id or "all" counting once.
    public var withdrawals: Int = 0
    /// Data sets of this packet held because their template has not arrived yet.
    public var pendingHeld: Int = 0
    /// Records decoded from held data sets of earlier packets once their template arrived.
    public var pendingReleased: Int = 0
    /// Data sets whose template never came in time: held sets given up while this packet was decoded
    /// (aged out, or evicted to respect a bound) and sets of this packet that could not be held at all
    /// (too large, or holding disabled). Their records are lost.
    public var templateMisses: Int = 0
    /// Problems found in this packet (and in the template cache while handling it), by kind.
    public var errors = FlowErrorCounts()

    /// All zero, for decoders (such as the sFlow hook) to fill in.
    public init() {}

    /// The sequence number the exporter's next packet should carry when none was lost, or nil when this
    /// packet does not say (IPFIX with a data set that could not be counted).
    public var nextSequence: UInt32? {
        switch version {
        case 5: return sequence &+ UInt32(truncatingIfNeeded: dataRecords)
        case 9: return sequence &+ 1
        default: return dataRecordsExact ? sequence &+ UInt32(truncatingIfNeeded: dataRecords) : nil
        }
    }
}

/// Counts of problems by kind; each is a counter per exporter for /metrics. None of them stops the
/// decoder: the bad part is skipped (and, where its length cannot be trusted, the rest of the packet).
public struct FlowErrorCounts: Sendable, Equatable {
    /// A set header with a length below 4 or past the end of the packet; the rest of the packet is skipped.
    public var malformedSets: Int = 0
    /// A set id that is neither a template, options template nor data set (v9 2…255, IPFIX 0, 1, 4…255).
    public var reservedSets: Int = 0
    /// A template record rejected: no fields, a zero-length field, more fields than allowed, a field
    /// list that runs past its set, a scope count of 0 or above the field count, an id below 256.
    public var badTemplates: Int = 0
    /// A data record that ends past its set (a variable-length field longer than what is left).
    public var shortRecords: Int = 0
    /// Templates dropped to keep the cache within its bounds (per exporter domain and in total).
    public var templateEvictions: Int = 0
    /// A withdrawal for a template that was not known.
    public var unknownWithdrawals: Int = 0
    /// Trailing bytes after the last set that cannot hold a set header (not padding).
    public var trailingBytes: Int = 0

    /// All zero.
    public init() {}

    /// All kinds together.
    public var total: Int {
        malformedSets + reservedSets + badTemplates + shortRecords + templateEvictions
            + unknownWithdrawals + trailingBytes
    }

    mutating func add(_ o: FlowErrorCounts) {
        malformedSets += o.malformedSets
        reservedSets += o.reservedSets
        badTemplates += o.badTemplates
        shortRecords += o.shortRecords
        templateEvictions += o.templateEvictions
        unknownWithdrawals += o.unknownWithdrawals
        trailingBytes += o.trailingBytes
    }
}
