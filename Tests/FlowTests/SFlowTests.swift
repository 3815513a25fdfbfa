// SFlowDecoder: hand-built sFlow v5 datagrams (see SFlowFixtures.swift), hostile lengths and counts,
// truncation at every offset and random garbage.
@testable import Flow
import Testing

@Suite("SFlowDecoder")
struct SFlowTests {
    // MARK: Flow samples

    @Test func ethernetIPv4TCPFlowSample() throws {
        // One compact flow sample with one raw packet header, written out in full.
        let datagram = sflowHex("""
            00000005                    # version 5
            00000001 c0000201           # agent address: IPv4 192.0.2.1
            00000007                    # sub-agent id 7
            0000002a                    # datagram sequence number 42
            000003e8                    # uptime 1000 ms
            00000001                    # 1 sample
            00000001 00000070           # sample: enterprise 0 format 1 (flow sample), 112 bytes
            00000005                    #   sample sequence number
            00000003                    #   source id: type 0 (ifIndex), index 3
            00000400                    #   sampling rate 1024
            00001000                    #   sample pool
            00000000                    #   drops
            00000003                    #   input: ifIndex 3
            00000005                    #   output: ifIndex 5
            00000001                    #   1 flow record
            00000001 00000048           #   record: enterprise 0 format 1 (raw packet header), 72 bytes
            00000001                    #     header protocol 1 (Ethernet)
            000005ee                    #     frame length 1518
            00000004                    #     stripped 4 (FCS)
            00000036                    #     header length 54
            001122334455 66778899aabb 0800                   # Ethernet: dst, src, IPv4
            45b8 05dc 1234 4000 4006 0000 0a000001 0a000002  # IPv4: TOS 0xb8, DF, TCP, 10.0.0.1 → 10.0.0.2
            c350 01bb 00000001 00000000 5018 ffff 0000 0000  # TCP 50000 → 443, PSH|ACK
            0000                                             # XDR padding to 56
            """)
        #expect(datagram.count == 148)
        let d = try sflowDecode(datagram, receivedMicros: 1_700_000_000_123_456)
        #expect(d.info.agent == FlowIP(v4: 0xC000_0201))
        #expect(d.info.subAgent == 7 && d.info.sequenceNumber == 42 && d.info.uptimeMillis == 1000)
        #expect(d.info.sampleCount == 1 && d.info.samplesDecoded == 1 && d.info.flowRecords == 1)
        #expect(d.info.samplesSkipped == 0 && d.info.samplesMalformed == 0 && d.info.recordsSkipped == 0)
        #expect(d.info.error == nil)
        #expect(d.counters.isEmpty)
        let r = try #require(d.flows.first)
        var expected = FlowRecord()
        expected.receivedMicros = 1_700_000_000_123_456
        expected.exporter = FlowIP(v4: 0xC000_0201)
        expected.observationDomain = 7
        expected.source = .sflow5
        expected.dstMAC = 0x0011_2233_4455
        expected.srcMAC = 0x6677_8899_aabb
        expected.src = FlowIP(v4: 0x0a00_0001)
        expected.dst = FlowIP(v4: 0x0a00_0002)
        expected.proto = 6
        expected.tos = 0xb8
        expected.srcPort = 50000
        expected.dstPort = 443
        expected.tcpFlags = 0x18
        expected.bytes = 1518
        expected.packets = 1
        expected.samplingRate = 1024
        expected.inIf = 3
        expected.outIf = 5
        expected.direction = 0  // sampled on ifIndex 3, the input
        #expect(r == expected)
        #expect(r.scaledBytes == 1518 * 1024)
    }

    @Test func qinqIPv6HopByHopUDP() throws {
        let header = sflowHex("""
            001122334455 66778899aabb       # Ethernet MACs
            88a8 0064                       # 802.1ad S-tag, VLAN 100
            8100 20c8                       # 802.1Q C-tag, PCP 1, VLAN 200
            86dd                            # IPv6
            62a00000 0010 00 40             # version 6, traffic class 0x2a; payload 16, next header 0 (hop-by-hop), hop limit 64
            20010db8000000000000000000000001  # src 2001:db8::1
            20010db8000000000000000000000002  # dst 2001:db8::2
            11 00 0104 00000000             # hop-by-hop: next UDP, 8 bytes, PadN
            1f90 0035 0008 0000             # UDP 8080 → 53
            """)
        let sample = compactFlowSample(rate: 512, [(1, rawHeaderRecord(frameLength: 102, header))])
        let d = try sflowDecode(sflowDatagram([(1, sample)]))
        let r = try #require(d.flows.first)
        #expect(r.vlan == 100)  // the outer tag
        #expect(r.src == FlowIP(v6High: 0x2001_0db8_0000_0000, v6Low: 1))
        #expect(r.dst == FlowIP(v6High: 0x2001_0db8_0000_0000, v6Low: 2))
        #expect(r.proto == 17 && r.tos == 0x2a && r.srcPort == 8080 && r.dstPort == 53)
        #expect(r.bytes == 102 && r.samplingRate == 512)
    }

    @Test func mplsIPv4ICMP() throws {
        let header = sflowHex("""
            001122334455 66778899aabb 8847  # Ethernet, MPLS unicast
            00010040                        # label 16, TTL 64
            00011140                        # label 17, bottom of stack, TTL 64
            4500 0054 abcd 0000 4001 0000   # IPv4, ICMP
            c0a80001 c0a80002               # 192.168.0.1 → 192.168.0.2
            08 00 f7ff 0001 0001            # echo request: type 8 code 0
            """)
        let d = try sflowDecode(sflowDatagram([(1, compactFlowSample([(1, rawHeaderRecord(frameLength: 102, header))]))]))
        let r = try #require(d.flows.first)
        #expect(r.src == FlowIP(v4: 0xc0a8_0001) && r.dst == FlowIP(v4: 0xc0a8_0002))
        #expect(r.proto == 1 && r.srcPort == 0 && r.dstPort == 0x0800)
    }

    @Test func headerProtocolsOtherThanEthernet() throws {
        // Header protocol 11: the capture starts at the IPv4 header.
        let ipv4 = Array(frameEthernetIPv4TCP[14...])
        var d = try sflowDecode(sflowDatagram([(1, compactFlowSample([(1, rawHeaderRecord(protocol: 11, frameLength: 1500, ipv4))]))]))
        #expect(d.flows.first?.dstPort == 443 && d.flows.first?.srcMAC == 0)
        // Header protocol 7 (PPP) is not parsed, but the sample still counts its bytes.
        d = try sflowDecode(sflowDatagram([(1, compactFlowSample([(1, rawHeaderRecord(protocol: 7, frameLength: 800, ipv4))]))]))
        let r = try #require(d.flows.first)
        #expect(r.bytes == 800 && r.src == .none && r.inIf == 3)
    }

    @Test func expandedFlowSampleInterfaceFormats() throws {
        func expanded(sourceIndex: UInt32, input: (UInt32, UInt32), output: (UInt32, UInt32)) -> [UInt8] {
            var w = XDRWriter()
            w.u32(1)  // sample sequence number
            w.u32(0)  // source id type 0 (ifIndex)
            w.u32(sourceIndex)  // source id index, above 2^24
            w.u32(2048)  // sampling rate
            w.u32(99)  // sample pool
            w.u32(0)  // drops
            w.u32(input.0); w.u32(input.1)  // input: format, value
            w.u32(output.0); w.u32(output.1)  // output: format, value
            w.u32(1)  // 1 record
            w.u32(1); w.opaque(rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP))
            return w.bytes
        }
        let d = try sflowDecode(sflowDatagram([
            (3, expanded(sourceIndex: 0x0100_0005, input: (0, 0x0100_0001), output: (0, 0x0100_0005))),
            (3, expanded(sourceIndex: 0x0100_0001, input: (0, 0x0100_0001), output: (1, 258))),  // discarded, reason 258
            (3, expanded(sourceIndex: 0x0100_0001, input: (0, 0xFFFF_FFFF), output: (2, 3))),  // internal; 3 interfaces
        ]))
        #expect(d.info.samplesDecoded == 3 && d.flows.count == 3)
        #expect(d.flows[0].inIf == 0x0100_0001 && d.flows[0].outIf == 0x0100_0005)
        #expect(d.flows[0].direction == 1)  // sampled on the output interface: egress
        #expect(d.flows[0].samplingRate == 2048)
        #expect(d.flows[1].inIf == 0x0100_0001 && d.flows[1].outIf == 0 && d.flows[1].direction == 0)
        #expect(d.flows[2].inIf == 0 && d.flows[2].outIf == 0 && d.flows[2].direction == 255)
    }

    @Test func compactInterfaceFormats() throws {
        let header = [(UInt32(1), rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP))]
        let d = try sflowDecode(sflowDatagram([
            (1, compactFlowSample(source: 7, input: 0x3FFF_FFFF, output: 7, header)),  // from the device itself, out 7
            (1, compactFlowSample(source: 7, input: 7, output: 0x4000_0102, header)),  // discarded, reason 258
            (1, compactFlowSample(source: 7, input: 7, output: 0x8000_0003, header)),  // to 3 interfaces
            (1, compactFlowSample(source: 0x0100_0007, input: 7, output: 8, header)),  // source type 1 (VLAN)
            (1, compactFlowSample(source: 7, rate: 0, input: 7, output: 7, header)),  // hairpin; rate 0
        ]))
        #expect(d.flows.map(\.inIf) == [0, 7, 7, 7, 7])
        #expect(d.flows.map(\.outIf) == [7, 0, 0, 8, 7])
        #expect(d.flows.map(\.direction) == [1, 0, 0, 255, 255])
        #expect(d.flows[4].samplingRate == 1)
    }

    // MARK: Extended records

    @Test func extendedRouterGatewaySwitch() throws {
        let tagged = sflowHex("""
            001122334455 66778899aabb 8100 000a 0800    # Ethernet, 802.1Q VLAN 10
            4500 0028 0001 0000 4006 0000 0a000001 0a000002  # IPv4 TCP 10.0.0.1 → 10.0.0.2
            0400 0050 00000000 00000000 5002 ffff 0000 0000  # TCP 1024 → 80, SYN
            """)
        var router = XDRWriter()
        router.ipv4(0x0a01_0101)  // next hop 10.1.1.1
        router.u32(24); router.u32(16)  // source and destination mask lengths
        var gateway = XDRWriter()
        gateway.ipv6(0x2001_0db8_0000_0000, 0xff)  // BGP next hop 2001:db8::ff
        gateway.u32(65000)  // the router's AS
        gateway.u32(64512)  // source AS
        gateway.u32(64513)  // source peer AS
        gateway.u32(2)  // 2 path segments
        gateway.u32(2); gateway.u32(2); gateway.u32(64513); gateway.u32(3356)  // AS_SEQUENCE 64513 3356
        gateway.u32(1); gateway.u32(2); gateway.u32(15169); gateway.u32(396_982)  // AS_SET {15169, 396982}
        gateway.u32(2); gateway.u32(0xFDE8_0001); gateway.u32(0xFDE8_0002)  // 2 communities
        gateway.u32(100)  // local preference
        var vlanSwitch = XDRWriter()
        for v: UInt32 in [300, 0, 301, 0] { vlanSwitch.u32(v) }  // src VLAN, priority, dst VLAN, priority
        var unknownVLAN = XDRWriter()
        for v: UInt32 in [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF] { unknownVLAN.u32(v) }
        let header = rawHeaderRecord(frameLength: 64, tagged)

        let d = try sflowDecode(sflowDatagram([
            // Extended records before and after the header, gateway before router.
            (1, compactFlowSample([(1003, gateway.bytes), (1001, vlanSwitch.bytes), (1, header), (1002, router.bytes)])),
            // Gateway only: its BGP next hop stands in; an unknown switch VLAN keeps the header's tag.
            (1, compactFlowSample([(1, header), (1003, gateway.bytes), (1001, unknownVLAN.bytes)])),
        ]))
        #expect(d.info.error == nil && d.flows.count == 2)
        let a = d.flows[0], b = d.flows[1]
        #expect(a.nextHop == FlowIP(v4: 0x0a01_0101))
        #expect(a.srcAS == 64512 && a.dstAS == 396_982)
        #expect(a.vlan == 300)
        #expect(a.tcpFlags == 0x02 && a.dstPort == 80)
        #expect(b.nextHop == FlowIP(v6High: 0x2001_0db8_0000_0000, v6Low: 0xff))
        #expect(b.srcAS == 64512 && b.dstAS == 396_982 && b.vlan == 10)
    }

    @Test func gatewayWithEmptyPath() throws {
        var gateway = XDRWriter()
        gateway.ipv4(0x0a00_00fe)
        gateway.u32(65000); gateway.u32(0); gateway.u32(0)  // own AS, source AS, source peer AS
        gateway.u32(0)  // no path segments: the destination is in this AS
        gateway.u32(0)  // no communities
        gateway.u32(0)  // local preference
        let d = try sflowDecode(sflowDatagram([(1, compactFlowSample([(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP)), (1003, gateway.bytes)]))]))
        #expect(d.flows.first?.dstAS == 0 && d.flows.first?.nextHop == FlowIP(v4: 0x0a00_00fe))
    }

    // MARK: Counter samples

    static func genericCounters(ifIndex: UInt32) -> [UInt8] {
        var w = XDRWriter()
        w.u32(ifIndex)
        w.u32(6)  // ifType ethernetCsmacd
        w.u64(10_000_000_000)  // ifSpeed
        w.u32(1)  // ifDirection full duplex
        w.u32(3)  // ifStatus admin and oper up
        w.u64(0x1_0000_0001)  // ifInOctets
        for v: UInt32 in [10, 11, 12, 13, 14, 15] { w.u32(v) }  // in ucast, mcast, bcast, discards, errors, unknown protos
        w.u64(0x2_0000_0002)  // ifOutOctets
        for v: UInt32 in [20, 21, 22, 23, 24] { w.u32(v) }  // out ucast, mcast, bcast, discards, errors
        w.u32(2)  // ifPromiscuousMode false
        precondition(w.bytes.count == 88)
        return w.bytes
    }

    @Test func counterSamples() throws {
        var compact = XDRWriter()
        compact.u32(77)  // sample sequence number
        compact.u32(3)  // source id: ifIndex 3
        compact.u32(2)  // 2 records
        compact.u32(1); compact.opaque(Self.genericCounters(ifIndex: 3))  // 0/1 generic interface counters
        compact.u32(2); compact.opaque([UInt8](repeating: 0, count: 52))  // 0/2 Ethernet counters: skipped
        var expanded = XDRWriter()
        expanded.u32(78)  // sample sequence number
        expanded.u32(0); expanded.u32(0x0100_0007)  // source id type 0, index 0x01000007
        expanded.u32(1)  // 1 record
        expanded.u32(1); expanded.opaque(Self.genericCounters(ifIndex: 0x0100_0007))

        let d = try sflowDecode(sflowDatagram([(2, compact.bytes), (4, expanded.bytes)]), receivedMicros: 5)
        #expect(d.info.samplesDecoded == 2 && d.info.counterRecords == 2 && d.info.recordsSkipped == 1)
        #expect(d.flows.isEmpty && d.counters.count == 2)
        var k = SFlowInterfaceCounters()
        k.receivedMicros = 5
        k.agent = FlowIP(v4: 0xC000_0201)
        k.subAgent = 7
        k.ifIndex = 3
        k.ifType = 6
        k.ifSpeed = 10_000_000_000
        k.direction = 1
        k.status = 3
        k.inOctets = 0x1_0000_0001
        k.inUnicastPackets = 10
        k.inMulticastPackets = 11
        k.inBroadcastPackets = 12
        k.inDiscards = 13
        k.inErrors = 14
        k.inUnknownProtocols = 15
        k.outOctets = 0x2_0000_0002
        k.outUnicastPackets = 20
        k.outMulticastPackets = 21
        k.outBroadcastPackets = 22
        k.outDiscards = 23
        k.outErrors = 24
        k.promiscuous = 2
        #expect(d.counters[0] == k)
        k.ifIndex = 0x0100_0007
        #expect(d.counters[1] == k)
    }

    @Test func shortCounterRecordDropsTheWholeSample() throws {
        var w = XDRWriter()
        w.u32(1); w.u32(3)  // sequence, source
        w.u32(2)  // 2 records
        w.u32(1); w.opaque(Self.genericCounters(ifIndex: 3))  // good
        w.u32(1); w.opaque(Array(Self.genericCounters(ifIndex: 4)[..<80]))  // 80 of the 88 bytes
        let d = try sflowDecode(sflowDatagram([(2, w.bytes)]))
        #expect(d.counters.isEmpty && d.info.samplesMalformed == 1)
        guard case .truncated = d.info.error else { Issue.record("expected truncated, got \(String(describing: d.info.error))"); return }
    }

    // MARK: Unknown formats

    @Test func unknownSamplesAndRecordsAreSkipped() throws {
        let header = rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP)
        let sample = compactFlowSample([
            (2, [UInt8](repeating: 0xee, count: 24)),  // 0/2 sampled Ethernet: not read
            (4413 << 12 | 1, [1, 2, 3, 4, 5, 6, 7, 8]),  // another enterprise's record
            (1, header),
            (1, rawHeaderRecord(frameLength: 9999, frameEthernetIPv4TCP)),  // a second header: the first wins
        ])
        let d = try sflowDecode(sflowDatagram([
            (4413 << 12 | 5, [UInt8](repeating: 0xff, count: 12)),  // another enterprise's sample
            (5, [UInt8](repeating: 0, count: 16)),  // 0/5, not read here
            (1, sample),
        ]))
        #expect(d.info.samplesSkipped == 2 && d.info.samplesDecoded == 1 && d.info.recordsSkipped == 3)
        #expect(d.info.error == nil && d.flows.count == 1 && d.flows[0].bytes == 64)
    }

    @Test func flowSampleWithoutHeaderYieldsNothing() throws {
        var vlanSwitch = XDRWriter()
        for v: UInt32 in [300, 0, 301, 0] { vlanSwitch.u32(v) }
        let d = try sflowDecode(sflowDatagram([(1, compactFlowSample([(1001, vlanSwitch.bytes)]))]))
        #expect(d.flows.isEmpty && d.info.samplesDecoded == 1 && d.info.error == nil)
    }

    // MARK: Bad input

    @Test func badHeaders() {
        #expect(throws: FlowDecodeError.truncated(needed: 4, available: 0)) { try sflowDecode([]) }
        var v4 = sflowDatagram([])
        v4[3] = 4
        #expect(throws: FlowDecodeError.unknownVersion(4)) { try sflowDecode(v4) }
        var huge = v4
        huge[1] = 1
        #expect(throws: FlowDecodeError.unknownVersion(65535)) { try sflowDecode(huge) }
        var badAgent = sflowDatagram([])
        badAgent[7] = 3  // address type 3
        #expect(throws: FlowDecodeError.malformed("agent address type 3, expected 0 (unknown), 1 (IPv4) or 2 (IPv6)")) {
            try sflowDecode(badAgent)
        }
        let short = Array(sflowDatagram([]).prefix(20))
        #expect(throws: FlowDecodeError.truncated(needed: 24, available: 20)) { try sflowDecode(short) }
    }

    @Test func unknownAgentAndIPv6Agent() throws {
        var w = XDRWriter()
        w.u32(5); w.u32(0)  // version, agent address type 0: no address bytes
        w.u32(1); w.u32(2); w.u32(3); w.u32(0)  // sub-agent, sequence, uptime, no samples
        var d = try sflowDecode(w.bytes)
        #expect(d.info.agent == .none && d.info.subAgent == 1 && d.info.sequenceNumber == 2)
        w = XDRWriter()
        w.u32(5); w.ipv6(0x2001_0db8_0000_0000, 0x1)
        w.u32(1); w.u32(2); w.u32(3); w.u32(1)
        w.u32(1); w.opaque(compactFlowSample([(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP))]))
        d = try sflowDecode(w.bytes)
        #expect(d.info.agent == FlowIP(v6High: 0x2001_0db8_0000_0000, v6Low: 1))
        #expect(d.flows.first?.exporter == d.info.agent)
    }

    @Test func malformedSampleBetweenGoodOnes() throws {
        let good = compactFlowSample([(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP))])
        // Declares 2 records but holds 1: the sample's own length is fine, its contents are not.
        let bad = compactFlowSample(declaredRecords: 2, [(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP))])
        let d = try sflowDecode(sflowDatagram([(1, good), (1, bad), (1, good)]))
        #expect(d.flows.count == 2 && d.info.flowRecords == 2)
        #expect(d.info.samplesDecoded == 2 && d.info.samplesMalformed == 1)
        // Header 28 bytes, then samples of 8 + 112: the bad sample's body ends at 268, where the
        // decoder wanted a second record's format word.
        #expect(d.info.error == .truncated(needed: 272, available: 268))
    }

    @Test func sampleLengthPastTheEndStopsDecoding() throws {
        let good = compactFlowSample([(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP))])
        var datagram = sflowDatagram([(1, good), (1, good)])
        // The second sample's length (at 28 + 8 + 112 + 4) says 0xffff bytes.
        datagram.replaceSubrange(152..<156, with: [0, 0, 0xff, 0xff])
        let d = try sflowDecode(datagram)
        #expect(d.flows.count == 1 && d.info.samplesDecoded == 1 && d.info.samplesMalformed == 0)
        #expect(d.info.error == .truncated(needed: 156 + 0xffff, available: datagram.count))
    }

    @Test func countsLargerThanTheBytes() throws {
        let good = compactFlowSample([(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP))])
        // 4 billion samples declared, one there: the one is delivered, then the bytes run out.
        var d = try sflowDecode(sflowDatagram(declaredSamples: 0xFFFF_FFFF, [(1, good)]))
        #expect(d.flows.count == 1 && d.info.error == .truncated(needed: 152, available: 148))

        // 4 billion records in a flow sample.
        d = try sflowDecode(sflowDatagram([(1, compactFlowSample(declaredRecords: 0xFFFF_FFFF, [(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP))]))]))
        #expect(d.flows.isEmpty && d.info.samplesMalformed == 1)

        // A header length past its record.
        var record = rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP)
        record.replaceSubrange(12..<16, with: [0xff, 0xff, 0xff, 0xf0])
        d = try sflowDecode(sflowDatagram([(1, compactFlowSample([(1, record)]))]))
        #expect(d.flows.isEmpty && d.info.samplesMalformed == 1)

        // An AS path with 4 billion segments, and one with a segment of 4 billion ASes.
        for (segments, ases) in [(UInt32(0xFFFF_FFFF), UInt32(1)), (1, 0xFFFF_FFFF)] {
            var gateway = XDRWriter()
            gateway.ipv4(1); gateway.u32(1); gateway.u32(2); gateway.u32(3)
            gateway.u32(segments); gateway.u32(2); gateway.u32(ases); gateway.u32(64500)
            d = try sflowDecode(sflowDatagram([(1, compactFlowSample([(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP)), (1003, gateway.bytes)]))]))
            #expect(d.flows.isEmpty && d.info.samplesMalformed == 1 && d.info.error != nil)
        }

        // 4 billion counter records.
        var counters = XDRWriter()
        counters.u32(1); counters.u32(3); counters.u32(0xFFFF_FFFF)
        counters.u32(1); counters.opaque(Self.genericCounters(ifIndex: 3))
        d = try sflowDecode(sflowDatagram([(2, counters.bytes)]))
        #expect(d.counters.isEmpty && d.info.samplesMalformed == 1)
    }

    @Test func badNextHopAddressType() throws {
        var router = XDRWriter()
        router.u32(9); router.u32(0); router.u32(0)
        let d = try sflowDecode(sflowDatagram([(1, compactFlowSample([(1, rawHeaderRecord(frameLength: 64, frameEthernetIPv4TCP)), (1002, router.bytes)]))]))
        #expect(d.flows.isEmpty)
        #expect(d.info.error == .malformed("extended router next hop type 9, expected 0 (unknown), 1 (IPv4) or 2 (IPv6)"))
    }

    @Test func missingFinalPaddingIsTolerated() throws {
        // A 54-byte header as the datagram's last bytes, with every length counting no padding.
        var record = XDRWriter()
        record.u32(1); record.u32(64); record.u32(0); record.u32(54)
        record.bytes += frameEthernetIPv4TCP
        var sample = compactFlowSample([])
        sample.replaceSubrange(28..<32, with: [0, 0, 0, 1])  // 1 record
        sample += [0, 0, 0, 1] + [0, 0, 0, UInt8(record.bytes.count)] + record.bytes
        var w = XDRWriter()
        w.bytes = sflowDatagram([])
        w.bytes.replaceSubrange(24..<28, with: [0, 0, 0, 1])  // 1 sample
        w.u32(1); w.u32(UInt32(sample.count)); w.bytes += sample
        #expect(w.bytes.count % 4 == 2)
        let d = try sflowDecode(w.bytes)
        #expect(d.info.error == nil && d.flows.first?.dstPort == 443)
    }

    // MARK: Truncation and garbage

    /// Three samples of every kind the decoder reads, with extended records.
    static func fullDatagram() -> [UInt8] {
        var router = XDRWriter()
        router.ipv4(0x0a01_0101); router.u32(24); router.u32(16)
        var gateway = XDRWriter()
        gateway.ipv4(0x0a01_0102); gateway.u32(65000); gateway.u32(64512); gateway.u32(64513)
        gateway.u32(1); gateway.u32(2); gateway.u32(2); gateway.u32(64513); gateway.u32(3356)
        gateway.u32(0); gateway.u32(100)
        var vlanSwitch = XDRWriter()
        for v: UInt32 in [300, 0, 301, 0] { vlanSwitch.u32(v) }
        let flow = compactFlowSample([(1, rawHeaderRecord(frameLength: 1518, frameEthernetIPv4TCP)), (1002, router.bytes),
                                      (1003, gateway.bytes), (1001, vlanSwitch.bytes)])
        var expanded = XDRWriter()
        expanded.u32(1); expanded.u32(0); expanded.u32(9); expanded.u32(100); expanded.u32(1); expanded.u32(0)
        expanded.u32(0); expanded.u32(9); expanded.u32(0); expanded.u32(10); expanded.u32(1)
        expanded.u32(1); expanded.opaque(rawHeaderRecord(frameLength: 200, frameEthernetIPv4TCP))
        var counters = XDRWriter()
        counters.u32(1); counters.u32(3); counters.u32(2)
        counters.u32(1); counters.opaque(genericCounters(ifIndex: 3))
        counters.u32(2); counters.opaque([UInt8](repeating: 0, count: 52))
        return sflowDatagram([(1, flow), (3, expanded.bytes), (2, counters.bytes)])
    }

    @Test func truncatedAtEveryOffset() throws {
        let full = Self.fullDatagram()
        let whole = try sflowDecode(full)
        #expect(whole.info.error == nil && whole.flows.count == 2 && whole.counters.count == 1)
        for n in 0..<full.count {
            let prefix = Array(full[..<n])
            do {
                let d = try sflowDecode(prefix)
                #expect(n >= 28, "a header cut at \(n) decoded")
                #expect(d.info.error != nil, "cut at \(n): no error")
                #expect(d.flows.count + d.counters.count < 3, "cut at \(n): everything delivered")
                #expect(d.flows.allSatisfy { $0 == whole.flows[0] || $0 == whole.flows[1] })
            } catch {
                #expect(n < 28, "cut at \(n) threw \(error)")
            }
        }
    }

    @Test func randomGarbageAndMutations() {
        var rng = SFlowTestRandom(state: 0x5EED)
        let full = Self.fullDatagram()
        var decoded = 0
        func check(_ bytes: [UInt8]) {
            guard let d = try? sflowDecode(bytes) else { return }
            decoded += 1
            let accounted = d.info.samplesDecoded + d.info.samplesSkipped + d.info.samplesMalformed
            #expect(accounted <= Int(d.info.sampleCount))
            #expect(d.info.error != nil || accounted == Int(d.info.sampleCount))
            #expect(d.flows.count == d.info.flowRecords && d.counters.count == d.info.counterRecords)
        }
        for _ in 0..<5_000 {
            // Pure noise, and noise behind a valid header so the sample code sees it.
            var noise = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            check(noise)
            noise = sflowDatagram(declaredSamples: UInt32.random(in: 0...8, using: &rng), []) + noise
            check(noise)
            // The full datagram with a few bytes changed, a small length or count among them.
            var mutated = full
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<mutated.count, using: &rng)
                mutated[at] = Bool.random(using: &rng) ? UInt8.random(in: 0...255, using: &rng) : mutated[at] ^ 0x04
            }
            check(mutated)
        }
        #expect(decoded > 5_000)
    }
}
