// sotpd's HTTP API, a service of `sotpd run` served by Hummingbird: /healthz, /readyz and /metrics for
// probes and Prometheus, and /api/v1 (device inventory, push ingest) behind bearer tokens with roles.
// Every refusal is a JSON 4xx naming the problem; database trouble is a 503, never a hang.
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Poller
import ServiceLifecycle
import Sink
import Synchronization

/// Hummingbird's request context plus the peer's address (stored with pushed metrics).
struct APIRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// What /readyz reports: whether each part of sotpd is up, by name.
final class Readiness: Sendable {
    enum Group: String, Sendable { case listeners, pollers }

    private struct Component {
        var group: Group
        var running = false
    }

    private let components = Mutex<[String: Component]>([:])
    /// Unix µs of the last good database round trip (0: none yet), and the last error.
    private let databaseOK = Atomic<Int>(0)
    private let databaseError = Mutex<String>("not checked yet")
    /// A database check older than this no longer counts.
    static let databaseFreshMicros = 15_000_000

    init() {}

    /// Declares a component; it is not ready until `set(name, running: true)`.
    func register(_ name: String, _ group: Group) {
        components.withLock { $0[name] = Component(group: group) }
    }

    func set(_ name: String, running: Bool) {
        components.withLock { $0[name]?.running = running }
    }

    func databaseChecked(error: String?) {
        if let error {
            databaseError.withLock { $0 = error }
        } else {
            databaseOK.store(Int(Date().timeIntervalSince1970 * 1e6), ordering: .relaxed)
        }
    }

    struct Check: Sendable {
        var name: String
        var ok: Bool
        var detail: String
    }

    /// database, listeners and pollers, each with what is wrong when it is not ok.
    func checks(nowMicros: Int = Int(Date().timeIntervalSince1970 * 1e6)) -> [Check] {
        let last = databaseOK.load(ordering: .relaxed)
        let dbOK = last > 0 && nowMicros - last <= Self.databaseFreshMicros
        var out = [Check(
            name: "database", ok: dbOK,
            detail: dbOK ? "reachable" : "no successful query in \(Self.databaseFreshMicros / 1_000_000) s: \(databaseError.withLock { $0 })")]
        let comps = components.withLock { $0 }
        for g in [Group.listeners, .pollers] {
            let members = comps.filter { $0.value.group == g }.sorted { $0.key < $1.key }
            let down = members.filter { !$0.value.running }.map(\.key)
            let detail = members.isEmpty ? "none configured" : down.isEmpty ? members.map(\.key).joined(separator: ", ") + " running" : "not running: " + down.joined(separator: ", ")
            out.append(Check(name: g.rawValue, ok: down.isEmpty, detail: detail))
        }
        return out
    }

    var samples: [MetricSample] {
        let c = checks()
        var out = [MetricSample(name: "sotp_ready", kind: .gauge, help: "1 when every /readyz check passes.", value: c.allSatisfy(\.ok) ? 1 : 0)]
        for check in c {
            out.append(MetricSample(
                name: "sotp_ready_check", kind: .gauge, help: "1 when this /readyz check passes (database, listeners, pollers).",
                labels: [("check", check.name)], value: check.ok ? 1 : 0))
        }
        return out
    }
}

/// Runs a service and tells `Readiness` whether it is running.
struct ReadinessTracked: Service {
    let inner: any Service
    let name: String
    let readiness: Readiness

    init(_ inner: any Service, _ name: String, _ group: Readiness.Group, _ readiness: Readiness) {
        self.inner = inner
        self.name = name
        self.readiness = readiness
        readiness.register(name, group)
    }

    func run() async throws {
        readiness.set(name, running: true)
        defer { readiness.set(name, running: false) }
        try await inner.run()
    }
}

/// What the API needs besides its address.
struct APISettings: Sendable {
    var tokens: APITokenStore
    var metricsAuth: Bool
    var maxBodyBytes: Int
    var dbConnections: Int
    var connectInfo: PGConnectInfo
    var devices: DeviceValidator
    var ingest: IngestParser
}

/// The HTTP API. Listed last in the service group, so SIGTERM stops it first.
struct APIService: Service {
    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"
    static let jsonContentType = "application/json; charset=utf-8"
    let host: String
    let port: Int
    let metrics: MetricsRegistry
    let readiness: Readiness
    let settings: APISettings
    let sink: Sink?
    let logger: Logger

    /// The address as api.listen writes it.
    var listen: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Checks now that the address can be listened on, so a port in use or an address that is not this
    /// host's stops sotpd before any other service starts (Hummingbird binds it again when it runs).
    init(
        host: String, port: Int, metrics: MetricsRegistry, readiness: Readiness, settings: APISettings, sink: Sink?,
        logger: Logger
    ) throws(APIError) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.readiness = readiness
        self.settings = settings
        self.sink = sink
        self.logger = logger
        if let problem = tryBind(host: host, port: port) {
            throw APIError(description: "api.listen \"\(listen)\": cannot listen there: \(problem)")
        }
    }

    func run() async throws {
        let db = APIDatabase(info: settings.connectInfo, size: settings.dbConnections, logger: logger)
        defer { db.stop() }
        let handlers = APIHandlers(settings: settings, db: db, sink: sink, metrics: metrics, readiness: readiness, logger: logger)
        let router = Router(context: APIRequestContext.self)
        handlers.register(router)
        let running = RunningFlag()
        let logger = self.logger, listen = self.listen
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { _ in
                running.value.store(true, ordering: .releasing)
                logger.info("API listening", metadata: ["address": "\(listen)", "tokens": "\(handlers.settings.tokens.tokens.count)"])
            },
            logger: logger)
        // Every second: the inventory version (the device list's snapshot reloads when it moved), which is
        // also the database check behind /readyz.
        let refresher = Task {
            while !Task.isCancelled {
                await handlers.refreshDevices()
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { refresher.cancel() }
        do {
            try await app.run()
        } catch {
            if running.value.load(ordering: .acquiring) { throw error }
            throw APIError(description: "api.listen \"\(listen)\": cannot listen there: \(error)")
        }
    }
}

/// The routes and what each does.
struct APIHandlers: Sendable {
    let settings: APISettings
    let db: APIDatabase
    let sink: Sink?
    let metrics: MetricsRegistry
    let readiness: Readiness
    let logger: Logger
    let ingestTable: SinkTable?
    let cache = DeviceCache()

    init(settings: APISettings, db: APIDatabase, sink: Sink?, metrics: MetricsRegistry, readiness: Readiness, logger: Logger) {
        self.settings = settings
        self.db = db
        self.sink = sink
        self.metrics = metrics
        self.readiness = readiness
        self.logger = logger
        ingestTable = sink?.table(IngestTables.metrics)
    }

    typealias Context = APIRequestContext

    /// One operation: method, path (`:id` captures) and what answers it.
    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var handler: @Sendable (Request, Context) async -> Response
    }

    /// Every operation the API serves; docs/openapi.json documents exactly these (a test checks).
    var routes: [Route] {
        [
            Route(method: .get, path: "/healthz") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
            },
            Route(method: .get, path: "/readyz") { _, _ in readyz() },
            Route(method: .get, path: "/metrics") { request, _ in
                await guarded(request, needs: settings.metricsAuth ? .viewer : nil) { () throws(APIProblem) in
                    Response(status: .ok, headers: [.contentType: APIService.metricsContentType], body: .init(byteBuffer: ByteBuffer(bytes: metrics.scrape())))
                }
            },
            Route(method: .get, path: "/api/v1/devices") { request, _ in
                await guarded(request, needs: .viewer) { () throws(APIProblem) in try await listDevices(request) }
            },
            Route(method: .post, path: "/api/v1/devices") { request, _ in
                await guarded(request, needs: .operator) { () throws(APIProblem) in try await createDevice(request) }
            },
            Route(method: .get, path: "/api/v1/devices/:id") { request, context in
                await guarded(request, needs: .viewer) { () throws(APIProblem) in try await getDevice(try deviceID(context)) }
            },
            Route(method: .put, path: "/api/v1/devices/:id") { request, context in
                await guarded(request, needs: .operator) { () throws(APIProblem) in try await updateDevice(try deviceID(context), request, replace: true) }
            },
            Route(method: .patch, path: "/api/v1/devices/:id") { request, context in
                await guarded(request, needs: .operator) { () throws(APIProblem) in try await updateDevice(try deviceID(context), request, replace: false) }
            },
            Route(method: .delete, path: "/api/v1/devices/:id") { request, context in
                await guarded(request, needs: .operator) { () throws(APIProblem) in try await deleteDevice(try deviceID(context)) }
            },
            Route(method: .post, path: "/api/v1/ingest") { request, context in
                await guarded(request, needs: .operator) { () throws(APIProblem) in try await ingest(request, from: context.remoteAddress) }
            },
        ]
    }

    func register(_ router: Router<Context>) {
        let routes = self.routes
        router.add(middleware: MethodNotAllowed(routes: routes.map { ($0.method, $0.path) }, problem: problemResponse))
        for r in routes {
            router.on(RouterPath(r.path), method: r.method) { request, context in await r.handler(request, context) }
        }
    }

    // MARK: plumbing

    /// Checks the token (when `needs` is set), runs `body`, and turns whatever it throws into a JSON error.
    func guarded(
        _ request: Request, needs role: APIRole?, _ body: () async throws(APIProblem) -> Response
    ) async -> Response {
        if let role, case .failure(let f) = settings.tokens.authorize(request.headers[.authorization], needs: role) {
            return problemResponse(authProblem(f))
        }
        do {
            return try await body()
        } catch {
            if error.status >= 500 {
                logger.warning("API request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error.message)"])
            }
            return problemResponse(error)
        }
    }

    func authProblem(_ f: APIAuthFailure) -> APIProblem {
        if settings.tokens.tokens.isEmpty {
            return APIProblem(status: 401, code: "unauthorized", field: nil, message: "no API tokens are configured: add [[api_tokens]] to the configuration")
        }
        switch f {
        case .missing: return APIProblem(status: 401, code: "unauthorized", field: nil, message: "an Authorization: Bearer <token> header is required")
        case .malformed: return APIProblem(status: 401, code: "unauthorized", field: nil, message: "the Authorization header must be \"Bearer <token>\"")
        case .unknown: return APIProblem(status: 401, code: "unauthorized", field: nil, message: "the token is not valid")
        case .forbidden(let name, let role, let needed):
            return APIProblem(status: 403, code: "forbidden", field: nil, message: "token \"\(name)\" has role \(role.rawValue); this needs \(needed.rawValue) or above")
        }
    }

    func problemResponse(_ p: APIProblem) -> Response {
        var headers: HTTPFields = [.contentType: APIService.jsonContentType]
        if p.status == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"sotpd\"" }
        if p.status == 503 { headers[.retryAfter] = "1" }
        return Response(status: .init(code: p.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: p.json)))
    }

    func json(_ status: HTTPResponse.Status, _ text: String, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: APIService.jsonContentType]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The request body, at most api.max_body_bytes; 413 beyond, 415 for a declared type that is not JSON.
    func body(_ request: Request) async throws(APIProblem) -> [UInt8] {
        if let type = request.headers[.contentType] {
            let media = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" else {
                throw APIProblem(status: 415, code: "unsupported_media_type", field: nil, message: "Content-Type must be application/json, got \"\(type)\"")
            }
        }
        let limit = settings.maxBodyBytes
        let tooLarge = APIProblem(
            status: 413, code: "body_too_large", field: nil, message: "the request body is larger than \(limit) bytes (api.max_body_bytes)")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch {
            throw APIProblem(status: 400, code: "invalid_body", field: nil, message: "the request body could not be read: \(error)")
        }
    }

    /// Runs a database job; pool refusals and database errors become 503s, a unique name clash a 409.
    func database<T: Sendable>(_ job: @escaping @Sendable (borrowing PGConnection) throws(PGError) -> T) async throws(APIProblem) -> T {
        do {
            return try await db.run(job)
        } catch {
            switch error {
            case .busy, .stopped:
                throw APIProblem(status: 503, code: "unavailable", field: nil, message: "\(error)")
            case .database(let pg):
                if pg.sqlstate == "23505" {
                    throw APIProblem(status: 409, code: "conflict", field: "name", message: "name: another device already has this name")
                }
                throw APIProblem(status: 503, code: "unavailable", field: nil, message: "database: \(pg.message)")
            }
        }
    }

    // MARK: /readyz

    func readyz() -> Response {
        let checks = readiness.checks()
        let ok = checks.allSatisfy(\.ok)
        let members = checks.map { "\(jsonString($0.name)): {\"ok\": \($0.ok), \"detail\": \(jsonString($0.detail))}" }
        let text = "{\"status\": \(ok ? "\"ready\"" : "\"not ready\""), \"checks\": {" + members.joined(separator: ", ") + "}}\n"
        return json(ok ? .ok : .serviceUnavailable, text)
    }

    // MARK: devices

    func deviceID(_ context: Context) throws(APIProblem) -> Int32 {
        let raw = context.parameters.get("id") ?? ""
        guard let id = Int32(raw), id > 0 else {
            throw .parameter("id", "must be a positive 32-bit integer, got \"\(raw.prefix(40))\"")
        }
        return id
    }

    static let listParameters = ["limit", "after", "tag", "enabled"]

    /// Reloads the device snapshot when the inventory version moved, it is older than
    /// `DeviceCache.maxAge`, or it was dropped; records the round trip for /readyz.
    func refreshDevices() async {
        let cache = self.cache
        let generation = cache.generation
        let known = cache.version
        let fresh = (cache.age ?? .seconds(1_000_000)) < DeviceCache.maxAge
        do {
            let snapshot: DeviceSnapshot? = try await db.run { conn throws(PGError) in
                if let known, fresh, try ICMPInventory.version(conn) == known { return nil }
                return try DeviceSnapshot.load(conn)
            }
            if let snapshot { cache.store(snapshot, generation: generation) } else { cache.confirmed() }
            readiness.databaseChecked(error: nil)
        } catch {
            readiness.databaseChecked(error: "\(error)")
        }
    }

    func listDevices(_ request: Request) async throws(APIProblem) -> Response {
        let q = request.uri.queryParameters
        var limit = 100, after: Int32 = 0, tags: [String] = [], enabled: String?
        for (k, v) in q {
            let value = String(v)
            switch k {
            case "limit":
                guard let n = Int(value), (1...1000).contains(n) else {
                    throw .parameter("limit", "must be an integer in 1…1000, got \"\(value.prefix(40))\"")
                }
                limit = n
            case "after":
                guard let n = Int32(value), n >= 0 else {
                    throw .parameter("after", "must be a device id (0 or more), got \"\(value.prefix(40))\"")
                }
                after = n
            case "tag":
                guard !value.isEmpty, value.count <= DeviceValidator.maxTagLength, !value.contains(where: isControl) else {
                    throw .parameter("tag", "must be 1…\(DeviceValidator.maxTagLength) characters without control characters")
                }
                tags.append(value)
            case "enabled":
                guard value == "true" || value == "false" else {
                    throw .parameter("enabled", "must be true or false, got \"\(value.prefix(40))\"")
                }
                enabled = value
            default:
                throw .parameter(String(k.prefix(64)), "is not a parameter of this list; known: \(Self.listParameters.joined(separator: ", "))")
            }
        }
        var items: String, next: String?
        if let snapshot = cache.current {
            let page = snapshot.page(after: after, limit: limit, tags: tags, enabled: enabled.map { $0 == "true" })
            (items, next) = (page.items, page.next.map { String($0) })
        } else {
            let params: [String?] = [String(after), String(limit), tags.isEmpty ? nil : jsonArray(tags), enabled]
            let row = try await database { conn throws(PGError) in try conn.query(DeviceSQL.list, params).first }
            (items, next) = (row?[0] ?? "[]", row?[1] ?? nil)
        }
        return json(.ok, "{\"items\": \(items), \"limit\": \(limit), \"next_after\": \(next ?? "null")}\n")
    }

    func getDevice(_ id: Int32) async throws(APIProblem) -> Response {
        let row = try await database { conn throws(PGError) in try conn.query(DeviceSQL.get, [String(id)]).first }
        guard let text = row?[0] ?? nil else { throw notFound(id) }
        return json(.ok, text + "\n")
    }

    func notFound(_ id: Int32) -> APIProblem {
        APIProblem(status: 404, code: "not_found", field: "id", message: "no device has id \(id)")
    }

    func createDevice(_ request: Request) async throws(APIProblem) -> Response {
        let d = try settings.devices.parse(try await body(request), complete: true)
        try settings.devices.check(address: d.address!, settings: d.settings ?? "{}", snmp: d.snmp ?? false)
        let params = d.sqlParameters
        let row = try await database { conn throws(PGError) in try conn.query(DeviceSQL.insert, params).first }
        guard let text = row?[0] ?? nil, let id = row?[1] ?? nil else {
            throw APIProblem(status: 503, code: "unavailable", field: nil, message: "the database returned no row")
        }
        cache.invalidate()
        return json(.created, text + "\n", headers: [.location: "/api/v1/devices/\(id)"])
    }

    /// PUT (`replace`: fields left out take their defaults) or PATCH (fields left out keep their value).
    /// The row is read, merged, checked and written in one transaction, so two PATCHes do not lose
    /// each other's fields.
    func updateDevice(_ id: Int32, _ request: Request, replace: Bool) async throws(APIProblem) -> Response {
        let input = try settings.devices.parse(try await body(request), complete: replace)
        let validator = settings.devices
        let outcome: Result<String, APIProblem> = try await database { conn throws(PGError) in
            try conn.execute("BEGIN")
            do throws(PGError) {
                guard let cur = try conn.query(DeviceSQL.current + " FOR UPDATE", [String(id)]).first else {
                    try conn.execute("ROLLBACK")
                    return .failure(notFound(id))
                }
                var d = input
                if !replace {
                    d.name = d.name ?? cur[0]
                    d.address = d.address ?? cur[1]
                    if d.tags == nil, let t = cur[2], let list = try? JSONSerialization.jsonObject(with: Data(t.utf8)) as? [String] { d.tags = list }
                    d.enabled = d.enabled ?? (cur[3] == "t")
                    d.icmp = d.icmp ?? (cur[4] == "t")
                    d.snmp = d.snmp ?? (cur[5] == "t")
                    d.settings = d.settings ?? cur[6]
                }
                do throws(APIProblem) {
                    try validator.check(address: d.address ?? "", settings: d.settings ?? "{}", snmp: d.snmp ?? false)
                } catch {
                    try conn.execute("ROLLBACK")
                    return .failure(error)
                }
                let row = try conn.query(DeviceSQL.update, [String(id)] + d.sqlParameters).first
                try conn.execute("COMMIT")
                guard let text = row?[0] ?? nil else { return .failure(notFound(id)) }
                return .success(text)
            } catch {
                if !error.connectionLost { try? conn.execute("ROLLBACK") }
                throw error
            }
        }
        let text = try outcome.get()
        cache.invalidate()
        return json(.ok, text + "\n")
    }

    func deleteDevice(_ id: Int32) async throws(APIProblem) -> Response {
        let rows = try await database { conn throws(PGError) in try conn.query(DeviceSQL.delete, [String(id)]) }
        guard !rows.isEmpty else { throw notFound(id) }
        cache.invalidate()
        return Response(status: .noContent)
    }

    // MARK: ingest

    func ingest(_ request: Request, from peer: SocketAddress?) async throws(APIProblem) -> Response {
        guard let sink, let table = ingestTable else {
            throw APIProblem(status: 503, code: "unavailable", field: nil, message: "ingest is not available (no sink)")
        }
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        let rows = try settings.ingest.parse(try await body(request), nowMicros: now)
        let source = peer?.ipAddress.flatMap { IPAddress($0) }
        var refused = 0
        for r in rows {
            let result = sink.append(table) { b in
                b.timestamptz(unixMicros: r.timeMicros)
                b.text(r.host)
                b.text(r.metric)
                b.text(r.instance)
                b.float8(r.value)
                switch source {
                case .v4(let a): b.inet(ipv4: a)
                case .v6(let h, let l): b.inet(ipv6High: h, low: l)
                case nil: b.null()
                }
            }
            if case .closed = result { refused += 1 }
        }
        if refused > 0 {
            throw APIProblem(status: 503, code: "unavailable", field: nil, message: "sotpd is stopping; \(refused) of \(rows.count) values were not stored")
        }
        return json(.accepted, "{\"accepted\": \(rows.count)}\n")
    }
}

/// 405 with an `Allow` header for a known path asked with a method it does not serve (the router alone
/// would say 404, as for a path that does not exist); 404 as JSON for an unknown path under /api/.
struct MethodNotAllowed: RouterMiddleware {
    typealias Context = APIRequestContext
    let routes: [(method: HTTPRequest.Method, segments: [Substring])]
    let problem: @Sendable (APIProblem) -> Response

    init(routes: [(HTTPRequest.Method, String)], problem: @escaping @Sendable (APIProblem) -> Response) {
        self.routes = routes.map { ($0.0, $0.1.split(separator: "/")) }
        self.problem = problem
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError where e.status == .notFound {
            let path = request.uri.path.split(separator: "/")
            let allowed = routes.filter { r in
                r.segments.count == path.count && zip(r.segments, path).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
            }.map(\.method.rawValue)
            if !allowed.isEmpty {
                var response = problem(APIProblem(
                    status: 405, code: "method_not_allowed", field: nil,
                    message: "\(request.method.rawValue) is not allowed here; allowed: \(allowed.joined(separator: ", "))"))
                response.headers[.allow] = allowed.joined(separator: ", ")
                return response
            }
            if request.uri.path.hasPrefix("/api/") {
                return problem(APIProblem(status: 404, code: "not_found", field: nil, message: "no such resource: \(request.uri.path.prefix(200))"))
            }
            throw e
        }
    }
}
