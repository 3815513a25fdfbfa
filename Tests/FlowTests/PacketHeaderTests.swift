// PacketHeaderParser: captured headers written out by hand, one layer a line; short captures at every
// length; bounded loops over tags, labels and extension headers.
@testable import Flow
import Testing

@Suite("PacketHeaderParser")
struct PacketHeaderTests {
    func parse(_ bytes: [UInt8], _ layer: PacketLayer = .ethernet) -> (PacketDepth, FlowRecord) {
        var r = FlowRecord()
        let depth = PacketHeaderParser.parse(bytes.span.bytes, 0..<bytes.count, startingAt: layer, into: &r)
        return (depth, r)
    }

    @Test func ethernetIPv4TCP() {
        let (depth, r) = parse(frameEthernetIPv4TCP)
        #expect(depth == .transport)
        #expect(r.dstMAC == 0x0011_2233_4455 && r.srcMAC == 0x6677_8899_aabb && r.vlan == 0)
        #expect(r.src == FlowIP(v4: 0x0a00_0001) && r.dst == FlowIP(v4: 0x0a00_0002))
        #expect(r.proto == 6 && r.tos == 0xb8 && r.srcPort == 50000 && r.dstPort == 443 && r.tcpFlags == 0x18)
    }

    @Test func ipv4OptionsAreSkipped() {
        let (depth, r) = parse(sflowHex("""
            46 00 0030 0001 0000 40 11 0000   # IPv4, IHL 6 (4 bytes of options), UDP
            01020304 05060708                 # 1.2.3.4 → 5.6.7.8
            01 01 01 00                       # options: NOP NOP NOP EOL
            0202 0203 0010 0000               # UDP 514 → 515
            """), .ipv4)
        #expect(depth == .transport && r.proto == 17 && r.srcPort == 514 && r.dstPort == 515)
        #expect(r.srcMAC == 0)
    }

    @Test func ipv4LaterFragmentHasNoPorts() {
        let (depth, r) = parse(sflowHex("""
            45 00 0030 0001 00b9 40 11 0000   # IPv4, fragment offset 185 (×8 bytes), UDP
            01020304 05060708
            0202 0203 0010 0000               # payload bytes that look like UDP but are not a header
            """), .ipv4)
        #expect(depth == .network && r.proto == 17 && r.srcPort == 0 && r.dstPort == 0)
        // The first fragment (more fragments set, offset 0) does have them.
        let (first, f) = parse(sflowHex("45 00 0030 0001 2000 40 11 0000 01020304 05060708 0202 0203 0010 0000"), .ipv4)
        #expect(first == .transport && f.srcPort == 514)
    }

    @Test func summaryLocatesTheUDPPayloadAndLength() {
        // A 60-byte Ethernet frame: 14 + IPv4 (total length 32) + UDP + 4 payload bytes + 10 bytes of padding.
        let frame = sflowHex("""
            001122334455 66778899aabb 0800
            45 00 0020 0001 0000 40 11 0000 0a000001 0a000002
            0202 07d0 000c 0000               # UDP 514 → 2000, length 12
            deadbeef
            00000000000000000000
            """)
        var r = FlowRecord(), m = PacketSummary()
        PacketHeaderParser.parse(frame.span.bytes, 0..<frame.count, startingAt: .ethernet, into: &r, summary: &m)
        #expect(m.depth == .transport && m.networkOffset == 14 && m.ipLength == 32 && !m.fragment)
        #expect(m.transportOffset == 34 && m.payloadOffset == 42)
        #expect(Array(frame[m.payloadOffset..<(m.networkOffset + m.ipLength)]) == [0xde, 0xad, 0xbe, 0xef])
        // A first fragment says so (its payload is not the whole datagram).
        let first = sflowHex("45 00 0030 0001 2000 40 11 0000 01020304 05060708 0202 0203 0010 0000")
        var f = FlowRecord(), fm = PacketSummary()
        PacketHeaderParser.parse(first.span.bytes, 0..<first.count, startingAt: .ipv4, into: &f, summary: &fm)
        #expect(fm.fragment && fm.ipLength == 48 && fm.payloadOffset == 28)
        // TCP: the payload starts after the data offset (here 8 words: 12 bytes of options); IPv6 length is 40 + payload.
        let tcp = sflowHex("""
            60000000 0024 06 40 fe800000000000000000000000000001 ff020000000000000000000000000001
            0016 c000 00000000 00000000 8018 0000 0000 0000 0101080a 00000001 00000002 41424344
            """)
        var t = FlowRecord(), tm = PacketSummary()
        PacketHeaderParser.parse(tcp.span.bytes, 0..<tcp.count, startingAt: .ipv6, into: &t, summary: &tm)
        #expect(tm.ipLength == 76 && tm.transportOffset == 40 && tm.payloadOffset == 72 && t.tcpFlags == 0x18)
    }

    @Test func ipv6ExtensionChainToTCP() {
        let (depth, r) = parse(sflowHex("""
            60000000 0040 2b 40                   # IPv6, next header 43 (routing)
            fe800000000000000000000000000001      # src fe80::1
            ff020000000000000000000000000001      # dst ff02::1
            3c 02 00 00 00000000 0000000000000000 0000000000000000  # routing: next 60, 24 bytes
            2c 00 0104 00000000                   # destination options: next 44, 8 bytes
            06 00 0001 12345678                   # fragment: next TCP, offset 0, M set
            0016 c000 00000000 00000000 5011 0000 0000 0000  # TCP 22 → 49152, FIN|ACK
            """), .ipv6)
        #expect(depth == .transport && r.proto == 6 && r.srcPort == 22 && r.dstPort == 49152 && r.tcpFlags == 0x11)
        #expect(r.src == FlowIP(v6High: 0xfe80_0000_0000_0000, v6Low: 1))
    }

    @Test func ipv6LaterFragmentAndAH() {
        var (depth, r) = parse(sflowHex("""
            60000000 0010 2c 40 00000000000000000000000000000001 00000000000000000000000000000002
            11 00 05a9 12345678                   # fragment: next UDP, offset 181, M set
            0035 0035 0008 0000
            """), .ipv6)
        #expect(depth == .network && r.proto == 17 && r.dstPort == 0)
        (depth, r) = parse(sflowHex("""
            60000000 0020 33 40 00000000000000000000000000000001 00000000000000000000000000000002
            11 04 0000 00000001 00000002 0000000000000000 00000000   # AH: next UDP, (4+2)×4 = 24 bytes
            1234 0035 0008 0000                   # UDP 4660 → 53
            """), .ipv6)
        #expect(depth == .transport && r.proto == 17 && r.srcPort == 0x1234 && r.dstPort == 53)
    }

    @Test func ipv6ChainIsBounded() {
        // Nine hop-by-hop headers in a row (each pointing at another): the walk gives up after eight.
        var bytes = sflowHex("60000000 0048 00 40 00000000000000000000000000000001 00000000000000000000000000000002")
        for _ in 0..<9 { bytes += sflowHex("00 00 0104 00000000") }
        bytes += sflowHex("0035 0035 0008 0000")
        let (depth, r) = parse(bytes, .ipv6)
        #expect(depth == .network && r.proto == 0 && r.srcPort == 0)
        // A header whose length runs past the capture stops the walk too.
        let (short, s) = parse(sflowHex("60000000 0048 3c 40 00000000000000000000000000000001 00000000000000000000000000000002 11 ff 0000"), .ipv6)
        #expect(short == .network && s.proto == 17 && s.srcPort == 0)
    }

    @Test func icmpv6TypeAndCode() {
        let (depth, r) = parse(sflowHex("""
            001122334455 66778899aabb 86dd
            60000000 0008 3a 40 00000000000000000000000000000001 00000000000000000000000000000002
            80 00 0000 0001 0001                  # ICMPv6 echo request: type 128 code 0
            """))
        #expect(depth == .transport && r.proto == 58 && r.srcPort == 0 && r.dstPort == 0x8000)
    }

    @Test func vlanTagsAreBounded() {
        // Five stacked tags: more than the parser follows, so it stops at the link layer.
        var bytes = sflowHex("001122334455 66778899aabb")
        for vlan in 1...5 { bytes += [0x81, 0x00, 0x00, UInt8(vlan)] }
        bytes += sflowHex("0800") + Array(frameEthernetIPv4TCP[14...])
        let (depth, r) = parse(bytes)
        #expect(depth == .link && r.vlan == 1 && r.src == .none)
        // The pre-standard 0x9100 outer tag counts as QinQ too.
        let (qinq, q) = parse(sflowHex("001122334455 66778899aabb 9100 0fff 8100 0002 0800") + Array(frameEthernetIPv4TCP[14...]))
        #expect(qinq == .transport && q.vlan == 4095 && q.dstPort == 443)
    }

    @Test func nonIPPayloads() {
        // 802.3 with an LLC header (the type field is a length): MACs only.
        var (depth, r) = parse(sflowHex("001122334455 66778899aabb 0026 4242 03 0000"))
        #expect(depth == .link && r.srcMAC == 0x6677_8899_aabb && r.proto == 0)
        // MPLS carrying something whose first nibble is neither 4 nor 6 (an Ethernet pseudowire).
        (depth, r) = parse(sflowHex("001122334455 66778899aabb 8847 00010140 0000 0000 0000"))
        #expect(depth == .link && r.src == .none)
        // An MPLS capture that begins with the label stack (header protocol 13).
        (depth, r) = parse(sflowHex("00010140") + Array(frameEthernetIPv4TCP[14...]), .mpls)
        #expect(depth == .transport && r.dstPort == 443)
        (depth, r) = parse([0, 1], .mpls)
        #expect(depth == .none)
        // Wrong IP versions.
        (depth, r) = parse(Array(frameEthernetIPv4TCP[14...]), .ipv6)
        #expect(depth == .none)
        var bad = Array(frameEthernetIPv4TCP[14...])
        bad[0] = 0x44  // IHL 4: below the minimum
        (depth, r) = parse(bad, .ipv4)
        #expect(depth == .none && r.src == .none)
    }

    @Test func mplsStackIsBounded() {
        var bytes = sflowHex("001122334455 66778899aabb 8847")
        for _ in 0..<17 { bytes += sflowHex("00010040") }  // no bottom-of-stack bit
        bytes += sflowHex("00010140") + Array(frameEthernetIPv4TCP[14...])
        let (depth, r) = parse(bytes)
        #expect(depth == .link && r.src == .none)
    }

    @Test func everyShortCaptureStopsQuietly() {
        // QinQ, IPv6, hop-by-hop, TCP: every prefix parses to no deeper than the whole does, fields only
        // ever filled from bytes that are there.
        let full = sflowHex("""
            001122334455 66778899aabb 88a8 0064 8100 00c8 86dd
            60000000 001c 00 40 20010db8000000000000000000000001 20010db8000000000000000000000002
            06 00 0104 00000000
            0050 d431 00000001 00000002 5012 ffff 0000 0000
            """)
        let (fullDepth, whole) = parse(full)
        #expect(fullDepth == .transport && whole.tcpFlags == 0x12 && whole.vlan == 100)
        var last = PacketDepth.none
        for n in 0...full.count {
            let (depth, r) = parse(Array(full[..<n]))
            #expect(depth >= last || n == 0, "prefix \(n) went shallower")
            last = depth
            #expect(n >= 14 || depth == .none)
            #expect(n >= 18 || r.vlan == 0)
            #expect(n >= 22 + 40 || r.src == .none)
            #expect(n >= 22 + 40 + 8 + 14 || r.tcpFlags == 0)
        }
        #expect(last == .transport)
    }

    @Test func randomHeadersNeverTrap() {
        var rng = SFlowTestRandom(state: 42)
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0...160, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Make deep layers likely: a plausible Ethernet type, IP version nibbles.
            if bytes.count > 20 {
                bytes[12] = [0x08, 0x86, 0x88, 0x81][Int.random(in: 0...3, using: &rng)]
                bytes[13] = [0x00, 0xdd, 0x47, 0xa8][Int.random(in: 0...3, using: &rng)]
            }
            for layer in [PacketLayer.ethernet, .mpls, .ipv4, .ipv6] {
                var r = FlowRecord()
                _ = PacketHeaderParser.parse(bytes.span.bytes, 0..<bytes.count, startingAt: layer, into: &r)
                // A sub-range of the span.
                if bytes.count > 4 {
                    _ = PacketHeaderParser.parse(bytes.span.bytes, 2..<bytes.count - 2, startingAt: layer, into: &r)
                }
            }
        }
    }
}
