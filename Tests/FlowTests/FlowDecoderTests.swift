// The entry point that picks a decoder by the version in the first bytes.
import Testing

@testable import Flow

private func detect(_ p: [UInt8]) -> FlowSource? { FlowDecoder.detect(p.span.bytes) }

@Suite("FlowDecoder")
struct FlowDecoderTests {
    @Test func detectsEachProtocol() {
        #expect(detect(v5Fixture) == .netflow5)
        #expect(detect(v9Fixture) == .netflow9)
        #expect(detect(ipfixFixture) == .ipfix)
        #expect(detect([0, 0, 0, 5, 0, 0, 0, 1]) == .sflow5)
        #expect(detect([0, 0, 0, 4]) == nil)
        #expect(detect([0, 7]) == nil)
        #expect(detect([9]) == nil)
    }

    @Test func dispatchesAndKeepsTemplateState() throws {
        var d = FlowDecoder()
        var sources: [FlowSource] = []
        for p in [v5Fixture, v9Fixture, ipfixFixture] {
            _ = try d.decode(p.span.bytes, exporter: exporterA, receivedMicros: receivedAt) { sources.append($0.source) }
        }
        #expect(sources == [.netflow5, .netflow5, .netflow9, .ipfix, .ipfix])
        #expect(d.templates.templateCount == 2)
        #expect(throws: FlowDecodeError.unknownVersion(0)) {
            try d.decode(([0, 0, 0, 5] as [UInt8]).span.bytes, exporter: exporterA, receivedMicros: 0) { _ in }
        }
        #expect(throws: FlowDecodeError.unknownVersion(0x1234)) {
            try d.decode(([0x12, 0x34, 0, 0] as [UInt8]).span.bytes, exporter: exporterA, receivedMicros: 0) { _ in }
        }
        #expect(throws: FlowDecodeError.truncated(needed: 2, available: 1)) {
            try d.decode(([5] as [UInt8]).span.bytes, exporter: exporterA, receivedMicros: 0) { _ in }
        }
    }

    @Test func sflowGoesToItsHook() throws {
        var d = FlowDecoder()
        d.sflow = { bytes, exporter, received, emit throws(FlowDecodeError) in
            var r = FlowRecord()
            r.source = .sflow5
            r.exporter = exporter
            r.receivedMicros = received
            emit(r)
            var info = PacketInfo()
            info.version = 5
            info.records = bytes.byteCount
            return info
        }
        var got: [FlowRecord] = []
        let info = try d.decode(([0, 0, 0, 5, 1, 2] as [UInt8]).span.bytes, exporter: exporterB, receivedMicros: 7) { got.append($0) }
        #expect(info.records == 6 && got.count == 1 && got[0].source == .sflow5 && got[0].exporter == exporterB)
    }
}
