// libFuzzer target for the sFlow v5 decoder and the packet header parser: any bytes must decode or throw —
// never trap, never read out of bounds — and what the decoder reports must match what it delivered.
// Built by scripts/fuzz with the decoder's own source files (swiftc -sanitize=fuzzer,address).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size).bytes
    var decoder = SFlowDecoder()
    var flows = 0, counters = 0
    if let info = try? decoder.decode(bytes, receivedMicros: 0, flows: { _ in flows += 1 }, counters: { _ in counters += 1 }) {
        precondition(flows == info.flowRecords && counters == info.counterRecords, "delivered ≠ reported")
        let accounted = info.samplesDecoded + info.samplesSkipped + info.samplesMalformed
        precondition(accounted <= Int(info.sampleCount), "more samples than declared")
        precondition(info.error != nil || accounted == Int(info.sampleCount), "stopped early without an error")
    }
    // The same bytes as a captured header of each kind the parser starts from.
    for layer in [PacketLayer.ethernet, .mpls, .ipv4, .ipv6] {
        var record = FlowRecord()
        _ = PacketHeaderParser.parse(bytes, 0..<size, startingAt: layer, into: &record)
    }
    return 0
}
