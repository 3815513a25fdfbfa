#!/usr/bin/env bash
# ICMP benchmark (b): TARGETS devices in 127.0.0.0/8 (default 1,000,000) polled by the whole daemon at a
# 30 s interval, one probe each (33k probes/s), for CYCLES cycles, against a TimescaleDB instance of its
# own. Reports: send lateness against schedule (p50/p99/max of each 5 s stats window), loss, the poller
# threads' CPU and the whole process's, and rows in icmp_samples for the measured window, which must be
# exactly TARGETS × CYCLES (each target has one cycle start in every 30 s window).
# Run as root. Usage: Benchmarks/icmp-1m.sh [TARGETS] [CYCLES] [INTERVAL_S]
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=${1:-1000000}
CYCLES=${2:-3}
INTERVAL=${3:-30}
((TARGETS >= 1 && TARGETS <= 16000000)) || { echo "TARGETS must be 1…16000000 (127.0.0.1 onwards)" >&2; exit 2; }
source Benchmarks/daemon-bench.sh
bench_start bench-icmp 55490
sotpd_config <<TOML
[icmp]
interval_s = $INTERVAL
probes = 1
timeout_ms = 2000
inventory_refresh_s = 2
[stats]
interval_s = 5
[log]
level = "info"
TOML
echo "inserting $TARGETS devices (127.0.0.1 onwards)…"
psql -c "INSERT INTO devices (name, address) SELECT 'lo-' || i, '127.0.0.0'::inet + i FROM generate_series(1, $TARGETS) i"

"$sotpd" run --config "$work/sotpd.toml" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    grep "ICMP targets loaded" "$work/log" | grep -q "targets=$TARGETS\b" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
    sleep 0.5
done
grep "ICMP targets loaded" "$work/log" | grep -q "targets=$TARGETS\b" || { echo "targets not loaded" >&2; tail "$work/log"; exit 1; }
loaded=$(date +%s.%N)
# The window starts one interval after loading (every target's first cycle is behind us) and lasts CYCLES intervals.
t0=$(echo "($loaded + $INTERVAL + 1) / 1" | bc)
t1=$((t0 + CYCLES * INTERVAL))
threads_cpu() {  # utime+stime ticks of the poller threads, then of the whole process
    local tx=0 all
    for t in /proc/"$pid"/task/*; do
        case $(cat "$t/comm") in sotp-icmp-tx|sotp-icmp-rx) tx=$((tx + $(awk '{ print $14 + $15 }' "$t/stat"))) ;; esac
    done
    all=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
    echo "$tx $all"
}
echo "loaded; measuring $CYCLES cycles from $(date -d @"$t0" +%T) to $(date -d @"$t1" +%T)"
sleep "$(echo "$t0 - $(date +%s.%N)" | bc)"
read -r p0 a0 < <(threads_cpu)
sleep "$(echo "$t1 - $(date +%s.%N)" | bc)"
read -r p1 a1 < <(threads_cpu)
sleep 4  # the window's last cycles close after their timeout
kill -TERM "$pid"
wait "$pid" || true
pid=
hz=$(getconf CLK_TCK)
secs=$((t1 - t0))
read -r rows devices sent received < <(psql -F ' ' -c "SELECT count(*), count(DISTINCT device_id), sum(sent), sum(received) FROM icmp_samples WHERE time >= to_timestamp($t0) AND time < to_timestamp($t1)")
lat=$(psql -F ' ' -c "SELECT max(value) FILTER (WHERE metric = 'icmp.send_lateness_p50_us'), max(value) FILTER (WHERE metric = 'icmp.send_lateness_p99_us'), max(value) FILTER (WHERE metric = 'icmp.send_lateness_max_us') FROM sotp_stats WHERE time > to_timestamp($t0 + 5) AND time <= to_timestamp($t1)")
lat99=$(psql -c "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value) FROM sotp_stats WHERE metric = 'icmp.send_lateness_p99_us' AND time > to_timestamp($t0 + 5) AND time <= to_timestamp($t1)")
echo "targets=$TARGETS interval=${INTERVAL}s cycles=$CYCLES window=${secs}s ($(nproc) CPUs)"
echo "rows in window: $rows (expected $((TARGETS * CYCLES))), distinct devices $devices, probes sent $sent, received $received, loss $(echo "scale=4; ($sent - $received) * 100 / $sent" | bc)%"
read -r l50 l99 lmax <<<"$lat"
echo "send lateness over 5 s windows: worst p50 ${l50} µs, worst p99 ${l99} µs (median window p99 ${lat99} µs), max ${lmax} µs"
echo "CPU: poller threads $(echo "scale=1; ($p1 - $p0) * 100 / $hz / $secs" | bc)% of one core, whole sotpd $(echo "scale=1; ($a1 - $a0) * 100 / $hz / $secs" | bc)% ($(echo "scale=2; ($p1 - $p0) * 1000000 / $hz / ($TARGETS * $CYCLES)" | bc) µs poller CPU per probe)"
grep -E "ICMP poller stopped" "$work/log" | tail -1 | cut -c1-600
[[ $rows == $((TARGETS * CYCLES)) && $sent == "$received" ]]
