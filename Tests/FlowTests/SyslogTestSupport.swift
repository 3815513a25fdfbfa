// Helpers for the syslog tests: parsing text into comparable field strings, an independent (Foundation)
// clock for expected timestamps, and the invariants every parse must keep whatever the input.
import Foundation
import Testing

@testable import Flow

/// 2026-11-22T12:00:00Z, the received time unless a test says otherwise.
let syslogReceived = utcMicros(2026, 11, 22, 12, 0, 0)

/// µs since the epoch of a UTC civil time minus `offset` seconds, computed by Foundation (not by the
/// code under test). Gregorian only from 1582 on, so keep years after that.
func utcMicros(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int, micros: Int = 0, offset: Int = 0) -> Int64 {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let date = calendar.date(from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: s))!
    return Int64(date.timeIntervalSince1970.rounded()) * 1_000_000 + Int64(micros) - Int64(offset) * 1_000_000
}

/// A parse result with strings in place of ranges, for comparing with expectations.
struct SyslogFields: Equatable, CustomStringConvertible {
    var status: SyslogParseStatus = .unparsed
    var facility: Int?
    var severity: Int?
    var time: Int64?
    var zoneFromMessage = false
    var mark: SyslogClockMark = .none
    var sequence: UInt64?
    var host: String?
    var app: String?
    var pid: String?
    var msgid: String?
    var sd: String?
    var msg = ""
    var clean = true

    var description: String {
        "\(status.rawValue) pri=\(facility.map(String.init) ?? "-").\(severity.map(String.init) ?? "-") "
            + "time=\(time.map(String.init) ?? "-")\(zoneFromMessage ? "Z" : "") mark=\(mark) seq=\(sequence.map(String.init) ?? "-") "
            + "host=\(host ?? "-") app=\(app ?? "-") pid=\(pid ?? "-") msgid=\(msgid ?? "-") sd=\(sd ?? "-") "
            + "msg=\(msg.debugDescription) clean=\(clean)"
    }
}

extension Array where Element == UInt8 {
    func text(_ range: Range<Int>?) -> String? {
        range.map { String(decoding: self[$0], as: UTF8.self) }
    }
}

func syslogBytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Parses `bytes` and turns the ranges into strings; checks the invariants on the way.
func parseFields(_ bytes: [UInt8], received: Int64 = syslogReceived, offset: Int32 = 0) -> (SyslogMessage, SyslogFields) {
    let m = SyslogParser().parse(bytes.span.bytes, receivedMicros: received, utcOffsetSeconds: offset)
    checkInvariants(bytes, m)
    var f = SyslogFields()
    f.status = m.status
    f.facility = m.facility.map(Int.init)
    f.severity = m.severity.map(Int.init)
    f.time = m.timestampMicros
    f.zoneFromMessage = m.timestampZoneFromMessage
    f.mark = m.clockMark
    f.sequence = m.sequence
    f.host = bytes.text(m.hostname)
    f.app = bytes.text(m.appName)
    f.pid = bytes.text(m.procID)
    f.msgid = bytes.text(m.msgID)
    f.sd = bytes.text(m.structuredData)
    f.msg = bytes.text(m.message)!
    f.clean = m.clean
    return (m, f)
}

func parseFields(_ text: String, received: Int64 = syslogReceived, offset: Int32 = 0) -> SyslogFields {
    parseFields(syslogBytes(text), received: received, offset: offset).1
}

/// What must hold for any input: ranges inside the input and in order, facility and severity together,
/// sanitized text valid UTF-8 without NUL, JSON that Foundation accepts, `clean` meaning what it says.
func checkInvariants(_ bytes: [UInt8], _ m: SyslogMessage, sourceLocation: SourceLocation = #_sourceLocation) {
    let n = bytes.count
    for range in [m.hostname, m.appName, m.procID, m.msgID, m.structuredData, m.message] {
        guard let range else { continue }
        #expect(range.lowerBound >= 0 && range.upperBound <= n, "range \(range) outside 0..<\(n)", sourceLocation: sourceLocation)
    }
    #expect((m.facility == nil) == (m.severity == nil), sourceLocation: sourceLocation)
    if let f = m.facility { #expect(f <= 23 && m.severity! <= 7, sourceLocation: sourceLocation) }
    let ordered = [m.hostname, m.appName, m.procID, m.msgID, m.structuredData].compactMap { $0 }
    for (a, b) in zip(ordered, ordered.dropFirst()) {
        #expect(a.upperBound <= b.lowerBound, "fields overlap: \(a) \(b)", sourceLocation: sourceLocation)
    }
    if let last = ordered.last { #expect(last.upperBound <= m.message.lowerBound, sourceLocation: sourceLocation) }
    if m.status == .unparsed {
        #expect(m.facility == nil && m.hostname == nil && m.appName == nil && m.timestampMicros == nil, sourceLocation: sourceLocation)
    }

    var text: [UInt8] = []
    let clean = SyslogText.appendSanitized(bytes.span.bytes, m.message, to: &text)
    #expect(String(validating: text, as: UTF8.self) != nil, "sanitized text is not UTF-8", sourceLocation: sourceLocation)
    #expect(!text.contains(0), "sanitized text has a NUL", sourceLocation: sourceLocation)
    if clean { #expect(text[...] == bytes[m.message], sourceLocation: sourceLocation) }
    if m.clean { #expect(clean, "message marked clean but sanitizing changed it", sourceLocation: sourceLocation) }

    if let sd = m.structuredData {
        var writer = SyslogStructuredDataJSON()
        var json: [UInt8] = []
        #expect(writer.append(bytes.span.bytes, structuredData: sd, to: &json), sourceLocation: sourceLocation)
        #expect(isValidJSONObject(json), "invalid JSON: \(String(decoding: json, as: UTF8.self))", sourceLocation: sourceLocation)
    }
}

/// Foundation's parser as the judge of JSON validity; also rejects what jsonb would (`\u0000`).
func isValidJSONObject(_ json: [UInt8]) -> Bool {
    guard String(validating: json, as: UTF8.self) != nil, !String(decoding: json, as: UTF8.self).contains("\\u0000"),
          let object = try? JSONSerialization.jsonObject(with: Data(json))
    else { return false }
    return object is [String: Any]
}

/// The JSON text for structured data, and Foundation's reading of it.
func sdJSON(_ bytes: [UInt8], _ range: Range<Int>) -> (String, [String: Any]?) {
    var writer = SyslogStructuredDataJSON()
    var out: [UInt8] = []
    writer.append(bytes.span.bytes, structuredData: range, to: &out)
    let object = try? JSONSerialization.jsonObject(with: Data(out)) as? [String: Any]
    return (String(decoding: out, as: UTF8.self), object)
}
