#!/usr/bin/env bash
# Syslog intake, end to end: Benchmarks/sysloggen (C, sendmmsg; RFC 5424 with structured data, RFC 3164
# and Cisco IOS mixed, 150-300 bytes, a unique seq=NNNNNNNNNN in every message) sends RATE messages/s
# for SECONDS to sotpd on 127.0.0.1, which stores every message in `syslog` in a TimescaleDB instance of
# its own (a fresh database per run). Then, with `peers`, the same stream to rsyslog imudp → ompgsql
# (Benchmarks/syslog-peers.sh, its own instance), into a plain table and a hypertable.
# Reports: sent, the kernel's drops (SO_RXQ_OVFL), messages parsed, rows landed (distinct seq in the
# range sent) by the end of sending and after, loss, and where the CPU went while sending: sotpd, the
# database (postmaster and backends), the generators (their user + system time, which includes the
# loopback's delivery into the receiving socket), the rest of the machine, and the hypervisor's steal.
# Run as root.
# Usage: Benchmarks/syslog-intake.sh [RATE] [SECONDS] [sotpd|peers…]   (default: sotpd peers)
#        (env: RCVBUF bytes of socket buffer for sotpd and rsyslog alike (default 32 MiB, granted
#         past net.core.rmem_max since both run as root), FORMAT, GENERATORS, NICE: see
#         daemon-bench.sh's run_sysloggen; SOCKETS: sotpd's syslog.sockets_per_port)
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200000}
SECONDS_=${2:-60}
shift $(($# < 2 ? $# : 2))
MODES=("${@:-sotpd peers}")
read -r -a MODES <<<"${MODES[*]}"
# Socket buffer: the same for both; syslog-peers.sh gives rsyslog's imudp rcvBufSize (SO_RCVBUFFORCE).
RCVBUF=${RCVBUF:-$((32 << 20))}
export FORMAT=${FORMAT:-mix}
SOCKETS=${SOCKETS:-2}
source Benchmarks/daemon-bench.sh
bench_start bench-syslog 55496
build_sysloggen
psql() { if [[ $1 == -c && $2 == *DATABASE* ]]; then scripts/tsdb psql -qAt "$@"; else scripts/tsdb psql -qAt -d syslogbench "$@"; fi; }
db_pid=$(tsdb_pid)
FIRST_SEQ=1000001

run_sotpd() {
    local port
    port=$(free_port)
    psql -c "DROP DATABASE IF EXISTS syslogbench" >/dev/null
    psql -c "CREATE DATABASE syslogbench" >/dev/null
    rm -rf "$work/spool" "$work/log"
    sotpd_config syslogbench <<TOML
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
sockets_per_port = $SOCKETS
[api]
listen = ""
[stats]
interval_s = 1
TOML
    sotpd_start "syslog listeners started"
    # One message ahead, so the sink has connected and created the first chunk before the measured send.
    "$work/sysloggen" -n 1 -q 1 "$port" 1000 5 >/dev/null
    for _ in $(seq 100); do [[ $(psql -c "SELECT count(*) FROM syslog") -ge 1 ]] && break; sleep 0.1; done
    local sent last gen_secs window cpu db gen rest steal
    cpu_begin
    read -r sent last gen_secs < <(run_sysloggen "$port" "$RATE" "$SECONDS_" "$FIRST_SEQ")
    read -r window cpu db gen rest steal < <(cpu_end "$gen_secs")
    local during rows after
    during=$(($(psql -c "SELECT count(*) FROM syslog") - 1))
    # The warm-up message is one row more.
    read -r rows after < <(wait_landed "SELECT count(*) - 1 FROM syslog" "$sent")
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
    # Distinct sequence numbers of the stream landed (a duplicate would be counted once).
    local distinct drops parsed
    distinct=$(psql -c "SELECT count(DISTINCT s) FROM (SELECT substring(message FROM ' seq=([0-9]{10})')::int8 s FROM syslog) r WHERE s BETWEEN $FIRST_SEQ AND $last")
    rows=$(psql -c "SELECT count(*) FROM syslog")
    drops=$(psql -c "SELECT coalesce(max(value), 0)::int8 FROM sotp_stats WHERE metric = 'syslog.udp_kernel_drops'")
    parsed=$(psql -c "SELECT string_agg(metric || '=' || v::int8, ' ' ORDER BY metric) FROM (SELECT metric, max(value) v FROM sotp_stats WHERE metric LIKE 'syslog.parsed_%' AND value > 0 GROUP BY 1) s")
    echo "== sotpd, $RATE messages/s for $SECONDS_ s ($FORMAT, ${GENERATORS:-1} generator(s), $SOCKETS sockets, buffer $RCVBUF)"
    echo "generators: $(cat "$work"/gen.*.json | tr '\n' ' ')"
    echo "sotpd: kernel drops $drops, $parsed"
    printf 'sotpd %d/s for %d s: sent %d, landed %d distinct (%d by the end of sending = %.0f rows/s, the last %.1f s after), lost %d, duplicates %d, kernel drops %s; CPU while sending: sotpd %s%%, database %s%%, generators %s%%, rest %s%%, steal %s%% of one core\n' \
        "$RATE" "$SECONDS_" "$sent" "$distinct" "$during" "$(echo "$during / $window" | bc -l)" "$after" \
        "$((sent - distinct))" "$((rows - 1 - distinct))" "$drops" "$cpu" "$db" "$gen" "$rest" "$steal"
    grep -E "sink stopped" "$work/log" | tail -1 | cut -c1-300
}

for mode in "${MODES[@]}"; do
    case $mode in
        sotpd) run_sotpd ;;
        # Its own instance (bench-rsyslog), not this one: bench_start exported our port.
        peers) env -u SOTP_TSDB_PORT -u SOTP_TSDB_INSTANCE RCVBUF="$RCVBUF" Benchmarks/syslog-peers.sh "$RATE" "$SECONDS_" all ;;
        *) echo "unknown mode $mode (sotpd, peers)" >&2; exit 2 ;;
    esac
done
