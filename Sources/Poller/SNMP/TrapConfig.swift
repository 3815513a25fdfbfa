// What a trap receiver is told: accepted communities, SNMPv3 users, and its own engine identity (for
// informs it is the authoritative engine). Checked once, at start.

/// An SNMPv3 (USM) user.
public struct USMUser: Sendable, Hashable {
    /// msgUserName, 1…32 bytes of UTF-8.
    public var name: String
    /// Nil for a noAuthNoPriv user.
    public var authProtocol: SNMPAuthProtocol?
    /// At least 8 characters when `authProtocol` is set.
    public var authPassphrase: String
    /// Nil for no privacy; needs `authProtocol`.
    public var privProtocol: SNMPPrivProtocol?
    /// At least 8 characters when `privProtocol` is set.
    public var privPassphrase: String
    /// The lowest security level accepted from this user; nil means the level the user is configured
    /// for (so a user with keys cannot be impersonated by unauthenticated messages).
    public var minimumSecurityLevel: SNMPSecurityLevel?

    public init(
        name: String, auth: SNMPAuthProtocol? = nil, authPassphrase: String = "", priv: SNMPPrivProtocol? = nil,
        privPassphrase: String = "", minimumSecurityLevel: SNMPSecurityLevel? = nil
    ) {
        self.name = name
        self.authProtocol = auth
        self.authPassphrase = authPassphrase
        self.privProtocol = priv
        self.privPassphrase = privPassphrase
        self.minimumSecurityLevel = minimumSecurityLevel
    }

    /// The highest level this user can use.
    public var securityLevel: SNMPSecurityLevel {
        authProtocol == nil ? .noAuthNoPriv : privProtocol == nil ? .authNoPriv : .authPriv
    }
}

/// This receiver's SNMP engine: the authoritative engine for informs sent to it (RFC 3414 §2.3).
public struct SNMPEngineIdentity: Sendable, Hashable {
    /// snmpEngineID, 5…32 bytes. Keep it stable across restarts (senders cache it and localize keys
    /// with it); `generateEngineID()` makes one to store.
    public var engineID: [UInt8]
    /// snmpEngineBoots, 1…2^31−1: the caller persists it and adds one at every start, so that captured
    /// informs cannot be replayed after a restart.
    public var boots: Int32
    /// When snmpEngineTime was 0 (the start), µs since the epoch, on the clock `receive` is given.
    public var startMicros: Int64

    public init(engineID: [UInt8], boots: Int32, startMicros: Int64) {
        self.engineID = engineID
        self.boots = boots
        self.startMicros = startMicros
    }

    /// A new random engine ID in the RFC 3411 format: the enterprise number with the top bit set,
    /// format 5 (administratively assigned octets), then 12 random bytes.
    public static func generateEngineID(enterprise: UInt32 = 0) -> [UInt8] {
        var id: [UInt8] = [UInt8(truncatingIfNeeded: enterprise >> 24) | 0x80, UInt8(truncatingIfNeeded: enterprise >> 16),
                           UInt8(truncatingIfNeeded: enterprise >> 8), UInt8(truncatingIfNeeded: enterprise), 5]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<12 { id.append(UInt8.random(in: 0...255, using: &rng)) }
        return id
    }

    /// snmpEngineTime (seconds since `startMicros`, 0…2^31−1) at `micros`.
    public func engineTime(atMicros micros: Int64) -> Int32 {
        Int32(clamping: max(0, (micros - startMicros) / 1_000_000))
    }
}

/// A trap receiver's settings.
public struct TrapReceiverConfig: Sendable {
    /// Accepted v1/v2c communities; empty accepts any.
    public var communities: [String]
    public var users: [USMUser]
    public var engine: SNMPEngineIdentity
    /// Varbinds accepted in one PDU (more is malformed).
    public var maxVarbinds: Int
    /// msgMaxSize this engine announces in its v3 messages.
    public var maxMessageSize: Int32
    /// Localized keys kept per (user, engine ID); the cache is emptied when it reaches this size.
    public var keyCacheEntries: Int

    public init(
        communities: [String] = [], users: [USMUser] = [], engine: SNMPEngineIdentity, maxVarbinds: Int = 1024,
        maxMessageSize: Int32 = 65507, keyCacheEntries: Int = 4096
    ) {
        self.communities = communities
        self.users = users
        self.engine = engine
        self.maxVarbinds = maxVarbinds
        self.maxMessageSize = maxMessageSize
        self.keyCacheEntries = keyCacheEntries
    }
}

/// A setting that cannot work, saying which and why.
public struct SNMPConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    /// Throws the first problem with `config`.
    static func check(_ config: TrapReceiverConfig) throws(SNMPConfigError) {
        let id = config.engine.engineID
        guard (5...32).contains(id.count) else { throw SNMPConfigError("snmp engine ID must be 5…32 bytes, got \(id.count)") }
        guard config.engine.boots >= 1 else { throw SNMPConfigError("snmp engine boots must be 1…2147483647, got \(config.engine.boots)") }
        guard (1...100_000).contains(config.maxVarbinds) else {
            throw SNMPConfigError("snmp max varbinds must be 1…100000, got \(config.maxVarbinds)")
        }
        guard config.maxMessageSize >= 484 else { throw SNMPConfigError("snmp max message size must be at least 484, got \(config.maxMessageSize)") }
        guard config.keyCacheEntries >= 1 else { throw SNMPConfigError("snmp key cache entries must be at least 1, got \(config.keyCacheEntries)") }
        var names = Set<String>()
        for u in config.users {
            let n = u.name.utf8.count
            guard (1...32).contains(n) else { throw SNMPConfigError("usm user \"\(u.name)\": name must be 1…32 bytes, got \(n)") }
            guard names.insert(u.name).inserted else { throw SNMPConfigError("usm user \"\(u.name)\" is configured twice") }
            if u.authProtocol != nil, u.authPassphrase.utf8.count < 8 {
                throw SNMPConfigError("usm user \"\(u.name)\": auth passphrase must be at least 8 characters, got \(u.authPassphrase.utf8.count)")
            }
            if u.privProtocol != nil {
                guard u.authProtocol != nil else { throw SNMPConfigError("usm user \"\(u.name)\": privacy needs an auth protocol") }
                guard u.privPassphrase.utf8.count >= 8 else {
                    throw SNMPConfigError("usm user \"\(u.name)\": priv passphrase must be at least 8 characters, got \(u.privPassphrase.utf8.count)")
                }
            }
            if let m = u.minimumSecurityLevel, m > u.securityLevel {
                throw SNMPConfigError("usm user \"\(u.name)\": minimum security level \(m) is above what the user is configured for (\(u.securityLevel))")
            }
        }
    }
}
