#!/usr/bin/env bash
# Flow intake, end to end: Benchmarks/flowgen (C, sendmmsg, prebuilt NetFlow v5 packets of 30 records)
# sends RATE records/s for SECONDS to sotpd on 127.0.0.1, which stores them raw in `flows` of a
# TimescaleDB instance of its own. Reports what was sent, the kernel's drops (SO_RXQ_OVFL), records
# decoded, sequence gaps seen, rows landed, and sotpd's CPU. Run as root.
# Usage: Benchmarks/flow-intake.sh [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200000}
SECONDS_=${2:-60}
source Benchmarks/daemon-bench.sh
bench_start bench-flow 55491
gcc -O2 -o "$work/flowgen" Benchmarks/flowgen/flowgen.c
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/sotpd.toml" <<TOML
[database]
url = "$(scripts/tsdb url)"
password_file = "$(scripts/tsdb password-file)"
auto_migrate = true
[sink]
spool_dir = "$work/spool"
[icmp]
enabled = false
[flow]
netflow_port = $port
ipfix_port = 0
sflow_port = 0
state_dir = "$work/flowstate"
[stats]
interval_s = 1
TOML
"$sotpd" migrate --config "$work/sotpd.toml" >/dev/null
"$sotpd" run --config "$work/sotpd.toml" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "flow listeners started" "$work/log" && break; sleep 0.1; done
cpu0=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
gen=$("$work/flowgen" "$port" "$RATE" "$SECONDS_")
cpu1=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
sleep 5  # the sink writes out what is queued
kill -TERM "$pid"
wait "$pid" || true
pid=
hz=$(getconf CLK_TCK)
rows=$(psql -c "SELECT count(*) FROM flows")
read -r records gaps < <(psql -F ' ' -c "SELECT coalesce(sum(records), 0), coalesce(sum(sequence_gaps), 0) FROM flow_exporters")
drops=$(psql -c "SELECT coalesce(max(value), 0) FROM sotp_stats WHERE metric = 'flow.kernel_drops'")
echo "generator: $gen"
echo "sotpd: records decoded $records, rows in flows $rows, kernel drops $drops datagrams, sequence gaps $gaps records"
echo "sotpd CPU while sending: $(echo "scale=1; ($cpu1 - $cpu0) * 100 / $hz / $SECONDS_" | bc)% of one core"
grep -E "sink stopped" "$work/log" | tail -1 | cut -c1-400
