// The flow table's index: key → slot, open addressing with linear probing over one array of 64-bit
// entries (the key's 32-bit hash above the slot number + 1; 0 is empty), deleted by shifting back, so
// there are no tombstones and a lookup touches one or two cache lines of 8-byte entries before the one
// slot whose key it compares. The hash mixes the key's words with a random per-table seed: packets on
// a monitored link are anyone's, and a fixed function would let them aim for one chain.

extension FlowCacheKey {
    /// The key's hash under `seed` (a multiply–xorshift over its five words).
    @inline(__always)
    func hash(seed: UInt64) -> UInt32 {
        var h = seed
        @inline(__always) func mix(_ w: UInt64) {
            h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
        }
        mix(src.high)
        mix(src.low ^ (src.isV4 ? 1 << 63 : 0))
        mix(dst.high)
        mix(dst.low ^ (dst.isV4 ? 1 << 63 : 0))
        mix(UInt64(srcPort) << 48 | UInt64(dstPort) << 32 | UInt64(proto) << 24 | UInt64(vlan) << 8 | (outgoing ? 1 : 0))
        mix(UInt64(ifIndex))
        h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }
}

/// Key → slot number. Grows (doubling, a rehash) while more than half full, up to twice `maxEntries`.
struct FlowIndex {
    private var entries: [UInt64]
    private var mask: Int
    private let limit: Int
    let seed: UInt64
    private(set) var count = 0

    init(maxEntries: Int, seed: UInt64) {
        var capacity = 1024
        while capacity < 2 * min(maxEntries, 8192) { capacity <<= 1 }
        var limit = capacity
        while limit < 2 * maxEntries { limit <<= 1 }
        entries = Array(repeating: 0, count: capacity)
        mask = capacity - 1
        self.limit = limit
        self.seed = seed
    }

    /// The slot holding `key` (`keyAt(slot)` gives a slot's key), or nil.
    @inline(__always)
    func find(_ key: FlowCacheKey, hash: UInt32, keyAt: (Int) -> FlowCacheKey) -> Int? {
        var i = Int(hash) & mask
        while true {
            let e = entries[i]
            if e == 0 { return nil }
            if UInt32(truncatingIfNeeded: e >> 32) == hash, keyAt(Int(UInt32(truncatingIfNeeded: e)) - 1) == key {
                return Int(UInt32(truncatingIfNeeded: e)) - 1
            }
            i = (i + 1) & mask
        }
    }

    /// Adds a key known to be absent, by its hash.
    mutating func insert(hash: UInt32, slot: Int) {
        if (count + 1) * 2 > entries.count && entries.count < limit { grow() }
        place(UInt64(hash) << 32 | UInt64(slot + 1))
        count += 1
    }

    /// Removes the entry for `slot` (whose key hashes to `hash`).
    mutating func remove(hash: UInt32, slot: Int) {
        let wanted = UInt64(hash) << 32 | UInt64(slot + 1)
        var i = Int(hash) & mask
        while entries[i] != wanted {
            precondition(entries[i] != 0, "removing a flow the index does not hold")
            i = (i + 1) & mask
        }
        // Shift back every later entry of the run that may move into the hole (its home is not
        // cyclically within the hole's position + 1 … its own position).
        var j = i
        while true {
            j = (j + 1) & mask
            let e = entries[j]
            if e == 0 { break }
            let home = Int(UInt32(truncatingIfNeeded: e >> 32)) & mask
            let stays = i <= j ? (i < home && home <= j) : (i < home || home <= j)
            if stays { continue }
            entries[i] = e
            i = j
        }
        entries[i] = 0
        count -= 1
    }

    private mutating func place(_ e: UInt64) {
        var i = Int(UInt32(truncatingIfNeeded: e >> 32)) & mask
        while entries[i] != 0 { i = (i + 1) & mask }
        entries[i] = e
    }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: 0, count: old.count * 2)
        mask = entries.count - 1
        for e in old where e != 0 { place(e) }
    }
}
