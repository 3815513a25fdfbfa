// The data-record fast path: a fixed-length template's ops rearranged into one slot per record field,
// so a record decodes as straight-line code. The op loop dispatches on every field (two indirect jumps
// an op, mispredicted often enough to cost ~140 ns a 17-field record on this machine); here each field
// the template may carry is one well-predicted branch and one 8-byte load.

/// Where one integer value sits in a record: the 8 bytes ending with it start at `at` (relative to the
/// record, may be negative down to −7: records never start in a packet's first 8 bytes), and `mask`
/// keeps its `length` low bytes. A zero mask means the template does not carry it.
struct Slot: Sendable {
    var at: Int32 = 0
    var mask: UInt64 = 0

    init() {}

    init(_ op: FieldOp) {
        at = Int32(op.offset) + Int32(op.length) - 8
        mask = integerMask(Int(op.length))
    }

    @inline(__always)
    func load(_ b: RawSpan, _ record: Int) -> UInt64 { b.nfU64(record &+ Int(at)) & mask }
}

/// A fixed-length data template (without sampling parameters of its own) as slots.
struct FixedLayout: Sendable {
    var bytes = Slot(), packets = Slot(), proto = Slot(), tos = Slot(), tcpFlags = Slot()
    var srcPort = Slot(), dstPort = Slot(), inIf = Slot(), outIf = Slot(), srcAS = Slot(), dstAS = Slot()
    var vlan = Slot(), direction = Slot(), sysInit = Slot(), samplerID = Slot()
    var start = Slot(), end = Slot()
    var startKind = FieldKind.skip, endKind = FieldKind.skip
    /// IPv4 addresses and MACs load like integers.
    var src4 = Slot(), dst4 = Slot(), nextHop4 = Slot(), srcMAC = Slot(), dstMAC = Slot()
    /// IPv6 addresses: record offsets, −1 when absent.
    var src6: Int32 = -1, dst6: Int32 = -1, nextHop6: Int32 = -1

    /// Nil when some op has no slot (sampling parameters in data records), which keeps the op loop.
    init?(_ ops: [FieldOp]) {
        for op in ops {
            let s = Slot(op)
            switch op.kind {
            case .bytes: bytes = s
            case .packets: packets = s
            case .proto: proto = s
            case .tos: tos = s
            case .tcpFlags: tcpFlags = s
            case .srcPort: srcPort = s
            case .dstPort: dstPort = s
            case .inIf: inIf = s
            case .outIf: outIf = s
            case .srcAS: srcAS = s
            case .dstAS: dstAS = s
            case .vlan: vlan = s
            case .direction: direction = s
            case .sysInitMillis: sysInit = s
            case .samplerID: samplerID = s
            case .startUptime, .startDeltaMicros, .startSeconds, .startMillis, .startNTP:
                start = s
                startKind = op.kind
            case .endUptime, .endDeltaMicros, .endSeconds, .endMillis, .endNTP:
                end = s
                endKind = op.kind
            case .srcV4: src4 = s
            case .dstV4: dst4 = s
            case .nextHopV4: nextHop4 = s
            case .srcMAC: srcMAC = s
            case .dstMAC: dstMAC = s
            case .srcV6: src6 = Int32(op.offset)
            case .dstV6: dst6 = Int32(op.offset)
            case .nextHopV6: nextHop6 = Int32(op.offset)
            case .skip: break
            default: return nil
            }
        }
    }

    /// Decodes the record at `p` (the caller checked that the whole record is there).
    @inline(__always)
    func decode(_ b: RawSpan, _ p: Int, _ r: inout FlowRecord, _ x: inout RecordExtras) {
        if bytes.mask != 0 { r.bytes = bytes.load(b, p) }
        if packets.mask != 0 { r.packets = packets.load(b, p) }
        if proto.mask != 0 { r.proto = UInt8(truncatingIfNeeded: proto.load(b, p)) }
        if tos.mask != 0 { r.tos = UInt8(truncatingIfNeeded: tos.load(b, p)) }
        if tcpFlags.mask != 0 { r.tcpFlags = UInt8(truncatingIfNeeded: tcpFlags.load(b, p)) }
        if srcPort.mask != 0 { r.srcPort = UInt16(truncatingIfNeeded: srcPort.load(b, p)) }
        if dstPort.mask != 0 { r.dstPort = UInt16(truncatingIfNeeded: dstPort.load(b, p)) }
        if inIf.mask != 0 { r.inIf = UInt32(truncatingIfNeeded: inIf.load(b, p)) }
        if outIf.mask != 0 { r.outIf = UInt32(truncatingIfNeeded: outIf.load(b, p)) }
        if srcAS.mask != 0 { r.srcAS = UInt32(truncatingIfNeeded: srcAS.load(b, p)) }
        if dstAS.mask != 0 { r.dstAS = UInt32(truncatingIfNeeded: dstAS.load(b, p)) }
        if vlan.mask != 0 { r.vlan = UInt16(truncatingIfNeeded: vlan.load(b, p) & 0x0fff) }
        if direction.mask != 0 { r.direction = UInt8(truncatingIfNeeded: direction.load(b, p)) }
        if sysInit.mask != 0 { x.sysInitMillis = sysInit.load(b, p) }
        if samplerID.mask != 0 { x.samplerID = samplerID.load(b, p) }
        if start.mask != 0 {
            let v = start.load(b, p)
            switch startKind {
            case .startMillis: r.startMicros = Int64(truncatingIfNeeded: v) &* 1000
            case .startSeconds: r.startMicros = Int64(truncatingIfNeeded: v) &* 1_000_000
            case .startNTP: r.startMicros = ntpMicros(v)
            default: x.startRaw = v
            }
        }
        if end.mask != 0 {
            let v = end.load(b, p)
            switch endKind {
            case .endMillis: r.endMicros = Int64(truncatingIfNeeded: v) &* 1000
            case .endSeconds: r.endMicros = Int64(truncatingIfNeeded: v) &* 1_000_000
            case .endNTP: r.endMicros = ntpMicros(v)
            default: x.endRaw = v
            }
        }
        if src4.mask != 0 { setV4(&r.src, UInt32(truncatingIfNeeded: src4.load(b, p))) }
        if dst4.mask != 0 { setV4(&r.dst, UInt32(truncatingIfNeeded: dst4.load(b, p))) }
        if nextHop4.mask != 0 { setV4(&r.nextHop, UInt32(truncatingIfNeeded: nextHop4.load(b, p))) }
        if src6 >= 0 { setV6(&r.src, b.nfU64(p &+ Int(src6)), b.nfU64(p &+ Int(src6) &+ 8)) }
        if dst6 >= 0 { setV6(&r.dst, b.nfU64(p &+ Int(dst6)), b.nfU64(p &+ Int(dst6) &+ 8)) }
        if nextHop6 >= 0 { setV6(&r.nextHop, b.nfU64(p &+ Int(nextHop6)), b.nfU64(p &+ Int(nextHop6) &+ 8)) }
        if srcMAC.mask != 0 { r.srcMAC = srcMAC.load(b, p) }
        if dstMAC.mask != 0 { r.dstMAC = dstMAC.load(b, p) }
    }
}
