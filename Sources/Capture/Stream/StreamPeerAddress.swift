// A connection's peer as the PeerAddress the UDP receiver also hands out, made once per connection from
// NIO's SocketAddress; the in6_addr union read is the one unsafe line.
import NIOCore

extension PeerAddress {
    /// The address NIO reports for a peer; IPv4-mapped IPv6 (a dual-stack socket's IPv4 peers) as IPv4.
    init(_ address: SocketAddress?) {
        switch address {
        case .v4(let a):
            let s = a.address
            self.init(v4: UInt32(bigEndian: s.sin_addr.s_addr), port: UInt16(bigEndian: s.sin_port))
        case .v6(let a):
            let s = a.address
            // in6_addr as four network-order 32-bit words (a C union: every member covers the 16 bytes).
            let w = unsafe s.sin6_addr.__in6_u.__u6_addr32
            let high = UInt64(UInt32(bigEndian: w.0)) << 32 | UInt64(UInt32(bigEndian: w.1))
            let low = UInt64(UInt32(bigEndian: w.2)) << 32 | UInt64(UInt32(bigEndian: w.3))
            self = PeerAddress(v6High: high, v6Low: low, port: UInt16(bigEndian: s.sin6_port)).unmapped
        default:
            self.init(v6High: 0, v6Low: 0)
        }
    }
}
