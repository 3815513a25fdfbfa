// Saving the template decoder's state and loading it into a new decoder (a collector restart): data
// sent after the restart decodes as it would have without one.
import Testing

@testable import Flow

@Suite("Template state persistence")
struct TemplatePersistenceTests {
    /// A decoder that has learned v9 and IPFIX templates, a selector's rate and a system init time.
    func learned() throws -> TemplateDecoder {
        var d = TemplateDecoder()
        _ = try d.run(v9Fixture)
        _ = try d.run(ipfixFixture, from: exporterV6)
        let sets = set(3, ipfixOptionsTemplate(257, scope: [(302, 4)], fields: [(305, 4), (306, 4)]))
            + set(3, ipfixOptionsTemplate(258, scope: [(149, 4)], fields: [(160, 8), (34, 4)]))
            + set(2, templateRecord(300, smallFields + [(302, 4), (22, 4), (21, 4)]))
            + set(2, templateRecord(301, [(8, 4), (82, 0xFFFF), (1000, 2)], enterprise: [2: 2011]))
            + set(257, record([(7, 4), (1, 4), (9, 4)]))
            + set(258, record([(1, 4), (1_699_000_000_000, 8), (4, 4)]))
        _ = try d.run(ipfixMessage(seconds: 1, sequence: 0, domain: 1, sets))
        return d
    }

    let after = [
        (v9Packet(uptime: 2_000_000, seconds: 1_700_001_000, sequence: 8, sourceID: 33, Array(v9Fixture[108...])), exporterA),
        (ipfixMessage(seconds: 1_700_001_000, sequence: 18, domain: 5, Array(ipfixFixture[80...])), exporterV6),
        (ipfixMessage(seconds: 1_700_001_000, sequence: 0, domain: 1,
                      set(300, smallRecord(1) + record([(7, 4), (1000, 4), (2000, 4)]) + smallRecord(2) + record([(6, 4), (1000, 4), (2000, 4)]))
                      + set(301, record([(0x0A00_0009, 4), (0, 1), (0, 2)]))), exporterA),
    ]

    @Test func aRestartedDecoderDecodesLikeTheOriginal() throws {
        var original = try learned()
        let state = original.serializedState()
        var restarted = TemplateDecoder()
        #expect(try restarted.loadState(state.span.bytes) == original.templateCount)
        #expect(restarted.templateCount == original.templateCount && restarted.templateCount == 6)
        #expect(restarted.serializedState() == state)
        for (packet, exporter) in after {
            let (want, wantInfo) = try original.run(packet, from: exporter)
            let (got, gotInfo) = try restarted.run(packet, from: exporter)
            #expect(!want.isEmpty && got == want && gotInfo == wantInfo)
        }
        // What the state carried: selector 7's rate (1 in 10), the domain rate and init time.
        let (records, _) = try restarted.run(after[2].0)
        #expect(records.map(\.samplingRate) == [10, 4, 4])
        #expect(records[0].startMicros == 1_699_000_001_000_000)
    }

    @Test func badStateIsRejectedAndChangesNothing() throws {
        let state = try learned().serializedState()
        for cut in 0..<state.count {
            var d = TemplateDecoder()
            #expect(throws: FlowDecodeError.self) { try d.loadState(Array(state[0..<cut]).span.bytes) }
            #expect(d.templateCount == 0 && d.domains.isEmpty)
        }
        var d = TemplateDecoder()
        #expect(throws: FlowDecodeError.malformed("template state: 1 bytes after the end")) { try d.loadState((state + [0]).span.bytes) }
        var bad = state
        bad[0] = UInt8(ascii: "X")
        #expect(throws: FlowDecodeError.malformed("template state does not start with SOTPNFT1")) { try d.loadState(bad.span.bytes) }
        bad = state
        bad[8 + 4 + 8 + 8 + 4 + 1] = 11  // the first domain's version
        #expect(throws: FlowDecodeError.malformed("template state: version 11")) { try d.loadState(bad.span.bytes) }
        // Random bytes after a valid magic never trap.
        var rng = SplitMix(state: 3)
        for _ in 0..<2_000 {
            var junk = TemplateDecoder.stateMagic
            junk += (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...3, using: &rng) }
            _ = try? d.loadState(junk.span.bytes)
        }
    }
}
