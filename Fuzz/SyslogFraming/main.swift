// libFuzzer target for RFC 6587 framing (Capture's SyslogFramer): any byte stream must frame without
// trapping, every call must make progress or ask for more, frames must lie inside the bytes given, and
// the frames must not depend on how the stream is cut into reads (the first byte of the input picks
// the cut points, the second the maximum frame size).
// Built by scripts/fuzz with the framer's own source files (swiftc -sanitize=fuzzer,address).

struct Frame: Equatable {
    var bytes: [UInt8]
    var truncated: Bool
}

/// Frames `stream` fed in pieces of the given sizes (cycled), as a connection would see it.
func frames(_ stream: [UInt8], pieces: [Int], max: Int) -> [Frame] {
    var framer = SyslogFramer(maxFrameBytes: max)
    var pending: [UInt8] = []
    var out: [Frame] = []
    var fed = 0, p = 0
    while true {
        let atEnd = fed == stream.count
        if !atEnd {
            let k = min(pieces[p % pieces.count], stream.count - fed)
            pending += stream[fed..<(fed + k)]
            fed += k
            p += 1
        }
        while true {
            let step = pending.withUnsafeBytes { framer.next($0.bytes, atEnd: fed == stream.count) }
            if let r = step.frame {
                precondition(r.lowerBound >= 0 && r.upperBound <= pending.count, "frame outside the bytes")
                precondition(r.count <= max, "frame longer than the maximum")
                out.append(Frame(bytes: Array(pending[r]), truncated: step.truncated))
            }
            precondition(step.consumed <= pending.count, "consumed more than given")
            if step.needsMore {
                if fed == stream.count { precondition(pending.isEmpty, "stalled at the end with bytes left") }
                break
            }
            pending.removeFirst(step.consumed)
            if pending.isEmpty && fed == stream.count { break }
        }
        if atEnd && pending.isEmpty { break }
        if fed == stream.count && pending.isEmpty { break }
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let max = 1 + Int(input[1]) * 4
    let stream = Array(input[2...])
    let whole = frames(stream, pieces: [Swift.max(1, stream.count)], max: max)
    let cut = frames(stream, pieces: [1 + Int(input[0] % 7), 1 + Int(input[0] >> 3)], max: max)
    precondition(whole == cut, "frames depend on how the stream was cut")
    return 0
}
