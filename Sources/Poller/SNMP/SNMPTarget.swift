// What the SNMP poller needs to reach one agent (address, version, credentials, timing) and what it
// reports when a request fails. The engine (SNMPEngine) works with these; sotpd builds them from the
// devices table and the [snmp] config.
#if !SOTP_FUZZ
import Capture  // PeerAddress (the fuzz target, built without Capture, brings a stand-in)
#endif
import Synchronization

/// One agent and how to talk to it.
public struct SNMPTarget: Sendable, Hashable {
    /// The agent's address and UDP port (161 usually).
    public var address: PeerAddress
    public var version: SNMPVersion
    /// v1/v2c community.
    public var community: String
    /// v3 user; the level used is `securityLevel`, at most the user's own.
    public var user: USMUser?
    public var securityLevel: SNMPSecurityLevel
    /// v3 contextName ("" for the default context).
    public var contextName: String
    /// Time to wait for each response before resending, ms.
    public var timeoutMs: Int
    /// Resends after the first attempt.
    public var retries: Int
    /// GETBULK max-repetitions (v2c/v3); 1 uses GETNEXT.
    public var maxRepetitions: Int
    /// OIDs in one request (a walk of more columns is split).
    public var maxOIDsPerRequest: Int

    public init(
        address: PeerAddress, version: SNMPVersion = .v2c, community: String = "public", user: USMUser? = nil,
        securityLevel: SNMPSecurityLevel? = nil, contextName: String = "", timeoutMs: Int = 2000, retries: Int = 2,
        maxRepetitions: Int = 25, maxOIDsPerRequest: Int = 16
    ) {
        self.address = address
        self.version = version
        self.community = community
        self.user = user
        self.securityLevel = securityLevel ?? user?.securityLevel ?? .noAuthNoPriv
        self.contextName = contextName
        self.timeoutMs = timeoutMs
        self.retries = retries
        self.maxRepetitions = maxRepetitions
        self.maxOIDsPerRequest = maxOIDsPerRequest
    }
}

/// Why a request (a GET, or one step of a walk) produced no answer.
public enum SNMPRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No response after every attempt.
    case timeout(attempts: Int)
    /// The agent answered with an error-status (RFC 3416: 5 genErr, 6 noAccess, …) at error-index.
    case agentError(status: Int32, index: Int32)
    /// A USM Report (RFC 3414 §3.2) that retrying cannot fix: the counter's OID name.
    case usm(SNMPUSMReport)
    /// The request could not be sent (no route, no socket of the family).
    case sendFailed(String)
    /// The request cannot be encoded within the agent's limits (tooBig even for one OID).
    case tooBig

    public var description: String {
        switch self {
        case .timeout(let n): "no response after \(n) attempt\(n == 1 ? "" : "s")"
        case .agentError(let s, let i): "agent error-status \(s) (\(SNMPRequestError.statusName(s))) at index \(i)"
        case .usm(let r): "SNMPv3 report \(r.name)"
        case .sendFailed(let why): "send failed: \(why)"
        case .tooBig: "response too big even for one OID (tooBig)"
        }
    }

    /// The kind, for counters and the device's last error ("timeout", "usm_wrong_digests"…).
    public var kind: String {
        switch self {
        case .timeout: "timeout"
        case .agentError: "agent_error"
        case .usm(let r): "usm_" + r.name
        case .sendFailed: "send_failed"
        case .tooBig: "too_big"
        }
    }

    static func statusName(_ s: Int32) -> String {
        let names = ["noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
                     "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue",
                     "resourceUnavailable", "commitFailed", "undoFailed", "authorizationError", "notWritable",
                     "inconsistentName"]
        return s >= 0 && Int(s) < names.count ? names[Int(s)] : "unknown"
    }
}

/// The USM error a Report names (RFC 3414 §5 usmStats counters).
public enum SNMPUSMReport: Int, Sendable, Equatable, CaseIterable {
    case unsupportedSecLevels = 1, notInTimeWindows, unknownUserNames, unknownEngineIDs, wrongDigests, decryptionErrors

    public var name: String {
        switch self {
        case .unsupportedSecLevels: "unsupported_sec_levels"
        case .notInTimeWindows: "not_in_time_windows"
        case .unknownUserNames: "unknown_user_names"
        case .unknownEngineIDs: "unknown_engine_ids"
        case .wrongDigests: "wrong_digests"
        case .decryptionErrors: "decryption_errors"
        }
    }

    /// usmStats prefix 1.3.6.1.6.3.15.1.1, encoded (the counter number and ".0" follow).
    static let prefix: [UInt8] = OID([1, 3, 6, 1, 6, 3, 15, 1, 1]).encodedValue
}

/// What the engine counts. Names are fixed metric suffixes (`snmp.<name>`).
public enum SNMPEngineCounter: Int, CaseIterable, Sendable {
    case requestsSent, retries, timeouts, responses, varbinds
    /// Datagrams whose request-id (msgID) matches nothing in flight: late after a retry, duplicated.
    case unmatched
    /// A response from an address other than the request's target.
    case wrongSource
    /// Not SNMP, or not the response expected (bad BER, wrong version, not a Response/Report).
    case malformed
    /// v3 responses whose MAC does not verify, or that cannot be decrypted.
    case authFailures
    case engineDiscoveries, timeResyncs
    case reportsUnsupportedSecLevels, reportsNotInTimeWindows, reportsUnknownUserNames, reportsUnknownEngineIDs,
         reportsWrongDigests, reportsDecryptionErrors
    /// Agent error-status responses (genErr, noAccess…) and tooBig retried with less.
    case agentErrors, tooBig
    /// Walk columns stopped because the agent returned an OID not after the one asked for.
    case nonIncreasing
    /// Walk columns stopped at the row limit.
    case walkRowLimit
    case sendErrors

    public var name: String {
        switch self {
        case .requestsSent: "requests_sent"
        case .retries: "retries"
        case .timeouts: "timeouts"
        case .responses: "responses"
        case .varbinds: "varbinds"
        case .unmatched: "responses_unmatched"
        case .wrongSource: "responses_wrong_source"
        case .malformed: "responses_malformed"
        case .authFailures: "responses_auth_failed"
        case .engineDiscoveries: "engine_discoveries"
        case .timeResyncs: "time_resyncs"
        case .reportsUnsupportedSecLevels: "reports_unsupported_sec_levels"
        case .reportsNotInTimeWindows: "reports_not_in_time_windows"
        case .reportsUnknownUserNames: "reports_unknown_user_names"
        case .reportsUnknownEngineIDs: "reports_unknown_engine_ids"
        case .reportsWrongDigests: "reports_wrong_digests"
        case .reportsDecryptionErrors: "reports_decryption_errors"
        case .agentErrors: "agent_errors"
        case .tooBig: "too_big"
        case .nonIncreasing: "walk_non_increasing"
        case .walkRowLimit: "walk_row_limit"
        case .sendErrors: "send_errors"
        }
    }

    static func report(_ r: SNMPUSMReport) -> SNMPEngineCounter {
        switch r {
        case .unsupportedSecLevels: .reportsUnsupportedSecLevels
        case .notInTimeWindows: .reportsNotInTimeWindows
        case .unknownUserNames: .reportsUnknownUserNames
        case .unknownEngineIDs: .reportsUnknownEngineIDs
        case .wrongDigests: .reportsWrongDigests
        case .decryptionErrors: .reportsDecryptionErrors
        }
    }
}

/// The engine's live counters (relaxed atomics; read by the stats writer).
public final class SNMPEngineStats: Sendable {
    private let cells: InlineArray<32, Atomic<Int>>

    public init() {
        precondition(SNMPEngineCounter.allCases.count <= 32)
        cells = InlineArray { _ in Atomic(0) }
    }

    @inline(__always)
    func add(_ c: SNMPEngineCounter, _ n: Int = 1) { cells[c.rawValue].wrappingAdd(n, ordering: .relaxed) }

    public subscript(_ c: SNMPEngineCounter) -> Int { cells[c.rawValue].load(ordering: .relaxed) }

    /// Every counter as (metric name, value).
    public var fields: [(String, Int)] { SNMPEngineCounter.allCases.map { ($0.name, self[$0]) } }
}
