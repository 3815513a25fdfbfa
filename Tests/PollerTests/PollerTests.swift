// Poller tests arrive with the ICMP and SNMP pollers; this one checks net-snmp is linked.
import Poller
import Testing

@Suite("Poller")
struct PollerTests {
    @Test func linksNetSNMP() {
        #expect(netSNMPVersion.hasPrefix("5."))
    }
}
