// Active polling: ICMP echo over raw sockets from pinned threads, and SNMP v1/v2c/v3 (plus traps, which
// share the BER codec). Each arrives with its issue; the target is here so the layout and the net-snmp
// link are in place from the start.
import CNetSNMP

/// The net-snmp library version this build links, for the start-up log.
public var netSNMPVersion: String { unsafe String(cString: netsnmp_get_version()) }
