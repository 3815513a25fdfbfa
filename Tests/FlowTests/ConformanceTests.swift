// Real exporter captures (Cisco IOS XR and Huawei, NetFlow v9 and IPFIX) from pmacct's test suite,
// decoded here and compared with what nfacctd produced from them (output-flow-00.json), aggregated the
// way each test's nfacctd-00.conf aggregates. The captures live outside the repository, in
// ../shared/conformance/pmacct next to it; without them the tests are skipped.
import Foundation
import Testing

@testable import Flow

/// The conformance directory, or nil when it is not there.
private let conformanceRoot: String? = {
    // #filePath is …/Tests/FlowTests/ConformanceTests.swift: three levels up is the repository.
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    let dir = url.deletingLastPathComponent().appendingPathComponent("shared/conformance/pmacct").path
    return FileManager.default.fileExists(atPath: dir) ? dir : nil
}()

/// Text form of an address as pmacct prints it, parsed back into a FlowIP for comparison.
func parseIP(_ s: String) -> FlowIP? {
    if s.contains(":") {
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ t: String) -> [UInt16]? {
            t.isEmpty ? [] : t.split(separator: ":").map { UInt16($0, radix: 16) }.reduce([UInt16]()) { acc, g in
                guard let g else { return acc }
                return acc + [g]
            }
        }
        guard let head = groups(halves[0]) else { return nil }
        let tail = halves.count == 2 ? (groups(halves[1]) ?? []) : []
        let all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        guard all.count == 8 else { return nil }
        let w = all.map(UInt64.init)
        return FlowIP(v6High: w[0] << 48 | w[1] << 32 | w[2] << 16 | w[3], v6Low: w[4] << 48 | w[5] << 32 | w[6] << 16 | w[7])
    }
    let parts = s.split(separator: ".").compactMap { UInt32($0) }
    guard parts.count == 4 else { return nil }
    return FlowIP(v4: parts.reduce(0) { $0 << 8 | $1 })
}

/// What nfacctd aggregated on and what this decoder can reproduce: the aggregate primitives that are
/// FlowRecord fields. Primitives it has no field for (MPLS labels, VRF names, masks, nets, RDs, labels
/// from pre-tag maps) are dropped from both sides by summing over them.
private struct AggregateKey: Hashable, CustomStringConvertible {
    var peer: String
    var src: FlowIP
    var dst: FlowIP
    var srcPort: UInt16
    var dstPort: UInt16
    var proto: UInt8
    var tos: UInt8
    var inIf: UInt32
    var outIf: UInt32
    var start: Int64?
    var end: Int64?

    var description: String {
        "\(peer) \(src):\(srcPort) → \(dst):\(dstPort) p\(proto) tos \(tos) if \(inIf)→\(outIf)"
            + (start.map { " \($0)…\(end ?? 0)" } ?? "")
    }
}

/// What nfacctd sums (packets, bytes) and ORs (TCP flags: the tcpflags primitive is not part of the
/// aggregation key but accumulated) per key.
private struct Totals: Equatable, CustomStringConvertible {
    var packets: UInt64 = 0
    var bytes: UInt64 = 0
    var tcpFlags: UInt8 = 0
    var description: String { "\(packets) pkts \(bytes) B flags \(tcpFlags)" }
}

private let protocolNumbers: [String: UInt8] = ["icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "ipv6-icmp": 58, "vrrp": 112]
private let tcpFlagBits: [String: UInt8] = ["FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ECE": 64, "CWR": 128]

/// One replay of a capture into nfacctd: which capture, and as which peer address the replay tool
/// (which rewrites the source address to its `repro_ips`) presented it.
private struct Replay {
    var capture: String
    var peer: String
}

private struct Scenario: CustomTestStringConvertible {
    var name: String
    var replays: [Replay]
    /// nfacctd_renormalize: true — counts were multiplied by the sampling rate.
    var renormalize = false
    /// timestamp_start / timestamp_end are aggregate primitives.
    var timestamps = false
    /// Peers of the expected output that come from captures not in the directory.
    var absentPeers: Set<String> = []
    /// Data sets whose template the capture never carries (held, then given up).
    var orphanSets = 0
    /// The sampling rates records must carry (1 in N).
    var rates: Set<UInt32> = [1]
    var testDescription: String { name }
}

private let scenarios: [Scenario] = [
    Scenario(name: "100-IPFIXv10-CISCO", replays: [Replay(capture: "100-IPFIXv10-CISCO", peer: "172.21.1.101")]),
    Scenario(
        name: "101-NFv9-CISCO-cust_primitives",
        replays: [Replay(capture: "101-NFv9-CISCO-cust_primitives", peer: "172.21.1.101")], timestamps: true),
    // nfacctd renormalized with a sampling_map that is not in the directory; its output equals the raw
    // counts, so the map gave these exporters 1 (the capture has no sampling options either).
    Scenario(
        name: "102-NFv9-CISCO-f2rd-pretag-sampling-reload",
        replays: [Replay(capture: "102-NFv9-CISCO-f2rd-pretag-sampling-reload", peer: "172.21.1.101")],
        renormalize: true, timestamps: true),
    Scenario(
        name: "104-IPFIXv10-IPv6-CISCO-sampling_option",
        // Options template 257 (scope selectorId 302; 305, 304, 309, 310) says selector 1 samples 1 of 256;
        // template 342 records carry selectorId 1.
        replays: [Replay(capture: "104-IPFIXv10-IPv6-CISCO-sampling_option", peer: "fd25::101")], renormalize: true,
        rates: [256]),
    Scenario(
        name: "106-IPFIXv10-HUAWEI-vrf_name",
        replays: [Replay(capture: "106-IPFIXv10-HUAWEI-vrf_name", peer: "fd25::101")], renormalize: true,
        timestamps: true),
    // Its README: "pcaps from tests 100, 101 and 102", replayed from three addresses; only the first is in
    // its directory, the other two are the 101 and 102 captures (every row matches).
    Scenario(
        name: "110-IPFIXv10-NFv9-multiple-sources",
        replays: [
            Replay(capture: "110-IPFIXv10-NFv9-multiple-sources", peer: "172.21.1.101"),
            Replay(capture: "101-NFv9-CISCO-cust_primitives", peer: "172.21.1.102"),
            Replay(capture: "102-NFv9-CISCO-f2rd-pretag-sampling-reload", peer: "172.21.1.103"),
        ]),
    // The IPv6 exporter's capture (traffic-01.pcap, replayed as fd25::101) is not in the directory and
    // none of the others holds its flows, so its 12 rows cannot be checked.
    Scenario(
        name: "111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources",
        replays: [Replay(capture: "111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources", peer: "172.21.1.101")],
        absentPeers: ["fd25::101"]),
    Scenario(
        name: "112-IPFIXv10-CISCO-options-map-reassignment",
        // Data sets of templates 313, 341, 348 (one packet) and 342 (the last one) come without their
        // templates, which the capture never carries; nfacctd's output has no rows from them either.
        // Options template 257 gives selector 1 a rate of 1 (305 = 1, 309 = 310 = 1).
        replays: [Replay(capture: "112-IPFIXv10-CISCO-options-map-reassignment", peer: "fd25::101")],
        orphanSets: 4),
]

@Suite("Conformance: pmacct captures")
struct ConformanceTests {
    @Test(.enabled(if: conformanceRoot != nil, "../shared/conformance/pmacct is not next to the repository"),
          arguments: scenarios)
    fileprivate func matchesNfacctd(_ s: Scenario) throws {
        let root = conformanceRoot!
        var decoder = TemplateDecoder()
        var ours: [AggregateKey: Totals] = [:]
        var held = 0
        var misses = 0
        var rates: Set<UInt32> = []
        for replay in s.replays {
            let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(root)/\(replay.capture)/traffic-00.pcap")))
            let datagrams = try PcapReader.datagrams(file)
            #expect(!datagrams.isEmpty)
            for d in datagrams {
                var records: [FlowRecord] = []
                let info = try decoder.decode(d.payload.span.bytes, exporter: d.source, receivedMicros: d.micros) {
                    records.append($0)
                }
                #expect(info.errors == FlowErrorCounts(), "\(replay.capture)")
                held += info.pendingHeld
                misses += info.templateMisses
                #expect(info.pendingReleased == 0)
                for r in records {
                    rates.insert(r.samplingRate)
                    let key = AggregateKey(
                        peer: replay.peer, src: r.src, dst: r.dst, srcPort: r.srcPort, dstPort: r.dstPort,
                        proto: r.proto, tos: r.tos, inIf: r.inIf, outIf: r.outIf,
                        start: s.timestamps ? pmacctSeconds(r.startMicros, r.source) : nil,
                        end: s.timestamps ? pmacctSeconds(r.endMicros, r.source) : nil)
                    ours[key, default: Totals()].packets += s.renormalize ? r.scaledPackets : r.packets
                    ours[key, default: Totals()].bytes += s.renormalize ? r.scaledBytes : r.bytes
                    ours[key, default: Totals()].tcpFlags |= r.tcpFlags
                }
            }
        }

        #expect(held == s.orphanSets)
        // Given up while later packets arrived (held longer than 10 s), or still held at the end.
        #expect(misses + decoder.expirePending(nowMicros: .max) == s.orphanSets)
        #expect(decoder.pendingSets == 0)
        #expect(rates == s.rates)

        var expected: [AggregateKey: Totals] = [:]
        let text = try String(contentsOfFile: "\(root)/\(s.name)/output-flow-00.json", encoding: .utf8)
        for line in text.split(separator: "\n") where !line.isEmpty {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let peer = try #require(o["peer_ip_src"] as? String)
            if s.absentPeers.contains(peer) { continue }
            let protoText = o["ip_proto"] as? String ?? ""
            let flags = (o["tcp_flags"] as? [String] ?? []).reduce(UInt8(0)) { $0 | (tcpFlagBits[$1] ?? 0) }
            let key = AggregateKey(
                peer: peer, src: try #require(parseIP(o["ip_src"] as? String ?? "")),
                dst: try #require(parseIP(o["ip_dst"] as? String ?? "")),
                srcPort: UInt16(o["port_src"] as? Int ?? 0), dstPort: UInt16(o["port_dst"] as? Int ?? 0),
                proto: protocolNumbers[protoText] ?? UInt8(protoText) ?? 0, tos: UInt8(o["tos"] as? Int ?? 0),
                inIf: UInt32(o["iface_in"] as? Int ?? 0), outIf: UInt32(o["iface_out"] as? Int ?? 0),
                start: (o["timestamp_start"] as? String).flatMap { Double($0) }.map { Int64($0) },
                end: (o["timestamp_end"] as? String).flatMap { Double($0) }.map { Int64($0) })
            expected[key, default: Totals()].packets += UInt64(o["packets"] as? Int ?? 0)
            expected[key, default: Totals()].bytes += UInt64(o["bytes"] as? Int ?? 0)
            expected[key, default: Totals()].tcpFlags |= flags
        }

        #expect(!expected.isEmpty)
        for (k, v) in expected.sorted(by: { $0.key.description < $1.key.description }) where ours[k] != v {
            Issue.record("\(s.name): nfacctd has \(k) \(v), we have \(ours[k].map(\.description) ?? "nothing")")
        }
        for (k, v) in ours.sorted(by: { $0.key.description < $1.key.description }) where expected[k] == nil {
            Issue.record("\(s.name): we have \(k) \(v), nfacctd has nothing")
        }
    }
}

/// Timestamps as nfacctd prints them with timestamps_secs. For v9 it computes seconds as
/// export seconds − (header uptime − field uptime) / 1000 with integer division, which rounds the
/// time up where our µs value (export time − the difference in ms) has a fraction: ceil. IPFIX
/// absolute times are truncated to the second.
private func pmacctSeconds(_ micros: Int64, _ source: FlowSource) -> Int64 {
    if source == .netflow9 { return (micros + 999_999).quotientAndRemainder(dividingBy: 1_000_000).quotient }
    return micros / 1_000_000
}
