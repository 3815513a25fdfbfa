// Receiving SNMP traps, the trap listener's per-datagram path: a v2c trap decoded into a notification
// and its varbinds written as JSON into a reused buffer, and a v3 authPriv trap (HMAC-SHA-1 and
// AES-128 with cached localized keys). Throughput is traps/s; mallocs are per trap.
import Benchmark
import Poller

/// A v2c trap as a switch sends linkDown: sysUpTime.0, snmpTrapOID.0, ifIndex, ifAdminStatus,
/// ifOperStatus, ifDescr, ifAlias.
func v2cTrap() -> [UInt8] {
    var e = BEREncoder()
    e.communityMessage(version: .v2c, community: Array("public".utf8)) { e in
        e.pdu(.snmpV2Trap, requestID: 123_456) { e in
            e.varbindList([
                SNMPVarBind("1.3.6.1.2.1.1.3.0", .timeTicks(123_456_789)),
                SNMPVarBind("1.3.6.1.6.3.1.1.4.1.0", .objectIdentifier("1.3.6.1.6.3.1.1.5.3")),
                SNMPVarBind("1.3.6.1.2.1.2.2.1.1.17", .integer(17)),
                SNMPVarBind("1.3.6.1.2.1.2.2.1.7.17", .integer(1)),
                SNMPVarBind("1.3.6.1.2.1.2.2.1.8.17", .integer(2)),
                SNMPVarBind("1.3.6.1.2.1.2.2.1.2.17", .octetString(Array("GigabitEthernet1/0/17".utf8))),
                SNMPVarBind("1.3.6.1.2.1.31.1.1.1.18.17", .octetString(Array("uplink to core-2".utf8))),
            ])
        }
    }
    return e.bytes
}

/// net-snmp 5.9.3: snmptrap -v 3 -u trapuser -l authPriv -a SHA -A authpass123 -x AES -X privpass123
/// -e 0x8000000001020304 … 4242 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.2.2.1.1.3 i 3 (Tests' SNMPFixtures).
let v3Trap: [UInt8] = [
    0x30, 0x81, 0xB1, 0x02, 0x01, 0x03, 0x30, 0x11, 0x02, 0x04, 0x56, 0xCF, 0x29, 0xB8, 0x02, 0x03, 0x00, 0xFF, 0xE3, 0x04,
    0x01, 0x03, 0x02, 0x01, 0x03, 0x04, 0x36, 0x30, 0x34, 0x04, 0x08, 0x80, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x02,
    0x01, 0x01, 0x02, 0x03, 0x27, 0x7B, 0xEE, 0x04, 0x08, 0x74, 0x72, 0x61, 0x70, 0x75, 0x73, 0x65, 0x72, 0x04, 0x0C, 0x90,
    0x65, 0x4F, 0x1F, 0xEA, 0x96, 0xC4, 0xAB, 0x8A, 0x9F, 0xE2, 0x08, 0x04, 0x08, 0x93, 0xD3, 0x9F, 0x8C, 0x0C, 0x64, 0xA6,
    0x14, 0x04, 0x61, 0x34, 0x4D, 0x32, 0xB8, 0xEF, 0x40, 0xE9, 0xCE, 0xE2, 0x7F, 0xC8, 0x26, 0x81, 0x58, 0xD8, 0x40, 0xAE,
    0xE8, 0x86, 0xFB, 0xD9, 0x50, 0x8E, 0x0E, 0xF6, 0xC0, 0x1B, 0xC1, 0xC7, 0xD7, 0x3E, 0x80, 0x5E, 0x17, 0x10, 0xF8, 0xF1,
    0xFD, 0xF1, 0x78, 0x09, 0x5C, 0x57, 0x6B, 0x3A, 0x4D, 0x81, 0xE9, 0xD0, 0x27, 0xD3, 0x03, 0x46, 0x6D, 0x0D, 0x1B, 0x9E,
    0xD6, 0x07, 0x4F, 0xFE, 0x39, 0x4C, 0x88, 0x92, 0xFE, 0x56, 0xB8, 0xDC, 0x93, 0x86, 0x64, 0x0D, 0x8A, 0x7A, 0x61, 0x37,
    0x00, 0x49, 0xAD, 0x89, 0x0E, 0xF1, 0x92, 0xF7, 0x19, 0xE2, 0xE6, 0xDE, 0x27, 0x9F, 0x0B, 0xE6, 0x7B, 0xAA, 0xBF, 0x56,
]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    let engine = SNMPEngineIdentity(engineID: [0x80, 0, 0x1f, 0x88, 5, 1, 2, 3], boots: 1, startMicros: 0)

    Benchmark("Trap receive: v2c linkDown, 5 varbinds, decoded and written as JSON") { benchmark in
        let datagram = v2cTrap()
        let bytes = datagram.span.bytes
        var receiver = try! TrapReceiver(config: TrapReceiverConfig(communities: ["public"], engine: engine))
        var json: [UInt8] = []
        json.reserveCapacity(4096)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            json.removeAll(keepingCapacity: true)
            guard case .notification(let n) = receiver.receive(bytes, from: .v4(0x0a00_0001), receivedMicros: 1, reply: { _ in })
            else { fatalError("not decoded") }
            n.appendVarbindsJSON(to: &json)
            blackHole(n.trapOID)
        }
        benchmark.stopMeasurement()
        blackHole(json)
    }

    Benchmark("Trap receive: v3 authPriv (HMAC-SHA-1, AES-128) trap, decoded and written as JSON") { benchmark in
        let bytes = v3Trap.span.bytes
        let user = USMUser(name: "trapuser", auth: .sha1, authPassphrase: "authpass123", priv: .aes128, privPassphrase: "privpass123")
        var receiver = try! TrapReceiver(config: TrapReceiverConfig(users: [user], engine: engine))
        var json: [UInt8] = []
        json.reserveCapacity(4096)
        // The first one localizes the keys; the measured ones find them in the cache.
        _ = receiver.receive(bytes, from: .v4(0x0a00_0001), receivedMicros: 1, reply: { _ in })
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            json.removeAll(keepingCapacity: true)
            guard case .notification(let n) = receiver.receive(bytes, from: .v4(0x0a00_0001), receivedMicros: 1, reply: { _ in })
            else { fatalError("not decoded") }
            n.appendVarbindsJSON(to: &json)
        }
        benchmark.stopMeasurement()
        blackHole(json)
    }
}
