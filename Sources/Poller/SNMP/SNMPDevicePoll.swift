// What the SNMP poller asks one device each cycle, in three operations on the engine: the system group
// (sysDescr, sysObjectID, sysUpTime, sysName); then one walk of IF-MIB ifTable/ifXTable, HOST-RESOURCES
// processor load and storage, and the profile's walked metrics; then the profile's scalar metrics. Values
// are read straight from the response buffers into a compact sample (SNMPDeviceSample.swift).
import Capture

/// One device's poll as a chain of engine operations; calls `done` once, on the engine thread.
public final class SNMPDevicePoll: SNMPOperationHandler, @unchecked Sendable {
    private enum Stage { case system, walk, scalars }

    public let target: SNMPTarget
    private let engine: SNMPEngine
    private let profiles: SNMPProfileSet
    private let done: @Sendable (SNMPDeviceSample) -> Void
    private var sample: SNMPDeviceSample
    private var stage = Stage.system
    private var profile: SNMPProfile?
    private var columns: [(OID, SNMPPolledOIDs.Column)] = []
    /// What each walked root is, and its encoded length, apart from `columns` so that reading them per
    /// varbind copies no OID.
    private var kinds: [SNMPPolledOIDs.Column] = []
    private var rootLengths: [Int] = []
    private var scalarMetrics: [Int] = []
    private var interfaceSlot: [UInt32: Int] = [:]
    private var storageSlot: [UInt32: Int] = [:]
    private var cpuLoads: [Int64] = []
    private var metricValues: [[Double]] = []
    private var started: Int64 = 0

    public init(
        deviceID: Int32, target: SNMPTarget, engine: SNMPEngine, profiles: SNMPProfileSet,
        done: @escaping @Sendable (SNMPDeviceSample) -> Void
    ) {
        self.target = target
        self.engine = engine
        self.profiles = profiles
        self.done = done
        sample = SNMPDeviceSample(deviceID: deviceID, address: target.address.hostText)
    }

    /// Queues the first operation. `continuation: false` so that devices already started go first.
    public func start() {
        started = realtimeMicros()
        engine.submit(target, .get(SNMPPolledOIDs.system), handler: self)
    }

    public func varbind(_ root: Int, _ b: RawSpan, name: BERTLV, value: BERTLV) {
        sample.varbinds += 1
        switch stage {
        case .system:
            switch root {
            case 0: sample.sysDescr = SNMPRead.string(b, value)
            case 1: if value.tag == BERTag.objectIdentifier { sample.sysObjectID = BER.oidText(b, value) }
            case 2: sample.sysUpTime = SNMPRead.u32(b, value)
            case 3: sample.sysName = SNMPRead.string(b, value)
            default: break
            }
        case .walk:
            column(kinds[root], b, name, rootLengths[root], value)
        case .scalars:
            guard root < scalarMetrics.count else { return }
            let i = scalarMetrics[root]
            if let v = SNMPRead.integer(b, value) { metricValues[i].append(Double(v)) }
        }
    }

    public func finished(_ error: SNMPRequestError?) {
        switch stage {
        case .system:
            sample.timeMicros = realtimeMicros()
            guard error == nil, sample.sysUpTime != nil else {
                sample.error = error ?? .agentError(status: 0, index: 0)
                sample.sysUpTime = nil
                finish()
                return
            }
            let p = profiles.profile(sysObjectID: sample.sysObjectID ?? "", sysDescr: sample.sysDescr ?? "")
            profile = p
            sample.category = profiles.categorise(sysObjectID: sample.sysObjectID ?? "", sysDescr: sample.sysDescr ?? "")
            metricValues = Array(repeating: [], count: p.metrics.count)
            columns = SNMPPolledOIDs.walk(target.version, p)
            kinds = columns.map(\.1)
            rootLengths = columns.map { $0.0.encodedValue.count }
            stage = .walk
            engine.submit(target, .walk(columns.map(\.0)), handler: self, continuation: true)
        case .walk:
            if let error { sample.error = error }
            scalarMetrics = (profile?.metrics ?? []).indices.filter { !(profile!.metrics[$0].walk) }
            guard error == nil, !scalarMetrics.isEmpty else {
                finish()
                return
            }
            stage = .scalars
            engine.submit(target, .get(scalarMetrics.map { profile!.metrics[$0].oid }), handler: self, continuation: true)
        case .scalars:
            if let error { sample.error = error }
            finish()
        }
    }

    private func finish() {
        computeDeviceMetrics()
        sample.durationMicros = realtimeMicros() - started
        done(sample)
    }

    private func interface(_ index: UInt32) -> Int {
        if let i = interfaceSlot[index] { return i }
        sample.interfaces.append(SNMPInterfaceSample(index: index))
        interfaceSlot[index] = sample.interfaces.count - 1
        return sample.interfaces.count - 1
    }

    private func storage(_ index: UInt32) -> Int {
        if let i = storageSlot[index] { return i }
        sample.storage.append(SNMPStorageSample(index: index))
        storageSlot[index] = sample.storage.count - 1
        return sample.storage.count - 1
    }

    /// The single index arc after the column's root (ifIndex, hrStorageIndex…), nil for another shape.
    private func rowIndex(_ b: RawSpan, _ name: BERTLV, _ rootLength: Int) -> UInt32? {
        let (v, next) = SNMPOID.subidentifier(b, name.valueStart + rootLength, name.end)
        return next == name.end && v <= UInt64(UInt32.max) ? UInt32(v) : nil
    }

    private func column(_ c: SNMPPolledOIDs.Column, _ b: RawSpan, _ name: BERTLV, _ rootLength: Int, _ v: BERTLV) {
        if case .metric(let m) = c {
            if let x = SNMPRead.integer(b, v) { metricValues[m].append(Double(x)) }
            return
        }
        if case .hrProcessorLoad = c {
            if let x = SNMPRead.integer(b, v) { cpuLoads.append(x) }
            return
        }
        guard let index = rowIndex(b, name, rootLength) else { return }
        switch c {
        case .hrStorageType: sample.storage[storage(index)].type = SNMPRead.lastArc(b, v)
        case .hrStorageDescr: sample.storage[storage(index)].descr = SNMPRead.string(b, v)
        case .hrStorageUnits: sample.storage[storage(index)].units = SNMPRead.integer(b, v)
        case .hrStorageSize: sample.storage[storage(index)].size = SNMPRead.integer(b, v)
        case .hrStorageUsed: sample.storage[storage(index)].used = SNMPRead.integer(b, v)
        default: interfaceColumn(c, &sample.interfaces[interface(index)], b, v)
        }
    }

    private func interfaceColumn(_ c: SNMPPolledOIDs.Column, _ s: inout SNMPInterfaceSample, _ b: RawSpan, _ v: BERTLV) {
        // Read once; most columns are counters.
        let n32 = SNMPRead.u32(b, v)
        let n64 = v.tag == BERTag.counter64 ? SNMPRead.unsigned(b, v) : nil
        func u32() -> UInt32? { n32 }
        func u64() -> UInt64? { n64 }
        switch c {
        case .ifDescr: s.descr = SNMPRead.string(b, v)
        case .ifName: s.name = SNMPRead.string(b, v)
        case .ifAlias: s.alias = SNMPRead.string(b, v)
        case .ifType: s.type = SNMPRead.integer(b, v).map { Int32(truncatingIfNeeded: $0) }
        case .ifSpeed: s.ifSpeed = u32()
        case .ifHighSpeed: s.highSpeed = u32()
        case .ifAdmin: s.adminStatus = SNMPRead.integer(b, v).map { Int32(truncatingIfNeeded: $0) }
        case .ifOper: s.operStatus = SNMPRead.integer(b, v).map { Int32(truncatingIfNeeded: $0) }
        case .ifDiscontinuity: s.discontinuityTime = u32()
        case .ifInOctets: s.inOctets32 = u32()
        case .ifOutOctets: s.outOctets32 = u32()
        case .ifInUcast: s.inUcast32 = u32()
        case .ifOutUcast: s.outUcast32 = u32()
        case .ifInMcast: s.inMcast32 = u32()
        case .ifOutMcast: s.outMcast32 = u32()
        case .ifInBcast: s.inBcast32 = u32()
        case .ifOutBcast: s.outBcast32 = u32()
        case .ifInErrors: s.inErrors = u32()
        case .ifOutErrors: s.outErrors = u32()
        case .ifInDiscards: s.inDiscards = u32()
        case .ifOutDiscards: s.outDiscards = u32()
        case .ifHCInOctets: s.inOctets64 = u64()
        case .ifHCOutOctets: s.outOctets64 = u64()
        case .ifHCInUcast: s.inUcast64 = u64()
        case .ifHCOutUcast: s.outUcast64 = u64()
        case .ifHCInMcast: s.inMcast64 = u64()
        case .ifHCOutMcast: s.outMcast64 = u64()
        case .ifHCInBcast: s.inBcast64 = u64()
        case .ifHCOutBcast: s.outBcast64 = u64()
        default: break
        }
    }

    /// CPU and memory: the profile's metrics where they answered, HOST-RESOURCES otherwise.
    private func computeDeviceMetrics() {
        var cpu: Double?, used: Double?, free: Double?, total: Double?
        for (i, m) in (profile?.metrics ?? []).enumerated() {
            let values = metricValues.indices.contains(i) ? metricValues[i] : []
            guard !values.isEmpty else { continue }
            let x: Double
            switch m.aggregate {
            case .avg: x = values.reduce(0, +) / Double(values.count)
            case .sum: x = values.reduce(0, +)
            case .max: x = values.max()!
            case .min: x = values.min()!
            case .first: x = values[0]
            }
            let v = x * m.scale
            switch m.kind {
            case .cpuPct: cpu = v
            case .cpuIdlePct: cpu = max(0, 100 - v)
            case .memUsedBytes: used = v
            case .memFreeBytes: free = v
            case .memTotalBytes: total = v
            }
        }
        if cpu == nil && !cpuLoads.isEmpty { cpu = Double(cpuLoads.reduce(0, +)) / Double(cpuLoads.count) }
        if total == nil, let u = used, let f = free { total = u + f }
        if used == nil, let t = total, let f = free { used = t - f }
        if used == nil || total == nil, let ram = sample.storage.first(where: { $0.type == 2 }) {
            // hrStorageRam: one row on most agents (BSD's net-snmp repeats it; the first is taken).
            if total == nil { total = ram.sizeBytes.map(Double.init) }
            if used == nil { used = ram.usedBytes.map(Double.init) }
        }
        sample.cpuPct = cpu
        sample.memUsedBytes = used
        sample.memTotalBytes = total
    }
}

extension PeerAddress {
    /// The address without the port, as inet text.
    public var hostText: String {
        let d = description
        if isV4 { return String(d[..<d.lastIndex(of: ":")!]) }
        return String(d.dropFirst().prefix { $0 != "]" })
    }
}

/// Wall clock in µs since the epoch.
func realtimeMicros() -> Int64 { realtimeNanos() / 1000 }
