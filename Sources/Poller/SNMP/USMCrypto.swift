// The User-based Security Model's cryptography (RFC 3414, RFC 7860, RFC 3826): protocols, password to
// key, key localisation, HMAC checks and privacy. The hash, HMAC and AES primitives come through
// `SNMPCrypto` so that this file (and the codec) builds without swift-crypto, e.g. in the fuzz target.

/// Authentication protocols (usmHMACMD5AuthProtocol, usmHMACSHAAuthProtocol, RFC 7860's SHA-2 ones).
/// Raw values are net-snmp's `-a` names.
public enum SNMPAuthProtocol: String, Sendable, Hashable, CaseIterable {
    case md5 = "MD5"
    case sha1 = "SHA"
    case sha224 = "SHA-224"
    case sha256 = "SHA-256"
    case sha384 = "SHA-384"
    case sha512 = "SHA-512"

    /// Bytes of msgAuthenticationParameters: the HMAC truncated (12 for MD5/SHA-1, RFC 7860 for SHA-2).
    public var macLength: Int {
        switch self {
        case .md5, .sha1: 12
        case .sha224: 16
        case .sha256: 24
        case .sha384: 32
        case .sha512: 48
        }
    }

    /// Bytes of the hash (and of a localized key).
    public var digestLength: Int {
        switch self {
        case .md5: 16
        case .sha1: 20
        case .sha224: 28
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }
}

/// Privacy protocols. Raw values are net-snmp's `-x` names.
public enum SNMPPrivProtocol: String, Sendable, Hashable, CaseIterable {
    /// usmDESPrivProtocol (RFC 3414 §8): CBC-DES.
    case des = "DES"
    /// usmAesCfb128Protocol (RFC 3826).
    case aes128 = "AES"
    /// AES-192/256 in CFB128 with the key extended as in draft-blumenthal-aes-usm-04 (what net-snmp's
    /// "AES-192"/"AES-256" do; not an RFC).
    case aes192 = "AES-192"
    case aes256 = "AES-256"
    /// AES-192/256 with the key extended as in draft-reeder-snmpv3-usm-3desede (Cisco's variant,
    /// net-snmp's "AES-192-C"/"AES-256-C"); the cipher itself is the same CFB128.
    case aes192c = "AES-192-C"
    case aes256c = "AES-256-C"

    /// Bytes of localized key the protocol uses (DES: 8 of key and 8 of pre-IV).
    var keyMaterialLength: Int {
        switch self {
        case .des, .aes128: 16
        case .aes192, .aes192c: 24
        case .aes256, .aes256c: 32
        }
    }

    /// True for the Reeder ("C") key extension.
    var reederKeyExtension: Bool { self == .aes192c || self == .aes256c }
}

/// The primitives USM needs. `SwiftCryptoUSM` (swift-crypto) is the real one; tests and the fuzz
/// target may substitute others.
public protocol SNMPCrypto: Sendable {
    /// The hash of `data` with the protocol's hash function. SHA-224 is not asked for: USM uses its
    /// own implementation.
    func hash(_ proto: SNMPAuthProtocol, _ data: RawSpan) -> [UInt8]
    /// HMAC of `data` with `key`, full length (callers truncate).
    func hmac(_ proto: SNMPAuthProtocol, key: [UInt8], _ data: RawSpan) -> [UInt8]
    /// AES in CFB mode with 128-bit feedback; `key` is 16, 24 or 32 bytes, `iv` 16.
    func aesCFB(encrypt: Bool, key: [UInt8], iv: [UInt8], _ data: RawSpan) -> [UInt8]
}

/// Key derivation and the per-message operations, over an `SNMPCrypto`.
struct USMCrypto: Sendable {
    let crypto: any SNMPCrypto

    func hash(_ proto: SNMPAuthProtocol, _ data: RawSpan) -> [UInt8] {
        proto == .sha224 ? SHA224.hash(data) : crypto.hash(proto, data)
    }

    func hmac(_ proto: SNMPAuthProtocol, key: [UInt8], _ data: RawSpan) -> [UInt8] {
        proto == .sha224 ? SHA224.hmac(key: key, data) : crypto.hmac(proto, key: key, data)
    }

    /// RFC 3414 A.2 password to key: the passphrase repeated to 1 MiB, hashed. Expensive (a megabyte
    /// of hashing): done once per passphrase, when users are configured.
    func passwordToKey(_ password: [UInt8], _ proto: SNMPAuthProtocol) -> [UInt8] {
        precondition(!password.isEmpty)
        let total = 1_048_576
        var expanded: [UInt8] = []
        expanded.reserveCapacity(total)
        while expanded.count < total { expanded += password.prefix(total - expanded.count) }
        return hash(proto, unsafe expanded.span.bytes)
    }

    /// RFC 3414 §2.6 key localisation: H(Ku ‖ engineID ‖ Ku).
    func localize(_ ku: [UInt8], engineID: [UInt8], _ proto: SNMPAuthProtocol) -> [UInt8] {
        let buf = ku + engineID + ku
        return hash(proto, unsafe buf.span.bytes)
    }

    /// A localized privacy key of at least `length` bytes: longer than the hash only for AES-192/256,
    /// extended by appending the hash of everything so far (draft-blumenthal-aes-usm-04 §3.1.2.1).
    func extend(_ kul: [UInt8], to length: Int, _ proto: SNMPAuthProtocol) -> [UInt8] {
        var k = kul
        while k.count < length { k += hash(proto, unsafe k.span.bytes) }
        return Array(k.prefix(length))
    }

    /// The privacy key for `priv` from the localized key `kul` of the privacy passphrase: `kul` itself
    /// for DES and AES-128, extended for AES-192/256. Blumenthal: append H(everything so far). Reeder
    /// (draft-reeder-snmpv3-usm-3desede §2.1): append localize(passwordToKey(previous part)), i.e. the
    /// last localized key taken as a passphrase; this costs a megabyte of hashing per engine.
    func privacyKey(_ kul: [UInt8], _ priv: SNMPPrivProtocol, _ auth: SNMPAuthProtocol, engineID: [UInt8]) -> [UInt8] {
        let length = priv.keyMaterialLength
        guard priv.reederKeyExtension else { return extend(kul, to: length, auth) }
        var k = kul
        var last = kul
        while k.count < length {
            last = localize(passwordToKey(last, auth), engineID: engineID, auth)
            k += last
        }
        return Array(k.prefix(length))
    }

    /// The HMAC over `message` with the `macLength` bytes at `authOffset` taken as zero, truncated.
    func mac(_ proto: SNMPAuthProtocol, key: [UInt8], message: RawSpan, authOffset: Int) -> [UInt8] {
        var copy = BER.copy(message, 0..<message.byteCount)
        for i in authOffset..<(authOffset + proto.macLength) { copy[i] = 0 }
        return Array(hmac(proto, key: key, unsafe copy.span.bytes).prefix(proto.macLength))
    }

    /// True when the msgAuthenticationParameters at `auth` are the message's MAC (constant time).
    func verify(_ proto: SNMPAuthProtocol, key: [UInt8], message: RawSpan, auth: BERTLV) -> Bool {
        guard auth.length == proto.macLength else { return false }
        let expected = mac(proto, key: key, message: message, authOffset: auth.valueStart)
        var diff: UInt8 = 0
        for i in 0..<expected.count { diff |= expected[i] ^ message.berByte(auth.valueStart + i) }
        return diff == 0
    }

    /// Decrypts an encryptedPDU. Nil when the parameters cannot be right (privacy parameters not 8
    /// bytes, DES data not whole blocks): usmStatsDecryptionErrors.
    func decrypt(
        _ priv: SNMPPrivProtocol, key: [UInt8], engineBoots: Int32, engineTime: Int32, salt: RawSpan, _ data: RawSpan
    ) -> [UInt8]? {
        guard salt.byteCount == 8 else { return nil }
        switch priv {
        case .des:
            guard data.byteCount % 8 == 0 else { return nil }
            // RFC 3414 §8.1.1.1: IV = pre-IV (the key's second 8 bytes) XOR salt.
            let iv = (0..<8).map { key[8 + $0] ^ salt.berByte($0) }
            return DES(key: Array(key.prefix(8))).cbc(data, iv: iv, decrypt: true)
        case .aes128, .aes192, .aes256, .aes192c, .aes256c:
            return crypto.aesCFB(encrypt: false, key: key, iv: aesIV(engineBoots, engineTime, salt), data)
        }
    }

    /// Encrypts a ScopedPDU; `salt` must be unique per key (a counter). Returns the ciphertext and the
    /// msgPrivacyParameters.
    func encrypt(
        _ priv: SNMPPrivProtocol, key: [UInt8], engineBoots: Int32, engineTime: Int32, salt: UInt64, _ data: RawSpan
    ) -> (ciphertext: [UInt8], privParameters: [UInt8]) {
        switch priv {
        case .des:
            // RFC 3414 §8.1.1.1: salt = engineBoots ‖ a local 32-bit counter; pad to whole blocks.
            let s = UInt64(UInt32(bitPattern: engineBoots)) << 32 | salt & 0xffff_ffff
            let saltBytes = bigEndian(s)
            var padded = BER.copy(data, 0..<data.byteCount)
            while padded.count % 8 != 0 { padded.append(0) }
            let iv = (0..<8).map { key[8 + $0] ^ saltBytes[$0] }
            return (DES(key: Array(key.prefix(8))).cbc(unsafe padded.span.bytes, iv: iv, decrypt: false), saltBytes)
        case .aes128, .aes192, .aes256, .aes192c, .aes256c:
            let saltBytes = bigEndian(salt)
            let iv = aesIV(engineBoots, engineTime, unsafe saltBytes.span.bytes)
            return (crypto.aesCFB(encrypt: true, key: key, iv: iv, data), saltBytes)
        }
    }

    /// RFC 3826 §3.1.2.1: IV = engineBoots ‖ engineTime ‖ salt.
    private func aesIV(_ boots: Int32, _ time: Int32, _ salt: RawSpan) -> [UInt8] {
        var iv = bigEndian(UInt64(UInt32(bitPattern: boots)) << 32 | UInt64(UInt32(bitPattern: time)))
        for i in 0..<8 { iv.append(salt.berByte(i)) }
        return iv
    }

    private func bigEndian(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> UInt64(56 - 8 * $0)) } }
}

/// What an outgoing v3 message says about itself and how it is protected.
struct USMOutgoing {
    var msgID: Int32
    var maxSize: Int32
    /// Security level bits plus, for requests, `SNMPv3Header.flagReportable`.
    var flags: UInt8
    /// msgAuthoritativeEngineID, boots and time.
    var engineID: [UInt8]
    var engineBoots: Int32
    var engineTime: Int32
    var userName: [UInt8]
    /// Authenticates with this localized key when set.
    var auth: (proto: SNMPAuthProtocol, key: [UInt8])?
    /// Encrypts with this localized key and salt (unique per key: a counter) when set.
    var priv: (proto: SNMPPrivProtocol, key: [UInt8], salt: UInt64)?
}

extension USMCrypto {
    /// Writes an SNMPv3 message (RFC 3412 §6, USM parameters per RFC 3414 §2.4) around an encoded
    /// ScopedPDU into `out` (reset first): encrypted if `o.priv`, then the MAC over the whole message
    /// written into msgAuthenticationParameters if `o.auth`.
    func encodeMessage(_ o: USMOutgoing, scopedPDU: RawSpan, into out: inout BEREncoder) {
        var privParameters: [UInt8] = []
        var ciphertext: [UInt8] = []
        if let (priv, key, salt) = o.priv {
            (ciphertext, privParameters) = encrypt(priv, key: key, engineBoots: o.engineBoots, engineTime: o.engineTime, salt: salt, scopedPDU)
        }
        out.reset()
        let m = out.begin(BERTag.sequence)
        out.integer(3)
        let g = out.begin(BERTag.sequence)
        out.integer(Int64(o.msgID))
        out.integer(Int64(o.maxSize))
        out.octetString([o.flags])
        out.integer(3)
        out.end(g)
        let sp = out.begin(BERTag.octetString)
        let u = out.begin(BERTag.sequence)
        out.octetString(o.engineID)
        out.integer(Int64(o.engineBoots))
        out.integer(Int64(o.engineTime))
        out.octetString(o.userName)
        if let (auth, _) = o.auth {
            _ = out.placeholder(count: auth.macLength)
        } else {
            out.octetString([UInt8]())
        }
        out.octetString(privParameters)
        out.end(u)
        out.end(sp)
        if o.priv != nil {
            out.octetString(ciphertext)
        } else {
            out.appendRaw(scopedPDU)
        }
        out.end(m)
        if let (auth, key) = o.auth, let at = out.tracked {
            out.overwrite(at: at, with: mac(auth, key: key, message: unsafe out.bytes.span.bytes, authOffset: at))
        }
    }
}
