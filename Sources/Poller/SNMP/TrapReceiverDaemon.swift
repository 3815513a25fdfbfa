// What the daemon uses and the fuzz target (built without swift-crypto and Capture) cannot: a receiver
// on swift-crypto, fed straight from Capture's UDPReceiver, whose handler gets a PeerAddress.
import Capture

extension TrapReceiver {
    /// A receiver using swift-crypto for USM.
    public init(config: TrapReceiverConfig, stats: TrapStats = TrapStats()) throws(SNMPConfigError) {
        try self.init(config: config, crypto: SwiftCryptoUSM(), stats: stats)
    }
}

extension TrapReceiver {
    /// `receive(_:from:receivedMicros:reply:)` for a datagram from `peer` (an IPv4-mapped IPv6
    /// address counts as IPv4); `reply` should send to `peer`, port included.
    public mutating func receive(
        _ datagram: RawSpan, from peer: PeerAddress, receivedMicros: Int64, reply: (RawSpan) -> Void
    ) -> TrapOutcome {
        receive(datagram, from: IPAddress(peer.unmapped), receivedMicros: receivedMicros, reply: reply)
    }
}
