#!/usr/bin/env bash
# Flow intake, end to end: Benchmarks/flowgen (C, sendmmsg, prebuilt NetFlow v5 packets of 30 records)
# sends RATE records/s for SECONDS to sotpd on 127.0.0.1, which stores them in a TimescaleDB instance of
# its own. Each MODE is a fresh sotpd and a fresh database:
#   raw        every record a row in `flows` (the default configuration)
#   aggregate  flow.raw = false, per-minute aggregation on the 5-tuple and interfaces into `flows_1m`
#              (the keys nfacctd aggregates on in Benchmarks/flow-peers.sh, peer_src_ip being the exporter)
#   peers      the same stream to pmacct's nfacctd and nfdump's nfcapd (Benchmarks/flow-peers.sh)
# Reports per mode: what was sent, the kernel's drops (SO_RXQ_OVFL), records decoded, sequence gaps,
# rows dropped by the sink, what landed in the database and when, and sotpd's CPU. Run as root.
# Usage: Benchmarks/flow-intake.sh [RATE] [SECONDS] [MODE…]   (default modes: raw aggregate peers)
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200000}
# Socket buffer: by default what the peers get (they ask for 32 MiB and net.core.rmem_max caps them;
# sotpd, as root, could force more), so the comparison is on equal buffers.
RCVBUF=${RCVBUF:-$(cat /proc/sys/net/core/rmem_max)}
SECONDS_=${2:-60}
shift $(($# < 2 ? $# : 2))
MODES=("${@:-raw aggregate peers}")
read -r -a MODES <<<"${MODES[*]}"
source Benchmarks/daemon-bench.sh
bench_start bench-flow 55491
cc -O2 -I Benchmarks -o "$work/flowgen" Benchmarks/flowgen/flowgen.c
hz=$(getconf CLK_TCK)
# The benchmark's queries go to the database of the mode being run; admin ones to the instance's own.
psql() { if [[ $1 == -c && $2 == *DATABASE* ]]; then scripts/tsdb psql -qAt "$@"; else scripts/tsdb psql -qAt -d flowbench "$@"; fi; }

run_sotpd() {
    local mode=$1 port extra
    port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    case $mode in
        raw) extra='raw = true' ;;
        aggregate) extra=$'raw = false\naggregate = ["exporter", "src_addr", "dst_addr", "src_port", "dst_port", "protocol", "in_if", "out_if"]' ;;
    esac
    # A fresh database per mode, so one mode's rows and chunks do not weigh on the next.
    psql -c "DROP DATABASE IF EXISTS flowbench" >/dev/null
    psql -c "CREATE DATABASE flowbench" >/dev/null
    rm -rf "$work/spool" "$work/flowstate" "$work/log"
    sotpd_config flowbench <<TOML
[icmp]
enabled = false
[flow]
netflow_port = $port
ipfix_port = 0
sflow_port = 0
state_dir = "$work/flowstate"
receive_buffer_bytes = $RCVBUF
$extra
[stats]
interval_s = 1
TOML
    sotpd_start "flow listeners started"
    local cpu0 cpu1 t0 gen rows=0 table=flows what="count(*)"
    [[ $mode == aggregate ]] && table=flows_1m what="coalesce(sum(flows), 0)"
    cpu0=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
    t0=$(now)
    gen=$("$work/flowgen" "$port" "$RATE" "$SECONDS_")
    cpu1=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
    local sent landed_at
    sent=$(sed -E 's/.*"records":([0-9]+).*/\1/' <<<"$gen")
    # Raw rows land while sending and after; wait (up to 10 minutes) until all that decoded is in, or
    # nothing more has landed for 10 s (rows the sink dropped never will).
    if [[ $mode == raw ]]; then
        local last=-1 still=0
        landed_at=$(now)
        for _ in $(seq 300); do
            rows=$(psql -c "SELECT count(*) FROM flows")
            decoded=$(psql -c "SELECT coalesce(sum(records), 0) FROM flow_exporters")
            ((rows >= decoded && decoded > 0)) && { landed_at=$(now); break; }
            if ((rows == last)); then ((++still >= 5)) && break; else still=0 last=$rows landed_at=$(now); fi
            sleep 2
        done
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
    [[ $mode == raw ]] || landed_at=$(now)
    rows=$(psql -c "SELECT $what FROM $table")
    local records gaps drops sinkdrops
    read -r records gaps < <(psql -F ' ' -c "SELECT coalesce(sum(records), 0), coalesce(sum(sequence_gaps), 0) FROM flow_exporters")
    drops=$(psql -c "SELECT coalesce(max(value), 0)::int8 FROM sotp_stats WHERE metric = 'flow.kernel_drops'")
    sinkdrops=$(grep -oE "rows_dropped=[0-9]+" "$work/log" | tail -1 | cut -d= -f2)
    echo "== sotpd $mode, $RATE records/s for $SECONDS_ s"
    echo "generator: $gen"
    echo "sotpd: records decoded $records of $sent, kernel drops $drops datagrams, sequence gaps $gaps records, sink rows dropped ${sinkdrops:-?}"
    if [[ $mode == raw ]]; then
        echo "landed: $rows rows in flows, the last $(printf %.1f "$(echo "$landed_at - $t0 - $SECONDS_" | bc)") s after sending ended:" \
            "$(echo "$rows / ($landed_at - $t0)" | bc) rows/s from first datagram to last row"
    else
        echo "landed: flows_1m rows summing to $rows records ($(psql -c "SELECT count(*) FROM flows_1m") rows)"
    fi
    echo "sotpd CPU while sending: $(echo "scale=1; ($cpu1 - $cpu0) * 100 / $hz / $SECONDS_" | bc)% of one core"
    grep -E "sink stopped" "$work/log" | tail -1 | cut -c1-300
    if [[ $mode == raw ]]; then
        # The peer for landing: psql's own binary COPY of the same rows into the same (emptied) table,
        # with nothing else running: what this database takes at most on this machine right now.
        psql -c "\copy (SELECT * FROM flows) TO '$work/flows.bin' (FORMAT binary)"
        psql -c "TRUNCATE flows" -c "CHECKPOINT"
        local c0 c1
        c0=$(now)
        psql -c "\copy flows FROM '$work/flows.bin' (FORMAT binary)"
        c1=$(now)
        echo "peer: psql \\copy of the same $rows rows into the emptied flows: $(echo "$rows / ($c1 - $c0)" | bc) rows/s (alone on the machine)"
        rm -f "$work/flows.bin"
    fi
}

for mode in "${MODES[@]}"; do
    case $mode in
        raw | aggregate) run_sotpd "$mode" ;;
        # Its own instance (bench-peers), not this one: bench_start exported our port.
        peers) env -u SOTP_TSDB_PORT -u SOTP_TSDB_INSTANCE Benchmarks/flow-peers.sh "$RATE" "$SECONDS_" all ;;
        *) echo "unknown mode $mode (raw, aggregate, peers)" >&2; exit 2 ;;
    esac
done
