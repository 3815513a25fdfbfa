// The API's database connections: a few threads, each owning one libpq connection (libpq blocks, so it
// stays off the HTTP event loops), taking jobs from one bounded queue.
import Foundation
import Logging
import Sink
import Synchronization

/// Why a job did not run: the queue was full, the pool is stopping, or the database is unreachable.
enum APIDatabaseError: Error, CustomStringConvertible {
    case busy
    case stopped
    case database(PGError)

    var description: String {
        switch self {
        case .busy: "too many requests waiting for a database connection"
        case .stopped: "the API is stopping"
        case .database(let e): "database: \(e.message)"
        }
    }
}

/// `size` worker threads with a connection each (made on first use, made again after one is lost),
/// serving jobs in arrival order. At most `queueLimit` jobs wait; more are refused at once (503), so a
/// slow database cannot pile up requests without bound.
final class APIDatabase: Sendable {
    private struct Job: Sendable {
        var run: @Sendable (borrowing PGConnection) -> Void
        var fail: @Sendable (APIDatabaseError) -> Void
    }

    private struct State {
        var jobs: [Job] = []
        var head = 0
        var stopping = false
        var waiting: Int { jobs.count - head }
    }

    private let info: PGConnectInfo
    private let queueLimit: Int
    private let state = Mutex(State())
    private let wake = NSCondition()
    private let logger: Logger

    init(info: PGConnectInfo, size: Int, queueLimit: Int = 1024, logger: Logger) {
        var info = info
        info.applicationName = "sotpd-api"
        // A request never holds a connection long: a runaway query ends, and the thread is free again.
        info.statementTimeoutMs = 10_000
        info.lockTimeoutMs = 5_000
        self.info = info
        self.queueLimit = queueLimit
        self.logger = logger
        for i in 0..<size {
            let t = Thread { [self] in work() }
            t.name = "sotp-api-db-\(i)"
            t.start()
        }
    }

    /// Runs `body` on a pooled connection and returns its result. Throws `.busy` when the queue is full,
    /// `.database` when no connection can be made or `body` throws a PGError (a lost connection is made
    /// again for the next job).
    func run<T: Sendable>(_ body: @escaping @Sendable (borrowing PGConnection) throws(PGError) -> T) async throws(APIDatabaseError) -> T {
        let result: Result<T, APIDatabaseError> = await withCheckedContinuation { c in
            let job = Job(
                run: { conn in
                    do throws(PGError) {
                        c.resume(returning: .success(try body(conn)))
                    } catch {
                        c.resume(returning: .failure(.database(error)))
                    }
                },
                fail: { c.resume(returning: .failure($0)) })
            let refused: APIDatabaseError? = state.withLock { s in
                if s.stopping { return .stopped }
                if s.waiting >= queueLimit { return .busy }
                s.jobs.append(job)
                return nil
            }
            if let refused { return c.resume(returning: .failure(refused)) }
            wake.lock()
            wake.signal()
            wake.unlock()
        }
        return try result.get()
    }

    /// Refuses new jobs; the threads finish the queued ones (failing them if the database is away) and exit.
    func stop() {
        state.withLock { $0.stopping = true }
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    private func take() -> Job? {
        while true {
            let (job, stopping): (Job?, Bool) = state.withLock { s in
                guard s.head < s.jobs.count else {
                    s.jobs.removeAll(keepingCapacity: true)
                    s.head = 0
                    return (nil, s.stopping)
                }
                let j = s.jobs[s.head]
                s.head += 1
                if s.head > 256 && s.head * 2 > s.jobs.count {
                    s.jobs.removeFirst(s.head)
                    s.head = 0
                }
                return (j, s.stopping)
            }
            if let job { return job }
            if stopping { return nil }
            wake.lock()
            // Checked again under the condition's lock, so a signal sent before the wait is not lost.
            if state.withLock({ $0.waiting == 0 && !$0.stopping }) { _ = wake.wait(until: Date(timeIntervalSinceNow: 1)) }
            wake.unlock()
        }
    }

    private func work() {
        var conn: PGConnection?
        while let job = take() {
            if conn == nil || conn?.isOK == false {
                conn = nil
                do throws(PGError) {
                    conn = try PGConnection(info)
                } catch {
                    job.fail(.database(error))
                    continue
                }
            }
            job.run(conn!)
            if conn?.isOK == false { conn = nil }
        }
    }
}
