// A NetFlow v9 / IPFIX template compiled once when it arrives into a list of field operations (offset,
// length, what to do), so decoding a data record is one loop over those with no lookups.

import Synchronization

/// When a template or domain was last learned, refreshed or used, in decoder ticks, for eviction. A
/// reference, so renewing it changes nothing inside the decoder's dictionaries: their modify accessors
/// allocate coroutine frames (and copy storage a temporary still holds), and neither a template refresh
/// nor a data set may allocate. Relaxed atomics keep it Sendable at the cost of a plain store.
final class Age: Sendable {
    private let tick: Atomic<UInt64>

    init(_ t: UInt64) { tick = Atomic(t) }

    var value: UInt64 { tick.load(ordering: .relaxed) }

    @inline(__always)
    func renew(_ t: UInt64) { tick.store(t, ordering: .relaxed) }
}

/// One field of a template as the exporter sent it. `enterprise` is the IPFIX private enterprise number
/// (0 for IANA elements and always for v9); elements are kept by (enterprise, id) even when unmapped.
struct TemplateField: Equatable, Sendable {
    var id: UInt16
    var length: UInt16
    var enterprise: UInt32
}

/// IPFIX's marker for a variable-length field (RFC 7011 §7).
let variableLength: UInt16 = 0xffff

/// What a field op does with its bytes. Kinds before `startNTP` are unsigned integers of 1…8 bytes
/// (reduced-size encoding); the rest need an exact length.
enum FieldKind: UInt8, Sendable {
    case skip
    // Integers.
    case bytes, packets, proto, tos, tcpFlags, srcPort, dstPort, inIf, outIf, srcAS, dstAS, vlan, direction
    case startUptime, endUptime, startSeconds, endSeconds, startMillis, endMillis
    case startDeltaMicros, endDeltaMicros, sysInitMillis
    case samplerID, samplingInterval, samplingAlgorithm, samplerMode, samplerRandomInterval
    case selectorAlgorithm, packetInterval, packetSpace, samplingSize, samplingPopulation
    // Fixed sizes.
    case startNTP, endNTP  // 8 (dateTimeMicroseconds / dateTimeNanoseconds, NTP format)
    case srcV4, dstV4, nextHopV4  // 4
    case srcV6, dstV6, nextHopV6  // 16
    case srcMAC, dstMAC  // 6

    var isInteger: Bool { rawValue < FieldKind.startNTP.rawValue }

    /// Whether a field of `length` bytes can be read as this kind.
    func accepts(length: Int) -> Bool {
        switch self {
        case .skip: return true
        case .startNTP, .endNTP: return length == 8
        case .srcV4, .dstV4, .nextHopV4: return length == 4
        case .srcV6, .dstV6, .nextHopV6: return length == 16
        case .srcMAC, .dstMAC: return length == 6
        default: return length >= 1 && length <= 8
        }
    }
}

/// Which record value a field feeds; when a template carries several fields for one target (octet
/// delta and total counts, ms and s timestamps), the one with the lowest priority number wins, and of
/// equal ones (an element repeated) the last: Huawei and Cisco put a tunnel's outer header first and
/// the inner flow's fields after it, and nfacctd reports the latter. IPv4 and IPv6 addresses are
/// separate targets; which family a record has is decided per record (see `applyField`).
private enum Target: Int, CaseIterable {
    case bytes, packets, proto, tos, tcpFlags, srcPort, dstPort, inIf, outIf, srcAS, dstAS, vlan, direction
    case src4, dst4, nextHop4, src6, dst6, nextHop6, srcMAC, dstMAC, start, end, sysInit
    case samplerID, samplingInterval, samplingAlgorithm, samplerMode, samplerRandomInterval
    case selectorAlgorithm, packetInterval, packetSpace, samplingSize, samplingPopulation
}

/// The IANA information elements (same numbers as v9 field types) this decoder maps, with their target
/// and priority. v9 defines only the ids below 128 that appear here; the rest are IPFIX.
private func mapping(_ ie: UInt16) -> (kind: FieldKind, target: Target, priority: Int)? {
    switch ie {
    case 1: return (.bytes, .bytes, 0)  // octetDeltaCount
    case 85: return (.bytes, .bytes, 1)  // octetTotalCount
    case 23: return (.bytes, .bytes, 2)  // postOctetDeltaCount
    case 2: return (.packets, .packets, 0)  // packetDeltaCount
    case 86: return (.packets, .packets, 1)  // packetTotalCount
    case 24: return (.packets, .packets, 2)  // postPacketDeltaCount
    case 4: return (.proto, .proto, 0)
    case 5: return (.tos, .tos, 0)
    case 6: return (.tcpFlags, .tcpFlags, 0)
    case 7: return (.srcPort, .srcPort, 0)
    case 11: return (.dstPort, .dstPort, 0)
    case 8: return (.srcV4, .src4, 0)
    case 27: return (.srcV6, .src6, 0)
    case 12: return (.dstV4, .dst4, 0)
    case 28: return (.dstV6, .dst6, 0)
    case 15: return (.nextHopV4, .nextHop4, 0)
    case 62: return (.nextHopV6, .nextHop6, 0)
    case 10: return (.inIf, .inIf, 0)
    case 14: return (.outIf, .outIf, 0)
    case 16: return (.srcAS, .srcAS, 0)
    case 17: return (.dstAS, .dstAS, 0)
    case 58: return (.vlan, .vlan, 0)  // vlanId (source VLAN)
    case 243: return (.vlan, .vlan, 1)  // dot1qVlanId
    case 59: return (.vlan, .vlan, 2)  // postVlanId (destination VLAN)
    case 56: return (.srcMAC, .srcMAC, 0)  // sourceMacAddress (v9 IN_SRC_MAC)
    case 81: return (.srcMAC, .srcMAC, 1)  // postSourceMacAddress (v9 OUT_SRC_MAC)
    case 80: return (.dstMAC, .dstMAC, 0)  // destinationMacAddress (v9 IN_DST_MAC)
    case 57: return (.dstMAC, .dstMAC, 1)  // postDestinationMacAddress (v9 OUT_DST_MAC)
    case 61: return (.direction, .direction, 0)
    case 152: return (.startMillis, .start, 0)
    case 154: return (.startNTP, .start, 1)
    case 156: return (.startNTP, .start, 2)
    case 150: return (.startSeconds, .start, 3)
    case 158: return (.startDeltaMicros, .start, 4)
    case 22: return (.startUptime, .start, 5)  // v9 FIRST_SWITCHED / flowStartSysUpTime
    case 153: return (.endMillis, .end, 0)
    case 155: return (.endNTP, .end, 1)
    case 157: return (.endNTP, .end, 2)
    case 151: return (.endSeconds, .end, 3)
    case 159: return (.endDeltaMicros, .end, 4)
    case 21: return (.endUptime, .end, 5)  // v9 LAST_SWITCHED / flowEndSysUpTime
    case 160: return (.sysInitMillis, .sysInit, 0)  // systemInitTimeMilliseconds
    case 302: return (.samplerID, .samplerID, 0)  // selectorId
    case 48: return (.samplerID, .samplerID, 1)  // samplerId (v9 FLOW_SAMPLER_ID)
    case 34: return (.samplingInterval, .samplingInterval, 0)
    case 35: return (.samplingAlgorithm, .samplingAlgorithm, 0)
    case 49: return (.samplerMode, .samplerMode, 0)
    case 50: return (.samplerRandomInterval, .samplerRandomInterval, 0)
    case 304: return (.selectorAlgorithm, .selectorAlgorithm, 0)
    case 305: return (.packetInterval, .packetInterval, 0)
    case 306: return (.packetSpace, .packetSpace, 0)
    case 309: return (.samplingSize, .samplingSize, 0)
    case 310: return (.samplingPopulation, .samplingPopulation, 0)
    default: return nil
    }
}

/// One step of decoding a record. In a fixed-length template `offset` is the field's place in the
/// record and only mapped fields have ops; in a variable-length one every field has an op, in order,
/// and offsets are found while walking (`length == variableLength` reads the length from the record).
struct FieldOp: Sendable {
    var offset: UInt16
    var length: UInt16
    var kind: FieldKind
    /// For integers in a fixed-length template: the 8 bytes that end with the field are loaded (at
    /// `offset + length − 8`, so the record must not start in a packet's first 8 bytes, which a header
    /// always fills) and masked, one load and no branch on the length.
    var mask: UInt64

    init(offset: UInt16, length: UInt16, kind: FieldKind) {
        self.offset = offset
        self.length = length
        self.kind = kind
        mask = kind.isInteger && length >= 1 && length <= 8 ? integerMask(Int(length)) : 0
    }
}

/// The low `length` bytes (1…8) of a 64-bit load.
@inline(__always)
func integerMask(_ length: Int) -> UInt64 { UInt64.max >> UInt64(truncatingIfNeeded: 64 - 8 * length) }

/// How a record's start or end time is carried, when it needs the packet or domain to become absolute.
enum TimeMode: UInt8, Sendable {
    case none, absolute, uptime, delta
}

/// A template ready for decoding data records.
struct CompiledTemplate: Sendable {
    var id: UInt16
    var isOptions: Bool
    /// Scope fields at the front (options templates only).
    var scopeCount: UInt16
    /// As sent, for comparing a refresh with what is cached and for persistence.
    var fields: [TemplateField]
    var ops: [FieldOp]
    /// The record length of a fixed-length template; the least a variable-length record can take.
    var minLength: Int
    var variable: Bool
    var startMode: TimeMode
    var endMode: TimeMode
    /// The template carries a sampler or selector id: the rate comes from that sampler's options.
    var refersToSampler: Bool
    /// The template carries a sampling interval itself.
    var carriesRate: Bool
    /// When it was last learned, refreshed or used.
    let age = Age(0)
    /// The fast path for fixed-length data templates (see FixedLayout); nil for the rest.
    var layout: FixedLayout?

    /// Why a template cannot be used.
    enum Rejection: Error, Equatable {
        case noFields, tooManyFields, zeroLengthField, variableLengthInV9, recordTooLong, badScopeCount
    }

    /// Compiles `fields`. v9 options scope fields (System, Interface, … — their type numbers are not
    /// information elements) are skipped; IPFIX scope fields are elements like any other.
    init(id: UInt16, fields: [TemplateField], scopeCount: Int, isOptions: Bool, ipfix: Bool, maxFields: Int)
        throws(Rejection)
    {
        guard !fields.isEmpty else { throw .noFields }
        guard fields.count <= maxFields else { throw .tooManyFields }
        guard scopeCount >= 0, scopeCount <= fields.count, !(isOptions && ipfix && scopeCount == 0) else {
            throw .badScopeCount
        }
        var chosen = [Int](repeating: -1, count: Target.allCases.count)  // field index per target
        var chosenPriority = [Int](repeating: .max, count: Target.allCases.count)
        var kinds = [FieldKind](repeating: .skip, count: fields.count)
        var minLength = 0
        var variable = false
        for (i, f) in fields.enumerated() {
            if f.length == 0 { throw .zeroLengthField }
            if f.length == variableLength {
                guard ipfix else { throw .variableLengthInV9 }
                variable = true
                minLength += 1
            } else {
                minLength += Int(f.length)
            }
            let isV9Scope = !ipfix && i < scopeCount
            guard f.enterprise == 0, !isV9Scope, let m = mapping(f.id) else { continue }
            // A variable-length field may still hold a mappable value; its length is checked per record.
            guard f.length == variableLength || m.kind.accepts(length: Int(f.length)) else { continue }
            let t = m.target.rawValue
            if m.priority <= chosenPriority[t] {
                chosen[t] = i
                chosenPriority[t] = m.priority
            }
        }
        for t in 0..<chosen.count where chosen[t] >= 0 {
            kinds[chosen[t]] = mapping(fields[chosen[t]].id)!.kind
        }
        // Records are at most a set long, and a set at most 65535 bytes.
        guard minLength <= 65535 - 4 else { throw .recordTooLong }

        var ops: [FieldOp] = []
        var offset = 0
        for (i, f) in fields.enumerated() {
            if variable {
                ops.append(FieldOp(offset: 0, length: f.length, kind: kinds[i]))
            } else {
                if kinds[i] != .skip { ops.append(FieldOp(offset: UInt16(offset), length: f.length, kind: kinds[i])) }
                offset += Int(f.length)
            }
        }
        let startKind = chosen[Target.start.rawValue] >= 0 ? kinds[chosen[Target.start.rawValue]] : .skip
        let endKind = chosen[Target.end.rawValue] >= 0 ? kinds[chosen[Target.end.rawValue]] : .skip

        self.id = id
        self.isOptions = isOptions
        self.scopeCount = UInt16(scopeCount)
        self.fields = fields
        self.ops = ops
        self.minLength = minLength
        self.variable = variable
        self.startMode = Self.mode(startKind)
        self.endMode = Self.mode(endKind)
        self.refersToSampler = chosen[Target.samplerID.rawValue] >= 0
        self.carriesRate = [Target.samplingInterval, .samplerRandomInterval, .packetInterval, .samplingPopulation]
            .contains { chosen[$0.rawValue] >= 0 }
        self.layout = variable || isOptions ? nil : FixedLayout(ops)
    }

    private static func mode(_ k: FieldKind) -> TimeMode {
        switch k {
        case .skip: return .none
        case .startUptime, .endUptime: return .uptime
        case .startDeltaMicros, .endDeltaMicros: return .delta
        default: return .absolute
        }
    }
}

/// Values a record carries that are not flow fields but decide how the flow fields are read: raw uptime
/// and delta times (made absolute after the record), sampler references and sampling parameters.
struct RecordExtras {
    var startRaw: UInt64 = 0
    var endRaw: UInt64 = 0
    var sysInitMillis: UInt64 = 0
    var samplerID: UInt64 = 0
    var samplingInterval: UInt64 = 0
    var samplingAlgorithm: UInt64 = 0
    var samplerMode: UInt64 = 0
    var samplerRandomInterval: UInt64 = 0
    var selectorAlgorithm: UInt64 = 0
    var packetInterval: UInt64 = 0
    var packetSpace: UInt64 = 0
    var samplingSize: UInt64 = 0
    var samplingPopulation: UInt64 = 0

    /// 1 in N as the record's sampling fields describe it, or nil when they do not give one.
    /// samplingInterval (34) and samplerRandomInterval (50) are N; n-out-of-N selection (309/310) is
    /// population ÷ size; count-based selection (305/306) selects `interval` packets then skips `space`.
    var rate: UInt32? {
        var n: UInt64 = 0
        if samplingInterval > 0 {
            n = samplingInterval
        } else if samplerRandomInterval > 0 {
            n = samplerRandomInterval
        } else if samplingPopulation > 0, samplingSize > 0 {
            n = (samplingPopulation + samplingSize / 2) / samplingSize
        } else if packetInterval > 0 {
            n = (packetInterval &+ packetSpace) / packetInterval
        }
        guard n > 0 else { return nil }
        return UInt32(clamping: n)
    }
}

/// Seconds between the NTP epoch (1900) and the Unix epoch.
private let ntpToUnixSeconds: UInt64 = 2_208_988_800

/// An NTP timestamp (RFC 7011 dateTimeMicroseconds/-Nanoseconds) as µs since the Unix epoch.
@inline(__always)
func ntpMicros(_ v: UInt64) -> Int64 {
    let seconds = Int64(truncatingIfNeeded: v >> 32) &- Int64(ntpToUnixSeconds)
    let micros = Int64(truncatingIfNeeded: ((v & 0xffff_ffff) &* 1_000_000) >> 32)
    return seconds &* 1_000_000 &+ micros
}

/// Reads one field of `length` bytes at `at` into the record or the extras. Callers have checked that
/// the bytes are there, that `kind` accepts `length` and that `at + length ≥ 8` (see `FieldOp.mask`).
@inline(__always)
func applyField(_ kind: FieldKind, _ b: RawSpan, _ at: Int, _ length: Int, _ r: inout FlowRecord, _ x: inout RecordExtras) {
    if kind.isInteger {
        applyInteger(kind, b.nfU64(at &+ length &- 8) & integerMask(length), &r, &x)
    } else {
        applyFixedSize(kind, b, at, &r)
    }
}

/// One op of a fixed-length template's record starting at `start`.
@inline(__always)
func applyOp(_ op: FieldOp, _ b: RawSpan, _ start: Int, _ r: inout FlowRecord, _ x: inout RecordExtras) {
    if op.kind.isInteger {
        applyInteger(op.kind, b.nfU64(start &+ Int(op.offset) &+ Int(op.length) &- 8) & op.mask, &r, &x)
    } else {
        applyFixedSize(op.kind, b, start &+ Int(op.offset), &r)
    }
}

@inline(__always)
func applyInteger(_ kind: FieldKind, _ v: UInt64, _ r: inout FlowRecord, _ x: inout RecordExtras) {
        switch kind {
        case .bytes: r.bytes = v
        case .packets: r.packets = v
        case .proto: r.proto = UInt8(truncatingIfNeeded: v)
        case .tos: r.tos = UInt8(truncatingIfNeeded: v)
        case .tcpFlags: r.tcpFlags = UInt8(truncatingIfNeeded: v)
        case .srcPort: r.srcPort = UInt16(truncatingIfNeeded: v)
        case .dstPort: r.dstPort = UInt16(truncatingIfNeeded: v)
        case .inIf: r.inIf = UInt32(truncatingIfNeeded: v)
        case .outIf: r.outIf = UInt32(truncatingIfNeeded: v)
        case .srcAS: r.srcAS = UInt32(truncatingIfNeeded: v)
        case .dstAS: r.dstAS = UInt32(truncatingIfNeeded: v)
        case .vlan: r.vlan = UInt16(truncatingIfNeeded: v & 0x0fff)
        case .direction: r.direction = UInt8(truncatingIfNeeded: v)
        case .startUptime, .startDeltaMicros: x.startRaw = v
        case .endUptime, .endDeltaMicros: x.endRaw = v
        case .startSeconds: r.startMicros = Int64(truncatingIfNeeded: v) &* 1_000_000
        case .endSeconds: r.endMicros = Int64(truncatingIfNeeded: v) &* 1_000_000
        case .startMillis: r.startMicros = Int64(truncatingIfNeeded: v) &* 1000
        case .endMillis: r.endMicros = Int64(truncatingIfNeeded: v) &* 1000
        case .sysInitMillis: x.sysInitMillis = v
        case .samplerID: x.samplerID = v
        case .samplingInterval: x.samplingInterval = v
        case .samplingAlgorithm: x.samplingAlgorithm = v
        case .samplerMode: x.samplerMode = v
        case .samplerRandomInterval: x.samplerRandomInterval = v
        case .selectorAlgorithm: x.selectorAlgorithm = v
        case .packetInterval: x.packetInterval = v
        case .packetSpace: x.packetSpace = v
        case .samplingSize: x.samplingSize = v
        case .samplingPopulation: x.samplingPopulation = v
        default: break
        }
}

@inline(__always)
func applyFixedSize(_ kind: FieldKind, _ b: RawSpan, _ at: Int, _ r: inout FlowRecord) {
    switch kind {
    case .startNTP: r.startMicros = ntpMicros(b.nfU64(at))
    case .endNTP: r.endMicros = ntpMicros(b.nfU64(at))
    case .srcV4: setV4(&r.src, b.nfU32(at))
    case .dstV4: setV4(&r.dst, b.nfU32(at))
    case .nextHopV4: setV4(&r.nextHop, b.nfU32(at))
    case .srcV6: setV6(&r.src, b.nfU64(at), b.nfU64(at + 8))
    case .dstV6: setV6(&r.dst, b.nfU64(at), b.nfU64(at + 8))
    case .nextHopV6: setV6(&r.nextHop, b.nfU64(at), b.nfU64(at + 8))
    case .srcMAC: r.srcMAC = UInt64(b.nfU16(at)) << 32 | UInt64(b.nfU32(at + 2))
    case .dstMAC: r.dstMAC = UInt64(b.nfU16(at)) << 32 | UInt64(b.nfU32(at + 2))
    default: break
    }
}

/// Templates may carry both an IPv4 and an IPv6 field for one address (Cisco IOS XR v9 does, filling
/// the family of the flow and zeroing the other; Huawei puts an IPv6 outer header and the IPv4 inner
/// flow in one record). A non-zero IPv4 address wins, then a non-zero IPv6 one; a zero IPv4 address
/// is kept only when nothing better is there. With one family in the template this is a plain store.
@inline(__always)
func setV4(_ a: inout FlowIP, _ v: UInt32) {
    if v != 0 || a.isV4 || (a.high | a.low) == 0 { a = FlowIP(v4: v) }
}

@inline(__always)
func setV6(_ a: inout FlowIP, _ high: UInt64, _ low: UInt64) {
    if (high | low) != 0, !(a.isV4 && a.low != 0) { a = FlowIP(v6High: high, v6Low: low) }
}
