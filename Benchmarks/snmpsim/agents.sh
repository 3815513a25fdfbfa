#!/usr/bin/env bash
# Simulated SNMP agents for the poller benchmarks: snmpsim command responders (snmpsim 1.2.2 in the venv
# Benchmarks/snmpsim-setup.sh makes) serving N agents, each at its own loopback address, SNMPv2c,
# community "public", all with the same data (Benchmarks/snmpsim/make-device.py: a net-snmp Linux box
# with 48 interfaces, 1614 OIDs).
#
# Usage: Benchmarks/snmpsim/agents.sh start N DIR     (N 1..10000; DIR: a directory of this run's own)
#        Benchmarks/snmpsim/agents.sh stop DIR
#        Benchmarks/snmpsim/agents.sh check DIR      (snmpget/snmpbulkwalk against a few of the agents)
# env:   PROCS      snmpsim processes (default: 2, the cores of the box; at most N). Agents are dealt out
#                   round robin, agent k to process k mod PROCS, so that consecutive agents in the list
#                   land on different processes
#        PORT       UDP port of every agent (default 161)
#        IFACES     interfaces of the device (default 48)
#        COUNTERS   static (default) or numeric: see make-device.py
#        DATA       an .snmprec file of your own instead of make-device.py's
#        MAX_VARBINDS  snmpsim's cap on varbinds in one response (its default, 64)
#        VENV       the snmpsim venv (default /var/cache/sotp/snmpsim-venv)
#        NICE       nice value for the snmpsim processes (default 0)
#
# Addresses: the block 127.20.0.0/16. Agent k (k = 0..N-1) is 127.20.(k div 250).(k mod 250 + 1):
# agent 0 127.20.0.1, agent 249 127.20.0.250, agent 250 127.20.1.1, agent 9999 127.20.39.250. Linux
# answers every address of 127.0.0.0/8 on lo (lo holds 127.0.0.1/8), so binding them needs no
# `ip addr add`. Nothing leaves the machine.
#
# What `start` leaves in DIR:
#   agents           one target per line, in agent order: ADDR (port 161) or ADDR:PORT, as net-snmp's
#                    tools and snmp_exporter's target= take them
#   pids             the snmpsim processes' pids, one per line (`stop` kills exactly these)
#   data/public.snmprec  the data: snmpsim names an agent's data by the path below --data-dir, so
#                    one file public.snmprec at the top is community "public" on every endpoint (a
#                    file at data/1.3.6.1.6.1.1.K/public.snmprec or data/public/127.20.0.1.snmprec
#                    would serve a single endpoint instead; this harness does not need that)
#   args-P           process P's --agent-udpv4-endpoint options (--args-from-file)
#   cache-P/         process P's index of the data file (owned by nobody)
#   snmpsim-P.log    process P's log (--log-level=error: startup, errors; no per-request lines)
#   responder.py     the launcher described below
#
# Privileges: run as root; every process runs as --process-user=nobody --process-group=nogroup.
# snmpsim 1.2 on pysnmp 7 opens its UDP sockets in asyncio tasks that only run once its event loop
# runs, which is after it has dropped to nobody: a bind of port 161 then fails with EACCES in a task
# nobody looks at, and the agent is silently deaf (checked: no socket, snmpget times out; ports >= 1024
# do work). responder.py therefore runs snmpsim's own main() with one change: right before the final
# drop to nobody it runs the event loop until those bind tasks are done, so the sockets are bound while
# still root, and a bind that fails (address in use, ...) ends the process with the error instead.
# Nothing else of snmpsim is changed. It prints "sotp-agents: bound N endpoints", which `start` waits for.
#
# nobody must be able to read DIR and the venv: DIR must not be under /root (mode 700); /tmp or /var/tmp
# is fine. Every endpoint is a socket: each process needs N/PROCS descriptors (ulimit -n is raised here).
#
# What snmpsim manages on the 2-core box this was written on (a Swift build running beside it part of
# the time, so the lower figures are the contended ones):
#   startup   10,000 agents in 2 processes: 1.2 s until all are bound (5,000 endpoints in one process:
#             2.3 s); the script's own setup (args files) takes a few seconds more
#   memory    ~35 MB a process + ~5 MB per 1,000 endpoints (10,000 agents, 2 processes: 122 MB RSS)
#   CPU       one process is one thread (asyncio): at most one core. About 1.05 ms per request plus
#             0.26 ms per varbind: 3,000-4,300 varbinds per CPU-second in GETBULK walks (-Cr25), about
#             750-1,000 single-varbind GETs per CPU-second. 2 processes serve twice what one does
#             when both cores are free (7,100 varbinds/s measured); more processes than cores only add
#             memory and startup. One agent's system + ifTable + ifXTable (1,591 varbinds in about 65
#             GETBULKs) costs snmpsim ~0.45 s of CPU: a full poll of 10,000 agents is ~4,500 CPU-s of
#             snmpsim (~40 min with both cores), against a 60 s goal.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${VENV:-/var/cache/sotp/snmpsim-venv}
PORT=${PORT:-161}
IFACES=${IFACES:-48}
COUNTERS=${COUNTERS:-static}
MAX_VARBINDS=${MAX_VARBINDS:-64}
NICE=${NICE:-0}
MAX_AGENTS=10000
# log, die, agent_addr, ours, refuse_if_running, stop_pids, check_agents: shared with ../snmpresponder.sh
AGENTS_LOG=agents
AGENTS_PROC=responder.py AGENTS_PROC_ARGV0=0 # ours: an snmpsim launched from DIR's responder.py
# shellcheck source-path=SCRIPTDIR source=agents-lib.sh
. "$HERE/agents-lib.sh"
usage() { die "usage: $0 start N DIR | stop DIR | check DIR"; }

stop_agents() {
    local dir=$1 n
    stop_pids "$dir" 10 || return 0
    n=${#STOP_KILLED[@]}
    log "stopped $(wc -l <"$dir/pids") snmpsim process(es)$( ((n > 0)) && echo ", $n of them with SIGKILL")"
    rm -f "$dir/pids"
}

start_agents() {
    local n=$1 dir=$2
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= MAX_AGENTS)) || die "N: 1..$MAX_AGENTS"
    [[ $PORT =~ ^[0-9]+$ ]] && ((PORT >= 1 && PORT <= 65535)) || die "PORT: 1..65535"
    [[ $(id -u) == 0 ]] || die "run as root (snmpsim binds port $PORT, then drops to nobody)"
    [[ -x $VENV/bin/snmpsim-command-responder ]] || die "no snmpsim in $VENV: run Benchmarks/snmpsim-setup.sh"
    command -v snmpget >/dev/null || die "snmpget missing (apt-get install snmp)"
    local procs=${PROCS:-2}
    [[ $procs =~ ^[0-9]+$ ]] && ((procs >= 1)) || die "PROCS: a positive integer"
    ((procs > n)) && procs=$n
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    refuse_if_running "$dir" agents them
    # Anything on our addresses, or a wildcard socket on PORT (snmpd on 0.0.0.0:161 would take every
    # 127.20.x.y:161 from us; Debian's snmpd listens on 127.0.0.1 and ::1 only)?
    local taken
    taken=$(ss -Hlun 2>/dev/null | awk -v p=":$PORT" '$4 ~ /^127\.20\./ || $4 == "0.0.0.0" p || $4 == "*" p || $4 == "[::]" p' | head -3)
    [[ -z $taken ]] || die "UDP sockets already there: $taken"

    # the data
    mkdir -p "$dir/data"
    if [[ -n ${DATA:-} ]]; then
        cp "$DATA" "$dir/data/public.snmprec"
    else
        python3 "$HERE/make-device.py" -n "$IFACES" --counters "$COUNTERS" -o "$dir/data/public.snmprec"
    fi
    chmod 755 "$dir" "$dir/data"
    chmod 644 "$dir/data/public.snmprec"
    runuser -u nobody -g nogroup -- test -r "$dir/data/public.snmprec" ||
        die "nobody cannot read $dir/data/public.snmprec (is $dir under a directory closed to others, like /root?)"
    runuser -u nobody -g nogroup -- "$VENV/bin/python" -c 'import snmpsim' ||
        die "nobody cannot load snmpsim from $VENV (run Benchmarks/snmpsim-setup.sh)"

    # the launcher (see above)
    cat >"$dir/responder.py" <<'EOF'
# snmpsim's command responder, with its UDP endpoints bound before the final drop of privileges
# (written by Benchmarks/snmpsim/agents.sh)
import asyncio
import sys

from snmpsim import daemon
from snmpsim.commands import responder

_enter = daemon.PrivilegesOf.__enter__


def enter(self):
    if self._final:
        loop = asyncio.get_event_loop()
        binds = [t for t in asyncio.all_tasks(loop)
                 if not t.done() and getattr(t.get_coro(), "__name__", "") == "create_datagram_endpoint"]
        if binds:
            loop.run_until_complete(asyncio.gather(*binds))  # raises the first failed bind
        print("sotp-agents: bound %d endpoints" % len(binds), file=sys.stderr, flush=True)
    return _enter(self)


daemon.PrivilegesOf.__enter__ = enter
sys.argv[0] = "snmpsim-command-responder"
sys.exit(responder.main())
EOF
    chmod 644 "$dir/responder.py"

    # the agents
    : >"$dir/agents"
    local p k a
    for ((p = 0; p < procs; p++)); do : >"$dir/args-$p"; done
    for ((k = 0; k < n; k++)); do
        a=$(agent_addr "$k")
        echo "--agent-udpv4-endpoint=$a:$PORT" >>"$dir/args-$((k % procs))"
        if ((PORT == 161)); then echo "$a"; else echo "$a:$PORT"; fi >>"$dir/agents"
    done
    local per=$(((n + procs - 1) / procs)) want
    want=$((per + 512))
    if (($(ulimit -n) < want)); then
        ulimit -n "$want" 2>/dev/null || die "ulimit -n $(ulimit -n), each process needs $want (raise the hard limit)"
    fi

    local t0 t1 pids=() novar="$dir/no-variation-modules"
    mkdir -p "$novar"
    t0=$(date +%s.%N)
    for ((p = 0; p < procs; p++)); do
        rm -rf "$dir/cache-$p"; mkdir -p "$dir/cache-$p"; chown nobody:nogroup "$dir/cache-$p"
        local vm=()
        # static data needs no variation module: load none (saves startup and log noise)
        [[ -n ${DATA:-} || $COUNTERS != static ]] || vm=(--variation-modules-dir="$novar")
        nice -n "$NICE" "$VENV/bin/python" "$dir/responder.py" \
            --log-level=error --process-user=nobody --process-group=nogroup \
            --cache-dir="$dir/cache-$p" "${vm[@]}" --max-var-binds="$MAX_VARBINDS" \
            --data-dir="$dir/data" --args-from-file="$dir/args-$p" \
            </dev/null >"$dir/snmpsim-$p.log" 2>&1 &
        pids+=($!)
        echo "$!" >>"$dir/pids"
    done
    # wait until every process has bound its endpoints (or died)
    local deadline=$((SECONDS + 180)) ready
    while :; do
        ready=0
        for ((p = 0; p < procs; p++)); do
            grep -q '^sotp-agents: bound' "$dir/snmpsim-$p.log" 2>/dev/null && ready=$((ready + 1))
            if ! kill -0 "${pids[$p]}" 2>/dev/null; then
                log "snmpsim process $p (pid ${pids[$p]}) ended; its log:"
                tail -20 "$dir/snmpsim-$p.log" >&2
                stop_agents "$dir"; exit 1
            fi
        done
        ((ready == procs)) && break
        ((SECONDS < deadline)) || { log "not ready after 180 s"; stop_agents "$dir"; exit 1; }
        sleep 0.1
    done
    t1=$(date +%s.%N)
    local rss=0 uid
    for pid in "${pids[@]}"; do
        rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")))
        uid=$(awk '/^Uid/ {print $2}' "/proc/$pid/status")
        [[ $uid != 0 ]] || { log "process $pid still runs as root"; stop_agents "$dir"; exit 1; }
    done
    printf 'agents=%d procs=%d port=%d startup_s=%.2f rss_mb=%d dir=%s\n' "$n" "$procs" "$PORT" \
        "$(echo "$t1 - $t0" | bc)" $((rss / 1024)) "$dir"
    check_agents "$dir" public "$IFACES" || { stop_agents "$dir"; exit 1; }
}

case ${1:-} in
    start) [[ $# == 3 ]] || usage; start_agents "$2" "$3" ;;
    stop) [[ $# == 2 ]] || usage; stop_agents "$(cd "$2" 2>/dev/null && pwd || echo "$2")" ;;
    check) [[ $# == 2 ]] || usage; check_agents "$(cd "$2" && pwd)" public "$IFACES" ;;
    *) usage ;;
esac
