// The channel handlers of one stream connection: the framer behind a ByteToMessageDecoder (which keeps the
// unconsumed bytes between reads), the idle-timeout closer and the TLS handshake watcher.
import NIOCore
import NIOTLS
import Synchronization

/// What a connection's handlers share with the listener; one instance serves every loop.
final class StreamShared: Sendable {
    struct Connections {
        var open: [ObjectIdentifier: Channel] = [:]
        /// Set by stop(): connections accepted after it are closed at once.
        var stopping = false
    }

    let stats: StreamListenerStats
    /// Open connections, for stop() to close (locked once per connection, not per frame).
    let connections = Mutex(Connections())
    let handler: StreamListener.Handler
    let maxFrameBytes: Int

    init(stats: StreamListenerStats, handler: @escaping StreamListener.Handler, maxFrameBytes: Int) {
        self.stats = stats
        self.handler = handler
        self.maxFrameBytes = maxFrameBytes
    }
}

/// The framer over NIO's cumulation buffer: every read delivers the frames it completed, as spans of the
/// buffer, and leaves the partial frame at the front for the next read.
struct SyslogStreamDecoder: ByteToMessageDecoder {
    typealias InboundOut = Never

    private var framer: SyslogFramer
    private let shared: StreamShared
    private let thread: Int
    private let peer: PeerAddress
    private let transport: StreamTransport
    /// Readable bytes left in the buffer after the last call (already counted in `bytes`).
    private var kept = 0

    init(shared: StreamShared, thread: Int, peer: PeerAddress, transport: StreamTransport) {
        framer = SyslogFramer(maxFrameBytes: shared.maxFrameBytes)
        self.shared = shared
        self.thread = thread
        self.peer = peer
        self.transport = transport
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        deliver(&buffer, atEnd: false)
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) -> DecodingState {
        deliver(&buffer, atEnd: true)
        return .needMoreData
    }

    private mutating func deliver(_ buffer: inout ByteBuffer, atEnd: Bool) {
        var tally = FrameTally()
        // The decoder only ever appends to the buffer, so what is new is what we did not leave there.
        tally.bytes = buffer.readableBytes - kept
        let consumed = frames(in: buffer.readableBytesSpan, atEnd: atEnd, now: unixMicrosNow(), tally: &tally)
        buffer.moveReaderIndex(forwardBy: consumed)
        kept = buffer.readableBytes
        shared.stats.add(tally)
    }

    /// Hands every frame in `bytes` to the handler; returns the bytes consumed.
    private mutating func frames(in bytes: RawSpan, atEnd: Bool, now: Int64, tally: inout FrameTally) -> Int {
        var offset = 0
        while true {
            let rest = bytes.extracting(offset..<bytes.byteCount)
            let step = framer.next(rest, atEnd: atEnd)
            if step.needsMore { return offset }
            offset += step.consumed
            tally.discardedBytes += step.discarded
            if step.framingError { tally.framingErrors += 1 }
            guard let range = step.frame else { continue }
            tally.count(step.framing)
            if step.truncated { tally.truncated += 1 }
            shared.handler(
                thread, rest.extracting(range), peer, now,
                StreamFrameInfo(framing: step.framing, truncated: step.truncated, transport: transport)
            )
        }
    }
}

/// Closes the connection when the IdleStateHandler in front of it reports no reads for the timeout.
final class IdleCloser: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let stats: StreamListenerStats

    init(stats: StreamListenerStats) { self.stats = stats }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? IdleStateHandler.IdleStateEvent, e == .read {
            stats.idleClosed.wrappingAdd(1, ordering: .relaxed)
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// Counts a TLS connection that errs, ends or times out before its handshake completed (once per
/// connection), and closes it at the timeout.
final class TLSHandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let stats: StreamListenerStats
    private let timeout: TimeAmount
    private var settled = false
    private var timer: Scheduled<Void>?

    init(stats: StreamListenerStats, timeout: TimeAmount) {
        self.stats = stats
        self.timeout = timeout
    }

    private func failed() {
        timer?.cancel()
        guard !settled else { return }
        settled = true
        stats.tlsHandshakeFailures.wrappingAdd(1, ordering: .relaxed)
    }

    func channelActive(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (watcher, context) = bound.value
            watcher.failed()
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? TLSUserEvent, case .handshakeCompleted = e {
            settled = true
            timer?.cancel()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failed()
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failed()
        context.fireChannelInactive()
    }
}

/// The last handler: any error (a reset, a TLS alert, a failed read) ends the connection.
final class CloseOnError: ChannelInboundHandler {
    typealias InboundIn = Never

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
