// One device poll's result (interfaces, storage, system group, CPU and memory), the OIDs polled, and
// reading values out of a varbind in place. Pure: the fuzz target SNMPResponse compiles it.

/// Counters and state of one interface in one poll.
public struct SNMPInterfaceSample: Sendable, Equatable {
    public var index: UInt32
    public var descr: String?
    public var name: String?
    public var alias: String?
    public var type: Int32?
    /// ifSpeed (bits/s; 4294967295 means "see ifHighSpeed").
    public var ifSpeed: UInt32?
    /// ifHighSpeed (Mbit/s).
    public var highSpeed: UInt32?
    public var adminStatus: Int32?
    public var operStatus: Int32?
    public var discontinuityTime: UInt32?
    // 32-bit (ifTable) and 64-bit (ifXTable HC) counters; the HC ones are preferred when present.
    public var inOctets32: UInt32?, outOctets32: UInt32?
    public var inUcast32: UInt32?, outUcast32: UInt32?
    public var inMcast32: UInt32?, outMcast32: UInt32?, inBcast32: UInt32?, outBcast32: UInt32?
    public var inOctets64: UInt64?, outOctets64: UInt64?
    public var inUcast64: UInt64?, outUcast64: UInt64?
    public var inMcast64: UInt64?, outMcast64: UInt64?, inBcast64: UInt64?, outBcast64: UInt64?
    public var inErrors: UInt32?, outErrors: UInt32?, inDiscards: UInt32?, outDiscards: UInt32?

    public init(index: UInt32) { self.index = index }

    /// Speed in bits/s: ifHighSpeed × 10⁶ when ifSpeed is saturated (or absent), else ifSpeed.
    public var speedBps: UInt64? {
        if let s = ifSpeed, s != UInt32.max { return s == 0 && highSpeed.map({ $0 > 0 }) == true ? UInt64(highSpeed!) * 1_000_000 : UInt64(s) }
        if let h = highSpeed { return UInt64(h) * 1_000_000 }
        return ifSpeed.map(UInt64.init)
    }
}

/// One hrStorageTable row.
public struct SNMPStorageSample: Sendable, Equatable {
    public var index: UInt32
    public var descr: String?
    /// The last arc of hrStorageType (2 ram, 3 virtual memory, 4 fixed disk…; RFC 2790 hrStorageTypes).
    public var type: UInt32?
    public var units: Int64?
    public var size: Int64?
    public var used: Int64?

    public init(index: UInt32) { self.index = index }

    public var sizeBytes: Int64? { size.flatMap { s in units.map { s &* $0 } } }
    public var usedBytes: Int64? { used.flatMap { u in units.map { u &* $0 } } }
    public var kind: String {
        switch type {
        case 2: "ram"
        case 3: "virtual_memory"
        case 4: "fixed_disk"
        case 5: "removable_disk"
        case 8: "ram_disk"
        case 9: "flash"
        case 10: "network_disk"
        default: "other"
        }
    }
}

/// Everything one poll of one device produced.
public struct SNMPDeviceSample: Sendable {
    public var deviceID: Int32
    public var address: PeerAddressText
    /// When the system group answered (µs since the epoch): the sample's time.
    public var timeMicros: Int64 = 0
    public var sysDescr: String?
    public var sysObjectID: String?
    public var sysName: String?
    /// sysUpTime in hundredths of a second.
    public var sysUpTime: UInt32?
    public var category: SNMPCategory?
    public var interfaces: [SNMPInterfaceSample] = []
    public var storage: [SNMPStorageSample] = []
    public var cpuPct: Double?
    public var memUsedBytes: Double?
    public var memTotalBytes: Double?
    /// Varbinds received.
    public var varbinds = 0
    /// Why the poll failed or is partial (nil: complete).
    public var error: SNMPRequestError?
    /// True when not even the system group answered: the device is unreachable by SNMP.
    public var unreachable: Bool { sysUpTime == nil && error != nil }
    /// µs from the first request to the last answer.
    public var durationMicros: Int64 = 0

    public init(deviceID: Int32, address: PeerAddressText) {
        self.deviceID = deviceID
        self.address = address
    }
}

/// An address as text, for rows and logs.
public typealias PeerAddressText = String

/// The OIDs polled (RFC 3418 system, RFC 2863 IF-MIB, RFC 2790 HOST-RESOURCES-MIB).
enum SNMPPolledOIDs {
    static let system: [OID] = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0"]

    /// What a walked column is.
    enum Column: Sendable {
        case ifDescr, ifType, ifSpeed, ifAdmin, ifOper, ifInOctets, ifInUcast, ifInDiscards, ifInErrors, ifOutOctets,
             ifOutUcast, ifOutDiscards, ifOutErrors
        case ifName, ifInMcast, ifInBcast, ifOutMcast, ifOutBcast, ifHCInOctets, ifHCInUcast, ifHCInMcast, ifHCInBcast,
             ifHCOutOctets, ifHCOutUcast, ifHCOutMcast, ifHCOutBcast, ifHighSpeed, ifAlias, ifDiscontinuity
        case hrProcessorLoad, hrStorageType, hrStorageDescr, hrStorageUnits, hrStorageSize, hrStorageUsed
        case metric(Int)
    }

    static let ifTable: [(UInt32, Column)] = [
        (2, .ifDescr), (3, .ifType), (5, .ifSpeed), (7, .ifAdmin), (8, .ifOper), (10, .ifInOctets), (11, .ifInUcast),
        (13, .ifInDiscards), (14, .ifInErrors), (16, .ifOutOctets), (17, .ifOutUcast), (19, .ifOutDiscards), (20, .ifOutErrors),
    ]
    static let ifXTable: [(UInt32, Column)] = [
        (1, .ifName), (2, .ifInMcast), (3, .ifInBcast), (4, .ifOutMcast), (5, .ifOutBcast), (6, .ifHCInOctets),
        (7, .ifHCInUcast), (8, .ifHCInMcast), (9, .ifHCInBcast), (10, .ifHCOutOctets), (11, .ifHCOutUcast),
        (12, .ifHCOutMcast), (13, .ifHCOutBcast), (15, .ifHighSpeed), (18, .ifAlias), (19, .ifDiscontinuity),
    ]
    static let hrStorage: [(UInt32, Column)] = [
        (2, .hrStorageType), (3, .hrStorageDescr), (4, .hrStorageUnits), (5, .hrStorageSize), (6, .hrStorageUsed),
    ]

    /// The columns to walk for a device of `version` with `profile`: (root, what it is).
    static func walk(_ version: SNMPVersion, _ profile: SNMPProfile?) -> [(OID, Column)] {
        var out: [(OID, Column)] = ifTable.map { (OID([1, 3, 6, 1, 2, 1, 2, 2, 1, $0.0]), $0.1) }
        // ifXTable's HC counters are Counter64, which v1 cannot carry.
        if version != .v1 { out += ifXTable.map { (OID([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, $0.0]), $0.1) } }
        out.append((OID([1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2]), .hrProcessorLoad))
        out += hrStorage.map { (OID([1, 3, 6, 1, 2, 1, 25, 2, 3, 1, $0.0]), $0.1) }
        for (i, m) in (profile?.metrics ?? []).enumerated() where m.walk { out.append((m.oid, .metric(i))) }
        return out
    }
}

/// Reading numbers and strings out of a varbind value in place.
enum SNMPRead {
    /// An unsigned reading of Counter32/Gauge32/TimeTicks/Counter64 (and a non-negative INTEGER).
    static func unsigned(_ b: RawSpan, _ t: BERTLV) -> UInt64? {
        switch t.tag {
        case BERTag.counter32, BERTag.gauge32, BERTag.timeTicks: try? BER.unsigned(b, t, bits: 32)
        case BERTag.counter64: try? BER.unsigned(b, t, bits: 64)
        case BERTag.integer: (try? BER.integer(b, t)).flatMap { $0 >= 0 ? UInt64($0) : nil }
        default: nil
        }
    }

    static func u32(_ b: RawSpan, _ t: BERTLV) -> UInt32? {
        guard t.tag != BERTag.counter64, let v = unsigned(b, t) else { return nil }
        return UInt32(truncatingIfNeeded: v)
    }

    static func integer(_ b: RawSpan, _ t: BERTLV) -> Int64? {
        switch t.tag {
        case BERTag.integer: try? BER.integer(b, t)
        case BERTag.counter32, BERTag.gauge32, BERTag.timeTicks, BERTag.counter64: unsigned(b, t).map { Int64(truncatingIfNeeded: $0) }
        default: nil
        }
    }

    static func string(_ b: RawSpan, _ t: BERTLV) -> String? {
        guard t.tag == BERTag.octetString else { return nil }
        // Agents pad some strings with NULs.
        var end = t.end
        while end > t.valueStart && b.berByte(end - 1) == 0 { end -= 1 }
        return BER.string(b, t.valueStart..<end)
    }

    /// The last arc of an OID value.
    static func lastArc(_ b: RawSpan, _ t: BERTLV) -> UInt32? {
        guard t.tag == BERTag.objectIdentifier else { return nil }
        var last: UInt32 = 0
        BER.forEachArc(b, t) { last = $0 }
        return last
    }
}
