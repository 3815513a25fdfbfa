// /api/v1, /readyz and the token roles over a real socket against a real `sotpd run`: every refusal is a
// 4xx naming the problem (never a 500), the inventory round-trips through the database, pushed metrics
// land in agent_metrics, and every response matches docs/openapi.json.
import Foundation
@testable import Sink
@testable import sotpd
import Synchronization
import Testing
import TestSupport

/// One HTTP/1.1 exchange on a socket of its own (`Connection: close`).
struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) }
    var object: [String: Any] { json as? [String: Any] ?? [:] }
    /// error.field of an error body.
    var errorField: String? { (object["error"] as? [String: Any])?["field"] as? String }
    var errorCode: String? { (object["error"] as? [String: Any])?["code"] as? String }
}

func httpRequest(
    port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8]? = nil, rawHead: String? = nil
) throws -> HTTPReply {
    struct HTTPTestError: Error { var what: String }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var tv = timeval(tv_sec: 20, tv_usec: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = UInt16(port).bigEndian
    a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { throw HTTPTestError(what: "connect to port \(port): errno \(errno)") }
    var head = rawHead ?? "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if rawHead == nil {
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body, headers["Content-Length"] == nil, headers["Transfer-Encoding"] == nil { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
    }
    let request = Array(head.utf8) + (body ?? [])
    var sent = 0
    while sent < request.count {
        let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // The server may answer (413) and close before the whole body is sent.
        if n <= 0 { break }
        sent += n
    }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0 && errno == EINTR { continue }
        if n < 0 && errno == ECONNRESET && !response.isEmpty { break }
        guard n >= 0 else { throw HTTPTestError(what: "recv: errno \(errno)") }
        if n == 0 { break }
        response += buffer[0..<n]
    }
    guard let split = response.indices.dropLast(3).first(where: { response[$0..<$0 + 4] == [13, 10, 13, 10] }) else {
        throw HTTPTestError(what: "no end of headers in \(String(decoding: response, as: UTF8.self))")
    }
    let lines = String(decoding: response[..<split], as: UTF8.self).components(separatedBy: "\r\n")
    let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    var headersOut: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headersOut[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var body = Array(response[(split + 4)...])
    if headersOut["transfer-encoding"] == "chunked" {
        var out: [UInt8] = [], i = 0
        while let crlf = body[i...].indices.dropLast().first(where: { body[$0] == 13 && body[$0 + 1] == 10 }),
            let size = Int(String(decoding: body[i..<crlf], as: UTF8.self), radix: 16), size > 0, crlf + 2 + size <= body.count
        {
            out += body[(crlf + 2)..<(crlf + 2 + size)]
            i = crlf + 4 + size
        }
        body = out
    }
    return HTTPReply(status: status, headers: headersOut, body: body)
}

struct APIDaemonError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A running `sotpd run` with the API on a free port, tokens of each role, on a scratch database.
final class APIDaemon {
    let url: String
    let port: Int
    let child: Child
    let tokens: [String: String]
    private var stopped = false

    /// `extra`: more config sections; `tokens`: false leaves [[api_tokens]] out.
    init(extra: String = "", tokens withTokens: Bool = true, databaseURL: String? = nil, waitReady: Bool = true) throws {
        url = try TestDB.createScratchDatabase()
        let conn = try PGConnection(PGConnectInfo(url: url, password: TestDB.password))
        try Schema.migrate(conn)
        port = TestDB.freePort()
        var tokens: [String: String] = [:]
        var tokenConfig = ""
        let dir = TestDB.tempDir("tokens")
        if withTokens {
            for (i, role) in ["viewer", "operator", "admin"].enumerated() {
                let token = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
                tokens[role] = token
                if i == 1 {
                    // One from a secret file, the others as digests in the config.
                    try token.write(toFile: dir + "/\(role)", atomically: true, encoding: .utf8)
                    tokenConfig += "[[api_tokens]]\nname = \"\(role)-token\"\nrole = \"\(role)\"\ntoken_file = \"\(dir)/\(role)\"\n"
                } else {
                    tokenConfig += "[[api_tokens]]\nname = \"\(role)-token\"\nrole = \"\(role)\"\ntoken_sha256 = \"\(APITokenStore.hexDigest(token))\"\n"
                }
            }
        }
        self.tokens = tokens
        let cfg = try daemonConfig(url: databaseURL ?? url, """
            [icmp]
            enabled = false
            \(extra.contains("[flow]") ? "" : "[flow]\nenabled = false")
            [api]
            listen = "127.0.0.1:\(port)"
            max_body_bytes = 65536
            \(extra)
            \(tokenConfig)
            """)
        child = try Child(sotpdBinary, ["run", "--config", cfg])
        for _ in 0..<400 where !child.output.contains("API listening") { Thread.sleep(forTimeInterval: 0.05) }
        guard child.output.contains("API listening") else {
            stop()
            throw APIDaemonError(message: "sotpd did not start its API: \(child.output)")
        }
        if waitReady {
            for _ in 0..<200 where (try? httpRequest(port: port, "GET", "/readyz").status) != 200 { Thread.sleep(forTimeInterval: 0.05) }
        }
    }

    func request(_ method: String, _ path: String, role: String? = "admin", json: String? = nil, headers: [String: String] = [:]) throws -> HTTPReply {
        var h = headers
        if let role, let t = tokens[role] { h["Authorization"] = "Bearer \(t)" }
        if json != nil && h["Content-Type"] == nil { h["Content-Type"] = "application/json" }
        return try httpRequest(port: port, method, path, headers: h, body: json.map { Array($0.utf8) })
    }

    /// SIGTERM and wait (the sink writes what it holds); `kill`: SIGKILL at once, for a daemon whose
    /// database is away (its sink would keep trying for sink.shutdown_timeout_s).
    func stop(kill: Bool = false) {
        guard !stopped else { return }
        stopped = true
        child.signal(kill ? SIGKILL : SIGTERM)
        if child.wait(timeout: 30) == nil {
            child.signal(SIGKILL)
            _ = child.wait(timeout: 10)
        }
        TestDB.dropDatabase(url)
    }

    deinit { stop() }
}

@Suite("API v1: tokens, devices, ingest, readiness", .serialized)
struct APIv1Tests {
    @Test(.timeLimit(.minutes(2)))
    func tokensAndRoles() throws {
        let d = try APIDaemon()
        defer { d.stop() }
        // Open to probes whatever the tokens.
        #expect(try d.request("GET", "/healthz", role: nil).status == 200)
        #expect(try d.request("GET", "/readyz", role: nil).status == 200)
        // No token, a malformed header, a wrong token: 401 with a Bearer challenge.
        for headers in [[:], ["Authorization": "Basic dXNlcjpwYXNz"], ["Authorization": "Bearer"], ["Authorization": "Bearer wrong-token-of-some-length"],
                        ["Authorization": "Bearer " + String(repeating: "x", count: 5000)]] {
            let r = try d.request("GET", "/api/v1/devices", role: nil, headers: headers)
            #expect(r.status == 401, "\(headers): \(r.status) \(r.text)")
            #expect(r.errorCode == "unauthorized" && r.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(r.headers) \(r.text)")
        }
        // A token's digest differing in one bit is still wrong.
        var flipped = Array(d.tokens["viewer"]!.utf8)
        flipped[0] ^= 1
        #expect(try d.request("GET", "/api/v1/devices", role: nil, headers: ["Authorization": "Bearer " + String(decoding: flipped, as: UTF8.self)]).status == 401)
        // Reads need viewer, writes operator or admin.
        for role in ["viewer", "operator", "admin"] {
            #expect(try d.request("GET", "/api/v1/devices", role: role).status == 200, "\(role)")
        }
        let denied = try d.request("POST", "/api/v1/devices", role: "viewer", json: #"{"name": "x", "address": "127.0.0.1"}"#)
        #expect(denied.status == 403 && denied.errorCode == "forbidden", "\(denied.text)")
        #expect(denied.text.contains("viewer") && denied.text.contains("operator"), "\(denied.text)")
        #expect(try d.request("POST", "/api/v1/ingest", role: "viewer", json: #"{"host": "h", "cpu_pct": 1}"#).status == 403)
        #expect(try d.request("DELETE", "/api/v1/devices/1", role: "viewer").status == 403)
        let made = try d.request("POST", "/api/v1/devices", role: "operator", json: #"{"name": "by-operator", "address": "127.0.0.1"}"#)
        #expect(made.status == 201, "\(made.text)")
        #expect(try d.request("POST", "/api/v1/devices", role: "admin", json: #"{"name": "by-admin", "address": "127.0.0.1"}"#).status == 201)
        // "bearer" in any case (RFC 6750 scheme names are case-insensitive).
        #expect(try d.request("GET", "/api/v1/devices", role: nil, headers: ["Authorization": "bearer " + d.tokens["viewer"]!]).status == 200)
        // /metrics is open by default.
        #expect(try d.request("GET", "/metrics", role: nil).status == 200)
    }

    @Test(.timeLimit(.minutes(2)))
    func metricsAuthAndNoTokens() throws {
        let d = try APIDaemon(extra: "metrics_auth = true")
        let closed = try d.request("GET", "/metrics", role: nil)
        #expect(closed.status == 401, "\(closed.text)")
        #expect(try d.request("GET", "/metrics", role: "viewer").status == 200)
        d.stop()
        // Without [[api_tokens]], /api/v1 is shut and says how to open it.
        let none = try APIDaemon(tokens: false)
        defer { none.stop() }
        let r = try none.request("GET", "/api/v1/devices", role: nil)
        #expect(r.status == 401 && r.text.contains("[[api_tokens]]"), "\(r.text)")
        #expect(try none.request("GET", "/metrics", role: nil).status == 200)
    }

    @Test(.timeLimit(.minutes(3)))
    func devicesRoundTripAndPages() throws {
        let d = try APIDaemon()
        defer { d.stop() }
        let created = try d.request(
            "POST", "/api/v1/devices",
            json: #"{"name": "core-1", "address": "2001:db8::1", "tags": ["core", "lab", "core"], "snmp": true, "settings": {"timeout_ms": 800, "snmp_version": "2c"}}"#)
        #expect(created.status == 201, "\(created.text)")
        let id = created.object["id"] as? Int ?? 0
        #expect(created.headers["location"] == "/api/v1/devices/\(id)")
        #expect(created.object["address"] as? String == "2001:db8::1")
        #expect(created.object["tags"] as? [String] == ["core", "lab"])
        #expect((created.object["settings"] as? [String: Any])?["timeout_ms"] as? Int == 800)
        #expect(created.object["enabled"] as? Bool == true && created.object["snmp"] as? Bool == true)

        let got = try d.request("GET", "/api/v1/devices/\(id)", role: "viewer")
        #expect(got.status == 200 && got.object["name"] as? String == "core-1", "\(got.text)")
        #expect(got.object.keys.contains("state"))

        // PATCH keeps what it does not name; PUT resets it.
        let patched = try d.request("PATCH", "/api/v1/devices/\(id)", json: #"{"enabled": false}"#)
        #expect(patched.status == 200 && patched.object["enabled"] as? Bool == false, "\(patched.text)")
        #expect(patched.object["tags"] as? [String] == ["core", "lab"] && patched.object["snmp"] as? Bool == true)
        let replaced = try d.request("PUT", "/api/v1/devices/\(id)", json: #"{"name": "core-1b", "address": "127.0.0.7"}"#)
        #expect(replaced.status == 200, "\(replaced.text)")
        #expect(replaced.object["tags"] as? [String] == [] && replaced.object["snmp"] as? Bool == false && replaced.object["enabled"] as? Bool == true)
        #expect((replaced.object["settings"] as? [String: Any])?.isEmpty == true)

        // The row in the database is what the API said.
        let conn = try PGConnection(PGConnectInfo(url: d.url, password: TestDB.password))
        let row = try conn.query("SELECT name, host(address), tags::text, enabled FROM devices WHERE id = $1", [String(id)])
        #expect(row.first == ["core-1b", "127.0.0.7", "{}", "t"])

        // Duplicate name: 409 naming the field.
        let dup = try d.request("POST", "/api/v1/devices", json: #"{"name": "core-1b", "address": "127.0.0.8"}"#)
        #expect(dup.status == 409 && dup.errorField == "name", "\(dup.text)")

        // 250 more, a quarter tagged "edge", a fifth disabled; pages of 100 walk them all once.
        try conn.execute("""
            INSERT INTO devices (name, address, tags, enabled)
            SELECT 'bulk-' || i, ('127.1.0.' || (i % 250 + 1))::inet,
                   CASE WHEN i % 4 = 0 THEN ARRAY['edge'] ELSE '{}' END, i % 5 <> 0
            FROM generate_series(1, 250) i
            """)
        // Changes made outside the API reach the list within a second (the snapshot follows the inventory version).
        for _ in 0..<50 {
            let all = try d.request("GET", "/api/v1/devices?limit=1000", role: "viewer")
            if (all.object["items"] as? [Any])?.count == 251 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        var seen: [Int] = [], after = 0, pages = 0
        while true {
            let page = try d.request("GET", "/api/v1/devices?limit=100&after=\(after)", role: "viewer")
            #expect(page.status == 200, "\(page.text)")
            let items = page.object["items"] as? [[String: Any]] ?? []
            seen += items.compactMap { $0["id"] as? Int }
            pages += 1
            guard let next = page.object["next_after"] as? Int else { break }
            after = next
            if pages > 10 { break }
        }
        #expect(seen.count == 251 && Set(seen).count == 251 && seen == seen.sorted(), "\(seen.count)")
        #expect(pages == 3)
        let edge = try d.request("GET", "/api/v1/devices?tag=edge&limit=1000", role: "viewer")
        #expect((edge.object["items"] as? [Any])?.count == 62, "\(edge.text.prefix(200))")
        let edgeOff = try d.request("GET", "/api/v1/devices?tag=edge&enabled=false&limit=1000", role: "viewer")
        #expect((edgeOff.object["items"] as? [Any])?.count == 12)
        let both = try d.request("GET", "/api/v1/devices?tag=edge&tag=nothing", role: "viewer")
        #expect((both.object["items"] as? [Any])?.count == 0 && both.object["next_after"] is NSNull)

        // Delete, then it is gone.
        #expect(try d.request("DELETE", "/api/v1/devices/\(id)").status == 204)
        #expect(try d.request("DELETE", "/api/v1/devices/\(id)").status == 404)
        #expect(try d.request("GET", "/api/v1/devices/\(id)", role: "viewer").status == 404)
        #expect(try d.request("PATCH", "/api/v1/devices/\(id)", json: "{}").status == 404)
    }

    /// Every hostile request the API can get: a 4xx with a JSON error naming the problem, never a 500.
    static let badRequests: [(String, String, String?, [String: String], Int, String?)] = [
        // (method, path, body, headers, status, error.field)
        ("POST", "/api/v1/devices", "", [:], 400, nil),
        ("POST", "/api/v1/devices", "{", [:], 400, nil),
        ("POST", "/api/v1/devices", "[]", [:], 400, nil),
        ("POST", "/api/v1/devices", "\"text\"", [:], 400, nil),
        ("POST", "/api/v1/devices", "null", [:], 400, nil),
        ("POST", "/api/v1/devices", String(repeating: "[", count: 60_000), [:], 400, nil),
        ("POST", "/api/v1/devices", #"{"name": "a\u0000b", "address": "127.0.0.1"}"#, [:], 422, "name"),
        ("POST", "/api/v1/devices", #"{"address": "127.0.0.1"}"#, [:], 422, "name"),
        ("POST", "/api/v1/devices", #"{"name": "a"}"#, [:], 422, "address"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "colour": "red"}"#, [:], 422, "colour"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "id": 7}"#, [:], 422, "id"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "vendor": "x"}"#, [:], 422, "vendor"),
        ("POST", "/api/v1/devices", #"{"name": 5, "address": "127.0.0.1"}"#, [:], 422, "name"),
        ("POST", "/api/v1/devices", #"{"name": " a", "address": "127.0.0.1"}"#, [:], 422, "name"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "10.0.0.256"}"#, [:], 422, "address"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "192.0.2.0/24"}"#, [:], 422, "address"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "tags": "core"}"#, [:], 422, "tags"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "tags": ["ok", "has space"]}"#, [:], 422, "tags[1]"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "tags": [1]}"#, [:], 422, "tags[0]"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "enabled": 1}"#, [:], 422, "enabled"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "icmp": "yes"}"#, [:], 422, "icmp"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "settings": []}"#, [:], 422, "settings"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "settings": {"timout_ms": 5}}"#, [:], 422, "settings.timout_ms"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "settings": {"timeout_ms": 0}}"#, [:], 422, "settings.timeout_ms"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "settings": {"timeout_ms": 1e300}}"#, [:], 422, "settings.timeout_ms"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "settings": {"timeout_ms": 40000}}"#, [:], 422, "settings.timeout_ms"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "settings": {"source": "::1"}}"#, [:], 422, "settings.source"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "snmp": true, "settings": {"snmp_version": "3"}}"#, [:], 422, "settings.snmp_user"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1", "settings": {"snmp_version": "4"}}"#, [:], 422, "settings.snmp_version"),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1"}"#, ["Content-Type": "text/plain"], 415, nil),
        ("POST", "/api/v1/devices", #"{"name": "a", "address": "127.0.0.1"}"#, ["Content-Type": "application/x-www-form-urlencoded"], 415, nil),
        ("POST", "/api/v1/devices", String(repeating: " ", count: 70_000) + "{}", [:], 413, nil),
        ("POST", "/api/v1/devices", "{}", ["Content-Length": "99999999"], 413, nil),
        ("PATCH", "/api/v1/devices/abc", "{}", [:], 400, "id"),
        ("PATCH", "/api/v1/devices/0", "{}", [:], 400, "id"),
        ("PATCH", "/api/v1/devices/99999999999", "{}", [:], 400, "id"),
        ("PATCH", "/api/v1/devices/-1", "{}", [:], 400, "id"),
        ("GET", "/api/v1/devices/2147483647", nil, [:], 404, "id"),
        ("PUT", "/api/v1/devices/2147483647", #"{"name": "a"}"#, [:], 422, "address"),
        ("DELETE", "/api/v1/devices/1.5", nil, [:], 400, "id"),
        ("GET", "/api/v1/devices?limit=0", nil, [:], 400, "limit"),
        ("GET", "/api/v1/devices?limit=1001", nil, [:], 400, "limit"),
        ("GET", "/api/v1/devices?limit=abc", nil, [:], 400, "limit"),
        ("GET", "/api/v1/devices?after=-5", nil, [:], 400, "after"),
        ("GET", "/api/v1/devices?enabled=yes", nil, [:], 400, "enabled"),
        ("GET", "/api/v1/devices?tag=", nil, [:], 400, "tag"),
        ("GET", "/api/v1/devices?colour=red", nil, [:], 400, "colour"),
        ("GET", "/api/v1/devices?limit=%ZZ", nil, [:], 400, "limit"),
        ("GET", "/api/v1/nothing", nil, [:], 404, nil),
        ("POST", "/api/v1/ingest", "{", [:], 400, nil),
        ("POST", "/api/v1/ingest", "[]", [:], 422, "body"),
        ("POST", "/api/v1/ingest", "5", [:], 400, nil),
        ("POST", "/api/v1/ingest", #"{"cpu_pct": 1}"#, [:], 422, "host"),
        ("POST", "/api/v1/ingest", #"{"host": "h"}"#, [:], 422, "body"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "cpu": 1}"#, [:], 422, "cpu"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "cpu_pct": "1"}"#, [:], 422, "cpu_pct"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "cpu_pct": -1}"#, [:], 422, "cpu_pct"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "cpu_pct": true}"#, [:], 422, "cpu_pct"),
        ("POST", "/api/v1/ingest", #"{"host": "two words", "cpu_pct": 1}"#, [:], 422, "host"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "time": "yesterday", "cpu_pct": 1}"#, [:], 422, "time"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "time": "2099-01-01T00:00:00Z", "cpu_pct": 1}"#, [:], 422, "time"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "time": 0, "cpu_pct": 1}"#, [:], 422, "time"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "disks": [{"used_bytes": 1}]}"#, [:], 422, "disks[0].mount"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "disks": [{"mount": "/", "free": 1}]}"#, [:], 422, "disks[0].free"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "metrics": [{"name": "9lives", "value": 1}]}"#, [:], 422, "metrics[0].name"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "metrics": [{"name": "ok", "value": null}]}"#, [:], 422, "metrics[0].value"),
        ("POST", "/api/v1/ingest", #"{"host": "h", "metrics": [{"name": "ok"}]}"#, [:], 422, "metrics[0].value"),
        ("POST", "/api/v1/ingest", #"[{"host": "h", "cpu_pct": 1}, {"host": "h", "cpu_pct": 101000}]"#, [:], 422, "[1].cpu_pct"),
    ]

    @Test(.timeLimit(.minutes(3)))
    func hostileRequestsGetAClear4xxNeverA500() throws {
        let d = try APIDaemon()
        defer { d.stop() }
        for (method, path, body, headers, status, field) in Self.badRequests {
            var h = headers
            h["Authorization"] = "Bearer \(d.tokens["operator"]!)"
            if body != nil && h["Content-Type"] == nil { h["Content-Type"] = "application/json" }
            let r = try httpRequest(port: d.port, method, path, headers: h, body: body.map { Array($0.utf8) })
            #expect(r.status == status, "\(method) \(path) \(body?.prefix(80) ?? ""): \(r.status) \(r.text)")
            if status != 404 || field != nil {
                #expect(r.errorField == field, "\(method) \(path) \(body?.prefix(80) ?? ""): \(r.text)")
                #expect(r.headers["content-type"]?.hasPrefix("application/json") == true && !(r.object["error"] is NSNull), "\(r.text)")
            }
        }
        // Too many values in one push.
        let many = "{\"host\": \"h\", \"metrics\": [" + (0...10_000).map { "{\"name\": \"m\", \"value\": \($0)}" }.joined(separator: ",") + "]}"
        let big = try d.request("POST", "/api/v1/ingest", role: "operator", json: many)
        #expect(big.status == 413 || (big.status == 422 && big.errorField == "body"), "\(big.status) \(big.text.prefix(200))")
        // Invalid UTF-8 and random bytes.
        var rng = SystemRandomNumberGenerator()
        for n in [1, 7, 100, 4000] {
            let junk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for path in ["/api/v1/devices", "/api/v1/ingest"] {
                let r = try httpRequest(port: d.port, "POST", path, headers: ["Authorization": "Bearer \(d.tokens["operator"]!)", "Content-Type": "application/json"], body: junk)
                #expect((400..<500).contains(r.status), "\(path) \(n) random bytes: \(r.status) \(r.text)")
            }
        }
        // A malformed request line or header block is the HTTP server's to refuse, with a 4xx or a close.
        let garbage = try? httpRequest(port: d.port, "", "", rawHead: "GARBAGE\r\n\r\n")
        if let garbage { #expect((400..<500).contains(garbage.status), "\(garbage.status)") }
        // And the daemon is still there.
        #expect(try d.request("GET", "/healthz", role: nil).status == 200)
        #expect(!d.child.output.contains("Fatal error"), "\(d.child.output)")
    }

    @Test(.timeLimit(.minutes(2)))
    func pushedMetricsLandInAgentMetrics() throws {
        let d = try APIDaemon()
        defer { d.stop() }
        let now = Date().timeIntervalSince1970
        let r = try d.request("POST", "/api/v1/ingest", role: "operator", json: """
            [{"host": "web-1", "cpu_pct": 12.5, "mem_used_bytes": 1073741824, "mem_total_bytes": 4294967296,
              "disks": [{"mount": "/", "used_bytes": 10, "total_bytes": 20}, {"mount": "/var, \\"logs\\"", "used_bytes": 5}],
              "metrics": [{"name": "load1", "value": 0.42}, {"name": "nic.rx_bytes", "instance": "eth0", "value": 1e12}]},
             {"host": "web-2", "time": \(Int(now) - 60), "cpu_pct": 99}]
            """)
        #expect(r.status == 202 && r.object["accepted"] as? Int == 9, "\(r.text)")
        let conn = try PGConnection(PGConnectInfo(url: d.url, password: TestDB.password))
        var rows: [[String?]] = []
        for _ in 0..<100 {
            rows = try conn.query("SELECT host, metric, instance, value::text, host(source), extract(epoch FROM time)::int8::text FROM agent_metrics ORDER BY 1, 2, 3")
            if rows.count >= 9 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(rows.count == 9, "\(rows)")
        let byKey = Dictionary(rows.map { ("\($0[0]!)/\($0[1]!)/\($0[2]!)", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byKey["web-1/cpu_pct/"]?[3] == "12.5")
        #expect(byKey["web-1/mem_total_bytes/"]?[3] == "4294967296")
        #expect(byKey["web-1/disk_used_bytes//var, \"logs\""]?[3] == "5")
        #expect(byKey["web-1/nic.rx_bytes/eth0"]?[3] == "1000000000000")
        #expect(byKey["web-1/load1/"]?[4] == "127.0.0.1")
        #expect(byKey["web-2/cpu_pct/"]?[5] == String(Int(now) - 60))
        // A rejected push stores nothing, not a part.
        let bad = try d.request("POST", "/api/v1/ingest", role: "operator", json: #"{"host": "web-3", "cpu_pct": 1, "metrics": [{"name": "x", "value": "no"}]}"#)
        #expect(bad.status == 422)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try conn.query("SELECT count(*) FROM agent_metrics WHERE host = 'web-3'").first?.first == "0")
    }

    @Test(.timeLimit(.minutes(2)))
    func readinessFollowsTheDatabaseAndTheListeners() throws {
        // A listener and a database that is not there: ready listeners, database not ready.
        let flowPort = TestDB.freePort()
        let dead = "postgresql://sotp@127.0.0.1:\(TestDB.freePort())/sotp"
        let d = try APIDaemon(
            extra: "[flow]\nnetflow_port = \(flowPort)\nipfix_port = 0\nsflow_port = 0\nstate_dir = \"\"",
            databaseURL: dead, waitReady: false)
        defer { d.stop(kill: true) }
        var r = try d.request("GET", "/readyz", role: nil)
        func listenersOK(_ r: HTTPReply) -> Bool { ((r.object["checks"] as? [String: Any])?["listeners"] as? [String: Any])?["ok"] as? Bool == true }
        for _ in 0..<60 where !listenersOK(r) {
            Thread.sleep(forTimeInterval: 0.1)
            r = try d.request("GET", "/readyz", role: nil)
        }
        #expect(r.status == 503, "\(r.text)")
        let checks = r.object["checks"] as? [String: [String: Any]] ?? [:]
        #expect(checks["database"]?["ok"] as? Bool == false, "\(r.text)")
        #expect(checks["listeners"]?["ok"] as? Bool == true && (checks["listeners"]?["detail"] as? String)?.contains("flow") == true, "\(r.text)")
        #expect(r.object["status"] as? String == "not ready")
        let metrics = try d.request("GET", "/metrics", role: nil).text
        #expect(metricValue(metrics, "sotp_ready") == 0, "\(metrics)")
        #expect(metricValue(metrics, #"sotp_ready_check{check="database"}"#) == 0)
        #expect(metricValue(metrics, #"sotp_ready_check{check="listeners"}"#) == 1)
        // Database trouble on a device request is a 503, never a 500 or a hang.
        let list = try d.request("GET", "/api/v1/devices", role: "viewer")
        #expect(list.status == 503 && list.errorCode == "unavailable", "\(list.text)")
        #expect(list.headers["retry-after"] != nil)
    }

    @Test(.timeLimit(.minutes(2)))
    func metricsCarryListenersLagLatencyAndReadiness() throws {
        let flowPort = TestDB.freePort()
        let d = try APIDaemon(extra: "[flow]\nnetflow_port = \(flowPort)\nipfix_port = 0\nsflow_port = 0\nstate_dir = \"\"")
        defer { d.stop() }
        // A push makes the sink write a batch, so the latency histogram has a sample.
        #expect(try d.request("POST", "/api/v1/ingest", role: "operator", json: #"{"host": "h", "cpu_pct": 1}"#).status == 202)
        var text = ""
        for _ in 0..<100 {
            text = try d.request("GET", "/metrics", role: nil).text
            if (metricValue(text, "sotp_sink_batch_latency_seconds_count") ?? 0) >= 1 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(expositionProblems(text) == [], "\(text)")
        #expect(metricValue(text, "sotp_ready") == 1, "\(text)")
        #expect(metricValue(text, #"sotp_listener_datagrams_total{listener="flow",port="\#(flowPort)"}"#) == 0, "\(text)")
        #expect(metricValue(text, #"sotp_listener_kernel_drops_total{listener="flow",port="\#(flowPort)"}"#) == 0)
        #expect(text.contains("# TYPE sotp_sink_batch_latency_seconds histogram"))
        #expect((metricValue(text, "sotp_sink_batch_latency_seconds_count") ?? 0) >= 1)
        #expect(metricValue(text, #"sotp_sink_batch_latency_seconds_bucket{le="+Inf"}"#) == metricValue(text, "sotp_sink_batch_latency_seconds_count"))
    }
}
