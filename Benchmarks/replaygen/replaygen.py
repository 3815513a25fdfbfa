#!/usr/bin/env python3
"""Writes a classic pcap (Ethernet, IPv4, UDP to port 2055) of DATAGRAMS flow export datagrams for
Benchmarks/replay.sh: NetFlow v5, NetFlow v9 and IPFIX in turn, each from its own exporter (10.0.0.5,
10.0.0.9, 10.0.0.10), RECORDS records per datagram, templates resent every 64 datagrams, sequence numbers
without gaps, 10 µs apart. Prints the datagram and record totals as JSON.
Usage: replaygen.py OUT.pcap [DATAGRAMS] [RECORDS]"""
import json
import struct
import sys

out_path = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
per = int(sys.argv[3]) if len(sys.argv) > 3 else 10
BASE_SECS = 1_793_491_200  # 2026-11-01T00:00:00Z


def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src, payload):
    udp = struct.pack("!HHHH", 40000, 2055, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(src), bytes([10, 0, 0, 100]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp


def v5_records():
    recs = b""
    for i in range(per):
        recs += struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH", bytes([192, 0, 2, i + 1]), bytes([198, 51, 100, i + 1]),
                            b"\0\0\0\0", 1, 2, 10 + i, 1000 + 100 * i, 5000, 6000, 1024 + i, 443, 0, 0x18, 6, 0, 0, 0, 24, 24, 0)
    return recs


V9_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (22, 4), (21, 4), (10, 2), (14, 2), (6, 1), (5, 1)]
IPFIX_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8)]


def v9_data():
    recs = b""
    for i in range(per):
        recs += struct.pack("!4s4sHHBIIIIHHBB", bytes([192, 0, 2, i + 1]), bytes([198, 51, 100, i + 1]), 1024 + i, 53, 17,
                            200 + i, 2, 5000, 6000, 3, 4, 0, 0)
    return recs


def ipfix_data():
    recs = b""
    for i in range(per):
        ms = BASE_SECS * 1000
        recs += struct.pack("!4s4sHHBQQQQ", bytes([192, 0, 2, i + 1]), bytes([198, 51, 100, i + 1]), 2000 + i, 80, 6,
                            1500 + i, 3, ms, ms + 1000)
    return recs


def padded(set_id, body):
    pad = (-(4 + len(body))) % 4
    return struct.pack("!HH", set_id, 4 + len(body) + pad) + body + b"\0" * pad


v5_body = v5_records()
v9_tmpl = padded(0, struct.pack("!HH", 256, len(V9_FIELDS)) + b"".join(struct.pack("!HH", *f) for f in V9_FIELDS))
v9_set = padded(256, v9_data())
ipfix_tmpl = padded(2, struct.pack("!HH", 256, len(IPFIX_FIELDS)) + b"".join(struct.pack("!HH", *f) for f in IPFIX_FIELDS))
ipfix_set = padded(256, ipfix_data())

seq = {5: 0, 9: 0, 10: 0}
records = 0
with open(out_path, "wb", buffering=1 << 22) as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for n in range(total):
        secs = BASE_SECS + n // 100_000
        usecs = (n % 100_000) * 10
        version = (5, 9, 10)[n % 3]
        if version == 5:
            payload = struct.pack("!HHIIIIBBH", 5, per, 100_000, secs, 0, seq[5], 0, 0, 0) + v5_body
            seq[5] += per
            src = [10, 0, 0, 5]
        elif version == 9:
            sets = (v9_tmpl if seq[9] % 64 == 0 else b"") + v9_set
            count = per + (1 if seq[9] % 64 == 0 else 0)
            payload = struct.pack("!HHIIII", 9, count, 100_000, secs, seq[9], 1) + sets
            seq[9] += 1
            src = [10, 0, 0, 9]
        else:
            sets = (ipfix_tmpl if (n // 3) % 64 == 0 else b"") + ipfix_set
            payload = struct.pack("!HHIII", 10, 16 + len(sets), secs, seq[10], 1) + sets
            seq[10] += per
            src = [10, 0, 0, 10]
        fr = frame(src, payload)
        f.write(struct.pack("<IIII", secs, usecs, len(fr), len(fr)))
        f.write(fr)
        records += per
print(json.dumps({"datagrams": total, "records": records}))
