// SipHash-2-4 (Aumasson & Bernstein, 2012): the keyed 64-bit MAC in every probe's payload, so a reply is
// accepted only if it echoes a token this process made — the way zmap validates stateless probes.

/// A 128-bit SipHash key and the 2-4 variant over byte strings or four little-endian words.
struct SipHash24: Sendable {
    let k0: UInt64
    let k1: UInt64

    init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    /// A key from the system's random source.
    static func random() -> SipHash24 {
        var g = SystemRandomNumberGenerator()
        return SipHash24(k0: g.next(), k1: g.next())
    }

    @inline(__always)
    private static func round(_ v0: inout UInt64, _ v1: inout UInt64, _ v2: inout UInt64, _ v3: inout UInt64) {
        v0 &+= v1; v1 = v1.rotl(13); v1 ^= v0; v0 = v0.rotl(32)
        v2 &+= v3; v3 = v3.rotl(16); v3 ^= v2
        v0 &+= v3; v3 = v3.rotl(21); v3 ^= v0
        v2 &+= v1; v1 = v1.rotl(17); v1 ^= v2; v2 = v2.rotl(32)
    }

    /// The MAC of a 32-byte message given as four little-endian words (the probe token's fast path).
    @inline(__always)
    func hash(_ m0: UInt64, _ m1: UInt64, _ m2: UInt64, _ m3: UInt64) -> UInt64 {
        var v0 = k0 ^ 0x736f_6d65_7073_6575, v1 = k1 ^ 0x646f_7261_6e64_6f6d
        var v2 = k0 ^ 0x6c79_6765_6e65_7261, v3 = k1 ^ 0x7465_6462_7974_6573
        // Unrolled by hand: an array literal here could allocate on every probe.
        v3 ^= m0; Self.round(&v0, &v1, &v2, &v3); Self.round(&v0, &v1, &v2, &v3); v0 ^= m0
        v3 ^= m1; Self.round(&v0, &v1, &v2, &v3); Self.round(&v0, &v1, &v2, &v3); v0 ^= m1
        v3 ^= m2; Self.round(&v0, &v1, &v2, &v3); Self.round(&v0, &v1, &v2, &v3); v0 ^= m2
        v3 ^= m3; Self.round(&v0, &v1, &v2, &v3); Self.round(&v0, &v1, &v2, &v3); v0 ^= m3
        let last: UInt64 = 32 << 56
        v3 ^= last
        Self.round(&v0, &v1, &v2, &v3); Self.round(&v0, &v1, &v2, &v3)
        v0 ^= last
        v2 ^= 0xff
        for _ in 0..<4 { Self.round(&v0, &v1, &v2, &v3) }
        return v0 ^ v1 ^ v2 ^ v3
    }

    /// The MAC of any byte string (reference path, checked against the paper's test vectors).
    func hash(_ bytes: [UInt8]) -> UInt64 {
        var v0 = k0 ^ 0x736f_6d65_7073_6575, v1 = k1 ^ 0x646f_7261_6e64_6f6d
        var v2 = k0 ^ 0x6c79_6765_6e65_7261, v3 = k1 ^ 0x7465_6462_7974_6573
        let full = bytes.count / 8
        func word(_ at: Int, _ n: Int) -> UInt64 {
            var w: UInt64 = 0
            for i in 0..<n { w |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            return w
        }
        for i in 0..<full {
            let m = word(i * 8, 8)
            v3 ^= m
            Self.round(&v0, &v1, &v2, &v3); Self.round(&v0, &v1, &v2, &v3)
            v0 ^= m
        }
        let last = UInt64(truncatingIfNeeded: bytes.count) << 56 | word(full * 8, bytes.count % 8)
        v3 ^= last
        Self.round(&v0, &v1, &v2, &v3); Self.round(&v0, &v1, &v2, &v3)
        v0 ^= last
        v2 ^= 0xff
        for _ in 0..<4 { Self.round(&v0, &v1, &v2, &v3) }
        return v0 ^ v1 ^ v2 ^ v3
    }
}

extension UInt64 {
    @inline(__always) fileprivate func rotl(_ n: UInt64) -> UInt64 { self << n | self >> (64 - n) }
}
