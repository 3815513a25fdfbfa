// Per-minute aggregation of flow records, like pmacct's `aggregate`: records that share the chosen key
// fields and arrival minute are summed into one `flows_1m` row. One receive thread owns one aggregator;
// nothing here locks, and in steady state nothing allocates.

/// The record fields an aggregate can be keyed by. Each is named after the `flows` (and `flows_1m`)
/// column it fills; a field not in the set is not part of the key and is stored NULL.
public struct FlowAggregationKeys: OptionSet, Sendable, Hashable, BitwiseCopyable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let exporter = Self(rawValue: 1 << 0)
    public static let observationDomain = Self(rawValue: 1 << 1)
    public static let srcAddr = Self(rawValue: 1 << 2)
    public static let dstAddr = Self(rawValue: 1 << 3)
    public static let srcPort = Self(rawValue: 1 << 4)
    public static let dstPort = Self(rawValue: 1 << 5)
    public static let proto = Self(rawValue: 1 << 6)
    public static let tos = Self(rawValue: 1 << 7)
    public static let tcpFlags = Self(rawValue: 1 << 8)
    public static let inIf = Self(rawValue: 1 << 9)
    public static let outIf = Self(rawValue: 1 << 10)
    public static let srcAS = Self(rawValue: 1 << 11)
    public static let dstAS = Self(rawValue: 1 << 12)
    public static let nextHop = Self(rawValue: 1 << 13)
    public static let vlan = Self(rawValue: 1 << 14)
    public static let srcMAC = Self(rawValue: 1 << 15)
    public static let dstMAC = Self(rawValue: 1 << 16)
    public static let direction = Self(rawValue: 1 << 17)

    /// Every key with its column name, in `flows_1m` column order.
    public static let named: [(name: String, key: FlowAggregationKeys)] = [
        ("exporter", .exporter), ("observation_domain", .observationDomain), ("src_addr", .srcAddr),
        ("dst_addr", .dstAddr), ("src_port", .srcPort), ("dst_port", .dstPort), ("protocol", .proto),
        ("tos", .tos), ("tcp_flags", .tcpFlags), ("in_if", .inIf), ("out_if", .outIf), ("src_as", .srcAS),
        ("dst_as", .dstAS), ("next_hop", .nextHop), ("vlan", .vlan), ("src_mac", .srcMAC), ("dst_mac", .dstMAC),
        ("direction", .direction),
    ]

    /// The column names a key may be given by, in column order.
    public static var names: [String] { named.map(\.name) }

    /// The key named `name` (a column name: `src_addr`, `protocol`…); nil for any other string.
    public init?(name: String) {
        guard let k = Self.named.first(where: { $0.name == name })?.key else { return nil }
        self = k
    }

    /// The union of the keys named; nil when any name is unknown (repeats are harmless).
    public init?(names: some Sequence<String>) {
        var out: FlowAggregationKeys = []
        for n in names {
            guard let k = FlowAggregationKeys(name: n) else { return nil }
            out.insert(k)
        }
        self = out
    }

    /// The column names in the set, in column order, comma-separated.
    public var description: String {
        Self.named.filter { contains($0.key) }.map(\.name).joined(separator: ", ")
    }
}

/// An aggregation key packed into 15 words: the arrival minute and every keyable field, with the fields
/// outside the key zeroed. Packed rather than one property per field so a table entry is smaller
/// (120 bytes instead of ~150) and hashing reads fewer, fuller words.
struct FlowAggregateKey: Hashable, Sendable, BitwiseCopyable {
    var minute: Int64 = 0
    var exporterHigh: UInt64 = 0, exporterLow: UInt64 = 0
    var srcHigh: UInt64 = 0, srcLow: UInt64 = 0
    var dstHigh: UInt64 = 0, dstLow: UInt64 = 0
    var nextHopHigh: UInt64 = 0, nextHopLow: UInt64 = 0
    var srcMAC: UInt64 = 0, dstMAC: UInt64 = 0
    /// observationDomain | inIf << 32
    var domainInIf: UInt64 = 0
    /// outIf | srcAS << 32
    var outIfSrcAS: UInt64 = 0
    /// dstAS | vlan << 32 | proto << 48 | tos << 56
    var dstASVlanProtoTos: UInt64 = 0
    /// srcPort | dstPort << 16 | tcpFlags << 32 | direction << 40 | isV4 bits << 48 (exporter, src, dst,
    /// next hop)
    var portsFlagsDirectionV4: UInt64 = 0

    init() {}

    /// Every keyable field of `r`, and its minute.
    @inline(__always)
    init(_ r: FlowRecord, minute: Int64) {
        self.minute = minute
        exporterHigh = r.exporter.high; exporterLow = r.exporter.low
        srcHigh = r.src.high; srcLow = r.src.low
        dstHigh = r.dst.high; dstLow = r.dst.low
        nextHopHigh = r.nextHop.high; nextHopLow = r.nextHop.low
        srcMAC = r.srcMAC; dstMAC = r.dstMAC
        domainInIf = UInt64(r.observationDomain) | UInt64(r.inIf) << 32
        outIfSrcAS = UInt64(r.outIf) | UInt64(r.srcAS) << 32
        dstASVlanProtoTos = UInt64(r.dstAS) | UInt64(r.vlan) << 32 | UInt64(r.proto) << 48 | UInt64(r.tos) << 56
        let v4 = (r.exporter.isV4 ? 1 : 0) | (r.src.isV4 ? 2 : 0) | (r.dst.isV4 ? 4 : 0) | (r.nextHop.isV4 ? 8 : 0) as UInt64
        portsFlagsDirectionV4 = UInt64(r.srcPort) | UInt64(r.dstPort) << 16 | UInt64(r.tcpFlags) << 32
            | UInt64(r.direction) << 40 | v4 << 48
    }

    /// The mask that keeps the bits of `keys` (and the minute) and zeroes the rest.
    init(mask keys: FlowAggregationKeys) {
        func m(_ k: FlowAggregationKeys, _ bits: UInt64 = ~0) -> UInt64 { keys.contains(k) ? bits : 0 }
        minute = -1
        exporterHigh = m(.exporter); exporterLow = m(.exporter)
        srcHigh = m(.srcAddr); srcLow = m(.srcAddr)
        dstHigh = m(.dstAddr); dstLow = m(.dstAddr)
        nextHopHigh = m(.nextHop); nextHopLow = m(.nextHop)
        srcMAC = m(.srcMAC); dstMAC = m(.dstMAC)
        domainInIf = m(.observationDomain, 0xffff_ffff) | m(.inIf, 0xffff_ffff << 32)
        outIfSrcAS = m(.outIf, 0xffff_ffff) | m(.srcAS, 0xffff_ffff << 32)
        dstASVlanProtoTos = m(.dstAS, 0xffff_ffff) | m(.vlan, 0xffff << 32) | m(.proto, 0xff << 48) | m(.tos, 0xff << 56)
        portsFlagsDirectionV4 = m(.srcPort, 0xffff) | m(.dstPort, 0xffff << 16) | m(.tcpFlags, 0xff << 32)
            | m(.direction, 0xff << 40)
            | m(.exporter, 1 << 48) | m(.srcAddr, 2 << 48) | m(.dstAddr, 4 << 48) | m(.nextHop, 8 << 48)
    }

    // Feeding the 15 words to Hasher one by one (SipHash-1-3, the synthesized hash) cost 120–175 ns a
    // key on the benchmark VM, half of what `add` took; this hash costs ~55 ns, most of it Hasher's own
    // setup and finalization. Instead the words are folded into one 64-bit value, two at a time, by a 64×64→128-bit
    // multiply whose halves are xored (wyhash's "mum"), each operand xored with a secret drawn at start;
    // that value alone goes to Hasher. Secrets unknown to whoever shapes the traffic keep collisions
    // from being chosen (Go's maps rely on the same kind of seeded hash), and Hasher's own per-process
    // seed is on top.
    func hash(into hasher: inout Hasher) {
        let s = aggregateHashSecrets
        var h = s.0
        h = mum(UInt64(bitPattern: minute) ^ s.1, exporterHigh ^ h)
        h = mum(exporterLow ^ s.2, srcHigh ^ h)
        h = mum(srcLow ^ s.3, dstHigh ^ h)
        h = mum(dstLow ^ s.1, nextHopHigh ^ h)
        h = mum(nextHopLow ^ s.2, srcMAC ^ h)
        h = mum(dstMAC ^ s.3, domainInIf ^ h)
        h = mum(outIfSrcAS ^ s.1, dstASVlanProtoTos ^ h)
        h = mum(portsFlagsDirectionV4 ^ s.2, h ^ s.3)
        hasher.combine(h)
    }

    @inline(__always)
    func masked(by m: FlowAggregateKey) -> FlowAggregateKey {
        var k = self
        k.minute &= m.minute
        k.exporterHigh &= m.exporterHigh; k.exporterLow &= m.exporterLow
        k.srcHigh &= m.srcHigh; k.srcLow &= m.srcLow
        k.dstHigh &= m.dstHigh; k.dstLow &= m.dstLow
        k.nextHopHigh &= m.nextHopHigh; k.nextHopLow &= m.nextHopLow
        k.srcMAC &= m.srcMAC; k.dstMAC &= m.dstMAC
        k.domainInIf &= m.domainInIf
        k.outIfSrcAS &= m.outIfSrcAS
        k.dstASVlanProtoTos &= m.dstASVlanProtoTos
        k.portsFlagsDirectionV4 &= m.portsFlagsDirectionV4
        return k
    }
}

/// The secrets of `FlowAggregateKey.hash(into:)`, drawn once per process.
let aggregateHashSecrets: (UInt64, UInt64, UInt64, UInt64) = {
    var g = SystemRandomNumberGenerator()
    // Odd, so no secret is zero and a multiply never loses every bit of the other operand by itself.
    return (g.next() | 1, g.next() | 1, g.next() | 1, g.next() | 1)
}()

/// The high and low halves of a × b, xored.
@inline(__always)
func mum(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let (high, low) = a.multipliedFullWidth(by: b)
    return high ^ low
}

/// The summed counters of one key and minute.
struct FlowAggregateSums: Sendable, BitwiseCopyable {
    var packets: UInt64
    var bytes: UInt64
    var flows: UInt64
}

/// One `flows_1m` row: the arrival minute, the key fields (meaningful only where `keys` contains them;
/// the others read as zero and are stored NULL) and the sums. Packets and bytes are already scaled by
/// each record's sampling rate.
public struct FlowAggregate: Sendable, BitwiseCopyable {
    var key: FlowAggregateKey
    /// Which fields are part of the key.
    public let keys: FlowAggregationKeys
    /// Sum of packets × sampling rate over the records.
    public var packets: UInt64
    /// Sum of bytes × sampling rate over the records.
    public var bytes: UInt64
    /// How many records were summed.
    public var flows: UInt64

    init(key: FlowAggregateKey, keys: FlowAggregationKeys, sums: FlowAggregateSums) {
        self.key = key
        self.keys = keys
        packets = sums.packets
        bytes = sums.bytes
        flows = sums.flows
    }

    /// Start of the minute the records were received in, µs since the Unix epoch.
    public var minuteMicros: Int64 { key.minute }
    public var exporter: FlowIP { ip(key.exporterHigh, key.exporterLow, bit: 1) }
    public var observationDomain: UInt32 { UInt32(truncatingIfNeeded: key.domainInIf) }
    public var src: FlowIP { ip(key.srcHigh, key.srcLow, bit: 2) }
    public var dst: FlowIP { ip(key.dstHigh, key.dstLow, bit: 4) }
    public var nextHop: FlowIP { ip(key.nextHopHigh, key.nextHopLow, bit: 8) }
    public var srcPort: UInt16 { UInt16(truncatingIfNeeded: key.portsFlagsDirectionV4) }
    public var dstPort: UInt16 { UInt16(truncatingIfNeeded: key.portsFlagsDirectionV4 >> 16) }
    public var proto: UInt8 { UInt8(truncatingIfNeeded: key.dstASVlanProtoTos >> 48) }
    public var tos: UInt8 { UInt8(truncatingIfNeeded: key.dstASVlanProtoTos >> 56) }
    public var tcpFlags: UInt8 { UInt8(truncatingIfNeeded: key.portsFlagsDirectionV4 >> 32) }
    /// 0 ingress, 1 egress, 255 unknown (as in `FlowRecord`).
    public var direction: UInt8 { UInt8(truncatingIfNeeded: key.portsFlagsDirectionV4 >> 40) }
    public var inIf: UInt32 { UInt32(truncatingIfNeeded: key.domainInIf >> 32) }
    public var outIf: UInt32 { UInt32(truncatingIfNeeded: key.outIfSrcAS) }
    public var srcAS: UInt32 { UInt32(truncatingIfNeeded: key.outIfSrcAS >> 32) }
    public var dstAS: UInt32 { UInt32(truncatingIfNeeded: key.dstASVlanProtoTos) }
    public var vlan: UInt16 { UInt16(truncatingIfNeeded: key.dstASVlanProtoTos >> 32) }
    public var srcMAC: UInt64 { key.srcMAC }
    public var dstMAC: UInt64 { key.dstMAC }

    private func ip(_ high: UInt64, _ low: UInt64, bit: UInt64) -> FlowIP {
        key.portsFlagsDirectionV4 >> 48 & bit != 0 ? FlowIP(v4: UInt32(truncatingIfNeeded: low)) : FlowIP(v6High: high, v6Low: low)
    }
}

/// What an aggregator has done since it was made.
public struct FlowAggregatorStats: Sendable, Equatable {
    /// Records added.
    public var records: UInt64 = 0
    /// Aggregates emitted (rows for `flows_1m`).
    public var rows: UInt64 = 0
    /// Times everything was emitted because a record of another minute arrived.
    public var minuteFlushes: UInt64 = 0
    /// Times everything was emitted by `flush(endedBefore:)` because its minute had ended.
    public var idleFlushes: UInt64 = 0
    /// Times everything was emitted before its minute ended because the table was full (each leaves
    /// partial rows for that minute in `flows_1m`; a minute's rows must be summed).
    public var earlyFlushes: UInt64 = 0
    /// Entries held now.
    public var entries: Int = 0

    public init() {}
}

/// Sums flow records per key and minute in a bounded table. Not thread-safe: one receive thread owns it
/// (its records come in arrival order, so the table only ever holds one minute). `~Copyable` because a
/// copy would share the table and the next add would copy it whole.
///
/// Memory: the table grows to the most keys a minute has needed, at most `maxEntries`; a Dictionary
/// holds 144 bytes a bucket with at most 3/4 of a power-of-two bucket count used, so
/// `maxEntries` = 100,000 can reach 262,144 buckets, 38 MB.
///
/// Buckets are the minute a record was *received* in, not the flow's start or end (nfacctd's
/// `nfacctd_time_new: true`): exporters' clocks and active timeouts differ, a long flow's start may be
/// many minutes back, and a bucket keyed by exporter time could be reopened at any moment, so it could
/// never be emitted as complete. Arrival time only moves forward, so a minute is done once the clock has
/// passed it, and the table holds one minute at a time. The cost: traffic is attributed to when its
/// export arrived (up to the exporter's active timeout after it was seen).
public struct FlowAggregator: ~Copyable {
    /// Which fields are part of the key.
    public let keys: FlowAggregationKeys
    /// The most entries held before they are emitted early.
    public let maxEntries: Int
    /// What it has done; `entries` is kept current.
    public var stats: FlowAggregatorStats { var s = counters; s.entries = table.count; return s }

    private var counters = FlowAggregatorStats()
    private let mask: FlowAggregateKey
    /// Start of the minute every entry belongs to (meaningful only when the table is not empty).
    private var minute: Int64 = .min
    // Swift's Dictionary rather than a table of our own: with the key's seeded hash it is as fast as one
    // needs to be (Benchmarks/FlowAggregation), and the keys (addresses, ports) are chosen by whoever
    // sends traffic through the network, so an unseeded hash could be steered into long probe chains.
    private var table: [FlowAggregateKey: FlowAggregateSums]

    static let minuteMicros: Int64 = 60_000_000

    /// An empty aggregator keyed by `keys`, holding at most `maxEntries` (≥ 1) keys. The table grows
    /// (doubling) up to what the busiest minute so far needed, never beyond `maxEntries`, and keeps
    /// that size when it is emptied: once that minute has been seen, nothing allocates.
    public init(keys: FlowAggregationKeys, maxEntries: Int) {
        precondition(maxEntries >= 1, "maxEntries must be at least 1, got \(maxEntries)")
        self.keys = keys
        self.maxEntries = maxEntries
        mask = FlowAggregateKey(mask: keys)
        table = [:]
        // Not reserved for maxEntries up front: a table sized for 100,000 keys (38 MB) holding the
        // usual few thousand spreads them over so many pages and cache lines that each lookup missed
        // the cache, ~3× slower than a table grown to fit (Benchmarks/FlowAggregation).
        table.reserveCapacity(min(maxEntries, 1024))
    }

    /// Adds `r` to the entry of its key in the minute it was received in (`r.receivedMicros`).
    /// Packets and bytes are multiplied by `samplingOverride` when given, else by `r.samplingRate`
    /// (0 and 1 both mean unsampled), so records of different rates sum correctly.
    ///
    /// First, if `r` belongs to another minute than the entries held, every entry is emitted and the
    /// table cleared; and if its key is new and the table already holds `maxEntries`, the same happens
    /// early (counted in `stats.earlyFlushes`). `emit` runs once per aggregate, on this thread.
    public mutating func add(_ r: FlowRecord, samplingOverride: UInt32? = nil, emit: (FlowAggregate) -> Void) {
        let micros = r.receivedMicros
        let minute = (micros >= 0 ? micros : micros - (Self.minuteMicros - 1)) / Self.minuteMicros * Self.minuteMicros
        if minute != self.minute {
            if !table.isEmpty {
                counters.minuteFlushes &+= 1
                emitAll(emit)
            }
            self.minute = minute
        }
        var scaled = r
        if let samplingOverride { scaled.samplingRate = samplingOverride }
        // FlowRecord's scaling wraps: a record with absurd counts (a broken or hostile exporter) must
        // not stop the thread.
        let packets = scaled.scaledPackets, bytes = scaled.scaledBytes
        let key = FlowAggregateKey(r, minute: minute).masked(by: mask)
        counters.records &+= 1
        if table.count < maxEntries {
            // One hash, found or inserted (growing the table only while it is below maxEntries).
            table[key, default: FlowAggregateSums(packets: 0, bytes: 0, flows: 0)].add(packets, bytes)
            return
        }
        if let i = table.index(forKey: key) {
            table.values[i].add(packets, bytes)
            return
        }
        counters.earlyFlushes &+= 1
        emitAll(emit)
        table[key] = FlowAggregateSums(packets: packets, bytes: bytes, flows: 1)
    }

    /// Emits and clears every entry if their minute ended at or before `nowMicros` (µs since the Unix
    /// epoch, the clock `receivedMicros` comes from). A receive thread calls it when idle, so a minute
    /// is written even when no later record arrives to close it.
    public mutating func flush(endedBefore nowMicros: Int64, emit: (FlowAggregate) -> Void) {
        guard !table.isEmpty, minute + Self.minuteMicros <= nowMicros else { return }
        counters.idleFlushes &+= 1
        emitAll(emit)
    }

    /// Emits and clears every entry, whatever its minute (at stop).
    public mutating func flushAll(emit: (FlowAggregate) -> Void) {
        guard !table.isEmpty else { return }
        emitAll(emit)
    }

    private mutating func emitAll(_ emit: (FlowAggregate) -> Void) {
        for (k, s) in table {
            emit(FlowAggregate(key: k, keys: keys, sums: s))
        }
        counters.rows &+= UInt64(table.count)
        table.removeAll(keepingCapacity: true)
    }
}

extension FlowAggregateSums {
    @inline(__always)
    mutating func add(_ packets: UInt64, _ bytes: UInt64) {
        self.packets &+= packets
        self.bytes &+= bytes
        flows &+= 1
    }
}
