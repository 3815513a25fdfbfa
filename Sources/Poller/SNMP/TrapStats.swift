// The trap receiver's counters: every datagram is counted as received, by version, and then as exactly
// one notification kind or one rejection kind (malformed ones also by the field where decoding failed).
import Synchronization

/// What the trap receiver counts. Names (`name`) are fixed metric suffixes.
public enum TrapCounter: Int, CaseIterable, Sendable {
    /// Datagrams handed to `receive`.
    case received
    case versionV1, versionV2c, versionV3
    /// Notifications produced, by kind.
    case trapsV1, trapsV2, informs
    /// Responses sent to informs.
    case informsAcknowledged
    /// Report PDUs sent (engine discovery, time window, USM errors on reportable messages).
    case reportsSent
    /// Inform responses that would exceed the sender's msgMaxSize, sent as tooBig without varbinds.
    case responsesTooBig
    /// v2 notifications without sysUpTime.0 or snmpTrapOID.0 first (kept anyway).
    case missingUptime, missingTrapOID
    // Rejections, one per datagram rejected.
    /// Not valid BER/SNMP (also counted by field, see `TrapStats.malformed`); snmpInASNParseErrs.
    case malformed
    /// A version other than 0, 1 or 3; snmpInBadVersions.
    case unknownVersion
    /// A PDU that is not a notification (a request, a response, a report).
    case unexpectedPDU
    /// A community not in the accepted list; snmpInBadCommunityNames.
    case badCommunity
    /// A v3 security model other than USM (3); snmpUnknownSecurityModels.
    case unknownSecurityModel
    /// msgFlags asking for privacy without authentication; snmpInvalidMsgs.
    case invalidMsgFlags
    case usmUnsupportedSecLevels, usmNotInTimeWindows, usmUnknownUserNames, usmUnknownEngineIDs, usmWrongDigests,
         usmDecryptionErrors

    /// snake_case metric name.
    public var name: String {
        switch self {
        case .received: "received"
        case .versionV1: "version_v1"
        case .versionV2c: "version_v2c"
        case .versionV3: "version_v3"
        case .trapsV1: "traps_v1"
        case .trapsV2: "traps_v2"
        case .informs: "informs"
        case .informsAcknowledged: "informs_acknowledged"
        case .reportsSent: "reports_sent"
        case .responsesTooBig: "responses_too_big"
        case .missingUptime: "missing_uptime"
        case .missingTrapOID: "missing_trap_oid"
        case .malformed: "malformed"
        case .unknownVersion: "unknown_version"
        case .unexpectedPDU: "unexpected_pdu"
        case .badCommunity: "bad_community"
        case .unknownSecurityModel: "unknown_security_model"
        case .invalidMsgFlags: "invalid_msg_flags"
        case .usmUnsupportedSecLevels: "usm_unsupported_sec_levels"
        case .usmNotInTimeWindows: "usm_not_in_time_windows"
        case .usmUnknownUserNames: "usm_unknown_user_names"
        case .usmUnknownEngineIDs: "usm_unknown_engine_ids"
        case .usmWrongDigests: "usm_wrong_digests"
        case .usmDecryptionErrors: "usm_decryption_errors"
        }
    }
}

/// Live counters, shared by the receivers of all threads and read by /metrics.
public final class TrapStats: Sendable {
    /// Counters first, then malformed-by-field.
    private let cells: InlineArray<64, Atomic<Int>>
    private static let fieldBase = TrapCounter.allCases.count

    public init() {
        precondition(TrapStats.fieldBase + SNMPField.allCases.count <= 64, "TrapStats needs more cells")
        cells = InlineArray { _ in Atomic(0) }
    }

    @inline(__always)
    func add(_ c: TrapCounter, _ n: Int = 1) {
        cells[c.rawValue].wrappingAdd(n, ordering: .relaxed)
    }

    @inline(__always)
    func addMalformed(_ f: SNMPField) {
        cells[TrapStats.fieldBase + f.rawValue].wrappingAdd(1, ordering: .relaxed)
    }

    /// One counter's value now.
    public subscript(_ c: TrapCounter) -> Int { cells[c.rawValue].load(ordering: .relaxed) }

    /// Malformed datagrams whose decoding failed at `f`.
    public func malformed(at f: SNMPField) -> Int { cells[TrapStats.fieldBase + f.rawValue].load(ordering: .relaxed) }

    /// Every counter as (metric name, value): the `TrapCounter` names, then `malformed_<field>` for
    /// each field that has counted at least once.
    public var fields: [(String, Int)] {
        var out = TrapCounter.allCases.map { ($0.name, self[$0]) }
        for f in SNMPField.allCases {
            let n = malformed(at: f)
            if n > 0 { out.append(("malformed_" + f.name, n)) }
        }
        return out
    }
}
