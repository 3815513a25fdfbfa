// NetFlow v5: a 24-byte header and up to 30 fixed 48-byte IPv4 flow records. Stateless; a packet is
// either decoded whole or rejected before any record is emitted.

/// Decodes NetFlow v5 export packets into `FlowRecord`s.
public struct NetFlowV5Decoder: Sendable {
    /// Header bytes before the first record.
    public static let headerSize = 24
    /// Bytes per flow record.
    public static let recordSize = 48
    /// The most records a v5 packet may carry.
    public static let maxRecords = 30

    /// Called once per packet with the exporter and its engine (type << 8 | id); a non-nil rate wins over
    /// the header's sampling interval (for exporters that leave it 0 or lie).
    public var samplingOverride: (@Sendable (_ exporter: FlowIP, _ domain: UInt32) -> UInt32?)?

    public init(samplingOverride: (@Sendable (_ exporter: FlowIP, _ domain: UInt32) -> UInt32?)? = nil) {
        self.samplingOverride = samplingOverride
    }

    /// Decodes one packet, calling `emit` for each record in order.
    ///
    /// Record times (`first`/`last`, exporter uptime in ms) become µs since the epoch using the header's
    /// uptime and export time. The sampling rate is the header's low 14 bits (0 means unsampled, 1).
    /// - Throws: `.truncated` when the packet is shorter than its header or its record count says,
    ///   `.unknownVersion` when it is not v5, `.malformed` for a count above 30.
    public func decode(
        _ bytes: RawSpan, exporter: FlowIP, receivedMicros: Int64, emit: (FlowRecord) -> Void
    ) throws(FlowDecodeError) -> PacketInfo {
        let n = bytes.byteCount
        guard n >= Self.headerSize else { throw .truncated(needed: Self.headerSize, available: n) }
        let version = bytes.nfU16(0)
        guard version == 5 else { throw .unknownVersion(version) }
        let count = Int(bytes.nfU16(2))
        guard count <= Self.maxRecords else { throw .malformed("v5 record count \(count), at most 30") }
        let needed = Self.headerSize + count * Self.recordSize
        guard n >= needed else { throw .truncated(needed: needed, available: n) }

        var info = PacketInfo()
        info.version = 5
        info.sysUptimeMillis = bytes.nfU32(4)
        info.exportSeconds = bytes.nfU32(8)
        let nanos = bytes.nfU32(12)
        info.sequence = bytes.nfU32(16)
        info.domain = UInt32(bytes.nfU8(20)) << 8 | UInt32(bytes.nfU8(21))
        // Top two bits: sampling mode (0 none, 1 deterministic, 2 random); low 14 bits: 1 in N.
        let interval = UInt32(bytes.nfU16(22) & 0x3fff)
        var rate = max(interval, 1)
        if let override = samplingOverride, let r = override(exporter, info.domain) { rate = max(r, 1) }

        // Export time in µs; a flow's time is that minus (uptime at export − uptime at the flow), taken
        // as a signed 32-bit difference so uptime wrapping (every 49.7 days) and timestamps a little
        // after the header's (some exporters) both come out right.
        let exportMicros = Int64(info.exportSeconds) * 1_000_000 + Int64(min(nanos, 999_999_999) / 1000)
        let uptime = info.sysUptimeMillis

        var base = FlowRecord()
        base.receivedMicros = receivedMicros
        base.exporter = exporter
        base.observationDomain = info.domain
        base.samplingRate = rate
        base.source = .netflow5

        var at = Self.headerSize
        for _ in 0..<count {
            var r = base
            r.src = FlowIP(v4: bytes.nfU32(at))
            r.dst = FlowIP(v4: bytes.nfU32(at + 4))
            r.nextHop = FlowIP(v4: bytes.nfU32(at + 8))
            r.inIf = UInt32(bytes.nfU16(at + 12))
            r.outIf = UInt32(bytes.nfU16(at + 14))
            r.packets = UInt64(bytes.nfU32(at + 16))
            r.bytes = UInt64(bytes.nfU32(at + 20))
            r.startMicros = exportMicros - Int64(Int32(bitPattern: uptime &- bytes.nfU32(at + 24))) * 1000
            r.endMicros = exportMicros - Int64(Int32(bitPattern: uptime &- bytes.nfU32(at + 28))) * 1000
            r.srcPort = bytes.nfU16(at + 32)
            r.dstPort = bytes.nfU16(at + 34)
            r.tcpFlags = bytes.nfU8(at + 37)
            r.proto = bytes.nfU8(at + 38)
            r.tos = bytes.nfU8(at + 39)
            r.srcAS = UInt32(bytes.nfU16(at + 40))
            r.dstAS = UInt32(bytes.nfU16(at + 42))
            emit(r)
            at += Self.recordSize
        }
        info.records = count
        info.dataRecords = count
        return info
    }
}
