// Flow decoder tests arrive with the decoders (issue: flow collector).
import Flow
import Testing

@Suite("Flow")
struct FlowTests {
    @Test func exporterKeysDistinguishDomains() {
        let a = ExporterKey(addressHigh: 0, addressLow: 0x7F00_0001, domain: 1)
        let b = ExporterKey(addressHigh: 0, addressLow: 0x7F00_0001, domain: 2)
        #expect(a != b && Set([a, b, a]).count == 2)
    }
}
