# shellcheck shell=bash
# What Benchmarks/snmpresponder.sh (our C responder) and Benchmarks/snmpsim/agents.sh (snmpsim) share,
# sourced by both (not run by itself): the log lines, the agent addresses, which processes are ours,
# the refusal to start twice into one DIR, the stop (exactly DIR/pids, and only those that are ours)
# and the snmpget/snmpbulkwalk check. Both serve the same agents with the same files in DIR, so that
# Benchmarks/snmp-peers.sh polls either; what differs is set by the sourcing script, before it calls
# any of these:
#   AGENTS_LOG        the prefix of every log line ("snmpresponder", "agents")
#   AGENTS_PROC       the file in DIR whose processes are ours: the responder binary, snmpsim's launcher
#   AGENTS_PROC_ARGV0 1: AGENTS_PROC must be the process's argv[0] (it is the program); 0: it need only
#                     stand in its command line (snmpsim's is "$VENV/bin/python DIR/responder.py ...")
# Written for set -euo pipefail, which both scripts set before sourcing this.

log() { echo "$AGENTS_LOG: $*" >&2; }
die() { echo "$AGENTS_LOG: $*" >&2; exit 1; }

agent_addr() { # k -> 127.20.x.y
    echo "127.20.$(($1 / 250)).$(($1 % 250 + 1))"
}

# pid $1 is one of ours: started from DIR $2's AGENTS_PROC (a pid in DIR/pids may have been reused by
# anything since, so a stale pids file never makes us kill a stranger)
ours() {
    local pid=$1 dir=$2 exe
    [[ -r /proc/$pid/cmdline ]] || return 1
    if ((AGENTS_PROC_ARGV0)); then
        exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -1)
        [[ $exe == "$dir/$AGENTS_PROC" ]]
    else
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/$AGENTS_PROC"
    fi
}

# refuse_if_running DIR WHAT IT: die when a pid of DIR/pids is still ours ("WHAT already running from
# DIR (stop IT first: ...)"), else forget a stale pids file
refuse_if_running() {
    local dir=$1 what=$2 it=$3 p alive=0
    [[ -f $dir/pids ]] || return 0
    while read -r p; do ours "$p" "$dir" && alive=1; done <"$dir/pids"
    ((alive)) && die "$what already running from $dir (stop $it first: $0 stop $dir)"
    rm -f "$dir/pids"
}

# stop_pids DIR SECONDS: SIGTERM to each pid of DIR/pids that is ours, SIGKILL to those still alive
# SECONDS later; STOP_KILLED holds the pids that got the SIGKILL. Returns 1 (after saying so) when
# there is no DIR/pids. Leaves DIR/pids to the caller, whose report may count it.
STOP_KILLED=()
stop_pids() {
    local dir=$1 seconds=$2 pid left=()
    STOP_KILLED=()
    [[ -f $dir/pids ]] || { log "no $dir/pids: nothing to stop"; return 1; }
    while read -r pid; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        if ours "$pid" "$dir"; then kill -TERM "$pid" 2>/dev/null && left+=("$pid"); fi
    done <"$dir/pids"
    for _ in $(seq $((seconds * 10))); do # then SIGKILL
        local still=()
        for pid in "${left[@]}"; do ours "$pid" "$dir" && still+=("$pid"); done
        left=("${still[@]}")
        ((${#left[@]} == 0)) && break
        sleep 0.1
    done
    for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; STOP_KILLED+=("$pid"); done
    return 0
}

# check_agents DIR COMMUNITY IFACES: snmpget (sysObjectID, sysName) and an snmpbulkwalk of ifXTable
# against the first, middle and last agent of DIR/agents; says what each answered, returns 1 when any
# failed
check_agents() {
    local dir=$1 community=$2 ifaces=$3 n first mid last a out rows cols ok bad=0
    [[ -s $dir/agents ]] || die "no $dir/agents"
    n=$(wc -l <"$dir/agents")
    first=$(sed -n 1p "$dir/agents"); last=$(sed -n "${n}p" "$dir/agents"); mid=$(sed -n "$(((n + 1) / 2))p" "$dir/agents")
    for a in $(printf '%s\n' "$first" "$mid" "$last" | awk '!seen[$0]++'); do
        out=$(snmpget -v2c -c "$community" -t 2 -r 1 -On "$a" 1.3.6.1.2.1.1.2.0 1.3.6.1.2.1.1.5.0 2>&1) || true
        if grep -q '8072.3.2.10' <<<"$out"; then
            log "snmpget $a: $(tr '\n' ' ' <<<"$out" | cut -c1-160)"
        else
            log "snmpget $a FAILED: $out"; bad=1
        fi
        # ifXTable (16 columns): IFACES rows in each
        rows=$(snmpbulkwalk -v2c -c "$community" -t 2 -r 1 -Cr25 -On "$a" 1.3.6.1.2.1.31.1.1 2>&1 |
            awk -F' = ' '$1 ~ /^\.1\.3\.6\.1\.2\.1\.31\.1\.1\.1\./ { split($1, o, "."); c[o[12]]++ }
                END { for (k in c) printf "%s:%d ", k, c[k] }')
        cols=$(wc -w <<<"$rows")
        ok=$(tr ' ' '\n' <<<"$rows" | awk -F: -v want="$ifaces" 'NF == 2 && $2 == want' | wc -l)
        if ((cols == 16 && ok == 16)); then
            log "snmpbulkwalk $a ifXTable: 16 columns x $ifaces rows"
        else
            log "snmpbulkwalk $a ifXTable FAILED: column:rows $rows"; bad=1
        fi
    done
    return $bad
}
