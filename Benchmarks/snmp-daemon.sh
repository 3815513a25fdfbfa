#!/usr/bin/env bash
# The SNMP poller in the running daemon: N simulated agents (Benchmarks/snmpresponder.sh, a net-snmp
# Linux box with 48 interfaces each) as devices polled every INTERVAL seconds by `sotpd run`, its phases
# spreading the polls over the interval, for CYCLES intervals after a first one to warm up. Measures the
# CPU of sotpd and of the database over the measured cycles, and checks that every device was polled in
# every cycle with rates (the second poll of each device onwards).
# Usage: Benchmarks/snmp-daemon.sh N [INTERVAL_S] [CYCLES]      (defaults 10000 60 2)
# env: MAX_BULK (100, as net-snmp's snmpd), MAX_IN_FLIGHT (1000), COUNTERS (numeric: the responder's
#      sysUpTime and octet counters move as a real agent's do; with static ones every poll would look
#      like an agent restart and have no rates)
# Output: "daemon=sotpd agents= interval_s= cycles= polls= polls_per_s= oids= sotpd_cpu_pct= db_cpu_pct=
# rows_with_rates= timeouts= overruns=" (CPU in % of one core over the measured cycles).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000} INTERVAL=${2:-60} CYCLES=${3:-2}
export MAX_BULK=${MAX_BULK:-100} COUNTERS=${COUNTERS:-numeric}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-1000}
source Benchmarks/daemon-bench.sh
bench_start snmpdaemon 55444
agents=$work/agents
mkdir -p "$agents" && chmod 755 "$work" "$agents"
trap 'Benchmarks/snmpresponder.sh stop "$agents" >/dev/null 2>&1 || true; bench_cleanup' EXIT
RUN_SECONDS=$((INTERVAL * (CYCLES + 3) + 120)) Benchmarks/snmpresponder.sh start "$N" "$agents" >"$work/agents.log"
hz=$(getconf CLK_TCK)

{
    only_parts snmp
    cat <<TOML
[stats]
interval_s = 10
[snmp]
interval_s = $INTERVAL
max_in_flight = $MAX_IN_FLIGHT
timeout_ms = 5000
retries = 1
profile_dirs = ["$PWD/profiles/snmp"]
TOML
} | sotpd_config
agents_as_devices "$agents/agents"

sotpd_start "SNMP poller started"
db_pid=$(tsdb_pid)
# The first interval: every device's first poll (no rates yet).
sleep "$INTERVAL"
s0=$(tree_cpu "$pid"); d0=$(tree_cpu "$db_pid")
t0=$(psql -c "SELECT now()")
sleep $((INTERVAL * CYCLES))
s1=$(tree_cpu "$pid"); d1=$(tree_cpu "$db_pid")
t1=$(psql -c "SELECT now()")
sleep 12  # the last stats row and the sink's flush
oids=$(psql -c "SELECT coalesce(sum(varbinds), 0) FROM snmp_device_samples WHERE time >= '$t0' AND time < '$t1'")
polls=$(psql -c "SELECT count(*) FROM snmp_device_samples WHERE reachable AND time >= '$t0' AND time < '$t1'")
rated=$(psql -c "SELECT count(DISTINCT (device_id, time)) FROM snmp_interface_samples WHERE in_bps IS NOT NULL AND time >= '$t0' AND time < '$t1'")
stat() { psql -c "SELECT coalesce(max(value), 0) FROM sotp_stats WHERE metric = 'snmp.$1'"; }
secs=$((INTERVAL * CYCLES))
echo "daemon=sotpd agents=$N interval_s=$INTERVAL cycles=$CYCLES polls=$polls polls_per_s=$(echo "scale=1; $polls / $secs" | bc)" \
    "oids=$oids sotpd_cpu_pct=$(echo "scale=1; 100 * ($s1 - $s0) / $hz / $secs" | bc)" \
    "db_cpu_pct=$(echo "scale=1; 100 * ($d1 - $d0) / $hz / $secs" | bc) polls_with_rates=$rated" \
    "timeouts=$(stat timeouts) overruns=$(stat polls_overrun) failed=$(stat polls_failed)"
kill -TERM "$pid"; wait "$pid" || true; pid=
