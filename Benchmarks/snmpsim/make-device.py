#!/usr/bin/env python3
"""Write an snmpsim .snmprec data file for one simulated device: a Linux box running net-snmp
(Cumulus-like switch: ports swp1..swpN) with N interfaces (default 48).

Our own generator (no recorded walk of a real device): every value is computed here, deterministic
for a given N and --seed, so that every run of the benchmark serves the same data.

What is in it (numeric OIDs, one line per instance, `OID|TAG|VALUE`, sorted by OID as snmpsim needs):
  SNMPv2-MIB system   sysDescr, sysObjectID (NET-SNMP-MIB linux, 1.3.6.1.4.1.8072.3.2.10), sysUpTime,
                      sysContact, sysName, sysLocation, sysServices
  IF-MIB              ifNumber; ifTable: ifIndex ifDescr ifType ifMtu ifSpeed ifPhysAddress
                      ifAdminStatus ifOperStatus ifLastChange ifInOctets ifInUcastPkts ifInDiscards
                      ifInErrors ifOutOctets ifOutUcastPkts ifOutDiscards ifOutErrors (17 columns);
                      ifXTable: ifName ifInMulticastPkts ifInBroadcastPkts ifOutMulticastPkts
                      ifOutBroadcastPkts ifHCInOctets ifHCInUcastPkts ifHCInMulticastPkts
                      ifHCInBroadcastPkts ifHCOutOctets ifHCOutUcastPkts ifHCOutMulticastPkts
                      ifHCOutBroadcastPkts ifHighSpeed ifAlias ifCounterDiscontinuityTime (16 columns)
  HOST-RESOURCES-MIB  hrMemorySize; hrStorageTable (index 1 "Physical memory", 31 "/"; 7 columns);
                      hrProcessorTable (hrProcessorFrwID, hrProcessorLoad) for 2 CPUs
                      (hrDeviceIndex 196608, 196609 as net-snmp numbers them)
  UCD-SNMP-MIB        memTotalReal, memAvailReal (KB), ssCpuIdle

Types (snmprec tags): 2 INTEGER/Integer32, 4 OCTET STRING (4x: hex), 6 OBJECT IDENTIFIER,
65 Counter32, 66 Gauge32, 67 TimeTicks, 70 Counter64.

Counters are static by default (--counters static): snmpsim returns the same value on every poll;
that is the cheapest to serve, and a poller benchmark needs the values typed and well-formed, not
moving. --counters numeric makes sysUpTime and the octet counters (ifInOctets, ifOutOctets,
ifHCInOctets, ifHCOutOctets) move with snmpsim's `numeric` variation module (value = initial +
rate * seconds since the snmpsim process started, Counter32 wrapping at 2^32); every other column
stays static. The variation module runs Python per value (measured: about 5-10 % more snmpsim CPU
for a walk of system+ifTable+ifXTable), and computes in floating point: Counter64 values above 2^53
(the port with ifHCInOctets above 2^63) come out rounded to a multiple of 2^(bits - 53), and a
Counter32 wraps modulo 2^32 - 1, not 2^32.

Each Counter32 is the matching Counter64 modulo 2^32 (ifInOctets = ifHCInOctets mod 2^32, ...).
Edge cases on purpose: Counter64 values above 2^32 (and one above 2^63), ifSpeed 4294967295 with
ifHighSpeed 10000/25000 on the uplinks, ports admin up/oper down and admin down, empty ifAlias.

Usage: make-device.py [-n N] [-o FILE] [--seed S] [--counters static|numeric] [--name NAME]
       (-o - or no -o: standard output)
"""
import argparse
import random
import sys

C32 = 1 << 32
C64 = 1 << 64


def build(n, seed, counters, name):
    rnd = random.Random(seed)
    recs = []  # (oid tuple, tag, value)

    def add(oid, tag, value):
        recs.append((tuple(int(x) for x in oid.split(".")), tag, value))

    numeric = counters == "numeric"

    # SNMPv2-MIB system group
    sysd = "1.3.6.1.2.1.1"
    add(f"{sysd}.1.0", "4", "Linux %s 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 "
        "(2024-02-01) x86_64" % name)
    add(f"{sysd}.2.0", "6", "1.3.6.1.4.1.8072.3.2.10")
    uptime = 123456789  # TimeTicks: 14 days 6:56:07.89
    if numeric:
        # sysUpTime counts 100 ticks a second from `uptime`
        add(f"{sysd}.3.0", "67:numeric", f"initial={uptime},rate=100,max=4294967295,wrap=1")
    else:
        add(f"{sysd}.3.0", "67", str(uptime))
    add(f"{sysd}.4.0", "4", "noc@example.net")
    add(f"{sysd}.5.0", "4", name)
    add(f"{sysd}.6.0", "4", "Bench rack 7, row C")
    add(f"{sysd}.7.0", "2", "72")

    # IF-MIB
    add("1.3.6.1.2.1.2.1.0", "2", str(n))
    ift = "1.3.6.1.2.1.2.2.1"
    ifx = "1.3.6.1.2.1.31.1.1.1"
    uplinks = set(range(max(1, n - 3), n + 1))  # the last 4 ports (or fewer) are 10G/25G uplinks
    for i in range(1, n + 1):
        uplink = i in uplinks
        if i % 16 == 0 and not uplink:
            admin, oper = 2, 2  # administratively down
        elif i % 7 == 0 and not uplink:
            admin, oper = 1, 2  # up, no link
        else:
            admin, oper = 1, 1
        if uplink:
            high = 25000 if i == n else 10000  # Mb/s
        else:
            high = 1000
        speed = min(high * 1_000_000, C32 - 1)  # Gauge32, 4294967295 when above
        mtu = 9216 if uplink else 1500
        last_change = rnd.randrange(1000, uptime)
        up = oper == 1
        scale = (1 << 44 if uplink else 1 << 38) if up else 1 << 16

        def c64(s=scale):
            return rnd.randrange(s // 4, s)

        hc_in_oct, hc_out_oct = c64(), c64()
        if i == n:
            hc_in_oct = (1 << 63) + rnd.randrange(1 << 40)  # beyond signed 64-bit
        hc_in_uc, hc_out_uc = hc_in_oct // 700, hc_out_oct // 650
        hc_in_mc, hc_out_mc = hc_in_uc // 900, hc_out_uc // 1100
        hc_in_bc, hc_out_bc = hc_in_uc // 5000, hc_out_uc // 7000
        in_disc, in_err = rnd.randrange(0, 5000) if up else 0, rnd.randrange(0, 50) if up else 0
        out_disc, out_err = rnd.randrange(0, 3000) if up else 0, 0
        mac = "0c42a1%06x" % (0x5e0000 + i)
        ifname = f"swp{i}"
        if uplink:
            alias = f"uplink to spine-{i - min(uplinks) + 1} port {i}"
        elif up:
            alias = f"server rack7-{i:02d} eth0"
        else:
            alias = ""  # unused ports carry no description

        # --counters numeric: bytes/s of the port, the same for the 32- and the 64-bit counter
        in_rate = rnd.randrange(1_000_000, 100_000_000) if up else 0
        out_rate = rnd.randrange(1_000_000, 100_000_000) if up else 0

        def octets(tag, col, v, rate):
            # octet counters: static, or moving with snmpsim's numeric module at `rate` bytes/s
            if numeric:
                mx = C32 - 1 if tag == "65" else C64 - 1
                add(col, f"{tag}:numeric", f"initial={v},rate={rate},max={mx},wrap=1")
            else:
                add(col, tag, str(v))

        add(f"{ift}.1.{i}", "2", str(i))
        add(f"{ift}.2.{i}", "4", ifname)
        add(f"{ift}.3.{i}", "2", "6")  # ethernetCsmacd
        add(f"{ift}.4.{i}", "2", str(mtu))
        add(f"{ift}.5.{i}", "66", str(speed))
        add(f"{ift}.6.{i}", "4x", mac)
        add(f"{ift}.7.{i}", "2", str(admin))
        add(f"{ift}.8.{i}", "2", str(oper))
        add(f"{ift}.9.{i}", "67", str(last_change))
        octets("65", f"{ift}.10.{i}", hc_in_oct % C32, in_rate)
        add(f"{ift}.11.{i}", "65", str(hc_in_uc % C32))
        add(f"{ift}.13.{i}", "65", str(in_disc))
        add(f"{ift}.14.{i}", "65", str(in_err))
        octets("65", f"{ift}.16.{i}", hc_out_oct % C32, out_rate)
        add(f"{ift}.17.{i}", "65", str(hc_out_uc % C32))
        add(f"{ift}.19.{i}", "65", str(out_disc))
        add(f"{ift}.20.{i}", "65", str(out_err))

        add(f"{ifx}.1.{i}", "4", ifname)
        add(f"{ifx}.2.{i}", "65", str(hc_in_mc % C32))
        add(f"{ifx}.3.{i}", "65", str(hc_in_bc % C32))
        add(f"{ifx}.4.{i}", "65", str(hc_out_mc % C32))
        add(f"{ifx}.5.{i}", "65", str(hc_out_bc % C32))
        octets("70", f"{ifx}.6.{i}", hc_in_oct, in_rate)
        add(f"{ifx}.7.{i}", "70", str(hc_in_uc))
        add(f"{ifx}.8.{i}", "70", str(hc_in_mc))
        add(f"{ifx}.9.{i}", "70", str(hc_in_bc))
        octets("70", f"{ifx}.10.{i}", hc_out_oct, out_rate)
        add(f"{ifx}.11.{i}", "70", str(hc_out_uc))
        add(f"{ifx}.12.{i}", "70", str(hc_out_mc))
        add(f"{ifx}.13.{i}", "70", str(hc_out_bc))
        add(f"{ifx}.15.{i}", "66", str(high))
        add(f"{ifx}.18.{i}", "4", alias)
        add(f"{ifx}.19.{i}", "67", "0")

    # HOST-RESOURCES-MIB
    hr = "1.3.6.1.2.1.25"
    mem_kb = 32 * 1024 * 1024  # 32 GiB
    mem_used_kb = mem_kb * 41 // 100
    disk_units = 4096
    disk_size = 240 * 1000 * 1000 * 1000 // disk_units  # 240 GB
    disk_used = disk_size * 23 // 100
    add(f"{hr}.2.2.0", "2", str(mem_kb))  # hrMemorySize, KBytes
    storage = [  # index, type, descr, units, size, used
        (1, "1.3.6.1.2.1.25.2.1.2", "Physical memory", 1024, mem_kb, mem_used_kb),
        (31, "1.3.6.1.2.1.25.2.1.4", "/", disk_units, disk_size, disk_used),
    ]
    for idx, typ, descr, units, size, used in storage:
        add(f"{hr}.2.3.1.1.{idx}", "2", str(idx))
        add(f"{hr}.2.3.1.2.{idx}", "6", typ)
        add(f"{hr}.2.3.1.3.{idx}", "4", descr)
        add(f"{hr}.2.3.1.4.{idx}", "2", str(units))
        add(f"{hr}.2.3.1.5.{idx}", "2", str(size))
        add(f"{hr}.2.3.1.6.{idx}", "2", str(used))
        add(f"{hr}.2.3.1.7.{idx}", "65", "0")
    for cpu, load in ((196608, 17), (196609, 23)):
        add(f"{hr}.3.3.1.1.{cpu}", "6", "0.0")  # hrProcessorFrwID: unknown
        add(f"{hr}.3.3.1.2.{cpu}", "2", str(load))

    # UCD-SNMP-MIB
    ucd = "1.3.6.1.4.1.2021"
    add(f"{ucd}.4.5.0", "2", str(mem_kb))  # memTotalReal, KB
    add(f"{ucd}.4.6.0", "2", str(mem_kb - mem_used_kb))  # memAvailReal, KB
    add(f"{ucd}.11.11.0", "2", "80")  # ssCpuIdle, %

    recs.sort(key=lambda r: r[0])
    oids = [r[0] for r in recs]
    assert len(set(oids)) == len(oids), "duplicate OID"
    for _, tag, value in recs:
        assert "\n" not in value and "\r" not in value
    return "".join("%s|%s|%s\n" % (".".join(map(str, o)), t, v) for o, t, v in recs)


def main():
    ap = argparse.ArgumentParser(description="write an snmpsim .snmprec for a device with N interfaces")
    ap.add_argument("-n", "--interfaces", type=int, default=48)
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--seed", type=int, default=48)
    ap.add_argument("--counters", choices=("static", "numeric"), default="static")
    ap.add_argument("--name", default="bench-sw48")
    a = ap.parse_args()
    if not 1 <= a.interfaces <= 100000:
        ap.error("--interfaces: 1..100000")
    text = build(a.interfaces, a.seed, a.counters, a.name)
    if a.output == "-":
        sys.stdout.write(text)
    else:
        with open(a.output, "w", encoding="ascii") as f:
            f.write(text)


if __name__ == "__main__":
    main()
