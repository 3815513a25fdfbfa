// PcapFile: where each supported link type puts the network header, and reading small captures written
// here byte by byte (raw IP, BSD loopback in both byte orders, an unsupported link type, a missing file).
import Capture
import Foundation
import Testing

/// A classic little-endian microsecond pcap of `frames` with link type `linkType` (LINKTYPE_ value).
private func pcap(linkType: UInt32, _ frames: [[UInt8]]) -> [UInt8] {
    var b: [UInt8] = []
    func le32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { b.append(UInt8(v >> UInt32(s) & 0xff)) } }
    le32(0xa1b2_c3d4); b += [2, 0, 4, 0]; le32(0); le32(0); le32(65535); le32(linkType)
    for (i, f) in frames.enumerated() {
        le32(1_793_491_200); le32(UInt32(i) * 10); le32(UInt32(f.count)); le32(UInt32(f.count) + 1)
        b += f
    }
    return b
}

private func write(_ bytes: [UInt8]) throws -> String {
    let path = NSTemporaryDirectory() + "pcapfile-\(UInt64.random(in: 0...UInt64.max)).pcap"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

/// The first 20 bytes of an IPv4 header and the first 40 of an IPv6 one (only the version matters here).
private let v4: [UInt8] = [0x45] + [UInt8](repeating: 0, count: 19)
private let v6: [UInt8] = [0x60] + [UInt8](repeating: 0, count: 39)

@Suite("PcapFile")
struct PcapFileTests {
    func start(_ dlt: Int32, _ frame: [UInt8]) -> PcapFrameStart {
        PcapLinkType(dlt).start(of: frame.span.bytes)
    }

    @Test func findsTheNetworkHeaderOfEachLinkType() {
        #expect(start(1, [0]) == .ethernet(at: 0))
        // Linux cooked v1: protocol at 14, 16-byte header; one 802.1Q tag is followed.
        let sll = [UInt8](repeating: 0, count: 14)
        #expect(start(113, sll + [0x08, 0x00] + v4) == .ipv4(at: 16))
        #expect(start(113, sll + [0x86, 0xdd] + v6) == .ipv6(at: 16))
        #expect(start(113, sll + [0x81, 0x00, 0x00, 0x05, 0x08, 0x00] + v4) == .ipv4(at: 20))
        #expect(start(113, sll + [0x08, 0x06] + v4) == .notIP)
        #expect(start(113, [0, 0, 0]) == .notIP)
        // Linux cooked v2: protocol first, 20-byte header.
        #expect(start(276, [0x86, 0xdd] + [UInt8](repeating: 0, count: 18) + v6) == .ipv6(at: 20))
        #expect(start(276, [0x08, 0x00, 0, 0]) == .notIP)
        // Raw IP (both DLT values) and DLT_IPV4/IPV6: the version nibble.
        for dlt: Int32 in [12, 14, 228, 229] {
            #expect(start(dlt, v4) == .ipv4(at: 0))
            #expect(start(dlt, v6) == .ipv6(at: 0))
            #expect(start(dlt, [0x10]) == .notIP)
            #expect(start(dlt, []) == .notIP)
        }
        // BSD loopback: the family in either byte order; AF_INET6 differs between systems.
        #expect(start(0, [2, 0, 0, 0] + v4) == .ipv4(at: 4))
        #expect(start(0, [0, 0, 0, 2] + v4) == .ipv4(at: 4))
        #expect(start(108, [0, 0, 0, 24] + v6) == .ipv6(at: 4))
        #expect(start(0, [30, 0, 0, 0] + v6) == .ipv6(at: 4))
        #expect(start(0, [10, 0, 0, 0] + v6) == .ipv6(at: 4))
        #expect(start(0, [7, 0, 0, 0] + v4) == .notIP)
        #expect(start(0, [2, 0]) == .notIP)
    }

    @Test func readsEveryFrameInPlaceWithItsHeader() throws {
        // LINKTYPE_RAW (101) is reported as DLT_RAW.
        let path = try write(pcap(linkType: 101, [v4, v6, v4 + [1, 2, 3]]))
        defer { unlink(path) }
        let file = try PcapFile(path: path)
        #expect(file.linkType.dlt == 12 || file.linkType.dlt == 14)
        #expect(file.size == 24 + 3 * 16 + 20 + 40 + 23)
        var seen: [(PcapFrameStart, PcapFrameInfo)] = []
        try file.forEachFrame { bytes, info in
            seen.append((file.linkType.start(of: bytes), info))
            return true
        }
        #expect(seen.map(\.0) == [.ipv4(at: 0), .ipv6(at: 0), .ipv4(at: 0)])
        #expect(seen.map(\.1.capturedLength) == [20, 40, 23])
        #expect(seen.map(\.1.originalLength) == [21, 41, 24])
        // Microsecond files come back in nanoseconds.
        #expect(seen.map(\.1.timestampNanos) == [0, 10_000, 20_000].map { 1_793_491_200_000_000_000 + $0 })
        #expect(file.position == file.size)
    }

    @Test func stopsWhenTheCallerSaysSo() throws {
        let path = try write(pcap(linkType: 0, [[2, 0, 0, 0] + v4, [2, 0, 0, 0] + v4, [2, 0, 0, 0] + v4]))
        defer { unlink(path) }
        let file = try PcapFile(path: path)
        var n = 0
        try file.forEachFrame { _, _ in
            n += 1
            return n < 2
        }
        #expect(n == 2)
    }

    @Test func refusesWhatItCannotRead() throws {
        let wifi = try write(pcap(linkType: 105, [[0]]))
        defer { unlink(wifi) }
        #expect {
            _ = try PcapFile(path: wifi)
        } throws: { error in
            let e = error as? PcapError
            return e?.path == wifi && e?.message.contains("IEEE802_11") == true && e?.message.contains("not supported") == true
        }
        #expect {
            _ = try PcapFile(path: "/nonexistent/x.pcap")
        } throws: { error in
            (error as? PcapError)?.description == "/nonexistent/x.pcap: No such file or directory"
        }
    }
}
