#!/usr/bin/env bash
# ICMP benchmark (a): N distinct targets in 127.0.0.0/8 (the kernel answers them all), one probe each,
# as fast as possible: `sotpd ping` next to `fping -C1 -i0 -t500` on the same list, in the same run,
# alternating which goes first. Prints each run and the medians: wall time, CPU time, CPU per probe,
# answered targets. Run as root (raw sockets). Usage: Benchmarks/icmp-vs-fping.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-60000}
RUNS=${2:-5}
export PATH=/opt/swift/usr/bin:$PATH
command -v fping >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q fping >/dev/null
swift build -c release --product sotpd 2>&1 | grep -E "error|warning:" >&2 || true
sotpd=$PWD/.build/release/sotpd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# 127.1.0.1 onwards: N distinct loopback addresses, nothing outside 127/8 (N is capped at 16M - 65k).
((N >= 1 && N <= 16000000)) || { echo "N must be 1…16000000" >&2; exit 2; }
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { a = 2130771969 + i; printf "%d.%d.%d.%d\n", int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256 } }' >"$work/list"

run_fping() {
    /usr/bin/time -f "%e %U %S" -o "$work/time" fping -C1 -i0 -t500 -q -f "$work/list" 2>"$work/out" >/dev/null || true
    read -r wall user sys < <(tail -1 "$work/time")
    # -C1 -q prints "address : rtt" (or "-") per target to standard error.
    answered=$(grep -cE ' : [0-9]' "$work/out" || true)
    echo "fping $wall $(echo "$user + $sys" | bc) $answered"
}
run_sotpd() {
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$sotpd" ping -q -t 500 -f "$work/list" 2>"$work/out" >/dev/null || true
    read -r wall user sys < <(tail -1 "$work/time")
    answered=$(sed -nE 's/.*, ([0-9]+) targets up;.*/\1/p' "$work/out")
    echo "sotpd $wall $(echo "$user + $sys" | bc) $answered"
}

echo "targets=$N runs=$RUNS ($(nproc) CPUs, $(uname -r))"
printf "%-6s %8s %8s %10s %9s\n" tool wall_s cpu_s cpu_us/pr answered
for ((r = 0; r < RUNS; r++)); do
    if ((r % 2 == 0)); then order="fping sotpd"; else order="sotpd fping"; fi
    for tool in $order; do
        read -r name wall cpu answered < <(run_$tool)
        printf "%-6s %8s %8s %10.2f %9s\n" "$name" "$wall" "$cpu" "$(echo "$cpu * 1000000 / $N" | bc -l)" "$answered" | tee -a "$work/results"
    done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
fw=$(awk '$1 == "fping" { print $2 }' "$work/results" | median); fc=$(awk '$1 == "fping" { print $3 }' "$work/results" | median)
sw=$(awk '$1 == "sotpd" { print $2 }' "$work/results" | median); sc=$(awk '$1 == "sotpd" { print $3 }' "$work/results" | median)
echo "median fping: wall ${fw}s cpu ${fc}s | sotpd: wall ${sw}s cpu ${sc}s"
echo "ratio sotpd/fping: wall $(echo "scale=2; $sw / $fw" | bc) cpu $(echo "scale=2; $sc / $fc" | bc)"
