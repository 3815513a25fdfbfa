// sotpd's HTTP API: /metrics and /healthz from a real `sotpd run` over a real socket, with flow traffic
// sent to it; api.listen mistakes and a port in use stop sotpd naming the key; the registry's rendering.
import Foundation
@testable import Poller
@testable import Sink
@testable import sotpd
import Capture
import Synchronization
import Testing
import TestSupport

/// An HTTP/1.1 GET to 127.0.0.1:`port` on a socket of its own (`Connection: close`): the status, the
/// headers (names lowercased) and the body.
func httpGet(port: Int, _ path: String) throws -> (status: Int, headers: [String: String], body: String) {
    let r = try httpRequest(port: port, "GET", path)
    return (r.status, r.headers, r.text)
}

/// The value of the series `name{labels}` (exactly as rendered) in a text exposition, nil when absent.
func metricValue(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

/// Problems with the text format: a sample line that does not parse, or a name without a `# TYPE` line.
func expositionProblems(_ text: String) -> [String] {
    var typed = Set<String>()
    var problems: [String] = []
    for line in text.split(separator: "\n") {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            if parts.count == 4, ["counter", "gauge"].contains(parts[3]) {
                typed.insert(String(parts[2]))
            } else if parts.count == 4, parts[3] == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] { typed.insert(String(parts[2]) + suffix) }
            } else {
                problems.append(String(line))
            }
            continue
        }
        if line.hasPrefix("# HELP ") { continue }
        guard let nameEnd = line.firstIndex(where: { $0 == "{" || $0 == " " }),
              let space = line.lastIndex(of: " "), Double(line[line.index(after: space)...]) != nil else {
            problems.append("unparsable: \(line)")
            continue
        }
        let name = String(line[..<nameEnd])
        if name.first!.isNumber || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }) {
            problems.append("bad name: \(line)")
        }
        if !typed.contains(name) { problems.append("no # TYPE before: \(line)") }
    }
    return problems
}

@Suite("sotpd HTTP API", .serialized)
struct APITests {
    @Test(.timeLimit(.minutes(2)))
    func metricsAndHealthOverARealSocket() throws {
        let url = try TestDB.createScratchDatabase()
        defer { TestDB.dropDatabase(url) }
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        let flowPort = UInt16(TestDB.freePort())
        let apiPort = TestDB.freePort()
        let cfg = try daemonConfig(url: url, """
        [icmp]
        enabled = false
        [flow]
        netflow_port = \(flowPort)
        ipfix_port = 0
        sflow_port = 0
        state_dir = ""
        [stats]
        interval_s = 1
        [api]
        listen = "127.0.0.1:\(apiPort)"
        """)
        let sotpd = try Child(sotpdBinary, ["run", "--config", cfg])
        var stopped = false
        defer { if !stopped { sotpd.signal(SIGKILL); _ = sotpd.wait(timeout: 10) } }
        for _ in 0..<200 where !(sotpd.output.contains("flow listeners started") && sotpd.output.contains("API listening")) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(sotpd.output.contains("API listening"), "\(sotpd.output)")

        let health = try httpGet(port: apiPort, "/healthz")
        #expect(health.status == 200 && health.body == "ok\n")
        #expect(try httpGet(port: apiPort, "/nope").status == 404)

        // sFlow sequences 1, 2 and 4 (one datagram lost) from agent 127.0.0.9, and one garbage datagram.
        let exporter = UDPExporter()
        for seq: UInt32 in [1, 2, 4] { exporter.send(sflowDatagram(sequence: seq), port: flowPort) }
        exporter.send([0, 9, 1], port: flowPort)
        let sflow = #"exporter="127.0.0.9",domain="3",protocol="sflow5""#
        var metrics = try httpGet(port: apiPort, "/metrics")
        // Wait until the datagrams are counted and the sink has written (flushes every 100 ms).
        for _ in 0..<100 {
            if metricValue(metrics.body, "sotp_flow_exporter_packets_total{\(sflow)}") == 3,
               metricValue(metrics.body, "sotp_flow_listener_datagrams_total{port=\"\(flowPort)\"}") == 4,
               (metricValue(metrics.body, "sotp_sink_rows_written_total") ?? 0) >= 6 { break }
            Thread.sleep(forTimeInterval: 0.1)
            metrics = try httpGet(port: apiPort, "/metrics")
        }
        let body = metrics.body
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true, "\(metrics.headers)")
        #expect(expositionProblems(body) == [], "\(body)")

        // Per exporter.
        #expect(metricValue(body, "sotp_flow_exporter_packets_total{\(sflow)}") == 3, "\(body)")
        #expect(metricValue(body, "sotp_flow_exporter_records_total{\(sflow)}") == 3)
        #expect(metricValue(body, "sotp_flow_exporter_sequence_gaps_total{\(sflow)}") == 1)
        #expect(metricValue(body, "sotp_flow_exporter_template_misses_total{\(sflow)}") == 0)
        #expect((metricValue(body, "sotp_flow_exporter_last_seen_timestamp_seconds{\(sflow)}") ?? 0) > Date().timeIntervalSince1970 - 120)
        #expect(metricValue(body, #"sotp_flow_exporter_decode_errors_total{exporter="127.0.0.1",domain="0",protocol="unknown",kind="truncated"}"#) == 1,
                "\(body)")
        #expect(body.contains("# TYPE sotp_flow_exporter_packets_total counter"))
        #expect(body.contains("# TYPE sotp_flow_exporter_sampling_rate gauge"))
        // Per listener and the totals sotp_stats has too.
        #expect(metricValue(body, "sotp_flow_listener_datagrams_total{port=\"\(flowPort)\"}") == 4)
        #expect(metricValue(body, "sotp_flow_listener_kernel_drops_total{port=\"\(flowPort)\"}") == 0)
        #expect((metricValue(body, "sotp_flow_listener_bytes_total{port=\"\(flowPort)\"}") ?? 0) > 3 * 200)
        #expect(metricValue(body, "sotp_flow_datagrams_total") == 4)
        #expect(metricValue(body, "sotp_flow_records_total") == 3)
        #expect(metricValue(body, "sotp_flow_sequence_gaps_total") == 1)
        // The sink: 3 flows and 3 interface_counters rows at least, and its gauges.
        #expect((metricValue(body, "sotp_sink_rows_written_total") ?? 0) >= 6, "\(body)")
        #expect(metricValue(body, "sotp_sink_rows_dropped_total") == 0)
        #expect(body.contains("# TYPE sotp_sink_rows_written_total counter"))
        #expect(body.contains("# TYPE sotp_sink_memory_bytes gauge"))
        #expect(metricValue(body, "sotp_sink_spool_bytes") != nil)
        // No ICMP poller in this daemon, so none of its series.
        #expect(!body.contains("sotp_icmp_"))

        sotpd.signal(SIGTERM)
        #expect(sotpd.wait(timeout: 60) == 0, "\(sotpd.output)")
        stopped = true
    }

    @Test(arguments: ["localhost:9750", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9750", "[127.0.0.1]:9750", "1.2.3.4:+80"])
    func aBadListenAddressExitsTwoNamingTheKey(_ value: String) throws {
        let cfg = TestDB.tempDir("cfg") + "/sotpd.toml"
        try "[api]\nlisten = \"\(value)\"\n".write(toFile: cfg, atomically: true, encoding: .utf8)
        for command in ["check-config", "run"] {
            let r = try TestDB.run(sotpdBinary, [command, "--config", cfg])
            #expect(r.status == 2, "\(value) \(command): \(r.output)")
            #expect(r.output.contains("config: \"api.listen\" must be ADDRESS:PORT"), "\(value) \(command): \(r.output)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aPortInUseStopsSotpdNamingTheKey() throws {
        _ = try TestDB.connect()
        // Something else listens on the port.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        #expect(listen(fd, 1) == 0)
        let port = Int(UInt16(bigEndian: a.sin_port))
        let cfg = try daemonConfig(url: TestDB.info.url, """
        [icmp]
        enabled = false
        [flow]
        enabled = false
        [api]
        listen = "127.0.0.1:\(port)"
        """)
        let r = try TestDB.run(sotpdBinary, ["run", "--config", cfg])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("api.listen \"127.0.0.1:\(port)\": cannot listen there: Address already in use"), "\(r.output)")
    }
}

@Suite("Metrics rendering")
struct MetricsRegistryTests {
    @Test func everyComponentFieldIsInTheCatalog() {
        var names = SinkStats().snapshot().fields.map { "sink." + $0.0 }
        names += ICMPStats().snapshot().fields.map { "icmp." + $0.0 } + ["icmp.targets"]
        names += UDPReceiverStats.Snapshot().fields.map { "flow." + $0.0 } + ["flow.records", "flow.decode_errors", "flow.sequence_gaps"]
        #expect(names.filter { StatsCatalog.entries[$0] == nil } == [])
    }

    @Test func statsNamesBecomePrometheusNames() {
        let written = StatsCatalog.sample("sink.rows_written", 7)
        #expect(written.name == "sotp_sink_rows_written_total" && written.kind == .counter && written.value == 7)
        let memory = StatsCatalog.sample("sink.memory_bytes", 4096)
        #expect(memory.name == "sotp_sink_memory_bytes" && memory.kind == .gauge)
        let lateness = StatsCatalog.sample("icmp.send_lateness_p99_us", 1500)
        #expect(lateness.name == "sotp_icmp_send_lateness_p99_seconds" && lateness.value == 0.0015 && lateness.kind == .gauge)
        let unknown = StatsCatalog.sample("snmp.something_new", 3)
        #expect(unknown.name == "sotp_snmp_something_new" && unknown.kind == .gauge)
    }

    @Test func countersAreSetToTheirValueAtEachScrape() {
        let values = Mutex<(Double, Double)>((5, 1.5))
        let registry = MetricsRegistry(sources: [{
            let (c, g) = values.withLock { $0 }
            return [
                MetricSample(name: "sotp_test_things_total", kind: .counter, help: "Things.", labels: [("port", "2055")], value: c),
                MetricSample(name: "sotp_test_level", kind: .gauge, help: "A level.", value: g),
                // A name reused with another type is skipped (swift-prometheus would stop the process).
                MetricSample(name: "sotp_test_level", kind: .counter, help: "A level.", value: 1),
            ]
        }], logger: .init(label: "test"))
        var text = String(decoding: registry.scrape(), as: UTF8.self)
        #expect(metricValue(text, #"sotp_test_things_total{port="2055"}"#) == 5, "\(text)")
        #expect(metricValue(text, "sotp_test_level") == 1.5)
        #expect(text.contains("# HELP sotp_test_things_total Things.\n# TYPE sotp_test_things_total counter\n"))
        #expect(expositionProblems(text) == [], "\(text)")
        values.withLock { $0 = (9, -2) }
        text = String(decoding: registry.scrape(), as: UTF8.self)
        #expect(metricValue(text, #"sotp_test_things_total{port="2055"}"#) == 9)
        #expect(metricValue(text, "sotp_test_level") == -2)
    }
}
