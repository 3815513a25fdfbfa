// sotpd links jemalloc as its allocator (fragmentation stays flat under years of batch churn); this
// asks jemalloc whether it is the one serving malloc.
import CJemalloc

enum Jemalloc {
    /// jemalloc's version string, or nil when it is not linked.
    static var version: String? {
        var p: UnsafePointer<CChar>? = nil
        var len = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &p, &len, nil, 0) == 0, let p else { return nil }
        return String(cString: p)
    }

    /// Bytes jemalloc has handed out (refreshed); 0 means malloc resolves to another allocator.
    static var allocatedBytes: Int {
        var epoch: UInt64 = 1
        _ = mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size)
        var allocated = 0
        var len = MemoryLayout<Int>.size
        guard mallctl("stats.allocated", &allocated, &len, nil, 0) == 0 else { return 0 }
        return allocated
    }
}
