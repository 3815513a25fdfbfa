// One entry point for every export protocol on a flow port: the version in the first bytes picks the
// decoder. NetFlow v5, v9 and IPFIX are here; sFlow v5 plugs in through `sflow`.

/// Decodes any supported export packet, keeping template state for v9 and IPFIX.
public struct FlowDecoder: Sendable {
    /// Decodes one sFlow datagram, for the sFlow decoder to plug in (it lives in its own folder).
    public typealias PacketHook = @Sendable (
        _ bytes: RawSpan, _ exporter: FlowIP, _ receivedMicros: Int64, _ emit: (FlowRecord) -> Void
    ) throws(FlowDecodeError) -> PacketInfo

    /// Decodes NetFlow v5 (stateless; holds the sampling override).
    public var v5: NetFlowV5Decoder
    /// Decodes v9 and IPFIX and keeps their templates, sampling state and held data sets.
    public var templates: TemplateDecoder
    /// Handles sFlow v5 datagrams; when nil they are rejected as `.unknownVersion(0)`.
    public var sflow: PacketHook?

    /// A decoder from its parts; the defaults have no sampling override, default limits and no sFlow.
    public init(v5: NetFlowV5Decoder = NetFlowV5Decoder(), templates: TemplateDecoder = TemplateDecoder(), sflow: PacketHook? = nil) {
        self.v5 = v5
        self.templates = templates
        self.sflow = sflow
    }

    /// The protocol a packet claims to be by its first bytes: a 16-bit version 5, 9 or 10 (NetFlow v5,
    /// v9, IPFIX) or sFlow's 32-bit version 5. Nil for anything else.
    public static func detect(_ bytes: RawSpan) -> FlowSource? {
        guard bytes.byteCount >= 2 else { return nil }
        switch bytes.nfU16(0) {
        case 5: return .netflow5
        case 9: return .netflow9
        case 10: return .ipfix
        case 0: return bytes.byteCount >= 4 && bytes.nfU16(2) == 5 ? .sflow5 : nil
        default: return nil
        }
    }

    /// Decodes one packet with the decoder its version selects, calling `emit` per flow record.
    /// - Throws: what that decoder throws; `.unknownVersion` for other versions (and for sFlow without
    ///   a hook), `.truncated` for fewer than 2 bytes.
    public mutating func decode(
        _ bytes: RawSpan, exporter: FlowIP, receivedMicros: Int64, emit: (FlowRecord) -> Void
    ) throws(FlowDecodeError) -> PacketInfo {
        guard bytes.byteCount >= 2 else { throw .truncated(needed: 2, available: bytes.byteCount) }
        switch Self.detect(bytes) {
        case .netflow5:
            return try v5.decode(bytes, exporter: exporter, receivedMicros: receivedMicros, emit: emit)
        case .netflow9, .ipfix:
            return try templates.decode(bytes, exporter: exporter, receivedMicros: receivedMicros, emit: emit)
        case .sflow5:
            guard let sflow else { throw .unknownVersion(0) }
            return try sflow(bytes, exporter, receivedMicros, emit)
        case nil, .probe:  // detect never says .probe: nothing exports it
            throw .unknownVersion(bytes.nfU16(0))
        }
    }
}
