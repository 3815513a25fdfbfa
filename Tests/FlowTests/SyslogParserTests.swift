// SyslogParser and its helpers piece by piece: PRI, RFC 5424 fields, NILVALUE, structured data and its
// JSON, timestamps and civil-date arithmetic (checked against Foundation), year resolution, zones, the
// text sanitizer, and truncation at every offset and random bytes never crashing.
import Foundation
import Testing

@testable import Flow

@Suite("SyslogParser")
struct SyslogParserTests {
    // MARK: PRI

    @Test(arguments: [
        ("<0>x", 0, 0), ("<13>x", 1, 5), ("<191>x", 23, 7), ("<013>x", 1, 5), ("<34>x", 4, 2),
    ])
    func validPRI(text: String, facility: Int, severity: Int) {
        let f = parseFields(text)
        #expect(f.facility == facility && f.severity == severity)
        #expect(f.status == .rfc3164NoTimestamp && f.msg == "x")
    }

    @Test(arguments: ["<192>x", "<1000>x", "<>x", "<a>x", "<13", "13>x", "<-1>x", " <13>x"])
    func invalidPRIIsUnparsed(text: String) {
        let f = parseFields(text)
        #expect(f.status == .unparsed && f.facility == nil && f.severity == nil)
        #expect(f.msg == text)  // only trailing space, CR, LF and NUL are trimmed
    }

    // MARK: RFC 5424

    @Test func rfc5424AllFields() {
        let f = parseFields(#"<165>1 2026-11-22T06:00:00.123456+01:00 host.example app 42 MSG7 [a@1 k="v"] hello"#)
        var e = SyslogFields(status: .rfc5424, facility: 20, severity: 5)
        e.time = utcMicros(2026, 11, 22, 5, 0, 0, micros: 123_456)
        e.zoneFromMessage = true
        e.host = "host.example"; e.app = "app"; e.pid = "42"; e.msgid = "MSG7"
        e.sd = #"[a@1 k="v"]"#; e.msg = "hello"
        #expect(f == e)
    }

    @Test func rfc5424NilValueEverywhere() {
        let f = parseFields("<14>1 - - - - - -")
        #expect(f == SyslogFields(status: .rfc5424, facility: 1, severity: 6))
        let g = parseFields("<14>1 - - - - - - text")
        #expect(g.status == .rfc5424 && g.msg == "text" && g.time == nil)
    }

    @Test func rfc5424BOMIsLeftOutOfTheMessage() {
        let (m, f) = parseFields(syslogBytes("<14>1 - h a - - - ") + [0xEF, 0xBB, 0xBF] + syslogBytes("héllo"))
        #expect(f.msg == "héllo" && f.clean && m.message.count == 6)
        // A BOM and nothing else is an empty message.
        #expect(parseFields(syslogBytes("<14>1 - h a - - - ") + [0xEF, 0xBB, 0xBF]).1.msg == "")
    }

    @Test(arguments: [
        ("2026-11-22T06:00:00Z", 0, 0), ("2026-11-22T06:00:00.1Z", 100_000, 0),
        ("2026-11-22T06:00:00.003Z", 3_000, 0), ("2026-11-22T06:00:00.000003Z", 3, 0),
        ("2026-11-22T06:00:00.123456789Z", 123_456, 0), ("2026-11-22T06:00:00-07:00", 0, -25_200),
        ("2026-11-22T06:00:00+05:30", 0, 19_800), ("2026-11-22t06:00:00z", 0, 0), ("2026-11-22T06:00:00+0100", 0, 3600),
    ])
    func rfc5424Timestamps(stamp: String, micros: Int, offset: Int) {
        let f = parseFields("<14>1 \(stamp) h a - - - m")
        #expect(f.status == .rfc5424)
        #expect(f.time == utcMicros(2026, 11, 22, 6, 0, 0, micros: micros, offset: offset))
        #expect(f.zoneFromMessage)
    }

    @Test func rfc5424WithoutZoneUsesTheCallersOffset() {
        let f = parseFields("<14>1 2026-11-22T06:00:00 h a - - - m", offset: 3600)
        #expect(f.status == .rfc5424 && f.time == utcMicros(2026, 11, 22, 5, 0, 0) && !f.zoneFromMessage)
    }

    @Test(arguments: ["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T06:60:00Z", "2026-04-31T00:00:00Z"])
    func rfc5424ImpossibleTimestampIsPartialButGoesOn(stamp: String) {
        let f = parseFields("<14>1 \(stamp) h a p id - m")
        #expect(f.status == .rfc5424Partial && f.time == nil)
        #expect(f.host == "h" && f.app == "a" && f.pid == "p" && f.msgid == "id" && f.msg == "m")
    }

    @Test func rfc5424LeapSecondIsTheNextSecond() {
        #expect(parseFields("<14>1 2016-12-31T23:59:60Z h a - - -").time == utcMicros(2017, 1, 1, 0, 0, 0))
    }

    @Test(arguments: [
        // (message, where the message text starts after the fault)
        ("<14>1 2026-11-22 h a - - - m", "2026-11-22 h a - - - m"),
        ("<14>1 2026-11-22T06:00:00Z h  a - - - m", " a - - - m"),
        ("<14>1 2026-11-22T06:00:00Z h a - -", ""),
        ("<14>1 2026-11-22T06:00:00Z h a - - x m", "x m"),
        ("<14>1 2026-11-22T06:00:00Z h a - - -x", "-x"),
        ("<14>1 2026-11-22T06:00:00Z h a - - [a b=\"c\"]x", "[a b=\"c\"]x"),
        ("<14>1 2026-11-22T06:00:00Z h a - - [a b=\"c] m", "[a b=\"c] m"),
        ("<14>1 2026-11-22T06:00:00Z h a - - [a b=c] m", "[a b=c] m"),
        ("<14>1 2026-11-22T06:00:00Z h a - - [ b=\"c\"] m", "[ b=\"c\"] m"),
        ("<14>1 2026-11-22T06:00:00Z h a - - [a b=\"c\"d=\"e\"] m", "[a b=\"c\"d=\"e\"] m"),
        ("<14>1 2026-11-22T06:00:00Z hé a - - - m", "hé a - - - m"),
    ])
    func rfc5424Malformed(text: String, rest: String) {
        let f = parseFields(text)
        #expect(f.status == .rfc5424Partial)
        #expect(f.sd == nil)
        #expect(f.msg == rest)
        #expect(f.facility == 1 && f.severity == 6)
    }

    @Test func rfc5424FieldLengths() {
        let long = String(repeating: "a", count: 255)
        let f = parseFields("<14>1 - \(long) \(long) \(long) \(long) - m")
        #expect(f.status == .rfc5424 && f.host == long && f.msgid == long && f.msg == "m")
        let g = parseFields("<14>1 - h \(long)b - - - m")
        #expect(g.status == .rfc5424Partial && g.host == "h" && g.app == nil && g.msg.hasPrefix("aaa"))
    }

    @Test func notRFC5424UnlessItLooksLikeIt() {
        let f = parseFields("<13>1 apple a day")
        #expect(f.status == .rfc3164NoTimestamp && f.msg == "1 apple a day")
    }

    // MARK: Structured data and its JSON

    @Test func structuredDataEscapesAndJSON() throws {
        let bytes = syslogBytes(#"<14>1 - h a - - [x@1 q="say \"hi\"" b="back\\slash" r="a\]b" o="c:\d" u="ünï" e=""] m"#)
        let (m, f) = parseFields(bytes)
        #expect(f.status == .rfc5424 && f.msg == "m" && f.clean)
        let (json, object) = sdJSON(bytes, try #require(m.structuredData))
        #expect(json == #"{"x@1":{"q":"say \"hi\"","b":"back\\slash","r":"a]b","o":"c:\\d","u":"ünï","e":""}}"#)
        let params = try #require(object?["x@1"] as? [String: String])
        #expect(params == ["q": #"say "hi""#, "b": #"back\slash"#, "r": "a]b", "o": #"c:\d"#, "u": "ünï", "e": ""])
    }

    @Test func repeatedParamsBecomeArraysAndRepeatedIDsMerge() throws {
        let bytes = syslogBytes(#"<14>1 - h a - - [origin ip="192.0.2.1" ip="192.0.2.2" software="x"][meta seq="1"][origin ip="192.0.2.3" enterpriseId="32473"][empty]"#)
        let (m, f) = parseFields(bytes)
        #expect(f.status == .rfc5424 && f.msg == "")
        let (json, object) = sdJSON(bytes, try #require(m.structuredData))
        #expect(json == #"{"origin":{"ip":["192.0.2.1","192.0.2.2","192.0.2.3"],"software":"x","enterpriseId":"32473"},"meta":{"seq":"1"},"empty":{}}"#)
        #expect(object != nil)
    }

    @Test func lenientStructuredDataSpacing() throws {
        let bytes = syslogBytes(#"<14>1 - h a - - [a  x="1"  y="]" ] m"#)
        let (m, f) = parseFields(bytes)
        #expect(f.status == .rfc5424 && f.msg == "m")
        #expect(sdJSON(bytes, try #require(m.structuredData)).0 == #"{"a":{"x":"1","y":"]"}}"#)
    }

    @Test func structuredDataWithBadBytesIsNotCleanButValidJSON() throws {
        var bytes = syslogBytes(#"<14>1 - h a - - [a x="n"#) + [0x00] + syslogBytes(#"l" y=""#) + [0xC3, 0x28, 0x01]
        bytes += syslogBytes(#""] ok"#)
        let (m, f) = parseFields(bytes)
        #expect(f.status == .rfc5424 && !f.clean && m.keepRaw && f.msg == "ok")
        let (json, object) = sdJSON(bytes, try #require(m.structuredData))
        #expect(json == "{\"a\":{\"x\":\"n\u{FFFD}l\",\"y\":\"\u{FFFD}(\\u0001\"}}")
        #expect(object != nil)
    }

    @Test func cleanFlagSeesABadByteAtEveryPositionOfAValue() {
        // Values of 0–24 bytes with one NUL or ill-formed byte at each position, the rest ASCII: the
        // eight-byte skips must not jump over it, in the value scan, the JSON or the message.
        for length in 0...24 {
            let good = syslogBytes(#"<14>1 - h a - - [a v=""#) + Array(repeating: 0x61, count: length) + syslogBytes(#""] m"#)
            #expect(parseFields(good).1.clean)
            for position in 0..<length {
                for bad: UInt8 in [0x00, 0xFF] {
                    var bytes = good
                    bytes[22 + position] = bad
                    let (m, f) = parseFields(bytes)
                    #expect(f.status == .rfc5424 && !f.clean && m.keepRaw, "length \(length) position \(position)")
                    // A trailing "z" so a NUL at the last position is not trimmed away.
                    var text = syslogBytes("<13>Nov 22 06:00:00 h app: ") + Array(repeating: 0x61, count: length) + [0x7A]
                    text[27 + position] = bad
                    #expect(!parseFields(text).1.clean, "message length \(length) position \(position)")
                }
            }
        }
    }

    @Test func jsonWriterSurvivesAnyRange() {
        let bytes = syslogBytes(#"[a b="1"][c d="2" e"#)
        var writer = SyslogStructuredDataJSON()
        var out: [UInt8] = []
        #expect(!writer.append(bytes.span.bytes, structuredData: 0..<bytes.count, to: &out))
        // The params before the fault are kept.
        #expect(String(decoding: out, as: UTF8.self) == #"{"a":{"b":"1"},"c":{"d":"2"}}"#)
        for range in [0..<0, -5..<3, 3..<1000, 9..<bytes.count, 1000..<2000] {
            out.removeAll(keepingCapacity: true)
            writer.append(bytes.span.bytes, structuredData: range, to: &out)
            #expect(isValidJSONObject(out), "\(range): \(String(decoding: out, as: UTF8.self))")
        }
    }

    @Test func jsonWriterManyDuplicatesStaysLinear() throws {
        // 2,000 elements with the same SD-ID and a repeated name: one object, one array of 2,000 values.
        var text = "<14>1 - h a - - "
        for i in 0..<2000 { text += #"[dup n="\#(i)"]"# }
        let bytes = syslogBytes(text)
        let (m, f) = parseFields(bytes)
        #expect(f.status == .rfc5424)
        let (_, object) = sdJSON(bytes, try #require(m.structuredData))
        let values = try #require((object?["dup"] as? [String: Any])?["n"] as? [String])
        #expect(values.count == 2000 && values.first == "0" && values.last == "1999")
    }

    @Test func randomStructuredDataAlwaysGivesValidJSON() {
        var rng = SplitMix(state: 5424)
        let alphabet: [UInt8] = Array(#"ab=" ]\["#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF, 0xED, 0xA0, 0x80, 0xF0, 0x9F]
        var writer = SyslogStructuredDataJSON()
        var out: [UInt8] = []
        for _ in 0..<3000 {
            var bytes: [UInt8] = Array("[".utf8)
            for _ in 0..<Int.random(in: 0...40, using: &rng) { bytes.append(alphabet.randomElement(using: &rng)!) }
            out.removeAll(keepingCapacity: true)
            writer.append(bytes.span.bytes, structuredData: 0..<bytes.count, to: &out)
            #expect(isValidJSONObject(out), "\(bytes) → \(String(decoding: out, as: UTF8.self))")
            // And as part of a message, whatever the status.
            _ = parseFields(syslogBytes("<14>1 - h a - - ") + bytes + syslogBytes(" m"))
        }
    }

    // MARK: Text

    @Test func sanitizerReplacesNULAndIllFormedUTF8() {
        func sanitize(_ bytes: [UInt8]) -> ([UInt8], Bool) {
            var out: [UInt8] = [0x21]  // appends, never clears
            let clean = SyslogText.appendSanitized(bytes.span.bytes, 0..<bytes.count, to: &out)
            return (Array(out.dropFirst()), clean)
        }
        let fffd: [UInt8] = [0xEF, 0xBF, 0xBD]
        #expect(sanitize(Array("plain ascii text, long enough for words".utf8)) == (Array("plain ascii text, long enough for words".utf8), true))
        #expect(sanitize([0xEF, 0xBB, 0xBF, 0x61]) == ([0x61], true))
        #expect(sanitize([0x61, 0x00, 0x62]) == ([0x61] + fffd + [0x62], false))
        #expect(sanitize([0xC3, 0xA9]) == ([0xC3, 0xA9], true))
        // Maximal subparts (Unicode 15, table 3-8): each ill-formed piece is one U+FFFD.
        #expect(sanitize([0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64])
            == ([0x61] + fffd + fffd + fffd + [0x62] + fffd + [0x63] + fffd + fffd + [0x64], false))
        #expect(sanitize([0xED, 0xA0, 0x80]) == (fffd + fffd + fffd, false))  // a surrogate
        #expect(sanitize([0xF4, 0x90, 0x80, 0x80]) == (fffd + fffd + fffd + fffd, false))  // above U+10FFFF
        #expect(sanitize([0xC0, 0xAF]) == (fffd + fffd, false))  // overlong
        #expect(sanitize([0xF0, 0x9F, 0x98]) == (fffd, false))  // truncated 4-byte sequence
        #expect(sanitize([0xF0, 0x9F, 0x98, 0x80]) == ([0xF0, 0x9F, 0x98, 0x80], true))
        // Control characters other than NUL stay.
        #expect(sanitize([0x09, 0x1B, 0x7F]) == ([0x09, 0x1B, 0x7F], true))
    }

    @Test func sanitizerAgreesWithTheStandardLibrary() {
        var rng = SplitMix(state: 3629)
        let pieces: [[UInt8]] = [[0x61], [0x00], [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0x80], [0xC3], [0xE2, 0x82], [0xFF], [0xED, 0xBF, 0xBF], Array("long ascii run!".utf8)]
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &rng) { bytes += pieces.randomElement(using: &rng)! }
            var out: [UInt8] = []
            let clean = SyslogText.appendSanitized(bytes.span.bytes, 0..<bytes.count, to: &out)
            // The standard library decodes with the same replacement policy; NUL is ours to replace.
            let expected = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\0", with: "\u{FFFD}")
            let leadingBOM = bytes.starts(with: [0xEF, 0xBB, 0xBF])
            #expect(leadingBOM || String(decoding: out, as: UTF8.self) == expected, "\(bytes)")
            #expect(clean == (String(validating: bytes, as: UTF8.self) != nil && !bytes.contains(0)), "\(bytes)")
            #expect(SyslogText.isClean(bytes.span.bytes, 0..<bytes.count) == clean)
        }
    }

    // MARK: Time

    @Test func civilDaysAgreeWithFoundation() {
        var rng = SplitMix(state: 1970)
        for _ in 0..<2000 {
            let year = Int.random(in: 1600...9999, using: &rng)
            let month = Int.random(in: 1...12, using: &rng)
            let day = Int.random(in: 1...SyslogTime.daysInMonth(Int64(year), month), using: &rng)
            let days = SyslogTime.days(year: Int64(year), month: month, day: day)
            #expect(days * 86_400_000_000 == utcMicros(year, month, day, 0, 0, 0), "\(year)-\(month)-\(day)")
            #expect(SyslogTime.year(fromDays: days) == Int64(year))
        }
        #expect(SyslogTime.days(year: 1970, month: 1, day: 1) == 0)
        #expect(SyslogTime.days(year: 0, month: 3, day: 1) == -719_468)
        #expect(SyslogTime.year(fromDays: -1) == 1969 && SyslogTime.year(fromDays: -719_469) == 0)
    }

    @Test(arguments: [
        // (received, stamp, expected)
        (utcMicros(2027, 1, 1, 0, 0, 30), "Dec 31 23:59:50", utcMicros(2026, 12, 31, 23, 59, 50)),
        (utcMicros(2026, 12, 31, 23, 59, 50), "Jan  1 00:00:05", utcMicros(2027, 1, 1, 0, 0, 5)),
        (utcMicros(2026, 6, 15, 0, 0, 0), "Jun 14 23:00:00", utcMicros(2026, 6, 14, 23, 0, 0)),
        (utcMicros(2026, 1, 10, 0, 0, 0), "Aug  1 00:00:00", utcMicros(2025, 8, 1, 0, 0, 0)),  // 162 days back, not 203 ahead
        (utcMicros(2026, 1, 10, 0, 0, 0), "Jul  5 00:00:00", utcMicros(2026, 7, 5, 0, 0, 0)),  // 176 ahead, not 189 back
        (utcMicros(2026, 12, 20, 0, 0, 0), "May  1 00:00:00", utcMicros(2027, 5, 1, 0, 0, 0)),  // 132 ahead, not 233 back
        (utcMicros(2028, 3, 1, 0, 0, 0), "Feb 29 12:00:00", utcMicros(2028, 2, 29, 12, 0, 0)),
        (utcMicros(2027, 3, 1, 0, 0, 0), "Feb 29 12:00:00", utcMicros(2028, 2, 29, 12, 0, 0)),
    ])
    func yearlessTimestampTakesTheNearestYear(received: Int64, stamp: String, expected: Int64) {
        let f = parseFields("<13>\(stamp) host app: m", received: received)
        #expect(f.status == .rfc3164 && f.time == expected && !f.zoneFromMessage && f.host == "host")
    }

    @Test func leapDayWithNoLeapYearNearIsNil() {
        let f = parseFields("<13>Feb 29 12:00:00 host app: m", received: utcMicros(2026, 6, 1, 0, 0, 0))
        #expect(f.status == .rfc3164 && f.time == nil && f.host == "host" && f.app == "app")
    }

    @Test func yearRolloverWithTheSendersZone() {
        // Tokyo (UTC+9) says Jan 1 08:00 while it is still Dec 31 23:00 in UTC.
        let f = parseFields("<13>Jan  1 08:00:00 host app: m", received: utcMicros(2026, 12, 31, 23, 0, 10), offset: 9 * 3600)
        #expect(f.time == utcMicros(2026, 12, 31, 23, 0, 0))
    }

    @Test func localOffsetClosureSeesLocalTimeAndAppliesDST() {
        // A toy rule: UTC+2 from April to October, UTC+1 otherwise (local months, as a caller's rules would).
        func offset(_ local: Int64) -> Int32 {
            let days = local / 86_400
            let year = SyslogTime.year(fromDays: days)
            let april = SyslogTime.days(year: year, month: 4, day: 1), november = SyslogTime.days(year: year, month: 11, day: 1)
            return days >= april && days < november ? 7200 : 3600
        }
        var seen: [Int64] = []
        let parser = SyslogParser()
        let summer = syslogBytes("<13>Jul  1 12:00:00 host app: m")
        let s = parser.parse(summer.span.bytes, receivedMicros: utcMicros(2026, 7, 1, 10, 0, 5)) { local in
            seen.append(local)
            return offset(local)
        }
        #expect(s.timestampMicros == utcMicros(2026, 7, 1, 10, 0, 0) && !s.timestampZoneFromMessage)
        #expect(seen == [utcMicros(2026, 7, 1, 12, 0, 0) / 1_000_000])
        let winter = syslogBytes("<13>Dec  1 12:00:00 host app: m")
        let w = parser.parse(winter.span.bytes, receivedMicros: utcMicros(2026, 12, 1, 11, 0, 5)) { offset($0) }
        #expect(w.timestampMicros == utcMicros(2026, 12, 1, 11, 0, 0))
        // A zone in the message wins and the closure is not asked.
        let zoned = syslogBytes("<14>1 2026-07-01T12:00:00Z h a - - -")
        let z = parser.parse(zoned.span.bytes, receivedMicros: 0) { _ in Issue.record("asked"); return 0 }
        #expect(z.timestampMicros == utcMicros(2026, 7, 1, 12, 0, 0) && z.timestampZoneFromMessage)
    }

    @Test func extremeReceivedTimesDoNotTrap() {
        for received: Int64 in [.min, .max, 0, -1, -86_400_000_000 * 800_000] {
            let f = parseFields("<13>Dec 31 23:59:59 host app: m", received: received)
            #expect(f.status == .rfc3164 && f.host == "host")
        }
        #expect(parseFields("<13>Dec 31 23:59:59 host app: m", received: 0).time == utcMicros(1969, 12, 31, 23, 59, 59))
        #expect(parseFields("<14>1 9999-12-31T23:59:59.999999-23:59 h a - - -").time == utcMicros(9999, 12, 31, 23, 59, 59, micros: 999_999, offset: -86_340))
        #expect(parseFields("<14>1 0000-01-01T00:00:00+23:59 h a - - -").status == .rfc5424)
    }

    @Test(arguments: [
        "Nov 22 06:00:00", "Nov 22 06:00:00.5", "Nov 22 2026 06:00:00", "2026 Nov 22 06:00:00", "nov 22 06:00:00", "NOV 22 06:00:00",
    ])
    func bsdTimestampShapes(stamp: String) {
        let f = parseFields("<13>\(stamp) host app: m")
        #expect(f.status == .rfc3164 && f.host == "host" && f.app == "app" && f.msg == "m")
        #expect(f.time! / 1_000_000 == utcMicros(2026, 11, 22, 6, 0, 0) / 1_000_000)
    }

    @Test(arguments: ["Nov 22 6:00:00", "Nov 222 06:00:00", "Nov 22 06:00", "Nov 22 06:00:00x", "Nov 22 06:00:00.", "Nox 22 06:00:00", "Nov  06:00:00"])
    func notBSDTimestamps(stamp: String) {
        let f = parseFields("<13>\(stamp) host app: m")
        #expect(f.status == .rfc3164NoTimestamp && f.time == nil)
    }

    @Test func bsdImpossibleDateKeepsTheStructure() {
        let f = parseFields("<13>Nov 31 06:00:00 host app: m")
        #expect(f.status == .rfc3164 && f.time == nil && f.host == "host" && f.app == "app" && f.msg == "m")
    }

    @Test(arguments: [("UTC", true), ("GMT", true), ("CET", false)])
    func bsdZones(zone: String, fromMessage: Bool) {
        // Before a colon (Cisco's show-timezone) any zone word is consumed; only UTC and GMT are understood.
        let f = parseFields("<13>Nov 22 06:00:00.000 \(zone): %X-1-Y: m", offset: 3600)
        #expect(f.status == .rfc3164 && f.zoneFromMessage == fromMessage && f.host == nil && f.app == "%X-1-Y")
        #expect(f.time == utcMicros(2026, 11, 22, 6, 0, 0, offset: fromMessage ? 0 : 3600))
        // Without the colon, UTC/GMT are still the zone; another word is the host.
        let g = parseFields("<13>Nov 22 06:00:00 \(zone) app: m", offset: 3600)
        #expect(g.zoneFromMessage == fromMessage && g.host == (fromMessage ? nil : zone) && g.app == "app")
    }

    // MARK: RFC 3164 pieces

    @Test func tagsAndPIDs() {
        #expect(parseFields("<13>Nov 22 06:00:00 h postfix/smtpd[123]: m").app == "postfix/smtpd")
        #expect(parseFields("<13>Nov 22 06:00:00 h postfix/smtpd[123]: m").pid == "123")
        #expect(parseFields("<13>Nov 22 06:00:00 h cron[12] m").pid == "12")
        #expect(parseFields("<13>Nov 22 06:00:00 h app:").msg == "")
        let noTag = parseFields("<13>Nov 22 06:00:00 h http://x/ is a URL")
        #expect(noTag.app == nil && noTag.msg == "http://x/ is a URL")
        let tooLong = String(repeating: "t", count: 49)
        #expect(parseFields("<13>Nov 22 06:00:00 h \(tooLong): m").app == nil)
        #expect(parseFields("<13>Nov 22 06:00:00 h a[]: m").app == nil)
    }

    @Test func trailingJunkIsTrimmed() {
        let f = parseFields(syslogBytes("<13>Nov 22 06:00:00 h app: text \r\n") + [0, 0]).1
        #expect(f.msg == "text" && f.clean)
        #expect(parseFields(" \r\n\0").status == .unparsed)
        #expect(parseFields("").msg == "" && parseFields("").status == .unparsed)
    }

    @Test func messageBytesDecideClean() {
        let (m, f) = parseFields(syslogBytes("<13>Nov 22 06:00:00 h app: a") + [0x00, 0x62])
        #expect(!f.clean && m.keepRaw && f.status == .rfc3164)
        let (n, g) = parseFields(syslogBytes("<13>Nov 22 06:00:00 h app: caf") + [0xE9])
        #expect(!g.clean && n.keepRaw)
        let (o, h) = parseFields(syslogBytes("<13>Nov 22 06:00:00 h app: café"))
        #expect(h.clean && !o.keepRaw)
    }

    @Test func statusNamesAreStable() {
        #expect(SyslogParseStatus.allCases.map(\.rawValue) == ["rfc5424", "rfc5424_partial", "rfc3164", "rfc3164_no_timestamp", "unparsed"])
    }

    // MARK: Hostile input

    @Test func truncationAtEveryOffsetNeverCrashes() {
        for text in syslogCorpus.map(\.text) {
            let full = syslogBytes(text)
            for length in 0...full.count {
                let prefix = Array(full[..<length])
                let (m, _) = parseFields(prefix)
                // A prefix of something with a PRI keeps its PRI; everything has some status.
                if length >= 5, full.starts(with: "<".utf8), m.status != .unparsed {
                    #expect(m.facility != nil)
                }
            }
        }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix(state: 3164)
        let seeds = syslogCorpus.map { syslogBytes($0.text) }
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                // Corpus messages with a few bytes changed, so the parse gets deep before it goes wrong.
                bytes = seeds.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            _ = parseFields(bytes, received: Int64.random(in: -4_000_000_000_000_000...4_000_000_000_000_000, using: &rng))
        }
    }
}
