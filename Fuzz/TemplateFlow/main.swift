// libFuzzer target for the NetFlow v9 / IPFIX template decoder. The input is a sequence of packets, each
// preceded by a 2-byte big-endian length, decoded in order by one decoder with small limits (so templates
// from one packet apply to the next and eviction and holding run) from two exporters, a second apart.
// Besides never trapping: the cache stays within its limits and its count agrees with its contents, and
// the learned state saves and loads back to the same bytes. The raw input is also loaded as state.
// Built by scripts/fuzz with the decoder's own source files (swiftc -sanitize=fuzzer,address).

let limits: TemplateDecoder.Limits = {
    var l = TemplateDecoder.Limits()
    l.maxFieldsPerTemplate = 64
    l.maxTemplatesPerDomain = 8
    l.maxTemplates = 16
    l.maxDomains = 4
    l.maxSamplersPerDomain = 4
    l.maxPendingSetsPerDomain = 4
    l.maxPendingBytesPerDomain = 2048
    l.maxPendingBytes = 4096
    l.maxPendingAgeMicros = 5_000_000
    return l
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size).bytes
    var d = TemplateDecoder(limits: limits)
    var at = 0
    var packets = 0
    var sum: UInt64 = 0
    while size - at >= 2 {
        let length = Int(bytes.nfU16(at))
        at += 2
        let end = min(at + length, size)
        let exporter = FlowIP(v4: UInt32(packets & 1))
        _ = try? d.decode(bytes.extracting(at..<end), exporter: exporter, receivedMicros: Int64(packets) * 1_000_000) {
            sum &+= $0.bytes &+ UInt64($0.samplingRate)
        }
        at = end
        packets += 1
        precondition(d.templateCount == d.domains.values.reduce(0) { $0 + $1.templates.count }, "template count drifted")
        precondition(d.templateCount <= limits.maxTemplates && d.domains.count <= limits.maxDomains, "cache over its limits")
        precondition(d.pendingBytes <= limits.maxPendingBytes, "held bytes over the limit")
    }
    let state = d.serializedState()
    var restored = TemplateDecoder(limits: limits)
    guard (try? restored.loadState(state.span.bytes)) != nil, restored.serializedState() == state else {
        fatalError("template state did not round-trip")
    }
    _ = try? restored.loadState(bytes)
    return sum == 42 ? 1 : 0
}
