// NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) with one template engine: templates and options templates
// per (exporter, observation domain / source id), sampling learned from options data, data sets that
// arrive before their template held for a while, and every cache bounded.

/// Where templates live: the exporter's address and domain, and the protocol (v9 and IPFIX templates
/// are separate spaces even when an exporter uses the same domain id for both).
struct DomainKey: Hashable, Sendable {
    var exporter: ExporterKey
    var version: UInt16
}

/// What the decoder knows about one exporter domain.
struct DomainState: Sendable {
    var templates: [UInt16: CompiledTemplate] = [:]
    /// Sampling rate (1 in N) per sampler / selector id, from options data records that carry one.
    var samplers: [UInt64: UInt32] = [:]
    /// Sampling rate from options data records without a sampler id; 0 when none came.
    var domainRate: UInt32 = 0
    /// systemInitTimeMilliseconds from options data (IPFIX uptime-relative times); 0 when unknown.
    var sysInitMillis: UInt64 = 0
    /// When a template of this domain was last learned, refreshed or used.
    let age = Age(0)
}

/// The packet header values a data set needs, kept with a held set so it decodes as it would have.
struct SetContext: Sendable {
    var exporter: FlowIP
    var domain: UInt32
    var ipfix: Bool
    var exportSeconds: UInt32
    var sysUptime: UInt32
    var receivedMicros: Int64
    /// The caller's sampling override for this exporter; 0 when there is none.
    var rateOverride: UInt32
}

/// Decodes NetFlow v9 and IPFIX export packets, keeping their templates.
///
/// Use one decoder per receiving thread, exporters hashed to threads. It is a value type, but copies
/// share their templates' ages (which only order eviction), so keep one copy in use.
public struct TemplateDecoder: Sendable {
    /// Bounds on what the decoder keeps. Whatever exceeds them is dropped and counted.
    public struct Limits: Sendable, Equatable {
        /// Fields a template may have; more is rejected (`badTemplates`).
        public var maxFieldsPerTemplate = 512
        /// Templates per exporter domain; the least recently learned one is evicted.
        public var maxTemplatesPerDomain = 1024
        /// Templates in total; the least recently changed domain is evicted.
        public var maxTemplates = 65_536
        /// Exporter domains (each holds templates and sampling state).
        public var maxDomains = 16_384
        /// Sampler ids remembered per domain.
        public var maxSamplersPerDomain = 1024
        /// Data sets held for a template per domain, and their bytes (each set costs 64 bytes more).
        public var maxPendingSetsPerDomain = 32
        /// Bytes held per domain.
        public var maxPendingBytesPerDomain = 256 << 10
        /// Bytes held in total.
        public var maxPendingBytes = 8 << 20
        /// Data sets held in total: holding and releasing scan the held sets, so this and the next keep
        /// a flood of unknown-template sets from costing more than a few µs a packet.
        public var maxPendingSets = 1024
        /// Data sets one packet may have held; the rest of its unknown-template sets are misses.
        public var maxPendingSetsPerPacket = 16
        /// How long a held set waits for its template, by the receive clock (µs).
        public var maxPendingAgeMicros: Int64 = 10_000_000

        /// The defaults above.
        public init() {}
    }

    /// The bounds in force.
    public let limits: Limits
    /// Called once per packet with the exporter and its domain; a non-nil rate (1 in N) wins over what
    /// the exporter says (options data, sampling fields in records), like nfacctd's sampling_map.
    public var samplingOverride: (@Sendable (_ exporter: FlowIP, _ domain: UInt32) -> UInt32?)?

    var domains: [DomainKey: DomainState] = [:]
    /// Templates held across all domains.
    public private(set) var templateCount = 0
    /// Increments with every packet and every template learned: the clock of template and domain ages.
    var tick: UInt64 = 0
    var pending = PendingSets()
    /// Fields of the template record being read, reused so a refresh that changes nothing allocates nothing.
    var scratch: [TemplateField] = []

    /// - Parameter samplingOverride: see `samplingOverride`.
    public init(
        limits: Limits = Limits(),
        samplingOverride: (@Sendable (_ exporter: FlowIP, _ domain: UInt32) -> UInt32?)? = nil
    ) {
        precondition(
            limits.maxFieldsPerTemplate >= 1 && limits.maxTemplatesPerDomain >= 1 && limits.maxTemplates >= 1
                && limits.maxDomains >= 1, "template limits must be at least 1")
        self.limits = limits
        self.samplingOverride = samplingOverride
        scratch.reserveCapacity(min(limits.maxFieldsPerTemplate, 1024))
    }

    /// Data sets waiting for their template.
    public var pendingSets: Int { pending.sets.count }
    /// What the held data sets count against `maxPendingBytes`: their bytes plus 64 each.
    public var pendingBytes: Int { pending.bytes }

    /// Drops held data sets older than `maxPendingAgeMicros` at `nowMicros` (decode does this too; call
    /// it when no packets arrive) and returns how many were dropped: template misses.
    public mutating func expirePending(nowMicros: Int64) -> Int {
        pending.expire(now: nowMicros, maxAge: limits.maxPendingAgeMicros)
    }

    /// Decodes one v9 or IPFIX packet, calling `emit` for each flow record in order (records of data
    /// sets held from earlier packets come when their template does).
    ///
    /// Problems inside the packet (bad sets, templates, records) are counted in the result's `errors`
    /// and the rest is still decoded where its bounds can be trusted.
    /// - Parameters:
    ///   - exporter: the packet's source address; templates are kept per exporter and domain.
    ///   - receivedMicros: receive time, µs since the epoch; also the clock for held sets.
    /// - Throws: `.truncated` when the packet is shorter than its header (or an IPFIX message than its
    ///   length field), `.unknownVersion` when it is neither v9 nor IPFIX, `.malformed` for an IPFIX
    ///   length below the header.
    public mutating func decode(
        _ bytes: RawSpan, exporter: FlowIP, receivedMicros: Int64, emit: (FlowRecord) -> Void
    ) throws(FlowDecodeError) -> PacketInfo {
        let n = bytes.byteCount
        guard n >= 2 else { throw .truncated(needed: 16, available: n) }
        var info = PacketInfo()
        info.version = bytes.nfU16(0)
        let headerSize: Int
        let end: Int
        switch info.version {
        case 9:
            guard n >= 20 else { throw .truncated(needed: 20, available: n) }
            info.sysUptimeMillis = bytes.nfU32(4)
            info.exportSeconds = bytes.nfU32(8)
            info.sequence = bytes.nfU32(12)
            info.domain = bytes.nfU32(16)
            headerSize = 20
            end = n
        case 10:
            guard n >= 16 else { throw .truncated(needed: 16, available: n) }
            let length = Int(bytes.nfU16(2))
            guard length >= 16 else { throw .malformed("IPFIX message length \(length), below its 16-byte header") }
            guard length <= n else { throw .truncated(needed: length, available: n) }
            info.exportSeconds = bytes.nfU32(4)
            info.sequence = bytes.nfU32(8)
            info.domain = bytes.nfU32(12)
            headerSize = 16
            end = length
        default:
            throw .unknownVersion(info.version)
        }
        let ipfix = info.version == 10
        let key = DomainKey(
            exporter: ExporterKey(addressHigh: exporter.high, addressLow: exporter.low, domain: info.domain),
            version: info.version)
        var ctx = SetContext(
            exporter: exporter, domain: info.domain, ipfix: ipfix, exportSeconds: info.exportSeconds,
            sysUptime: info.sysUptimeMillis, receivedMicros: receivedMicros, rateOverride: 0)
        if let override = samplingOverride, let rate = override(exporter, info.domain) { ctx.rateOverride = max(rate, 1) }
        tick &+= 1
        if !pending.sets.isEmpty {
            info.templateMisses += pending.expire(now: receivedMicros, maxAge: limits.maxPendingAgeMicros)
        }

        let templateSetID: UInt16 = ipfix ? 2 : 0
        let optionsSetID: UInt16 = ipfix ? 3 : 1
        var at = headerSize
        while at < end {
            guard end - at >= 4 else {
                if !Self.allZero(bytes, at, end) { info.errors.trailingBytes += 1 }
                break
            }
            let setID = bytes.nfU16(at)
            let setLength = Int(bytes.nfU16(at + 2))
            guard setLength >= 4, setLength <= end - at else {
                // A zeroed tail is padding some v9 exporters add after the last flowset.
                if setID == 0, setLength == 0, Self.allZero(bytes, at, end) { break }
                info.errors.malformedSets += 1
                info.dataRecordsExact = false
                break
            }
            let body = at + 4
            let bodyEnd = at + setLength
            if setID >= 256 {
                dataSet(bytes, setID, body, bodyEnd, key, ctx, &info, emit)
            } else if setID == templateSetID {
                templateSet(bytes, body, bodyEnd, key, ctx, &info, emit)
            } else if setID == optionsSetID {
                if ipfix {
                    ipfixOptionsTemplateSet(bytes, body, bodyEnd, key, ctx, &info, emit)
                } else {
                    v9OptionsTemplateSet(bytes, body, bodyEnd, key, ctx, &info, emit)
                }
            } else {
                info.errors.reservedSets += 1
            }
            at = bodyEnd
        }
        return info
    }

    static func allZero(_ b: RawSpan, _ from: Int, _ to: Int) -> Bool {
        var i = from
        while i < to {
            if b.nfU8(i) != 0 { return false }
            i += 1
        }
        return true
    }

    // MARK: Template sets

    /// v9 flowset 0 and IPFIX set 2: template records (id, field count, fields); in IPFIX a record with
    /// no fields withdraws its template, or all of the domain's templates for id 2.
    mutating func templateSet(
        _ b: RawSpan, _ from: Int, _ to: Int, _ key: DomainKey, _ ctx: SetContext, _ info: inout PacketInfo,
        _ emit: (FlowRecord) -> Void
    ) {
        var p = from
        while to - p >= 4 {
            let id = b.nfU16(p)
            let count = Int(b.nfU16(p + 2))
            if id == 0, count == 0, Self.allZero(b, p, to) { return }  // padding
            if count == 0, ctx.ipfix {
                withdraw(key, id, all: id == 2, options: false, &info)
                p += 4
                continue
            }
            guard id >= 256, count > 0 else {
                info.errors.badTemplates += 1
                return
            }
            p += 4
            guard readFields(b, &p, to, count, ipfix: ctx.ipfix) else {
                info.errors.badTemplates += 1
                removeTemplate(key, id)
                return
            }
            learn(key, id, scopeCount: 0, isOptions: false, ctx, &info, emit)
        }
    }

    /// IPFIX set 3: options template records (id, field count, scope field count, fields); a record
    /// with no fields (4 bytes) withdraws, id 3 all options templates of the domain.
    mutating func ipfixOptionsTemplateSet(
        _ b: RawSpan, _ from: Int, _ to: Int, _ key: DomainKey, _ ctx: SetContext, _ info: inout PacketInfo,
        _ emit: (FlowRecord) -> Void
    ) {
        var p = from
        while to - p >= 4 {
            let id = b.nfU16(p)
            let count = Int(b.nfU16(p + 2))
            if id == 0, count == 0, Self.allZero(b, p, to) { return }
            if count == 0 {
                withdraw(key, id, all: id == 3, options: true, &info)
                p += 4
                continue
            }
            guard id >= 256, to - p >= 6 else {
                info.errors.badTemplates += 1
                return
            }
            let scope = Int(b.nfU16(p + 4))
            p += 6
            guard readFields(b, &p, to, count, ipfix: true) else {
                info.errors.badTemplates += 1
                removeTemplate(key, id)
                return
            }
            learn(key, id, scopeCount: scope, isOptions: true, ctx, &info, emit)
        }
    }

    /// v9 flowset 1: options template records (id, scope length and option length in bytes, scope
    /// fields, option fields), each padded to 4 bytes in practice.
    mutating func v9OptionsTemplateSet(
        _ b: RawSpan, _ from: Int, _ to: Int, _ key: DomainKey, _ ctx: SetContext, _ info: inout PacketInfo,
        _ emit: (FlowRecord) -> Void
    ) {
        var p = from
        while to - p >= 6 {
            let id = b.nfU16(p)
            if id == 0, Self.allZero(b, p, to) { return }
            let scopeLength = Int(b.nfU16(p + 2))
            let optionLength = Int(b.nfU16(p + 4))
            guard id >= 256, scopeLength % 4 == 0, optionLength % 4 == 0, scopeLength + optionLength > 0 else {
                info.errors.badTemplates += 1
                return
            }
            p += 6
            guard readFields(b, &p, to, (scopeLength + optionLength) / 4, ipfix: false) else {
                info.errors.badTemplates += 1
                removeTemplate(key, id)
                return
            }
            learn(key, id, scopeCount: scopeLength / 4, isOptions: true, ctx, &info, emit)
            // Padding to the next 4-byte boundary of the set, when the exporter added it.
            let used = p - from
            if used % 4 != 0, to - p >= 4 - used % 4, Self.allZero(b, p, p + 4 - used % 4) { p += 4 - used % 4 }
        }
    }

    /// Reads `count` field specifiers at `p` into `scratch`; false when they run past `to`. Fields
    /// beyond `maxFieldsPerTemplate` are walked over but not kept (the template is then rejected).
    mutating func readFields(_ b: RawSpan, _ p: inout Int, _ to: Int, _ count: Int, ipfix: Bool) -> Bool {
        scratch.removeAll(keepingCapacity: true)
        let keep = count <= limits.maxFieldsPerTemplate
        for _ in 0..<count {
            guard to - p >= 4 else { return false }
            var id = b.nfU16(p)
            let length = b.nfU16(p + 2)
            p += 4
            var enterprise: UInt32 = 0
            if ipfix, id & 0x8000 != 0 {
                guard to - p >= 4 else { return false }
                enterprise = b.nfU32(p)
                id &= 0x7fff
                p += 4
            }
            if keep { scratch.append(TemplateField(id: id, length: length, enterprise: enterprise)) }
        }
        if !keep { scratch.removeAll(keepingCapacity: true) }
        return true
    }

    /// Stores the template in `scratch` under `id`: a refresh of the same layout only renews its age; a
    /// new layout replaces the old one (reassignment); a rejected one removes the old one too, since
    /// the data that follows will not be in the old layout. Held data sets for it are decoded now.
    mutating func learn(
        _ key: DomainKey, _ id: UInt16, scopeCount: Int, isOptions: Bool, _ ctx: SetContext,
        _ info: inout PacketInfo, _ emit: (FlowRecord) -> Void
    ) {
        tick &+= 1
        if isOptions { info.optionsTemplates += 1 } else { info.templates += 1 }
        if let ages = unchangedTemplate(key, id, scopeCount: scopeCount, isOptions: isOptions) {
            ages.template.renew(tick)
            ages.domain.renew(tick)
            return
        }
        let t: CompiledTemplate
        do {
            t = try CompiledTemplate(
                id: id, fields: scratch, scopeCount: scopeCount, isOptions: isOptions, ipfix: ctx.ipfix,
                maxFields: limits.maxFieldsPerTemplate)
        } catch {
            if isOptions { info.optionsTemplates -= 1 } else { info.templates -= 1 }
            info.errors.badTemplates += 1
            removeTemplate(key, id)
            return
        }
        t.age.renew(tick)
        insert(key, t, &info.errors)
        if !pending.sets.isEmpty { release(key, id, &info, emit) }
    }

    /// The ages of the template cached under `id` when `scratch` describes it unchanged. A function of its
    /// own so the temporaries of the lookup are gone before the caller changes anything.
    func unchangedTemplate(_ key: DomainKey, _ id: UInt16, scopeCount: Int, isOptions: Bool) -> (template: Age, domain: Age)? {
        guard let d = domains[key], let old = d.templates[id], old.isOptions == isOptions,
            Int(old.scopeCount) == scopeCount, old.fields == scratch
        else { return nil }
        return (old.age, d.age)
    }

    /// Adds or replaces a template, evicting to stay within the limits.
    mutating func insert(_ key: DomainKey, _ t: CompiledTemplate, _ errors: inout FlowErrorCounts) {
        if domains[key] == nil {
            if domains.count >= limits.maxDomains { _ = evictOldestDomain(except: key, withTemplates: false, &errors) }
            domains[key] = DomainState()
        }
        if domains[key]?.templates[t.id] == nil {
            if (domains[key]?.templates.count ?? 0) >= limits.maxTemplatesPerDomain {
                evictOldestTemplate(in: key, &errors)
            }
            while templateCount >= limits.maxTemplates {
                guard evictOldestDomain(except: key, withTemplates: true, &errors) else {
                    evictOldestTemplate(in: key, &errors)
                    break
                }
            }
            templateCount += 1
        }
        domains[key]?.templates[t.id] = t
        domains[key]?.age.renew(tick)
    }

    @discardableResult
    mutating func removeTemplate(_ key: DomainKey, _ id: UInt16) -> Bool {
        guard domains[key]?.templates.removeValue(forKey: id) != nil else { return false }
        templateCount -= 1
        return true
    }

    mutating func evictOldestTemplate(in key: DomainKey, _ errors: inout FlowErrorCounts) {
        guard let templates = domains[key]?.templates,
            let oldest = templates.min(by: { $0.value.age.value < $1.value.age.value })
        else { return }
        removeTemplate(key, oldest.key)
        errors.templateEvictions += 1
    }

    /// Drops the least recently changed domain other than `key` (and holding templates, when asked) with
    /// all it holds; false when there is none.
    mutating func evictOldestDomain(
        except key: DomainKey, withTemplates: Bool, _ errors: inout FlowErrorCounts
    ) -> Bool {
        var victim: DomainKey?
        var oldest = UInt64.max
        for (k, d) in domains where k != key && d.age.value <= oldest && (!withTemplates || !d.templates.isEmpty) {
            victim = k
            oldest = d.age.value
        }
        guard let v = victim, let d = domains.removeValue(forKey: v) else { return false }
        templateCount -= d.templates.count
        errors.templateEvictions += d.templates.count
        return true
    }

    /// An IPFIX withdrawal: one template, or all (options) templates of the domain.
    mutating func withdraw(_ key: DomainKey, _ id: UInt16, all: Bool, options: Bool, _ info: inout PacketInfo) {
        if all {
            guard let templates = domains[key]?.templates else {
                info.withdrawals += 1
                return
            }
            for (tid, t) in templates where t.isOptions == options { removeTemplate(key, tid) }
            info.withdrawals += 1
        } else if id >= 256 {
            if removeTemplate(key, id) { info.withdrawals += 1 } else { info.errors.unknownWithdrawals += 1 }
        } else {
            info.errors.badTemplates += 1
        }
    }

    // MARK: Data sets

    /// A data set: decoded with its template, or held until the template comes.
    mutating func dataSet(
        _ b: RawSpan, _ id: UInt16, _ from: Int, _ to: Int, _ key: DomainKey, _ ctx: SetContext,
        _ info: inout PacketInfo, _ emit: (FlowRecord) -> Void
    ) {
        guard let t = domains[key]?.templates[id] else {
            info.dataRecordsExact = false
            if hold(b, id, from, to, key, ctx, &info) { info.pendingHeld += 1 } else { info.templateMisses += 1 }
            return
        }
        if t.isOptions {
            optionsRecords(b, from, to, t, key, ctx, &info)
        } else {
            dataRecords(b, from, to, t, key, ctx, &info, emit)
        }
    }

    /// The hot path: every record of a data set, through the template's fixed layout when it has one,
    /// else its ops.
    func dataRecords(
        _ b: RawSpan, _ from: Int, _ to: Int, _ t: CompiledTemplate, _ key: DomainKey, _ ctx: SetContext,
        _ info: inout PacketInfo, _ emit: (FlowRecord) -> Void
    ) {
        precondition(from >= 8, "records must not start in the first 8 bytes")
        let domain = domains[key]
        t.age.renew(tick)
        domain?.age.renew(tick)
        var finish = RecordFinisher(t, ctx, domain)
        var p = from
        var n = 0
        let minLength = t.minLength
        // Three loops rather than one with a branch inside: binding the layout per record copied it.
        if let layout = t.layout {
            while to - p >= minLength {
                var r = finish.base
                var x = RecordExtras()
                layout.decode(b, p, &r, &x)
                p += minLength
                finish.finish(&r, x)
                emit(r)
                n += 1
            }
        } else if t.variable {
            while to - p >= minLength {
                var r = finish.base
                var x = RecordExtras()
                guard let next = Self.variableRecord(b, p, to, t.ops, &r, &x) else {
                    info.errors.shortRecords += 1
                    info.dataRecordsExact = false
                    break
                }
                p = next
                finish.finish(&r, x)
                emit(r)
                n += 1
            }
        } else {
            while to - p >= minLength {
                var r = finish.base
                var x = RecordExtras()
                for op in t.ops { applyOp(op, b, p, &r, &x) }
                p += minLength
                finish.finish(&r, x)
                emit(r)
                n += 1
            }
        }
        info.records += n
        info.dataRecords += n
    }

    /// Options data records: sampling rates (per sampler id, or for the whole domain) and the system
    /// init time are remembered; anything else is counted and dropped.
    mutating func optionsRecords(
        _ b: RawSpan, _ from: Int, _ to: Int, _ t: CompiledTemplate, _ key: DomainKey, _ ctx: SetContext,
        _ info: inout PacketInfo
    ) {
        precondition(from >= 8, "records must not start in the first 8 bytes")
        var p = from
        var n = 0
        while to - p >= t.minLength {
            var r = FlowRecord()
            var x = RecordExtras()
            if t.variable {
                guard let next = Self.variableRecord(b, p, to, t.ops, &r, &x) else {
                    info.errors.shortRecords += 1
                    info.dataRecordsExact = false
                    break
                }
                p = next
            } else {
                for op in t.ops { applyOp(op, b, p, &r, &x) }
                p += t.minLength
            }
            n += 1
            // Written only when they change: options data repeats every minute or so, and writing
            // through the dictionaries allocates.
            if let rate = x.rate {
                if t.refersToSampler {
                    let known = domains[key]?.samplers[x.samplerID]
                    if known != rate, known != nil || (domains[key]?.samplers.count ?? 0) < limits.maxSamplersPerDomain {
                        domains[key]?.samplers[x.samplerID] = rate
                    }
                } else if domains[key]?.domainRate != rate {
                    domains[key]?.domainRate = rate
                }
            }
            if x.sysInitMillis != 0, domains[key]?.sysInitMillis != x.sysInitMillis {
                domains[key]?.sysInitMillis = x.sysInitMillis
            }
        }
        info.optionsRecords += n
        info.dataRecords += n
    }

    /// One record of a template with variable-length fields, walking field by field; the offset after
    /// it, or nil when it runs past `end`.
    @inline(__always)
    static func variableRecord(
        _ b: RawSpan, _ start: Int, _ end: Int, _ ops: [FieldOp], _ r: inout FlowRecord, _ x: inout RecordExtras
    ) -> Int? {
        var p = start
        for op in ops {
            var length = Int(op.length)
            if op.length == variableLength {
                // RFC 7011 §7: one length byte, or 255 and then two.
                guard p < end else { return nil }
                length = Int(b.nfU8(p))
                p += 1
                if length == 255 {
                    guard end - p >= 2 else { return nil }
                    length = Int(b.nfU16(p))
                    p += 2
                }
            }
            guard end - p >= length else { return nil }
            if op.kind != .skip, op.kind.accepts(length: length) { applyField(op.kind, b, p, length, &r, &x) }
            p += length
        }
        return p
    }

    /// v9: export time − (header uptime − field), the difference taken as a signed 32-bit number so an
    /// uptime wrap and a field a little after the header's uptime both come out right. IPFIX: system
    /// init time (from the record or options data) + field; 0 when the init time is not known.
    @inline(__always)
    static func uptimeMicros(_ raw: UInt64, _ ctx: SetContext, _ sysInit: UInt64) -> Int64 {
        if !ctx.ipfix {
            let behind = Int64(Int32(bitPattern: ctx.sysUptime &- UInt32(truncatingIfNeeded: raw)))
            return (Int64(ctx.exportSeconds) * 1000 - behind) * 1000
        }
        guard sysInit != 0 else { return 0 }
        return Int64(truncatingIfNeeded: sysInit &+ raw) &* 1000
    }

    // MARK: Held data sets

    /// Keeps a copy of a data set whose template is unknown, within the pending limits (evicting this
    /// domain's oldest, then the overall oldest, each a template miss). False when it cannot be held.
    mutating func hold(
        _ b: RawSpan, _ id: UInt16, _ from: Int, _ to: Int, _ key: DomainKey, _ ctx: SetContext,
        _ info: inout PacketInfo
    ) -> Bool {
        let cost = to - from + PendingSets.overhead
        guard limits.maxPendingSetsPerDomain > 0, limits.maxPendingSets > 0, cost <= limits.maxPendingBytesPerDomain,
            cost <= limits.maxPendingBytes, info.pendingHeld < limits.maxPendingSetsPerPacket
        else { return false }
        while true {
            var count = 0
            var bytes = 0
            var oldest = -1
            for (i, s) in pending.sets.enumerated() where s.key == key {
                if oldest < 0 { oldest = i }
                count += 1
                bytes += s.cost
            }
            if count < limits.maxPendingSetsPerDomain, bytes + cost <= limits.maxPendingBytesPerDomain { break }
            pending.remove(at: oldest)
            info.templateMisses += 1
        }
        while pending.bytes + cost > limits.maxPendingBytes || pending.sets.count >= limits.maxPendingSets {
            pending.remove(at: 0)
            info.templateMisses += 1
        }
        // Zeros in front, so the records do not start in the first 8 bytes (see FieldOp.mask).
        var body = [UInt8](repeating: 0, count: PendingSet.prefix)
        body.reserveCapacity(PendingSet.prefix + to - from)
        for i in from..<to { body.append(b.nfU8(i)) }
        pending.append(PendingSet(key: key, templateID: id, context: ctx, body: body))
        return true
    }

    /// Decodes the held data sets of a template that just arrived, oldest first.
    mutating func release(_ key: DomainKey, _ id: UInt16, _ info: inout PacketInfo, _ emit: (FlowRecord) -> Void) {
        var i = 0
        while i < pending.sets.count {
            guard pending.sets[i].key == key, pending.sets[i].templateID == id else {
                i += 1
                continue
            }
            let held = pending.remove(at: i)
            guard let t = domains[key]?.templates[id] else { return }
            // Their records are not this packet's data records: count them apart.
            var sub = PacketInfo()
            let body = held.body.span.bytes
            if t.isOptions {
                optionsRecords(body, PendingSet.prefix, body.byteCount, t, key, held.context, &sub)
            } else {
                dataRecords(body, PendingSet.prefix, body.byteCount, t, key, held.context, &sub, emit)
            }
            info.records += sub.records
            info.pendingReleased += sub.records
            info.optionsRecords += sub.optionsRecords
            info.errors.add(sub.errors)
        }
    }
}

/// A data set waiting for its template.
struct PendingSet: Sendable {
    var key: DomainKey
    var templateID: UInt16
    var context: SetContext
    /// The set's bytes after `prefix` zeros.
    var body: [UInt8]

    static let prefix = 8
    var cost: Int { body.count - Self.prefix + PendingSets.overhead }
}

/// Held data sets in arrival order.
struct PendingSets: Sendable {
    /// What a held set costs besides its bytes, so empty sets still count against the byte bounds.
    static let overhead = 64

    var sets: [PendingSet] = []
    var bytes = 0

    mutating func append(_ s: PendingSet) {
        bytes += s.cost
        sets.append(s)
    }

    @discardableResult
    mutating func remove(at i: Int) -> PendingSet {
        let s = sets.remove(at: i)
        bytes -= s.cost
        return s
    }

    /// Drops sets held longer than `maxAge`; returns how many.
    mutating func expire(now: Int64, maxAge: Int64) -> Int {
        var n = 0
        while let first = sets.first, now &- first.context.receivedMicros > maxAge {
            remove(at: 0)
            n += 1
        }
        return n
    }
}

/// What every data record of a set gets after its fields: the header's values, times made absolute,
/// and the sampling rate (caller's override, the record's own interval, its sampler's rate from
/// options data, or the domain's), with the last sampler looked up cached so a set costs one lookup.
struct RecordFinisher {
    var base = FlowRecord()
    let template: (startMode: TimeMode, endMode: TimeMode, carriesRate: Bool, refersToSampler: Bool)
    let context: SetContext
    let samplers: [UInt64: UInt32]
    let domainRate: UInt32
    let domainSysInit: UInt64
    let timesByRecord: Bool
    let rateByRecord: Bool
    var samplerCached = false
    var cachedSampler: UInt64 = 0
    var cachedRate: UInt32

    init(_ t: CompiledTemplate, _ ctx: SetContext, _ domain: DomainState?) {
        domainRate = max(domain?.domainRate ?? 0, 1)
        domainSysInit = domain?.sysInitMillis ?? 0
        samplers = domain?.samplers ?? [:]
        template = (t.startMode, t.endMode, t.carriesRate, t.refersToSampler)
        context = ctx
        base.receivedMicros = ctx.receivedMicros
        base.exporter = ctx.exporter
        base.observationDomain = ctx.domain
        base.source = ctx.ipfix ? .ipfix : .netflow9
        base.samplingRate = ctx.rateOverride != 0 ? ctx.rateOverride : domainRate
        rateByRecord = ctx.rateOverride == 0 && (t.carriesRate || t.refersToSampler)
        timesByRecord = t.startMode.rawValue >= TimeMode.uptime.rawValue || t.endMode.rawValue >= TimeMode.uptime.rawValue
        cachedRate = domainRate
    }

    @inline(__always)
    mutating func finish(_ r: inout FlowRecord, _ x: RecordExtras) {
        if timesByRecord {
            let sysInit = x.sysInitMillis != 0 ? x.sysInitMillis : domainSysInit
            switch template.startMode {
            case .uptime: r.startMicros = TemplateDecoder.uptimeMicros(x.startRaw, context, sysInit)
            case .delta: r.startMicros = Int64(context.exportSeconds) * 1_000_000 &- Int64(truncatingIfNeeded: x.startRaw)
            default: break
            }
            switch template.endMode {
            case .uptime: r.endMicros = TemplateDecoder.uptimeMicros(x.endRaw, context, sysInit)
            case .delta: r.endMicros = Int64(context.exportSeconds) * 1_000_000 &- Int64(truncatingIfNeeded: x.endRaw)
            default: break
            }
        }
        guard rateByRecord else { return }
        if template.carriesRate, let rate = x.rate {
            r.samplingRate = rate
        } else if template.refersToSampler {
            if !samplerCached || x.samplerID != cachedSampler {
                samplerCached = true
                cachedSampler = x.samplerID
                cachedRate = samplers[x.samplerID] ?? domainRate
            }
            r.samplingRate = cachedRate
        }
    }
}
