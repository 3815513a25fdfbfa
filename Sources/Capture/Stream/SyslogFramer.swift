// RFC 6587 framing of a syslog byte stream (TCP, or TLS per RFC 5425): octet counting and non-transparent
// framing, detected per connection. Pure: it reads the bytes it is given and keeps a few integers of state,
// so the listener, the tests and a fuzzer drive it the same way.

/// How one frame was delimited on the wire.
public enum SyslogFraming: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// `MSG-LEN SP SYSLOG-MSG` (RFC 6587 §3.4.1, RFC 5425 §4.3).
    case octetCounted
    /// Non-transparent, ended by LF (RFC 6587 §3.4.2).
    case lf
    /// Non-transparent, ended by CR LF (the CR is not part of the frame).
    case crlf
    /// Non-transparent, ended by NUL (seen from some appliances).
    case nul
    /// Non-transparent, ended by the end of the stream before any trailer came.
    case streamEnd

    public var description: String {
        switch self {
        case .octetCounted: "octet-counted"
        case .lf: "LF"
        case .crlf: "CRLF"
        case .nul: "NUL"
        case .streamEnd: "stream end"
        }
    }
}

/// What one call of `SyslogFramer.next` found.
public struct SyslogFrameStep: Equatable, Sendable {
    /// Bytes the caller drops from the front of the stream before the next call.
    public var consumed = 0
    /// The frame, as offsets into the bytes given to `next` (no count, no trailer); nil: no frame this step.
    public var frame: Range<Int>?
    public var framing = SyslogFraming.octetCounted
    /// The sender's frame was longer than `maxFrameBytes`: `frame` is its head, the rest is dropped.
    public var truncated = false
    /// The frame did not start with a valid octet count on an octet-counted stream (non-digits, a leading
    /// zero, more than 9 digits, no SP): it was delimited as non-transparent instead. Also set, with no
    /// frame, for a count with no message at the end of the stream.
    public var framingError = false
    /// Bytes of over-long frames dropped in this step (the part beyond `maxFrameBytes`, and the rest of
    /// a non-transparent frame up to its trailer).
    public var discarded = 0

    /// Nothing can be done until more bytes arrive (at the end of the stream: everything was consumed).
    public var needsMore: Bool { consumed == 0 && frame == nil }

    public init() {}
}

/// Splits a syslog stream into frames. The caller keeps the unconsumed bytes and calls `next` with them
/// (the same bytes, plus what arrived since) until it returns `needsMore`; frames are offsets into those
/// bytes, so a frame that is contiguous in the receive buffer is never copied.
///
/// Rules (decided per connection, like rsyslog's imtcp does per frame):
/// - The first byte that is not CR, LF or NUL picks the framing: a digit 1-9 means octet counting,
///   anything else (normally `<`) non-transparent.
/// - CR, LF and NUL between frames are skipped (senders that add a newline after an octet-counted
///   frame, or a NUL after an LF, lose nothing and raise no error).
/// - Octet counting: 1 to 9 digits, no leading zero, then SP. Anything else is a framing error: that
///   frame is delimited as non-transparent (its bytes up to the next trailer, count included, are
///   delivered and flagged), then octet counting resumes. Nothing is dropped and the connection stays up,
///   so a sender that was misdetected still gets every message through.
/// - Non-transparent: a frame ends at LF (CR LF) or NUL; the first trailer seen locks the connection to
///   LF or to NUL, so a NUL-delimited sender may put newlines inside its messages.
/// - A frame longer than `maxFrameBytes` is delivered truncated to it and flagged; the rest (the
///   remaining octets, or everything up to the next trailer) is dropped and counted in `discarded`.
/// - At the end of the stream a non-transparent frame with no trailer is delivered as `.streamEnd`; an
///   incomplete octet-counted frame is delivered truncated.
public struct SyslogFramer: Sendable {
    /// Largest frame delivered whole, in bytes (count and trailer excluded).
    public let maxFrameBytes: Int

    private enum Mode: UInt8, Sendable { case undetected, octetCounted, nonTransparent }

    private var mode = Mode.undetected
    /// LF or NUL once a non-transparent trailer was seen; before that either ends a frame.
    private var trailer: UInt8?
    /// Octets of an over-long octet-counted frame still to drop.
    private var skipping = 0
    /// Dropping the rest of an over-long non-transparent frame, up to and including its trailer.
    private var discarding = false
    /// The current frame had a bad octet count and is being delimited as non-transparent.
    private var fallback = false
    /// Bytes at the front of the current non-transparent frame already searched for a trailer, so bytes
    /// that trickle in are not searched again.
    private var scanned = 0

    public init(maxFrameBytes: Int) {
        precondition(maxFrameBytes >= 1, "maxFrameBytes must be positive")
        self.maxFrameBytes = maxFrameBytes
    }

    /// The framing the connection settled on: `.octetCounted`, `.lf` (non-transparent) or nil before the
    /// first frame.
    public var detected: SyslogFraming? {
        switch mode {
        case .undetected: nil
        case .octetCounted: .octetCounted
        case .nonTransparent: trailer == 0 ? .nul : .lf
        }
    }

    /// Looks for the next frame at the front of `bytes`, the stream's unconsumed bytes. `atEnd`: the stream
    /// has ended and `bytes` is all that is left; then every call consumes something until nothing is left.
    public mutating func next(_ bytes: RawSpan, atEnd: Bool) -> SyslogFrameStep {
        let n = bytes.byteCount
        var step = SyslogFrameStep()
        if skipping > 0 {
            let k = min(skipping, n)
            skipping -= k
            step.consumed = k
            step.discarded = k
            return step
        }
        if discarding {
            if let p = findTrailer(bytes, from: 0, to: n) {
                discarding = false
                step.consumed = p + 1
                step.discarded = p
            } else {
                step.consumed = n
                step.discarded = n
            }
            return step
        }
        if scanned == 0 && !fallback {
            var start = 0
            while start < n, Self.isSeparator(bytes.byte(start)) { start += 1 }
            if start > 0 {
                step.consumed = start
                return step
            }
            if n == 0 { return step }
            if mode == .undetected {
                let c = bytes.byte(0)
                mode = c >= 0x31 && c <= 0x39 ? .octetCounted : .nonTransparent
            }
            if mode == .octetCounted, let step = octetCounted(bytes, atEnd: atEnd) { return step }
        }
        return nonTransparent(bytes, atEnd: atEnd)
    }

    /// An octet-counted frame at the front of `bytes`; nil when its count is bad and `fallback` is now set.
    private mutating func octetCounted(_ bytes: RawSpan, atEnd: Bool) -> SyslogFrameStep? {
        let n = bytes.byteCount
        var step = SyslogFrameStep()
        var length = 0
        var i = 0
        while i < n {
            let c = bytes.byte(i)
            if c == 0x20 && i > 0 { break }
            guard c >= 0x30 && c <= 0x39, i < 9, !(i == 0 && c == 0x30) else {
                fallback = true
                return nil
            }
            length = length * 10 + Int(c - 0x30)
            i += 1
        }
        if i == n {
            // Only digits so far: the SP may still come.
            if !atEnd { return step }
            fallback = true
            return nil
        }
        let header = i + 1
        let wanted = min(length, maxFrameBytes)
        if n - header >= wanted {
            step.frame = header..<(header + wanted)
            step.consumed = header + wanted
            if length > maxFrameBytes {
                step.truncated = true
                skipping = length - maxFrameBytes
            }
            return step
        }
        if !atEnd { return step }
        // The stream ended inside the frame: deliver what came, flagged as truncated.
        step.consumed = n
        if n == header {
            step.framingError = true
        } else {
            step.frame = header..<n
            step.truncated = true
        }
        return step
    }

    /// A non-transparent frame at the front of `bytes` (also a frame whose octet count was bad).
    private mutating func nonTransparent(_ bytes: RawSpan, atEnd: Bool) -> SyslogFrameStep {
        let n = bytes.byteCount
        var step = SyslogFrameStep()
        // A whole frame is at most maxFrameBytes then CR LF; searching further only finds over-long ones.
        let window = min(n, maxFrameBytes + 2)
        if let p = findTrailer(bytes, from: scanned, to: window) {
            let t = bytes.byte(p)
            if trailer == nil { trailer = t }
            var end = p
            step.framing = t == 0 ? .nul : .lf
            if t == 0x0A && p > 0 && bytes.byte(p - 1) == 0x0D {
                end = p - 1
                step.framing = .crlf
            }
            step.consumed = p + 1
            if end > maxFrameBytes {
                step.frame = 0..<maxFrameBytes
                step.truncated = true
                step.discarded = end - maxFrameBytes
            } else {
                step.frame = 0..<end
            }
            return finishNonTransparent(step)
        }
        scanned = window
        if n >= maxFrameBytes + 2 {
            // No trailer where a frame must have ended: deliver the head, drop the rest up to the trailer.
            step.frame = 0..<maxFrameBytes
            step.framing = trailer == 0 ? .nul : .lf
            step.truncated = true
            step.consumed = maxFrameBytes + 2
            step.discarded = 2
            discarding = true
            return finishNonTransparent(step)
        }
        if !atEnd {
            scanned = n
            return step
        }
        step.framing = .streamEnd
        step.consumed = n
        if n > maxFrameBytes {
            step.frame = 0..<maxFrameBytes
            step.truncated = true
            step.discarded = n - maxFrameBytes
        } else {
            step.frame = 0..<n
        }
        return finishNonTransparent(step)
    }

    private mutating func finishNonTransparent(_ step: SyslogFrameStep) -> SyslogFrameStep {
        var step = step
        step.framingError = fallback
        fallback = false
        scanned = 0
        return step
    }

    /// The offset of the first trailer in `from..<to`: the locked one, or before the lock LF or NUL.
    private func findTrailer(_ bytes: RawSpan, from: Int, to: Int) -> Int? {
        guard from < to else { return nil }
        if let t = trailer { return bytes.firstIndex(of: t, from: from, to: to) }
        let lf = bytes.firstIndex(of: 0x0A, from: from, to: to)
        return bytes.firstIndex(of: 0, from: from, to: lf ?? to) ?? lf
    }

    @inline(__always)
    private static func isSeparator(_ c: UInt8) -> Bool { c == 0x0A || c == 0x0D || c == 0 }
}
