// SNMP datagrams captured from net-snmp 5.9.3's snmptrap on this project's build machine (Debian 12),
// printed by its -d option, with the command line that made each.

enum SNMPFixtures {
    /// snmptrap -v 2c -c public 127.0.0.1:16299 123 1.3.6.1.4.1.8072.2.3.0.1 1.3.6.1.2.1.1.5.0 s hello
    ///   1.3.6.1.2.1.2.2.1.10.1 c 42 1.3.6.1.4.1.1.1 C 12345678901234
    /// request-id 0x0857c42d; sysUpTime.0 = 123; snmpTrapOID.0 = 1.3.6.1.4.1.8072.2.3.0.1.
    static let v2cTrap = hexBytes("""
        30 7C 02 01 01 04 06 70 75 62 6C 69 63 A7 6F 02 04 08 57 C4 2D 02 01 00 02 01 00 30 61 30 0D 06
        08 2B 06 01 02 01 01 03 00 43 01 7B 30 19 06 0A 2B 06 01 06 03 01 01 04 01 00 06 0B 2B 06 01 04
        01 BF 08 02 03 00 01 30 11 06 08 2B 06 01 02 01 01 05 00 04 05 68 65 6C 6C 6F 30 0F 06 0A 2B 06
        01 02 01 02 02 01 0A 01 41 01 2A 30 11 06 07 2B 06 01 04 01 01 01 46 06 0B 3A 73 CE 2F F2
        """)

    /// snmptrap -v 1 -c public 127.0.0.1:16299 1.3.6.1.4.1.8072.2.3 192.0.2.7 6 17 4242
    ///   1.3.6.1.2.1.1.5.0 s r1 1.3.6.1.2.1.2.2.1.1.3 i -5
    static let v1Trap = hexBytes("""
        30 4B 02 01 00 04 06 70 75 62 6C 69 63 A4 3E 06 09 2B 06 01 04 01 BF 08 02 03 40 04 C0 00 02 07
        02 01 06 02 01 11 43 02 10 92 30 21 30 0E 06 08 2B 06 01 02 01 01 05 00 04 02 72 31 30 0F 06 0A
        2B 06 01 02 01 02 02 01 01 03 02 01 FB
        """)

    /// snmptrap -v 3 -u trapuser -l authPriv -a SHA -A authpass123 -x AES -X privpass123
    ///   -e 0x8000000001020304 127.0.0.1:16299 4242 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.2.2.1.1.3 i 3
    /// msgID 0x56cf29b8, engine boots 1, time 0x277bee; encrypted with AES-128 (salt 93d39f8c0c64a614);
    /// contextEngineID is snmptrap's own engine ID, 80001f8880f12771568391026b00000000.
    static let v3AuthPrivTrap = hexBytes("""
        30 81 B1 02 01 03 30 11 02 04 56 CF 29 B8 02 03 00 FF E3 04 01 03 02 01 03 04 36 30 34 04 08 80
        00 00 00 01 02 03 04 02 01 01 02 03 27 7B EE 04 08 74 72 61 70 75 73 65 72 04 0C 90 65 4F 1F EA
        96 C4 AB 8A 9F E2 08 04 08 93 D3 9F 8C 0C 64 A6 14 04 61 34 4D 32 B8 EF 40 E9 CE E2 7F C8 26 81
        58 D8 40 AE E8 86 FB D9 50 8E 0E F6 C0 1B C1 C7 D7 3E 80 5E 17 10 F8 F1 FD F1 78 09 5C 57 6B 3A
        4D 81 E9 D0 27 D3 03 46 6D 0D 1B 9E D6 07 4F FE 39 4C 88 92 FE 56 B8 DC 93 86 64 0D 8A 7A 61 37
        00 49 AD 89 0E F1 92 F7 19 E2 E6 DE 27 9F 0B E6 7B AA BF 56
        """)
}
