// The ICMP poller: a sender thread that walks a timing wheel and sends echo requests in sendmmsg
// batches, and a receiver thread that matches replies by their MAC'd token, times them from the
// kernel's transmit timestamp (read from the socket's error queue) to its receive timestamp, closes each
// cycle and runs the up/down state machine. The two share no locks on the hot path: the sender tells the
// receiver which cycles to close through an SPSC ring.
import Capture
import CSOTPLinux
import Foundation
import Synchronization

/// How the poller runs.
public struct ICMPPollerOptions: Sendable {
    public var socketMode: ICMPSocketMode = .auto
    /// CPUs to pin the sender and receiver threads to; nil leaves them to the scheduler.
    public var senderCPU: Int? = nil
    public var receiverCPU: Int? = nil
    public var receiveBufferBytes = 32 << 20
    /// SCHED_FIFO priority for the sender thread (0: normal scheduling). A sender that the scheduler
    /// preempts for a time slice sends late; on a box shared with the database that is 10–40 ms.
    public var senderPriority = 0
    /// The same for the receiver thread: starved of CPU, it lets the socket buffer overflow.
    public var receiverPriority = 0
    /// Messages per sendmmsg/recvmmsg call.
    public var batchSize = 64
    /// Open an IPv6 socket too (a host without IPv6 can turn it off).
    public var ipv6 = true
    /// Wheel resolution: probes are sent at most this much after their time (plus the send itself).
    public var tick: Duration = .microseconds(250)
    /// Where a probe's send time comes from: the kernel's transmit timestamp (default) or user space.
    public var txTimestamps: ICMPTxTimestamps = .auto
    /// Transmit timestamps kept per socket until the replies come: at least the probes one socket sends
    /// within the longest timeout. A reply whose stamp was pushed out is timed from user space (counted).
    public var txTimestampsKept = 1 << 18
    public init() {}
}

/// Pings targets on a schedule and reports one result per target per cycle.
public final class ICMPPoller: Sendable {
    public let stats = ICMPStats()
    /// True when the sockets are raw (ICMP errors are seen), false for datagram sockets.
    public let rawSockets: Bool
    /// How kernel transmit timestamps are matched to probes, or `.none` when send times are user space's.
    public let txTimestampKeys: ICMPTxTimestampKeys

    private let engine: Engine
    private let control = Mutex(Control())

    /// Opens the sockets (throws naming both ways that failed). `onResult` and `onStateChange` run on
    /// a reporter thread of their own, in order, so a slow consumer (a sink lock held by a preempted
    /// thread) never holds up the receiver; they should still be quick.
    public init(
        options: ICMPPollerOptions = ICMPPollerOptions(),
        onResult: @escaping @Sendable (ICMPCycleResult) -> Void,
        onStateChange: @escaping @Sendable (ICMPStateChange) -> Void = { _ in }
    ) throws(ICMPSocketError) {
        let tx = options.txTimestamps != .off
        let v4 = try ICMPSocket(v6: false, mode: options.socketMode, receiveBufferBytes: options.receiveBufferBytes, txTimestamps: tx)
        var v6: ICMPSocket?
        if options.ipv6 {
            v6 = try ICMPSocket(v6: true, mode: options.socketMode, receiveBufferBytes: options.receiveBufferBytes, txTimestamps: tx)
        }
        rawSockets = v4.raw
        var keys = ICMPTxTimestampKeys.none
        if v4.txTimestamps && (v6?.txTimestamps ?? true) {
            keys = options.txTimestamps == .auto && v4.acceptsPerPacketKeys() ? .perPacket : .counter
            // The counter starts at 0 when SO_TIMESTAMPING turns OPT_ID on; reset it anyway, so nothing
            // done to the socket since (the per-packet check sends nothing) can have moved it.
            if keys == .counter && !(v4.resetTxKeyCounter() && (v6?.resetTxKeyCounter() ?? true)) { keys = .none }
        }
        txTimestampKeys = keys
        engine = Engine(options: options, v4: v4, v6: v6, keys: keys, stats: stats, onResult: onResult, onStateChange: onStateChange)
    }

    /// Starts the sender and receiver threads.
    public func start() { engine.start() }

    /// Stops both threads and waits for them. Open cycles are not reported.
    public func stop() { engine.stop() }

    /// Replaces the set of targets. Targets are keyed by (id, address): unchanged ones keep their
    /// rhythm and state, changed settings restart that target, missing ones stop.
    /// Returns targets that were refused (bad settings, or IPv6 with IPv6 off) and why.
    @discardableResult
    public func setTargets(_ targets: [ICMPTarget]) -> [(ICMPTarget, String)] {
        var refused: [(ICMPTarget, String)] = []
        var commands: [Engine.Command] = []
        control.withLock { c in
            var seen = Set<Key>()
            for t in targets {
                if let why = refusal(t) {
                    refused.append((t, why))
                    continue
                }
                let key = Key(id: t.id, address: t.address)
                guard seen.insert(key).inserted else {
                    refused.append((t, "duplicate of another target with the same id and address"))
                    continue
                }
                if let old = c.byKey[key] {
                    if old.target == t { continue }
                    commands.append(.remove(slot: old.slot, generation: old.generation))
                    c.release(old.slot)
                }
                let (slot, gen) = c.allocate()
                c.byKey[key] = Control.Entry(slot: slot, generation: gen, target: t)
                commands.append(.add(slot: slot, generation: gen, target: t, firstAt: nil, oneShot: false))
            }
            for (key, old) in c.byKey where !seen.contains(key) {
                commands.append(.remove(slot: old.slot, generation: old.generation))
                c.release(old.slot)
                c.byKey[key] = nil
            }
        }
        engine.submit(commands)
        return refused
    }

    /// Probes each target for one cycle, starting now, at `ratePerSecond` new targets a second (0: all
    /// at once); each reports through `onResult` once. For discovery and `sotpd ping`.
    @discardableResult
    public func sweep(_ targets: [ICMPTarget], ratePerSecond: Int) -> [(ICMPTarget, String)] {
        var refused: [(ICMPTarget, String)] = []
        var commands: [Engine.Command] = []
        let now = monotonicNanos()
        control.withLock { c in
            var i = 0
            for t in targets {
                if let why = refusal(t, sweep: true) {
                    refused.append((t, why))
                    continue
                }
                let (slot, gen) = c.allocate()
                let at = ratePerSecond > 0 ? now + Int64(i) * 1_000_000_000 / Int64(ratePerSecond) : now
                commands.append(.add(slot: slot, generation: gen, target: t, firstAt: at, oneShot: true))
                i += 1
            }
        }
        engine.submit(commands)
        return refused
    }

    /// With counter keys: acts as if a send had failed where the kernel may or may not have taken a key, so
    /// the sender stops keying probes until it resets the counter. For tests of that path.
    func loseTxKeyCount() { engine.loseKeyCount.store(true, ordering: .releasing) }

    /// Why the sender's real-time priority could not be set, if it could not (the poller runs anyway).
    public var schedulingProblem: String? { engine.senderSchedulingError.withLock { $0 } }

    /// Targets polled on a schedule.
    public var targetCount: Int { control.withLock { $0.byKey.count } }

    private func refusal(_ t: ICMPTarget, sweep: Bool = false) -> String? {
        if !sweep, let p = t.settings.problem { return p }
        if sweep && !(32...65000).contains(t.settings.payloadBytes) { return "payload_bytes must be 32…65000" }
        if !t.address.isV4 && !engine.hasV6 { return "IPv6 is turned off" }
        if let s = t.settings.source, s.isV4 != t.address.isV4 { return "source \(s) is not the target's address family" }
        return nil
    }
}

private struct Key: Hashable {
    var id: Int32
    var address: IPAddress
}

/// Slot allocation, on the caller's side. `byKey` holds the scheduled targets; a sweep's slots are
/// not reused (a poller runs one sweep, as `sotpd ping` and `sotpd discover` do, or a schedule).
private struct Control {
    struct Entry {
        var slot: Int32
        var generation: UInt32
        var target: ICMPTarget
    }
    var byKey: [Key: Entry] = [:]
    var free: [Int32] = []
    var nextSlot: Int32 = 0
    var nextGeneration: UInt32 = 1

    mutating func allocate() -> (Int32, UInt32) {
        let gen = nextGeneration
        nextGeneration = nextGeneration &+ 1
        if nextGeneration == 0 { nextGeneration = 1 }
        if let s = free.popLast() { return (s, gen) }
        defer { nextSlot += 1 }
        return (nextSlot, gen)
    }

    mutating func release(_ slot: Int32) { free.append(slot) }
}

extension Duration {
    var nanos: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}

/// The two threads and their state. Each `*Side` is touched by its own thread only.
private final class Engine: @unchecked Sendable {
    enum Command {
        case add(slot: Int32, generation: UInt32, target: ICMPTarget, firstAt: Int64?, oneShot: Bool)
        case remove(slot: Int32, generation: UInt32)
    }

    /// What the sender tells the receiver when a cycle's replies are all due.
    struct Close: BitwiseCopyable {
        var slot: Int32
        var generation: UInt32
        var cycle: UInt32
        var sent: UInt8
        /// Monotonic ns after which no reply can still count; replies read after it are all in.
        var deadline: Int64
        var startMicros: Int64
    }

    let options: ICMPPollerOptions
    let v4: ICMPSocket
    let v6: ICMPSocket?
    var hasV6: Bool { v6 != nil }
    let keys: ICMPTxTimestampKeys
    let stats: ICMPStats
    let onResult: @Sendable (ICMPCycleResult) -> Void
    let onStateChange: @Sendable (ICMPStateChange) -> Void
    let key = SipHash24.random()
    let identifier = UInt16.random(in: 1...UInt16.max)
    /// realtime − monotonic, to stamp rows with wall-clock time.
    let realtimeOffset = realtimeNanos() - monotonicNanos()
    let epoch = monotonicNanos()

    let closes = SPSCRing<Close>(capacity: 1 << 18)
    /// Receiver → reporter: finished cycles and state changes, so the receiver never waits on a consumer.
    let reports = SPSCRing<Report>(capacity: 1 << 18)
    let senderCommands = Mutex<[Command]>([])
    let receiverCommands = Mutex<[Command]>([])
    let senderPending = Atomic<Bool>(false)
    let receiverPending = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    let loseKeyCount = Atomic<Bool>(false)
    let receiverDone = Atomic<Bool>(false)
    let running = Atomic<Bool>(false)
    let senderSchedulingError = Mutex<String?>(nil)

    /// A finished cycle, or a state change (with the run length that caused it) when `change` is set.
    struct Report: BitwiseCopyable {
        var result: ICMPCycleResult
        /// 0: a result; 1: went up; 2: went down.
        var change: UInt8
        var run: UInt16
        var changeMicros: Int64
    }
    let done = DispatchGroup()

    init(options: ICMPPollerOptions, v4: ICMPSocket, v6: ICMPSocket?, keys: ICMPTxTimestampKeys, stats: ICMPStats,
         onResult: @escaping @Sendable (ICMPCycleResult) -> Void, onStateChange: @escaping @Sendable (ICMPStateChange) -> Void) {
        self.options = options
        self.v4 = v4
        self.v6 = v6
        self.keys = keys
        self.stats = stats
        self.onResult = onResult
        self.onStateChange = onStateChange
    }

    func submit(_ commands: [Command]) {
        guard !commands.isEmpty else { return }
        // The receiver learns of a target before the sender can probe it, so no first reply is stale.
        receiverCommands.withLock { $0.append(contentsOf: commands) }
        receiverPending.store(true, ordering: .releasing)
        senderCommands.withLock { $0.append(contentsOf: commands) }
        senderPending.store(true, ordering: .releasing)
    }

    func start() {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        done.enter()
        done.enter()
        done.enter()
        let s = Thread { [self] in
            CPU.nameCurrentThread("sotp-icmp-tx")
            if let cpu = options.senderCPU { try? CPU.pinCurrentThread(to: cpu) }
            setPriority(options.senderPriority, "sender")
            var side = SenderSide(engine: self)
            side.run()
            done.leave()
        }
        s.stackSize = 1 << 20
        s.start()
        let r = Thread { [self] in
            CPU.nameCurrentThread("sotp-icmp-rx")
            if let cpu = options.receiverCPU { try? CPU.pinCurrentThread(to: cpu) }
            setPriority(options.receiverPriority, "receiver")
            var side = ReceiverSide(engine: self)
            side.run()
            receiverDone.store(true, ordering: .releasing)
            done.leave()
        }
        r.stackSize = 1 << 20
        r.start()
        let p = Thread { [self] in
            CPU.nameCurrentThread("sotp-icmp-rep")
            report()
            done.leave()
        }
        p.start()
    }

    private func setPriority(_ priority: Int, _ who: String) {
        guard priority > 0 else { return }
        do throws(Errno) {
            try CPU.setRealtimePriority(priority)
        } catch {
            senderSchedulingError.withLock { $0 = "SCHED_FIFO \(priority) for the \(who) refused: \(error)" }
        }
    }

    /// The reporter: hands results and changes to the caller's closures, in the receiver's order.
    private func report() {
        var idle = 0
        while true {
            if let r = reports.pop() {
                idle = 0
                if r.change == 0 {
                    onResult(r.result)
                } else {
                    let up = r.change == 1
                    let why = up
                        ? "\(r.run) cycle\(r.run == 1 ? "" : "s") answered"
                        : "\(r.run) cycle\(r.run == 1 ? "" : "s") at \(Int(r.result.lossPercent))% loss"
                    onStateChange(ICMPStateChange(
                        timeMicros: r.changeMicros, deviceID: r.result.deviceID, address: r.result.address, up: up, reason: why))
                }
                continue
            }
            // Everything reported and the receiver gone: done.
            if stopping.load(ordering: .acquiring) && receiverDone.load(ordering: .acquiring) { return }
            idle += 1
            usleep(idle < 100 ? 200 : 1000)
        }
    }

    /// The receiver pushes a report; when the reporter is 256k reports behind it waits (never drops).
    func push(_ r: Report) {
        while !reports.push(r) {
            stats.add(stats.reportQueueWaits)
            usleep(100)
        }
    }

    func stop() {
        guard running.load(ordering: .acquiring) else { return }
        stopping.store(true, ordering: .releasing)
        done.wait()
    }
}

// MARK: - sender

private struct SenderSlot {
    var generation: UInt32 = 0
    var active = false
    var oneShot = false
    var address: IPAddress = .v4(0)
    var interval: Int64 = 0
    var spacing: Int64 = 0
    /// From the last probe to the close: the timeout plus a little grace for the receiver to read.
    var closeAfter: Int64 = 0
    var probes: UInt8 = 1
    var nextProbe: UInt8 = 0
    var payload: UInt16 = 56
    var tos: Int16 = -1
    var source: IPAddress?
    var cycle: UInt32 = 0
    var cycleStart: Int64 = 0
}

private struct PendingProbe {
    var slot: Int32
    var probe: UInt8
    var due: Int64
}

/// The sender's view of one socket's transmit-timestamp keys.
private struct TxKeyState {
    /// The key of the next probe: ours with per-packet keys; the kernel's OPT_ID counter with counter keys,
    /// valid while `synced`.
    var next: UInt32 = 0
    /// Counter keys: false after a send whose effect on the counter is unknown; probes go without keys
    /// (their replies are timed from user space) until the counter is reset at `resetAt`.
    var synced = true
    var resetAt: Int64 = 0
}

/// What the sender needs to write probes, besides the batch.
private struct ProbeWriter {
    let codec: ICMPCodec
    let slots: [SenderSlot]
    let id: UInt16
    let sentAt: Int64

    /// Writes pending[range] into the batch, all stamped `sentAt`. With `firstKey`, probe j's transmit
    /// key is firstKey + (j − range.lowerBound) and its sequence number that key's low half; without, the
    /// sequence numbers continue `seq`. `perPacket` also hands the key to the kernel (SCM_TS_OPT_ID).
    func write(_ batch: borrowing MessageBatch, _ pending: [PendingProbe], _ range: Range<Int>, firstKey: UInt32?,
               perPacket: Bool, seq: inout UInt16) {
        for j in range {
            let p = pending[j]
            let s = slots[Int(p.slot)]
            let key = firstKey.map { $0 &+ UInt32(truncatingIfNeeded: j - range.lowerBound) }
            let sq: UInt16
            if let key {
                sq = UInt16(truncatingIfNeeded: key)
            } else {
                seq &+= 1
                sq = seq
            }
            let token = ProbeToken(
                slot: UInt32(p.slot), generation: s.generation, cycle: s.cycle,
                probe: p.probe, sentNanos: sentAt, txKey: key)
            let len = batch.fill(j) { out in
                codec.writeEchoRequest(into: &out, id: id, seq: sq, token: token, payloadBytes: Int(s.payload))
            }
            batch.address(j, to: s.address.peer, length: len, tos: s.tos < 0 ? nil : UInt8(s.tos), source: s.source?.peer,
                          txKey: perPacket ? key : nil)
        }
    }
}

private struct SenderSide: ~Copyable {
    let e: Engine
    var slots: [SenderSlot] = []
    var wheel: TimerWheel
    var fired: [Int32] = []
    var batch4: MessageBatch
    var batch6: MessageBatch
    var pending4: [PendingProbe] = []
    var pending6: [PendingProbe] = []
    var seq4: UInt16 = 0
    var seq6: UInt16 = 0
    var keys4 = TxKeyState()
    var keys6 = TxKeyState()
    /// The longest timeout of any target yet: with counter keys, how long after a lost count the counter
    /// may restart, so no reply to a probe keyed before it can still come and meet a reused key.
    var longestTimeout: Int64 = 0
    let codec4: ICMPCodec
    let codec6: ICMPCodec
    var lateness: [Int]
    var latenessDirty = false
    var lastPublish: Int64 = 0
    var bufferSize: Int
    var backlog: [Engine.Command] = []
    var backlogAt = 0

    init(engine: Engine) {
        e = engine
        wheel = TimerWheel(tick: engine.options.tick, slots: 1 << 17, now: monotonicNanos())
        bufferSize = 8 + 56
        batch4 = MessageBatch(count: engine.options.batchSize, bufferSize: 2048)
        batch6 = MessageBatch(count: engine.options.batchSize, bufferSize: 2048)
        bufferSize = 2048
        codec4 = ICMPCodec(key: engine.key, v6: false)
        codec6 = ICMPCodec(key: engine.key, v6: true)
        lateness = [Int](repeating: 0, count: ICMPStats.latenessBuckets)
        fired.reserveCapacity(1 << 16)
        pending4.reserveCapacity(engine.options.batchSize)
        pending6.reserveCapacity(engine.options.batchSize)
    }

    mutating func run() {
        while !e.stopping.load(ordering: .acquiring) {
            if backlogAt < backlog.count || e.senderPending.load(ordering: .acquiring) { applyCommands() }
            let now = monotonicNanos()
            if e.keys == .counter && e.loseKeyCount.exchange(false, ordering: .acquiring) {
                flush(v6: false)
                flush(v6: true)
                let resetAt = now + longestTimeout + 100_000_000
                if keys4.synced { keys4 = TxKeyState(next: 0, synced: false, resetAt: resetAt) }
                if keys6.synced { keys6 = TxKeyState(next: 0, synced: false, resetAt: resetAt) }
            }
            // Only ticks wholly in the past fire, so no probe leaves before its time.
            fired.removeAll(keepingCapacity: true)
            wheel.advance(throughTick: now / wheel.tick - 1, into: &fired)
            for slot in fired { handle(slot) }
            flush(v6: false)
            flush(v6: true)
            if now - lastPublish > 1_000_000_000 || latenessDirty && fired.isEmpty { publishLateness(now) }
            sleepUntilWork()
        }
        publishLateness(monotonicNanos())
    }

    mutating func sleepUntilWork() {
        // Wake for the next busy tick's end, but at least every 2 ms to see new targets and stop.
        let limitTicks = Int(2_000_000 / wheel.tick)
        let wakeTick = (wheel.nextBusyTick(within: limitTicks) ?? (wheel.processedTick + Int64(limitTicks))) + 1
        let wake = wakeTick * wheel.tick
        if wake <= monotonicNanos() { return }
        var ts = timespec(tv_sec: Int(wake / 1_000_000_000), tv_nsec: Int(wake % 1_000_000_000))
        _ = unsafe clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
    }

    mutating func publishLateness(_ now: Int64) {
        lastPublish = now
        guard latenessDirty else { return }
        // Never wait for the lock: a reader preempted while holding it would stall a real-time sender
        // (priority inversion). Busy now, published on a later round.
        let published: Bool? = e.stats.lateness.withLockIfAvailable { h in
            for i in lateness.indices where lateness[i] != 0 {
                h.total[i] += lateness[i]
                h.window[i] += lateness[i]
                lateness[i] = 0
            }
            return true
        }
        if published == true { latenessDirty = false }
    }

    mutating func applyCommands() {
        if backlogAt == backlog.count {
            // Not waiting for the lock (see publishLateness); the flag stays set until the commands are in.
            let taken: [Engine.Command]? = e.senderCommands.withLockIfAvailable { c in
                e.senderPending.store(false, ordering: .releasing)
                defer { c.removeAll() }
                return c
            }
            guard let commands = taken else { return }
            backlog = commands
            backlogAt = 0
        }
        // A million new targets take the sender most of a second: apply them 10,000 at a time between
        // rounds of sending, so the probes already due do not wait behind them.
        let end = min(backlog.count, backlogAt + 10_000)
        let chunk = backlog[backlogAt..<end]
        backlogAt = end
        if backlogAt == backlog.count {
            backlog = []
            backlogAt = 0
        }
        let now = monotonicNanos()
        for c in chunk {
            switch c {
            case .add(let slot, let gen, let t, let firstAt, let oneShot):
                let i = Int(slot)
                if i >= slots.count {
                    let n = max(i + 1, slots.count * 2, 1024)
                    slots.append(contentsOf: repeatElement(SenderSlot(), count: n - slots.count))
                    wheel.reserve(n)
                }
                let s = t.settings
                let interval = s.interval.nanos, spacing = s.spacing.nanos, timeout = s.timeout.nanos
                longestTimeout = max(longestTimeout, timeout)
                let slack = interval - spacing * Int64(s.probes - 1) - timeout
                slots[i] = SenderSlot(
                    generation: gen, active: true, oneShot: oneShot, address: t.address, interval: interval,
                    spacing: spacing, closeAfter: timeout + max(0, min(20_000_000, oneShot ? 20_000_000 : slack / 2)),
                    probes: UInt8(s.probes), nextProbe: 0, payload: UInt16(s.payloadBytes),
                    tos: s.tos == 0 ? -1 : Int16(s.tos), source: s.source, cycle: 0, cycleStart: 0)
                if s.payloadBytes + 8 > bufferSize { growBuffers(s.payloadBytes + 8) }
                let first: Int64
                if let firstAt {
                    first = firstAt
                } else {
                    // Spread targets over the interval by the golden ratio of their slot: even for any
                    // count, and a target added later falls into its own place in the rhythm.
                    let phase = Int64((Double(slot) * 0.618_033_988_749_895).truncatingRemainder(dividingBy: 1) * Double(interval))
                    let sinceEpoch = now - e.epoch
                    var k = (sinceEpoch - phase) / interval
                    if e.epoch + phase + k * interval < now { k += 1 }
                    first = e.epoch + phase + max(0, k) * interval
                }
                wheel.schedule(slot, at: first)
            case .remove(let slot, let gen):
                let i = Int(slot)
                guard i < slots.count, slots[i].generation == gen else { continue }
                slots[i].active = false
                wheel.cancel(slot)
            }
        }
    }

    mutating func growBuffers(_ size: Int) {
        flush(v6: false)
        flush(v6: true)
        bufferSize = size
        batch4 = MessageBatch(count: e.options.batchSize, bufferSize: size)
        batch6 = MessageBatch(count: e.options.batchSize, bufferSize: size)
    }

    mutating func handle(_ slot: Int32) {
        let i = Int(slot)
        guard slots[i].active else { return }
        let due = wheel.due[i]
        if slots[i].nextProbe < slots[i].probes {
            if slots[i].nextProbe == 0 {
                slots[i].cycle &+= 1
                slots[i].cycleStart = due
            }
            if slots[i].address.isV4 {
                pending4.append(PendingProbe(slot: slot, probe: slots[i].nextProbe, due: due))
                if pending4.count == e.options.batchSize { flush(v6: false) }
            } else {
                pending6.append(PendingProbe(slot: slot, probe: slots[i].nextProbe, due: due))
                if pending6.count == e.options.batchSize { flush(v6: true) }
            }
            slots[i].nextProbe += 1
            let s = slots[i]
            if s.nextProbe < s.probes {
                wheel.schedule(slot, at: s.cycleStart + Int64(s.nextProbe) * s.spacing)
            } else {
                // The timeout runs from when the last probe actually leaves (now, give or take the rest of
                // this batch), not from its schedule: a probe sent late must still get its full timeout.
                wheel.schedule(slot, at: max(s.cycleStart + Int64(s.probes - 1) * s.spacing, monotonicNanos()) + s.closeAfter)
            }
        } else {
            let s = slots[i]
            let close = Engine.Close(
                slot: slot, generation: s.generation, cycle: s.cycle, sent: s.probes, deadline: due,
                startMicros: (s.cycleStart + e.realtimeOffset) / 1000)
            while !e.closes.push(close) {
                // The receiver is behind by a quarter million cycles: wait for it rather than lose one.
                e.stats.add(e.stats.closeQueueWaits)
                if e.stopping.load(ordering: .relaxed) { return }
                usleep(100)
            }
            slots[i].nextProbe = 0
            if s.oneShot {
                slots[i].active = false
            } else {
                wheel.schedule(slot, at: s.cycleStart + s.interval)
            }
        }
    }

    mutating func flush(v6: Bool) {
        let n = v6 ? pending6.count : pending4.count
        guard n > 0 else { return }
        // The clock for the tokens; the kernel's transmit timestamp replaces it for the RTT when it comes.
        let sentAt = realtimeNanos(), sentMono = monotonicNanos()
        var worst: Int64 = 0
        for p in v6 ? pending6 : pending4 {
            lateness[ICMPStats.bucket(latenessNanos: sentMono - p.due)] += 1
            worst = max(worst, sentMono - p.due)
        }
        e.stats.lagMicros.store(Int(worst / 1000), ordering: .relaxed)
        let writer = ProbeWriter(codec: v6 ? codec6 : codec4, slots: slots, id: e.identifier, sentAt: sentAt)
        let holdOff = longestTimeout + 100_000_000
        if v6 {
            if let sock = e.v6 { Self.transmit(batch6, pending6, writer, sock, &seq6, &keys6, e, now: sentMono, holdOff: holdOff) }
            pending6.removeAll(keepingCapacity: true)
        } else {
            Self.transmit(batch4, pending4, writer, e.v4, &seq4, &keys4, e, now: sentMono, holdOff: holdOff)
            pending4.removeAll(keepingCapacity: true)
        }
        latenessDirty = true
        e.stats.add(e.stats.probesSent, n)
    }

    /// Writes and sends one family's pending probes, keeping that socket's transmit keys. `holdOff`: how
    /// long after a lost count the counter may be reset.
    static func transmit(_ batch: borrowing MessageBatch, _ pending: [PendingProbe], _ writer: ProbeWriter, _ sock: ICMPSocket,
                         _ seq: inout UInt16, _ keys: inout TxKeyState, _ e: Engine, now: Int64, holdOff: Int64) {
        let n = pending.count
        switch e.keys {
        case .none:
            writer.write(batch, pending, 0..<n, firstKey: nil, perPacket: false, seq: &seq)
            send(batch, sock, count: n, e.stats)
        case .perPacket:
            // Our keys, given to the kernel with each packet: whatever a send does, they stay right.
            writer.write(batch, pending, 0..<n, firstKey: keys.next, perPacket: true, seq: &seq)
            send(batch, sock, count: n, e.stats)
            keys.next &+= UInt32(n)
        case .counter:
            if !keys.synced && now >= keys.resetAt {
                if sock.resetTxKeyCounter() {
                    keys = TxKeyState()
                    e.stats.add(e.stats.txKeyResets)
                } else {
                    keys.resetAt = now + holdOff
                }
            }
            let wasSynced = keys.synced
            writer.write(batch, pending, 0..<n, firstKey: keys.synced ? keys.next : nil, perPacket: false, seq: &seq)
            sendFollowingCounter(batch, pending, writer, sock, &seq, &keys, e.stats)
            if wasSynced && !keys.synced { keys.resetAt = now + holdOff }
        }
    }

    static func send(_ batch: borrowing MessageBatch, _ sock: borrowing ICMPSocket, count n: Int, _ stats: ICMPStats) {
        var start = 0, waits = 0
        while start < n {
            switch batch.send(sock.fd, start: start, count: n - start) {
            case .success(0):
                // Send buffer full: give the kernel a moment, a bounded number of times.
                waits += 1
                stats.add(stats.sendRetries)
                if waits > 1000 {
                    stats.add(stats.sendErrors, n - start)
                    return
                }
                usleep(50)
            case .success(let k):
                start += k
            case .failure:
                // This message's destination was refused (no route, EPERM…); the rest may still go.
                stats.add(stats.sendErrors)
                start += 1
            }
        }
    }

    /// `send` for counter keys: the kernel's OPT_ID counter moves once per packet that got as far as being
    /// built, so the keys written into the batch hold only while every send is accounted for. A refusal at
    /// routing (no route, prohibited, bad source) builds nothing: the rest of the batch is rewritten one key
    /// down. Anything else (a full buffer, a firewall drop, an error sendmmsg lost) may or may not have
    /// taken a key, depending on the kernel and where it failed: the rest go without keys and the counter
    /// is reset later.
    static func sendFollowingCounter(_ batch: borrowing MessageBatch, _ pending: [PendingProbe], _ writer: ProbeWriter,
                                     _ sock: borrowing ICMPSocket, _ seq: inout UInt16, _ keys: inout TxKeyState, _ stats: ICMPStats) {
        let n = pending.count
        var start = 0, waits = 0
        // Message `start` failed inside a sendmmsg that did not say why; it and the rest were rewritten
        // without keys until its retry tells.
        var doubt = false
        while start < n {
            switch batch.send(sock.fd, start: start, count: n - start) {
            case .success(0):
                if keys.synced {
                    if !doubt { writer.write(batch, pending, start..<n, firstKey: nil, perPacket: false, seq: &seq) }
                    keys.synced = false
                    doubt = false
                }
                waits += 1
                stats.add(stats.sendRetries)
                if waits > 1000 {
                    stats.add(stats.sendErrors, n - start)
                    return
                }
                usleep(50)
            case .success(let k):
                if doubt {
                    keys.synced = false
                    doubt = false
                }
                if keys.synced { keys.next &+= UInt32(k) }
                start += k
                if start < n && keys.synced {
                    doubt = true
                    writer.write(batch, pending, start..<n, firstKey: nil, perPacket: false, seq: &seq)
                }
            case .failure(let err):
                stats.add(stats.sendErrors)
                if keys.synced {
                    if Self.refusedAtRouting(err) {
                        // Nothing was built, this time nor (the same route) the time sendmmsg lost.
                        doubt = false
                        if start + 1 < n {
                            writer.write(batch, pending, start + 1..<n, firstKey: keys.next, perPacket: false, seq: &seq)
                        }
                    } else {
                        if !doubt && start + 1 < n {
                            writer.write(batch, pending, start + 1..<n, firstKey: nil, perPacket: false, seq: &seq)
                        }
                        keys.synced = false
                        doubt = false
                    }
                }
                start += 1
            }
        }
    }

    /// Errors a datagram send returns from the route lookup, before the kernel builds the packet (and
    /// takes an OPT_ID key): no route, unreachable or prohibited route, broadcast, a source not ours.
    static func refusedAtRouting(_ e: Errno) -> Bool {
        switch e.rawValue {
        case ENETUNREACH, EHOSTUNREACH, EACCES, EINVAL, EADDRNOTAVAIL: true
        default: false
        }
    }
}
// MARK: - receiver

private struct ReceiverSlot {
    var generation: UInt32 = 0
    var deviceID: Int32 = 0
    var address: IPAddress = .v4(0)
    var oneShot = false
    var timeout: Int64 = 0
    var downAfter: UInt16 = 2
    var upAfter: UInt16 = 1
    var failLoss: Double = 100
    var probes: UInt8 = 1
    var spacing: Int64 = 0
    // The open cycle.
    var cycle: UInt32 = 0
    var closedCycle: UInt32 = 0
    /// Which probes of the last closed cycle were answered (to tell a duplicate from a late reply).
    var closedReceived: UInt64 = 0
    /// The open cycle's start as its first reply tells it, for a cycle closed early (all answered).
    var startMicros: Int64 = 0
    var received: UInt64 = 0
    var rttMin: Int64 = .max
    var rttMax: Int64 = 0
    var rttSum: Int64 = 0
    var lastRtt: Int64 = -1
    var jitterSum: Int64 = 0
    var jitterCount: UInt16 = 0
    var errors: UInt16 = 0
    var late: UInt16 = 0
    /// Late replies to already closed cycles, reported with the next row.
    var carriedLate: UInt16 = 0
    // State machine: 0 unknown, 1 up, 2 down.
    var state: UInt8 = 0
    var okRun: UInt16 = 0
    var failRun: UInt16 = 0
    var runStartMicros: Int64 = 0

    mutating func open(_ c: UInt32) {
        cycle = c
        received = 0
        rttMin = .max
        rttMax = 0
        rttSum = 0
        lastRtt = -1
        jitterSum = 0
        jitterCount = 0
        errors = 0
        late = 0
    }
}

private struct ReceiverSide: ~Copyable {
    let e: Engine
    var slots: [ReceiverSlot] = []
    var byAddress: [IPAddress: Int32] = [:]
    var batch: MessageBatch
    let codec4: ICMPCodec
    let codec6: ICMPCodec
    var errors: ErrorQueue
    var stamps4: TxStampRing
    var stamps6: TxStampRing
    /// The error queue was read again for a reply whose stamp was missing, since the last read of replies:
    /// once is enough, as every stamp of a probe answered so far was queued before that read.
    var rereadErrors = false

    init(engine: Engine) {
        e = engine
        batch = MessageBatch(count: engine.options.batchSize, bufferSize: 512)
        codec4 = ICMPCodec(key: engine.key, v6: false)
        codec6 = ICMPCodec(key: engine.key, v6: true)
        errors = ErrorQueue(count: engine.options.batchSize)
        let kept = engine.keys == .none ? 1 : max(1, engine.options.txTimestampsKept)
        stamps4 = TxStampRing(capacity: kept)
        stamps6 = TxStampRing(capacity: engine.v6 == nil ? 1 : kept)
    }

    mutating func run() {
        var fds = [pollfd(fd: e.v4.fd, events: Int16(POLLIN), revents: 0)]
        if let v6 = e.v6 { fds.append(pollfd(fd: v6.fd, events: Int16(POLLIN), revents: 0)) }
        var busy = false
        while !e.stopping.load(ordering: .acquiring) {
            if e.receiverPending.load(ordering: .acquiring) { applyCommands() }
            // Closes are taken only when their deadline passed before this drain began: every reply that
            // could still count was then already in the socket buffer.
            let drainStart = monotonicNanos()
            fds[0].revents = 0
            if fds.count > 1 { fds[1].revents = 0 }
            if busy {
                // Under load, read in batches every 200 µs instead of being woken for each packet: the
                // kernel timestamps keep the RTTs exact, and the sender no longer pays for our wakeups.
                var ts = timespec(tv_sec: 0, tv_nsec: 200_000)
                _ = unsafe nanosleep(&ts, nil)
            } else {
                // A transmit timestamp wakes us too (POLLERR, which cannot be masked): it is read below
                // before the replies, whose probes' stamps were all queued before the reply could come.
                _ = unsafe poll(&fds, nfds_t(fds.count), e.closes.count > 0 ? 1 : 5)
            }
            if e.keys != .none || fds[0].revents & Int16(POLLERR) != 0 { readErrors(v6: false) }
            var got = drain(v6: false)
            if e.v6 != nil {
                if e.keys != .none || fds[1].revents & Int16(POLLERR) != 0 { readErrors(v6: true) }
                got += drain(v6: true)
            }
            busy = got >= 8
            while let c = e.closes.peek(), c.deadline <= drainStart {
                _ = e.closes.pop()
                close(c)
            }
        }
    }

    /// `wait`: take the lock even if the caller holds it now. Only before matching replies, where a
    /// target the sender may already be probing must be known; elsewhere a busy lock is left for later
    /// so a real-time receiver does not wait on the caller's thread.
    mutating func applyCommands(wait: Bool = false) {
        let engine = e
        let taken: [Engine.Command]?
        if wait {
            taken = e.receiverCommands.withLock { c in
                engine.receiverPending.store(false, ordering: .releasing)
                defer { c.removeAll() }
                return c
            }
        } else {
            taken = e.receiverCommands.withLockIfAvailable { c in
                engine.receiverPending.store(false, ordering: .releasing)
                defer { c.removeAll() }
                return c
            }
        }
        guard let commands = taken else { return }
        for c in commands {
            switch c {
            case .add(let slot, let gen, let t, _, let oneShot):
                let i = Int(slot)
                if i >= slots.count {
                    slots.append(contentsOf: repeatElement(ReceiverSlot(), count: max(i + 1, slots.count * 2, 1024) - slots.count))
                }
                if slots[i].generation != 0, byAddress[slots[i].address] == slot { byAddress[slots[i].address] = nil }
                var r = ReceiverSlot()
                r.generation = gen
                r.deviceID = t.id
                r.address = t.address
                r.oneShot = oneShot
                r.timeout = t.settings.timeout.nanos
                r.downAfter = UInt16(clamping: t.settings.downAfter)
                r.upAfter = UInt16(clamping: t.settings.upAfter)
                r.failLoss = t.settings.failLossPercent
                r.probes = UInt8(t.settings.probes)
                r.spacing = t.settings.spacing.nanos
                slots[i] = r
                if !oneShot { byAddress[t.address] = slot }
            case .remove(let slot, let gen):
                let i = Int(slot)
                guard i < slots.count, slots[i].generation == gen else { continue }
                if byAddress[slots[i].address] == slot { byAddress[slots[i].address] = nil }
                slots[i].generation = 0
            }
        }
    }

    /// Reads until the socket is empty; returns the number of messages.
    mutating func drain(v6: Bool) -> Int {
        var total = 0
        while true {
            let n: Int
            do {
                if v6, let s = e.v6 { n = try batch.receive(s.fd) } else { n = try batch.receive(e.v4.fd) }
            } catch {
                e.stats.add(e.stats.receiveErrors)
                return total
            }
            total += n
            if n == 0 { return total }
            rereadErrors = false
            // A target added just now may already be answering: learn of it before matching.
            if e.receiverPending.load(ordering: .acquiring) { applyCommands(wait: true) }
            for i in 0..<n { handle(i, v6: v6) }
            if n < batch.count { return total }
        }
    }

    /// Reads the socket's error queue until it is empty, keeping the transmit timestamps by key.
    mutating func readErrors(v6: Bool) {
        guard let fd = v6 ? e.v6?.fd : e.v4.fd else { return }
        while true {
            let n: Int
            do {
                n = try errors.receive(fd)
            } catch {
                e.stats.add(e.stats.receiveErrors)
                return
            }
            if n == 0 { return }
            var stamps = 0
            for i in 0..<n {
                switch errors.entry(i) {
                case .transmitted(let key, let nanos):
                    if v6 { stamps6.insert(key: key, nanos: nanos) } else { stamps4.insert(key: key, nanos: nanos) }
                    stamps += 1
                case .icmpError, .other:
                    // ICMP errors come here only with IP_RECVERR, which the poller leaves off: raw sockets get
                    // them as packets (counted in handle), datagram sockets not at all.
                    e.stats.add(e.stats.errorQueueOther)
                }
            }
            e.stats.add(e.stats.txTimestamps, stamps)
            if n < errors.count { return }
        }
    }

    /// When the probe left: the kernel's transmit timestamp, or the clock read before the send when
    /// there is none (counted, unless transmit timestamps are off).
    mutating func sendTime(_ t: ProbeToken, v6: Bool, rx: Int64) -> Int64 {
        guard e.keys != .none else { return t.sentNanos }
        if let key = t.txKey {
            if let tx = v6 ? stamps6.lookup(key: key, notBefore: t.sentNanos, notAfter: rx)
                : stamps4.lookup(key: key, notBefore: t.sentNanos, notAfter: rx) { return tx }
            // Queued after the last read of the error queue (the reply followed right behind): read again.
            if !rereadErrors {
                rereadErrors = true
                readErrors(v6: v6)
                if let tx = v6 ? stamps6.lookup(key: key, notBefore: t.sentNanos, notAfter: rx)
                    : stamps4.lookup(key: key, notBefore: t.sentNanos, notAfter: rx) { return tx }
            }
        }
        e.stats.add(e.stats.txTimestampFallbacks)
        return t.sentNanos
    }

    mutating func handle(_ i: Int, v6: Bool) {
        let rx: Int64
        if let t = batch.receiveNanos(i) {
            rx = t
        } else {
            e.stats.add(e.stats.noKernelTimestamp)
            rx = realtimeNanos()
        }
        let raw = v6 ? (e.v6?.raw ?? false) : e.v4.raw
        let codec = v6 ? codec6 : codec4
        let parsed: ParsedICMP
        do {
            parsed = try batch.withReceived(i) { bytes throws(ICMPParseError) in
                try codec.parse(bytes, withIPHeader: raw && !v6)
            }
        } catch {
            e.stats.add(e.stats.malformed)
            return
        }
        switch parsed {
        case .other:
            e.stats.add(e.stats.foreign)
        case .echoReply(let id, _, let token):
            guard !raw || id == e.identifier else {
                e.stats.add(e.stats.foreign)
                return
            }
            switch token {
            case .absent: e.stats.add(e.stats.foreign)
            case .invalid: e.stats.add(e.stats.forged)
            case .valid(let t): reply(t, from: batch.source(i).map(IPAddress.init), rx: rx, v6: v6)
            }
        case .error(_, _, let dst, let id, let seq, let token):
            _ = seq
            if case .valid(let t) = token {
                attributeError(slot: Int(t.slot), generation: t.generation, cycle: t.cycle)
            } else if raw && id == e.identifier, let s = byAddress[dst] {
                attributeError(slot: Int(s), generation: slots[Int(s)].generation, cycle: slots[Int(s)].cycle)
            } else {
                e.stats.add(e.stats.icmpErrorsUnattributed)
            }
        }
    }

    mutating func attributeError(slot i: Int, generation: UInt32, cycle: UInt32) {
        guard i < slots.count, slots[i].generation == generation, generation != 0, cycle > slots[i].closedCycle else {
            e.stats.add(e.stats.icmpErrorsUnattributed)
            return
        }
        if slots[i].cycle != cycle { slots[i].open(cycle) }
        slots[i].errors &+= 1
        e.stats.add(e.stats.icmpErrors)
    }

    mutating func reply(_ t: ProbeToken, from source: IPAddress?, rx: Int64, v6: Bool) {
        let i = Int(t.slot)
        guard i < slots.count, slots[i].generation == t.generation, t.generation != 0 else {
            e.stats.add(e.stats.stale)
            return
        }
        guard source == slots[i].address else {
            e.stats.add(e.stats.wrongSource)
            return
        }
        if t.cycle <= slots[i].closedCycle {
            if t.cycle == slots[i].closedCycle && slots[i].closedReceived & (1 << UInt64(t.probe & 63)) != 0 {
                e.stats.add(e.stats.duplicates)
            } else {
                slots[i].carriedLate &+= 1
                e.stats.add(e.stats.repliesLate)
            }
            return
        }
        if slots[i].cycle != t.cycle { slots[i].open(t.cycle) }
        if slots[i].received == 0 {
            slots[i].startMicros = (t.sentNanos - Int64(t.probe) * slots[i].spacing) / 1000
        }
        let rtt = max(0, rx - sendTime(t, v6: v6, rx: rx))
        if rtt > slots[i].timeout {
            slots[i].late &+= 1
            e.stats.add(e.stats.repliesLate)
            return
        }
        let bit: UInt64 = 1 << UInt64(t.probe & 63)
        if slots[i].received & bit != 0 {
            e.stats.add(e.stats.duplicates)
            return
        }
        slots[i].received |= bit
        slots[i].rttMin = min(slots[i].rttMin, rtt)
        slots[i].rttMax = max(slots[i].rttMax, rtt)
        slots[i].rttSum += rtt
        if slots[i].lastRtt >= 0 {
            slots[i].jitterSum += abs(rtt - slots[i].lastRtt)
            slots[i].jitterCount &+= 1
        }
        slots[i].lastRtt = rtt
        e.stats.add(e.stats.repliesMatched)
        // A sweep's target with every probe answered is reported now rather than at the timeout, so a
        // sweep ends as soon as the last reply is in, as fping does. Scheduled targets wait for the
        // sender's close, which carries the cycle's scheduled start for the row's time.
        if slots[i].oneShot && slots[i].received.nonzeroBitCount == Int(slots[i].probes) {
            finish(i, cycle: t.cycle, sent: slots[i].probes, startMicros: slots[i].startMicros)
        }
    }

    mutating func close(_ c: Engine.Close) {
        let i = Int(c.slot)
        // A cycle whose probes were all answered was reported already.
        guard i < slots.count, slots[i].generation == c.generation, c.generation != 0, c.cycle > slots[i].closedCycle else { return }
        finish(i, cycle: c.cycle, sent: c.sent, startMicros: c.startMicros)
    }

    mutating func finish(_ i: Int, cycle: UInt32, sent: UInt8, startMicros: Int64) {
        if slots[i].cycle != cycle { slots[i].open(cycle) }
        let s = slots[i]
        let received = s.received.nonzeroBitCount
        let ms = 1e-6
        let result = ICMPCycleResult(
            timeMicros: startMicros, deviceID: s.deviceID, address: s.address, sent: Int(sent), received: received,
            rttMinMs: received > 0 ? Double(s.rttMin) * ms : nil,
            rttAvgMs: received > 0 ? Double(s.rttSum) / Double(received) * ms : nil,
            rttMaxMs: received > 0 ? Double(s.rttMax) * ms : nil,
            jitterMs: s.jitterCount > 0 ? Double(s.jitterSum) / Double(s.jitterCount) * ms : nil,
            icmpErrors: Int(s.errors), late: Int(s.late) + Int(s.carriedLate))
        slots[i].closedCycle = cycle
        slots[i].closedReceived = s.received
        slots[i].carriedLate = 0
        slots[i].open(cycle &+ 1)
        e.stats.add(e.stats.cyclesClosed)
        e.push(Engine.Report(result: result, change: 0, run: 0, changeMicros: 0))
        if !s.oneShot { transition(i, result) }
    }

    /// Up/down with hysteresis. The event is stamped with the start of the first cycle of the run that
    /// caused it, so availability computed from the events matches what the samples show.
    mutating func transition(_ i: Int, _ r: ICMPCycleResult) {
        let failed = r.sent > 0 && r.lossPercent >= slots[i].failLoss
        if failed {
            if slots[i].failRun == 0 { slots[i].runStartMicros = r.timeMicros }
            slots[i].failRun &+= 1
            slots[i].okRun = 0
            if slots[i].state != 2 && slots[i].failRun >= slots[i].downAfter {
                slots[i].state = 2
                e.push(Engine.Report(result: r, change: 2, run: slots[i].failRun, changeMicros: slots[i].runStartMicros))
            }
        } else {
            if slots[i].okRun == 0 { slots[i].runStartMicros = r.timeMicros }
            slots[i].okRun &+= 1
            slots[i].failRun = 0
            if slots[i].state != 1 && slots[i].okRun >= slots[i].upAfter {
                slots[i].state = 1
                e.push(Engine.Report(result: r, change: 1, run: slots[i].okRun, changeMicros: slots[i].runStartMicros))
            }
        }
    }
}
