// USM cryptography against published vectors: RFC 3414 A.3 password-to-key and localisation (MD5,
// SHA-1), the same algorithm for RFC 7860's SHA-2 hashes (expected values computed with Python's
// hashlib), SHA-224/HMAC-SHA-224 (FIPS 180-4 example, RFC 4231 case 1), DES (FIPS 46 worked example
// and a CBC vector from `openssl enc -des-cbc`), AES-CFB128 (NIST SP 800-38A F.3.13).
import Testing

@testable import Poller

@Suite("SNMP USM crypto")
struct SNMPUSMTests {
    let usm = USMCrypto(crypto: SwiftCryptoUSM())
    let engine = hexBytes("000000000000000000000002")

    @Test(arguments: [
        (SNMPAuthProtocol.md5, "9faf3283884e92834ebc9847d8edd963", "526f5eed9fcce26f8964c2930787d82b"),
        (.sha1, "9fb5cc0381497b3793528939ff788d5d79145211", "6695febc9288e36282235fc7151f128497b38f3f"),
        (.sha224, "282a5867ee9aac639ad59df9572c7d3ac0fbc13a905b6df07dbbf00b",
         "0bd8827c6e29f8065e08e09237f177e410f69b90e1782be682075674"),
        (.sha256, "ab51014d1e077f6017df2b12bee5f5aa72993177e9bb569c4dff5a4ca0b4afac",
         "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b"),
        (.sha384, "e06eccdf2c68a06ed034723c9c26e0db3b669e1e2efed49150b55377a2e98f383c86fb836857444654b287c93f51ff64",
         "3b298f16164a11184279d5432bf169e2d2a48307de02b3d3f7e2b4f36eb6f0455a53689a3937eea07319a633d2ccba78"),
        (.sha512, "7e4396de5aadc77be853819b98c9406265b3a9c37cc3176569847a4e4f6fba63dd3a73d04924d31a63f95a601f9385af6be4ed1b37f87d040f7c6ed6f8d38a91",
         "22a5a36cedfcc085807a128d7bc6c2382167ad6c0dbc5fdff856740f3d84c099ad1ea87a8db096714d9788bd544047c9021e4229ce27e4c0a69250adfcffbb0b"),
    ])
    func passwordToKeyAndLocalisation(proto: SNMPAuthProtocol, ku: String, kul: String) {
        let k = usm.passwordToKey(Array("maplesyrup".utf8), proto)
        #expect(hexString(k) == ku)
        #expect(hexString(usm.localize(k, engineID: engine, proto)) == kul)
        #expect(k.count == proto.digestLength)
    }

    @Test func sha224() {
        #expect(hexString(SHA224.hash(Array("abc".utf8).span.bytes)) == "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7")
        // Two blocks' worth of padding (56 bytes of input).
        let msg = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(hexString(SHA224.hash(msg.span.bytes)) == "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525")
        let data = Array("Hi There".utf8)
        #expect(hexString(SHA224.hmac(key: [UInt8](repeating: 0x0b, count: 20), data.span.bytes))
            == "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22")
    }

    @Test func des() {
        let d = DES(key: hexBytes("133457799BBCDFF1"))
        #expect(d.block(0x0123_4567_89ab_cdef, decrypt: false) == 0x85e8_1354_0f0a_b405)
        #expect(d.block(0x85e8_1354_0f0a_b405, decrypt: true) == 0x0123_4567_89ab_cdef)
        let plain = hexBytes("0123456789abcdef0011223344556677")
        let cbc = DES(key: hexBytes("0123456789abcdef"))
        let ct = cbc.cbc(plain.span.bytes, iv: hexBytes("fedcba9876543210"), decrypt: false)
        #expect(hexString(ct) == "59732356f36fde06a341db8935acb9f5")
        #expect(cbc.cbc(ct.span.bytes, iv: hexBytes("fedcba9876543210"), decrypt: true) == plain)
    }

    @Test func aesCFB128() {
        let key = hexBytes("2b7e151628aed2a6abf7158809cf4f3c")
        let iv = hexBytes("000102030405060708090a0b0c0d0e0f")
        let plain = hexBytes("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
        let ct = SwiftCryptoUSM().aesCFB(encrypt: true, key: key, iv: iv, plain.span.bytes)
        #expect(hexString(ct) == "3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b")
        // CFB needs no padding: an odd length round-trips.
        let odd = Array(plain.prefix(21))
        let c2 = SwiftCryptoUSM().aesCFB(encrypt: true, key: key, iv: iv, odd.span.bytes)
        #expect(SwiftCryptoUSM().aesCFB(encrypt: false, key: key, iv: iv, c2.span.bytes) == odd)
    }

    @Test func privacyRoundTripsAndRejectsBadParameters() {
        let key = [UInt8](0..<32)
        let data = Array("a scoped PDU, not a multiple of eight".utf8)
        for priv in SNMPPrivProtocol.allCases {
            let k = Array(key.prefix(priv.keyMaterialLength))
            let (ct, params) = usm.encrypt(priv, key: k, engineBoots: 7, engineTime: 99, salt: 0x1122_3344_5566_7788, data.span.bytes)
            #expect(params.count == 8)
            let pt = usm.decrypt(priv, key: k, engineBoots: 7, engineTime: 99, salt: params.span.bytes, ct.span.bytes)
            // DES pads to whole blocks; the ScopedPDU's own length says where it ends.
            #expect(pt.map { Array($0.prefix(data.count)) } == data, "\(priv)")
            #expect(usm.decrypt(priv, key: k, engineBoots: 7, engineTime: 99, salt: Array(params.prefix(7)).span.bytes, ct.span.bytes) == nil)
        }
        // DES: the salt is boots ‖ counter.
        let (_, desSalt) = usm.encrypt(.des, key: Array(key.prefix(16)), engineBoots: 7, engineTime: 0, salt: 0xaabb_ccdd, data.span.bytes)
        #expect(desSalt == [0, 0, 0, 7, 0xaa, 0xbb, 0xcc, 0xdd])
        #expect(usm.decrypt(.des, key: Array(key.prefix(16)), engineBoots: 7, engineTime: 0, salt: desSalt.span.bytes, data.span.bytes) == nil)
    }

    @Test func keyExtensionForAES256() {
        // draft-blumenthal-aes-usm: Kul ‖ H(Kul) …, cut to length.
        let kul = [UInt8](repeating: 1, count: 20)
        let ext = usm.extend(kul, to: 32, .sha1)
        #expect(ext.count == 32 && Array(ext.prefix(20)) == kul)
        #expect(Array(ext.suffix(12)) == Array(usm.hash(.sha1, kul.span.bytes).prefix(12)))
        #expect(usm.extend(kul, to: 16, .sha1) == Array(kul.prefix(16)))
    }
}
