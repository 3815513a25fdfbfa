// The syslog parser: RFC 5424, RFC 3164 and what devices actually send, in one pass over the datagram
// without allocating. It never rejects a message: what it cannot parse comes back as text with a status.

/// Parses one syslog message (a UDP datagram, or one frame of a TCP stream after RFC 6587 framing is
/// removed). Stateless; one value can serve every thread.
public struct SyslogParser: Sendable {
    /// A parser; it has no settings, the zone is given per call.
    public init() {}

    /// Parses `bytes`, applying a fixed UTC offset to timestamps that carry no zone.
    /// - Parameters:
    ///   - receivedMicros: when the message arrived (µs since the epoch, UTC); resolves the year of
    ///     timestamps that have none.
    ///   - utcOffsetSeconds: the sender's offset east of UTC (3600 for CET), used when the message names
    ///     no zone.
    public func parse(_ bytes: RawSpan, receivedMicros: Int64, utcOffsetSeconds: Int32 = 0) -> SyslogMessage {
        parse(bytes, receivedMicros: receivedMicros) { _ in utcOffsetSeconds }
    }

    /// Parses `bytes`, asking `localOffset` for the sender's UTC offset when a timestamp carries no zone,
    /// so a caller can apply daylight-saving rules. It gets the sender's local time as seconds since the
    /// epoch read as if it were UTC, and returns seconds east of UTC; for a local time that occurs twice
    /// or never (DST changes) the closure decides. It is called at most once per message.
    public func parse(
        _ bytes: RawSpan, receivedMicros: Int64, localOffset: (_ localSeconds: Int64) -> Int32
    ) -> SyslogMessage {
        var m = SyslogMessage()
        var end = bytes.byteCount
        while end > 0 {
            let b = bytes.syslogByte(end - 1)
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x00 else { break }
            end -= 1
        }
        var p = 0
        if let (pri, next) = Self.pri(bytes, end) {
            m.facility = pri >> 3
            m.severity = pri & 7
            p = next
            if Self.rfc5424(bytes, p, end) {
                parse5424(bytes, p + 2, end, receivedMicros, localOffset, into: &m)
                return m
            }
        }
        parse3164(bytes, p, end, receivedMicros, localOffset, into: &m)
        return m
    }

    // MARK: Common pieces

    /// `<0>`…`<191>` with one to three digits (leading zeros allowed); the value and the offset after `>`.
    static func pri(_ bytes: RawSpan, _ end: Int) -> (UInt8, Int)? {
        guard end >= 3, bytes.syslogByte(0) == 0x3C else { return nil }  // <
        var value = 0
        var q = 1
        while q < end, q <= 4, let d = SyslogTime.digit(bytes.syslogByte(q)) {
            value = value * 10 + d
            q += 1
        }
        guard q > 1, q <= 4, q < end, bytes.syslogByte(q) == 0x3E, value <= 191 else { return nil }  // >
        return (UInt8(value), q + 1)
    }

    /// After the PRI: `1 ` then `-` and a space (or the end) or a `YYYY-` date. Anything else is left to
    /// the RFC 3164 path, so `<13>1 apple` stays a BSD message.
    static func rfc5424(_ bytes: RawSpan, _ p: Int, _ end: Int) -> Bool {
        guard p + 3 <= end, bytes.syslogByte(p) == 0x31, bytes.syslogByte(p + 1) == 0x20 else { return false }
        if bytes.syslogByte(p + 2) == 0x2D {
            return p + 3 == end || bytes.syslogByte(p + 3) == 0x20
        }
        return SyslogTime.number(bytes, p + 2, 4, end) != nil && p + 6 < end && bytes.syslogByte(p + 6) == 0x2D
    }

    /// Sets the message range from `start` to `end`, leaving out a UTF-8 BOM, and whether it is clean.
    @inline(__always)
    static func setMessage(_ bytes: RawSpan, _ start: Int, _ end: Int, _ m: inout SyslogMessage) {
        var start = min(start, end)
        if SyslogText.hasBOM(bytes, start, end) { start += 3 }
        m.message = start..<end
        if m.clean && !SyslogText.isClean(bytes, start, end) { m.clean = false }
    }

    // MARK: RFC 5424

    /// A header field: 1–255 printable US-ASCII bytes up to a space or the end (RFC 5424 allows
    /// 255/48/128/32 for HOSTNAME/APP-NAME/PROCID/MSGID; senders exceed the smaller ones, e.g. Kubernetes
    /// pod names as APP-NAME, so every field gets 255). Returns the field's end, or nil.
    @inline(__always)
    static func field(_ bytes: RawSpan, _ p: Int, _ end: Int) -> Int? {
        var q = p
        while q < end {
            let b = bytes.syslogByte(q)
            if b == 0x20 { break }
            guard b > 0x20 && b < 0x7F else { return nil }
            q += 1
        }
        guard q > p, q - p <= 255 else { return nil }
        return q
    }

    /// RFC 5424 from just after `1 `. On a fault the status becomes `rfc5424_partial` and the message is
    /// the rest from the fault.
    private func parse5424(
        _ bytes: RawSpan, _ start: Int, _ end: Int, _ receivedMicros: Int64,
        _ localOffset: (_ localSeconds: Int64) -> Int32, into m: inout SyslogMessage
    ) {
        m.status = .rfc5424
        var p = start
        func fault(_ at: Int, _ m: inout SyslogMessage) {
            m.status = .rfc5424Partial
            Self.setMessage(bytes, at, end, &m)
        }

        // TIMESTAMP
        if bytes.syslogByte(p) == 0x2D {
            p += 1
        } else {
            guard let reading = SyslogTime.readISO(bytes, p, end, spaceSeparator: false),
                  reading.next == end || bytes.syslogByte(reading.next) == 0x20
            else { return fault(p, &m) }
            if let micros = SyslogTime.resolve(reading, receivedMicros: receivedMicros, localOffset: localOffset) {
                m.timestampMicros = micros
                m.timestampZoneFromMessage = reading.zoneOffset != nil
            } else {
                m.status = .rfc5424Partial
            }
            p = reading.next
        }

        // HOSTNAME APP-NAME PROCID MSGID, each after one space.
        for index in 0..<4 {
            guard p < end else { return fault(p, &m) }
            p += 1  // the space (every path here stops at a space or the end)
            guard let fieldEnd = Self.field(bytes, p, end) else { return fault(p, &m) }
            let nil_ = fieldEnd == p + 1 && bytes.syslogByte(p) == 0x2D
            let range: Range<Int>? = nil_ ? nil : p..<fieldEnd
            switch index {
            case 0: m.hostname = range
            case 1: m.appName = range
            case 2: m.procID = range
            default: m.msgID = range
            }
            p = fieldEnd
        }

        // STRUCTURED-DATA
        guard p + 1 < end else { return fault(end, &m) }
        p += 1
        let sdStart = p
        if bytes.syslogByte(p) == 0x2D {
            p += 1
        } else {
            var clean = m.clean
            guard bytes.syslogByte(p) == 0x5B, let sdEnd = SyslogSDScanner.validate(bytes, p, end, clean: &clean)
            else { return fault(p, &m) }
            m.clean = clean
            m.structuredData = p..<sdEnd
            p = sdEnd
        }

        // MSG
        if p == end {
            m.message = end..<end
        } else if bytes.syslogByte(p) == 0x20 {
            Self.setMessage(bytes, p + 1, end, &m)
        } else {
            m.structuredData = nil
            fault(sdStart, &m)
        }
    }

    // MARK: RFC 3164 and devices

    /// Everything that is not RFC 5424, from `start` (after a PRI, or 0).
    private func parse3164(
        _ bytes: RawSpan, _ start: Int, _ end: Int, _ receivedMicros: Int64,
        _ localOffset: (_ localSeconds: Int64) -> Int32, into m: inout SyslogMessage
    ) {
        let hasPRI = m.facility != nil
        var p = start
        if hasPRI { while p < end, bytes.syslogByte(p) == 0x20 { p += 1 } }

        // Cisco's sequence number "123: " / "000123: ", or NX-OS's bare ": ".
        let afterSequence: Int
        do {
            var q = p
            var sequence: UInt64 = 0
            while q < end, q - p < 19, let d = SyslogTime.digit(bytes.syslogByte(q)) {
                sequence = sequence * 10 + UInt64(d)
                q += 1
            }
            if q < end, bytes.syslogByte(q) == 0x3A, q + 1 == end || bytes.syslogByte(q + 1) == 0x20,
               q > p || hasPRI {
                if q > p { m.sequence = sequence }
                p = min(q + 2, end)
            }
            afterSequence = p
        }

        var reading = Self.timestamp(bytes, p, end)
        if reading == nil, m.sequence != nil {
            // Cisco's `logging origin-id`: "123: host: *Mar  1 …".
            if let hostEnd = Self.field(bytes, p, end), hostEnd - p > 1, bytes.syslogByte(hostEnd - 1) == 0x3A,
               let r = Self.timestamp(bytes, hostEnd + 1, end) {
                m.hostname = p..<(hostEnd - 1)
                reading = r
            }
        }
        guard let reading else {
            guard hasPRI else {
                m.status = .unparsed
                m.sequence = nil
                Self.setMessage(bytes, 0, end, &m)
                return
            }
            m.status = .rfc3164NoTimestamp
            p = afterSequence
            if let (app, pid, next) = Self.tag(bytes, p, end) {
                m.appName = app
                m.procID = pid
                p = next
            }
            Self.setMessage(bytes, p, end, &m)
            return
        }

        m.status = .rfc3164
        m.clockMark = reading.mark
        if let micros = SyslogTime.resolve(reading, receivedMicros: receivedMicros, localOffset: localOffset) {
            m.timestampMicros = micros
            m.timestampZoneFromMessage = reading.zoneOffset != nil
        }
        p = reading.next
        while p < end, bytes.syslogByte(p) == 0x20 { p += 1 }

        // HOSTNAME, unless the timestamp ended with Cisco's colon (no host there) or a tag comes first.
        if !reading.colonTerminated && m.hostname == nil && p < end && Self.tag(bytes, p, end) == nil,
           let hostEnd = Self.field(bytes, p, end) {
            m.hostname = p..<hostEnd
            p = hostEnd
            while p < end, bytes.syslogByte(p) == 0x20 { p += 1 }
            // Cisco ASA's "host : %ASA-…".
            if p < end, bytes.syslogByte(p) == 0x3A, p + 1 == end || bytes.syslogByte(p + 1) == 0x20 {
                p = min(p + 2, end)
            }
        }
        if let (app, pid, next) = Self.tag(bytes, p, end) {
            m.appName = app
            m.procID = pid
            p = next
        }
        Self.setMessage(bytes, p, end, &m)
    }

    /// A timestamp in any form an RFC 3164-style message carries, at `p`.
    static func timestamp(_ bytes: RawSpan, _ p: Int, _ end: Int) -> SyslogClockReading? {
        guard p < end else { return nil }
        if p + 4 < end, bytes.syslogByte(p + 4) == 0x2D, SyslogTime.digit(bytes.syslogByte(p)) != nil {
            guard let r = SyslogTime.readISO(bytes, p, end, spaceSeparator: true),
                  r.next == end || bytes.syslogByte(r.next) == 0x20
            else { return nil }
            return r
        }
        return SyslogTime.readBSD(bytes, p, end)
    }

    /// An RFC 3164 TAG at `p`: 1–48 printable ASCII bytes other than `:`, `[` and `]`, then `[pid]`
    /// (1–128 bytes) and/or `:`, then a space or the end. Returns the tag, the pid and where the text
    /// after the tag (and one space) starts.
    static func tag(_ bytes: RawSpan, _ p: Int, _ end: Int) -> (Range<Int>, Range<Int>?, Int)? {
        var q = p
        while q < end {
            let b = bytes.syslogByte(q)
            guard b > 0x20 && b < 0x7F && b != 0x3A && b != 0x5B && b != 0x5D else { break }
            q += 1
        }
        guard q > p, q - p <= 48, q < end else { return nil }
        let tag = p..<q
        var pid: Range<Int>?
        var colon = false
        if bytes.syslogByte(q) == 0x5B {  // [
            let pidStart = q + 1
            var r = pidStart
            while r < end, r - pidStart <= 128 {
                let b = bytes.syslogByte(r)
                guard b > 0x20 && b < 0x7F && b != 0x5D else { break }
                r += 1
            }
            guard r > pidStart, r - pidStart <= 128, r < end, bytes.syslogByte(r) == 0x5D else { return nil }
            pid = pidStart..<r
            q = r + 1
        }
        if q < end, bytes.syslogByte(q) == 0x3A {
            colon = true
            q += 1
        }
        guard colon || pid != nil, q == end || bytes.syslogByte(q) == 0x20 else { return nil }
        return (tag, pid, min(q + 1, end))
    }
}
