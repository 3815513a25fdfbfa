// docs/openapi.json against the running server: the routes sotpd registers are exactly the documented
// operations, and every response of an exchange per operation and status has a documented status and
// a body that validates against the documented schema (requests that succeed validate too).
import Foundation
import Hummingbird
import Logging
import Poller
@testable import Sink
@testable import sotpd
import Testing
import TestSupport

/// The parts of OpenAPI 3.0 schema validation the document uses: $ref, allOf, oneOf, nullable, type,
/// enum, required, properties, additionalProperties: false, items, and the numeric and length bounds.
struct OpenAPISchemas {
    let document: [String: Any]

    func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let ref = schema["$ref"] as? String, ref.hasPrefix("#/") else { return schema }
        var node: Any = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
        return resolve(node as? [String: Any] ?? [:])
    }

    /// Problems with `value` against `schema`, each naming where (`$.items[3].name`); empty when valid.
    func validate(_ value: Any, _ raw: [String: Any], at path: String = "$") -> [String] {
        let schema = resolve(raw)
        if value is NSNull {
            return schema["nullable"] as? Bool == true || schema.isEmpty ? [] : ["\(path): null where not nullable"]
        }
        var problems: [String] = []
        for sub in schema["allOf"] as? [[String: Any]] ?? [] { problems += validate(value, sub, at: path) }
        if let any = schema["anyOf"] as? [[String: Any]], !any.contains(where: { validate(value, $0, at: path).isEmpty }) {
            problems.append("\(path): matches none of anyOf's \(any.count) schemas")
        }
        if let one = schema["oneOf"] as? [[String: Any]] {
            let passing = one.filter { validate(value, $0, at: path).isEmpty }.count
            if passing != 1 { problems.append("\(path): matches \(passing) of oneOf's \(one.count) schemas") }
        }
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { "\($0)" == "\(value)" }) {
            problems.append("\(path): \(value) is not one of \(allowed)")
        }
        let isBool = (value as? NSNumber).map { type(of: $0) == type(of: NSNumber(value: true)) } ?? false
        if schema["type"] as? String == "object" && !(value is [String: Any]) { return problems + ["\(path): not an object"] }
        if let o = value as? [String: Any] {
            let props = schema["properties"] as? [String: Any] ?? [:]
            for r in schema["required"] as? [String] ?? [] where o[r] == nil { problems.append("\(path).\(r): required, missing") }
            for (k, v) in o {
                if let p = props[k] as? [String: Any] {
                    problems += validate(v, p, at: "\(path).\(k)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path).\(k): not a documented property")
                }
            }
        }
        switch schema["type"] as? String {
        case "array"?:
            guard let a = value as? [Any] else { return problems + ["\(path): not an array"] }
            if let min = schema["minItems"] as? Int, a.count < min { problems.append("\(path): fewer than \(min) items") }
            if let max = schema["maxItems"] as? Int, a.count > max { problems.append("\(path): more than \(max) items") }
            if let items = schema["items"] as? [String: Any] {
                for (i, v) in a.enumerated() { problems += validate(v, items, at: "\(path)[\(i)]") }
            }
        case "string"?, nil where value is String && (schema["format"] != nil || schema["pattern"] != nil):
            guard let s = value as? String else { return problems + ["\(path): not a string"] }
            if let min = schema["minLength"] as? Int, s.count < min { problems.append("\(path): shorter than \(min)") }
            if let max = schema["maxLength"] as? Int, s.count > max { problems.append("\(path): longer than \(max)") }
            if let pattern = schema["pattern"] as? String, s.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): does not match \(pattern)")
            }
            if schema["format"] as? String == "date-time", parseRFC3339Micros(s) == nil { problems.append("\(path): not a date-time: \(s)") }
            if schema["format"] as? String == "ipv4", IPAddress(s)?.isV4 != true { problems.append("\(path): not an IPv4 address: \(s)") }
            if schema["format"] as? String == "ipv6", IPAddress(s).map({ !$0.isV4 }) != true { problems.append("\(path): not an IPv6 address: \(s)") }
        case "integer"?, "number"?:
            guard let n = value as? NSNumber, !isBool else { return problems + ["\(path): not a number"] }
            if schema["type"] as? String == "integer", n.doubleValue != n.doubleValue.rounded() { problems.append("\(path): not an integer") }
            if let min = schema["minimum"] as? Double, n.doubleValue < min { problems.append("\(path): below \(min)") }
            if let max = schema["maximum"] as? Double, n.doubleValue > max { problems.append("\(path): above \(max)") }
        case "boolean"?:
            if !isBool { problems.append("\(path): not a boolean") }
        default:
            break
        }
        return problems
    }
}

@Suite("API v1 against docs/openapi.json", .serialized)
struct APIOpenAPITests {
    nonisolated(unsafe) static let document: [String: Any] = {
        let data = FileManager.default.contents(atPath: TestDB.repoRoot + "/docs/openapi.json") ?? Data()
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }()

    /// "METHOD /path/{param}" of every documented operation.
    static var documented: Set<String> {
        var out = Set<String>()
        for (path, item) in document["paths"] as? [String: [String: Any]] ?? [:] {
            for method in item.keys { out.insert("\(method.uppercased()) \(path)") }
        }
        return out
    }

    /// The validator is only worth what it catches.
    @Test func theValidatorCatchesWhatItShould() {
        let v = OpenAPISchemas(document: Self.document)
        let error: [String: Any] = ["$ref": "#/components/schemas/Error"]
        #expect(v.validate(["error": ["status": 404, "code": "not_found", "message": "m"]], error).isEmpty)
        #expect(v.validate(["error": ["status": "404", "code": "not_found", "message": "m"]], error) == ["$.error.status: not a number"])
        #expect(v.validate(["error": ["status": 404, "code": "nope", "message": "m"]], error).count == 1)
        #expect(v.validate(["error": ["status": 404, "code": "not_found"]], error) == ["$.error.message: required, missing"])
        #expect(v.validate(["error": ["status": 404, "code": "not_found", "message": "m", "extra": 1]], error) == ["$.error.extra: not a documented property"])
        let page: [String: Any] = ["$ref": "#/components/schemas/DevicePage"]
        #expect(v.validate(["items": [], "limit": 1, "next_after": NSNull()], page).isEmpty)
        #expect(v.validate(["items": [["id": 1]], "limit": 1, "next_after": NSNull()], page).count == 9)
    }

    /// The document's device settings are the overrides the code accepts, with the same ranges.
    @Test func deviceSettingsMatchTheCode() {
        let props = ((((Self.document["components"] as? [String: Any])?["schemas"] as? [String: Any])?["DeviceSettings"] as? [String: Any])?["properties"] as? [String: [String: Any]]) ?? [:]
        #expect(Set(props.keys) == Set(ProbeOverrides.keys + SNMPOverrides.keys))
        for k in ProbeOverrides.intKeys {
            let r = ProbeOverrides.range(of: k)
            #expect(props[k]?["minimum"] as? Int == r.lowerBound && props[k]?["maximum"] as? Int == r.upperBound, "\(k)")
        }
        for (k, r) in SNMPOverrides.intKeys {
            #expect(props[k]?["minimum"] as? Int == r.lowerBound && props[k]?["maximum"] as? Int == r.upperBound, "\(k)")
        }
        for (k, allowed) in SNMPOverrides.stringKeys where allowed != nil {
            #expect(props[k]?["enum"] as? [String] == allowed, "\(k)")
        }
    }

    @Test func theRoutesAreTheDocumentedOperations() throws {
        #expect(!Self.document.isEmpty, "docs/openapi.json did not load")
        let config = try Config.load(path: nil, environment: [:])
        let db = APIDatabase(info: config.connectInfo, size: 1, logger: Logger(label: "test"))
        defer { db.stop() }
        let handlers = APIHandlers(
            settings: config.apiSettings, db: db, sink: nil, metrics: MetricsRegistry(sources: [], logger: Logger(label: "test")),
            readiness: Readiness(), logger: Logger(label: "test"))
        let router = Router(context: APIRequestContext.self)
        handlers.register(router)
        let served = Set(router.routes.map { r -> String in
            let path = r.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(r.method.rawValue) /" + path.drop { $0 == "/" }
        })
        #expect(served == Self.documented, "served but not documented: \(served.subtracting(Self.documented).sorted()); documented but not served: \(Self.documented.subtracting(served).sorted())")
    }

    @Test(.timeLimit(.minutes(3)))
    func everyResponseMatchesTheDocument() throws {
        let schemas = OpenAPISchemas(document: Self.document)
        let d = try APIDaemon()
        defer { d.stop() }
        var covered = Set<String>()
        var problems: [String] = []

        /// One exchange: `documented` is the spec's path; the request body, when the call should
        /// succeed, must validate against the documented request schema too.
        func exchange(_ method: String, _ documented: String, _ path: String, role: String? = "admin", json: String? = nil,
                      headers: [String: String] = [:], expect status: Int) throws -> HTTPReply {
            let r = try d.request(method, path, role: role, json: json, headers: headers)
            let where_ = "\(method) \(path) → \(r.status)"
            if r.status != status { problems.append("\(where_): expected \(status): \(r.text.prefix(300))") }
            covered.insert("\(method) \(documented)")
            guard let op = ((Self.document["paths"] as? [String: Any])?[documented] as? [String: Any])?[method.lowercased()] as? [String: Any] else {
                problems.append("\(where_): not documented")
                return r
            }
            if (200..<300).contains(r.status), let json,
               let reqSchema = ((((op["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]) {
                let body = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) ?? NSNull()
                problems += schemas.validate(body, reqSchema).map { "\(where_) request: \($0)" }
            }
            guard let rawResponse = (op["responses"] as? [String: Any])?[String(r.status)] as? [String: Any] else {
                problems.append("\(where_): status \(r.status) is not documented for this operation")
                return r
            }
            let response = schemas.resolve(rawResponse)
            guard let content = response["content"] as? [String: Any] else {
                if !r.body.isEmpty { problems.append("\(where_): documented without a body, got \(r.text.prefix(100))") }
                return r
            }
            if let media = content["application/json"] as? [String: Any], let schema = media["schema"] as? [String: Any] {
                guard r.headers["content-type"]?.hasPrefix("application/json") == true, let body = r.json else {
                    problems.append("\(where_): not JSON: \(r.headers["content-type"] ?? "-") \(r.text.prefix(100))")
                    return r
                }
                problems += schemas.validate(body, schema).map { "\(where_): \($0)" }
            } else if content["text/plain"] != nil {
                if r.headers["content-type"]?.hasPrefix("text/plain") != true { problems.append("\(where_): not text/plain") }
            }
            return r
        }

        _ = try exchange("GET", "/healthz", "/healthz", role: nil, expect: 200)
        _ = try exchange("GET", "/readyz", "/readyz", role: nil, expect: 200)
        _ = try exchange("GET", "/metrics", "/metrics", role: nil, expect: 200)

        let devices = "/api/v1/devices"
        let made = try exchange("POST", devices, devices, json: #"{"name": "oa-1", "address": "127.0.0.5", "tags": ["a"], "settings": {"probes": 2}}"#, expect: 201)
        let id = made.object["id"] as? Int ?? 0
        _ = try exchange("POST", devices, devices, json: #"{"name": "oa-2", "address": "::1", "enabled": false, "icmp": false, "snmp": true}"#, expect: 201)
        _ = try exchange("POST", devices, devices, json: #"{"name": "oa-1", "address": "127.0.0.6"}"#, expect: 409)
        _ = try exchange("POST", devices, devices, json: #"{"name": "x", "address": "nope"}"#, expect: 422)
        _ = try exchange("POST", devices, devices, json: "{", expect: 400)
        _ = try exchange("POST", devices, devices, json: "{}", headers: ["Content-Type": "text/csv"], expect: 415)
        _ = try exchange("POST", devices, devices, json: String(repeating: " ", count: 70_000), expect: 413)
        _ = try exchange("POST", devices, devices, role: "viewer", json: #"{"name": "v", "address": "127.0.0.1"}"#, expect: 403)
        _ = try exchange("GET", devices, devices, role: "viewer", expect: 200)
        _ = try exchange("GET", devices, devices + "?limit=1&tag=a&enabled=true&after=0", role: "viewer", expect: 200)
        _ = try exchange("GET", devices, devices + "?limit=0", role: "viewer", expect: 400)
        _ = try exchange("GET", devices, devices, role: nil, expect: 401)
        let one = "/api/v1/devices/{id}"
        _ = try exchange("GET", one, "\(devices)/\(id)", role: "viewer", expect: 200)
        _ = try exchange("GET", one, "\(devices)/999999", role: "viewer", expect: 404)
        _ = try exchange("GET", one, "\(devices)/x", role: "viewer", expect: 400)
        _ = try exchange("PATCH", one, "\(devices)/\(id)", json: #"{"tags": ["a", "b"], "settings": {"timeout_ms": 900}}"#, expect: 200)
        _ = try exchange("PATCH", one, "\(devices)/\(id)", json: #"{"name": "oa-2"}"#, expect: 409)
        _ = try exchange("PATCH", one, "\(devices)/999999", json: "{}", expect: 404)
        _ = try exchange("PUT", one, "\(devices)/\(id)", json: #"{"name": "oa-1", "address": "127.0.0.9"}"#, expect: 200)
        _ = try exchange("PUT", one, "\(devices)/\(id)", json: #"{"name": "oa-1"}"#, expect: 422)
        _ = try exchange("DELETE", one, "\(devices)/\(id)", expect: 204)
        _ = try exchange("DELETE", one, "\(devices)/\(id)", expect: 404)
        let ingest = "/api/v1/ingest"
        let recent = ISO8601DateFormatter().string(from: Date(timeIntervalSinceNow: -60))
        _ = try exchange("POST", ingest, ingest, json: #"{"host": "s1", "time": "\#(recent)", "cpu_pct": 3, "disks": [{"mount": "/", "used_bytes": 1, "total_bytes": 2}], "metrics": [{"name": "load1", "value": 0.5, "instance": ""}]}"#, expect: 202)
        _ = try exchange("POST", ingest, ingest, json: #"[{"host": "s1", "mem_used_bytes": 5, "mem_total_bytes": 10}]"#, expect: 202)
        _ = try exchange("POST", ingest, ingest, json: #"{"host": "s1", "bogus": 1}"#, expect: 422)
        _ = try exchange("POST", ingest, ingest, json: "nope", expect: 400)
        _ = try exchange("POST", ingest, ingest, role: "viewer", json: #"{"host": "s1", "cpu_pct": 1}"#, expect: 403)

        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        #expect(covered == Self.documented, "operations not exercised: \(Self.documented.subtracting(covered).sorted())")
    }

    /// schemathesis (PyPI; scripts/test installs it and sets SOTP_SCHEMATHESIS) generates requests from the
    /// document, valid and not, and checks every answer: no 5xx, statuses and bodies as documented, 401
    /// without a token, 405 for undocumented methods. Left out: positive_data_acceptance, because some
    /// schema-valid bodies are refused for rules a schema cannot say (a probe source of the other address
    /// family, a time older than the retention, timeouts that overrun the interval).
    @Test(.timeLimit(.minutes(5)))
    func schemathesisFindsNothing() async throws {
        let binary = ProcessInfo.processInfo.environment["SOTP_SCHEMATHESIS"] ?? "/var/cache/sotp/venv-schemathesis-4.32.5/bin/schemathesis"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("schemathesis is not installed at \(binary): scripts/test installs it")
            return
        }
        let d = try APIDaemon()
        defer { d.stop() }
        let r = try await TestDB.runOffPool(binary, [
            "run", TestDB.repoRoot + "/docs/openapi.json", "--url", "http://127.0.0.1:\(d.port)",
            "-H", "Authorization: Bearer \(d.tokens["operator"]!)", "--checks", "all", "--exclude-checks", "positive_data_acceptance",
            "--max-examples", "25", "--seed", "7", "--no-color", "--request-timeout", "20",
        ], env: ["SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"])
        #expect(r.status == 0, "\(r.output.suffix(6000))")
        #expect(!d.child.output.contains("Fatal error"))
    }
}
