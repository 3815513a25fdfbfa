// The capture probe's flow table: captured frames (parsed by the same header parser as sFlow's sampled
// headers) are counted into unidirectional flows keyed by addresses, ports, protocol, VLAN, interface and
// direction, and each flow leaves the table as one FlowRecord when it has been idle for the idle timeout,
// has lived for the active timeout, ended with a TCP FIN or RST, or when the table is flushed. One table
// per capture thread: no locks. Steady state allocates nothing (the slots and index are reused).

/// How a probe turns packets into flows.
public struct FlowCacheOptions: Sendable, Equatable {
    /// A flow that has seen no packet for this long is exported.
    public var idleTimeoutMicros: Int64 = 15_000_000
    /// A flow that lasts longer is exported every this long (a new record continues it), as NetFlow does.
    public var activeTimeoutMicros: Int64 = 60_000_000
    /// Flows held at once; when full, flows idle for over a second are exported early, and if that frees
    /// nothing a packet becomes a one-packet record of its own (counted, never lost).
    public var maxEntries = 262_144
    /// The kernel kept 1 packet in N: the records carry N so counts scale like sampled NetFlow's.
    public var samplingRate: UInt32 = 1
    /// The exporter address the records carry (the probe itself) and their observation domain.
    public var exporter = FlowIP(v4: 0x7f00_0001)
    public var observationDomain: UInt32 = 0

    public init() {}
}

/// What a flow table did.
public struct FlowCacheStats: Sendable, Equatable {
    public var packets: UInt64 = 0
    /// IP bytes counted into flows.
    public var bytes: UInt64 = 0
    /// Frames without an IP header (ARP, LLDP, a header cut off or malformed): not flows.
    public var notIP: UInt64 = 0
    public var flowsCreated: UInt64 = 0
    /// Records exported, by why.
    public var expiredIdle: UInt64 = 0
    public var expiredActive: UInt64 = 0
    public var endedTCP: UInt64 = 0
    /// Exported early because the table was full.
    public var evicted: UInt64 = 0
    /// Packets that found the table full even after an early export: each became its own record.
    public var overflow: UInt64 = 0
    public var flushed: UInt64 = 0
    /// Flows held now.
    public var entries = 0

    public init() {}

    public var records: UInt64 { expiredIdle + expiredActive + endedTCP + evicted + overflow + flushed }

    public var fields: [(String, Int)] {
        [("packets", Int(packets)), ("bytes", Int(bytes)), ("not_ip", Int(notIP)), ("flows_created", Int(flowsCreated)),
         ("expired_idle", Int(expiredIdle)), ("expired_active", Int(expiredActive)), ("ended_tcp", Int(endedTCP)),
         ("evicted", Int(evicted)), ("overflow", Int(overflow)), ("flushed", Int(flushed)), ("entries", entries)]
    }

    public static func + (a: Self, b: Self) -> Self {
        var s = a
        s.packets += b.packets
        s.bytes += b.bytes
        s.notIP += b.notIP
        s.flowsCreated += b.flowsCreated
        s.expiredIdle += b.expiredIdle
        s.expiredActive += b.expiredActive
        s.endedTCP += b.endedTCP
        s.evicted += b.evicted
        s.overflow += b.overflow
        s.flushed += b.flushed
        s.entries += b.entries
        return s
    }
}

/// What a captured frame is, besides its bytes.
public struct CapturedFrame: Sendable {
    /// Capture time, µs since the epoch.
    public var micros: Int64
    /// The frame's length on the wire (the bytes may stop short of it).
    public var wireLength: Int
    /// Where parsing starts and as what.
    public var layer: PacketLayer
    public var start: Int
    public var ifIndex: UInt32
    /// Sent by the capturing host (an egress flow), not received.
    public var outgoing: Bool
    /// A VLAN id the NIC removed from the frame (0: none).
    public var strippedVLAN: UInt16

    public init(micros: Int64, wireLength: Int, layer: PacketLayer, start: Int = 0, ifIndex: UInt32 = 0, outgoing: Bool = false, strippedVLAN: UInt16 = 0) {
        self.micros = micros
        self.wireLength = wireLength
        self.layer = layer
        self.start = start
        self.ifIndex = ifIndex
        self.outgoing = outgoing
        self.strippedVLAN = strippedVLAN
    }
}

/// What makes two packets the same flow.
struct FlowCacheKey: Hashable {
    var src: FlowIP
    var dst: FlowIP
    var srcPort: UInt16
    var dstPort: UInt16
    var proto: UInt8
    var outgoing: Bool
    var vlan: UInt16
    var ifIndex: UInt32
}

/// The table. Not thread-safe: one per capture thread.
public struct FlowCache: Sendable {
    private struct Slot {
        var key: FlowCacheKey
        var hash: UInt32
        var inUse: Bool
        var record: FlowRecord
    }

    public let options: FlowCacheOptions
    public private(set) var stats = FlowCacheStats()
    private var index: FlowIndex
    private var slots: [Slot] = []
    private var free: [Int32] = []
    /// When the table last ran an early export because it was full (at most one a second).
    private var lastEviction: Int64 = -(1 << 62)

    public init(options: FlowCacheOptions) {
        precondition(options.maxEntries >= 1 && options.idleTimeoutMicros > 0 && options.activeTimeoutMicros > 0)
        self.options = options
        let initial = min(options.maxEntries, 16_384)
        index = FlowIndex(maxEntries: options.maxEntries, seed: UInt64.random(in: 1...UInt64.max))
        slots.reserveCapacity(initial)
        free.reserveCapacity(initial)
    }

    /// Counts one frame (`bytes[frame.start...]` as `frame.layer`) into its flow; `emit` gets the records
    /// this packet ends (the flow itself on a TCP FIN or RST, an old one at its active timeout).
    public mutating func add(_ bytes: RawSpan, _ frame: CapturedFrame, emit: (FlowRecord) -> Void) {
        stats.packets &+= 1
        var r = FlowRecord()
        var m = PacketSummary()
        guard frame.start < bytes.byteCount else {
            stats.notIP &+= 1
            return
        }
        PacketHeaderParser.parse(bytes, frame.start..<bytes.byteCount, startingAt: frame.layer, into: &r, summary: &m)
        guard m.networkOffset >= 0 else {
            stats.notIP &+= 1
            return
        }
        if frame.strippedVLAN != 0 { r.vlan = frame.strippedVLAN }
        // The IP header's length; a header that says 0 (a segmentation offload's) falls back to the frame's.
        let length = UInt64(m.ipLength > 0 ? m.ipLength : max(0, frame.wireLength - m.networkOffset + frame.start))
        stats.bytes &+= length
        let key = FlowCacheKey(src: r.src, dst: r.dst, srcPort: r.srcPort, dstPort: r.dstPort, proto: r.proto,
                               outgoing: frame.outgoing, vlan: r.vlan, ifIndex: frame.ifIndex)
        let ends = r.proto == 6 && r.tcpFlags & 0x05 != 0  // FIN or RST

        let hash = key.hash(seed: index.seed)
        if let slot = index.find(key, hash: hash, keyAt: { slots[$0].key }) {
            if frame.micros - slots[slot].record.startMicros >= options.activeTimeoutMicros {
                // Lived its active timeout: export what it has, continue in a fresh record.
                stats.expiredActive &+= 1
                export(slot, now: frame.micros, emit: emit)
                slots[slot].record = fresh(r, frame, length: length)
                stats.flowsCreated &+= 1
            } else {
                slots[slot].record.packets &+= 1
                slots[slot].record.bytes &+= length
                slots[slot].record.tcpFlags |= r.tcpFlags
                slots[slot].record.endMicros = max(slots[slot].record.endMicros, frame.micros)
            }
            if ends {
                stats.endedTCP &+= 1
                export(slot, now: frame.micros, emit: emit)
                remove(slot)
            }
            return
        }

        stats.flowsCreated &+= 1
        if ends {
            // A lone FIN or RST: a flow of one packet, exported now.
            stats.endedTCP &+= 1
            var one = fresh(r, frame, length: length)
            one.receivedMicros = frame.micros
            emit(one)
            return
        }
        if index.count >= options.maxEntries {
            if frame.micros - lastEviction >= 1_000_000 {
                lastEviction = frame.micros
                expire(nowMicros: frame.micros, idleMicros: min(options.idleTimeoutMicros, 1_000_000), reason: \.evicted, emit: emit)
            }
            if index.count >= options.maxEntries {
                stats.overflow &+= 1
                var one = fresh(r, frame, length: length)
                one.receivedMicros = frame.micros
                emit(one)
                return
            }
        }
        let slot: Int
        if let f = free.popLast() {
            slot = Int(f)
            slots[slot] = Slot(key: key, hash: hash, inUse: true, record: fresh(r, frame, length: length))
        } else {
            slot = slots.count
            slots.append(Slot(key: key, hash: hash, inUse: true, record: fresh(r, frame, length: length)))
        }
        index.insert(hash: hash, slot: slot)
        stats.entries = index.count
    }

    /// Counts a frame the caller saw is not IP (by its ethertype) without parsing it.
    public mutating func countNotIP() {
        stats.packets &+= 1
        stats.notIP &+= 1
    }

    /// Exports flows idle for the idle timeout or older than the active timeout at `nowMicros` (the clock
    /// the frames are stamped with). Call it about once a second; it looks at every flow held.
    public mutating func expire(nowMicros: Int64, emit: (FlowRecord) -> Void) {
        expire(nowMicros: nowMicros, idleMicros: options.idleTimeoutMicros, reason: \.expiredIdle, emit: emit)
    }

    /// Exports every flow (at stop, or the end of a capture file).
    public mutating func flush(nowMicros: Int64, emit: (FlowRecord) -> Void) {
        for slot in slots.indices where slots[slot].inUse {
            stats.flushed &+= 1
            export(slot, now: nowMicros, emit: emit)
            remove(slot)
        }
    }

    private mutating func expire(nowMicros: Int64, idleMicros: Int64, reason: WritableKeyPath<FlowCacheStats, UInt64>, emit: (FlowRecord) -> Void) {
        for slot in slots.indices where slots[slot].inUse {
            let r = slots[slot].record
            if nowMicros - r.endMicros >= idleMicros {
                stats[keyPath: reason] &+= 1
            } else if nowMicros - r.startMicros >= options.activeTimeoutMicros {
                stats.expiredActive &+= 1
            } else {
                continue
            }
            export(slot, now: nowMicros, emit: emit)
            remove(slot)
        }
    }

    private func fresh(_ parsed: FlowRecord, _ frame: CapturedFrame, length: UInt64) -> FlowRecord {
        var r = parsed
        r.exporter = options.exporter
        r.observationDomain = options.observationDomain
        r.startMicros = frame.micros
        r.endMicros = frame.micros
        r.packets = 1
        r.bytes = length
        r.samplingRate = options.samplingRate
        r.direction = frame.outgoing ? 1 : 0
        if frame.outgoing { r.outIf = frame.ifIndex } else { r.inIf = frame.ifIndex }
        r.source = .probe
        return r
    }

    private func export(_ slot: Int, now: Int64, emit: (FlowRecord) -> Void) {
        var r = slots[slot].record
        r.receivedMicros = max(now, r.endMicros)
        emit(r)
    }

    private mutating func remove(_ slot: Int) {
        index.remove(hash: slots[slot].hash, slot: slot)
        slots[slot].inUse = false
        free.append(Int32(slot))
        stats.entries = index.count
    }
}
