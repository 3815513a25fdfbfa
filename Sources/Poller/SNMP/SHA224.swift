// SHA-224 (FIPS 180-4 §6.3: SHA-256's compression with its own initial value, output cut to 28 bytes)
// and HMAC over it (RFC 2104), for usmHMAC128SHA224AuthProtocol (RFC 7860): swift-crypto has no SHA-224.

/// SHA-224, one shot.
struct SHA224 {
    static let digestLength = 28
    static let blockSize = 64

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]
    private static let initial: [UInt32] = [
        0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4,
    ]

    private var h = SHA224.initial
    private var block: [UInt8] = []
    private var total: UInt64 = 0
    private var w = [UInt32](repeating: 0, count: 64)

    init() {
        block.reserveCapacity(64)
    }

    mutating func update(_ data: RawSpan) {
        for i in 0..<data.byteCount { append(data.berByte(i)) }
    }

    mutating func update(_ data: [UInt8]) {
        for b in data { append(b) }
    }

    @inline(__always)
    private mutating func append(_ b: UInt8) {
        block.append(b)
        total &+= 1
        if block.count == 64 {
            compress()
            block.removeAll(keepingCapacity: true)
        }
    }

    mutating func finalize() -> [UInt8] {
        let bits = total &* 8
        block.append(0x80)
        if block.count > 56 {
            while block.count < 64 { block.append(0) }
            compress()
            block.removeAll(keepingCapacity: true)
        }
        while block.count < 56 { block.append(0) }
        for i in 0..<8 { block.append(UInt8(truncatingIfNeeded: bits >> UInt64(56 - 8 * i))) }
        compress()
        var out: [UInt8] = []
        out.reserveCapacity(28)
        for word in h.prefix(7) {
            for s in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: word >> UInt32(s))) }
        }
        return out
    }

    private mutating func compress() {
        @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        for t in 0..<16 {
            w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16 | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
        }
        for t in 16..<64 {
            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ w[t - 15] >> 3
            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ w[t - 2] >> 10
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
        for t in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ SHA224.k[t] &+ w[t]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            hh = g
            g = f
            f = e
            e = d &+ t1
            d = c
            c = b
            b = a
            a = t1 &+ t2
        }
        h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d
        h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
    }

    static func hash(_ data: RawSpan) -> [UInt8] {
        var s = SHA224()
        s.update(data)
        return s.finalize()
    }

    /// HMAC-SHA-224 (RFC 2104): H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ data)).
    static func hmac(key: [UInt8], _ data: RawSpan) -> [UInt8] {
        var k = key
        if k.count > blockSize {
            var s = SHA224()
            s.update(k)
            k = s.finalize()
        }
        k += [UInt8](repeating: 0, count: blockSize - k.count)
        var inner = SHA224()
        inner.update(k.map { $0 ^ 0x36 })
        inner.update(data)
        let ih = inner.finalize()
        var outer = SHA224()
        outer.update(k.map { $0 ^ 0x5c })
        outer.update(ih)
        return outer.finalize()
    }
}
