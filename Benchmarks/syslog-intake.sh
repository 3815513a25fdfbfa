#!/usr/bin/env bash
# Syslog intake, end to end: Benchmarks/sysloggen (C, sendmmsg; RFC 5424 with structured data, RFC 3164
# and Cisco IOS mixed, 150-300 bytes, a unique seq=NNNNNNNNNN in every message) sends RATE messages/s
# for SECONDS to sotpd on 127.0.0.1, which stores every message in `syslog` in a TimescaleDB instance of
# its own (a fresh database per run). Then, with `peers`, the same stream to rsyslog imudp → ompgsql
# (Benchmarks/syslog-peers.sh, its own instance), into a plain table and a hypertable.
# Reports: sent, the kernel's drops (SO_RXQ_OVFL), messages parsed, rows landed (distinct seq in the
# range sent) while sending and after, loss, sotpd's CPU. Run as root.
# Usage: Benchmarks/syslog-intake.sh [RATE] [SECONDS] [sotpd|peers…]   (default: sotpd peers)
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200000}
SECONDS_=${2:-60}
shift $(($# < 2 ? $# : 2))
MODES=("${@:-sotpd peers}")
read -r -a MODES <<<"${MODES[*]}"
# Socket buffer: what rsyslog gets (net.core.rmem_max caps a plain SO_RCVBUF), so both have the same.
RCVBUF=${RCVBUF:-$(cat /proc/sys/net/core/rmem_max)}
FORMAT=${FORMAT:-mix}
source Benchmarks/daemon-bench.sh
bench_start bench-syslog 55496
cc -O2 -o "$work/sysloggen" Benchmarks/sysloggen/sysloggen.c
hz=$(getconf CLK_TCK)
psql() { if [[ $1 == -c && $2 == *DATABASE* ]]; then scripts/tsdb psql -qAt "$@"; else scripts/tsdb psql -qAt -d syslogbench "$@"; fi; }
now() { date +%s.%N; }

run_sotpd() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    psql -c "DROP DATABASE IF EXISTS syslogbench" >/dev/null
    psql -c "CREATE DATABASE syslogbench" >/dev/null
    rm -rf "$work/spool" "$work/log"
    cat >"$work/sotpd.toml" <<TOML
[database]
url = "$(scripts/tsdb url | sed 's,/[^/]*$,/syslogbench,')"
password_file = "$(scripts/tsdb password-file)"
auto_migrate = true
[sink]
spool_dir = "$work/spool"
[icmp]
enabled = false
[flow]
enabled = false
[traps]
enabled = false
[syslog]
udp_port = $port
tcp_port = 0
receive_buffer_bytes = $RCVBUF
[api]
listen = ""
[stats]
interval_s = 1
TOML
    "$sotpd" migrate --config "$work/sotpd.toml" >/dev/null
    "$sotpd" run --config "$work/sotpd.toml" >"$work/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "syslog listeners started" "$work/log" && break; sleep 0.1; done
    local cpu0 cpu1 t0 t1 gen sent first last
    cpu0=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
    t0=$(now)
    gen=$("$work/sysloggen" -m "$FORMAT" "$port" "$RATE" "$SECONDS_")
    t1=$(now)
    cpu1=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
    sent=$(sed -E 's/.*"messages":([0-9]+),.*/\1/' <<<"$gen")
    # Landed while sending: rows whose received time is before the generator ended.
    local during rows=0 lastrows=-1 still=0 landed_at
    landed_at=$(now)
    for _ in $(seq 300); do
        rows=$(psql -c "SELECT count(*) FROM syslog")
        ((rows >= sent)) && { landed_at=$(now); break; }
        if ((rows == lastrows)); then ((++still >= 5)) && break; else still=0 lastrows=$rows landed_at=$(now); fi
        sleep 2
    done
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
    # Distinct sequence numbers landed (a duplicate would be counted once and show as rows > distinct).
    local distinct drops parsed
    distinct=$(psql -c "SELECT count(DISTINCT substring(message FROM 'seq=([0-9]{10})')) FROM syslog")
    rows=$(psql -c "SELECT count(*) FROM syslog")
    during=$(psql -c "SELECT count(*) FROM syslog WHERE received_at <= to_timestamp($t1)")
    drops=$(psql -c "SELECT coalesce(max(value), 0)::int8 FROM sotp_stats WHERE metric = 'syslog.udp_kernel_drops'")
    parsed=$(psql -c "SELECT string_agg(metric || '=' || v::int8, ' ' ORDER BY metric) FROM (SELECT metric, max(value) v FROM sotp_stats WHERE metric LIKE 'syslog.parsed_%' GROUP BY 1) s")
    echo "== sotpd, $RATE messages/s for $SECONDS_ s ($FORMAT)"
    echo "generator: $gen"
    echo "sotpd: kernel drops $drops, $parsed"
    echo "landed: $rows rows, $distinct distinct seq of $sent sent, lost $((sent - distinct)); $during received while sending;" \
        "the last landed $(printf %.1f "$(echo "$landed_at - $t1" | bc)") s after sending ended"
    echo "sotpd CPU while sending: $(echo "scale=1; ($cpu1 - $cpu0) * 100 / $hz / $SECONDS_" | bc)% of one core"
    grep -E "sink stopped" "$work/log" | tail -1 | cut -c1-300
}

for mode in "${MODES[@]}"; do
    case $mode in
        sotpd) run_sotpd ;;
        # Its own instance (bench-rsyslog), not this one: bench_start exported our port.
        peers) env -u SOTP_TSDB_PORT -u SOTP_TSDB_INSTANCE RCVBUF="$RCVBUF" FORMAT="$FORMAT" Benchmarks/syslog-peers.sh "$RATE" "$SECONDS_" all ;;
        *) echo "unknown mode $mode (sotpd, peers)" >&2; exit 2 ;;
    esac
done
