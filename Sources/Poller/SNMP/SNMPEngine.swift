// The asynchronous SNMP engine: a few UDP sockets shared by every agent, thousands of requests in flight
// matched by request-id (msgID for v3), a timeout and retries per request, one thread. A slow or dead
// agent holds only its own operation; everything else goes on. v3: engine discovery, localized keys
// cached per (user, engine), time-window resync after an agent reboot.
import Capture
import CSOTPLinux
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Engine settings.
public struct SNMPEngineOptions: Sendable {
    /// Sockets per address family (requests are spread over them; each has its own source port).
    public var socketsPerFamily = 2
    /// Requests in flight at once, over all agents (one per operation; more operations wait).
    public var maxInFlight = 1000
    /// SO_RCVBUF per socket.
    public var receiveBufferBytes = 4 << 20
    /// msgMaxSize announced in v3 requests, and the largest datagram read.
    public var maxMessageSize = 65_507

    public init() {}
}

/// Why the engine could not start.
public struct SNMPEngineError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Runs SNMP operations (GETs and walks) against any number of agents.
public final class SNMPEngine: @unchecked Sendable {
    // Everything below `inbox` is owned by the engine thread.
    public let stats = SNMPEngineStats()
    private let options: SNMPEngineOptions
    private let fds4: [Int32]
    private let fds6: [Int32]
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let inbox = Mutex<[SNMPOperationState]>([])
    private let tasks = Mutex<[@Sendable () -> Void]>([])
    private let stopping = Atomic<Bool>(false)
    private let inFlightGauge = Atomic<Int>(0)
    private let queuedGauge = Atomic<Int>(0)
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    private var slots: [Slot]
    private var freeSlots: [Int]
    private let slotBits: Int
    private var timeouts = SNMPDeadlineHeap()
    private var queueFirst = SNMPQueue()
    private var queueNew = SNMPQueue()
    private var peers: [PeerKey: V3Peer] = [:]
    private var userKeys: [USMUser: (auth: [UInt8], priv: [UInt8])] = [:]
    private let usm = USMCrypto(crypto: SwiftCryptoUSM())
    private var salt = UInt64.random(in: 0...UInt64.max)
    private let idKey = UInt32.random(in: 0...0x7fff_ffff)
    private var encoder = BEREncoder(capacity: 2048)
    private var scratch = BEREncoder(capacity: 2048)
    private let rx: MessageBatch
    private let tx4: MessageBatch
    private let tx6: MessageBatch
    private var pending4 = 0
    private var pending6 = 0
    private var nextSocket = 0

    struct Slot {
        var op: SNMPOperationState?
        var gen: UInt32 = 0
        var deadline: Int64 = 0
        var discovery = false
        var requestID: Int32 = 0
    }

    struct PeerKey: Hashable {
        var address: PeerAddress
        var user: String
    }

    /// What this engine knows of one v3 agent (the authoritative engine of its responses).
    final class V3Peer {
        var engineID: [UInt8] = []
        var boots: Int32 = 0
        var time: Int32 = 0
        /// monotonicNanos() when `time` was learnt.
        var syncedAt: Int64 = 0
        var authKey: [UInt8] = []
        var privKey: [UInt8] = []
        var keyEngineID: [UInt8] = []

        func engineTime(now: Int64) -> Int32 { Int32(clamping: Int64(time) + (now - syncedAt) / 1_000_000_000) }
    }

    /// Opens the sockets (IPv4 always; IPv6 when the host has it). Call `start()` to run.
    public init(options: SNMPEngineOptions = SNMPEngineOptions()) throws(SNMPEngineError) {
        precondition(options.socketsPerFamily >= 1 && options.maxInFlight >= 1)
        self.options = options
        var v4: [Int32] = [], v6: [Int32] = []
        for _ in 0..<options.socketsPerFamily {
            guard let fd = SNMPEngine.openSocket(v6: false, receiveBuffer: options.receiveBufferBytes) else {
                let e = Errno.current
                for f in v4 { close(f) }
                throw SNMPEngineError(description: "cannot open an IPv4 UDP socket for SNMP: \(e)")
            }
            v4.append(fd)
            if let fd6 = SNMPEngine.openSocket(v6: true, receiveBuffer: options.receiveBufferBytes) { v6.append(fd6) }
        }
        fds4 = v4
        fds6 = v6
        var p: (Int32, Int32) = (-1, -1)
        let rc = unsafe withUnsafeMutableBytes(of: &p) { unsafe pipe($0.baseAddress!.assumingMemoryBound(to: Int32.self)) }
        guard rc == 0 else { throw SNMPEngineError(description: "pipe: \(Errno.current)") }
        for fd in [p.0, p.1] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = p.0
        wakeWrite = p.1
        var bits = 1
        while 1 << bits < options.maxInFlight { bits += 1 }
        slotBits = bits
        slots = Array(repeating: Slot(), count: options.maxInFlight)
        freeSlots = Array((0..<options.maxInFlight).reversed())
        rx = MessageBatch(count: 16, bufferSize: options.maxMessageSize)
        tx4 = MessageBatch(count: 64, bufferSize: options.maxMessageSize)
        tx6 = MessageBatch(count: 64, bufferSize: options.maxMessageSize)
    }

    deinit {
        for fd in fds4 + fds6 { close(fd) }
        close(wakeRead)
        close(wakeWrite)
    }

    static func openSocket(v6: Bool, receiveBuffer: Int) -> Int32? {
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var size = Int32(clamping: receiveBuffer)
        if unsafe setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = unsafe setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if v6 {
            var one: Int32 = 1
            _ = unsafe setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        return fd
    }

    /// Requests in flight and operations waiting, now.
    public var inFlight: Int { inFlightGauge.load(ordering: .relaxed) }
    public var queued: Int { queuedGauge.load(ordering: .relaxed) }

    /// Starts the engine thread.
    public func start() {
        let t = Thread { [self] in
            CPU.nameCurrentThread("sotp-snmp")
            run()
            done.signal()
        }
        t.name = "sotp-snmp"
        thread = t
        t.start()
    }

    /// Stops the thread; operations still running or waiting are dropped without `finished`.
    public func stop() {
        guard thread != nil, !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake()
        done.wait()
    }

    /// Queues an operation (any thread). `continuation`: the operation continues a device's poll and
    /// goes before operations of devices not started yet, so started polls finish first.
    public func submit(_ target: SNMPTarget, _ kind: SNMPOperationKind, handler: any SNMPOperationHandler, continuation: Bool = false) {
        let op = SNMPOperationState(target: target, kind: kind, handler: handler, continuation: continuation)
        queuedGauge.wrappingAdd(1, ordering: .relaxed)
        inbox.withLock { $0.append(op) }
        wake()
    }

    /// Runs `body` on the engine thread (where operation handlers run), soon.
    public func onEngineThread(_ body: @escaping @Sendable () -> Void) {
        tasks.withLock { $0.append(body) }
        wake()
    }

    private func wake() {
        var b: UInt8 = 1
        _ = unsafe write(wakeWrite, &b, 1)
    }

    // MARK: the engine thread

    private func run() {
        var pfds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        for fd in fds4 + fds6 { pfds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        var drain = [UInt8](repeating: 0, count: 256)
        while !stopping.load(ordering: .acquiring) {
            takeInbox()
            startQueued()
            flush()
            let now = monotonicNanos()
            var wait = 100
            if let d = timeouts.peek?.deadline { wait = max(0, min(wait, Int((d - now + 999_999) / 1_000_000))) }
            _ = unsafe poll(&pfds, nfds_t(pfds.count), Int32(wait))
            if pfds[0].revents != 0 { _ = unsafe read(wakeRead, &drain, drain.count) }
            for i in 1..<pfds.count where pfds[i].revents != 0 { receiveAll(pfds[i].fd) }
            expire(monotonicNanos())
            flush()
        }
    }

    private func takeInbox() {
        let new = inbox.withLock { ops -> [SNMPOperationState] in
            let taken = ops
            ops.removeAll(keepingCapacity: true)
            return taken
        }
        for op in new {
            if op.continuation { queueFirst.push(op) } else { queueNew.push(op) }
        }
        let work = tasks.withLock { t -> [@Sendable () -> Void] in
            let taken = t
            t.removeAll()
            return taken
        }
        for w in work { w() }
    }

    private func startQueued() {
        while !freeSlots.isEmpty, let op = queueFirst.pop() ?? queueNew.pop() {
            queuedGauge.wrappingAdd(-1, ordering: .relaxed)
            guard op.prepareNext() else {
                op.handler.finished(nil)
                continue
            }
            begin(op)
        }
    }

    /// Sends the operation's prepared request (or an engine discovery first) in a new slot.
    private func begin(_ op: SNMPOperationState) {
        guard let s = freeSlots.popLast() else {
            queueFirst.pushFront(op)
            queuedGauge.wrappingAdd(1, ordering: .relaxed)
            return
        }
        inFlightGauge.wrappingAdd(1, ordering: .relaxed)
        slots[s].gen &+= 1
        let id = requestID(s)
        slots[s].op = op
        slots[s].requestID = id
        slots[s].discovery = op.target.version == .v3 && peer(op.target).engineID.isEmpty
        transmit(s)
    }

    /// (Re)sends slot `s`'s request and arms its timeout.
    private func transmit(_ s: Int) {
        guard let op = slots[s].op else { return }
        op.attempts += 1
        if op.attempts > 1 { stats.add(.retries) }
        let now = monotonicNanos()
        if slots[s].discovery {
            encodeDiscovery(slots[s].requestID)
        } else if op.target.version == .v3 {
            encodeV3(op, slots[s].requestID, now: now)
        } else {
            encoder.reset()
            let type = op.pduType
            encoder.communityMessage(version: op.target.version, community: op.target.community.utf8) { e in
                e.pdu(type, requestID: slots[s].requestID, errorStatus: 0,
                      errorIndex: type == .getBulkRequest ? Int32(op.maxRepetitions) : 0) { op.writeVarbinds(&$0) }
            }
        }
        slots[s].deadline = now + Int64(max(1, op.target.timeoutMs)) * 1_000_000
        timeouts.push(SNMPDeadline(deadline: slots[s].deadline, slot: Int32(s), gen: slots[s].gen))
        enqueueSend(op.target.address)
    }

    private func enqueueSend(_ to: PeerAddress) {
        stats.add(.requestsSent)
        if to.isV4 {
            stage(tx4, &pending4, to)
            if pending4 == tx4.count { flush() }
        } else if !fds6.isEmpty {
            stage(tx6, &pending6, to)
            if pending6 == tx6.count { flush() }
        } else {
            stats.add(.sendErrors)  // no IPv6 socket: the request times out
        }
    }

    /// Copies the encoded request into the batch's next message.
    private func stage(_ batch: borrowing MessageBatch, _ pending: inout Int, _ to: PeerAddress) {
        let len = encoder.count
        let n = batch.fill(pending) { span in
            let k = min(len, span.byteCount)
            unsafe encoder.bytes.withUnsafeBytes { src in
                unsafe span.withUnsafeMutableBytes { dst in unsafe dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: k) }
            }
            return k
        }
        batch.address(pending, to: to, length: n, tos: nil, source: nil)
        pending += 1
    }

    private func flush() {
        if pending4 > 0 { send(tx4, pending4, fds4) }
        if pending6 > 0 { send(tx6, pending6, fds6) }
        pending4 = 0
        pending6 = 0
    }

    private func send(_ batch: borrowing MessageBatch, _ n: Int, _ fds: [Int32]) {
        var sent = 0
        var spins = 0
        while sent < n && spins < 1000 {
            nextSocket &+= 1
            switch batch.send(fds[nextSocket % fds.count], start: sent, count: n - sent) {
            case .success(let k):
                sent += k
                if k == 0 { spins += 1 }
            case .failure:
                // This message cannot go (no route…): skip it; its request times out.
                stats.add(.sendErrors)
                sent += 1
            }
        }
    }

    /// Slot `s`'s request-id (and v3 msgID): its generation and index, XORed with a key drawn at start
    /// so that an off-path sender cannot guess the ids in flight; 31 bits, as RFC 3416 allows.
    private func requestID(_ s: Int) -> Int32 {
        Int32(bitPattern: ((UInt32(slots[s].gen) << UInt32(slotBits) | UInt32(s)) ^ idKey) & 0x7fff_ffff)
    }

    private func release(_ s: Int) {
        slots[s].op = nil
        freeSlots.append(s)
        inFlightGauge.wrappingAdd(-1, ordering: .relaxed)
    }

    private func finish(_ s: Int, _ error: SNMPRequestError?) {
        guard let op = slots[s].op else { return }
        release(s)
        op.handler.finished(error)
    }

    private func expire(_ now: Int64) {
        while let d = timeouts.peek, d.deadline <= now {
            timeouts.pop()
            let s = Int(d.slot)
            guard slots[s].op != nil, slots[s].gen == d.gen, slots[s].deadline == d.deadline, let op = slots[s].op else { continue }
            if op.attempts <= op.target.retries {
                transmit(s)
            } else {
                stats.add(.timeouts)
                finish(s, .timeout(attempts: op.attempts))
            }
        }
    }

    // MARK: receiving

    private func receiveAll(_ fd: Int32) {
        while true {
            let n: Int
            do { n = try rx.receive(fd) } catch { return }
            if n == 0 { return }
            for i in 0..<n {
                guard let src = rx.source(i)?.unmapped else { continue }
                if rx.truncated(i) {
                    stats.add(.malformed)
                    continue
                }
                rx.withReceived(i) { b in handle(b, from: src) }
            }
            if n < rx.count { return }
        }
    }

    /// The slot a request-id names, if it is in flight and the datagram came from its target.
    private func slot(for id: Int32, from src: PeerAddress) -> Int? {
        let s = Int((UInt32(bitPattern: id) ^ idKey) & UInt32((1 << slotBits) - 1))
        guard s < slots.count, let op = slots[s].op, slots[s].requestID == id else {
            stats.add(.unmatched)
            return nil
        }
        guard op.target.address == src else {
            stats.add(.wrongSource)
            return nil
        }
        return s
    }

    private func handle(_ b: RawSpan, from src: PeerAddress) {
        stats.add(.responses)
        let header: SNMPMessageHeader
        do { header = try SNMPMessage.parseHeader(b) } catch {
            stats.add(.malformed)
            return
        }
        switch header {
        case .community(_, _, let pduTLV):
            guard let pdu = try? SNMPMessage.parsePDU(b, pduTLV), pdu.type == .response else {
                stats.add(.malformed)
                return
            }
            guard let s = slot(for: pdu.requestID, from: src), let op = slots[s].op else { return }
            apply(s, op, b, pdu)
        case .v3(let h):
            handleV3(b, h, src)
        case .unknownVersion:
            stats.add(.malformed)
        }
    }

    private func apply(_ s: Int, _ op: SNMPOperationState, _ b: RawSpan, _ pdu: SNMPPDUView) {
        let step: SNMPOperationState.Step
        do { step = try op.apply(b, pdu, stats: stats) } catch {
            stats.add(.malformed)
            return  // a malformed response is dropped; the request is retried at its timeout
        }
        switch step {
        case .complete:
            finish(s, nil)
        case .failed(let e):
            finish(s, e)
        case .next, .retryShrunk:
            guard op.prepareNext() else {
                finish(s, nil)
                return
            }
            // The next request of the same operation keeps its slot under a new request-id, so that a
            // late duplicate of the previous response cannot be taken for this one.
            slots[s].gen &+= 1
            slots[s].requestID = requestID(s)
            transmit(s)
        }
    }

    // MARK: v3

    private func peer(_ t: SNMPTarget) -> V3Peer {
        let key = PeerKey(address: t.address, user: t.user?.name ?? "")
        if let p = peers[key] { return p }
        let p = V3Peer()
        peers[key] = p
        return p
    }

    /// Localized keys of the target's user for the peer's engine (RFC 3414 §2.6), computed once.
    private func keys(_ t: SNMPTarget, _ p: V3Peer) {
        guard let user = t.user, let auth = user.authProtocol, p.keyEngineID != p.engineID else { return }
        let ku: (auth: [UInt8], priv: [UInt8])
        if let k = userKeys[user] {
            ku = k
        } else {
            let a = usm.passwordToKey(Array(user.authPassphrase.utf8), auth)
            let pr = user.privProtocol == nil ? [] : user.privPassphrase == user.authPassphrase ? a
                : usm.passwordToKey(Array(user.privPassphrase.utf8), auth)
            ku = (a, pr)
            userKeys[user] = ku
        }
        p.authKey = usm.localize(ku.auth, engineID: p.engineID, auth)
        if let priv = user.privProtocol {
            let kul = ku.priv == ku.auth ? p.authKey : usm.localize(ku.priv, engineID: p.engineID, auth)
            p.privKey = usm.privacyKey(kul, priv, auth, engineID: p.engineID)
        }
        p.keyEngineID = p.engineID
    }

    /// A discovery request (RFC 3414 §4): noAuthNoPriv, no engine ID, no user, an empty GET; the agent
    /// answers with a Report carrying its engine ID, boots and time.
    private func encodeDiscovery(_ id: Int32) {
        scratch.reset()
        scratch.scopedPDU(contextEngineID: [UInt8](), contextName: [UInt8]()) { e in
            e.pdu(.getRequest, requestID: id) { e in e.varbindList([]) }
        }
        let o = USMOutgoing(
            msgID: id, maxSize: Int32(options.maxMessageSize), flags: SNMPv3Header.flagReportable, engineID: [],
            engineBoots: 0, engineTime: 0, userName: [])
        let scoped = scratch
        usm.encodeMessage(o, scopedPDU: unsafe scoped.bytes.span.bytes, into: &encoder)
    }

    private func encodeV3(_ op: SNMPOperationState, _ id: Int32, now: Int64) {
        let t = op.target
        let p = peer(t)
        keys(t, p)
        let type = op.pduType
        scratch.reset()
        scratch.scopedPDU(contextEngineID: p.engineID, contextName: Array(t.contextName.utf8)) { e in
            e.pdu(type, requestID: id, errorStatus: 0, errorIndex: type == .getBulkRequest ? Int32(op.maxRepetitions) : 0) {
                op.writeVarbinds(&$0)
            }
        }
        let level = t.securityLevel
        var o = USMOutgoing(
            msgID: id, maxSize: Int32(options.maxMessageSize), flags: level.flags | SNMPv3Header.flagReportable,
            engineID: p.engineID, engineBoots: p.boots, engineTime: p.engineTime(now: now), userName: Array((t.user?.name ?? "").utf8))
        if level >= .authNoPriv, let a = t.user?.authProtocol { o.auth = (a, p.authKey) }
        if level == .authPriv, let pr = t.user?.privProtocol {
            salt &+= 1
            o.priv = (pr, p.privKey, salt)
        }
        let scoped = scratch
        usm.encodeMessage(o, scopedPDU: unsafe scoped.bytes.span.bytes, into: &encoder)
    }

    private func handleV3(_ b: RawSpan, _ h: SNMPv3Header, _ src: PeerAddress) {
        guard h.securityModel == 3, let s = slot(for: h.msgID, from: src), let op = slots[s].op else {
            if h.securityModel != 3 { stats.add(.malformed) }
            return
        }
        let usmParams: USMSecurityParameters
        do { usmParams = try SNMPMessage.parseUSM(b, h) } catch {
            stats.add(.malformed)
            return
        }
        let p = peer(op.target)
        let engineID = BER.copyValue(b, usmParams.engineID)
        let level = h.securityLevel
        let user = op.target.user

        if slots[s].discovery {
            // The Report to a discovery request is unauthenticated by design.
            guard !engineID.isEmpty else {
                stats.add(.malformed)
                return
            }
            stats.add(.engineDiscoveries)
            p.engineID = engineID
            p.boots = usmParams.engineBoots
            p.time = usmParams.engineTime
            p.syncedAt = monotonicNanos()
            slots[s].discovery = false
            op.attempts = 0
            transmit(s)
            return
        }

        var plain: [UInt8] = []
        var scopedAt = h.msgData.start, scopedEnd = h.msgData.end
        var authenticated = false
        if level >= .authNoPriv {
            guard let auth = user?.authProtocol, engineID == p.engineID || p.engineID.isEmpty else {
                stats.add(.authFailures)
                return
            }
            keys(op.target, p)
            guard usm.verify(auth, key: p.authKey, message: b, auth: usmParams.authParameters) else {
                stats.add(.authFailures)
                return
            }
            authenticated = true
            // RFC 3414 §3.2 step 7b: an authentic message from the authoritative engine moves our
            // notion of its boots and time forward (and a rebooted agent's boots up).
            if usmParams.engineBoots > p.boots || (usmParams.engineBoots == p.boots && usmParams.engineTime > p.engineTime(now: monotonicNanos())) {
                p.boots = usmParams.engineBoots
                p.time = usmParams.engineTime
                p.syncedAt = monotonicNanos()
            }
        }
        if level == .authPriv {
            guard let priv = user?.privProtocol, h.msgData.tag == BERTag.octetString,
                  let d = usm.decrypt(priv, key: p.privKey, engineBoots: usmParams.engineBoots, engineTime: usmParams.engineTime,
                                      salt: b.extracting(usmParams.privParameters.valueRange), b.extracting(h.msgData.valueRange))
            else {
                stats.add(.authFailures)
                return
            }
            plain = d
            scopedAt = 0
            scopedEnd = d.count
        }
        if level == .authPriv {
            unsafe finishV3(s, op, p, plain.span.bytes, level, scopedAt, scopedEnd, usmParams, engineID, authenticated)
        } else {
            finishV3(s, op, p, b, level, scopedAt, scopedEnd, usmParams, engineID, authenticated)
        }
    }

    private func finishV3(
        _ s: Int, _ op: SNMPOperationState, _ p: V3Peer, _ pb: RawSpan, _ level: SNMPSecurityLevel, _ scopedAt: Int,
        _ scopedEnd: Int, _ usmParams: USMSecurityParameters, _ engineID: [UInt8], _ authenticated: Bool
    ) {
        let scoped: ScopedPDUView
        let pdu: SNMPPDUView
        do {
            scoped = try SNMPMessage.parseScopedPDU(pb, at: scopedAt, end: scopedEnd, allowTrailing: level == .authPriv)
            pdu = try SNMPMessage.parsePDU(pb, scoped.pdu)
        } catch {
            stats.add(level == .authPriv ? .authFailures : .malformed)
            return
        }
        if pdu.type == .report {
            report(s, op, p, pb, pdu, usmParams, engineID, authenticated: authenticated)
            return
        }
        guard pdu.type == .response, pdu.requestID == slots[s].requestID else {
            stats.add(.malformed)
            return
        }
        // A response must come at the level asked (RFC 3412 §7.2 step 11); Reports may come lower.
        guard level == op.target.securityLevel else {
            stats.add(.authFailures)
            return
        }
        apply(s, op, pb, pdu)
    }

    /// A Report to one of our requests: fix what can be fixed (time window, a new engine ID) and send
    /// again, or fail the operation with the USM error.
    private func report(
        _ s: Int, _ op: SNMPOperationState, _ p: V3Peer, _ pb: RawSpan, _ pdu: SNMPPDUView, _ u: USMSecurityParameters,
        _ engineID: [UInt8], authenticated: Bool
    ) {
        var cursor = SNMPVarBindCursor(pdu.varbindList, maxVarbinds: 8)
        guard let vb = try? cursor.next(pb), SNMPOID.isUnder(pb, vb.name, root: SNMPUSMReport.prefix),
              let kind = SNMPUSMReport(rawValue: Int(pb.berByte(vb.name.valueStart + SNMPUSMReport.prefix.count)))
        else {
            stats.add(.malformed)
            return
        }
        stats.add(SNMPEngineCounter.report(kind))
        switch kind {
        case .notInTimeWindows where op.resyncs < 2:
            // After an agent reboot (boots went up) or a long idle: take the agent's boots and time
            // (RFC 3414 §4: the Report carries them) and send again. Only an authenticated Report may
            // move them when we already had the engine's time.
            guard authenticated || p.syncedAt == 0 || op.target.securityLevel == .noAuthNoPriv || u.engineBoots >= p.boots else { return }
            stats.add(.timeResyncs)
            op.resyncs += 1
            p.boots = u.engineBoots
            p.time = u.engineTime
            p.syncedAt = monotonicNanos()
            op.attempts = 0
            transmit(s)
        case .unknownEngineIDs where op.resyncs < 2:
            // The agent's engine ID changed (reinstalled, replaced): discover it again.
            op.resyncs += 1
            p.engineID = []
            p.keyEngineID = []
            slots[s].discovery = true
            op.attempts = 0
            transmit(s)
        default:
            finish(s, .usm(kind))
        }
    }
}

/// A request's timeout: slot and generation identify the request; stale entries are skipped.
struct SNMPDeadline {
    var deadline: Int64
    var slot: Int32
    var gen: UInt32
}

/// A binary min-heap of deadlines.
struct SNMPDeadlineHeap {
    private var a: [SNMPDeadline] = []

    var peek: SNMPDeadline? { a.first }

    mutating func push(_ d: SNMPDeadline) {
        a.append(d)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard a[p].deadline > a[i].deadline else { break }
            a.swapAt(p, i)
            i = p
        }
    }

    mutating func pop() {
        guard !a.isEmpty else { return }
        a.swapAt(0, a.count - 1)
        a.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < a.count && a[l].deadline < a[m].deadline { m = l }
            if r < a.count && a[r].deadline < a[m].deadline { m = r }
            if m == i { break }
            a.swapAt(i, m)
            i = m
        }
    }
}

/// A FIFO of operations (amortised O(1), no per-element allocation beyond the array's).
struct SNMPQueue {
    private var items: [SNMPOperationState] = []
    private var head = 0

    mutating func push(_ op: SNMPOperationState) { items.append(op) }

    mutating func pushFront(_ op: SNMPOperationState) {
        if head > 0 {
            head -= 1
            items[head] = op
        } else {
            items.insert(op, at: 0)
        }
    }

    mutating func pop() -> SNMPOperationState? {
        guard head < items.count else { return nil }
        let op = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        } else if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return op
    }
}
