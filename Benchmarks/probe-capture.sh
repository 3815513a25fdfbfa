#!/usr/bin/env bash
# Capture rate of sotpd's probe against the peers users have, on the same traffic: Benchmarks/framegen
# sends PACKETS 60-byte UDP frames of FLOWS flows (198.19.255.253 → 198.19.255.254:9999, the address of
# a namespace this script creates; addressed to a MAC nobody has, so the namespace drops them at once)
# round robin, as fast as it can (sendmmsg on an AF_PACKET socket), onto the root side of a veth pair.
# Each capturer in turn watches that interface:
#   sotpd     `sotpd run` with [probe] on the interface (TPACKET_V3, THREADS rings in a fanout group),
#             its flows going to a TimescaleDB instance of this benchmark's own
#   tcpdump   libpcap's capture to /dev/null (-s 256, 64 MiB buffer, filter "udp"): the floor of
#             capturing at all, no flows
#   softflowd libpcap capture plus a flow table, exporting NetFlow v9 to a closed local port
# Per run one line: the sender's rate, packets the capturer got, the kernel's drops (PACKET_STATISTICS:
# sotpd's probe.ring_drops, tcpdump's "dropped by kernel", softflowd's "dropped by libpcap"), and the
# capturer's CPU over the send (user + system) in ns per packet. sotpd's flows are then checked in the
# database: sum(packets) of its records must equal the packets sent. RUNS runs each, medians last.
# RATE (frames/s, 0 = as fast as the sender can) paces the sender; SENDERS=N sends from N processes. Every run is bounded (PACKETS frames,
# 120 s). Run as root.
# Usage: Benchmarks/probe-capture.sh [PACKETS] [FLOWS] [RUNS] [THREADS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
PACKETS=${1:-3000000}
FLOWS=${2:-10000}
RUNS=${3:-3}
THREADS=${4:-1}
RATE=${5:-0}
for tool in gcc tcpdump softflowd softflowctl python3 ip; do
    command -v "$tool" >/dev/null || { echo "probe-capture: $tool missing (scripts/setup installs tcpdump, softflowd)" >&2; exit 1; }
done

source Benchmarks/daemon-bench.sh
bench_start bench-probe 55496
NS=sotp-bench-probe-$$
IF=sotpbp$$
IF=${IF:0:15}
cap=
probe_cleanup() {
    [[ -n $cap ]] && kill "$cap" 2>/dev/null && wait "$cap" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$IF" 2>/dev/null || true
    bench_cleanup
}
trap probe_cleanup EXIT

ip netns add "$NS"
ip link add "$IF" type veth peer name eth0 netns "$NS"
ip addr add 198.19.255.253/30 dev "$IF"
ip link set "$IF" up
ip -n "$NS" addr add 198.19.255.254/30 dev eth0
ip -n "$NS" link set eth0 up
ip -n "$NS" link set lo up
src_mac=$(cat "/sys/class/net/$IF/address")
gcc -O2 -o "$work/framegen" Benchmarks/framegen/framegen.c
total=$(( PACKETS / ${SENDERS:-1} * ${SENDERS:-1} ))
hz=$(getconf CLK_TCK)
echo "probe-capture: $total frames ($FLOWS flows, 60 bytes) per run, $RUNS runs per capturer, sotpd probe threads: $THREADS, rate: ${RATE/#0/max}"

# Sends the frames from SENDERS framegen processes (default 1) at once, each its share; prints the
# frames/s of them all together.
send() {
    local n=${SENDERS:-1} k t0 t1
    t0=$(now)
    for ((k = 0; k < n; k++)); do
        "$work/framegen" "$IF" "$src_mac" 02:00:00:00:00:01 198.19.255.253 198.19.255.254 "$FLOWS" $((total / n)) \
            "$(echo "$RATE / $n" | bc)" 120 >"$work/gen.$k.json" &
    done
    wait $(jobs -p | grep -v "^${cap}$") 2>/dev/null || true
    t1=$(now)
    echo "$total / ($t1 - $t0)" | bc
}

results=()
for capturer in sotpd tcpdump softflowd; do
    for run in $(seq "$RUNS"); do
        case $capturer in
        sotpd)
            scripts/tsdb psql -q -c "DROP DATABASE IF EXISTS probe_bench" -c "CREATE DATABASE probe_bench" >/dev/null
            { only_parts
              printf '[probe]\ninterfaces = ["%s"]\nthreads = %s\nidle_timeout_s = 2\n' "$IF" "$THREADS"
              printf '[api]\nlisten = ""\n[stats]\ninterval_s = 60\n'
            } | sotpd_config probe_bench
            sotpd_start "capture probe started"
            cap=$pid
            ;;
        tcpdump)
            tcpdump -i "$IF" -n -s 256 -B 65536 -w /dev/null udp >"$work/cap.log" 2>&1 &
            cap=$!
            sleep 1
            ;;
        softflowd)
            rm -f "$work/sfd.ctl"
            softflowd -d -i "$IF" -v 9 -n 127.0.0.1:9 -B 67108864 -m 65536 -c "$work/sfd.ctl" -p "$work/sfd.pid" >"$work/cap.log" 2>&1 &
            cap=$!
            for _ in $(seq 50); do [[ -S $work/sfd.ctl ]] && break; sleep 0.1; done
            ;;
        esac
        c0=$(tree_cpu "$cap")
        # PERF=DIR: a perf profile of the capturer during the send, in DIR/CAPTURER-RUN.data.
        [[ -n ${PERF:-} ]] && { perf record -q -g -p "$cap" -o "$PERF/$capturer-$run.data" 2>/dev/null & perf_pid=$!; }
        pps=$(send)
        [[ -n ${PERF:-} ]] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
        sleep 1
        c1=$(tree_cpu "$cap")
        case $capturer in
        sotpd)
            kill -TERM "$cap"; wait "$cap" || true
            stats=$(grep "probe.packets=" "$work/log" | tail -1)
            got=$(grep -oE 'probe\.packets=[0-9]+' <<<"$stats" | cut -d= -f2)
            drops=$(grep -oE 'probe\.ring_drops=[0-9]+' <<<"$stats" | cut -d= -f2)
            # Every frame sent is in a stored flow (the probe also saw the link's own IPv6 and ARP).
            stored=$(psql -d probe_bench -c "SELECT coalesce(sum(packets), 0) FROM flows WHERE flow_source = 100 AND dst_port = 9999")
            [[ $stored == "$total" ]] || echo "probe-capture: sotpd run $run: flows hold $stored packets of the $total sent" >&2
            ;;
        tcpdump)
            kill -INT "$cap"; wait "$cap" || true
            got=$(awk '/packets captured/ { print $1 }' "$work/cap.log")
            drops=$(awk '/dropped by kernel/ { print $1 }' "$work/cap.log")
            ;;
        softflowd)
            softflowctl -c "$work/sfd.ctl" statistics >"$work/sfd.stats" 2>&1 || true
            kill -TERM "$cap"; wait "$cap" || true
            got=$(awk -F': ' '/Packets received by libpcap/ { print $2 }' "$work/sfd.stats")
            drops=$(awk -F': ' '/Packets dropped by libpcap/ { print $2 }' "$work/sfd.stats")
            ;;
        esac
        cap=
        pid=
        ns_pkt=$(echo "($c1 - $c0) * 1000000000 / $hz / ${got:-1}" | bc)
        printf '%-9s run %d: sent %8s pps  captured %9s  dropped %7s  CPU %4s ns/packet\n' "$capturer" "$run" "$pps" "${got:-?}" "${drops:-?}" "$ns_pkt"
        results+=("$capturer $pps ${got:-0} ${drops:-0} $ns_pkt")
    done
done

echo "medians over $RUNS runs (sent pps, captured, dropped, CPU ns/packet):"
for capturer in sotpd tcpdump softflowd; do
    printf '%s\n' "${results[@]}" | awk -v c="$capturer" '$1 == c' | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
med = lambda k: statistics.median(float(r[k]) for r in rows)
print("  %-9s %9.0f pps  captured %10.0f  dropped %8.0f  CPU %5.0f ns/packet" % (rows[0][0], med(1), med(2), med(3), med(4)))'
done
