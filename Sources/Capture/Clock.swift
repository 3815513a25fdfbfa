// The two clocks the pollers and receivers read: monotonic for schedules and timeouts, realtime for
// what is stored (and what the kernel's receive timestamps use).
#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
public func monotonicNanos() -> Int64 {
    var ts = timespec()
    unsafe clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch.
@inline(__always)
public func realtimeNanos() -> Int64 {
    var ts = timespec()
    unsafe clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// The wall clock in microseconds since the Unix epoch (timestamptz's unit).
@inline(__always)
public func unixMicrosNow() -> Int64 { realtimeNanos() / 1000 }
