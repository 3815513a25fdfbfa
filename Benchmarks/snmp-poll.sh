#!/usr/bin/env bash
# One full SNMP poll of N simulated agents (a net-snmp Linux box with 48 interfaces each, v2c) by sotpd,
# then by net-snmp's snmpbulkwalk and prometheus-snmp-exporter polling the same agents in the same run.
# sotpd runs as `sotpd poll-snmp`: the daemon's engine and writers, every row into a TimescaleDB of this
# benchmark's own, its own wall and CPU time measured by itself (getrusage), the database's apart.
#
# Usage: Benchmarks/snmp-poll.sh N [responder|snmpsim]
#   responder  Benchmarks/snmpresponder.sh: our C simulator, one thread (10,000 agents' tables in seconds)
#   snmpsim    Benchmarks/snmpsim/agents.sh: snmpsim from PyPI (~4,000 OIDs per CPU-second on a 2-core
#              VM, so a full poll of N agents costs snmpsim about 0.45 CPU-s each: keep N to a few hundred)
# env: PEERS (snmpbulkwalk,snmp_exporter; "none": sotpd only), PAR (8: the peers' agents at a time),
#      MAX_IN_FLIGHT (1000), REPS (25: sotpd's max-repetitions, as the peers'), OIDS (8: columns per
#      request), MAX_BULK (100: varbinds per GETBULK response at most, as net-snmp's snmpd answers),
#      TIMEOUT_MS (5000) and RETRIES (1), as the peers'; PERF=FILE records a perf profile of sotpd's poll.
# Output: a line per poller, "poller=NAME agents= answered= oids= wall_s= cpu_s= oids_per_s= oids_per_cpu_s=
# agents_cpu_s=", and for sotpd also the rows landed and the database's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?usage: Benchmarks/snmp-poll.sh N [responder|snmpsim]}
SIM=${2:-responder}
PEERS=${PEERS:-snmpbulkwalk,snmp_exporter}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-1000} REPS=${REPS:-25} OIDS=${OIDS:-8}
export MAX_BULK=${MAX_BULK:-100} PAR=${PAR:-8}
TIMEOUT_MS=${TIMEOUT_MS:-5000} RETRIES=${RETRIES:-1}
source Benchmarks/daemon-bench.sh
bench_start snmppoll 55443
agents=$work/agents
mkdir -p "$agents" && chmod 755 "$work" "$agents"

stop_agents() {
    if [[ $SIM == responder ]]; then Benchmarks/snmpresponder.sh stop "$agents" >/dev/null 2>&1 || true
    else Benchmarks/snmpsim/agents.sh stop "$agents" >/dev/null 2>&1 || true; fi
}
trap 'stop_agents; bench_cleanup' EXIT
case $SIM in
    responder) RUN_SECONDS=3600 Benchmarks/snmpresponder.sh start "$N" "$agents" >"$work/agents.log" ;;
    snmpsim) Benchmarks/snmpsim-setup.sh >/dev/null && Benchmarks/snmpsim/agents.sh start "$N" "$agents" >"$work/agents.log" ;;
    *) echo "simulator must be responder or snmpsim, got $SIM" >&2; exit 2 ;;
esac
agent_pids=$(cat "$agents/pids")
agents_cpu() { local s=0; for p in $agent_pids; do s=$((s + $(tree_cpu "$p"))); done; echo "$s"; }
hz=$(getconf CLK_TCK)

{
    only_parts snmp
    cat <<TOML
[log]
level = "warning"
[snmp]
max_in_flight = $MAX_IN_FLIGHT
max_repetitions = $REPS
max_oids_per_request = $OIDS
timeout_ms = $TIMEOUT_MS
retries = $RETRIES
profile_dirs = ["$PWD/profiles/snmp"]
TOML
} | sotpd_config
# The agents as devices: SNMP only, in agent order.
agents_as_devices "$agents/agents"

db_pid=$(tsdb_pid)
db0=$(tree_cpu "$db_pid"); a0=$(agents_cpu)
# PERF=FILE: a perf profile of sotpd's poll (perf record -g), for perf report.
${PERF:+perf record -q -F 499 -g -o "$PERF" --} "$sotpd" poll-snmp --config "$work/sotpd.toml" -q 2>"$work/poll.out" || true
a1=$(agents_cpu); db1=$(tree_cpu "$db_pid")
summary=$(grep '^devices=' "$work/poll.out" || { cat "$work/poll.out" >&2; exit 1; })
get() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$summary"; }
rows=$(psql -c "SELECT count(*) FROM snmp_interface_samples")
devrows=$(psql -c "SELECT count(*) FILTER (WHERE reachable) FROM snmp_device_samples")
oids=$(get varbinds) wall=$(get wall_s) cpu=$(get cpu_s)
echo "poller=sotpd agents=$N answered=$(get ok) oids=$oids wall_s=$wall cpu_s=$cpu" \
    "oids_per_s=$(echo "$oids / $wall" | bc) oids_per_cpu_s=$(echo "$oids / $cpu" | bc)" \
    "agents_cpu_s=$(echo "scale=2; ($a1 - $a0) / $hz" | bc) requests=$(get requests) retries=$(get retries) timeouts=$(get timeouts)" \
    "cpu_with_writes_s=$(get cpu_with_writes_s) db_cpu_s=$(echo "scale=2; ($db1 - $db0) / $hz" | bc)" \
    "interface_rows=$rows device_rows=$devrows in_flight=$MAX_IN_FLIGHT reps=$REPS oids_per_request=$OIDS max_bulk=$MAX_BULK"

if [[ $PEERS != none ]]; then
    Benchmarks/snmp-peers.sh "$N" "$agents" "$PEERS" | grep '^peer=' | sed 's/^peer=/poller=/'
fi
