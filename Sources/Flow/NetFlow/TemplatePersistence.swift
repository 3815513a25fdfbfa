// Saving and loading what the template decoder has learned (templates, sampling rates, system init
// times) so a collector restart does not lose every exporter's templates until they are resent.
//
// Format, big-endian: "SOTPNFT1", domain count (u32), then per domain: address high, low (u64), domain
// (u32), version (u16), domain sampling rate (u32), system init ms (u64), sampler count (u32) and per
// sampler id (u64) + rate (u32), template count (u32) and per template: id (u16), options flag (u8),
// scope field count (u16), field count (u16) and per field: id (u16), length (u16), enterprise (u32).

extension TemplateDecoder {
    static let stateMagic: [UInt8] = Array("SOTPNFT1".utf8)

    /// Everything the decoder learned from exporters, as bytes for `loadState` (held data sets are not
    /// included). Deterministic: the same state gives the same bytes.
    public func serializedState() -> [UInt8] {
        var out = Self.stateMagic
        func u8(_ v: UInt8) { out.append(v) }
        func u16(_ v: UInt16) { out += [UInt8(v >> 8), UInt8(v & 0xff)] }
        func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xffff)) }
        func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(v & 0xffff_ffff)) }

        let keys = domains.keys.sorted {
            ($0.version, $0.exporter.addressHigh, $0.exporter.addressLow, $0.exporter.domain)
                < ($1.version, $1.exporter.addressHigh, $1.exporter.addressLow, $1.exporter.domain)
        }
        u32(UInt32(keys.count))
        for key in keys {
            let d = domains[key]!
            u64(key.exporter.addressHigh)
            u64(key.exporter.addressLow)
            u32(key.exporter.domain)
            u16(key.version)
            u32(d.domainRate)
            u64(d.sysInitMillis)
            u32(UInt32(d.samplers.count))
            for (id, rate) in d.samplers.sorted(by: { $0.key < $1.key }) {
                u64(id)
                u32(rate)
            }
            u32(UInt32(d.templates.count))
            for (_, t) in d.templates.sorted(by: { $0.key < $1.key }) {
                u16(t.id)
                u8(t.isOptions ? 1 : 0)
                u16(t.scopeCount)
                u16(UInt16(t.fields.count))
                for f in t.fields {
                    u16(f.id)
                    u16(f.length)
                    u32(f.enterprise)
                }
            }
        }
        return out
    }

    /// Loads what `serializedState` wrote, adding to (and replacing what it names in) the current state,
    /// within this decoder's limits. Returns the number of templates loaded.
    /// - Throws: `.truncated` when the bytes end early, `.malformed` for a wrong magic, a version other
    ///   than 9 or 10, or a template this decoder would reject. Nothing is changed then.
    public mutating func loadState(_ bytes: RawSpan) throws(FlowDecodeError) -> Int {
        var at = 0
        func need(_ n: Int) throws(FlowDecodeError) {
            guard bytes.byteCount - at >= n else { throw .truncated(needed: at + n, available: bytes.byteCount) }
        }
        func u8() throws(FlowDecodeError) -> UInt8 { try need(1); defer { at += 1 }; return bytes.nfU8(at) }
        func u16() throws(FlowDecodeError) -> UInt16 { try need(2); defer { at += 2 }; return bytes.nfU16(at) }
        func u32() throws(FlowDecodeError) -> UInt32 { try need(4); defer { at += 4 }; return bytes.nfU32(at) }
        func u64() throws(FlowDecodeError) -> UInt64 { try need(8); defer { at += 8 }; return bytes.nfU64(at) }

        try need(Self.stateMagic.count)
        for (i, m) in Self.stateMagic.enumerated() where bytes.nfU8(i) != m {
            throw .malformed("template state does not start with SOTPNFT1")
        }
        at = Self.stateMagic.count

        // Parse everything first, so bad input leaves the decoder as it was.
        var loaded: [(DomainKey, DomainState)] = []
        let domainCount = try u32()
        for _ in 0..<domainCount {
            let high = try u64(), low = try u64(), domain = try u32(), version = try u16()
            guard version == 9 || version == 10 else { throw .malformed("template state: version \(version)") }
            let key = DomainKey(exporter: ExporterKey(addressHigh: high, addressLow: low, domain: domain), version: version)
            var state = DomainState()
            state.domainRate = try u32()
            state.sysInitMillis = try u64()
            let samplerCount = try u32()
            for _ in 0..<samplerCount {
                let id = try u64()
                state.samplers[id] = try u32()
            }
            let templateCount = try u32()
            for _ in 0..<templateCount {
                let id = try u16()
                let isOptions = try u8() != 0
                let scopeCount = Int(try u16())
                let fieldCount = Int(try u16())
                try need(fieldCount * 8)
                var fields: [TemplateField] = []
                fields.reserveCapacity(fieldCount)
                for _ in 0..<fieldCount {
                    fields.append(TemplateField(id: try u16(), length: try u16(), enterprise: try u32()))
                }
                guard id >= 256 else { throw .malformed("template state: template id \(id)") }
                do {
                    state.templates[id] = try CompiledTemplate(
                        id: id, fields: fields, scopeCount: scopeCount, isOptions: isOptions, ipfix: version == 10,
                        maxFields: limits.maxFieldsPerTemplate)
                } catch {
                    throw .malformed("template state: template \(id) rejected (\(error))")
                }
            }
            loaded.append((key, state))
        }
        guard at == bytes.byteCount else { throw .malformed("template state: \(bytes.byteCount - at) bytes after the end") }

        var count = 0
        var errors = FlowErrorCounts()
        for (key, state) in loaded {
            for (_, t) in state.templates.sorted(by: { $0.key < $1.key }) {
                tick &+= 1
                t.age.renew(tick)
                insert(key, t, &errors)
                count += 1
            }
            if domains[key] == nil {
                if domains.count >= limits.maxDomains { _ = evictOldestDomain(except: key, withTemplates: false, &errors) }
                domains[key] = DomainState()
            }
            for (id, rate) in state.samplers
            where (domains[key]?.samplers.count ?? 0) < limits.maxSamplersPerDomain || domains[key]?.samplers[id] != nil {
                domains[key]?.samplers[id] = rate
            }
            if state.domainRate != 0 { domains[key]?.domainRate = state.domainRate }
            if state.sysInitMillis != 0 { domains[key]?.sysInitMillis = state.sysInitMillis }
        }
        return count
    }
}
