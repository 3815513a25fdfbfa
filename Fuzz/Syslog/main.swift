// libFuzzer target for the syslog parser and its storage helpers: any bytes must parse (the parser never
// rejects), every range must lie inside the input, the sanitized text must be UTF-8 without NUL, the
// structured-data JSON must be well-formed JSON, and `clean` must mean the text came through unchanged.
// Built by scripts/fuzz with the parser's own source files (swiftc -sanitize=fuzzer,address).

let parser = SyslogParser()
nonisolated(unsafe) var writer = SyslogStructuredDataJSON()
nonisolated(unsafe) var json: [UInt8] = []
nonisolated(unsafe) var text: [UInt8] = []

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size).bytes
    // The received time and the zone vary with the input so year resolution sees odd values too.
    var received: Int64 = 1_795_000_000_000_000
    var offset: Int32 = 0
    if size > 0 {
        received = received &+ Int64(data[0]) &* 86_400_000_000 &* 7
        offset = Int32(Int8(bitPattern: data[size - 1])) * 900
        if data[0] == 0xFF { received = .min }
        if data[0] == 0xFE { received = .max }
    }
    let m = parser.parse(bytes, receivedMicros: received, utcOffsetSeconds: offset)

    for range in [m.hostname, m.appName, m.procID, m.msgID, m.structuredData, Optional(m.message)] {
        guard let range else { continue }
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "range outside the input")
    }
    precondition((m.facility == nil) == (m.severity == nil) && (m.facility ?? 0) <= 23, "bad PRI")

    text.removeAll(keepingCapacity: true)
    let clean = SyslogText.appendSanitized(bytes, m.message, to: &text)
    precondition(!text.contains(0), "NUL in sanitized text")
    precondition(String(validating: text, as: UTF8.self) != nil, "sanitized text is not UTF-8")
    precondition(!m.clean || clean, "clean message changed by sanitizing")
    if clean {
        let original = UnsafeBufferPointer(start: data, count: size)[m.message]
        let withoutBOM = original.starts(with: [0xEF, 0xBB, 0xBF]) ? original.dropFirst(3) : original[...]
        precondition(text.elementsEqual(withoutBOM), "clean text differs from the input")
    }

    json.removeAll(keepingCapacity: true)
    if let sd = m.structuredData {
        precondition(writer.append(bytes, structuredData: sd, to: &json), "parser's SD rejected by the writer")
    } else {
        // The writer must cope with anything a caller hands it, too.
        writer.append(bytes, structuredData: 0..<size, to: &json)
    }
    precondition(JSONCheck.isObject(json), "invalid JSON")
    return 0
}

/// A strict JSON syntax check (RFC 8259) for what the writer produces: an object at the top, strings
/// with valid escapes and no raw control characters or `\u0000`, UTF-8 checked by the standard library.
enum JSONCheck {
    static func isObject(_ j: [UInt8]) -> Bool {
        guard String(validating: j, as: UTF8.self) != nil, j.first == 0x7B else { return false }
        var i = 0
        guard value(j, &i, depth: 0) else { return false }
        return i == j.count
    }

    static func value(_ j: [UInt8], _ i: inout Int, depth: Int) -> Bool {
        guard i < j.count, depth < 4 else { return false }
        switch j[i] {
        case 0x22: return string(j, &i)
        case 0x7B:
            i += 1
            if i < j.count && j[i] == 0x7D { i += 1; return true }
            while true {
                guard string(j, &i), i < j.count, j[i] == 0x3A else { return false }
                i += 1
                guard value(j, &i, depth: depth + 1), i < j.count else { return false }
                if j[i] == 0x7D { i += 1; return true }
                guard j[i] == 0x2C else { return false }
                i += 1
            }
        case 0x5B:
            i += 1
            while true {
                guard value(j, &i, depth: depth + 1), i < j.count else { return false }
                if j[i] == 0x5D { i += 1; return true }
                guard j[i] == 0x2C else { return false }
                i += 1
            }
        default: return false
        }
    }

    static func string(_ j: [UInt8], _ i: inout Int) -> Bool {
        guard i < j.count, j[i] == 0x22 else { return false }
        i += 1
        while i < j.count {
            let b = j[i]
            if b == 0x22 { i += 1; return true }
            guard b >= 0x20 else { return false }
            if b == 0x5C {
                guard i + 1 < j.count else { return false }
                switch j[i + 1] {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: i += 2
                case 0x75:
                    guard i + 6 <= j.count else { return false }
                    let hex = j[(i + 2)..<(i + 6)]
                    guard hex.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }),
                          !hex.elementsEqual("0000".utf8) else { return false }
                    i += 6
                default: return false
                }
            } else {
                i += 1
            }
        }
        return false
    }
}
