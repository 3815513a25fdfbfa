// FlowCache, the capture probe's flow table: frames built here, timestamps chosen by the test, so every
// timeout and ending is exact.
@testable import Flow
import Testing

@Suite("FlowCache")
struct FlowCacheTests {
    /// An Ethernet frame with an IPv4 header of `total` bytes and a TCP or UDP header (zero padding after).
    static func frame(src: UInt32 = 0x0a00_0001, dst: UInt32 = 0x0a00_0002, sport: UInt16 = 40000, dport: UInt16 = 443,
                      proto: UInt8 = 17, flags: UInt8 = 0, total: Int = 100, vlan: UInt16? = nil) -> [UInt8] {
        var f: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        if let vlan { f += [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xff)] }
        f += [0x08, 0x00]
        f += [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0x40, 0, 64, proto, 0, 0]
        for a in [src, dst] { f += [UInt8(a >> 24), UInt8(a >> 16 & 0xff), UInt8(a >> 8 & 0xff), UInt8(a & 0xff)] }
        f += [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff)]
        if proto == 6 {
            f += [0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]
        } else {
            f += [0, UInt8(total - 20), 0, 0]
        }
        return f
    }

    static let second: Int64 = 1_000_000

    struct Harness {
        var cache: FlowCache
        var out: [FlowRecord] = []

        init(_ configure: (inout FlowCacheOptions) -> Void = { _ in }) {
            var o = FlowCacheOptions()
            o.idleTimeoutMicros = 15 * FlowCacheTests.second
            o.activeTimeoutMicros = 60 * FlowCacheTests.second
            configure(&o)
            cache = FlowCache(options: o)
        }

        mutating func add(_ bytes: [UInt8], at t: Int64, outgoing: Bool = false, ifIndex: UInt32 = 3, vlan: UInt16 = 0) {
            let f = CapturedFrame(micros: t, wireLength: bytes.count, layer: .ethernet, ifIndex: ifIndex, outgoing: outgoing, strippedVLAN: vlan)
            cache.add(bytes.span.bytes, f) { out.append($0) }
        }

        mutating func expire(at t: Int64) { cache.expire(nowMicros: t) { out.append($0) } }
        mutating func flush(at t: Int64) { cache.flush(nowMicros: t) { out.append($0) } }
    }

    @Test func packetsOfOneFlowAreSummedAndWrittenAfterTheIdleTimeout() {
        var h = Harness()
        for i in 0..<10 { h.add(Self.frame(total: 100 + i), at: Self.second + Int64(i) * 1000) }
        h.add(Self.frame(sport: 40001), at: 2 * Self.second)  // another flow
        h.expire(at: 16 * Self.second)
        #expect(h.out.isEmpty)  // the first flow's last packet was at 1.009 s: not idle for 15 s yet
        h.expire(at: 16 * Self.second + 9000)
        #expect(h.out.count == 1)
        let r = h.out[0]
        #expect(r.packets == 10 && r.bytes == UInt64((100..<110).reduce(0, +)))
        #expect(r.startMicros == Self.second && r.endMicros == Self.second + 9000 && r.receivedMicros == 16 * Self.second + 9000)
        #expect(r.src == FlowIP(v4: 0x0a00_0001) && r.dst == FlowIP(v4: 0x0a00_0002) && r.srcPort == 40000 && r.dstPort == 443 && r.proto == 17)
        #expect(r.source == .probe && r.exporter == FlowIP(v4: 0x7f00_0001) && r.inIf == 3 && r.outIf == 0 && r.direction == 0)
        #expect(r.srcMAC == 0x0607_0809_0a0b && r.dstMAC == 0x0001_0203_0405)
        h.flush(at: 20 * Self.second)
        #expect(h.out.count == 2 && h.out[1].srcPort == 40001)
        #expect(h.cache.stats.expiredIdle == 1 && h.cache.stats.flushed == 1 && h.cache.stats.entries == 0 && h.cache.stats.records == 2)
    }

    @Test func aLongFlowIsWrittenAtEachActiveTimeout() {
        var h = Harness()
        // A packet every second for 150 s: records at 60 s and 120 s, the rest at the flush.
        for s in 0..<150 { h.add(Self.frame(), at: Int64(s) * Self.second) }
        h.flush(at: 150 * Self.second)
        #expect(h.out.map(\.packets) == [60, 60, 30])
        #expect(h.out.map(\.startMicros) == [0, 60 * Self.second, 120 * Self.second])
        #expect(h.cache.stats.expiredActive == 2 && h.cache.stats.flowsCreated == 3)
    }

    @Test func tcpFinOrRstEndsTheFlowWithItsPacket() {
        var h = Harness()
        h.add(Self.frame(proto: 6, flags: 0x02, total: 60), at: 0)  // SYN
        h.add(Self.frame(proto: 6, flags: 0x18, total: 1500), at: 1000)  // PSH ACK
        #expect(h.out.isEmpty)
        h.add(Self.frame(proto: 6, flags: 0x11, total: 52), at: 2000)  // FIN ACK
        #expect(h.out.count == 1 && h.out[0].packets == 3 && h.out[0].bytes == 1612 && h.out[0].tcpFlags == 0x1b)
        h.add(Self.frame(sport: 5, proto: 6, flags: 0x04, total: 40), at: 3000)  // a lone RST: a one-packet flow
        #expect(h.out.count == 2 && h.out[1].packets == 1 && h.out[1].tcpFlags == 0x04)
        #expect(h.cache.stats.endedTCP == 2 && h.cache.stats.entries == 0)
    }

    @Test func keyIncludesVLANDirectionAndInterface() {
        var h = Harness()
        h.add(Self.frame(vlan: 10), at: 0)
        h.add(Self.frame(vlan: 20), at: 0)
        h.add(Self.frame(), at: 0, vlan: 30)  // a tag the NIC stripped
        h.add(Self.frame(), at: 0, outgoing: true)
        h.add(Self.frame(), at: 0, ifIndex: 4)
        h.flush(at: 1)
        #expect(h.out.count == 5)
        #expect(Set(h.out.map(\.vlan)) == [10, 20, 30, 0])
        let egress = h.out.filter { $0.direction == 1 }
        #expect(egress.count == 1 && egress[0].outIf == 3 && egress[0].inIf == 0)
    }

    @Test func aFullTableWritesIdleFlowsEarlyThenOneRecordPerPacket() {
        var h = Harness { $0.maxEntries = 4 }
        for p in 0..<4 { h.add(Self.frame(sport: UInt16(p)), at: 0) }
        // Two seconds later the table is full of flows idle for over a second: they go, the new one fits.
        h.add(Self.frame(sport: 100), at: 2 * Self.second)
        #expect(h.out.count == 4 && h.cache.stats.evicted == 4 && h.cache.stats.entries == 1)
        for p in 101..<104 { h.add(Self.frame(sport: UInt16(p)), at: 2 * Self.second) }
        // Full of fresh flows: a fifth is its own record, counted, and nothing is lost.
        h.add(Self.frame(sport: 200, total: 77), at: 2 * Self.second + 1)
        #expect(h.cache.stats.overflow == 1 && h.out.last?.srcPort == 200 && h.out.last?.bytes == 77)
        h.flush(at: 3 * Self.second)
        #expect(h.out.reduce(0) { $0 + $1.packets } == 9 && h.cache.stats.records == 9)
    }

    @Test func samplingRateIsCarriedAndNonIPIsCounted() {
        var h = Harness { $0.samplingRate = 64; $0.exporter = FlowIP(v4: 0xc000_020a); $0.observationDomain = 7 }
        h.add(Self.frame(), at: 0)
        h.add([UInt8](repeating: 0, count: 12) + [0x08, 0x06] + [UInt8](repeating: 0, count: 28), at: 0)  // ARP
        h.add([1, 2, 3], at: 0)  // runt
        h.flush(at: 1)
        #expect(h.out.count == 1 && h.out[0].samplingRate == 64 && h.out[0].scaledPackets == 64)
        #expect(h.out[0].exporter == FlowIP(v4: 0xc000_020a) && h.out[0].observationDomain == 7)
        #expect(h.cache.stats.notIP == 2 && h.cache.stats.packets == 3)
    }

    @Test func indexMatchesADictionaryThroughInsertsAndRemovals() {
        // A small index forced through growth, wrap-around runs and back-shifting removals, against a model.
        var index = FlowIndex(maxEntries: 3000, seed: 42)
        var keys: [FlowCacheKey] = []
        var model: [FlowCacheKey: Int] = [:]
        var rng = SystemRandomNumberGenerator()
        func key(_ n: Int) -> FlowCacheKey {
            FlowCacheKey(src: FlowIP(v4: UInt32(n % 97)), dst: FlowIP(v4: 7), srcPort: UInt16(n & 0xffff), dstPort: 1, proto: 17,
                         outgoing: false, vlan: 0, ifIndex: 0)
        }
        for step in 0..<40_000 {
            if model.count < 2500 && (model.isEmpty || Bool.random(using: &rng) || step < 3000) {
                let k = key(Int.random(in: 0..<10_000, using: &rng))
                guard model[k] == nil else { continue }
                let slot = keys.count
                keys.append(k)
                model[k] = slot
                index.insert(hash: k.hash(seed: index.seed), slot: slot)
            } else {
                let (k, slot) = model.randomElement(using: &rng)!
                model[k] = nil
                index.remove(hash: k.hash(seed: index.seed), slot: slot)
            }
            if step % 997 == 0 || step == 39_999 {
                for n in 0..<10_000 {
                    let k = key(n)
                    #expect(index.find(k, hash: k.hash(seed: index.seed), keyAt: { keys[$0] }) == model[k])
                }
                #expect(index.count == model.count)
            }
        }
    }
}
