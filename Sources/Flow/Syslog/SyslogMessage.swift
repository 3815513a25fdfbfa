// What the syslog parser returns: numbers and byte ranges into the caller's input (no Strings, so a
// parse allocates nothing), how far the parse got, and whether the text can be stored without the raw bytes.

/// How far `SyslogParser` got with a message. The raw values are stable lowercase names for storage and
/// metrics.
public enum SyslogParseStatus: String, Sendable, CaseIterable {
    /// RFC 5424: PRI, VERSION 1, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID and STRUCTURED-DATA all
    /// well-formed (NILVALUE allowed where the RFC allows it).
    case rfc5424 = "rfc5424"
    /// Starts like RFC 5424 (`<PRI>1 ` then `-` or a `YYYY-` date) but something after is malformed: a
    /// timestamp whose values do not exist (timestamp nil, parsing goes on), a header field that is not
    /// 1–255 printable ASCII bytes, a missing separator, malformed STRUCTURED-DATA, or the message ends
    /// inside the header. Fields parsed before the fault are set; `message` runs from the fault to the end.
    case rfc5424Partial = "rfc5424_partial"
    /// BSD syslog (RFC 3164) or a device's variant of it, recognised by its timestamp: `Mmm dd hh:mm:ss`,
    /// with or without PRI, with Cisco's sequence number, `*`/`.` marks, milliseconds, year and zone, NX-OS's
    /// `yyyy Mmm dd hh:mm:ss`, or an ISO 8601 timestamp (rsyslog's forward format). `timestampMicros` is
    /// still nil when the date does not exist (`Feb 30`, `25:00:00`).
    case rfc3164 = "rfc3164"
    /// A PRI (and perhaps a Cisco sequence number) but no timestamp: a leading `tag:`/`tag[pid]:` is
    /// taken as the app name, the rest is the message. Fortinet's key=value logs land here.
    case rfc3164NoTimestamp = "rfc3164_no_timestamp"
    /// Neither a valid PRI nor a timestamp: the whole input (trailing space, CR, LF and NUL trimmed) is
    /// the message and every other field is nil.
    case unparsed = "unparsed"
}

/// The Cisco IOS mark in front of a timestamp, saying how far the sender's clock can be trusted.
public enum SyslogClockMark: UInt8, Sendable {
    /// No mark (or a format that has none).
    case none
    /// `*`: the clock was never synchronized (often still the boot default, `Mar  1 1993`); callers may
    /// prefer the received time.
    case notSynchronized
    /// `.`: the clock was synchronized once and has lost its source since.
    case noLongerSynchronized
}

/// One parsed syslog message. Ranges are byte offsets into the input handed to `SyslogParser.parse`;
/// nil means the field is absent or RFC 5424's NILVALUE `-`.
public struct SyslogMessage: Sendable, Equatable {
    /// How far the parse got.
    public var status: SyslogParseStatus = .unparsed
    /// True when every byte range that becomes text (message, structured-data names and values; header
    /// fields are printable ASCII by construction) is valid UTF-8 without NUL, so the sanitized text and
    /// the JSON say exactly what was sent. A leading UTF-8 BOM, already left out of `message`, does not count.
    public var clean = true
    /// Facility 0–23 from the PRI; nil when there is no PRI or it is not `<0>`…`<191>`. RFC 3164 says a
    /// relay should assume user.notice (1, 5) without a PRI; the parser does not invent it, callers may.
    public var facility: UInt8?
    /// Severity 0 (emergency) – 7 (debug) from the PRI; nil exactly when `facility` is.
    public var severity: UInt8?
    /// The sender's timestamp as µs since the epoch (UTC); nil when there is none or it names a date or
    /// time that does not exist. Callers then use the received time.
    public var timestampMicros: Int64?
    /// True when the UTC offset came from the message (`Z`, `+01:00`, `UTC`, `GMT`); false when the
    /// caller's zone was applied.
    public var timestampZoneFromMessage = false
    /// Cisco's `*` / `.` in front of the timestamp.
    public var clockMark: SyslogClockMark = .none
    /// Cisco IOS's sequence number (`<189>123: …`, `000123: `).
    public var sequence: UInt64?
    /// HOSTNAME (RFC 5424) or the host field after an RFC 3164 timestamp (or Cisco's origin id).
    public var hostname: Range<Int>?
    /// APP-NAME (RFC 5424) or the RFC 3164 TAG (`sshd` of `sshd[42]:`, `%SYS-5-CONFIG_I` of a Cisco message).
    public var appName: Range<Int>?
    /// PROCID (RFC 5424) or the RFC 3164 `[pid]` contents.
    public var procID: Range<Int>?
    /// MSGID (RFC 5424 only).
    public var msgID: Range<Int>?
    /// The whole STRUCTURED-DATA (`[id p="v"]…`, brackets included) when well-formed; nil for `-`, for
    /// RFC 3164, and when malformed (then it is part of `message` and the status is `rfc5424_partial`).
    public var structuredData: Range<Int>?
    /// The message text: after the header, without a leading UTF-8 BOM and without trailing space, CR, LF
    /// and NUL. Empty when the message has none.
    public var message: Range<Int> = 0..<0

    /// An empty message: status `unparsed`, no fields, clean.
    public init() {}

    /// True when the caller should also store the raw bytes (bytea): the text is not clean, or the
    /// parse did not get through the header (`rfc5424_partial`, `unparsed`).
    public var keepRaw: Bool {
        !clean || status == .rfc5424Partial || status == .unparsed
    }
}
