// Syslog timestamps: RFC 3339 as RFC 5424 uses it, the BSD forms devices send (`Nov 22 06:00:00`, Cisco's
// `*Mar  1 2026 00:00:12.345 UTC:`, NX-OS's `2026 Nov 22 06:00:00`), and the proleptic Gregorian
// arithmetic that turns a civil time into µs since the epoch without Foundation.

/// A timestamp as read from the message, before its year and zone are resolved.
struct SyslogClockReading {
    /// Nil for BSD forms without a year.
    var year: Int64?
    var month = 1
    var day = 1
    var hour = 0
    var minute = 0
    var second = 0
    /// Fraction of the second in µs (digits past the sixth are dropped).
    var micros = 0
    /// Seconds east of UTC when the message names its zone.
    var zoneOffset: Int32?
    var mark = SyslogClockMark.none
    /// The offset just after the timestamp (and its zone, and Cisco's closing colon).
    var next = 0
    /// Cisco/NX-OS style: the timestamp ends with `:` and no hostname follows it.
    var colonTerminated = false
}

enum SyslogTime {
    static let microsPerSecond: Int64 = 1_000_000

    /// Days from 1970-01-01 to a proleptic Gregorian date (eras of 400 years, years starting in March so
    /// the leap day is the last day of the year; the method of Howard Hinnant's `days_from_civil`).
    static func days(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil year a day count since 1970-01-01 falls in (the inverse of `days`).
    static func year(fromDays days: Int64) -> Int64 {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        return yearOfEra + era * 400 + (mp >= 10 ? 1 : 0)
    }

    static func isLeap(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(_ year: Int64, _ month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// µs since the epoch (UTC) of `reading`, or nil when it names a time that does not exist. A reading
    /// without a year takes the year (of the one before, the same and the one after the received time's)
    /// that puts it nearest the received time, comparing local time with received UTC (a zone moves the
    /// choice only for timestamps about half a year off, which are wrong either way). Without a zone in
    /// the message, `localOffset` gets the local time as seconds since the epoch read as if UTC and
    /// returns the sender's offset east of UTC in seconds.
    static func resolve(
        _ r: SyslogClockReading, receivedMicros: Int64, localOffset: (_ localSeconds: Int64) -> Int32
    ) -> Int64? {
        guard (1...12).contains(r.month), r.day >= 1, r.hour <= 23, r.minute <= 59, r.second <= 60 else { return nil }
        let timeOfDay = Int64(r.hour * 3600 + r.minute * 60 + r.second)
        var local: Int64
        if let year = r.year {
            guard r.day <= daysInMonth(year, r.month) else { return nil }
            local = days(year: year, month: r.month, day: r.day) * 86_400 + timeOfDay
        } else {
            let receivedSeconds = receivedMicros / microsPerSecond
            var receivedDays = receivedSeconds / 86_400
            if receivedSeconds % 86_400 < 0 { receivedDays -= 1 }
            let year = SyslogTime.year(fromDays: receivedDays)
            var best: Int64?
            var bestDistance = Int64.max
            for candidate in (year - 1)...(year + 1) where (0...9999).contains(candidate) {
                guard r.day <= daysInMonth(candidate, r.month) else { continue }
                let seconds = days(year: candidate, month: r.month, day: r.day) * 86_400 + timeOfDay
                let distance = seconds > receivedSeconds ? seconds - receivedSeconds : receivedSeconds - seconds
                if distance < bestDistance {
                    best = seconds
                    bestDistance = distance
                }
            }
            guard let best else { return nil }
            local = best
        }
        let offset = r.zoneOffset ?? localOffset(local)
        local -= Int64(offset)
        return local * microsPerSecond + Int64(r.micros)
    }

    // MARK: Reading

    @inline(__always)
    static func digit(_ b: UInt8) -> Int? {
        b &- 0x30 < 10 ? Int(b &- 0x30) : nil
    }

    /// The value of exactly `count` digits at `p`, or nil.
    @inline(__always)
    static func number(_ bytes: RawSpan, _ p: Int, _ count: Int, _ end: Int) -> Int? {
        guard p + count <= end else { return nil }
        var value = 0
        for i in p..<(p + count) {
            guard let d = digit(bytes.syslogByte(i)) else { return nil }
            value = value * 10 + d
        }
        return value
    }

    /// A fraction after a `.` at `p`: at least one digit; returns µs and the offset after the digits.
    static func fraction(_ bytes: RawSpan, _ p: Int, _ end: Int) -> (micros: Int, next: Int)? {
        var q = p
        var micros = 0
        var scale = 100_000
        while q < end, let d = digit(bytes.syslogByte(q)) {
            micros += d * scale
            scale /= 10
            q += 1
        }
        return q > p ? (micros, q) : nil
    }

    /// An RFC 3339 timestamp at `p`: `YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM]`. Lenient where senders are:
    /// `t`/`z` in lower case, any number of fraction digits (µs kept), `±HHMM`, no zone (the caller's
    /// applies), and, when `spaceSeparator`, a space instead of the `T`. Returns nil when the shape does
    /// not match; values are checked by `resolve`. The caller checks what follows `next`.
    static func readISO(_ bytes: RawSpan, _ p: Int, _ end: Int, spaceSeparator: Bool) -> SyslogClockReading? {
        guard p + 19 <= end,
              let year = number(bytes, p, 4, end), bytes.syslogByte(p + 4) == 0x2D,  // -
              let month = number(bytes, p + 5, 2, end), bytes.syslogByte(p + 7) == 0x2D,
              let day = number(bytes, p + 8, 2, end)
        else { return nil }
        let t = bytes.syslogByte(p + 10)
        guard t == 0x54 || t == 0x74 || (spaceSeparator && t == 0x20),  // T t
              let hour = number(bytes, p + 11, 2, end), bytes.syslogByte(p + 13) == 0x3A,  // :
              let minute = number(bytes, p + 14, 2, end), bytes.syslogByte(p + 16) == 0x3A,
              let second = number(bytes, p + 17, 2, end)
        else { return nil }
        var r = SyslogClockReading()
        r.year = Int64(year)
        r.month = month
        r.day = day
        r.hour = hour
        r.minute = minute
        r.second = second
        var q = p + 19
        if q < end, bytes.syslogByte(q) == 0x2E {  // .
            guard let (micros, next) = fraction(bytes, q + 1, end) else { return nil }
            r.micros = micros
            q = next
        }
        if q < end {
            let z = bytes.syslogByte(q)
            if z == 0x5A || z == 0x7A {  // Z z
                r.zoneOffset = 0
                q += 1
            } else if z == 0x2B || z == 0x2D {  // + -
                guard let hours = number(bytes, q + 1, 2, end) else { return nil }
                var minutesAt = q + 3
                if minutesAt < end, bytes.syslogByte(minutesAt) == 0x3A { minutesAt += 1 }
                guard let minutes = number(bytes, minutesAt, 2, end), hours <= 23, minutes <= 59 else { return nil }
                let seconds = Int32(hours * 3600 + minutes * 60)
                r.zoneOffset = z == 0x2D ? -seconds : seconds
                q = minutesAt + 2
            }
        }
        r.next = q
        return r
    }

    /// The month of a three-letter English abbreviation at `p` (any case), 1–12.
    static func month(_ bytes: RawSpan, _ p: Int, _ end: Int) -> Int? {
        guard p + 3 <= end else { return nil }
        let key = UInt32(bytes.syslogByte(p) | 0x20) << 16 | UInt32(bytes.syslogByte(p + 1) | 0x20) << 8
            | UInt32(bytes.syslogByte(p + 2) | 0x20)
        switch key {
        case 0x6A_616E: return 1  // jan
        case 0x66_6562: return 2  // feb
        case 0x6D_6172: return 3  // mar
        case 0x61_7072: return 4  // apr
        case 0x6D_6179: return 5  // may
        case 0x6A_756E: return 6  // jun
        case 0x6A_756C: return 7  // jul
        case 0x61_7567: return 8  // aug
        case 0x73_6570: return 9  // sep
        case 0x6F_6374: return 10  // oct
        case 0x6E_6F76: return 11  // nov
        case 0x64_6563: return 12  // dec
        default: return nil
        }
    }

    /// A BSD-style timestamp at `p`:
    /// `[*|.]Mmm[ ]d[d] [yyyy ]hh:mm:ss[.frac][ ZONE][:]` or NX-OS's `yyyy Mmm dd hh:mm:ss[.frac][ ZONE][:]`.
    /// ZONE is `UTC` or `GMT` (offset 0), or any other 1–5 upper-case letters when a `:` follows (Cisco's
    /// `show-timezone`; the caller's zone applies). Returns nil unless the timestamp ends at a space, a `:`
    /// or the end.
    static func readBSD(_ bytes: RawSpan, _ p: Int, _ end: Int) -> SyslogClockReading? {
        var r = SyslogClockReading()
        var q = p
        guard q < end else { return nil }
        switch bytes.syslogByte(q) {
        case 0x2A: r.mark = .notSynchronized; q += 1  // *
        case 0x2E: r.mark = .noLongerSynchronized; q += 1  // .
        default: break
        }
        if let year = number(bytes, q, 4, end), q + 4 < end, bytes.syslogByte(q + 4) == 0x20 {
            r.year = Int64(year)
            q += 5
        }
        guard let month = self.month(bytes, q, end), q + 4 < end, bytes.syslogByte(q + 3) == 0x20 else { return nil }
        r.month = month
        q += 4
        if bytes.syslogByte(q) == 0x20 { q += 1 }  // "Mar  1"
        guard q < end, let d1 = digit(bytes.syslogByte(q)) else { return nil }
        q += 1
        r.day = d1
        if q < end, let d2 = digit(bytes.syslogByte(q)) {
            r.day = d1 * 10 + d2
            q += 1
        }
        guard q < end, bytes.syslogByte(q) == 0x20 else { return nil }
        q += 1
        if r.year == nil, let year = number(bytes, q, 4, end), q + 4 < end, bytes.syslogByte(q + 4) == 0x20 {
            r.year = Int64(year)
            q += 5
        }
        guard let hour = number(bytes, q, 2, end), q + 8 <= end, bytes.syslogByte(q + 2) == 0x3A,
              let minute = number(bytes, q + 3, 2, end), bytes.syslogByte(q + 5) == 0x3A,
              let second = number(bytes, q + 6, 2, end)
        else { return nil }
        r.hour = hour
        r.minute = minute
        r.second = second
        q += 8
        if q < end, bytes.syslogByte(q) == 0x2E {
            guard let (micros, next) = fraction(bytes, q + 1, end) else { return nil }
            r.micros = micros
            q = next
        }
        // A zone: "UTC"/"GMT" anywhere, other upper-case words only before a colon.
        if q + 1 < end, bytes.syslogByte(q) == 0x20 {
            var e = q + 1
            while e < end, e - q <= 5, bytes.syslogByte(e) &- 0x41 < 26 { e += 1 }  // A-Z
            let length = e - q - 1
            if length >= 1, length <= 5 {
                let colonNext = e < end && bytes.syslogByte(e) == 0x3A
                if length == 3, e == end || bytes.syslogByte(e) == 0x20 || colonNext,
                   isUTCName(bytes, q + 1) {
                    r.zoneOffset = 0
                    q = e
                } else if colonNext {
                    q = e
                }
            }
        }
        if q < end, bytes.syslogByte(q) == 0x3A {
            r.colonTerminated = true
            q += 1
        }
        guard q == end || bytes.syslogByte(q) == 0x20 else { return nil }
        r.next = q
        return r
    }

    /// `UTC` or `GMT` at `p` (three bytes the caller has checked are there).
    private static func isUTCName(_ bytes: RawSpan, _ p: Int) -> Bool {
        let a = bytes.syslogByte(p), b = bytes.syslogByte(p + 1), c = bytes.syslogByte(p + 2)
        return (a == 0x55 && b == 0x54 && c == 0x43) || (a == 0x47 && b == 0x4D && c == 0x54)
    }
}
