#!/usr/bin/env bash
# sotpd replay's decode rate from a capture file, next to the libpcap read floor and a real decoder:
# Benchmarks/replaygen writes DATAGRAMS flow export datagrams (NetFlow v5, v9 and IPFIX in turn, 10
# records each, Ethernet/IPv4/UDP to 2055, classic pcap) to /tmp; then, in the same run:
#   sotpd replay --json   release build, count only (the real workers with a discarding sink), RUNS times:
#                         median datagrams/s and records/s (its own elapsed time, the file in page cache)
#   tcpdump -r -w null    libpcap reading every frame and writing it back: the floor for any reader
#   sotpd replay --probe  once: the same frames through the capture probe's flow table instead
#   tshark cflow          Wireshark's NetFlow/IPFIX dissector (-d udp.port==2055,cflow), every record's
#                         fields printed, on the first TSHARK_FRAMES frames only (it is ~100× slower)
# Prints one line per tool and the ratios. Temporary files are removed at the end.
# Usage: Benchmarks/replay.sh [DATAGRAMS] [RUNS]   (TSHARK_FRAMES, default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
DATAGRAMS=${1:-1000000}
RUNS=${2:-5}
TSHARK_FRAMES=${TSHARK_FRAMES:-100000}
for tool in python3 tcpdump tshark bc; do
    command -v "$tool" >/dev/null || { echo "replay bench: $tool missing (scripts/setup installs it)" >&2; exit 1; }
done
swift build -c release --product sotpd 2>&1 | grep -E "error|warning:" >&2 || true
sotpd=$(swift build -c release --show-bin-path)/sotpd
work=$(mktemp -d /tmp/sotp-replay-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
touch "$work/sotpd.toml"

now() { date +%s.%N; }
seconds() { echo "$2 - $1" | bc -l; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "generating $DATAGRAMS datagrams…" >&2
gen=$(python3 Benchmarks/replaygen/replaygen.py "$work/flows.pcap" "$DATAGRAMS" 10)
records=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["records"])' "$gen")
size=$(stat -c %s "$work/flows.pcap")
echo "capture: $DATAGRAMS datagrams, $records records, $((size >> 20)) MiB" >&2
cat "$work/flows.pcap" >/dev/null  # into the page cache, so every tool reads from memory

: >"$work/dps"
: >"$work/rps"
for i in $(seq "$RUNS"); do
    out=$("$sotpd" replay --config "$work/sotpd.toml" --flow-port 2055 --json "$work/flows.pcap")
    python3 - "$out" "$DATAGRAMS" "$records" "$work" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); want_d, want_r, work = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
f = s["flow"]
assert f["datagrams"] == want_d and f["records"] == want_r and f["decode_errors"] == 0, s
open(work + "/dps", "a").write("%d\n" % s["datagrams_per_s"])
open(work + "/rps", "a").write("%d\n" % s["records_per_s"])
print("  run: %.3f s, %d datagrams/s, %d records/s" % (s["elapsed_s"], s["datagrams_per_s"], s["records_per_s"]), file=sys.stderr)
PY
done
dps=$(median <"$work/dps")
rps=$(median <"$work/rps")

# The same frames through the capture probe's flow table instead (--probe): every frame parsed and
# counted into a flow (three exporters' datagrams to one port: a handful of flows).
probe=$("$sotpd" replay --config "$work/sotpd.toml" --probe --json "$work/flows.pcap")
probe_fps=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["probe"]["packets"] == int(sys.argv[2]), s; print(s["frames_per_s"])' \
    "$probe" "$DATAGRAMS")

t0=$(now)
tcpdump -r "$work/flows.pcap" -w /dev/null 2>/dev/null
t1=$(now)
tcpdump_dps=$(echo "$DATAGRAMS / $(seconds "$t0" "$t1")" | bc)

frames=$((TSHARK_FRAMES < DATAGRAMS ? TSHARK_FRAMES : DATAGRAMS))
t0=$(now)
tshark_records=$(tshark -r "$work/flows.pcap" -c "$frames" -d udp.port==2055,cflow -T fields -e cflow.srcaddr 2>/dev/null \
    | tr ',' '\n' | grep -c . || true)
t1=$(now)
tshark_dps=$(echo "$frames / $(seconds "$t0" "$t1")" | bc)
tshark_rps=$(echo "$tshark_records / $(seconds "$t0" "$t1")" | bc)

echo "sotpd replay (median of $RUNS): $dps datagrams/s, $rps records/s"
echo "sotpd replay --probe:          $probe_fps frames/s into the probe's flow table"
echo "tcpdump -r -w /dev/null:       $tcpdump_dps datagrams/s (libpcap read floor; sotpd at $(echo "scale=2; $dps / $tcpdump_dps" | bc)×)"
echo "tshark cflow ($frames frames):  $tshark_dps datagrams/s, $tshark_rps records/s ($tshark_records records; sotpd $(echo "scale=1; $dps / $tshark_dps" | bc)× faster)"
