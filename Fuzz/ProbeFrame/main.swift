// libFuzzer target for the capture probe's flow table: any frame, at any start layer, must be counted into
// a flow or as not-IP — never trap, never read out of bounds — and every packet counted must come out in
// the records (packets in = packets out) once the table is flushed.
// Built by scripts/fuzz with FlowCache and the header parser's source files (swiftc -sanitize=fuzzer,address).

/// One table across inputs, small so the full-table paths run too; flushed and checked every input.
nonisolated(unsafe) var cache: FlowCache = {
    var o = FlowCacheOptions()
    o.maxEntries = 8
    return FlowCache(options: o)
}()
nonisolated(unsafe) var clock: Int64 = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size).bytes
    guard size >= 2 else { return 0 }
    // The first byte picks the layer, where parsing starts and the flags; the rest is the frame.
    let control = data[0]
    let layer: PacketLayer = [.ethernet, .mpls, .ipv4, .ipv6][Int(control & 3)]
    let start = Int(control >> 2 & 0x7) + 2  // 0: the frame right after the two control bytes
    var packetsOut: UInt64 = 0
    let before = cache.stats
    for i in 0..<4 {
        clock += Int64(data[1]) * 10_000
        let frame = CapturedFrame(micros: clock, wireLength: size, layer: layer, start: min(start + i, size),
                                  ifIndex: UInt32(i), outgoing: control & 0x80 != 0, strippedVLAN: UInt16(i * 7))
        cache.add(bytes, frame) { packetsOut += $0.packets }
        if i == 2 { cache.expire(nowMicros: clock) { packetsOut += $0.packets } }
    }
    cache.flush(nowMicros: clock) { packetsOut += $0.packets }
    let s = cache.stats
    let packetsIn = (s.packets - before.packets) - (s.notIP - before.notIP)
    precondition(packetsIn == packetsOut, "\(packetsIn) packets counted, \(packetsOut) in records")
    precondition(s.entries == 0, "flows left after a flush")
    return 0
}
