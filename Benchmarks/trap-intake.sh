#!/usr/bin/env bash
# SNMP trap intake, end to end: Benchmarks/trapgen (C, sendmmsg; v2c linkDown/linkUp traps as IF-MIB
# defines them, about 120 bytes, request-ids unique and contiguous) sends RATE traps/s for SECONDS to
# sotpd on 127.0.0.1, which decodes each, writes its varbinds as jsonb and stores it in `snmp_traps`
# in a TimescaleDB instance of this benchmark's own. Then, with `snmptrapd`, the same stream to
# net-snmp's snmptrapd (Debian's, the receiver most sites run) logging each trap to a file: what a
# receiver without a database reaches on this machine.
# Reports: sent, the kernel's drops, traps decoded, rows landed (distinct request-ids of the range sent)
# by the end of sending and after, loss, and where the CPU went while sending (daemon, database,
# generator, rest, steal; see daemon-bench.sh). Run as root.
# Usage: Benchmarks/trap-intake.sh [RATE] [SECONDS] [sotpd|snmptrapd…]   (default: sotpd snmptrapd)
#        (env: MIBS: sotpd's traps.mibs (default "": numeric OIDs, no lookups))
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-20000}
SECONDS_=${2:-30}
shift $(($# < 2 ? $# : 2))
MODES=("${@:-sotpd snmptrapd}")
read -r -a MODES <<<"${MODES[*]}"
[[ $RATE =~ ^[0-9]+$ && $SECONDS_ =~ ^[0-9]+$ && $SECONDS_ -ge 1 && $SECONDS_ -le 600 ]] \
    || { echo "trap-intake: RATE and SECONDS (1-600) are integers" >&2; exit 2; }
MIBS=${MIBS:-}
source Benchmarks/daemon-bench.sh
bench_start bench-traps 55497
cc -O2 -I Benchmarks -o "$work/trapgen" Benchmarks/trapgen/trapgen.c
psql() { scripts/tsdb psql -qAt "$@"; }
db_pid=$(tsdb_pid)
FIRST_ID=1000001

# trapgen from FIRST_ID: prints "SENT CPU_SECONDS", its JSON line in $work/gen.json.
send() {
    local u s
    { TIMEFORMAT='%U %S'; time "$work/trapgen" -q "$FIRST_ID" "$1" "$RATE" "$SECONDS_" >"$work/gen.json"; } 2>"$work/gen.time"
    read -r u s <"$work/gen.time"
    echo "$(sed -E 's/.*"traps":([0-9]+).*/\1/' "$work/gen.json") $(echo "$u + $s" | bc)"
}

run_sotpd() {
    local port
    port=$(free_port)
    psql -c "TRUNCATE snmp_traps" >/dev/null 2>&1 || true
    sotpd_config <<TOML
[icmp]
enabled = false
[flow]
enabled = false
[syslog]
udp_port = 0
tcp_port = 0
[traps]
port = $port
state_file = "$work/snmp-engine"
mibs = "$MIBS"
[api]
listen = ""
[stats]
interval_s = 1
TOML
    sotpd_start "trap listener started"
    # One trap ahead (request-id 1, outside the measured range), so the sink is connected.
    "$work/trapgen" -n 1 -q 1 "$port" 1000 5 >/dev/null
    for _ in $(seq 100); do [[ $(psql -c "SELECT count(*) FROM snmp_traps") -ge 1 ]] && break; sleep 0.1; done
    local sent gen_secs window cpu db gen rest steal
    cpu_begin
    read -r sent gen_secs < <(send "$port")
    read -r window cpu db gen rest steal < <(cpu_end "$gen_secs")
    local during rows after
    during=$(($(psql -c "SELECT count(*) FROM snmp_traps") - 1))
    read -r rows after < <(wait_landed "SELECT count(*) - 1 FROM snmp_traps" "$sent")
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
    local last=$((FIRST_ID + sent - 1)) distinct drops decoded
    distinct=$(psql -c "SELECT count(DISTINCT request_id) FROM snmp_traps WHERE request_id BETWEEN $FIRST_ID AND $last")
    rows=$(psql -c "SELECT count(*) FROM snmp_traps WHERE request_id BETWEEN $FIRST_ID AND $last")
    drops=$(psql -c "SELECT coalesce(max(value), 0)::int8 FROM sotp_stats WHERE metric = 'traps.udp_kernel_drops'")
    decoded=$(psql -c "SELECT coalesce(max(value), 0)::int8 FROM sotp_stats WHERE metric = 'traps.traps_v2'")
    echo "generator: $(cat "$work/gen.json")"
    printf 'sotpd %d traps/s for %d s: sent %d, decoded %d, landed %d distinct (%d by the end of sending = %.0f rows/s, the last %.1f s after), lost %d, duplicates %d, kernel drops %s; CPU while sending: sotpd %s%%, database %s%%, generator %s%%, rest %s%%, steal %s%% of one core\n' \
        "$RATE" "$SECONDS_" "$sent" "$((decoded - 1))" "$distinct" "$during" "$(echo "$during / $window" | bc -l)" "$after" \
        "$((sent - distinct))" "$((rows - distinct))" "$drops" "$cpu" "$db" "$gen" "$rest" "$steal"
    grep -E "sink stopped" "$work/log" | tail -1 | cut -c1-300
}

run_snmptrapd() {
    command -v snmptrapd >/dev/null || { echo "trap-intake: snmptrapd missing (apt-get install snmptrapd)" >&2; return 0; }
    local port
    port=$(free_port)
    # A foreground snmptrapd of our own: no MIBs (numeric OIDs, as sotpd above by default), every
    # v2c trap with community public logged, one line each, to a file; never the system service.
    mkdir -p "$work/snmptrapd"
    cat >"$work/snmptrapd/snmptrapd.conf" <<CONF
authCommunity log public
doNotRetainNotificationLogs yes
format2 TRAP %b %v\n
CONF
    SNMPCONFPATH="$work/snmptrapd" MIBS="" snmptrapd -f -C -c "$work/snmptrapd/snmptrapd.conf" -On -Lf "$work/snmptrapd/traps.log" \
        -p "$work/snmptrapd/pid" "udp:127.0.0.1:$port" &
    pid=$!
    for _ in $(seq 100); do [[ -n $(udp_socket "$port") ]] && break; sleep 0.1; done
    local sent gen_secs window cpu db gen rest steal drops
    cpu_begin
    read -r sent gen_secs < <(send "$port")
    read -r window cpu db gen rest steal < <(cpu_end "$gen_secs")
    # Until the socket is empty, then one more second for the last writes.
    for _ in $(seq 600); do read -r q _ < <(udp_socket "$port"); [[ ${q:-0} == 0 ]] && break; sleep 0.5; done
    sleep 1
    read -r _ drops < <(udp_socket "$port") || drops='?'
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
    # One line per trap (snmptrapd's format has no request-id: lines are counted, not matched).
    local got
    got=$(grep -c "^TRAP " "$work/snmptrapd/traps.log" 2>/dev/null || true)
    echo "generator: $(cat "$work/gen.json")"
    printf 'snmptrapd %d traps/s for %d s: sent %d, logged %d, lost %d, kernel drops %s; CPU while sending: snmptrapd %s%%, generator %s%%, rest %s%%, steal %s%% of one core\n' \
        "$RATE" "$SECONDS_" "$sent" "$got" "$((sent - got))" "$drops" "$cpu" "$gen" "$(echo "$rest + $db" | bc)" "$steal"
}

echo "trap-intake: $RATE traps/s for $SECONDS_ s to 127.0.0.1; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for mode in "${MODES[@]}"; do
    case $mode in
        sotpd) run_sotpd ;;
        snmptrapd) run_snmptrapd ;;
        *) echo "unknown mode $mode (sotpd, snmptrapd)" >&2; exit 2 ;;
    esac
done
