// Every COPY encoder round-trips through the real TimescaleDB: encode, COPY ... (FORMAT binary), then
// SELECT the value as text and compare with what PostgreSQL prints for it. NULLs, extremes, IPv6,
// non-ASCII and empty values included.
@testable import Sink
import Testing
import TestSupport

struct EncoderCase: Sendable, CustomTestStringConvertible {
    var sqlType: String
    /// (encoder, expected text output or nil for NULL)
    var values: [(@Sendable (inout CopyBuffer) -> Void, String?)]
    var testDescription: String { sqlType }
}


let encoderCases: [EncoderCase] = [
    EncoderCase(sqlType: "bool", values: [({ $0.bool(true) }, "t"), ({ $0.bool(false) }, "f"), ({ $0.null() }, nil)]),
    EncoderCase(sqlType: "int2", values: [
        ({ $0.int2(.min) }, "-32768"), ({ $0.int2(.max) }, "32767"), ({ $0.int2(0) }, "0"), ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "int4", values: [
        ({ $0.int4(.min) }, "-2147483648"), ({ $0.int4(.max) }, "2147483647"), ({ $0.int4(-1) }, "-1"), ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "int8", values: [
        ({ $0.int8(.min) }, "-9223372036854775808"), ({ $0.int8(.max) }, "9223372036854775807"), ({ $0.int8(42) }, "42"),
        ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "float4", values: [
        ({ $0.float4(.greatestFiniteMagnitude) }, "3.4028235e+38"), ({ $0.float4(-.infinity) }, "-Infinity"),
        ({ $0.float4(.nan) }, "NaN"), ({ $0.float4(1.5) }, "1.5"), ({ $0.float4(-0.0) }, "-0"), ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "float8", values: [
        ({ $0.float8(.greatestFiniteMagnitude) }, "1.7976931348623157e+308"), ({ $0.float8(.leastNonzeroMagnitude) }, "5e-324"),
        ({ $0.float8(.infinity) }, "Infinity"), ({ $0.float8(0.1) }, "0.1"), ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "text", values: [
        ({ $0.text("") }, ""), ({ $0.text("héllo wörld ✓ 日本語 🚀") }, "héllo wörld ✓ 日本語 🚀"),
        ({ $0.text("quote ' \" \\ tab\tnewline\n") }, "quote ' \" \\ tab\tnewline\n"),
        ({ $0.text(utf8: Array("bytes ✓".utf8)) }, "bytes ✓"), ({ $0.text(String(repeating: "0123456789abcdef", count: 8192)) }, String(repeating: "0123456789abcdef", count: 8192)), ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "bytea", values: [
        ({ $0.bytea([UInt8]()) }, "\\x"), ({ $0.bytea([0, 1, 0xFE, 0xFF]) }, "\\x0001feff"), ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "inet", values: [
        ({ $0.inet(ipv4: 0x7F00_0001) }, "127.0.0.1"), ({ $0.inet(ipv4: 0xFFFF_FFFF) }, "255.255.255.255"),
        ({ $0.inet(ipv4: 0x0A00_0000, prefix: 8) }, "10.0.0.0/8"), ({ $0.inet(ipv4: 0) }, "0.0.0.0"),
        ({ $0.inet(ipv6High: 0, low: 1) }, "::1"), ({ $0.inet(ipv6High: 0x2001_0db8_0000_0000, low: 1) }, "2001:db8::1"),
        ({ $0.inet(ipv6High: 0, low: 0x0000_FFFF_0102_0304) }, "::ffff:1.2.3.4"),
        ({ $0.inet(ipv6High: 0xFE80_0000_0000_0000, low: 0, prefix: 10) }, "fe80::/10"),
        ({ $0.inet(ipv6High: .max, low: .max) }, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ({ $0.inet(bytes: [192, 0, 2, 7]) }, "192.0.2.7"),
        ({ $0.inet(bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [9]) }, "2001:db8::9"),
        ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "macaddr", values: [
        ({ $0.macaddr(0x0011_2233_4455) }, "00:11:22:33:44:55"), ({ $0.macaddr(0xFFFF_FFFF_FFFF) }, "ff:ff:ff:ff:ff:ff"),
        ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "timestamptz", values: [
        ({ $0.timestamptz(unixMicros: 0) }, "1970-01-01 00:00:00+00"),
        ({ $0.timestamptz(unixMicros: 946_684_800_000_000) }, "2000-01-01 00:00:00+00"),
        ({ $0.timestamptz(unixMicros: 1_700_000_000_123_456) }, "2023-11-14 22:13:20.123456+00"),
        ({ $0.timestamptz(unixMicros: -1) }, "1969-12-31 23:59:59.999999+00"),
        ({ $0.timestamptz(unixMicros: .max) }, "infinity"), ({ $0.timestamptz(unixMicros: .min) }, "-infinity"),
        ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "jsonb", values: [
        ({ $0.jsonb(#"{"a": [1, 2, null], "ü": "✓"}"#) }, #"{"a": [1, 2, null], "ü": "✓"}"#), ({ $0.jsonb("[]") }, "[]"),
        ({ $0.jsonb(#""""#) }, #""""#), ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "uuid", values: [
        ({ $0.uuid(high: 0x123e_4567_e89b_12d3, low: 0xa456_4266_1417_4000) }, "123e4567-e89b-12d3-a456-426614174000"),
        ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "int8[]", values: [
        ({ $0.int8Array([1, nil, .min]) }, "{1,NULL,-9223372036854775808}"), ({ $0.int8Array([]) }, "{}"), ({ $0.null() }, nil),
    ]),
    EncoderCase(sqlType: "int2[]", values: [
        ({ $0.array(of: .int2, count: 3) { a in a.int2(1); a.null(); a.int2(.min) } }, "{1,NULL,-32768}"),
    ]),
    EncoderCase(sqlType: "int4[]", values: [({ $0.int4Array([.max, 0]) }, "{2147483647,0}")]),
    EncoderCase(sqlType: "float8[]", values: [({ $0.float8Array([0.5, nil]) }, "{0.5,NULL}")]),
    EncoderCase(sqlType: "text[]", values: [
        ({ $0.textArray(["a b", nil, "", "ü"]) }, #"{"a b",NULL,"",ü}"#), ({ $0.textArray([]) }, "{}"),
    ]),
]

@Suite("COPY encoders round-trip through TimescaleDB")
struct CopyBufferTests {
    @Test(arguments: encoderCases)
    func roundTrip(_ c: EncoderCase) throws {
        let conn = try TestDB.connect()
        let table = TestDB.uniqueName("enc")
        try conn.execute("CREATE TABLE \(table) (i int4 NOT NULL, v \(c.sqlType))")
        defer { try? conn.execute("DROP TABLE \(table)") }
        var buf = CopyBuffer()
        for (i, (encode, _)) in c.values.enumerated() {
            buf.beginRow(fields: 2)
            buf.int4(Int32(i))
            encode(&buf)
            #expect(buf.fieldsInRow == 2)
        }
        try conn.execute("BEGIN")
        try conn.copyBinary("COPY \(table) (i, v) FROM STDIN (FORMAT binary)", tuples: buf.bytes[...])
        try conn.execute("COMMIT")
        try conn.execute("SET TimeZone = 'UTC'")
        let rows = try conn.query("SELECT v FROM \(table) ORDER BY i")  // the type's own text output
        #expect(rows.count == c.values.count)
        for (i, row) in rows.enumerated() {
            #expect(row[0] == c.values[i].1, "row \(i) of \(c.sqlType)")
        }
    }

    @Test func everyColumnTypeHasACase() {
        let covered = Set(encoderCases.map(\.sqlType))
        for t in ColumnType.allCases {
            #expect(covered.contains(t.rawValue), "no round-trip case for \(t.rawValue)")
        }
    }

    @Test func tupleRangesSplitEncodedRows() {
        var buf = CopyBuffer()
        for i in 0..<5 {
            buf.beginRow(fields: 2)
            buf.int8(Int64(i))
            if i % 2 == 0 { buf.text(String(repeating: "x", count: i)) } else { buf.null() }
        }
        let ranges = tupleRanges(buf.bytes)
        #expect(ranges?.count == 5)
        #expect(ranges?.last?.upperBound == buf.bytes.count)
        // Truncating anywhere inside the last tuple makes it unparseable, never a crash.
        for cut in (ranges![4].lowerBound + 1)..<buf.bytes.count {
            #expect(tupleRanges(Array(buf.bytes[..<cut])) == nil)
        }
    }
}
