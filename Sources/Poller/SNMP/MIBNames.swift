// OID → name ("IF-MIB::linkDown", "IF-MIB::ifIndex.3") through net-snmp's MIB parser, for the trap
// receiver's rows. net-snmp keeps one MIB tree per process and is not thread-safe, so the tree is
// loaded once and every lookup goes through one lock, in front of a cache: a site sends the same
// few dozen trap and varbind OIDs over and over.
import CNetSNMP
import Synchronization

/// Names for OIDs from the MIB files net-snmp finds; nil for an OID no loaded module covers.
public final class MIBNames: OIDNames {
    /// What the process loaded: net-snmp's tree is global and cannot be loaded twice with other settings.
    static let loaded = Mutex<(directories: [String], modules: String)?>(nil)
    /// Dotted OID → name ("" when none), bounded by `cacheLimit`.
    let cache = Mutex<[String: String]>([:])
    let cacheLimit: Int

    public enum LoadError: Error, CustomStringConvertible, Equatable {
        case loadedWithOtherSettings(directories: [String], modules: String)

        public var description: String {
            switch self {
            case let .loadedWithOtherSettings(d, m):
                "net-snmp's MIB tree is already loaded in this process (directories \(d), modules \"\(m)\")"
            }
        }
    }

    /// Loads `modules` ("ALL", or names joined by ":"), besides net-snmp's default modules, from
    /// `directories` (empty: net-snmp's default search path, $HOME/.snmp/mibs and /usr/share/snmp/mibs
    /// with its iana and ietf subdirectories on Debian). Parse errors in MIB files are not printed: a
    /// module that does not load leaves its OIDs numeric. Debian's snmp.conf (`mibs :`) is not read.
    public init(directories: [String], modules: String, cacheLimit: Int = 100_000) throws(LoadError) {
        self.cacheLimit = cacheLimit
        let settings = (directories, modules)
        try Self.loaded.withLock { (current) throws(LoadError) in
            if let current {
                guard current.directories == directories && current.modules == modules else {
                    throw .loadedWithOtherSettings(directories: current.directories, modules: current.modules)
                }
                return
            }
            // Quiet: a missing module is expected (Debian ships few), and net-snmp's own stderr
            // writes ("MIB search path: …") would land in sotpd's log unformatted.
            _ = unsafe netsnmp_register_loghandler(6, 0)
            snmp_set_mib_warnings(0)
            snmp_set_mib_errors(0)
            snmp_set_save_descriptions(0)
            if !directories.isEmpty { unsafe netsnmp_set_mib_directory(directories.joined(separator: ":")) }
            // net-snmp's own default modules (or $MIBS), then ours. Not by setting MIBS: other threads
            // (libpq's connect) read the environment, and setenv under them is a race.
            netsnmp_init_mib()
            if modules == "ALL" {
                _ = unsafe read_all_mibs()
            } else {
                for m in modules.split(separator: ":") where !m.isEmpty { _ = unsafe netsnmp_read_module(String(m)) }
            }
            current = settings
        }
    }

    /// The name of a dotted-decimal OID, or nil when no loaded module names any prefix of it. A partly named OID keeps its numeric tail, as snmptrapd
    /// shows it ("SNMPv2-SMI::enterprises.99999.7").
    public func name(dotted: String) -> String? {
        if let hit = cache.withLock({ $0[dotted] }) { return hit.isEmpty ? nil : hit }
        let found = Self.lookup(dotted) ?? ""
        cache.withLock { c in
            if c.count >= cacheLimit { c.removeAll(keepingCapacity: true) }
            c[dotted] = found
        }
        return found.isEmpty ? nil : found
    }

    /// net-snmp's text for the OID, under the process-wide lock; nil unless it holds a module name.
    static func lookup(_ dotted: String) -> String? {
        guard let oid = OID(dotted) else { return nil }
        let arcs = oid.arcs.map { UInt($0) }
        return loaded.withLock { _ -> String? in
            // 128 arcs of a long index as quoted strings still fit; snprint_objid truncates, never overflows.
            var buf = [CChar](repeating: 0, count: 4096)
            let n = unsafe arcs.withUnsafeBufferPointer { a in
                unsafe buf.withUnsafeMutableBufferPointer { b in
                    unsafe snprint_objid(b.baseAddress!, b.count, a.baseAddress!, a.count)
                }
            }
            guard n > 0 else { return nil }
            let text = unsafe buf.withUnsafeBufferPointer { unsafe String(cString: $0.baseAddress!) }
            // "MODULE::label…" is a name; "MODULE::1.2.1…" (an anonymous arc of a module's own OID
            // value, as `{ iso 3 6 1 4 1 N }` makes) and "iso.3.6…" are not.
            guard let sep = text.firstRange(of: "::"), let c = text[sep.upperBound...].first, c.isLetter else { return nil }
            return text
        }
    }
}
