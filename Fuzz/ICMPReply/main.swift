// libFuzzer target for the ICMP reply parser: any bytes, as a raw IPv4 read (IP header first), an
// ICMPv6 read and a datagram-socket read, must parse or throw — never trap, never read out of bounds.
// Built by scripts/fuzz with the parser's own source files (swiftc -sanitize=fuzzer,address).

let key = SipHash24(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0908)
let v4 = ICMPCodec(key: key, v6: false)
let v6 = ICMPCodec(key: key, v6: true)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size).bytes
    _ = try? v4.parse(bytes, withIPHeader: true)
    _ = try? v4.parse(bytes, withIPHeader: false)
    _ = try? v6.parse(bytes, withIPHeader: false)
    return 0
}
