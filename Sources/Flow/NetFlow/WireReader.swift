// Big-endian, bounds-checked reads from a RawSpan for the NetFlow v5/v9 and IPFIX decoders. Named `nf…`
// so they cannot collide with helpers other Flow decoders (sFlow) add to RawSpan.

extension RawSpan {
    /// An unaligned load of a trivial value at `offset`. Callers check the bounds first and count a short
    /// packet as an error; the precondition is the last line of defence (the span would trap anyway).
    @inline(__always)
    func nfLoad<T: BitwiseCopyable>(_ offset: Int, as: T.Type = T.self) -> T {
        precondition(offset >= 0 && offset <= byteCount &- MemoryLayout<T>.size, "NetFlow read out of bounds")
        return unsafe unsafeLoadUnaligned(fromUncheckedByteOffset: offset, as: T.self)
    }

    @inline(__always)
    func nfU8(_ offset: Int) -> UInt8 { nfLoad(offset) }

    @inline(__always)
    func nfU16(_ offset: Int) -> UInt16 { UInt16(bigEndian: nfLoad(offset)) }

    @inline(__always)
    func nfU32(_ offset: Int) -> UInt32 { UInt32(bigEndian: nfLoad(offset)) }

    @inline(__always)
    func nfU64(_ offset: Int) -> UInt64 { UInt64(bigEndian: nfLoad(offset)) }
}
