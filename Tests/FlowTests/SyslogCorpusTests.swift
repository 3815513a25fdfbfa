// A corpus of syslog messages as RFCs and vendors document them, written for these tests (no captured
// traffic): RFC 5424 §6.5 and RFC 3164 §5.4 examples, RFC 6587 framing, Cisco IOS/NX-OS/ASA, Juniper,
// Fortinet, Palo Alto, HP/Aruba, Linux rsyslog/journald forwarding and Windows via NXLog. Each has every
// field it should parse to; the JSON of its structured data is checked where it has some.
import Foundation
import Testing

@testable import Flow

struct SyslogCase: CustomTestStringConvertible, Sendable {
    var name: String
    var text: String
    var expect: SyslogFields
    var json: String?
    var received: Int64 = syslogReceived
    var offset: Int32 = 0
    var testDescription: String { name }
}

extension SyslogFields: @unchecked Sendable {}

private func fields(
    _ status: SyslogParseStatus, _ facility: Int?, _ severity: Int?, time: Int64? = nil, zone: Bool = false,
    mark: SyslogClockMark = .none, seq: UInt64? = nil, host: String? = nil, app: String? = nil, pid: String? = nil,
    msgid: String? = nil, sd: String? = nil, msg: String, clean: Bool = true
) -> SyslogFields {
    SyslogFields(status: status, facility: facility, severity: severity, time: time, zoneFromMessage: zone, mark: mark,
                 sequence: seq, host: host, app: app, pid: pid, msgid: msgid, sd: sd, msg: msg, clean: clean)
}

let syslogCorpus: [SyslogCase] = [
    // RFC 5424 §6.5, example 1: no structured data, a BOM before the message.
    SyslogCase(name: "RFC 5424 example 1",
               text: "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{FEFF}'su root' failed for lonvick on /dev/pts/8",
               expect: fields(.rfc5424, 4, 2, time: utcMicros(2003, 10, 11, 22, 14, 15, micros: 3000), zone: true,
                              host: "mymachine.example.com", app: "su", msgid: "ID47", msg: "'su root' failed for lonvick on /dev/pts/8"),
               received: utcMicros(2003, 10, 11, 22, 14, 16)),
    // Example 2: a negative offset, µs, a PROCID and no MSGID.
    SyslogCase(name: "RFC 5424 example 2",
               text: "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
               expect: fields(.rfc5424, 20, 5, time: utcMicros(2003, 8, 24, 12, 14, 15, micros: 3), zone: true,
                              host: "192.0.2.1", app: "myproc", pid: "8710", msg: "%% It's time to make the do-nuts.")),
    // Example 3: one SD element with three params.
    SyslogCase(name: "RFC 5424 example 3",
               text: #"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] "# + "\u{FEFF}An application event log entry...",
               expect: fields(.rfc5424, 20, 5, time: utcMicros(2003, 10, 11, 22, 14, 15, micros: 3000), zone: true,
                              host: "mymachine.example.com", app: "evntslog", msgid: "ID47",
                              sd: #"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]"#, msg: "An application event log entry..."),
               json: #"{"exampleSDID@32473":{"iut":"3","eventSource":"Application","eventID":"1011"}}"#),
    // Example 4: two SD elements and no MSG.
    SyslogCase(name: "RFC 5424 example 4",
               text: #"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#,
               expect: fields(.rfc5424, 20, 5, time: utcMicros(2003, 10, 11, 22, 14, 15, micros: 3000), zone: true,
                              host: "mymachine.example.com", app: "evntslog", msgid: "ID47",
                              sd: #"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#, msg: ""),
               json: #"{"exampleSDID@32473":{"iut":"3","eventSource":"Application","eventID":"1011"},"examplePriority@32473":{"class":"high"}}"#),
    // RFC 3164 §5.4: the classic, and a host given as an address with no TAG.
    SyslogCase(name: "RFC 3164 example 1",
               text: "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
               expect: fields(.rfc3164, 4, 2, time: utcMicros(2026, 10, 11, 22, 14, 15), host: "mymachine", app: "su",
                              msg: "'su root' failed for lonvick on /dev/pts/8")),
    SyslogCase(name: "RFC 3164 example 2",
               text: "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
               expect: fields(.rfc3164, 1, 5, time: utcMicros(2027, 2, 5, 17, 32, 18), host: "10.0.0.99", msg: "Use the BFG!"),
               received: utcMicros(2027, 2, 5, 17, 32, 20)),
    // RFC 3164's relayed example with "CST 1987" where the host should be: CST is taken as the host.
    SyslogCase(name: "RFC 3164 example 3 (zone and year after the time)",
               text: "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.",
               expect: fields(.rfc3164, 20, 5, time: utcMicros(2026, 8, 24, 5, 34, 0), host: "CST",
                              msg: "1987 mymachine myproc[10]: %% It's time to make the do-nuts.")),
    // RFC 6587 octet counting is framing: the parser wants the frame's contents, the count in front is text.
    SyslogCase(name: "RFC 6587 octet-counted frame handed over unframed",
               text: "63 <34>1 2003-10-11T22:14:15.003Z host su - ID47 - su root failed",
               expect: fields(.unparsed, nil, nil, msg: "63 <34>1 2003-10-11T22:14:15.003Z host su - ID47 - su root failed")),
    SyslogCase(name: "RFC 6587 non-transparent frame with its LF trailer",
               text: "<34>1 2003-10-11T22:14:15.003Z host su - ID47 - su root failed\n",
               expect: fields(.rfc5424, 4, 2, time: utcMicros(2003, 10, 11, 22, 14, 15, micros: 3000), zone: true, host: "host",
                              app: "su", msgid: "ID47", msg: "su root failed")),

    // Cisco IOS: sequence number, `*` (never synchronized), msec, the colon after the timestamp, no host.
    SyslogCase(name: "Cisco IOS, unsynchronized clock",
               text: "<189>123: *Mar  1 00:00:12.345: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.5)",
               expect: fields(.rfc3164, 23, 5, time: utcMicros(2027, 3, 1, 0, 0, 12, micros: 345_000), mark: .notSynchronized,
                              seq: 123, app: "%SYS-5-CONFIG_I", msg: "Configured from console by vty0 (10.0.0.5)")),
    SyslogCase(name: "Cisco IOS, zero-padded sequence, UTC shown",
               text: "<189>000123: Nov 22 06:00:00.123 UTC: %LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/1, changed state to up",
               expect: fields(.rfc3164, 23, 5, time: utcMicros(2026, 11, 22, 6, 0, 0, micros: 123_000), zone: true, seq: 123,
                              app: "%LINEPROTO-5-UPDOWN", msg: "Line protocol on Interface GigabitEthernet0/1, changed state to up")),
    SyslogCase(name: "Cisco IOS, `.` mark, year, local zone name",
               text: "<187>4521: .Nov 22 2026 07:00:00.250 CET: %LINK-3-UPDOWN: Interface GigabitEthernet0/2, changed state to down",
               expect: fields(.rfc3164, 23, 3, time: utcMicros(2026, 11, 22, 6, 0, 0, micros: 250_000), mark: .noLongerSynchronized,
                              seq: 4521, app: "%LINK-3-UPDOWN", msg: "Interface GigabitEthernet0/2, changed state to down"),
               offset: 3600),
    SyslogCase(name: "Cisco IOS, origin-id hostname before the timestamp",
               text: "<189>57: core-sw1: Nov 22 06:00:01.000: %SYS-5-RESTART: System restarted",
               expect: fields(.rfc3164, 23, 5, time: utcMicros(2026, 11, 22, 6, 0, 1), seq: 57, host: "core-sw1",
                              app: "%SYS-5-RESTART", msg: "System restarted")),
    SyslogCase(name: "Cisco IOS without timestamps",
               text: "<189>58: %SYS-5-CONFIG_I: Configured from console by console",
               expect: fields(.rfc3164NoTimestamp, 23, 5, seq: 58, app: "%SYS-5-CONFIG_I", msg: "Configured from console by console")),
    SyslogCase(name: "Cisco NX-OS",
               text: "<189>: 2026 Nov 22 06:00:00 UTC: %ETHPORT-5-IF_UP: Interface Ethernet1/1 is up in mode access",
               expect: fields(.rfc3164, 23, 5, time: utcMicros(2026, 11, 22, 6, 0, 0), zone: true, app: "%ETHPORT-5-IF_UP",
                              msg: "Interface Ethernet1/1 is up in mode access")),
    SyslogCase(name: "Cisco ASA with device id",
               text: "<166>Nov 22 2026 06:00:00 asa-fw01 : %ASA-6-302013: Built outbound TCP connection 1234 for outside:192.0.2.10/443 (192.0.2.10/443) to inside:10.0.0.5/51234 (198.51.100.7/51234)",
               expect: fields(.rfc3164, 20, 6, time: utcMicros(2026, 11, 22, 6, 0, 0), host: "asa-fw01", app: "%ASA-6-302013",
                              msg: "Built outbound TCP connection 1234 for outside:192.0.2.10/443 (192.0.2.10/443) to inside:10.0.0.5/51234 (198.51.100.7/51234)")),

    // Juniper Junos: structured-data (RFC 5424) format and the BSD format.
    SyslogCase(name: "Juniper, structured-data format",
               text: #"<165>1 2026-11-22T06:00:00.123Z mx480-re0 mgd 8123 UI_COMMIT [junos@2636.1.1.1.2.18 username="netops" comment="change \"42\""] User 'netops' requested 'commit' operation"#,
               expect: fields(.rfc5424, 20, 5, time: utcMicros(2026, 11, 22, 6, 0, 0, micros: 123_000), zone: true, host: "mx480-re0",
                              app: "mgd", pid: "8123", msgid: "UI_COMMIT", sd: #"[junos@2636.1.1.1.2.18 username="netops" comment="change \"42\""]"#,
                              msg: "User 'netops' requested 'commit' operation"),
               json: #"{"junos@2636.1.1.1.2.18":{"username":"netops","comment":"change \"42\""}}"#),
    SyslogCase(name: "Juniper, BSD format",
               text: "<28>Nov 22 06:00:00 mx480-re0 mib2d[1412]: SNMP_TRAP_LINK_DOWN: ifIndex 542, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/1",
               expect: fields(.rfc3164, 3, 4, time: utcMicros(2026, 11, 22, 6, 0, 0), host: "mx480-re0", app: "mib2d", pid: "1412",
                              msg: "SNMP_TRAP_LINK_DOWN: ifIndex 542, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/1")),

    // Fortinet FortiOS: key=value after the PRI, no syslog timestamp.
    SyslogCase(name: "Fortinet key=value",
               text: #"<189>date=2026-11-22 time=06:00:00 devname="FGT60F" devid="FGT60FTK0000000" logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.0.0.5 dstip=192.0.2.10 action="accept""#,
               expect: fields(.rfc3164NoTimestamp, 23, 5,
                              msg: #"date=2026-11-22 time=06:00:00 devname="FGT60F" devid="FGT60FTK0000000" logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.0.0.5 dstip=192.0.2.10 action="accept""#)),
    // Palo Alto PAN-OS: BSD header with the device name, then CSV without a tag.
    SyslogCase(name: "Palo Alto traffic log",
               text: "<14>Nov 22 06:00:00 PA-5220 1,2026/11/22 06:00:00,012801096514,TRAFFIC,end,2561,2026/11/22 06:00:00,10.0.0.5,192.0.2.10,0.0.0.0,0.0.0.0,allow-web",
               expect: fields(.rfc3164, 1, 6, time: utcMicros(2026, 11, 22, 6, 0, 0), host: "PA-5220",
                              msg: "1,2026/11/22 06:00:00,012801096514,TRAFFIC,end,2561,2026/11/22 06:00:00,10.0.0.5,192.0.2.10,0.0.0.0,0.0.0.0,allow-web")),
    // HP/Aruba ProCurve: no hostname, the subsystem as the tag.
    SyslogCase(name: "HP/Aruba switch without hostname",
               text: "<190>Nov 22 06:00:00 ports: port 24 is now on-line",
               expect: fields(.rfc3164, 23, 6, time: utcMicros(2026, 11, 22, 6, 0, 0), app: "ports", msg: "port 24 is now on-line")),

    // Linux: rsyslog's traditional forward format (space-padded day), its ISO forward format, RFC 5424 output.
    SyslogCase(name: "rsyslog traditional forward format",
               text: "<86>Nov  2 06:00:00 web01 sshd[2231]: Accepted publickey for deploy from 10.0.0.9 port 50122 ssh2: ED25519 SHA256:abc",
               expect: fields(.rfc3164, 10, 6, time: utcMicros(2026, 11, 2, 6, 0, 0), host: "web01", app: "sshd", pid: "2231",
                              msg: "Accepted publickey for deploy from 10.0.0.9 port 50122 ssh2: ED25519 SHA256:abc")),
    SyslogCase(name: "rsyslog RSYSLOG_ForwardFormat (ISO 8601 in a BSD header)",
               text: "<30>2026-11-22T06:00:00.123456+00:00 web01 systemd[1]: Started Session 42 of User deploy.",
               expect: fields(.rfc3164, 3, 6, time: utcMicros(2026, 11, 22, 6, 0, 0, micros: 123_456), zone: true, host: "web01",
                              app: "systemd", pid: "1", msg: "Started Session 42 of User deploy.")),
    SyslogCase(name: "journald via rsyslog, RFC 5424",
               text: "<30>1 2026-11-22T07:00:00.123456+01:00 web01 systemd 1 - - Started Daily apt upgrade.",
               expect: fields(.rfc5424, 3, 6, time: utcMicros(2026, 11, 22, 6, 0, 0, micros: 123_456), zone: true, host: "web01",
                              app: "systemd", pid: "1", msg: "Started Daily apt upgrade.")),
    SyslogCase(name: "Linux file format, no PRI",
               text: "Nov 22 06:00:00 web01 kernel: [12345.678901] eth0: link up",
               expect: fields(.rfc3164, nil, nil, time: utcMicros(2026, 11, 22, 6, 0, 0), host: "web01", app: "kernel",
                              msg: "[12345.678901] eth0: link up")),

    // Windows Event Log through NXLog's to_syslog_ietf: RFC 5424, NXLOG structured data, BOM.
    SyslogCase(name: "Windows via NXLog",
               text: #"<14>1 2026-11-22T07:00:00.000000+01:00 WIN-DC01 Microsoft-Windows-Security-Auditing 4624 - [NXLOG@14506 EventReceivedTime="2026-11-22 07:00:01" SourceModuleName="eventlog" SourceModuleType="im_msvistalog"] "# + "\u{FEFF}An account was successfully logged on.\r\n",
               expect: fields(.rfc5424, 1, 6, time: utcMicros(2026, 11, 22, 6, 0, 0), zone: true, host: "WIN-DC01",
                              app: "Microsoft-Windows-Security-Auditing", pid: "4624",
                              sd: #"[NXLOG@14506 EventReceivedTime="2026-11-22 07:00:01" SourceModuleName="eventlog" SourceModuleType="im_msvistalog"]"#,
                              msg: "An account was successfully logged on."),
               json: #"{"NXLOG@14506":{"EventReceivedTime":"2026-11-22 07:00:01","SourceModuleName":"eventlog","SourceModuleType":"im_msvistalog"}}"#),

    // Odd but seen.
    SyslogCase(name: "plain text, no header",
               text: "hello world\r\n",
               expect: fields(.unparsed, nil, nil, msg: "hello world")),
    SyslogCase(name: "PRI only",
               text: "<13>",
               expect: fields(.rfc3164NoTimestamp, 1, 5, msg: "")),
    SyslogCase(name: "PRI and a tag, no timestamp",
               text: "<13>myapp[77]: started",
               expect: fields(.rfc3164NoTimestamp, 1, 5, app: "myapp", pid: "77", msg: "started")),
    SyslogCase(name: "space after the PRI",
               text: "<13> Nov 22 06:00:00 host app: m",
               expect: fields(.rfc3164, 1, 5, time: utcMicros(2026, 11, 22, 6, 0, 0), host: "host", app: "app", msg: "m")),
    SyslogCase(name: "timestamp and nothing else",
               text: "<13>Nov 22 06:00:00",
               expect: fields(.rfc3164, 1, 5, time: utcMicros(2026, 11, 22, 6, 0, 0), msg: "")),
    SyslogCase(name: "ISO timestamp with a space, no zone, caller's offset",
               text: "<13>2026-11-22 07:00:00 host app: m",
               expect: fields(.rfc3164, 1, 5, time: utcMicros(2026, 11, 22, 6, 0, 0), host: "host", app: "app", msg: "m"),
               offset: 3600),
    SyslogCase(name: "RFC 5424 with a malformed SD",
               text: #"<14>1 2026-11-22T06:00:00Z h a - - [x@1 q="open] m"#,
               expect: fields(.rfc5424Partial, 1, 6, time: utcMicros(2026, 11, 22, 6, 0, 0), zone: true, host: "h", app: "a",
                              msg: #"[x@1 q="open] m"#)),
    SyslogCase(name: "RFC 5424 header ends early",
               text: "<14>1 2026-11-22T06:00:00Z h",
               expect: fields(.rfc5424Partial, 1, 6, time: utcMicros(2026, 11, 22, 6, 0, 0), zone: true, host: "h", msg: "")),
]

@Suite("Syslog corpus")
struct SyslogCorpusTests {
    @Test(arguments: syslogCorpus)
    func parsesToTheExpectedFields(_ c: SyslogCase) throws {
        let bytes = syslogBytes(c.text)
        let (m, f) = parseFields(bytes, received: c.received, offset: c.offset)
        #expect(f == c.expect, "\n got: \(f)\nwant: \(c.expect)")
        #expect(m.keepRaw == (!c.expect.clean || c.expect.status == .rfc5424Partial || c.expect.status == .unparsed))
        if let json = c.json {
            let (text, object) = sdJSON(bytes, try #require(m.structuredData))
            #expect(text == json)
            #expect(object != nil)
        }
    }

    @Test func corpusNamesAreUnique() {
        #expect(Set(syslogCorpus.map(\.name)).count == syslogCorpus.count)
    }

    /// One message through the storage helpers with reused buffers, as a receive loop would do it.
    @Test func reusedBuffersAcrossTheCorpus() {
        var writer = SyslogStructuredDataJSON()
        var json: [UInt8] = []
        var text: [UInt8] = []
        let parser = SyslogParser()
        for c in syslogCorpus {
            let bytes = syslogBytes(c.text)
            let m = parser.parse(bytes.span.bytes, receivedMicros: c.received, utcOffsetSeconds: c.offset)
            json.removeAll(keepingCapacity: true)
            text.removeAll(keepingCapacity: true)
            if let sd = m.structuredData {
                writer.append(bytes.span.bytes, structuredData: sd, to: &json)
                #expect(isValidJSONObject(json))
            }
            #expect(SyslogText.appendSanitized(bytes.span.bytes, m.message, to: &text) == m.clean)
            #expect(String(decoding: text, as: UTF8.self) == c.expect.msg)
        }
    }
}
