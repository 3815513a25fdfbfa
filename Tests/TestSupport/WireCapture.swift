// What the wire saw: tcpdump on a test namespace's root-side veth, with kernel timestamps, pairs each echo
// request with its reply. RTT tests compare the poller with this instead of with the delay the responder
// was asked for, because on a busy machine the kernel itself delivers replies late (softirq work moves
// to ksoftirqd, an ordinary thread) and that lateness is real, on the wire, for every program alike.
import Foundation

/// A running capture of ICMP and ICMPv6 echo traffic on one interface.
public final class WireCapture: @unchecked Sendable {
    let child: Child
    let file: String
    var stopped = false

    deinit { _ = try? stop() }

    /// Starts tcpdump on `interface` and returns once it is listening.
    /// - Throws: when tcpdump is missing or does not start listening within 10 s.
    public static func start(interface: String) throws -> WireCapture {
        guard let tcpdump = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw NetNSError("tcpdump is not installed (scripts/setup installs it)")
        }
        let file = TestDB.tempDir("wire") + "/echo.pcap"
        let child = try Child(tcpdump, [
            "-i", interface, "-n", "-U", "--immediate-mode", "-w", file, "--time-stamp-precision=nano", "icmp or icmp6",
        ])
        for _ in 0..<200 where !child.output.contains("listening on") {
            if child.exitStatus() != nil { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard child.output.contains("listening on") else {
            child.signal(SIGKILL)
            _ = child.wait(timeout: 5)
            throw NetNSError("tcpdump on \(interface) did not start: \(child.output)")
        }
        // "listening on" comes before the capture is fully live: a burst sent at once would lose its head.
        Thread.sleep(forTimeInterval: 0.5)
        return WireCapture(child: child, file: file)
    }

    init(child: Child, file: String) {
        self.child = child
        self.file = file
    }

    /// Stops the capture and returns the round trip, in milliseconds, of every echo request the wire saw
    /// answered, in the order the replies came.
    public func stop() throws -> [Double] {
        if !stopped {
            stopped = true
            child.signal(SIGINT)
            if child.wait(timeout: 10) != 0 && child.exitStatus() == nil { child.signal(SIGKILL); _ = child.wait(timeout: 5) }
        }
        return try Self.echoRTTs(pcap: [UInt8](Data(contentsOf: URL(fileURLWithPath: file))))
    }

    /// Pairs echo requests with replies (same family, identifier and sequence) in a nanosecond pcap of
    /// Ethernet frames.
    static func echoRTTs(pcap: [UInt8]) throws -> [Double] {
        func u16(_ at: Int) -> Int { Int(pcap[at]) << 8 | Int(pcap[at + 1]) }
        func le32(_ at: Int) -> Int64 { (0..<4).reduce(Int64(0)) { $0 | Int64(pcap[at + $1]) << (8 * $1) } }
        guard pcap.count >= 24, le32(0) == 0xa1b2_3c4d, le32(20) == 1 else {
            throw NetNSError("not a little-endian nanosecond Ethernet pcap (\(pcap.count) bytes)")
        }
        var sent: [Int: Int64] = [:]  // family | id | seq → request time in ns
        var rtts: [Double] = []
        var at = 24
        while at + 16 <= pcap.count {
            let ns = le32(at) * 1_000_000_000 + le32(at + 4), length = Int(le32(at + 8))
            let frame = at + 16
            at = frame + length
            guard at <= pcap.count, length >= 14 + 8 else { break }
            let icmp: Int, family: Int, request: Bool
            switch u16(frame + 12) {
            case 0x0800 where length >= 14 + 20 + 8 && pcap[frame + 14 + 9] == 1:
                icmp = frame + 14 + Int(pcap[frame + 14] & 0x0f) * 4
                family = 4
                guard pcap[icmp] == 8 || pcap[icmp] == 0 else { continue }
                request = pcap[icmp] == 8
            case 0x86dd where length >= 14 + 40 + 8 && pcap[frame + 14 + 6] == 58:
                icmp = frame + 14 + 40
                family = 6
                guard pcap[icmp] == 128 || pcap[icmp] == 129 else { continue }
                request = pcap[icmp] == 128
            default:
                continue
            }
            guard icmp + 8 <= at else { continue }
            let key = family << 32 | u16(icmp + 4) << 16 | u16(icmp + 6)
            if request {
                sent[key] = ns
            } else if let t = sent.removeValue(forKey: key) {
                rtts.append(Double(ns - t) / 1e6)
            }
        }
        return rtts
    }
}

extension Array where Element == Double {
    /// The middle value (the mean of the two middle ones for an even count); nil when empty.
    public var median: Double? {
        guard !isEmpty else { return nil }
        let s = sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
