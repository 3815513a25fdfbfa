// Live capture for the probe: per thread an AF_PACKET socket with a TPACKET_V3 ring, all of an interface's
// sockets in one fanout group (PACKET_FANOUT_HASH: the kernel's flow hash keeps each flow on one thread),
// a classic BPF program in the kernel that samples 1 in N, applies the operator's filter (compiled by
// libpcap) and cuts each packet to the snap length, so what is not wanted is never copied to user space.
// Ring and kernel drops (PACKET_STATISTICS) are read every housekeeping pass and exported.
import CPcap
import CSOTPLinux
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How a capture is set up.
public struct PacketCaptureOptions: Sendable {
    /// The interface name ("eth0"); "any" captures every interface (no fanout across them is needed).
    public var interface: String
    /// Sockets (and threads) in the fanout group.
    public var threads = 1
    /// CPUs to pin the threads to, thread i on cpus[i % count]; empty: not pinned.
    public var cpus: [Int] = []
    /// Ring size per thread, in blocks of `blockBytes` (a power of two, at least the page size).
    public var ringBytes = 64 << 20
    public var blockBytes = 1 << 20
    /// A block is handed to the reader after this long even when not full (latency at low rates).
    public var blockTimeoutMs = 50
    /// Bytes kept of each packet: enough for the link, IP (with options or extension headers) and
    /// transport headers. The kernel copies no more than this into the ring.
    public var snapLength = 256
    /// A tcpdump filter expression ("" for everything), compiled by libpcap.
    public var filter = ""
    /// Keep 1 packet in N, chosen at random by the kernel; 1 keeps all.
    public var sampling: UInt32 = 1
    /// Thread name prefix.
    public var name = "probe"

    public init(interface: String) { self.interface = interface }
}

/// Why a capture could not be opened.
public struct PacketCaptureError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// Which option was wrong ("filter", "interface"), when the problem is the configuration's.
    public var option: String?

    public init(_ description: String, option: String? = nil) {
        self.description = description
        self.option = option
    }
}

/// What the kernel said about a captured packet besides its bytes.
public struct CapturedFrameInfo: Sendable {
    /// Kernel receive time, µs since the epoch.
    public var micros: Int64
    /// Length on the wire (the bytes handed over stop at the snap length).
    public var wireLength: Int
    /// Where the network header starts in the bytes; the frame starts with a link header when > 0.
    public var networkOffset: Int
    /// The ethertype (0x0800 IPv4, 0x86dd IPv6).
    public var ethertype: UInt16
    /// Sent by this host (sll_pkttype PACKET_OUTGOING), not received.
    public var outgoing: Bool
    /// The device's ARPHRD type (1 Ethernet, 772 loopback, 65534 none).
    public var linkType: UInt16
    public var ifIndex: Int32
    /// The 802.1Q VLAN id the NIC took off the frame (0: none; a tag still in the frame is in the bytes).
    public var strippedVLAN: UInt16
}

/// Counters of a `PacketCapture`, summed over its threads.
public final class PacketCaptureStats: Sendable {
    let packets = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    let kernelPackets = Atomic<Int>(0)
    let kernelDrops = Atomic<Int>(0)
    let queueFreezes = Atomic<Int>(0)
    let errors = Atomic<Int>(0)

    public struct Snapshot: Sendable, Equatable {
        /// Packets read from the rings, and their length on the wire.
        public var packets = 0
        public var bytes = 0
        /// What the kernel counted for the sockets: packets that passed the filter (drops included), and
        /// those dropped because a ring was full.
        public var kernelPackets = 0
        public var kernelDrops = 0
        public var queueFreezes = 0
        public var errors = 0

        public init() {}

        public var fields: [(String, Int)] {
            [("packets", packets), ("bytes", bytes), ("kernel_packets", kernelPackets), ("ring_drops", kernelDrops),
             ("queue_freezes", queueFreezes), ("errors", errors)]
        }

        /// The sum of two captures' counters (a probe's interfaces together).
        public static func + (a: Self, b: Self) -> Self {
            var s = a
            s.packets += b.packets
            s.bytes += b.bytes
            s.kernelPackets += b.kernelPackets
            s.kernelDrops += b.kernelDrops
            s.queueFreezes += b.queueFreezes
            s.errors += b.errors
            return s
        }
    }

    public func snapshot() -> Snapshot {
        var s = Snapshot()
        s.packets = packets.load(ordering: .relaxed)
        s.bytes = bytes.load(ordering: .relaxed)
        s.kernelPackets = kernelPackets.load(ordering: .relaxed)
        s.kernelDrops = kernelDrops.load(ordering: .relaxed)
        s.queueFreezes = queueFreezes.load(ordering: .relaxed)
        s.errors = errors.load(ordering: .relaxed)
        return s
    }
}

/// Builds the classic BPF program the capture sockets run.
public enum CaptureFilter {
    /// Why `filter` does not compile for Ethernet frames (libpcap's words), or nil when it does.
    public static func problem(_ filter: String) -> String? {
        do {
            _ = try program(filter: filter, linkType: DLT_EN10MB, snapLength: 256, sampling: 1)
            return nil
        } catch {
            return error.description
        }
    }

    /// A program that keeps 1 packet in `sampling` (at random), then runs `filter` (libpcap syntax, for
    /// frames of `linkType`, a DLT_ value), and keeps `snapLength` bytes of each packet it accepts.
    /// - Throws: the filter's syntax error as libpcap words it.
    public static func program(filter: String, linkType: Int32, snapLength: Int, sampling: UInt32) throws(PacketCaptureError) -> [sotp_bpf_insn] {
        var body: [sotp_bpf_insn]
        if filter.trimmingCharacters(in: .whitespaces).isEmpty {
            body = [sotp_bpf_insn(code: 0x06, jt: 0, jf: 0, k: UInt32(snapLength))]  // ret #snap
        } else {
            guard let dead = unsafe pcap_open_dead(linkType, Int32(snapLength)) else {
                throw PacketCaptureError("libpcap could not open a compiler handle")
            }
            defer { unsafe pcap_close(dead) }
            var prog = unsafe bpf_program()
            guard unsafe pcap_compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                let why = unsafe String(cString: pcap_geterr(dead))
                throw PacketCaptureError("filter \"\(filter)\": \(why)", option: "filter")
            }
            defer { unsafe pcap_freecode(&prog) }
            body = unsafe (0..<Int(prog.bf_len)).map { i in
                let p = unsafe prog.bf_insns[i]
                return sotp_bpf_insn(code: p.code, jt: p.jt, jf: p.jf, k: p.k)
            }
        }
        guard sampling > 1 else { return body }
        // ld rand; mod #N; jeq #0 → skip the drop; ret #0; then the filter. Jumps in the filter are
        // relative, so putting these in front leaves them valid.
        return [
            sotp_bpf_insn(code: 0x20, jt: 0, jf: 0, k: UInt32(bitPattern: Int32(SOTP_SKF_AD_RANDOM))),
            sotp_bpf_insn(code: 0x94, jt: 0, jf: 0, k: sampling),
            sotp_bpf_insn(code: 0x15, jt: 1, jf: 0, k: 0),
            sotp_bpf_insn(code: 0x06, jt: 0, jf: 0, k: 0),
        ] + body
    }
}

/// A capture on one interface: `handler(thread, bytes, info)` runs on capture thread `thread` for every
/// packet, with the bytes (the first `snapLength` of the frame) valid only during the call.
@safe
public final class PacketCapture: @unchecked Sendable {
    public typealias Handler = @Sendable (_ thread: Int, _ bytes: RawSpan, _ info: CapturedFrameInfo) -> Void
    /// Runs on capture thread `thread` at least every 100 ms (and every 4096 packets while busy), for the
    /// thread's own periodic work (expiring flows).
    public typealias Housekeeping = @Sendable (_ thread: Int, _ nowMicros: Int64) -> Void

    public let stats = PacketCaptureStats()
    public let options: PacketCaptureOptions
    /// The interface index (0 for "any").
    public let ifIndex: Int32
    /// The fanout group id the kernel gave the sockets (0 with one socket).
    public let fanoutGroup: Int

    private let rings: [OpaquePointer]
    private let handler: Handler
    private let housekeeping: Housekeeping?
    private let threads = WorkerThreads()

    /// Opens the sockets, rings, filter and fanout group; nothing is captured before `start()` reads.
    /// - Throws: `PacketCaptureError` naming the interface or filter and the failing call (EPERM without
    ///   CAP_NET_RAW, ENODEV for a missing interface).
    public init(options: PacketCaptureOptions, housekeeping: Housekeeping? = nil, handler: @escaping Handler) throws(PacketCaptureError) {
        guard options.threads >= 1, options.threads <= 64 else { throw PacketCaptureError("threads must be 1…64, not \(options.threads)", option: "threads") }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard options.blockBytes >= page, options.blockBytes & (options.blockBytes - 1) == 0 else {
            throw PacketCaptureError("block size \(options.blockBytes) is not a power of two of at least \(page) bytes", option: "block_bytes")
        }
        guard options.ringBytes >= 2 * options.blockBytes else {
            throw PacketCaptureError("ring size \(options.ringBytes) holds fewer than two \(options.blockBytes)-byte blocks", option: "ring_bytes")
        }
        guard (64...65535).contains(options.snapLength) else { throw PacketCaptureError("snap length must be 64…65535, not \(options.snapLength)", option: "snap_length") }
        guard options.sampling >= 1 else { throw PacketCaptureError("sampling must be at least 1", option: "sampling") }
        self.options = options
        self.handler = handler
        self.housekeeping = housekeeping

        let any = options.interface == "any"
        let index = any ? 0 : unsafe sotp_ifindex(options.interface)
        guard any || index > 0 else { throw PacketCaptureError("no interface \"\(options.interface)\"", option: "interface") }
        ifIndex = index
        // The filter is compiled for the link type the frames start with: Ethernet (also loopback's
        // zeroed header) or raw IP for devices without a link header (tun, GRE).
        let program = try CaptureFilter.program(
            filter: options.filter, linkType: Self.linkType(options.interface), snapLength: options.snapLength, sampling: options.sampling)

        var rings: [OpaquePointer] = unsafe []
        func fail(_ what: String, _ err: Int32) -> PacketCaptureError {
            for unsafe r in unsafe rings { unsafe sotp_ring_close(r) }
            let hint = err == EPERM ? " (capturing needs root or CAP_NET_RAW)" : ""
            return PacketCaptureError("capture on \(options.interface): \(what): \(Errno(err))\(hint)", option: err == ENODEV ? "interface" : nil)
        }
        var group: Int32 = 0
        for _ in 0..<options.threads {
            var err: Int32 = 0
            var step: UnsafePointer<CChar>? = nil
            guard let ring = unsafe sotp_ring_open(
                UInt32(options.blockBytes), UInt32(options.ringBytes / options.blockBytes), UInt32(options.blockTimeoutMs), &err, &step)
            else { throw fail(unsafe step.map { unsafe String(cString: $0) } ?? "open", err) }
            unsafe rings.append(ring)
            var rc = unsafe program.withUnsafeBufferPointer { unsafe sotp_ring_attach_filter(ring, $0.baseAddress, UInt32($0.count)) }
            guard rc == 0 else { throw fail("SO_ATTACH_FILTER", rc) }
            rc = unsafe sotp_ring_bind(ring, index)
            guard rc == 0 else { throw fail("bind", rc) }
            if options.threads > 1 {
                var assigned: Int32 = 0
                rc = unsafe sotp_ring_join_fanout(ring, group, Int32(SOTP_PACKET_FANOUT_HASH), &assigned)
                guard rc == 0 else { throw fail("PACKET_FANOUT", rc) }
                group = assigned
            }
            // Whatever the kernel counted before the filter was in place is not ours: start from zero.
            var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0
            _ = unsafe sotp_ring_stats(ring, &a, &b, &c)
        }
        unsafe self.rings = rings
        fanoutGroup = Int(group)
    }

    deinit {
        stop()
        for unsafe r in unsafe rings { unsafe sotp_ring_close(r) }
    }

    /// The DLT_ value a filter for `interface` is compiled for, from its ARPHRD type in sysfs.
    static func linkType(_ interface: String) -> Int32 {
        guard interface != "any",
              let text = try? String(contentsOfFile: "/sys/class/net/\(interface)/type", encoding: .utf8),
              let type = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return DLT_EN10MB }
        // 1 Ethernet, 772 loopback (a zeroed Ethernet header); the rest carry IP with no link header here.
        return type == 1 || type == 772 ? DLT_EN10MB : DLT_RAW
    }

    /// Starts one thread per ring.
    public func start() {
        let rings = unsafe rings.map { unsafe RingBox($0) }
        threads.start(count: rings.count, name: options.name, cpus: options.cpus) { [self] i in unsafe read(thread: i, ring: rings[i].ring) }
    }

    /// Stops the threads and waits for them (at most ~100 ms each).
    public func stop() {
        guard threads.stop() else { return }
        for unsafe r in unsafe rings { unsafe readKernelStats(r) }
    }

    private func readKernelStats(_ ring: OpaquePointer) {
        var packets: UInt64 = 0, drops: UInt64 = 0, freezes: UInt64 = 0
        guard unsafe sotp_ring_stats(ring, &packets, &drops, &freezes) == 0 else { return }
        if packets > 0 { stats.kernelPackets.wrappingAdd(Int(packets), ordering: .relaxed) }
        if drops > 0 { stats.kernelDrops.wrappingAdd(Int(drops), ordering: .relaxed) }
        if freezes > 0 { stats.queueFreezes.wrappingAdd(Int(freezes), ordering: .relaxed) }
    }

    private func read(thread: Int, ring: OpaquePointer) {
        var p = unsafe sotp_ring_packet()
        var lastHousekeeping = unixMicrosNow()
        var count = 0, bytes = 0
        while !threads.isStopping {
            let rc = unsafe sotp_ring_next(ring, &p, 100)
            if rc == 1 {
                count += 1
                bytes += Int(unsafe p.len)
                let info = unsafe CapturedFrameInfo(
                    micros: p.nanos / 1000, wireLength: Int(p.len), networkOffset: Int(p.net_offset), ethertype: p.protocol,
                    outgoing: Int32(p.pkttype) == SOTP_PACKET_OUTGOING, linkType: p.hatype, ifIndex: p.ifindex,
                    strippedVLAN: p.vlan_valid != 0 ? p.vlan_tci & 0x0fff : 0)
                let frame = unsafe UnsafeRawBufferPointer(start: p.data, count: Int(p.caplen))
                unsafe handler(thread, frame.bytes, info)
                if count & 4095 != 0 { continue }
            } else if rc < 0 {
                // ENETDOWN (the interface was deleted: the socket stays unbound) or worse: counted, and
                // not retried in a tight loop.
                stats.errors.wrappingAdd(1, ordering: .relaxed)
                usleep(100_000)
            }
            // Idle, or 4096 packets since the last look: publish counts, run the thread's periodic work.
            let now = unixMicrosNow()
            if count > 0 {
                stats.packets.wrappingAdd(count, ordering: .relaxed)
                stats.bytes.wrappingAdd(bytes, ordering: .relaxed)
                count = 0
                bytes = 0
            }
            if now - lastHousekeeping >= 100_000 || rc != 1 {
                lastHousekeeping = now
                unsafe readKernelStats(ring)
                housekeeping?(thread, now)
            }
        }
        if count > 0 {
            stats.packets.wrappingAdd(count, ordering: .relaxed)
            stats.bytes.wrappingAdd(bytes, ordering: .relaxed)
        }
    }
}

/// Moves a ring pointer into its thread (each ring is read by that thread alone).
@safe
private struct RingBox: @unchecked Sendable {
    let ring: OpaquePointer
    init(_ ring: OpaquePointer) { unsafe self.ring = ring }
}
