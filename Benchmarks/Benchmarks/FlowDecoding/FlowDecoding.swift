// Decoding export packets, the flow collector's per-packet hot path: throughput and mallocs. Each scaled
// iteration decodes one realistic data packet (the template, for v9 and IPFIX, was learned before the
// measurement); records per second are packets per second × the records per packet in the name. In
// steady state a data packet must cost zero allocations.
import Benchmark
import Flow

/// Big-endian packet building for the fixtures below.
struct Writer {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xff)] }
    mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xffff)) }
    mutating func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(v & 0xffff_ffff)) }
    mutating func set(_ id: UInt16, _ body: [UInt8]) {
        u16(id)
        u16(UInt16(body.count + 4))
        bytes += body
    }
}

/// NetFlow v5, 30 records of varied 5-tuples.
func v5Packet() -> [UInt8] {
    var w = Writer()
    w.u16(5); w.u16(30); w.u32(3_600_000); w.u32(1_700_000_000); w.u32(0); w.u32(1); w.u16(0); w.u16(0)
    for i in 0..<UInt32(30) {
        w.u32(0x0A00_0000 + i); w.u32(0xC0A8_0000 + i * 7); w.u32(0x0A00_00FE)
        w.u16(UInt16(i % 8)); w.u16(UInt16(i % 5))
        w.u32(10 + i); w.u32(1500 * (10 + i)); w.u32(3_590_000 + i); w.u32(3_599_000 + i)
        w.u16(UInt16(1024 + i)); w.u16(443); w.u8(0); w.u8(0x18); w.u8(6); w.u8(0)
        w.u16(65000); w.u16(UInt16(64512 + i)); w.u8(24); w.u8(24); w.u16(0)
    }
    return w.bytes
}

/// The common template: 5-tuple, TOS, TCP flags, interfaces, counters, start/end, next hop, AS
/// numbers, direction. v9 with 4-byte counters and uptime times (52-byte records), IPFIX with 8-byte
/// counters and ms times (60-byte records).
let v9Fields: [(UInt16, UInt16)] = [
    (8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (5, 1), (6, 1), (10, 4), (14, 4), (1, 4), (2, 4), (22, 4), (21, 4),
    (15, 4), (16, 4), (17, 4), (61, 1),
]
let ipfixFields: [(UInt16, UInt16)] = [
    (8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (5, 1), (6, 1), (10, 4), (14, 4), (1, 8), (2, 8), (152, 8), (153, 8),
    (15, 4), (61, 1),
]

func template(_ id: UInt16, _ fields: [(UInt16, UInt16)]) -> [UInt8] {
    var w = Writer()
    w.u16(id)
    w.u16(UInt16(fields.count))
    for (t, l) in fields { w.u16(t); w.u16(l) }
    return w.bytes
}

func records(_ fields: [(UInt16, UInt16)], _ n: Int) -> [UInt8] {
    var w = Writer()
    for i in 0..<UInt64(n) {
        for (t, l) in fields {
            let v: UInt64
            switch t {
            case 8: v = 0x0A00_0000 + i
            case 12: v = 0xC0A8_0000 + i * 7
            case 7: v = 1024 + i
            case 11: v = 443
            case 4: v = 6
            case 1: v = 1500 * (10 + i)
            case 2: v = 10 + i
            case 22: v = 3_590_000 + i
            case 21: v = 3_599_000 + i
            case 152: v = 1_699_999_990_000 + i
            case 153: v = 1_699_999_999_000 + i
            default: v = i % 8
            }
            for b in stride(from: Int(l) - 1, through: 0, by: -1) { w.u8(UInt8(truncatingIfNeeded: v >> (8 * UInt64(b)))) }
        }
    }
    return w.bytes
}

func v9Header(_ sets: [UInt8], count: UInt16) -> [UInt8] {
    var w = Writer()
    w.u16(9); w.u16(count); w.u32(3_600_000); w.u32(1_700_000_000); w.u32(0); w.u32(1)
    return w.bytes + sets
}

func ipfixHeader(_ sets: [UInt8]) -> [UInt8] {
    var w = Writer()
    w.u16(10); w.u16(UInt16(16 + sets.count)); w.u32(1_700_000_000); w.u32(0); w.u32(1)
    return w.bytes + sets
}

let v9Records = 25
let ipfixRecords = 24

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    let exporter = FlowIP(v4: 0xC000_0201)

    Benchmark("NetFlow v5 decode (30 records/packet)") { benchmark in
        let packet = v5Packet()
        let decoder = NetFlowV5Decoder()
        var sum: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let info = try! decoder.decode(packet.span.bytes, exporter: exporter, receivedMicros: 1) { sum &+= $0.bytes }
            precondition(info.records == 30)
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }

    Benchmark("NetFlow v9 decode (25 records/packet)") { benchmark in
        var decoder = TemplateDecoder()
        var t = Writer()
        t.set(0, template(256, v9Fields))
        _ = try! decoder.decode(v9Header(t.bytes, count: 1).span.bytes, exporter: exporter, receivedMicros: 0) { _ in }
        var d = Writer()
        d.set(256, records(v9Fields, v9Records))
        let packet = v9Header(d.bytes, count: UInt16(v9Records))
        var sum: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let info = try! decoder.decode(packet.span.bytes, exporter: exporter, receivedMicros: 1) { sum &+= $0.bytes }
            precondition(info.records == v9Records)
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }

    // Exporters resend templates every few packets or minutes: a resent, unchanged template must not
    // allocate either (it is compared with the cached one and only its age renewed).
    Benchmark("IPFIX template refresh + decode (24 records/packet)") { benchmark in
        var decoder = TemplateDecoder()
        var d = Writer()
        d.set(2, template(300, ipfixFields))
        d.set(300, records(ipfixFields, ipfixRecords))
        let packet = ipfixHeader(d.bytes)
        _ = try! decoder.decode(packet.span.bytes, exporter: exporter, receivedMicros: 0) { _ in }
        var sum: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let info = try! decoder.decode(packet.span.bytes, exporter: exporter, receivedMicros: 1) { sum &+= $0.bytes }
            precondition(info.records == ipfixRecords && info.templates == 1)
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }

    Benchmark("IPFIX decode (24 records/packet)") { benchmark in
        var decoder = TemplateDecoder()
        var t = Writer()
        t.set(2, template(300, ipfixFields))
        _ = try! decoder.decode(ipfixHeader(t.bytes).span.bytes, exporter: exporter, receivedMicros: 0) { _ in }
        var d = Writer()
        d.set(300, records(ipfixFields, ipfixRecords))
        let packet = ipfixHeader(d.bytes)
        var sum: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let info = try! decoder.decode(packet.span.bytes, exporter: exporter, receivedMicros: 1) { sum &+= $0.bytes }
            precondition(info.records == ipfixRecords)
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }
}
