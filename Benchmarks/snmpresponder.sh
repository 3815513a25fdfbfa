#!/usr/bin/env bash
# Simulated SNMP agents for the poller benchmarks, fast: Benchmarks/snmpresponder.c (one C process,
# one UDP socket per thread) serving N agents with the interface of Benchmarks/snmpsim/agents.sh: the
# same addresses (agent k at 127.20.(k div 250).(k mod 250 + 1)), v1/v2c, community "public", the same
# data (Benchmarks/snmpsim/make-device.py: a net-snmp Linux box with 48 interfaces, 1614 OIDs), and
# the same files in DIR, so that Benchmarks/snmp-peers.sh can poll them (see below).
#
# Usage: Benchmarks/snmpresponder.sh start N DIR [SNMPREC]   (N 1..64000; DIR: a directory of this run's own)
#        Benchmarks/snmpresponder.sh stop DIR
#        Benchmarks/snmpresponder.sh check DIR   (snmpget/snmpbulkwalk against the first, middle, last agent)
# env:   PORT        UDP port of every agent (default 161)
#        THREADS     responder threads, one SO_REUSEPORT socket each (default 1)
#        RUN_SECONDS the responder exits by itself after this many seconds (default 600)
#        IFACES      interfaces of the device (default 48), COUNTERS static (default) or numeric: see
#                    make-device.py (numeric: sysUpTime and the octet counters move, computed at send time)
#        DATA        an .snmprec file of your own instead of make-device.py's (or the SNMPREC argument)
#        COMMUNITY   (default public)
#        MAX_BULK    cap on varbinds in one GETBULK response (default 0: none but the 65,000-byte size;
#                    snmpsim's agents.sh default is 64, net-snmp's maxGetbulkResponses 100)
#        MAX_SIZE    largest response datagram (default 65000)
#        SYSNAME_PREFIX  when set, sysName.0 of agent k is PREFIX<k> (e.g. agent-17) instead of the file's
#        RUN_USER    user the responder drops to once bound (default nobody when run as root; "root": no drop)
#        NICE        nice value for the responder (default 0)
#        CC          C compiler (default cc)
#
# What `start` leaves in DIR:
#   agents            one target per line, in agent order: ADDR (port 161) or ADDR:PORT
#   pids              the responder's pid (`stop` kills exactly that, after checking its command line)
#   data/public.snmprec  the data it serves (snmp-peers.sh counts the expected OIDs from it)
#   snmpresponder     the binary, built from Benchmarks/snmpresponder.c at every start (build.log)
#   responder.log     its stderr: the "ready" line, and the counters at exit (kill -USR1 PID prints
#                     them at any time)
#
# Benchmarks/snmp-peers.sh takes the agents as running from DIR when every pid in DIR/pids is snmpsim's
# launcher (DIR/responder.py) or this responder (DIR/snmpresponder), and then polls them; its report's
# snmpsim_cpu_s is the responder's CPU. Start the responder first, then run snmp-peers.sh with the same
# DIR (the peers poll the agents file as written). The responder binds 0.0.0.0:PORT, so it cannot run
# beside snmpsim agents on the same port.
#
# Limits: the responder ends after RUN_SECONDS whatever happens; `stop` sends SIGTERM (SIGKILL after 5 s).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-161}
THREADS=${THREADS:-1}
RUN_SECONDS=${RUN_SECONDS:-600}
IFACES=${IFACES:-48}
COUNTERS=${COUNTERS:-static}
COMMUNITY=${COMMUNITY:-public}
MAX_BULK=${MAX_BULK:-0}
MAX_SIZE=${MAX_SIZE:-65000}
NICE=${NICE:-0}
CC=${CC:-cc}
MAX_AGENTS=64000
# log, die, agent_addr, ours, refuse_if_running, stop_pids, check_agents: shared with snmpsim/agents.sh
AGENTS_LOG=snmpresponder
AGENTS_PROC=snmpresponder AGENTS_PROC_ARGV0=1 # ours: DIR's snmpresponder binary
# shellcheck source-path=SCRIPTDIR source=snmpsim/agents-lib.sh
. "$HERE/snmpsim/agents-lib.sh"
usage() { die "usage: $0 start N DIR [SNMPREC] | stop DIR | check DIR"; }

stop_responder() {
    local dir=$1 pid
    stop_pids "$dir" 5 || return 0
    for pid in "${STOP_KILLED[@]}"; do log "pid $pid: SIGKILL"; done
    rm -f "$dir/pids"
    grep '^snmpresponder: exit' "$dir/responder.log" 2>/dev/null | tail -1 >&2 || true
    log "stopped"
}

start_responder() {
    local n=$1 dir=$2 data=${3:-${DATA:-}}
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= MAX_AGENTS)) || die "N: 1..$MAX_AGENTS"
    [[ $PORT =~ ^[0-9]+$ ]] && ((PORT >= 1 && PORT <= 65535)) || die "PORT: 1..65535"
    [[ $THREADS =~ ^[0-9]+$ ]] && ((THREADS >= 1 && THREADS <= 64)) || die "THREADS: 1..64"
    [[ $RUN_SECONDS =~ ^[0-9]+$ ]] && ((RUN_SECONDS >= 1 && RUN_SECONDS <= 86400)) || die "RUN_SECONDS: 1..86400"
    ((PORT >= 1024)) || [[ $(id -u) == 0 ]] || die "port $PORT needs root"
    command -v snmpget >/dev/null || die "snmpget missing (apt-get install snmp)"
    [[ -z $data || -r $data ]] || die "cannot read $data"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    refuse_if_running "$dir" responder it
    # the responder binds 0.0.0.0:PORT: any UDP socket on PORT (snmpsim's 127.20.x.y:PORT, snmpd's
    # 127.0.0.1:161) makes that bind fail
    local taken
    taken=$(ss -Hlun 2>/dev/null | awk -v p=":$PORT" 'substr($4, length($4) - length(p) + 1) == p' | head -3)
    [[ -z $taken ]] || die "UDP sockets already on port $PORT: $(tr '\n' ' ' <<<"$taken")"

    "$CC" -O2 -o "$dir/snmpresponder" "$HERE/snmpresponder.c" >"$dir/build.log" 2>&1 ||
        { cat "$dir/build.log" >&2; die "build failed"; }
    mkdir -p "$dir/data"
    if [[ -n $data ]]; then
        cp "$data" "$dir/data/public.snmprec"
    else
        python3 "$HERE/snmpsim/make-device.py" -n "$IFACES" --counters "$COUNTERS" -o "$dir/data/public.snmprec"
    fi
    chmod 755 "$dir" "$dir/data"
    chmod 644 "$dir/data/public.snmprec"

    : >"$dir/agents"
    local k
    for ((k = 0; k < n; k++)); do
        if ((PORT == 161)); then agent_addr "$k"; else echo "$(agent_addr "$k"):$PORT"; fi
    done >"$dir/agents"

    local opts=(--data "$dir/data/public.snmprec" --agents "$n" --port "$PORT" --threads "$THREADS"
        --seconds "$RUN_SECONDS" --community "$COMMUNITY" --max-bulk "$MAX_BULK" --max-size "$MAX_SIZE"
        --pidfile "$dir/pid")
    [[ -n ${SYSNAME_PREFIX:-} ]] && opts+=(--sysname-prefix "$SYSNAME_PREFIX")
    local user=${RUN_USER:-nobody}
    [[ $(id -u) == 0 && $user != root ]] && opts+=(--user "$user")
    local t0 t1 pid
    t0=$(date +%s.%N)
    nice -n "$NICE" "$dir/snmpresponder" "${opts[@]}" </dev/null >"$dir/responder.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pids"
    local deadline=$((SECONDS + 30))
    until grep -q '^snmpresponder: ready' "$dir/responder.log" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$dir/responder.log" >&2; rm -f "$dir/pids"; die "the responder ended"
        fi
        ((SECONDS < deadline)) || { stop_responder "$dir"; die "not ready after 30 s"; }
        sleep 0.05
    done
    t1=$(date +%s.%N)
    local rss
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    printf 'agents=%d threads=%d port=%d startup_s=%.2f rss_mb=%d pid=%d run_seconds=%d dir=%s\n' "$n" "$THREADS" \
        "$PORT" "$(echo "$t1 - $t0" | bc)" $((rss / 1024)) "$pid" "$RUN_SECONDS" "$dir"
    check_agents "$dir" "$COMMUNITY" "$IFACES" || { stop_responder "$dir"; exit 1; }
}

case ${1:-} in
    start) [[ $# == 3 || $# == 4 ]] || usage; start_responder "$2" "$3" "${4:-}" ;;
    stop) [[ $# == 2 ]] || usage; stop_responder "$(cd "$2" 2>/dev/null && pwd || echo "$2")" ;;
    check) [[ $# == 2 ]] || usage; check_agents "$(cd "$2" && pwd)" "$COMMUNITY" "$IFACES" ;;
    *) usage ;;
esac
