// RFC 5424 STRUCTURED-DATA: a scanner the parser uses to validate it and the JSON writer uses to read it,
// and the writer that turns it into one JSON object for a jsonb column, merging repeated SD-IDs and
// gathering repeated PARAM-NAMEs into arrays in linear time with caller-reused scratch space.

/// Walks STRUCTURED-DATA element by element and param by param, reading nothing at or past `end`.
/// Lenient where senders are: more than one space between params or before `]`, an unescaped `]` inside
/// a quoted value, SD-NAMEs longer than the RFC's 32 bytes. A `\` escapes the byte after it.
struct SyslogSDScanner {
    /// The next byte to read; after the last element, one past its `]`.
    private(set) var position: Int
    let end: Int
    /// Set at the first byte that breaks the syntax; the scanner returns nothing after.
    private(set) var malformed = false
    private var inElement = false

    init(start: Int, end: Int) {
        position = start
        self.end = end
    }

    /// Set by `nextParam` when the value it returned has a byte ≥ 0x80 or a NUL, so only those values
    /// need a UTF-8 check.
    private(set) var valueNotASCII = false

    /// SD-NAME bytes: printable US-ASCII except `=`, space, `]` and `"`.
    @inline(__always)
    static func isNameByte(_ b: UInt8) -> Bool {
        b > 0x20 && b < 0x7F && b != 0x3D && b != 0x5D && b != 0x22
    }

    /// The end of the SD-NAME bytes from `p`: the first other byte, or `end`.
    @inline(__always)
    static func nameEnd(_ bytes: RawSpan, _ p: Int, _ end: Int) -> Int {
        var q = p
        while end - q >= 8 {
            let w = bytes.syslogWord(q)
            let stop = (w & SyslogSWAR.highs) | SyslogSWAR.hasBelow(w, 0x21) | SyslogSWAR.has(w, 0x7F)
                | SyslogSWAR.has(w, 0x3D) | SyslogSWAR.has(w, 0x5D) | SyslogSWAR.has(w, 0x22)
            q += stop.trailingZeroBitCount >> 3
            if stop != 0 { return q }
        }
        while q < end, isNameByte(bytes.syslogByte(q)) { q += 1 }
        return q
    }

    /// The SD-ID of the element at `position`; nil when no `[` is there (the end of the structured data)
    /// or the ID is malformed (then `malformed` is set). Call `nextParam` until it returns nil before
    /// asking for the next element.
    mutating func nextElement(_ bytes: RawSpan) -> Range<Int>? {
        guard !malformed, !inElement, position < end, bytes.syslogByte(position) == 0x5B else { return nil }  // [
        let start = position + 1
        let q = Self.nameEnd(bytes, start, end)
        guard q > start, q < end, bytes.syslogByte(q) == 0x20 || bytes.syslogByte(q) == 0x5D else {
            malformed = true
            return nil
        }
        position = q
        inElement = true
        return start..<q
    }

    /// The next SD-PARAM of the current element: the name and the value between its quotes, escapes
    /// still in. Nil at the element's `]` (consumed) or when malformed (then `malformed` is set).
    mutating func nextParam(_ bytes: RawSpan) -> (name: Range<Int>, value: Range<Int>)? {
        guard inElement, !malformed else { return nil }
        var q = position
        while q < end, bytes.syslogByte(q) == 0x20 { q += 1 }
        guard q < end else {
            malformed = true
            return nil
        }
        if bytes.syslogByte(q) == 0x5D {  // ]
            position = q + 1
            inElement = false
            return nil
        }
        let nameStart = q
        q = Self.nameEnd(bytes, q, end)
        // A name needs a space before it and `="` after it.
        guard q > nameStart, nameStart > position, q + 1 < end,
              bytes.syslogByte(q) == 0x3D, bytes.syslogByte(q + 1) == 0x22
        else {
            malformed = true
            return nil
        }
        let nameEnd = q
        let valueStart = q + 2
        var v = valueStart
        var notASCII: UInt64 = 0
        while v < end {
            if end - v >= 8 {
                // Skip to the first `"` or `\`, noting bytes ≥ 0x80 and NULs on the way (those past the
                // quote too, which at worst costs the value a UTF-8 check it did not need).
                let w = bytes.syslogWord(v)
                notASCII |= (w & SyslogSWAR.highs) | SyslogSWAR.hasBelow(w, 1)
                let special = SyslogSWAR.has(w, 0x22) | SyslogSWAR.has(w, 0x5C)
                v += special.trailingZeroBitCount >> 3
                if special == 0 { continue }
            }
            let b = bytes.syslogByte(v)
            if b == 0x22 { break }
            if b == 0 || b >= 0x80 { notASCII = 1 }
            v += b == 0x5C ? 2 : 1
        }
        valueNotASCII = notASCII != 0
        guard v < end else {
            malformed = true
            return nil
        }
        position = v + 1
        return (nameStart..<nameEnd, valueStart..<v)
    }

    /// Validates the structured data starting at `start` (a `[`) and returns where it ends, or nil when
    /// it is malformed. `clean` is cleared when a name or value is not valid UTF-8 without NUL.
    static func validate(_ bytes: RawSpan, _ start: Int, _ end: Int, clean: inout Bool) -> Int? {
        var scanner = SyslogSDScanner(start: start, end: end)
        while scanner.nextElement(bytes) != nil {
            while let (_, value) = scanner.nextParam(bytes) {
                if clean && scanner.valueNotASCII && !SyslogText.isClean(bytes, value.lowerBound, value.upperBound) {
                    clean = false
                }
            }
        }
        guard !scanner.malformed, scanner.position > start else { return nil }
        return scanner.position
    }
}

/// Writes RFC 5424 STRUCTURED-DATA as JSON text for a jsonb column:
/// `[exampleSDID@32473 iut="3" eventSource="Application"][origin ip="192.0.2.1" ip="192.0.2.2"]` becomes
/// `{"exampleSDID@32473":{"iut":"3","eventSource":"Application"},"origin":{"ip":["192.0.2.1","192.0.2.2"]}}`.
///
/// - Every SD-ID is a key whose value is an object, `{}` for an element without params.
/// - A PARAM-NAME that occurs more than once (RFC 5424 allows it) becomes an array of its values in
///   order; one that occurs once is a string.
/// - A repeated SD-ID (RFC 5424 forbids it; some senders do it) is merged into the first: its params join
///   the first element's, so a name in both becomes an array.
/// - Keys keep the order of their first occurrence. Values lose RFC 5424's escapes (`\"`, `\\`, `\]`); a
///   backslash before anything else stays. NUL and ill-formed UTF-8 become U+FFFD (jsonb rejects
///   `\u0000`); the parser reports that as `clean == false`.
/// - Malformed input (the parser never hands it over, but callers may) yields the elements and params
///   before the fault, still as a valid JSON object.
///
/// Keep one writer per thread and reuse it: its scratch space then stops allocating.
public struct SyslogStructuredDataJSON: Sendable {
    private struct Entry {
        var id: Range<Int>
        /// Empty for an element without params.
        var name: Range<Int>
        var value: Range<Int>
        var hasParam: Bool
        /// The first entry with this SD-ID, its group.
        var group = 0
        var nextInGroup = -1
        /// On the group's first entry only.
        var lastInGroup = -1
        var firstWithName = true
        var nextSameName = -1
        /// On the first entry with a name only.
        var lastSameName = -1
    }

    private var entries: [Entry] = []
    /// Open addressing: entry index × 2 + kind (0 SD-ID, 1 name in a group) + 1; 0 is empty.
    private var table: [Int] = []
    /// Seeds the hash so a sender cannot pick colliding names.
    private let seed: UInt64

    /// A writer with empty scratch space and a random hash seed.
    public init() {
        seed = UInt64.random(in: 0...UInt64.max)
    }

    /// Appends the JSON object for the structured data in `range` of `bytes` to `out`. Reserves room for
    /// the worst case first (6 bytes per byte of `range`, plus 2), so a reused buffer stops allocating once
    /// it has seen the largest structured data.
    /// - Returns: true when all of `range` was well-formed structured data.
    @discardableResult
    public mutating func append(_ bytes: RawSpan, structuredData range: Range<Int>, to out: inout [UInt8]) -> Bool {
        let start = max(0, min(range.lowerBound, bytes.byteCount))
        let end = max(start, min(range.upperBound, bytes.byteCount))
        entries.removeAll(keepingCapacity: true)
        var scanner = SyslogSDScanner(start: start, end: end)
        while let id = scanner.nextElement(bytes) {
            var any = false
            while let (name, value) = scanner.nextParam(bytes) {
                entries.append(Entry(id: id, name: name, value: value, hasParam: true))
                any = true
            }
            if !any && !scanner.malformed {
                entries.append(Entry(id: id, name: id.upperBound..<id.upperBound, value: 0..<0, hasParam: false))
            }
        }
        link(bytes)
        // Every input byte becomes at most 6 output bytes (a control character as \u00XX), and the
        // punctuation around names and values never outgrows what they had in the input.
        out.append(addingCapacity: 6 * (end - start) + 2) { span in
            write(bytes, to: &span)
        }
        return !scanner.malformed && scanner.position == end
    }

    /// Groups entries by SD-ID and, within a group, by name. Up to 16 entries (nearly every message)
    /// by comparing with the earlier ones; beyond, through a seeded hash table, so a message full of
    /// elements costs linear time.
    private mutating func link(_ bytes: RawSpan) {
        let count = entries.count
        guard count > 0 else { return }
        let hashed = count > 16
        var mask = 0
        if hashed {
            var size = 64
            while size < 4 * count { size <<= 1 }
            table.removeAll(keepingCapacity: true)
            table.append(contentsOf: repeatElement(0, count: size))
            mask = size - 1
        }
        for i in 0..<count {
            // The SD-ID's group: the previous entry's when it is from the same element.
            var group = i
            if i > 0 && entries[i - 1].id == entries[i].id {
                group = entries[i - 1].group
            } else if hashed {
                var slot = Int(truncatingIfNeeded: hash(bytes, entries[i].id, 0)) & mask
                while table[slot] != 0 {
                    let other = (table[slot] - 1) >> 1
                    if (table[slot] - 1) & 1 == 0 && same(bytes, entries[other].id, entries[i].id) {
                        group = other
                        break
                    }
                    slot = (slot + 1) & mask
                }
                if group == i { table[slot] = i << 1 + 1 }
            } else {
                for j in 0..<i where entries[j].group == j && same(bytes, entries[j].id, entries[i].id) {
                    group = j
                    break
                }
            }
            entries[i].group = group
            if group != i {
                entries[entries[group].lastInGroup].nextInGroup = i
            }
            entries[group].lastInGroup = i
            guard entries[i].hasParam else { continue }

            // The first entry of the group with this name, if not this one.
            var first = i
            if hashed {
                var slot = Int(truncatingIfNeeded: hash(bytes, entries[i].name, UInt64(group) &+ 1)) & mask
                while table[slot] != 0 {
                    let other = (table[slot] - 1) >> 1
                    if (table[slot] - 1) & 1 == 1 && entries[other].group == group
                        && same(bytes, entries[other].name, entries[i].name) {
                        first = other
                        break
                    }
                    slot = (slot + 1) & mask
                }
                if first == i { table[slot] = i << 1 + 2 }
            } else {
                var k = group
                while k != i {
                    if entries[k].hasParam && entries[k].firstWithName && same(bytes, entries[k].name, entries[i].name) {
                        first = k
                        break
                    }
                    k = entries[k].nextInGroup
                }
            }
            if first == i {
                entries[i].lastSameName = i
            } else {
                entries[i].firstWithName = false
                entries[entries[first].lastSameName].nextSameName = i
                entries[first].lastSameName = i
            }
        }
    }

    private func write(_ bytes: RawSpan, to out: inout OutputSpan<UInt8>) {
        out.append(0x7B)  // {
        var firstGroup = true
        for g in entries.indices where entries[g].group == g {
            if !firstGroup { out.append(0x2C) }  // ,
            firstGroup = false
            let id = entries[g].id
            SyslogText.appendJSONString(bytes, id.lowerBound, id.upperBound, unescapeSD: false, to: &out)
            out.append(0x3A)  // :
            out.append(0x7B)
            var firstParam = true
            var k = g
            while k >= 0 {
                let e = entries[k]
                defer { k = e.nextInGroup }
                guard e.hasParam && e.firstWithName else { continue }
                if !firstParam { out.append(0x2C) }
                firstParam = false
                SyslogText.appendJSONString(bytes, e.name.lowerBound, e.name.upperBound, unescapeSD: false, to: &out)
                out.append(0x3A)
                if e.nextSameName < 0 {
                    SyslogText.appendJSONString(bytes, e.value.lowerBound, e.value.upperBound, unescapeSD: true, to: &out)
                    continue
                }
                out.append(0x5B)  // [
                var v = k
                while v >= 0 {
                    if v != k { out.append(0x2C) }
                    let value = entries[v].value
                    SyslogText.appendJSONString(bytes, value.lowerBound, value.upperBound, unescapeSD: true, to: &out)
                    v = entries[v].nextSameName
                }
                out.append(0x5D)  // ]
            }
            out.append(0x7D)  // }
        }
        out.append(0x7D)
    }

    /// A seeded 64-bit FNV-1a over `range`, finished with a multiply-xorshift so low bits mix.
    private func hash(_ bytes: RawSpan, _ range: Range<Int>, _ salt: UInt64) -> UInt64 {
        var h = (seed ^ salt) &* 0x9E37_79B9_7F4A_7C15
        for i in range {
            h = (h ^ UInt64(bytes.syslogByte(i))) &* 0x0000_0100_0000_01B3
        }
        h ^= h >> 32
        h = h &* 0xD6E8_FEB8_6659_FD93
        return h ^ (h >> 32)
    }

    private func same(_ bytes: RawSpan, _ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        var j = b.lowerBound
        for i in a {
            if bytes.syslogByte(i) != bytes.syslogByte(j) { return false }
            j += 1
        }
        return true
    }
}
