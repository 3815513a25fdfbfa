// Bearer tokens for /api/v1: `[[api_tokens]]` entries with a role, each token kept only as its SHA-256
// (from the config, or hashed as soon as its secret file is read) and checked in constant time.
import Crypto
import Foundation
import TOMLKit

/// What a token may do. Each role includes the ones below it: admin ⊇ operator ⊇ viewer.
enum APIRole: String, Sendable, Comparable, CaseIterable {
    /// Reads: device inventory, (with api.metrics_auth) /metrics.
    case viewer
    /// Reads and writes: devices created, changed and deleted, metrics pushed.
    case `operator`
    /// Everything.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }

    static func < (a: APIRole, b: APIRole) -> Bool { a.rank < b.rank }
}

/// One `[[api_tokens]]` entry after loading: no token text, only its digest.
struct APIToken: Sendable, Equatable {
    var name: String
    var role: APIRole
    /// SHA-256 of the token's UTF-8 bytes.
    var sha256: [UInt8]
}

/// Who a request is, once its token matched.
struct APIPrincipal: Sendable, Equatable {
    var name: String
    var role: APIRole
}

/// Why a request was not let through: 401 (no or unknown token) or 403 (known, role too low).
enum APIAuthFailure: Error, Equatable {
    case missing
    case malformed
    case unknown
    case forbidden(name: String, role: APIRole, needed: APIRole)
}

/// The configured tokens. Checking a presented token costs one SHA-256 and a comparison with every
/// entry that does not stop at the first differing byte, so timing tells nothing about a near match.
struct APITokenStore: Sendable {
    let tokens: [APIToken]

    init(_ tokens: [APIToken]) { self.tokens = tokens }

    /// The principal of an `Authorization` header value, if it carries a configured bearer token.
    func authenticate(_ header: String?) -> Result<APIPrincipal, APIAuthFailure> {
        guard let header, !header.isEmpty else { return .failure(.missing) }
        // RFC 6750: "Bearer" (any case), one or more spaces, the token.
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .failure(.malformed) }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.utf8.count <= 4096 else { return .failure(.malformed) }
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var match: APIToken?
        for t in tokens where Self.constantTimeEqual(t.sha256, digest) && match == nil {
            match = t
        }
        guard let match else { return .failure(.unknown) }
        return .success(APIPrincipal(name: match.name, role: match.role))
    }

    /// Authenticates and checks the role.
    func authorize(_ header: String?, needs role: APIRole) -> Result<APIPrincipal, APIAuthFailure> {
        switch authenticate(header) {
        case .failure(let f): return .failure(f)
        case .success(let p):
            guard p.role >= role else { return .failure(.forbidden(name: p.name, role: p.role, needed: role)) }
            return .success(p)
        }
    }

    /// Byte-wise equality whose time depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// The hex SHA-256 of a token, as `token_sha256` wants it (`printf %s TOKEN | sha256sum` gives the same).
    static func hexDigest(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Shortest token accepted from a token_file: 128 bits of base64 or hex is at least 22 characters.
let apiTokenMinimumLength = 22

/// `[[api_tokens]]`: name, role, and exactly one of token_sha256 (64 hex digits) or token_file (a file
/// holding the token, as a secret mount writes it; read and hashed at load, never kept).
func parseAPITokens(_ value: TOMLValueConvertible) throws(ConfigError) -> [APIToken] {
    guard let array = value.array else {
        throw ConfigError(key: "api_tokens", problem: "must be an array of tables ([[api_tokens]]), got \(value.debugDescription)")
    }
    var out: [APIToken] = []
    var names = Set<String>()
    for (i, item) in array.enumerated() {
        let at = "api_tokens[\(i)]"
        guard let t = item.table else { throw ConfigError(key: at, problem: "must be a table, got \(item.debugDescription)") }
        var name = "", role: APIRole?, hex: String?, file: String?
        for (k, v) in t {
            let path = "\(at).\(k)"
            guard v.type == .string, let s = v.string else { throw ConfigError(key: path, problem: "must be a string, got \(v.debugDescription)") }
            switch k {
            case "name": name = s
            case "role":
                guard let r = APIRole(rawValue: s) else {
                    throw ConfigError(key: path, problem: "must be one of admin, operator, viewer, got \"\(s)\"")
                }
                role = r
            case "token_sha256": hex = s
            case "token_file": file = s
            default:
                throw ConfigError(key: path, problem: "is not a known key; known: name, role, token_sha256, token_file")
            }
        }
        if name.isEmpty { throw ConfigError(key: "\(at).name", problem: "is required") }
        guard names.insert(name).inserted else { throw ConfigError(key: "\(at).name", problem: "repeats the token name \"\(name)\"") }
        guard let role else { throw ConfigError(key: "\(at).role", problem: "is required (admin, operator or viewer)") }
        let digest: [UInt8]
        switch (hex, file) {
        case (let hex?, nil):
            guard let bytes = parseHex(hex.lowercased()), bytes.count == 32 else {
                throw ConfigError(key: "\(at).token_sha256", problem: "must be 64 hex digits (the SHA-256 of the token), got \"\(hex.prefix(80))\"")
            }
            digest = bytes
        case (nil, let file?):
            let token = try readSecret(file, key: "\(at).token_file")
            guard token.count >= apiTokenMinimumLength, !token.contains(where: \.isWhitespace) else {
                throw ConfigError(
                    key: "\(at).token_file",
                    problem: "must hold a token of at least \(apiTokenMinimumLength) characters without spaces (e.g. `openssl rand -hex 32`)")
            }
            digest = Array(SHA256.hash(data: Array(token.utf8)))
        case (nil, nil):
            throw ConfigError(key: "\(at).token_sha256", problem: "or token_file is required")
        case (_?, _?):
            throw ConfigError(key: "\(at).token_file", problem: "and token_sha256 are both set: keep one")
        }
        out.append(APIToken(name: name, role: role, sha256: digest))
    }
    return out
}
