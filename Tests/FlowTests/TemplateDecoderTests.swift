// NetFlow v9 and IPFIX through the template decoder: hand-built packets for templates, options and
// sampling, data before its template, withdrawal, reassignment, enterprise and variable-length fields,
// padding, the cache bounds, and truncation and garbage that must never trap.
import Testing

@testable import Flow

/// Hand-built after RFC 3954: one template flowset (template 256, 20 fields, 60-byte records) and one
/// data flowset with a record and 4 bytes of padding.
let v9Fixture = hex(
    """
    0009 0002 000F4240 6553F100   # version 9, 2 records, uptime 1 000 000 ms, export 1 700 000 000 s
    00000007 00000021             # sequence 7, source id 33
    0000 0058 0100 0014           # template flowset, 88 bytes: template 256, 20 fields
    00080004 000C0004 00070002 000B0002 00040001   # src, dst v4; ports; protocol
    00060001 00050001 000A0002 000E0002 00010004   # TCP flags; TOS; in, out if (2 bytes); octets (4)
    00020004 00160004 00150004 003D0001 000F0004   # packets (4); first, last switched; direction; next hop
    00100002 00110004 003A0002 00380006 00500006   # src AS (2), dst AS (4); VLAN; src MAC; dst MAC
    0100 0044                     # data flowset for 256, 68 bytes
    0A000001 C0A80102 1F90 0050 06 12 00           # 10.0.0.1:8080 → 192.168.1.2:80 TCP SYN|ACK TOS 0
    0005 0007 00001388 0000000A                    # if 5 → 7, 5000 bytes, 10 packets
    000F3A70 000F4240 00 0A0000FE                  # first 998 000, last 1 000 000 ms; ingress; via 10.0.0.254
    FDE8 0000FDE9 0064 001122334455 66778899AABB   # AS 65000 → 65001, VLAN 100, MACs
    00000000                                       # padding
    """)

/// Hand-built after RFC 7011: template 300 with IPv6 addresses, ms timestamps and an enterprise field
/// (Cisco PEN 9, element 1000), then two 97-byte data records and 2 bytes of padding.
let ipfixFixture = hex(
    """
    000A 0118 6553F100 00000010 00000005   # IPFIX, 280 bytes, export 1 700 000 000, sequence 16, domain 5
    0002 0040 012C 000D                    # template set, 64 bytes: template 300, 13 fields
    001B0010 001C0010 00070002 000B0002 00040001   # src, dst v6; ports; protocol
    00010008 00020008 00980008 00990008            # octets, packets; flowStart/EndMilliseconds
    000A0004 000E0004 003E0010                     # in, out if; next hop v6
    83E80004 00000009                              # enterprise 9 element 1000, 4 bytes
    012C 00C8                                      # data set for 300, 200 bytes
    20010DB8000000000000000000000001 20010DB8000000000000000000000002 01BB C350 06
    00000000000F4240 00000000000003E8 0000018BCFE56800 0000018BCFE56DDC
    0000000A 00000014 FE800000000000000000000000000001 DEADBEEF
    20010DB8000000000000000000000003 20010DB8000000000000000000000004 0035 0035 11
    0000000000000100 0000000000000002 0000018BCFE56800 0000018BCFE56800
    00000001 00000002 00000000000000000000000000000000 00000000
    0000                                           # padding
    """)

/// An IPFIX options template record: scope fields first.
func ipfixOptionsTemplate(_ id: UInt16, scope: [(UInt16, UInt16)], fields: [(UInt16, UInt16)]) -> [UInt8] {
    var w = Wire()
    w.u16(id)
    w.u16(UInt16(scope.count + fields.count))
    w.u16(UInt16(scope.count))
    for (t, l) in scope + fields {
        w.u16(t)
        w.u16(l)
    }
    return w.bytes
}

/// A v9 options template record (RFC 3954 §6.1): scope and option lengths in bytes.
func v9OptionsTemplate(_ id: UInt16, scope: [(UInt16, UInt16)], options: [(UInt16, UInt16)]) -> [UInt8] {
    var w = Wire()
    w.u16(id)
    w.u16(UInt16(scope.count * 4))
    w.u16(UInt16(options.count * 4))
    for (t, l) in scope + options {
        w.u16(t)
        w.u16(l)
    }
    return w.bytes
}

func set(_ id: UInt16, _ body: [UInt8]) -> [UInt8] {
    var w = Wire()
    w.set(id, body)
    return w.bytes
}

/// A record from (value, length) pairs.
func record(_ values: [(UInt64, Int)]) -> [UInt8] {
    var w = Wire()
    for (v, l) in values { w.uint(v, l) }
    return w.bytes
}

/// A small IPFIX template used by several tests: src, dst v4, octets (4), packets (4), in if (2).
let smallFields: [(UInt16, UInt16)] = [(8, 4), (12, 4), (1, 4), (2, 4), (10, 2)]
func smallRecord(_ n: UInt64) -> [UInt8] {
    record([(0x0A00_0000 + n, 4), (0x0A00_0100 + n, 4), (100 * n, 4), (n, 4), (n, 2)])
}

@Suite("NetFlow v9 and IPFIX templates")
struct TemplateDecoderTests {
    @Test func v9TemplateAndDataInOnePacket() throws {
        var d = TemplateDecoder()
        let (records, info) = try d.run(v9Fixture)
        #expect(info.version == 9 && info.sequence == 7 && info.domain == 33 && info.sysUptimeMillis == 1_000_000)
        #expect(info.templates == 1 && info.records == 1 && info.dataRecords == 1 && info.errors == FlowErrorCounts())
        #expect(info.nextSequence == 8)
        var r = FlowRecord()
        r.receivedMicros = receivedAt
        r.exporter = exporterA
        r.observationDomain = 33
        r.src = FlowIP(v4: 0x0A00_0001)
        r.dst = FlowIP(v4: 0xC0A8_0102)
        r.srcPort = 8080
        r.dstPort = 80
        r.proto = 6
        r.tcpFlags = 0x12
        r.inIf = 5
        r.outIf = 7
        r.bytes = 5000
        r.packets = 10
        r.startMicros = 1_699_999_998_000_000
        r.endMicros = 1_700_000_000_000_000
        r.direction = 0
        r.nextHop = FlowIP(v4: 0x0A00_00FE)
        r.srcAS = 65000
        r.dstAS = 65001
        r.vlan = 100
        r.srcMAC = 0x0011_2233_4455
        r.dstMAC = 0x6677_8899_AABB
        r.source = .netflow9
        #expect(records == [r])
        #expect(d.templateCount == 1)
    }

    @Test func ipfixWithEnterpriseFieldAndPadding() throws {
        var d = TemplateDecoder()
        let (records, info) = try d.run(ipfixFixture, from: exporterV6)
        #expect(info.version == 10 && info.sequence == 16 && info.domain == 5 && info.exportSeconds == 1_700_000_000)
        #expect(info.templates == 1 && info.records == 2 && info.nextSequence == 18 && info.errors == FlowErrorCounts())
        #expect(records.count == 2)
        let a = records[0]
        #expect(a.src == FlowIP(v6High: 0x2001_0DB8_0000_0000, v6Low: 1) && a.dst == FlowIP(v6High: 0x2001_0DB8_0000_0000, v6Low: 2))
        #expect(a.srcPort == 443 && a.dstPort == 50000 && a.proto == 6)
        #expect(a.bytes == 1_000_000 && a.packets == 1000)
        #expect(a.startMicros == 1_700_000_000_000_000 && a.endMicros == 1_700_000_001_500_000)
        #expect(a.inIf == 10 && a.outIf == 20 && a.nextHop == FlowIP(v6High: 0xFE80_0000_0000_0000, v6Low: 1))
        #expect(a.source == .ipfix && a.exporter == exporterV6 && a.observationDomain == 5 && a.samplingRate == 1)
        #expect(records[1].proto == 17 && records[1].srcPort == 53 && records[1].nextHop.isNone && records[1].outIf == 2)
        // The enterprise element is kept in the template by (PEN, id).
        let t = try #require(d.domains.values.first?.templates[300])
        #expect(t.fields.last == TemplateField(id: 1000, length: 4, enterprise: 9))
    }

    @Test func dataBeforeTemplateIsHeldThenDecodedWithItsOwnHeader() throws {
        var d = TemplateDecoder()
        // The data flowset alone, in an earlier packet whose header puts the same uptime 10 s earlier on
        // the wall clock (the exporter's clock was stepped since).
        let dataOnly = v9Packet(
            uptime: 1_000_000, seconds: 1_699_999_990, sequence: 6, sourceID: 33, Array(v9Fixture[108...]))
        let (none, held) = try d.run(dataOnly, at: receivedAt - 1_000_000)
        #expect(none.isEmpty && held.pendingHeld == 1 && !held.dataRecordsExact && held.nextSequence == 7)
        #expect(d.pendingSets == 1)
        let (records, info) = try d.run(v9Fixture)
        #expect(info.pendingReleased == 1 && info.records == 2 && info.dataRecords == 1 && d.pendingSets == 0)
        // The held record's times come from its own packet's header, the other one's from the fixture's.
        #expect(records[0].startMicros == 1_699_999_988_000_000 && records[1].startMicros == 1_699_999_998_000_000)
        #expect(records[0].receivedMicros == receivedAt - 1_000_000)
        #expect(records[1].receivedMicros == receivedAt)
        #expect(records[0].bytes == 5000 && records[1].bytes == 5000)
    }

    @Test func heldSetsAgeOutAndRespectTheirBounds() throws {
        var limits = TemplateDecoder.Limits()
        limits.maxPendingSetsPerDomain = 2
        limits.maxPendingAgeMicros = 5_000_000
        var d = TemplateDecoder(limits: limits)
        let data = ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(400, smallRecord(1)))
        for i in 0..<3 {
            let (_, info) = try d.run(data, at: receivedAt + Int64(i))
            #expect(info.pendingHeld == 1 && info.templateMisses == (i == 2 ? 1 : 0))
        }
        #expect(d.pendingSets == 2)
        // Another domain has its own allowance.
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 2, set(400, smallRecord(1)))).1.templateMisses == 0)
        // Six seconds later every held set is too old.
        let (_, late) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 3, []), at: receivedAt + 6_000_000)
        #expect(late.templateMisses == 3 && d.pendingSets == 0)

        // A set bigger than the per-domain byte allowance is a miss at once; so is everything when
        // holding is off.
        limits.maxPendingBytesPerDomain = 100
        d = TemplateDecoder(limits: limits)
        let big = ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(400, [UInt8](repeating: 1, count: 200)))
        #expect(try d.run(big).1.templateMisses == 1)
        limits.maxPendingSetsPerDomain = 0
        d = TemplateDecoder(limits: limits)
        #expect(try d.run(data).1.templateMisses == 1)

        // The total byte bound evicts the oldest of any domain.
        limits = TemplateDecoder.Limits()
        limits.maxPendingBytes = 3 * (18 + PendingSets.overhead)
        d = TemplateDecoder(limits: limits)
        for domain in UInt32(1)...4 {
            let (_, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: domain, set(400, smallRecord(1))))
            #expect(info.templateMisses == (domain == 4 ? 1 : 0))
        }
        #expect(d.pendingSets == 3 && d.pendingBytes == limits.maxPendingBytes)
        #expect(d.expirePending(nowMicros: .max) == 3)

        // The total count, and the sets one packet may have held.
        limits = TemplateDecoder.Limits()
        limits.maxPendingSets = 5
        limits.maxPendingSetsPerPacket = 3
        d = TemplateDecoder(limits: limits)
        let four = ipfixMessage(seconds: 1, sequence: 0, domain: 1, (400..<404).flatMap { set(UInt16($0), smallRecord(1)) })
        var (_, info) = try d.run(four)
        #expect(info.pendingHeld == 3 && info.templateMisses == 1)
        (_, info) = try d.run(four, from: exporterB)
        #expect(info.pendingHeld == 3 && info.templateMisses == 2 && d.pendingSets == 5)
    }

    @Test func v9OptionsSetTheSamplerRate() throws {
        var d = TemplateDecoder()
        var sets = set(1, v9OptionsTemplate(
            257, scope: [(1, 4)], options: [(48, 1), (49, 1), (50, 4)]) + [0, 0])  // System scope; padding
        sets += set(0, templateRecord(256, smallFields + [(48, 1)]))
        // Scope value 1 must not be read as octetDeltaCount (v9 scope type 1 is "System").
        sets += set(257, record([(1, 4), (3, 1), (2, 1), (512, 4)]) + [0, 0])
        sets += set(256, smallRecord(1) + record([(3, 1)]) + smallRecord(2) + record([(9, 1)]))
        let (records, info) = try d.run(v9Packet(uptime: 0, seconds: 1, sequence: 0, sourceID: 0, sets))
        #expect(info.optionsTemplates == 1 && info.templates == 1 && info.optionsRecords == 1 && info.dataRecords == 3)
        #expect(info.errors == FlowErrorCounts())
        #expect(records.map(\.samplingRate) == [512, 1])  // sampler 9 is unknown
        #expect(records[0].scaledBytes == 100 * 512)

        // An options record without a sampler id sets the rate for the whole source id.
        let domainWide = set(1, v9OptionsTemplate(258, scope: [(1, 4)], options: [(34, 4), (35, 1)]) + [0, 0])
            + set(258, record([(0, 4), (64, 4), (1, 1)]) + [0, 0, 0])
        _ = try d.run(v9Packet(uptime: 0, seconds: 1, sequence: 1, sourceID: 0, domainWide))
        let (again, _) = try d.run(v9Packet(uptime: 0, seconds: 1, sequence: 2, sourceID: 0, set(256, smallRecord(1) + record([(3, 1)]) + smallRecord(2) + record([(9, 1)]))))
        #expect(again.map(\.samplingRate) == [512, 64])
    }

    @Test func ipfixSelectorOptionsAndDomainRate() throws {
        var d = TemplateDecoder()
        // Cisco IOS XR style: scope selectorId, then samplingPacketInterval, selectorAlgorithm,
        // samplingSize, samplingPopulation (n-out-of-N: 1 of 1000) and a variable-length selector name.
        var sets = set(3, ipfixOptionsTemplate(
            257, scope: [(302, 4)], fields: [(305, 4), (304, 2), (309, 4), (310, 4), (335, 0xFFFF)]))
        sets += set(2, templateRecord(300, smallFields + [(302, 4)]) + templateRecord(301, smallFields))
        var name = Wire()
        name.u8(4)
        name.raw(Array("samp".utf8))
        sets += set(257, record([(7, 4), (1, 4), (3, 2), (1, 4), (1000, 4)]) + name.bytes + record([(8, 4), (1, 4), (1, 2), (1, 4), (0, 4)]) + [0])
        // Selector 8: systematic count-based, 1 selected then 99 skipped.
        sets += set(257, record([(8, 4), (1, 4), (1, 2), (0, 4), (0, 4)]) + [0])
        sets += set(300, smallRecord(1) + record([(7, 4)]) + smallRecord(2) + record([(5, 4)]))
        sets += set(301, smallRecord(3))
        let (records, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, sets))
        #expect(info.optionsRecords == 3 && info.errors == FlowErrorCounts())
        #expect(records.map(\.samplingRate) == [1000, 1, 1])
        #expect(d.domains.values.first?.samplers == [7: 1000, 8: 1])

        // Selector 8 again with a packet space: interval 1, space 99 → 1 in 100.
        let v2 = set(3, ipfixOptionsTemplate(258, scope: [(302, 4)], fields: [(305, 4), (306, 4)]))
            + set(258, record([(8, 4), (1, 4), (99, 4)]))
            // A domain-wide interval (no selector id): template 301's records and unknown selectors.
            + set(3, ipfixOptionsTemplate(259, scope: [(149, 4)], fields: [(34, 4)]))
            + set(259, record([(1, 4), (10, 4)]))
            + set(300, smallRecord(1) + record([(8, 4)]) + smallRecord(2) + record([(5, 4)]))
            + set(301, smallRecord(3))
        let (more, _) = try d.run(ipfixMessage(seconds: 1, sequence: 3, domain: 1, v2))
        #expect(more.map(\.samplingRate) == [100, 10, 10])
    }

    @Test func theOverrideWinsOverWhatTheExporterSays() throws {
        var d = TemplateDecoder { exporter, domain in exporter == exporterA && domain == 1 ? 4096 : nil }
        let sets = set(2, templateRecord(300, smallFields + [(34, 4)])) + set(300, smallRecord(1) + record([(100, 4)]))
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, sets)).0[0].samplingRate == 4096)
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 2, sets)).0[0].samplingRate == 100)
    }

    @Test func withdrawalOfOneAndOfAll() throws {
        var d = TemplateDecoder()
        let learn = set(2, templateRecord(300, smallFields) + templateRecord(301, smallFields))
            + set(3, ipfixOptionsTemplate(400, scope: [(149, 4)], fields: [(34, 4)]))
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, learn)).1.templates == 2)
        #expect(d.templateCount == 3)
        // Withdraw 300, then a data set for it is held, not decoded.
        var (_, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(2, record([(300, 2), (0, 2)]))))
        #expect(info.withdrawals == 1 && d.templateCount == 2)
        (_, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(300, smallRecord(1))))
        #expect(info.records == 0 && info.pendingHeld == 1)
        // Withdrawing an unknown template is counted; id 2 withdraws all templates, not options templates.
        (_, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(2, record([(999, 2), (0, 2), (2, 2), (0, 2)]))))
        #expect(info.errors.unknownWithdrawals == 1 && info.withdrawals == 1 && d.templateCount == 1)
        (_, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(3, record([(3, 2), (0, 2)]))))
        #expect(info.withdrawals == 1 && d.templateCount == 0)
    }

    @Test func reassignmentReplacesTheLayoutAndARefreshChangesNothing() throws {
        var d = TemplateDecoder()
        let first = set(2, templateRecord(300, smallFields)) + set(300, smallRecord(1))
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, first)).0[0].inIf == 1)
        let age = d.domains.values.first!.templates[300]!.age.value
        // The same layout again: same compiled template, only its age renewed.
        _ = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(2, templateRecord(300, smallFields))))
        #expect(d.domains.values.first!.templates[300]!.age.value > age && d.templateCount == 1)
        // Same id, new layout: ports instead of the interface.
        let second = set(2, templateRecord(300, [(8, 4), (12, 4), (7, 2), (11, 2)])) + set(300, record([(1, 4), (2, 4), (53, 2), (5353, 2)]))
        let r = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, second)).0[0]
        #expect(r.inIf == 0 && r.srcPort == 53 && r.dstPort == 5353 && d.templateCount == 1)
        // A rejected reassignment removes the old layout: data after it is not read with the wrong one.
        let bad = set(2, templateRecord(300, [(8, 4), (12, 0)])) + set(300, record([(1, 4), (2, 4), (53, 2), (5353, 2)]))
        let (records, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, bad))
        #expect(records.isEmpty && info.errors.badTemplates == 1 && info.pendingHeld == 1 && d.templateCount == 0)
    }

    @Test func variableLengthFields() throws {
        var d = TemplateDecoder()
        // An interface name (82) of variable length between fixed fields, then the source address as a
        // variable-length field (unusual but legal).
        let t = set(2, templateRecord(300, [(1, 4), (82, 0xFFFF), (10, 4), (8, 0xFFFF)]))
        var w = Wire()
        w.u32(1500)
        w.u8(3)
        w.raw(Array("et0".utf8))
        w.u32(7)
        w.u8(4)
        w.u32(0x0A00_0001)
        // Long form: 255 then a 2-byte length.
        w.u32(60)
        w.u8(255)
        w.u16(300)
        w.raw([UInt8](repeating: 0x41, count: 300))
        w.u32(8)
        w.u8(4)
        w.u32(0x0A00_0002)
        // Empty name, and an address of the wrong length, which is not read as an address.
        w.u32(40)
        w.u8(0)
        w.u32(9)
        w.u8(2)
        w.u16(0xFFFF)
        let (records, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, t + set(300, w.bytes)))
        #expect(info.errors == FlowErrorCounts())
        #expect(records.map(\.bytes) == [1500, 60, 40] && records.map(\.inIf) == [7, 8, 9])
        #expect(records.map(\.src) == [FlowIP(v4: 0x0A00_0001), FlowIP(v4: 0x0A00_0002), .none])

        // A length that runs past the set: counted, the records before it kept.
        var short = Wire()
        short.u32(1)
        short.u8(1)
        short.u8(0x41)
        short.u32(2)
        short.u8(0)
        short.u32(3)
        short.u8(200)
        short.raw([1, 2, 3, 4, 5, 6])
        let (some, bad) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(300, short.bytes)))
        #expect(some.count == 1 && bad.errors.shortRecords == 1 && !bad.dataRecordsExact)
    }

    @Test func reducedSizeIntegersAndAlternativeElements() throws {
        var d = TemplateDecoder()
        // Total counts (85/86) stand in for delta counts; 3-byte octets; 1-byte interfaces; dot1q VLAN
        // when there is no vlanId; post MACs; flowDirection egress; TOS as 1 byte; AS numbers in 2 bytes.
        let fields: [(UInt16, UInt16)] = [(85, 3), (86, 1), (10, 1), (14, 1), (243, 2), (81, 6), (57, 6), (61, 1), (16, 2), (17, 2)]
        let r = record([(0x01_0000, 3), (200, 1), (1, 1), (2, 1), (0x0FFE, 2), (0xAABB_CCDD_EEFF, 6), (0x1122_3344_5566, 6), (1, 1), (64512, 2), (65535, 2)])
        let rec = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(2, templateRecord(300, fields)) + set(300, r))).0[0]
        #expect(rec.bytes == 0x01_0000 && rec.packets == 200 && rec.inIf == 1 && rec.outIf == 2 && rec.vlan == 0xFFE)
        #expect(rec.srcMAC == 0xAABB_CCDD_EEFF && rec.dstMAC == 0x1122_3344_5566 && rec.direction == 1)
        #expect(rec.srcAS == 64512 && rec.dstAS == 65535)
        // When both delta and total counts are there, the delta wins wherever it is.
        let both = set(2, templateRecord(301, [(85, 4), (1, 4)])) + set(301, record([(7, 4), (5, 4)]))
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, both)).0[0].bytes == 5)
        // A repeated element: the last occurrence wins (the inner flow after a tunnel's outer header).
        let twice = set(2, templateRecord(302, [(7, 2), (4, 1), (7, 2), (4, 1)])) + set(302, record([(0, 2), (4, 1), (53, 2), (17, 1)]))
        let inner = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, twice)).0[0]
        #expect(inner.srcPort == 53 && inner.proto == 17)
    }

    @Test func bothAddressFamiliesInOneTemplate() throws {
        // Cisco IOS XR v9 template 313 style: IPv6 and IPv4 address fields, the unused family zeroed.
        var d = TemplateDecoder()
        let fields: [(UInt16, UInt16)] = [(27, 16), (28, 16), (8, 4), (12, 4)]
        let v4 = record([(0, 8), (0, 8), (0, 8), (0, 8), (0x0A00_0001, 4), (0x0A00_0002, 4)])
        let v6 = record([(0x2001_0DB8_0000_0000, 8), (1, 8), (0x2001_0DB8_0000_0000, 8), (2, 8), (0, 4), (0, 4)])
        let sets = set(0, templateRecord(313, fields)) + set(313, v4 + v6)
        let records = try d.run(v9Packet(uptime: 0, seconds: 1, sequence: 0, sourceID: 0, sets)).0
        #expect(records.map(\.src) == [FlowIP(v4: 0x0A00_0001), FlowIP(v6High: 0x2001_0DB8_0000_0000, v6Low: 1)])
        #expect(records.map(\.dst) == [FlowIP(v4: 0x0A00_0002), FlowIP(v6High: 0x2001_0DB8_0000_0000, v6Low: 2)])
    }

    @Test func timeEncodings() throws {
        var d = TemplateDecoder()
        let base: UInt64 = 1_700_000_000
        // Seconds; NTP µs; delta µs from export.
        var sets = set(2, templateRecord(300, [(150, 4), (155, 8)]) + templateRecord(301, [(158, 4), (159, 4)]))
        let ntp = (base + 2_208_988_800) << 32 | (UInt64(1) << 31)  // .5 s
        sets += set(300, record([(base, 4), (ntp, 8)]))
        sets += set(301, record([(3_000_000, 4), (250, 4)]))
        let records = try d.run(ipfixMessage(seconds: UInt32(base), sequence: 0, domain: 1, sets)).0
        #expect(records[0].startMicros == 1_700_000_000_000_000 && records[0].endMicros == 1_700_000_000_500_000)
        #expect(records[1].startMicros == 1_699_999_997_000_000 && records[1].endMicros == 1_699_999_999_999_750)

        // Uptime-relative in IPFIX: system init time from options data (Cisco), or in the record (Huawei).
        let initMs: UInt64 = 1_699_990_000_000
        var up = set(2, templateRecord(302, [(22, 4), (21, 4)]) + templateRecord(303, [(22, 4), (21, 4), (160, 8)]))
        up += set(302, record([(1000, 4), (2000, 4)]))  // no init time yet: unknown, 0
        up += set(3, ipfixOptionsTemplate(400, scope: [(149, 4)], fields: [(160, 8)])) + set(400, record([(1, 4), (initMs, 8)]))
        up += set(302, record([(1000, 4), (2000, 4)]))
        up += set(303, record([(1000, 4), (2000, 4), (initMs + 5000, 8)]))
        let u = try d.run(ipfixMessage(seconds: UInt32(base), sequence: 0, domain: 1, up)).0
        #expect(u.map(\.startMicros) == [0, 1_699_990_001_000_000, 1_699_990_006_000_000])
        #expect(u.map(\.endMicros) == [0, 1_699_990_002_000_000, 1_699_990_007_000_000])
    }

    @Test func templatesAreKeptPerExporterDomainAndProtocol() throws {
        var d = TemplateDecoder()
        _ = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(2, templateRecord(300, smallFields))))
        let data = set(300, smallRecord(1))
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, data)).0.count == 1)
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 2, data)).1.pendingHeld == 1)
        #expect(try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, data), from: exporterB).1.pendingHeld == 1)
        #expect(try d.run(v9Packet(uptime: 0, seconds: 1, sequence: 0, sourceID: 1, data)).1.pendingHeld == 1)
    }

    @Test func rejectedTemplatesAreCounted() throws {
        var d = TemplateDecoder()
        func bad(_ sets: [UInt8], v9: Bool = false) throws -> FlowErrorCounts {
            let p = v9 ? v9Packet(uptime: 0, seconds: 1, sequence: 0, sourceID: 0, sets) : ipfixMessage(seconds: 1, sequence: 0, domain: 1, sets)
            let info = try d.run(p).1
            #expect(info.templates == 0 && info.optionsTemplates == 0)
            return info.errors
        }
        #expect(try bad(set(2, templateRecord(300, [(8, 4), (12, 0)]))).badTemplates == 1)  // zero-length field
        #expect(try bad(set(2, templateRecord(300, [(UInt16, UInt16)](repeating: (8, 4), count: 513)))).badTemplates == 1)
        #expect(try bad(set(2, templateRecord(255, smallFields))).badTemplates == 1)  // reserved id
        #expect(try bad(set(2, Array(templateRecord(300, smallFields).dropLast(2)))).badTemplates == 1)  // runs past the set
        #expect(try bad(set(3, ipfixOptionsTemplate(300, scope: [], fields: [(34, 4)]))).badTemplates == 1)  // no scope
        var w = Wire()
        w.raw(ipfixOptionsTemplate(300, scope: [(149, 4)], fields: [(34, 4)]))
        w.bytes[5] = 3  // scope count above the field count
        #expect(try bad(set(3, w.bytes)).badTemplates == 1)
        #expect(try bad(set(0, templateRecord(300, [(82, 0xFFFF)])), v9: true).badTemplates == 1)  // no varlen in v9
        #expect(try bad(set(1, v9OptionsTemplate(300, scope: [], options: [])), v9: true).badTemplates == 1)
        #expect(try bad(set(1, record([(300, 2), (3, 2), (4, 2)]) + [0, 0, 0, 0]), v9: true).badTemplates == 1)  // not ×4
        #expect(d.templateCount == 0)
        // A field count beyond the limit when the fields are there: 513 × 4 bytes walked, rejected.
        var limits = TemplateDecoder.Limits()
        limits.maxFieldsPerTemplate = 4
        d = TemplateDecoder(limits: limits)
        let info = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(2, templateRecord(300, smallFields) + templateRecord(301, [(8, 4)])))).1
        #expect(info.errors.badTemplates == 1 && info.templates == 1 && d.templateCount == 1)
    }

    @Test func malformedAndReservedSets() throws {
        var d = TemplateDecoder()
        // A set claiming more than is there stops the packet after what came before it.
        var p = ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(2, templateRecord(300, smallFields)) + set(300, smallRecord(1)) + set(300, smallRecord(2)))
        p[p.count - 22 + 3] = 200
        var (records, info) = try d.run(p)
        #expect(records.count == 1 && info.errors.malformedSets == 1 && !info.dataRecordsExact)
        // A set length below its header.
        p = ipfixMessage(seconds: 1, sequence: 0, domain: 1, record([(300, 2), (2, 2)]))
        #expect(try d.run(p).1.errors.malformedSets == 1)
        // Reserved set ids are skipped and counted; the set after them is decoded.
        (records, info) = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, set(4, [1, 2, 3, 4]) + set(300, smallRecord(3))))
        #expect(info.errors.reservedSets == 1 && records.count == 1)
        (_, info) = try d.run(v9Packet(uptime: 0, seconds: 1, sequence: 0, sourceID: 0, set(2, [1, 2, 3, 4])))
        #expect(info.errors.reservedSets == 1)
        // Zero padding after the last v9 flowset is fine; other trailing bytes are counted.
        #expect(try d.run(v9Packet(uptime: 0, seconds: 1, sequence: 0, sourceID: 0, [0, 0, 0, 0, 0, 0])).1.errors == FlowErrorCounts())
        #expect(try d.run(v9Packet(uptime: 0, seconds: 1, sequence: 0, sourceID: 0, [0, 1])).1.errors.trailingBytes == 1)
        // Header problems are errors.
        #expect(throws: FlowDecodeError.truncated(needed: 20, available: 19)) { try d.run(Array(v9Fixture[0..<19])) }
        p = ipfixFixture
        p[2] = 0
        p[3] = 15
        #expect(throws: FlowDecodeError.malformed("IPFIX message length 15, below its 16-byte header")) { try d.run(p) }
        #expect(throws: FlowDecodeError.truncated(needed: 280, available: 279)) { try d.run(Array(ipfixFixture.dropLast())) }
        #expect(throws: FlowDecodeError.unknownVersion(5)) { try d.run(v5Fixture) }
    }

    @Test func theCacheStaysWithinItsBounds() throws {
        var limits = TemplateDecoder.Limits()
        limits.maxTemplatesPerDomain = 2
        limits.maxTemplates = 3
        limits.maxDomains = 2
        var d = TemplateDecoder(limits: limits)
        func learn(_ domain: UInt32, _ ids: [UInt16]) throws -> PacketInfo {
            try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: domain, set(2, ids.flatMap { templateRecord($0, smallFields) }))).1
        }
        // A third template in a domain evicts its oldest.
        #expect(try learn(1, [300, 301, 302]).errors.templateEvictions == 1)
        #expect(d.templateCount == 2 && d.domains.values.first?.templates.keys.sorted() == [301, 302])
        // The total: a second domain's second template evicts the whole least recently changed domain.
        #expect(try learn(2, [300]).errors.templateEvictions == 0)
        #expect(try learn(2, [301]).errors.templateEvictions == 2)
        #expect(d.templateCount == 2 && d.domains.count == 1)
        // The domain bound: a new domain evicts the oldest other one.
        _ = try learn(3, [300])
        #expect(try learn(4, [300]).errors.templateEvictions == 2)
        #expect(d.domains.count == 2 && d.templateCount == 2)
    }

    @Test func everyTruncationIsAnErrorOrFewerRecords() throws {
        for fixture in [v9Fixture, ipfixFixture] {
            var warm = TemplateDecoder()
            let full = try warm.run(fixture).0.count
            for cut in 0..<fixture.count {
                var fresh = TemplateDecoder()
                let part = Array(fixture[0..<cut])
                if let n = try? fresh.run(part).0.count { #expect(n < full) }
                // With the template known, a cut packet still yields at most its whole records.
                if let n = try? warm.run(part).0.count { #expect(n <= full) }
            }
        }
    }

    @Test func garbageAndMutationsNeverTrap() throws {
        var rng = SplitMix(state: 9)
        var limits = TemplateDecoder.Limits()
        limits.maxTemplates = 64
        limits.maxDomains = 8
        limits.maxPendingBytes = 64 << 10
        var d = TemplateDecoder(limits: limits)
        let seeds = [v9Fixture, ipfixFixture]
        for i in 0..<4_000 {
            var p: [UInt8]
            if i % 2 == 0 {
                p = seeds[i / 2 % 2]
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    p[Int.random(in: 0..<p.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            } else {
                p = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if p.count >= 4 {
                    p[0] = 0
                    p[1] = Bool.random(using: &rng) ? 9 : 10
                    if p[1] == 10 {
                        p[2] = UInt8(p.count >> 8)
                        p[3] = UInt8(p.count & 0xff)
                    }
                }
            }
            let exporter = FlowIP(v4: UInt32.random(in: 0...3, using: &rng))
            _ = try? d.run(p, from: exporter, at: Int64(i) * 10_000)
            #expect(d.templateCount <= limits.maxTemplates && d.domains.count <= limits.maxDomains)
            #expect(d.pendingBytes <= limits.maxPendingBytes)
        }
    }
}

@Suite("Fixed layout")
struct FixedLayoutTests {
    /// Elements the decoder maps, with the lengths exporters use for them.
    static let pool: [(UInt16, [UInt16])] = [
        (1, [4, 8, 3]), (2, [4, 8, 2]), (85, [8]), (86, [8]), (4, [1]), (5, [1]), (6, [1, 2]), (7, [2]), (11, [2]),
        (8, [4]), (12, [4]), (27, [16]), (28, [16]), (15, [4]), (62, [16]), (10, [2, 4]), (14, [2, 4]), (16, [2, 4]),
        (17, [2, 4]), (58, [2]), (243, [2]), (59, [2]), (56, [6]), (80, [6]), (81, [6]), (57, [6]), (61, [1]),
        (152, [8]), (153, [8]), (150, [4]), (151, [4]), (154, [8]), (155, [8]), (22, [4]), (21, [4]), (158, [4]),
        (159, [4]), (160, [8]), (48, [1, 2, 4]), (302, [4, 8]), (210, [3, 1]), (89, [1]), (999, [5]),
    ]

    /// Random fixed-length templates: the straight-line layout and the op loop give the same record.
    @Test func agreesWithTheOpLoop() throws {
        var rng = SplitMix(state: 77)
        for _ in 0..<2_000 {
            let fields = (0..<Int.random(in: 1...24, using: &rng)).map { _ in
                let (id, lengths) = Self.pool.randomElement(using: &rng)!
                return TemplateField(id: id, length: lengths.randomElement(using: &rng)!, enterprise: 0)
            }
            let t = try CompiledTemplate(id: 256, fields: fields, scopeCount: 0, isOptions: false, ipfix: true, maxFields: 512)
            let layout = try #require(t.layout)
            let bytes = (0..<(8 + t.minLength)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let span = bytes.span.bytes
            var a = FlowRecord(), b = FlowRecord()
            var xa = RecordExtras(), xb = RecordExtras()
            layout.decode(span, 8, &a, &xa)
            for op in t.ops { applyOp(op, span, 8, &b, &xb) }
            #expect(a == b, "\(fields)")
            #expect(xa.startRaw == xb.startRaw && xa.endRaw == xb.endRaw && xa.sysInitMillis == xb.sysInitMillis && xa.samplerID == xb.samplerID)
        }
    }
}
