// Passive decoders for what exporters send: NetFlow v5/v9, IPFIX, sFlow v5 and syslog, one folder per
// protocol, each a pure function over bytes (no Glibc, no sockets) so it can be tested and fuzzed alone.
// The decoders arrive with their issues; this module exists so the layout and wiring are in place.

/// Identifies an exporter for template and sequence state: its address and observation domain.
public struct ExporterKey: Hashable, Sendable {
    /// IPv4 (high 0, low the address) or IPv6 address as two host-order halves.
    public var addressHigh: UInt64
    public var addressLow: UInt64
    public var domain: UInt32

    public init(addressHigh: UInt64, addressLow: UInt64, domain: UInt32) {
        self.addressHigh = addressHigh
        self.addressLow = addressLow
        self.domain = domain
    }
}
