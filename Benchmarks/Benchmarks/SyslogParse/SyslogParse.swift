// Parsing syslog messages, the syslog receiver's per-message hot path: throughput and mallocs. One scaled
// iteration is one message from a realistic mix (RFC 5424 with structured data, RFC 3164, Cisco IOS/NX-OS,
// Fortinet, Palo Alto); "parse + store" also writes the structured data as JSON and the sanitized text into
// buffers reused across messages, as the receiver will. In steady state a message must cost zero allocations.
import Benchmark
import Flow

/// Ten messages in the proportions a mixed site sends; lengths 60–260 bytes.
let syslogMix: [[UInt8]] = [
    #"<165>1 2026-11-22T06:00:00.123Z mx480-re0 mgd 8123 UI_COMMIT [junos@2636.1.1.1.2.18 username="netops" comment="change \"42\""] User 'netops' requested 'commit' operation"#,
    #"<14>1 2026-11-22T07:00:00.000000+01:00 WIN-DC01 Microsoft-Windows-Security-Auditing 4624 - [NXLOG@14506 EventReceivedTime="2026-11-22 07:00:01" SourceModuleName="eventlog" SourceModuleType="im_msvistalog"] "# + "\u{FEFF}An account was successfully logged on.\r\n",
    #"<165>1 2026-11-22T06:00:00.003Z app01.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event log entry"#,
    "<30>1 2026-11-22T07:00:00.123456+01:00 web01 systemd 1 - - Started Daily apt upgrade and clean activities.",
    "<86>Nov  2 06:00:00 web01 sshd[2231]: Accepted publickey for deploy from 10.0.0.9 port 50122 ssh2: ED25519 SHA256:9f3a",
    "<30>2026-11-22T06:00:00.123456+00:00 web01 systemd[1]: Started Session 42 of User deploy.",
    "<189>123: *Mar  1 00:00:12.345: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.5)",
    "<189>: 2026 Nov 22 06:00:00 UTC: %ETHPORT-5-IF_UP: Interface Ethernet1/1 is up in mode access",
    #"<189>date=2026-11-22 time=06:00:00 devname="FGT60F" devid="FGT60FTK0000000" logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.0.0.5 dstip=192.0.2.10 action="accept""#,
    "<14>Nov 22 06:00:00 PA-5220 1,2026/11/22 06:00:00,012801096514,TRAFFIC,end,2561,2026/11/22 06:00:00,10.0.0.5,192.0.2.10,allow-web",
].map { Array($0.utf8) }

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    Benchmark("Syslog parse: mixed 5424/3164/Cisco message") { benchmark in
        let parser = SyslogParser()
        var index = 0
        var sum = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let message = syslogMix[index]
            let m = parser.parse(message.span.bytes, receivedMicros: 1_795_348_800_000_000)
            sum &+= m.message.count &+ Int(m.timestampMicros ?? 0)
            index = index == syslogMix.count - 1 ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }

    Benchmark("Syslog parse + store: message, SD as JSON, sanitized text into reused buffers") { benchmark in
        let parser = SyslogParser()
        var writer = SyslogStructuredDataJSON()
        var json: [UInt8] = []
        var text: [UInt8] = []
        json.reserveCapacity(4096)
        text.reserveCapacity(4096)
        var index = 0
        var sum = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let message = syslogMix[index]
            let bytes = message.span.bytes
            let m = parser.parse(bytes, receivedMicros: 1_795_348_800_000_000)
            json.removeAll(keepingCapacity: true)
            text.removeAll(keepingCapacity: true)
            if let sd = m.structuredData { writer.append(bytes, structuredData: sd, to: &json) }
            let clean = SyslogText.appendSanitized(bytes, m.message, to: &text)
            precondition(clean && m.status != .unparsed)
            sum &+= json.count &+ text.count
            index = index == syslogMix.count - 1 ? 0 : index + 1
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }
}
