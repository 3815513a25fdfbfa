// The RFC 6587 framer on its own: both framings and every trailer, input split at every place and fed
// byte by byte, over-long frames of both kinds, bad octet counts, frames cut by the end of the stream, and
// random streams that must never crash it or lose track of a byte.
import Testing

@testable import Capture

@Suite("Syslog framing")
struct SyslogFramingTests {
    struct Frame: Equatable, CustomStringConvertible {
        var text: String
        var framing: SyslogFraming
        var truncated = false
        var error = false
        var description: String { "\(text.debugDescription) \(framing)\(truncated ? " truncated" : "")\(error ? " error" : "")" }
    }

    struct Result: Equatable {
        var frames: [Frame] = []
        var discarded = 0
        /// Framing errors reported without a frame.
        var bareErrors = 0
    }

    /// Feeds `input` to a framer in pieces of `chunks` bytes (cycling; the rest in one piece when empty),
    /// keeping the unconsumed bytes like the listener does, then ends the stream.
    static func framed(_ input: [UInt8], max: Int = 64, chunks: [Int] = [], end: Bool = true) -> Result {
        var framer = SyslogFramer(maxFrameBytes: max)
        var pending: [UInt8] = []
        var result = Result()
        var fed = 0, c = 0
        func drain(atEnd: Bool) {
            var offset = 0
            while true {
                let bytes = pending.span.bytes.extracting(offset..<pending.count)
                let step = framer.next(bytes, atEnd: atEnd)
                if step.needsMore { break }
                #expect(step.consumed <= bytes.byteCount)
                offset += step.consumed
                result.discarded += step.discarded
                if let r = step.frame {
                    #expect(r.count <= max && r.upperBound <= bytes.byteCount)
                    #expect(!r.isEmpty, "empty frames are never delivered")
                    let text = String(decoding: pending[(offset - step.consumed + r.lowerBound)..<(offset - step.consumed + r.upperBound)], as: UTF8.self)
                    result.frames.append(Frame(text: text, framing: step.framing, truncated: step.truncated, error: step.framingError))
                } else if step.framingError {
                    result.bareErrors += 1
                }
            }
            pending.removeFirst(offset)
        }
        while fed < input.count {
            let size = chunks.isEmpty ? input.count : Swift.max(1, chunks[c % chunks.count])
            c += 1
            let n = min(size, input.count - fed)
            pending += input[fed..<(fed + n)]
            fed += n
            drain(atEnd: false)
        }
        if end {
            drain(atEnd: true)
            #expect(pending.isEmpty, "the end of the stream consumes everything")
        }
        return result
    }

    static func framed(_ s: String, max: Int = 64, chunks: [Int] = [], end: Bool = true) -> Result {
        framed(Array(s.utf8), max: max, chunks: chunks, end: end)
    }

    /// The same frames whole, byte by byte, and split at every single offset.
    static func expectSplitInvariant(_ s: String, max: Int = 64, sourceLocation: SourceLocation = #_sourceLocation) {
        let whole = Self.framed(s, max: max)
        #expect(Self.framed(s, max: max, chunks: [1]) == whole, "byte by byte", sourceLocation: sourceLocation)
        let bytes = Array(s.utf8)
        for cut in 1..<Swift.max(bytes.count, 1) {
            #expect(Self.framed(bytes, max: max, chunks: [cut, bytes.count]) == whole, "split at \(cut)", sourceLocation: sourceLocation)
        }
    }

    @Test func lfCrlfAndNulTrailers() {
        #expect(Self.framed("<13>a b\n<14>cc\n").frames == [Frame(text: "<13>a b", framing: .lf), Frame(text: "<14>cc", framing: .lf)])
        #expect(Self.framed("<13>a\r\n<14>b\r\n").frames == [Frame(text: "<13>a", framing: .crlf), Frame(text: "<14>b", framing: .crlf)])
        #expect(Self.framed("<13>a\0<14>b\0").frames == [Frame(text: "<13>a", framing: .nul), Frame(text: "<14>b", framing: .nul)])
        // LF and CRLF mix on one connection (both are the LF trailer); a lone CR inside stays.
        #expect(Self.framed("<1>a\r\n<2>b\n<3>c\rd\n").frames == [
            Frame(text: "<1>a", framing: .crlf), Frame(text: "<2>b", framing: .lf), Frame(text: "<3>c\rd", framing: .lf),
        ])
        for s in ["<13>a b\n<14>cc\n", "<13>a\r\n<14>b\r\n", "<13>a\0<14>b\0"] { Self.expectSplitInvariant(s) }
    }

    @Test func theFirstTrailerLocksTheConnection() {
        // A NUL-delimited sender may put newlines in its messages...
        #expect(Self.framed("<1>a\0<2>line1\nline2\0").frames == [Frame(text: "<1>a", framing: .nul), Frame(text: "<2>line1\nline2", framing: .nul)])
        // ...and an LF-delimited one NULs.
        #expect(Self.framed("<1>a\n<2>b\0c\n").frames == [Frame(text: "<1>a", framing: .lf), Frame(text: "<2>b\0c", framing: .lf)])
        Self.expectSplitInvariant("<1>a\0<2>line1\nline2\0<3>x\0")
    }

    @Test func octetCounting() {
        #expect(Self.framed("7 <13>a b6 <14>cc").frames == [Frame(text: "<13>a b", framing: .octetCounted), Frame(text: "<14>cc", framing: .octetCounted)])
        // The count covers trailers and newlines inside the message.
        #expect(Self.framed("8 <1>a\nb\0\n\n3 <2>").frames == [Frame(text: "<1>a\nb\0\n", framing: .octetCounted), Frame(text: "<2>", framing: .octetCounted)])
        // A newline (or CR LF, or NUL) after each frame, as some senders add, is skipped without an error.
        let r = Self.framed("4 <1>a\n4 <2>b\r\n4 <3>c\0")
        #expect(r.frames.map { $0.text } == ["<1>a", "<2>b", "<3>c"])
        #expect(r.frames.allSatisfy { $0.framing == SyslogFraming.octetCounted && !$0.error })
        let long = String(repeating: "x", count: 123)
        #expect(Self.framed("126 <1>\(long)", max: 200).frames == [Frame(text: "<1>\(long)", framing: .octetCounted)])
        Self.expectSplitInvariant("7 <13>a b6 <14>cc10 <15>012345")
    }

    @Test func manyFramesInOneRead() {
        var s = "", expected: [Frame] = []
        for i in 0..<500 {
            let m = "<\(i % 192)>message \(i)"
            s += "\(m.utf8.count) \(m)"
            expected.append(Frame(text: m, framing: .octetCounted))
        }
        #expect(Self.framed(s).frames == expected)
        #expect(Self.framed(s, chunks: [1]).frames == expected)
        #expect(Self.framed(s, chunks: [7, 100, 3]).frames == expected)
        let lines = expected.map { $0.text + "\n" }.joined()
        #expect(Self.framed(lines).frames == expected.map { Frame(text: $0.text, framing: .lf) })
    }

    @Test func leadingSeparatorsAndEmptyFramesAreSkipped() {
        #expect(Self.framed("\n\r\n\0<1>a\n\n\n<2>b\n").frames == [Frame(text: "<1>a", framing: .lf), Frame(text: "<2>b", framing: .lf)])
        #expect(Self.framed("\n\n5 <1>ab").frames == [Frame(text: "<1>ab", framing: .octetCounted)])
        #expect(Self.framed("\n\r\n").frames.isEmpty)
        #expect(Self.framed("").frames.isEmpty)
    }

    @Test func overlongOctetCountedFrameIsTruncatedAndTheRestSkipped() {
        let r = Self.framed("22 <13>0123456789abcdefXX4 <1>z", max: 8)
        #expect(r.frames == [Frame(text: "<13>0123", framing: .octetCounted, truncated: true), Frame(text: "<1>z", framing: .octetCounted)])
        #expect(r.discarded == 14)
        Self.expectSplitInvariant("22 <13>0123456789abcdefXX4 <1>z", max: 8)
        // Exactly the maximum is whole.
        #expect(Self.framed("8 <13>0123", max: 8).frames == [Frame(text: "<13>0123", framing: .octetCounted)])
        // A huge count (9 digits) is skipped as far as the stream goes, counted.
        let h = Self.framed("999999999 <1>" + String(repeating: "y", count: 100), max: 8)
        #expect(h.frames == [Frame(text: "<1>yyyyy", framing: .octetCounted, truncated: true)] && h.discarded == 95)
    }

    @Test func overlongNonTransparentFrameIsTruncatedAndResynchronisedAtTheTrailer() {
        let r = Self.framed("<13>0123456789abcdef\n<1>z\n", max: 8)
        #expect(r.frames == [Frame(text: "<13>0123", framing: .lf, truncated: true), Frame(text: "<1>z", framing: .lf)])
        #expect(r.discarded == 12)
        Self.expectSplitInvariant("<13>0123456789abcdef\n<1>z\n", max: 8)
        // One byte over, with the trailer right behind it.
        let o = Self.framed("<13>01234\n<1>z\n", max: 8)
        #expect(o.frames.first == Frame(text: "<13>0123", framing: .lf, truncated: true) && o.discarded == 1)
        // Exactly the maximum is whole, with LF or CR LF after it.
        #expect(Self.framed("<13>0123\n", max: 8).frames == [Frame(text: "<13>0123", framing: .lf)])
        #expect(Self.framed("<13>0123\r\n<1>z\r\n", max: 8).frames == [Frame(text: "<13>0123", framing: .crlf), Frame(text: "<1>z", framing: .crlf)])
        Self.expectSplitInvariant("<13>0123\r\n<1>z\r\n", max: 8)
        // With the NUL trailer locked, the truncated frame says NUL and the resync waits for NUL.
        let n = Self.framed("<1>a\0<13>0123456789\nab\0<2>b\0", max: 8)
        #expect(n.frames == [Frame(text: "<1>a", framing: .nul), Frame(text: "<13>0123", framing: .nul, truncated: true), Frame(text: "<2>b", framing: .nul)])
        // A frame that never ends is cut into one truncated head; the rest is dropped to the end.
        let never = Self.framed("<1>" + String(repeating: "q", count: 1000), max: 8, chunks: [10])
        #expect(never.frames == [Frame(text: "<1>qqqqq", framing: .lf, truncated: true)] && never.discarded == 995)
    }

    @Test func badOctetCountsAreErrorsDeliveredAsNonTransparent() {
        // Not SP after the digits.
        #expect(Self.framed("5x<13>a\n4 <1>b").frames == [Frame(text: "5x<13>a", framing: .lf, error: true), Frame(text: "<1>b", framing: .octetCounted)])
        // A leading zero after detection, ten digits, a frame that starts with a letter.
        #expect(Self.framed("4 <1>a05 <1>b\n").frames == [Frame(text: "<1>a", framing: .octetCounted), Frame(text: "05 <1>b", framing: .lf, error: true)])
        #expect(Self.framed("1234567890 <1>c\n").frames == [Frame(text: "1234567890 <1>c", framing: .lf, error: true)])
        #expect(Self.framed("4 <1>a<2>b\n4 <3>c").frames == [
            Frame(text: "<1>a", framing: .octetCounted), Frame(text: "<2>b", framing: .lf, error: true), Frame(text: "<3>c", framing: .octetCounted),
        ])
        // A non-transparent sender whose messages start with a digit loses nothing, frame by frame.
        let digits = Self.framed("2024-01-01 host a\n2024-01-01 host b\n")
        #expect(digits.frames == [Frame(text: "2024-01-01 host a", framing: .lf, error: true), Frame(text: "2024-01-01 host b", framing: .lf, error: true)])
        Self.expectSplitInvariant("5x<13>a\n4 <1>b12 <1>c\n")
        // An over-long bad frame is truncated like any non-transparent one.
        let long = Self.framed("9x" + String(repeating: "z", count: 20) + "\n3 <1>", max: 8)
        #expect(long.frames == [Frame(text: "9xzzzzzz", framing: .lf, truncated: true, error: true), Frame(text: "<1>", framing: .octetCounted)])
    }

    @Test func framesCutByTheEndOfTheStream() {
        #expect(Self.framed("<13>a\n<14>no trailer").frames == [Frame(text: "<13>a", framing: .lf), Frame(text: "<14>no trailer", framing: .streamEnd)])
        #expect(Self.framed("<13>a\n<14>no trailer", end: false).frames == [Frame(text: "<13>a", framing: .lf)])
        // An unfinished octet-counted frame: what came, truncated.
        #expect(Self.framed("4 <1>a10 <2>bcd").frames == [Frame(text: "<1>a", framing: .octetCounted), Frame(text: "<2>bcd", framing: .octetCounted, truncated: true)])
        // A count and nothing else: an error, no frame.
        let bare = Self.framed("4 <1>a10 ")
        #expect(bare.frames.count == 1 && bare.bareErrors == 1)
        // Digits that never reached their SP: an error, delivered.
        #expect(Self.framed("4 <1>a123").frames.last == Frame(text: "123", framing: .streamEnd, error: true))
        // Longer than the maximum at the end.
        #expect(Self.framed("<1>abcdef", max: 8) == Result(frames: [Frame(text: "<1>abcde", framing: .streamEnd, truncated: true)], discarded: 1))
        Self.expectSplitInvariant("<13>a\n<14>no trailer")
        Self.expectSplitInvariant("4 <1>a10 <2>bcd")
    }

    @Test func detectionLooksAtTheFirstFrameOnly() {
        var f = SyslogFramer(maxFrameBytes: 100)
        #expect(f.detected == nil)
        let bytes = Array("<1>a\n".utf8)
        _ = f.next(bytes.span.bytes, atEnd: false)
        #expect(f.detected == .lf)
        var g = SyslogFramer(maxFrameBytes: 100)
        let counted = Array("3 <1>".utf8)
        _ = g.next(counted.span.bytes, atEnd: false)
        #expect(g.detected == .octetCounted)
    }

    /// Random streams of frames, noise and oversize pieces, cut at random: the framer never crashes, every
    /// step makes progress, frames stay within the maximum, and splitting never changes the result.
    @Test func randomStreamsSplitAnywhereGiveTheSameFrames() {
        var rng = SplitMix(seed: 0x5107_5eed)
        let alphabet: [UInt8] = Array("<>0123456789 \n\r\0ab".utf8)
        for round in 0..<300 {
            var input: [UInt8] = []
            for _ in 0..<Int(rng.next() % 12) {
                switch rng.next() % 4 {
                case 0:
                    let m = Array("<13>m\(round)".utf8) + Array(repeating: UInt8(ascii: "x"), count: Int(rng.next() % 40))
                    input += Array("\(m.count) ".utf8) + m
                case 1: input += Array("<14>line \(round)\n".utf8)
                default: for _ in 0..<Int(rng.next() % 30) { input.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
                }
            }
            let max = 1 + Int(rng.next() % 32)
            let whole = Self.framed(input, max: max)
            let chunks = (0..<5).map { _ in 1 + Int(rng.next() % 9) }
            #expect(Self.framed(input, max: max, chunks: chunks) == whole, "round \(round)")
            #expect(Self.framed(input, max: max, chunks: [1]) == whole, "round \(round) byte by byte")
        }
    }
}

/// A small deterministic generator, so a failing round can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
