// The reading threads of a listener or capture: one OS thread per socket or ring, named for `top -H`,
// optionally pinned, running until `stop()`, which waits for them. Shared by UDPReceiver and
// PacketCapture so both start and stop the same way.
import Foundation
import Synchronization

final class WorkerThreads: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    private let done = DispatchGroup()

    /// Whether `stop()` was called: each thread's loop checks it (at least every 100 ms).
    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Starts `count` threads `name-<i>` (on cpus[i % cpus.count] when cpus is not empty), each running
    /// `body(i)`. A second call does nothing.
    func start(count: Int, name: String, cpus: [Int], body: @escaping @Sendable (Int) -> Void) {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for i in 0..<count {
            done.enter()
            let t = Thread { [done] in
                CPU.nameCurrentThread("\(name)-\(i)")
                if !cpus.isEmpty { try? CPU.pinCurrentThread(to: cpus[i % cpus.count]) }
                body(i)
                done.leave()
            }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// Asks the threads to stop and waits for them; false when they were not running (or already stopped).
    @discardableResult
    func stop() -> Bool {
        guard running.load(ordering: .acquiring), !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        done.wait()
        return true
    }
}
