// Reading capture files (pcap and pcapng) with libpcap: each frame handed over in place with its
// nanosecond timestamp and lengths, and where its IP (or Ethernet) header starts for the common link types.
import CPcap
#if canImport(Glibc)
import Glibc
#endif

/// Why a capture file could not be opened or read: the path and libpcap's own message.
public struct PcapError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    /// libpcap names the file itself in some messages (a failed open); the path is not repeated then.
    public var description: String { message.hasPrefix(path) ? message : "\(path): \(message)" }
}

/// One frame's record header.
public struct PcapFrameInfo: Sendable {
    /// Capture time, nanoseconds since the Unix epoch (microsecond files are read at nanosecond precision).
    public var timestampNanos: Int64
    /// Bytes in the file for this frame (the span's length).
    public var capturedLength: Int
    /// The frame's length on the wire; more than `capturedLength` when the snap length cut it.
    public var originalLength: Int
}

/// Where the network data of a frame starts, as a link type's header says.
public enum PcapFrameStart: Equatable, Sendable {
    /// An Ethernet II header (with any VLAN tags) at this offset.
    case ethernet(at: Int)
    /// An IPv4 header at this offset.
    case ipv4(at: Int)
    /// An IPv6 header at this offset.
    case ipv6(at: Int)
    /// Not IP (ARP, another protocol family), or too short to tell.
    case notIP
}

/// A file's link type (libpcap's DLT_ value) and how to find the network header behind it.
public struct PcapLinkType: Equatable, Sendable, CustomStringConvertible {
    public var dlt: Int32

    public init(_ dlt: Int32) { self.dlt = dlt }

    // DLT values as libpcap reports them on Linux (pcap_datalink maps the file's LINKTYPE_ to these).
    static let null: Int32 = 0, en10mb: Int32 = 1, raw: Int32 = 12, rawAlt: Int32 = 14, loop: Int32 = 108,
        linuxSLL: Int32 = 113, ipv4: Int32 = 228, ipv6: Int32 = 229, linuxSLL2: Int32 = 276

    /// The link types `start(of:)` understands.
    public var isSupported: Bool {
        [Self.null, Self.en10mb, Self.raw, Self.rawAlt, Self.loop, Self.linuxSLL, Self.ipv4, Self.ipv6, Self.linuxSLL2].contains(dlt)
    }

    /// libpcap's name for it (`EN10MB`, `LINUX_SLL`…), or the number.
    public var description: String {
        guard let name = unsafe pcap_datalink_val_to_name(dlt) else { return "DLT \(dlt)" }
        return "\(unsafe String(cString: name)) (DLT \(dlt))"
    }

    /// Where the network data of `frame` starts: Ethernet at 0; Linux cooked (v1: 16 bytes, protocol at
    /// 14; v2: 20 bytes, protocol at 0) by its ethertype, one 802.1Q tag followed; raw IP by the
    /// version nibble; BSD loopback by the address family in either byte order.
    public func start(of frame: RawSpan) -> PcapFrameStart {
        let n = frame.byteCount
        // Every caller checked `n` first.
        func byte(_ i: Int) -> UInt8 { unsafe frame.unsafeLoad(fromByteOffset: i, as: UInt8.self) }
        func be16(_ i: Int) -> UInt16 { UInt16(byte(i)) << 8 | UInt16(byte(i + 1)) }
        func byEthertype(_ typeAt: Int, _ header: Int) -> PcapFrameStart {
            guard n >= max(typeAt + 2, header) else { return .notIP }
            var type = be16(typeAt), at = header
            if type == 0x8100 {
                guard n >= at + 4 else { return .notIP }
                type = be16(at + 2)
                at += 4
            }
            switch type {
            case 0x0800: return .ipv4(at: at)
            case 0x86dd: return .ipv6(at: at)
            default: return .notIP
            }
        }
        func byVersion(_ at: Int) -> PcapFrameStart {
            guard n > at else { return .notIP }
            switch byte(at) >> 4 {
            case 4: return .ipv4(at: at)
            case 6: return .ipv6(at: at)
            default: return .notIP
            }
        }
        switch dlt {
        case Self.en10mb: return .ethernet(at: 0)
        case Self.linuxSLL: return byEthertype(14, 16)
        case Self.linuxSLL2: return byEthertype(0, 20)
        case Self.raw, Self.rawAlt, Self.ipv4, Self.ipv6: return byVersion(0)
        case Self.null, Self.loop:
            guard n >= 4 else { return .notIP }
            // The family is in the writer's byte order (DLT_NULL) or network order (DLT_LOOP); either
            // way one end of the word holds it. AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30.
            let le = UInt32(byte(0)) | UInt32(byte(1)) << 8 | UInt32(byte(2)) << 16 | UInt32(byte(3)) << 24
            let family = le & 0xffff_0000 == 0 ? le : le.byteSwapped
            switch family {
            case 2: return .ipv4(at: 4)
            case 10, 24, 28, 30: return .ipv6(at: 4)
            default: return .notIP
            }
        default: return .notIP
        }
    }
}

/// An open capture file. Not copyable: it owns the libpcap handle, closed in `deinit`.
@safe public struct PcapFile: ~Copyable {
    private let handle: OpaquePointer
    public let path: String
    /// The file's link type (unsupported ones are refused by `open`).
    public let linkType: PcapLinkType
    /// The file's size in bytes (0 when it cannot be told), for progress.
    public let size: Int

    /// Opens `path` (pcap or pcapng, microsecond or nanosecond) for reading at nanosecond precision.
    /// Throws with libpcap's reason when the file is missing, unreadable or not a capture, and when its
    /// link type is not one `PcapLinkType.start(of:)` understands.
    public init(path: String) throws(PcapError) {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let p = unsafe pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf) else {
            throw PcapError(path: path, message: String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        let link = PcapLinkType(unsafe pcap_datalink(p))
        guard link.isSupported else {
            unsafe pcap_close(p)
            throw PcapError(path: path, message: "link type \(link) is not supported (Ethernet, Linux cooked v1/v2, raw IP and BSD loopback are)")
        }
        var st = stat()
        self.size = unsafe stat(path, &st) == 0 ? Int(st.st_size) : 0
        unsafe self.handle = p
        self.path = path
        self.linkType = link
    }

    deinit { unsafe pcap_close(handle) }

    /// How far into the file reading has got, in bytes (0 when libpcap cannot tell).
    public var position: Int {
        guard let f = unsafe pcap_file(handle) else { return 0 }
        return max(0, unsafe ftell(f))
    }

    /// Hands each frame to `body` in place (the bytes are valid only during the call), in file order,
    /// until the end of the file or until `body` returns false. Throws libpcap's message when the file
    /// is cut short or corrupt (the frames before were handed over).
    public func forEachFrame(_ body: (RawSpan, PcapFrameInfo) -> Bool) throws(PcapError) {
        while true {
            var header: UnsafeMutablePointer<pcap_pkthdr>?
            var data: UnsafePointer<UInt8>?
            let rc = unsafe pcap_next_ex(handle, &header, &data)
            if rc == PCAP_ERROR_BREAK { return }  // end of file
            guard rc == 1, let h = unsafe header, let d = unsafe data else {
                throw PcapError(path: path, message: unsafe String(cString: pcap_geterr(handle)))
            }
            let info = unsafe PcapFrameInfo(
                timestampNanos: Int64(h.pointee.ts.tv_sec) * 1_000_000_000 + Int64(h.pointee.ts.tv_usec),
                capturedLength: Int(h.pointee.caplen), originalLength: Int(h.pointee.len))
            let bytes = unsafe UnsafeRawBufferPointer(start: d, count: info.capturedLength)
            guard unsafe body(bytes.bytes, info) else { return }
        }
    }
}
