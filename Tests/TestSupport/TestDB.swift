// Test access to the real TimescaleDB that scripts/tsdb runs (scripts/test starts it): connection,
// unique table names, temporary directories, and the tsdb script for tests that stop a server.
import Foundation
import Sink

public enum TestDB {
    /// The repository root, from this file's path.
    public static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static let passwordFile =
        ProcessInfo.processInfo.environment["SOTP_TEST_DB_PASSWORD_FILE"] ?? "/var/cache/sotp/secrets/db_password"

    public static var password: String? {
        (try? String(contentsOfFile: passwordFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The shared test database (scripts/tsdb's main instance unless SOTP_TEST_DB_URL says otherwise).
    public static var info: PGConnectInfo {
        PGConnectInfo(
            url: ProcessInfo.processInfo.environment["SOTP_TEST_DB_URL"] ?? "postgresql://sotp@127.0.0.1:55432/sotp",
            password: password, applicationName: "sotp-tests")
    }

    private static let migrated: Result<Void, SchemaError> = {
        do {
            let c = try PGConnection(info)
            try Schema.migrate(c)
            return .success(())
        } catch let e as SchemaError {
            return .failure(e)
        } catch {
            return .failure(.database(error as? PGError ?? PGError(sqlstate: nil, message: "\(error)", connectionLost: true)))
        }
    }()

    /// A connection to the migrated test database.
    public static func connect() throws -> PGConnection {
        try migrated.get()
        return try PGConnection(info)
    }

    /// Creates an empty database of its own on the test server and returns its URL; `dropDatabase`
    /// removes it. For tests that need their own schema version or a devices table no one else fills.
    public static func createScratchDatabase() throws -> String {
        let admin = try connect()
        let db = uniqueName("sotp_scratch")
        try admin.execute("CREATE DATABASE \(db)")
        let base = info.url
        return base[..<base.lastIndex(of: "/")!] + "/" + db
    }

    public static func dropDatabase(_ url: String) {
        guard let admin = try? connect(), let name = url.split(separator: "/").last else { return }
        try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// A table name no other test (or earlier run) uses.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(getpid())"
    }

    /// A fresh empty directory under /tmp.
    public static func tempDir(_ prefix: String) -> String {
        let path = NSTemporaryDirectory() + "\(prefix)-\(UInt64.random(in: 0...UInt64.max))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs a program to the end and returns its exit status and combined output.
    @discardableResult
    public static func run(_ path: String, _ args: [String], env: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let child = try Child(path, args, env: env)
        let status = child.wait()
        return (status, child.output)
    }

    /// `run` on a thread of its own, awaited: a long child (schemathesis, half a minute) then does not
    /// hold one of the few threads of Swift's cooperative pool, which async tests elsewhere in the suite
    /// need to make progress.
    public static func runOffPool(_ path: String, _ args: [String], env: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { c in
            let t = Thread {
                do { c.resume(returning: try run(path, args, env: env)) } catch { c.resume(throwing: error) }
            }
            t.start()
        }
    }

    /// Runs scripts/tsdb for a named instance on its own port.
    @discardableResult
    public static func tsdb(_ args: [String], instance: String, port: Int) throws -> (status: Int32, output: String) {
        try run(repoRoot + "/scripts/tsdb", args, env: ["SOTP_TSDB_INSTANCE": instance, "SOTP_TSDB_PORT": String(port)])
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// The single value of a one-row, one-column query.
    public static func scalar(_ conn: borrowing PGConnection, _ sql: String, _ params: [String?] = []) throws -> String? {
        try conn.query(sql, params).first?.first ?? nil
    }
}
