// Counters of a StreamListener: connections and what ended them, frames by framing, and every byte the
// framer dropped, so nothing a sender sent goes missing without a number on /metrics.
import Synchronization

/// Counters of a `StreamListener`, updated on its event loops and readable from any thread.
public final class StreamListenerStats: Sendable {
    let accepted = Atomic<Int>(0)
    let open = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let idleClosed = Atomic<Int>(0)
    let tlsHandshakeFailures = Atomic<Int>(0)
    let octetCountedFrames = Atomic<Int>(0)
    let lfFrames = Atomic<Int>(0)
    let crlfFrames = Atomic<Int>(0)
    let nulFrames = Atomic<Int>(0)
    let streamEndFrames = Atomic<Int>(0)
    let truncated = Atomic<Int>(0)
    let framingErrors = Atomic<Int>(0)
    let discardedBytes = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)

    public struct Snapshot: Sendable, Equatable {
        /// Connections the kernel handed over, refused ones included.
        public var accepted = 0
        /// Connections open now.
        public var open = 0
        /// Connections closed at once because `maxConnections` were open.
        public var refused = 0
        /// Connections closed because nothing arrived for `idleTimeout`.
        public var idleClosed = 0
        /// TLS connections that failed or ended before the handshake completed.
        public var tlsHandshakeFailures = 0
        /// Frames delivered, by how they were delimited.
        public var octetCountedFrames = 0
        public var lfFrames = 0
        public var crlfFrames = 0
        public var nulFrames = 0
        /// Non-transparent frames ended by the connection's end (no trailer came).
        public var streamEndFrames = 0
        /// Frames longer than `maxFrameBytes`, delivered truncated.
        public var truncated = 0
        /// Frames without a valid octet count on an octet-counted connection (delivered as non-transparent).
        public var framingErrors = 0
        /// Bytes dropped from over-long frames.
        public var discardedBytes = 0
        /// Bytes received (after TLS decryption).
        public var bytes = 0

        public init() {}

        /// All frames delivered.
        public var frames: Int { octetCountedFrames + lfFrames + crlfFrames + nulFrames + streamEndFrames }

        /// Metric-style names and values.
        public var fields: [(String, Int)] {
            [("connections_accepted", accepted), ("connections_open", open), ("connections_refused", refused),
             ("connections_idle_closed", idleClosed), ("tls_handshake_failures", tlsHandshakeFailures),
             ("frames_octet_counted", octetCountedFrames), ("frames_lf", lfFrames), ("frames_crlf", crlfFrames),
             ("frames_nul", nulFrames), ("frames_stream_end", streamEndFrames), ("frames_truncated", truncated),
             ("framing_errors", framingErrors), ("discarded_bytes", discardedBytes), ("bytes", bytes)]
        }
    }

    public func snapshot() -> Snapshot {
        var s = Snapshot()
        s.accepted = accepted.load(ordering: .relaxed)
        s.open = open.load(ordering: .relaxed)
        s.refused = refused.load(ordering: .relaxed)
        s.idleClosed = idleClosed.load(ordering: .relaxed)
        s.tlsHandshakeFailures = tlsHandshakeFailures.load(ordering: .relaxed)
        s.octetCountedFrames = octetCountedFrames.load(ordering: .relaxed)
        s.lfFrames = lfFrames.load(ordering: .relaxed)
        s.crlfFrames = crlfFrames.load(ordering: .relaxed)
        s.nulFrames = nulFrames.load(ordering: .relaxed)
        s.streamEndFrames = streamEndFrames.load(ordering: .relaxed)
        s.truncated = truncated.load(ordering: .relaxed)
        s.framingErrors = framingErrors.load(ordering: .relaxed)
        s.discardedBytes = discardedBytes.load(ordering: .relaxed)
        s.bytes = bytes.load(ordering: .relaxed)
        return s
    }

    /// Adds what one read produced.
    func add(_ tally: FrameTally) {
        func add(_ a: borrowing Atomic<Int>, _ n: Int) { if n != 0 { a.wrappingAdd(n, ordering: .relaxed) } }
        add(octetCountedFrames, tally.frames.0)
        add(lfFrames, tally.frames.1)
        add(crlfFrames, tally.frames.2)
        add(nulFrames, tally.frames.3)
        add(streamEndFrames, tally.frames.4)
        add(truncated, tally.truncated)
        add(framingErrors, tally.framingErrors)
        add(discardedBytes, tally.discardedBytes)
        add(bytes, tally.bytes)
    }
}

/// Counts of one read, added to the shared atomics once instead of once per frame.
struct FrameTally {
    var frames = (0, 0, 0, 0, 0)
    var truncated = 0
    var framingErrors = 0
    var discardedBytes = 0
    var bytes = 0

    mutating func count(_ framing: SyslogFraming) {
        switch framing {
        case .octetCounted: frames.0 += 1
        case .lf: frames.1 += 1
        case .crlf: frames.2 += 1
        case .nul: frames.3 += 1
        case .streamEnd: frames.4 += 1
        }
    }
}
