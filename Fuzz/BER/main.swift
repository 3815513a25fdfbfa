// libFuzzer target for the SNMP BER codec and the trap receiver: any bytes must walk or throw, and be
// received as a notification or a counted rejection, never trap or read out of bounds; every reply the
// receiver sends must itself parse, and a notification's varbinds must decode and write as JSON.
// Built by scripts/fuzz with the codec's own files, without swift-crypto: `FuzzCrypto` stands in for
// it with an all-zero HMAC and identity "encryption", so the fuzzer can forge authenticated and
// encrypted v3 messages and reach the USM, ScopedPDU, inform and Report paths.
// `SOTP_FUZZ_WRITE_SEEDS=<dir> ./fuzz` writes the v3 seeds (built with FuzzCrypto) into <dir>.
#if canImport(Glibc)
import Glibc
#endif

struct FuzzCrypto: SNMPCrypto {
    func hash(_ proto: SNMPAuthProtocol, _ data: RawSpan) -> [UInt8] {
        // Not a hash: a cheap fold, enough to give keys some bytes.
        var out = [UInt8](repeating: 0, count: proto.digestLength)
        for i in 0..<min(data.byteCount, 4096) { out[i % out.count] &+= data.berByte(i) }
        return out
    }

    func hmac(_ proto: SNMPAuthProtocol, key: [UInt8], _ data: RawSpan) -> [UInt8] {
        [UInt8](repeating: 0, count: proto.digestLength)
    }

    func aesCFB(encrypt: Bool, key: [UInt8], iv: [UInt8], _ data: RawSpan) -> [UInt8] {
        BER.copy(data, 0..<data.byteCount)
    }
}

let engineID: [UInt8] = [0x80, 0x00, 0x1f, 0x88, 0x05, 0x66, 0x75, 0x7a, 0x7a]
let start: Int64 = 1_700_000_000_000_000
let now = start + 100_000_000

func config() -> TrapReceiverConfig {
    TrapReceiverConfig(
        communities: [],
        users: [
            USMUser(name: "fuzz", auth: .sha1, authPassphrase: "fuzzpassword", priv: .aes128, privPassphrase: "fuzzprivacy",
                    minimumSecurityLevel: .noAuthNoPriv),
            USMUser(name: "des", auth: .md5, authPassphrase: "fuzzpassword", priv: .des, privPassphrase: "fuzzprivacy"),
            USMUser(name: "sha224", auth: .sha224, authPassphrase: "fuzzpassword"),
        ],
        engine: SNMPEngineIdentity(engineID: engineID, boots: 1, startMicros: start), maxVarbinds: 64)
}

nonisolated(unsafe) var receiver = try! TrapReceiver(config: config(), crypto: FuzzCrypto())

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>>>) -> CInt {
    if let dir = getenv("SOTP_FUZZ_WRITE_SEEDS") {
        writeSeeds(String(cString: dir))
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size).bytes
    if let n = try? BER.walk(bytes, maxDepth: 16) { precondition(n >= 1 || size == 0) }
    let outcome = receiver.receive(bytes, from: .v4(0x7f00_0001), receivedMicros: now) { reply in
        precondition((try? SNMPMessage.parseHeader(reply)) != nil, "the receiver sent a reply that does not parse")
    }
    if case .notification(let n) = outcome {
        precondition(n.varbinds.count == n.varbindCount, "varbinds: \(n.varbinds.count), counted \(n.varbindCount)")
        var json: [UInt8] = []
        n.appendVarbindsJSON(to: &json)
        precondition(json.first == UInt8(ascii: "[") && json.last == UInt8(ascii: "]"))
    }
    return 0
}

/// v3 messages the receiver accepts: authPriv traps and informs (AES, DES), an HMAC-SHA-224 trap,
/// a noAuthNoPriv trap, and a discovery probe.
func writeSeeds(_ dir: String) {
    let usm = USMCrypto(crypto: FuzzCrypto())
    func scoped(_ type: SNMPPDUType, _ ctx: [UInt8]) -> [UInt8] {
        var e = BEREncoder()
        e.scopedPDU(contextEngineID: ctx, contextName: Array("c".utf8)) { e in
            e.pdu(type, requestID: 5) { e in
                e.varbindList([
                    SNMPVarBind("1.3.6.1.2.1.1.3.0", .timeTicks(42)),
                    SNMPVarBind("1.3.6.1.6.3.1.1.4.1.0", .objectIdentifier("1.3.6.1.6.3.1.1.5.1")),
                    SNMPVarBind("1.3.6.1.2.1.1.5.0", .octetString(Array("fuzz".utf8))),
                    SNMPVarBind("1.3.6.1.4.1.1.2", .counter64(7)),
                ])
            }
        }
        return e.bytes
    }
    func message(user: String, auth: SNMPAuthProtocol?, priv: SNMPPrivProtocol?, engine: [UInt8], reportable: Bool, _ type: SNMPPDUType) -> [UInt8] {
        let level: SNMPSecurityLevel = priv != nil ? .authPriv : auth != nil ? .authNoPriv : .noAuthNoPriv
        var o = USMOutgoing(
            msgID: 9, maxSize: 65507, flags: level.flags | (reportable ? SNMPv3Header.flagReportable : 0),
            engineID: engine, engineBoots: 1, engineTime: 100, userName: Array(user.utf8))
        // The keys the receiver derives from the configured passphrases, so that even the real DES
        // and HMAC-SHA-224 (not FuzzCrypto's) check out.
        if let auth {
            o.auth = (auth, usm.localize(usm.passwordToKey(Array("fuzzpassword".utf8), auth), engineID: engine, auth))
            if let priv {
                let kul = usm.localize(usm.passwordToKey(Array("fuzzprivacy".utf8), auth), engineID: engine, auth)
                o.priv = (priv, usm.extend(kul, to: priv.keyMaterialLength, auth), 3)
            }
        }
        var out = BEREncoder()
        let s = scoped(type, engine)
        usm.encodeMessage(o, scopedPDU: s.span.bytes, into: &out)
        return out.bytes
    }
    let agent: [UInt8] = [0x80, 0, 0, 0, 1, 2, 3, 4]
    let seeds: [(String, [UInt8])] = [
        ("v3-trap-authpriv", message(user: "fuzz", auth: .sha1, priv: .aes128, engine: agent, reportable: false, .snmpV2Trap)),
        ("v3-inform-authpriv", message(user: "fuzz", auth: .sha1, priv: .aes128, engine: engineID, reportable: true, .informRequest)),
        ("v3-inform-des", message(user: "des", auth: .md5, priv: .des, engine: engineID, reportable: true, .informRequest)),
        ("v3-trap-sha224", message(user: "sha224", auth: .sha224, priv: nil, engine: agent, reportable: false, .snmpV2Trap)),
        ("v3-trap-noauth", message(user: "fuzz", auth: nil, priv: nil, engine: agent, reportable: false, .snmpV2Trap)),
        ("v3-discovery", message(user: "", auth: nil, priv: nil, engine: [], reportable: true, .getRequest)),
    ]
    for (name, bytes) in seeds {
        guard let f = fopen(dir + "/" + name, "w") else { continue }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }
}
