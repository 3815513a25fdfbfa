// One libpq connection: plain statements, text-format queries and binary COPY FROM STDIN.
// All calls block; the sink runs them on its own writer threads, never on the async executors.
import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL error with the server's SQLSTATE (nil when the connection itself failed).
public struct PGError: Error, CustomStringConvertible, Sendable {
    /// Five-character SQLSTATE, e.g. "23502"; nil for client-side and connection failures.
    public var sqlstate: String?
    /// The server's (or libpq's) message, first line.
    public var message: String
    /// True when the connection is no longer usable (lost, refused, or never made).
    public var connectionLost: Bool

    public init(sqlstate: String?, message: String, connectionLost: Bool) {
        self.sqlstate = sqlstate
        self.message = message
        self.connectionLost = connectionLost
    }

    public var description: String {
        if let sqlstate { return "\(message) (SQLSTATE \(sqlstate))" }
        return message
    }

    /// Errors that will not go away by retrying the same rows: data exceptions (class 22) and integrity
    /// constraint violations (class 23).
    public var isDataError: Bool {
        guard let s = sqlstate, !connectionLost else { return false }
        return s.hasPrefix("22") || s.hasPrefix("23")
    }

    /// Errors in how the rows meet the schema (class 42: a missing table or column, a permission):
    /// retrying will not help until someone changes the schema, and splitting cannot isolate a row.
    public var isSchemaError: Bool {
        guard let s = sqlstate, !connectionLost else { return false }
        return s.hasPrefix("42")
    }

    /// Everything else: the server or the path to it is at fault (connection exceptions, shutdown,
    /// resources, lock and statement timeouts, serialization failures, read-only after a failover,
    /// internal errors), so the same rows are retried later rather than set aside.
    public var isTransient: Bool {
        connectionLost || !(isDataError || isSchemaError)
    }
}

/// The connection parameters: a libpq URL or keyword string, and an optional password kept apart
/// from it (so the URL can be logged).
public struct PGConnectInfo: Sendable {
    public var url: String
    public var password: String?
    public var applicationName: String
    public var connectTimeoutSeconds: Int
    /// Server-side statement_timeout and lock_timeout for the session (nil: the server's defaults), so
    /// a COPY stuck behind a lock cannot hold up a writer, or shutdown, forever.
    public var statementTimeoutMs: Int?
    public var lockTimeoutMs: Int?

    public init(url: String, password: String? = nil, applicationName: String = "sotpd", connectTimeoutSeconds: Int = 5) {
        self.url = url
        self.password = password
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }
}

/// Owns one `PGconn`; closed when the owner goes away. The pointer never escapes, so the type is safe to use.
@safe public struct PGConnection: ~Copyable {
    let conn: OpaquePointer

    /// Connects; throws with libpq's message when the server cannot be reached or refuses.
    public init(_ info: PGConnectInfo) throws(PGError) {
        // dbname carries the URL (expand_dbname = 1); the keywords after it override its values.
        var pairs: [(String, String)] = [
            ("dbname", info.url),
            ("application_name", info.applicationName),
            ("connect_timeout", String(info.connectTimeoutSeconds)),
            // A dead peer is noticed within ~30 s instead of the kernel's two hours.
            ("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"),
            ("keepalives_count", "3"), ("tcp_user_timeout", "30000"),
        ]
        if let pw = info.password { pairs.append(("password", pw)) }
        var options: [String] = []
        if let t = info.statementTimeoutMs { options.append("-c statement_timeout=\(t)") }
        if let t = info.lockTimeoutMs { options.append("-c lock_timeout=\(t)") }
        if !options.isEmpty { pairs.append(("options", options.joined(separator: " "))) }
        let keys = unsafe pairs.map { unsafe strdup($0.0) }
        let values = unsafe pairs.map { unsafe strdup($0.1) }
        defer {
            for unsafe p in unsafe keys { unsafe free(p) }
            for unsafe p in unsafe values { unsafe free(p) }
        }
        let kp: [UnsafePointer<CChar>?] = unsafe keys.map { unsafe UnsafePointer($0) } + [nil]
        let vp: [UnsafePointer<CChar>?] = unsafe values.map { unsafe UnsafePointer($0) } + [nil]
        guard let c = unsafe PQconnectdbParams(kp, vp, 1) else {
            throw PGError(sqlstate: nil, message: "libpq: out of memory", connectionLost: true)
        }
        if unsafe PQstatus(c) != CONNECTION_OK {
            let msg = unsafe Self.firstLine(PQerrorMessage(c))
            unsafe PQfinish(c)
            throw PGError(sqlstate: nil, message: msg, connectionLost: true)
        }
        // Server NOTICEs ("already exists, skipping") are not errors; keep them off stderr.
        unsafe PQsetNoticeProcessor(c, { _, _ in }, nil)
        unsafe conn = c
    }

    deinit { unsafe PQfinish(conn) }

    /// True while libpq considers the connection usable.
    public var isOK: Bool { unsafe PQstatus(conn) == CONNECTION_OK }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(PGError) {
        let res = unsafe PQexec(conn, sql)
        defer { unsafe PQclear(res) }
        try unsafe check(res, expect: [PGRES_COMMAND_OK, PGRES_TUPLES_OK])
    }

    /// Runs a query with text parameters and returns its rows as text (nil for SQL NULL).
    public func query(_ sql: String, _ params: [String?] = []) throws(PGError) -> [[String?]] {
        let copies = unsafe params.map { p in unsafe p.map { unsafe strdup($0) } ?? nil }
        defer { for unsafe p in unsafe copies { unsafe free(p) } }
        let ptrs: [UnsafePointer<CChar>?] = unsafe copies.map { unsafe $0.map { unsafe UnsafePointer($0) } }
        let res = unsafe PQexecParams(conn, sql, Int32(params.count), nil, ptrs, nil, nil, 0)
        defer { unsafe PQclear(res) }
        try unsafe check(res, expect: [PGRES_COMMAND_OK, PGRES_TUPLES_OK])
        var rows: [[String?]] = []
        let n = unsafe PQntuples(res), m = unsafe PQnfields(res)
        rows.reserveCapacity(Int(n))
        for r in 0..<n {
            var row: [String?] = []
            for c in 0..<m {
                if unsafe PQgetisnull(res, r, c) != 0 {
                    row.append(nil)
                } else {
                    row.append(unsafe String(cString: PQgetvalue(res, r, c)))
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs a statement whose parameters are text, and then one `bytea` sent as raw bytes (binary
    /// format), which is how the dead-letter table keeps a rejected row exactly as it was.
    public func execute(_ sql: String, text: [String?], bytea: [UInt8]) throws(PGError) {
        let copies = unsafe text.map { p in unsafe p.map { unsafe strdup($0) } ?? nil }
        defer { for unsafe p in unsafe copies { unsafe free(p) } }
        let count = text.count + 1
        var formats = [Int32](repeating: 0, count: count)
        formats[count - 1] = 1
        var lengths = [Int32](repeating: 0, count: count)
        lengths[count - 1] = Int32(bytea.count)
        // A NULL pointer would mean SQL NULL, so an empty value still gets a (zero-length) buffer.
        let storage = bytea.isEmpty ? [0] : bytea
        let res = unsafe storage.withUnsafeBufferPointer { buf in
            var ptrs: [UnsafePointer<CChar>?] = unsafe copies.map { unsafe $0.map { unsafe UnsafePointer($0) } }
            unsafe ptrs.append(unsafe UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self))
            return unsafe PQexecParams(conn, sql, Int32(count), nil, ptrs, lengths, formats, 0)
        }
        defer { unsafe PQclear(res) }
        try unsafe check(res, expect: [PGRES_COMMAND_OK, PGRES_TUPLES_OK])
    }

    /// Sends `COPY … FROM STDIN (FORMAT binary)` followed by the header, the tuples and the trailer, and
    /// waits for the server's verdict. The caller owns the transaction around it.
    public func copyBinary(_ copySQL: String, tuples: ArraySlice<UInt8>) throws(PGError) {
        let start = unsafe PQexec(conn, copySQL)
        let startStatus = unsafe PQresultStatus(start)
        if startStatus != PGRES_COPY_IN {
            defer { unsafe PQclear(start) }
            try unsafe check(start, expect: [PGRES_COPY_IN])
        }
        unsafe PQclear(start)
        var failed = false
        failed = failed || !put(copyHeader[...])
        // libpq copies what it is given into its output buffer; 1 MiB pieces keep that buffer small.
        var offset = tuples.startIndex
        while !failed && offset < tuples.endIndex {
            let end = min(offset + (1 << 20), tuples.endIndex)
            failed = !put(tuples[offset..<end])
            offset = end
        }
        failed = failed || !put(copyTrailer[...])
        if failed {
            throw PGError(sqlstate: nil, message: unsafe Self.firstLine(PQerrorMessage(conn)), connectionLost: !isOK)
        }
        if unsafe PQputCopyEnd(conn, nil) != 1 {
            throw PGError(sqlstate: nil, message: unsafe Self.firstLine(PQerrorMessage(conn)), connectionLost: true)
        }
        // Drain every result (there is one for the COPY, then NULL).
        var firstError: PGError?
        while let res = unsafe PQgetResult(conn) {
            if firstError == nil {
                do throws(PGError) { try unsafe check(res, expect: [PGRES_COMMAND_OK]) } catch { firstError = error }
            }
            unsafe PQclear(res)
        }
        if let firstError { throw firstError }
    }

    private func put(_ chunk: ArraySlice<UInt8>) -> Bool {
        unsafe chunk.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress else { return true }
            return unsafe PQputCopyData(conn, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(buf.count)) == 1
        }
    }

    private func check(_ res: OpaquePointer?, expect: [ExecStatusType]) throws(PGError) {
        guard let res = unsafe res else {
            throw PGError(sqlstate: nil, message: unsafe Self.firstLine(PQerrorMessage(conn)), connectionLost: !isOK)
        }
        let status = unsafe PQresultStatus(res)
        if expect.contains(status) { return }
        let sqlstate = unsafe PQresultErrorField(res, Int32(UInt8(ascii: "C"))).map { unsafe String(cString: $0) }
        let primary = unsafe PQresultErrorField(res, Int32(UInt8(ascii: "M"))).map { unsafe String(cString: $0) }
        var message = unsafe primary ?? Self.firstLine(PQresultErrorMessage(res))
        if message.isEmpty { message = unsafe Self.firstLine(PQerrorMessage(conn)) }
        if status == PGRES_COPY_IN {
            // An unexpected COPY state: leave it so the connection stays usable.
            unsafe PQputCopyEnd(conn, "unexpected COPY")
            while let r = unsafe PQgetResult(conn) { unsafe PQclear(r) }
        }
        throw PGError(sqlstate: sqlstate, message: message, connectionLost: !isOK)
    }

    static func firstLine(_ p: UnsafePointer<CChar>?) -> String {
        guard let p = unsafe p else { return "unknown libpq error" }
        let s = unsafe String(cString: p)
        let line = s.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? s
        return line.trimmingCharacters(in: " \t")
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
