// `SNMPCrypto` on swift-crypto (BoringSSL on Linux): MD5, SHA-1, SHA-256/384/512, their HMACs and
// AES-CFB128. The only SNMP file that imports Crypto, so the codec and receiver build without it.
import Crypto
import _CryptoExtras

/// USM primitives from swift-crypto.
public struct SwiftCryptoUSM: SNMPCrypto {
    public init() {}

    public func hash(_ proto: SNMPAuthProtocol, _ data: RawSpan) -> [UInt8] {
        unsafe data.withUnsafeBytes { buf in
            switch proto {
            case .md5: Array(unsafe Insecure.MD5.hash(data: buf))
            case .sha1: Array(unsafe Insecure.SHA1.hash(data: buf))
            case .sha224: SHA224.hash(data)
            case .sha256: Array(unsafe SHA256.hash(data: buf))
            case .sha384: Array(unsafe SHA384.hash(data: buf))
            case .sha512: Array(unsafe SHA512.hash(data: buf))
            }
        }
    }

    public func hmac(_ proto: SNMPAuthProtocol, key: [UInt8], _ data: RawSpan) -> [UInt8] {
        let k = SymmetricKey(data: key)
        return unsafe data.withUnsafeBytes { buf in
            switch proto {
            case .md5: Array(unsafe HMAC<Insecure.MD5>.authenticationCode(for: buf, using: k))
            case .sha1: Array(unsafe HMAC<Insecure.SHA1>.authenticationCode(for: buf, using: k))
            case .sha224: SHA224.hmac(key: key, data)
            case .sha256: Array(unsafe HMAC<SHA256>.authenticationCode(for: buf, using: k))
            case .sha384: Array(unsafe HMAC<SHA384>.authenticationCode(for: buf, using: k))
            case .sha512: Array(unsafe HMAC<SHA512>.authenticationCode(for: buf, using: k))
            }
        }
    }

    public func aesCFB(encrypt: Bool, key: [UInt8], iv: [UInt8], _ data: RawSpan) -> [UInt8] {
        // Key and IV sizes are the caller's (USMCrypto's) invariants; CFB itself cannot fail.
        guard let v = try? AES._CFB.IV(ivBytes: iv) else { preconditionFailure("AES-CFB IV of \(iv.count) bytes") }
        let k = SymmetricKey(data: key)
        let out = unsafe data.withUnsafeBytes { buf in
            unsafe encrypt ? try? AES._CFB.encrypt(buf, using: k, iv: v) : try? AES._CFB.decrypt(buf, using: k, iv: v)
        }
        guard let out else { preconditionFailure("AES-CFB key of \(key.count) bytes") }
        return Array(out)
    }
}
