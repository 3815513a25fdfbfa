#!/usr/bin/env bash
# Flow intake of the peers sotpd is compared with, fed the stream flow-intake.sh sends sotpd:
# Benchmarks/flowgen (NetFlow v5, 30 records per datagram, the records' packets summing to 735 per
# datagram) at RATE records/s for SECONDS to 127.0.0.1, one peer after the other:
#   nfacctd  pmacct's collector, aggregating on 5-tuple, interfaces and exporter into a plain
#            PostgreSQL table of a TimescaleDB instance of this benchmark's own, with COPY
#   nfcapd   nfdump's collector, storing every record in nfcapd files
# Per peer one line: records sent, records stored (nfacctd: sum of the `flows` counter, checked against
# sum(packets) * 30 / 735; nfcapd: flows counted by reading the files back with nfdump), the kernel's
# drops on the peer's socket (/proc/net/udp, read just before stopping it), records lost (sent -
# stored: kernel and application together) and the peer's CPU over the send window (utime + stime of
# all its processes, the ones it has reaped included), in % of one core. Run as root.
# Usage: Benchmarks/flow-peers.sh [RATE] [SECONDS] [nfacctd|nfcapd|all]
#        (PLUGIN_BUFFER, PLUGIN_PIPE: pmacct's plugin_buffer_size and plugin_pipe_size, see below)
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1000000}
SECONDS_=${2:-30}
WHICH=${3:-all}
case $WHICH in
    nfacctd | nfcapd) peers=$WHICH ;;
    all) peers="nfacctd nfcapd" ;;
    *) echo "usage: $0 [RATE] [SECONDS] [nfacctd|nfcapd|all]" >&2; exit 2 ;;
esac
for tool in gcc python3 nfacctd nfcapd nfdump; do
    command -v "$tool" >/dev/null || { echo "flow-peers: $tool missing (scripts/setup installs pmacct and nfdump)" >&2; exit 1; }
done

source Benchmarks/daemon-bench.sh
bench_tsdb bench-peers 55492
trap 'peer_stop KILL; bench_cleanup' EXIT
cc -O2 -I Benchmarks -o "$work/flowgen" Benchmarks/flowgen/flowgen.c
db_pid=$(tsdb_pid)
hz=$(getconf CLK_TCK)
RCVBUF=$((32 << 20))  # what sotpd asks for by default (flow.receive_buffer_bytes)
PLUGIN_BUFFER=${PLUGIN_BUFFER:-102400}       # pmacct's plugin_buffer_size, bytes
PLUGIN_PIPE=${PLUGIN_PIPE:-102400000}        # pmacct's plugin_pipe_size (the ring), bytes

# After the send: wait (at most 60 s) until the socket is empty and the peer idle, so what it holds in
# its queues is written, not cut off by the stop.
drain() {
    local port=$1 t0 c0 c1 q
    t0=$(date +%s.%N)
    for _ in $(seq 120); do
        read -r q _ < <(udp_socket "$port") || q=0
        c0=$(tree_cpu "$pid"); sleep 0.5; c1=$(tree_cpu "$pid")
        [[ $q -eq 0 && $((c1 - c0)) -le $((hz / 50)) ]] && break
    done
    printf '%.1f\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
}

# Stop the peer $pid and everything it started with signal $1, and wait (at most 60 s) for all of it.
peer_stop() {
    [[ -n ${pid:-} ]] || return 0
    local all p
    all=$(tree_pids "$pid")
    kill -"$1" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for _ in $(seq 600); do
        for p in $all; do [[ -d /proc/$p ]] && break; p=; done
        [[ -z ${p:-} ]] && break
        sleep 0.1
    done
    for p in $all; do kill -KILL "$p" 2>/dev/null || true; done
    pid=
}

# Sends the stream to the peer $pid listening on $port and prints the common part of its line.
send_and_stop() {
    local name=$1 port=$2 signal=$3 gen cpu0 cpu1 drops rx drained
    local ticks0 ticks1 busy0 all0 busy1 all1
    local db0 db1 gen_user gen_sys
    ticks0=$(tree_ticks "$pid"); read -r busy0 all0 < <(machine_ticks)
    db0=$(tree_cpu "$db_pid")
    cpu0=$(tree_cpu "$pid")
    gen=$( { TIMEFORMAT='%U %S'; time "$work/flowgen" "$port" "$RATE" "$SECONDS_"; } 2>"$work/flowgen.time")
    cpu1=$(tree_cpu "$pid")
    db1=$(tree_cpu "$db_pid")
    ticks1=$(tree_ticks "$pid"); read -r busy1 all1 < <(machine_ticks)
    read -r gen_user gen_sys <"$work/flowgen.time"
    # The rest of the machine, in % of one core: what neither the peer, its database nor the
    # generator used. Other work on a shared box shows up here; a run where it is large is suspect.
    cpu=$(echo "scale=1; ($cpu1 - $cpu0) * 100 / $hz / $SECONDS_" | bc)
    gen_cpu=$(echo "scale=1; ($gen_user + $gen_sys) * 100 / $SECONDS_" | bc)
    db_cpu=$(echo "scale=1; ($db1 - $db0) * 100 / $hz / $SECONDS_" | bc)
    rest_cpu=$(echo "scale=1; ($busy1 - $busy0) * 100 * $(nproc) / ($all1 - $all0) - $cpu - $gen_cpu - $db_cpu" | bc)
    echo "$name: per process, % of one core while sending:" >&2
    join -a 2 -e 0 -o 2.1,1.2,2.2 <(sort <<<"$ticks0") <(sort <<<"$ticks1") | while read -r p a b; do
        echo "    $p $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-50): $(((b - a) * 100 / hz / SECONDS_))%" >&2
    done
    drained=$(drain "$port")
    read -r rx drops < <(udp_socket "$port") || { rx='?'; drops=0; echo "$name: socket gone before the stop" >&2; }
    peer_stop "$signal"
    sent=$(sed -E 's/.*"records":([0-9]+).*/\1/' <<<"$gen")
    kernel_drops=$drops
    echo "$name generator: $gen" >&2
    echo "$name: idle ${drained} s after the send, socket queue ${rx} bytes at stop" >&2
}

report() {
    local name=$1 stored=$2 extra=$3
    local lost=$((sent - stored))
    printf '%-8s rate %d/s for %d s: sent %d, stored %d, kernel drops %d datagrams (%d records), lost %d (%s%%), CPU %s%% of one core (meanwhile generator %s%%, database %s%%, rest of the machine %s%%); %s\n' \
        "$name" "$RATE" "$SECONDS_" "$sent" "$stored" "$kernel_drops" $((kernel_drops * 30)) "$lost" \
        "$(echo "scale=3; $lost * 100 / $sent" | bc)" "$cpu" "$gen_cpu" "$db_cpu" "$rest_cpu" "$extra"
}

# pmacct: core process (socket, decoding) and one pgsql plugin process (cache, purges through
# forked writers using COPY). The ring between them, by default: 100 MB in 100 KB buffers, ten times
# what pmacct's docs call right "for most environments" (10 KB / 10 MB) at the 1:1000 ratio they
# advise; a buffer carries ~250 records here, so the ring holds ~0.25 s at 1M records/s.
# sql_use_copy needs sql_dont_try_update, which needs nfacctd_time_new and sql_refresh_time =
# sql_history. `flows` in the aggregate adds the records counter (exact; sum(packets) is not once the
# ring drops part of a datagram), not a key. Stored can exceed sent: some runs crossing a minute
# boundary stored 250 records (one ring buffer) twice with no warning - probably the duplicates
# pmacct's docs warn of for sql_dont_try_update - and once the ring overruns ("Missing data detected",
# counted as ring-full warnings) records are both lost and repeated, so "lost" is then a net figure:
# a run is clean only with no ring-full warning.
run_nfacctd() {
    local port pw
    port=$(free_port)
    pw=$(cat "$(scripts/tsdb password-file)")
    scripts/tsdb psql -q -c "CREATE TABLE acct_peers (
        peer_ip_src inet NOT NULL DEFAULT '0.0.0.0',
        iface_in BIGINT NOT NULL DEFAULT 0,
        iface_out BIGINT NOT NULL DEFAULT 0,
        ip_src inet NOT NULL DEFAULT '0.0.0.0',
        ip_dst inet NOT NULL DEFAULT '0.0.0.0',
        port_src INT NOT NULL DEFAULT 0,
        port_dst INT NOT NULL DEFAULT 0,
        ip_proto SMALLINT NOT NULL DEFAULT 0,
        packets BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        flows BIGINT NOT NULL DEFAULT 0,
        stamp_inserted timestamp without time zone NOT NULL,
        stamp_updated timestamp without time zone)"
    (umask 077; cat >"$work/nfacctd.conf") <<CONF
daemonize: false
logfile: $work/nfacctd.log
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
nfacctd_pipe_size: $RCVBUF
nfacctd_time_new: true
plugins: pgsql[p]
plugin_buffer_size[p]: $PLUGIN_BUFFER
plugin_pipe_size[p]: $PLUGIN_PIPE
aggregate[p]: src_host, dst_host, src_port, dst_port, proto, in_iface, out_iface, peer_src_ip, flows
sql_host[p]: 127.0.0.1
sql_port[p]: $SOTP_TSDB_PORT
sql_db[p]: sotp
sql_user[p]: sotp
sql_passwd[p]: $pw
sql_table[p]: acct_peers
sql_optimize_clauses[p]: true
sql_num_protos[p]: true
sql_history[p]: 1m
sql_refresh_time[p]: 60
sql_dont_try_update[p]: true
sql_use_copy[p]: true
CONF
    nfacctd -f "$work/nfacctd.conf" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "waiting for NetFlow" "$work/nfacctd.log" 2>/dev/null && [[ -n $(udp_socket "$port") ]] && break; sleep 0.1; done
    local rcvbuf
    rcvbuf=$(ss -uamnH "sport = :$port" | grep -o 'rb[0-9]*' | head -1)
    send_and_stop nfacctd "$port" INT  # SIGINT: the plugin purges its cache, then all exit
    local flows packets rows
    read -r rows flows packets < <(scripts/tsdb psql -qAt -F ' ' -c "SELECT count(*), coalesce(sum(flows), 0), coalesce(sum(packets), 0) FROM acct_peers")
    report nfacctd "$flows" "rows $rows, sum(packets)*30/735 = $(echo "scale=1; $packets * 30 / 735" | bc), socket ${rcvbuf}, ring-full warnings $(grep -c "Missing data detected" "$work/nfacctd.log" || true)"
    grep -E "WARN|ERROR|obtained|plugin_pipe_size=" "$work/nfacctd.log" | cut -c22- | sort | uniq -c | head -20 >&2 || true
}

# nfdump: one process (receive thread, writer thread) storing records in a file per minute (-t 60).
run_nfcapd() {
    local port dir
    port=$(free_port)
    dir=$work/nfcapd
    mkdir -p "$dir"
    nfcapd -w "$dir" -p "$port" -b 127.0.0.1 -t 60 -B "$RCVBUF" >"$work/nfcapd.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [[ -n $(udp_socket "$port") ]] && grep -q "Startup" "$work/nfcapd.log" && break; sleep 0.1; done
    local rcvbuf
    rcvbuf=$(ss -uamnH "sport = :$port" | grep -o 'rb[0-9]*' | head -1)
    send_and_stop nfcapd "$port" TERM  # SIGTERM: nfcapd writes out its buffers and closes the file
    local flows packets
    read -r flows packets < <(nfdump -R "$dir" -q -s proto -n 0 -o csv | awk -F, 'NR > 1 && $6 ~ /^[0-9]+$/ { f += $6; p += $8 } END { printf "%d %d\n", f, p }')
    report nfcapd "$flows" "sum(packets)*30/735 = $(echo "scale=1; $packets * 30 / 735" | bc), socket ${rcvbuf}, files $(find "$dir" -name 'nfcapd.*' | wc -l)"
}

echo "flow-peers: $RATE records/s for $SECONDS_ s to 127.0.0.1; net.core.rmem_max $(cat /proc/sys/net/core/rmem_max) (peers ask for $RCVBUF)" >&2
for peer in $peers; do "run_$peer"; done
