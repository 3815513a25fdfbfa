// libFuzzer target for the NetFlow v5 decoder: any bytes must decode or throw — never trap, never read
// out of bounds — and a decoded packet has at most 30 records, all reported.
// Built by scripts/fuzz with the decoder's own source files (swiftc -sanitize=fuzzer,address).

let decoder = NetFlowV5Decoder()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size).bytes
    var n = 0
    if let info = try? decoder.decode(bytes, exporter: FlowIP(v4: 1), receivedMicros: 0, emit: { _ in n += 1 }) {
        precondition(n == info.records && n <= NetFlowV5Decoder.maxRecords, "v5: \(n) records, reported \(info.records)")
    }
    return 0
}
