// A small capture reader for the conformance tests: classic pcap (either byte order, µs or ns) and
// pcapng, Ethernet (with VLAN tags), Linux cooked (v1, v2), raw IP and BSD loopback; IPv4 and IPv6 to
// the UDP payload and its source address. Fragments and non-UDP packets are skipped.
@testable import Flow

/// One UDP datagram from a capture.
struct CapturedDatagram {
    var micros: Int64
    var source: FlowIP
    var sourcePort: UInt16
    var destinationPort: UInt16
    var payload: [UInt8]
}

enum PcapError: Error, Equatable {
    case notACapture(String)
    case truncated(at: Int)
}

struct PcapReader {
    /// All UDP datagrams in the capture, in file order.
    static func datagrams(_ file: [UInt8]) throws -> [CapturedDatagram] {
        guard file.count >= 4 else { throw PcapError.notACapture("\(file.count) bytes") }
        let magicBE = UInt32(file[0]) << 24 | UInt32(file[1]) << 16 | UInt32(file[2]) << 8 | UInt32(file[3])
        var frames: [(micros: Int64, linkType: UInt32, data: ArraySlice<UInt8>)] = []
        switch magicBE {
        case 0xA1B2_C3D4, 0xD4C3_B2A1, 0xA1B2_3C4D, 0x4D3C_B2A1:
            let little = magicBE == 0xD4C3_B2A1 || magicBE == 0x4D3C_B2A1
            let nanos = magicBE == 0xA1B2_3C4D || magicBE == 0x4D3C_B2A1
            guard file.count >= 24 else { throw PcapError.truncated(at: 0) }
            let linkType = read32(file, 20, little: little) & 0x0fff_ffff
            var at = 24
            while at + 16 <= file.count {
                let sec = Int64(read32(file, at, little: little))
                let frac = Int64(read32(file, at + 4, little: little))
                let captured = Int(read32(file, at + 8, little: little))
                at += 16
                guard at + captured <= file.count else { throw PcapError.truncated(at: at) }
                frames.append((sec * 1_000_000 + (nanos ? frac / 1000 : frac), linkType, file[at..<at + captured]))
                at += captured
            }
        case 0x0A0D_0D0A:
            frames = try pcapng(file)
        default:
            throw PcapError.notACapture("magic \(String(magicBE, radix: 16))")
        }
        return frames.compactMap { udp($0.data, linkType: $0.linkType, micros: $0.micros) }
    }

    private static func read32(_ b: [UInt8], _ at: Int, little: Bool) -> UInt32 {
        let v = UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
        return little ? v.byteSwapped : v
    }

    private static func read16(_ b: [UInt8], _ at: Int, little: Bool) -> UInt16 {
        let v = UInt16(b[at]) << 8 | UInt16(b[at + 1])
        return little ? v.byteSwapped : v
    }

    /// pcapng: section headers set the byte order, interface blocks the link type and time resolution,
    /// enhanced and simple packet blocks carry the frames.
    private static func pcapng(_ file: [UInt8]) throws -> [(micros: Int64, linkType: UInt32, data: ArraySlice<UInt8>)] {
        var out: [(micros: Int64, linkType: UInt32, data: ArraySlice<UInt8>)] = []
        var little = true
        var interfaces: [(linkType: UInt32, unitsPerSecond: Int64)] = []
        var at = 0
        while at + 12 <= file.count {
            var type = read32(file, at, little: little)
            if type == 0x0A0D_0D0A {
                let bom = read32(file, at + 8, little: false)
                little = bom == 0x4D3C_2B1A
                interfaces = []
                type = 0x0A0D_0D0A
            }
            let length = Int(read32(file, at + 4, little: little))
            guard length >= 12, at + length <= file.count else { throw PcapError.truncated(at: at) }
            let body = at + 8
            switch type {
            case 1:  // interface description
                let linkType = UInt32(read16(file, body, little: little))
                var units: Int64 = 1_000_000
                var o = body + 8
                while o + 4 <= at + length - 4 {
                    let code = read16(file, o, little: little)
                    let olen = Int(read16(file, o + 2, little: little))
                    if code == 0 { break }
                    if code == 9, olen == 1 {  // if_tsresol
                        let v = file[o + 4]
                        units = v & 0x80 == 0 ? Int64(pow10(Int(v))) : Int64(1) << Int64(v & 0x7f)
                    }
                    o += 4 + (olen + 3) / 4 * 4
                }
                interfaces.append((linkType, units))
            case 6:  // enhanced packet
                let iface = Int(read32(file, body, little: little))
                guard iface < interfaces.count else { throw PcapError.notACapture("packet on interface \(iface)") }
                let ts = UInt64(read32(file, body + 4, little: little)) << 32 | UInt64(read32(file, body + 8, little: little))
                let captured = Int(read32(file, body + 12, little: little))
                guard body + 20 + captured <= at + length else { throw PcapError.truncated(at: at) }
                let units = interfaces[iface].unitsPerSecond
                let micros = Int64(ts) / units * 1_000_000 + Int64(ts) % units * 1_000_000 / units
                out.append((micros, interfaces[iface].linkType, file[body + 20..<body + 20 + captured]))
            case 3:  // simple packet
                guard let iface = interfaces.first else { throw PcapError.notACapture("simple packet before interface") }
                let original = Int(read32(file, body, little: little))
                let captured = min(original, length - 16)
                out.append((0, iface.linkType, file[body + 4..<body + 4 + captured]))
            default:
                break
            }
            at += length
        }
        return out
    }

    private static func pow10(_ n: Int) -> Int { (0..<n).reduce(1) { r, _ in r * 10 } }

    /// The UDP datagram in a frame, or nil when it is something else.
    static func udp(_ frame: ArraySlice<UInt8>, linkType: UInt32, micros: Int64) -> CapturedDatagram? {
        let f = Array(frame)
        var at: Int
        var etherType: UInt16
        switch linkType {
        case 1:  // Ethernet
            guard f.count >= 14 else { return nil }
            etherType = read16(f, 12, little: false)
            at = 14
            while etherType == 0x8100 || etherType == 0x88A8 {
                guard f.count >= at + 4 else { return nil }
                etherType = read16(f, at + 2, little: false)
                at += 4
            }
        case 113:  // Linux cooked v1
            guard f.count >= 16 else { return nil }
            etherType = read16(f, 14, little: false)
            at = 16
        case 276:  // Linux cooked v2
            guard f.count >= 20 else { return nil }
            etherType = read16(f, 0, little: false)
            at = 20
        case 101, 12, 14:  // raw IP
            guard let first = f.first else { return nil }
            etherType = first >> 4 == 6 ? 0x86DD : 0x0800
            at = 0
        case 0:  // BSD loopback: host-order address family
            guard f.count >= 5 else { return nil }
            etherType = f[4] >> 4 == 6 ? 0x86DD : 0x0800
            at = 4
        default:
            return nil
        }
        let source: FlowIP
        switch etherType {
        case 0x0800:
            guard f.count >= at + 20, f[at] >> 4 == 4 else { return nil }
            let ihl = Int(f[at] & 0x0f) * 4
            let fragment = read16(f, at + 6, little: false)
            guard f[at + 9] == 17, fragment & 0x3fff == 0, f.count >= at + ihl else { return nil }
            source = FlowIP(v4: read32(f, at + 12, little: false))
            at += ihl
        case 0x86DD:
            guard f.count >= at + 40, f[at] >> 4 == 6 else { return nil }
            var next = f[at + 6]
            source = FlowIP(v6High: read64(f, at + 8), v6Low: read64(f, at + 16))
            at += 40
            // Hop-by-hop, routing and destination options headers; a fragment header means skip.
            while next == 0 || next == 43 || next == 60 {
                guard f.count >= at + 8 else { return nil }
                next = f[at]
                at += (Int(f[at + 1]) + 1) * 8
            }
            guard next == 17 else { return nil }
        default:
            return nil
        }
        guard f.count >= at + 8 else { return nil }
        let length = Int(read16(f, at + 4, little: false))
        guard length >= 8 else { return nil }
        let end = min(at + length, f.count)
        return CapturedDatagram(
            micros: micros, source: source, sourcePort: read16(f, at, little: false),
            destinationPort: read16(f, at + 2, little: false), payload: Array(f[at + 8..<end]))
    }

    private static func read64(_ b: [UInt8], _ at: Int) -> UInt64 {
        UInt64(read32(b, at, little: false)) << 32 | UInt64(read32(b, at + 4, little: false))
    }
}
