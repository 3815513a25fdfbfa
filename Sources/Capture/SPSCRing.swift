// A bounded single-producer single-consumer ring: the lock-free hand-off between pinned threads (a
// sender telling its receiver which cycles to close, a socket reader feeding a decoder).
import Synchronization

/// A fixed-capacity FIFO for exactly one producer thread and one consumer thread. Never allocates
/// after init; `push` fails (returns false) when full, so the producer decides to wait or count a drop.
@safe
public final class SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    // The consumer's index and the producer's index live on separate cache lines, so the two threads
    // do not invalidate each other's line on every operation.
    private let head = Atomic<Int>(0)  // next slot to read; written by the consumer only
    private let pad0: (Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0)
    private let tail = Atomic<Int>(0)  // next slot to write; written by the producer only
    private let pad1: (Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0)
    private let mask: Int
    private let storage: UnsafeMutablePointer<Element>

    /// `capacity` is rounded up to a power of two.
    public init(capacity: Int) {
        precondition(capacity > 0)
        var c = 1
        while c < capacity { c <<= 1 }
        mask = c - 1
        unsafe storage = UnsafeMutablePointer<Element>.allocate(capacity: c)
    }

    deinit { unsafe storage.deallocate() }

    public var capacity: Int { mask + 1 }

    /// Elements waiting (a snapshot; exact only from one of the two threads).
    public var count: Int { tail.load(ordering: .acquiring) - head.load(ordering: .acquiring) }

    /// Producer only. False when full.
    @inline(__always)
    public func push(_ value: Element) -> Bool {
        let t = tail.load(ordering: .relaxed)
        if t - head.load(ordering: .acquiring) > mask { return false }
        unsafe (storage + (t & mask)).initialize(to: value)
        tail.store(t + 1, ordering: .releasing)
        return true
    }

    /// Consumer only. Nil when empty.
    @inline(__always)
    public func pop() -> Element? {
        let h = head.load(ordering: .relaxed)
        if h == tail.load(ordering: .acquiring) { return nil }
        let value = unsafe storage[h & mask]
        head.store(h + 1, ordering: .releasing)
        return value
    }

    /// Consumer only: the oldest element without removing it.
    @inline(__always)
    public func peek() -> Element? {
        let h = head.load(ordering: .relaxed)
        if h == tail.load(ordering: .acquiring) { return nil }
        return unsafe storage[h & mask]
    }
}
