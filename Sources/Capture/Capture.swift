// Packet I/O: the syscall layer (EINTR retried, EAGAIN as a value, errno as a typed error) and thread
// pinning. Sockets, recvmmsg/sendmmsg batches, rings and libpcap build on this.
import CSOTPLinux
#if canImport(Glibc)
import Glibc
#endif

/// An errno value from a failed system call, with its name for messages.
public struct Errno: Error, Equatable, CustomStringConvertible, Sendable {
    public var rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public var description: String { unsafe String(cString: strerror(rawValue)) + " (errno \(rawValue))" }
    public static var current: Errno { Errno(errno) }
}

/// What a non-blocking call returned.
public enum SyscallResult<T>: Sendable where T: Sendable {
    case value(T)
    /// EAGAIN / EWOULDBLOCK: nothing to do now.
    case wouldBlock
}

/// Runs `body` (a syscall returning -1 and setting errno on failure), retrying EINTR and returning
/// EAGAIN as `.wouldBlock`; any other errno is thrown.
@inline(__always)
public func syscall<T: FixedWidthInteger & Sendable>(_ body: () -> T) throws(Errno) -> SyscallResult<T> {
    while true {
        let r = body()
        if r >= 0 { return .value(r) }
        let e = errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
        throw Errno(e)
    }
}

/// CPU placement for the pinned worker threads.
public enum CPU {
    /// CPUs this process may run on.
    public static var available: Int { Int(sotp_cpu_count()) }

    /// Pins the calling thread to `cpu` (0-based).
    public static func pinCurrentThread(to cpu: Int) throws(Errno) {
        let rc = sotp_pin_current_thread(Int32(cpu))
        if rc != 0 { throw Errno(rc) }
    }

    /// Gives the calling thread real-time FIFO scheduling at `priority` (1…99; 0 restores normal
    /// scheduling). Needs root or CAP_SYS_NICE (throws EPERM otherwise). The kernel's RT throttling
    /// (sched_rt_runtime_us) still leaves the rest of the box 5 % of each second.
    public static func setRealtimePriority(_ priority: Int) throws(Errno) {
        let rc = sotp_set_realtime(Int32(priority))
        if rc != 0 { throw Errno(rc) }
    }

    /// Names the calling thread (first 15 bytes), as top -H and perf show it.
    public static func nameCurrentThread(_ name: String) {
        _ = unsafe sotp_set_thread_name(name)
    }
}
