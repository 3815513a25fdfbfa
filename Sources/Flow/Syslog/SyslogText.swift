// Syslog text for PostgreSQL: UTF-8 validation (an eight-bytes-at-a-time ASCII fast path), the message made
// acceptable to a `text` column, and JSON string escaping for the structured-data `jsonb`.

/// Turns message bytes into text PostgreSQL accepts.
public enum SyslogText {
    /// Appends the bytes of `range` of `bytes` to `out` as valid UTF-8 without NUL: each NUL and each
    /// ill-formed UTF-8 sequence (per maximal subpart, as the Unicode standard recommends) becomes U+FFFD,
    /// and a UTF-8 BOM at the very start is dropped. Everything else, control characters included, is
    /// copied as is. `out` is only appended to, so a buffer the caller empties with
    /// `removeAll(keepingCapacity: true)` does not allocate once it is large enough.
    /// - Returns: true when nothing was replaced (the text is the original bytes, BOM aside); false tells
    ///   the caller to keep the raw bytes too.
    @discardableResult
    public static func appendSanitized(_ bytes: RawSpan, _ range: Range<Int>, to out: inout [UInt8]) -> Bool {
        var start = max(0, min(range.lowerBound, bytes.byteCount))
        let end = max(start, min(range.upperBound, bytes.byteCount))
        if hasBOM(bytes, start, end) { start += 3 }
        if isClean(bytes, start, end) {
            out.syslogAppend(bytes, start..<end)
            return true
        }
        var run = start  // start of the pending run of bytes to copy as they are
        var i = start
        while i < end {
            let b = bytes.syslogByte(i)
            if b != 0 && b < 0x80 {
                i += 1
                continue
            }
            let step = b == 0 ? -1 : utf8Step(bytes, i, end)
            if step > 0 {
                i += step
                continue
            }
            out.syslogAppend(bytes, run..<i)
            out.syslogAppendReplacement()
            i -= step
            run = i
        }
        out.syslogAppend(bytes, run..<end)
        return false
    }

    /// True when `range` of `bytes` is valid UTF-8 without NUL.
    public static func isClean(_ bytes: RawSpan, _ range: Range<Int>) -> Bool {
        let start = max(0, min(range.lowerBound, bytes.byteCount))
        return isClean(bytes, start, max(start, min(range.upperBound, bytes.byteCount)))
    }

    static func hasBOM(_ bytes: RawSpan, _ start: Int, _ end: Int) -> Bool {
        end - start >= 3 && bytes.syslogByte(start) == 0xEF && bytes.syslogByte(start + 1) == 0xBB
            && bytes.syslogByte(start + 2) == 0xBF
    }

    /// Valid UTF-8 without NUL in `start..<end` (within the span). Eight bytes at a time while they are
    /// ASCII without NUL.
    static func isClean(_ bytes: RawSpan, _ start: Int, _ end: Int) -> Bool {
        var i = start
        while i < end {
            if end - i >= 8 {
                // Skip to the first byte that is NUL or ≥ 0x80.
                let w = bytes.syslogWord(i)
                let special = (w & SyslogSWAR.highs) | SyslogSWAR.hasBelow(w, 1)
                i += special.trailingZeroBitCount >> 3
                if special == 0 { continue }
            }
            let b = bytes.syslogByte(i)
            if b == 0 { return false }
            if b < 0x80 {
                i += 1
                continue
            }
            let step = utf8Step(bytes, i, end)
            guard step > 0 else { return false }
            i += step
        }
        return true
    }

    /// The length (2–4) of the well-formed UTF-8 sequence whose lead byte (≥ 0x80) is at `i`, or, when
    /// it is ill-formed, minus the length of its maximal subpart (at least 1): the bytes one U+FFFD stands for.
    @inline(__always)
    static func utf8Step(_ bytes: RawSpan, _ i: Int, _ end: Int) -> Int {
        let lead = bytes.syslogByte(i)
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        let trailing: Int
        switch lead {
        case 0xC2...0xDF: trailing = 1
        case 0xE0: trailing = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: trailing = 2
        case 0xED: trailing = 2; hi = 0x9F  // no surrogates
        case 0xF0: trailing = 3; lo = 0x90
        case 0xF1...0xF3: trailing = 3
        case 0xF4: trailing = 3; hi = 0x8F  // nothing above U+10FFFF
        default: return -1
        }
        var j = i + 1
        for _ in 0..<trailing {
            guard j < end else { return -(j - i) }
            let b = bytes.syslogByte(j)
            guard b >= lo && b <= hi else { return -(j - i) }
            lo = 0x80
            hi = 0xBF
            j += 1
        }
        return j - i
    }

    // MARK: JSON

    /// Appends `start..<end` as a JSON string (quotes included). With `unescapeSD`, RFC 5424's
    /// PARAM-VALUE escapes `\"`, `\\` and `\]` are undone first (any other backslash is literal, as the RFC
    /// says). NUL and ill-formed UTF-8 become U+FFFD (PostgreSQL's jsonb rejects `\u0000`); other control
    /// characters are escaped. Writes at most 6 bytes per input byte plus 2.
    static func appendJSONString(_ bytes: RawSpan, _ start: Int, _ end: Int, unescapeSD: Bool, to out: inout OutputSpan<UInt8>) {
        out.append(0x22)
        var run = start
        var i = start
        while i < end {
            if end - i >= 8 {
                // Printable ASCII other than `"` and `\` is copied as it is: skip to the first other byte.
                let w = bytes.syslogWord(i)
                let special = (w & SyslogSWAR.highs) | SyslogSWAR.hasBelow(w, 0x20) | SyslogSWAR.has(w, 0x22) | SyslogSWAR.has(w, 0x5C)
                i += special.trailingZeroBitCount >> 3
                if special == 0 { continue }
            }
            let b = bytes.syslogByte(i)
            if b >= 0x20 && b < 0x80 && b != 0x22 && b != 0x5C {
                i += 1
                continue
            }
            if b >= 0x80 {
                let step = utf8Step(bytes, i, end)
                if step > 0 {
                    i += step
                    continue
                }
                out.syslogAppend(bytes, run..<i)
                out.append(0xEF); out.append(0xBF); out.append(0xBD)  // U+FFFD
                i -= step
                run = i
                continue
            }
            out.syslogAppend(bytes, run..<i)
            i += 1
            switch b {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C:
                if unescapeSD, i < end {
                    let next = bytes.syslogByte(i)
                    if next == 0x22 || next == 0x5C || next == 0x5D {
                        if next != 0x5D { out.append(0x5C) }
                        out.append(next)
                        i += 1
                        break
                    }
                }
                out.append(0x5C); out.append(0x5C)
            case 0x00: out.append(0xEF); out.append(0xBF); out.append(0xBD)  // U+FFFD
            case 0x08: out.append(0x5C); out.append(0x62)  // \b
            case 0x09: out.append(0x5C); out.append(0x74)  // \t
            case 0x0A: out.append(0x5C); out.append(0x6E)  // \n
            case 0x0C: out.append(0x5C); out.append(0x66)  // \f
            case 0x0D: out.append(0x5C); out.append(0x72)  // \r
            default:
                out.append(0x5C); out.append(0x75); out.append(0x30); out.append(0x30)  // \u00
                out.append(0x30 + (b >> 4))  // b < 0x20: the high digit is 0 or 1
                out.append(b & 0xF < 10 ? 0x30 + (b & 0xF) : 0x57 + (b & 0xF))
            }
            run = i
        }
        out.syslogAppend(bytes, run..<end)
        out.append(0x22)
    }
}

extension Array where Element == UInt8 {
    /// Appends U+FFFD REPLACEMENT CHARACTER in UTF-8.
    @inline(__always)
    mutating func syslogAppendReplacement() {
        append(0xEF)
        append(0xBF)
        append(0xBD)
    }
}
