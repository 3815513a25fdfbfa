# shellcheck shell=bash
# Sourced by the daemon benchmarks (icmp-1m.sh, flow-intake.sh, flow-peers.sh, syslog-intake.sh,
# syslog-peers.sh, trap-intake.sh, snmp-poll.sh, snmp-daemon.sh, api-devices.sh) from the repository root: builds sotpd
# in release, starts a fresh TimescaleDB instance of the benchmark's own (name and port given), and on
# exit stops the daemon started as $pid, destroys the instance and removes $work. Also the measuring helpers they share (CPU of a process
# tree, of the machine, a UDP socket's queue and drops) and the syslog generator runner.
# Usage: bench_start INSTANCE DEFAULT_PORT    (build sotpd, then bench_tsdb)
#        bench_tsdb INSTANCE DEFAULT_PORT     (the instance, $work and the cleanup only; for peers)
bench_start() {
    export PATH=/opt/swift/usr/bin:$PATH
    swift build -c release --product sotpd 2>&1 | grep -E "error|warning:" >&2 || true
    # shellcheck disable=SC2034  # used by the scripts that source this
    sotpd=$PWD/.build/release/sotpd
    bench_tsdb "$@"
}

bench_tsdb() {
    export SOTP_TSDB_INSTANCE=$1 SOTP_TSDB_PORT=${SOTP_TSDB_PORT:-$2}
    work=$(mktemp -d)
    pid=
    trap bench_cleanup EXIT
    scripts/tsdb destroy >/dev/null 2>&1 || true
    scripts/tsdb start >/dev/null
}

bench_cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    scripts/tsdb destroy >/dev/null 2>&1 || true
    rm -rf "$work"
}

psql() { scripts/tsdb psql -qAt "$@"; }

# Writes $work/sotpd.toml: this instance's database (or database $1 in it), auto-migrated, the spool
# under $work, then the sections on stdin; and migrates the database.
sotpd_config() {
    local url
    url=$(scripts/tsdb url)
    [[ -n ${1:-} ]] && url=$(sed 's,/[^/]*$,/'"$1"',' <<<"$url")
    {
        printf '[database]\nurl = "%s"\npassword_file = "%s"\nauto_migrate = true\n[sink]\nspool_dir = "%s"\n' \
            "$url" "$(scripts/tsdb password-file)" "$work/spool"
        cat
    } >"$work/sotpd.toml"
    "$sotpd" migrate --config "$work/sotpd.toml" >/dev/null
}

# TOML that turns off every part of sotpd but those named ("snmp", "traps"…), for sotpd_config's stdin:
# the benchmark then writes the named parts' sections itself.
only_parts() {
    local part
    for part in icmp flow syslog traps snmp; do
        [[ " $* " == *" $part "* ]] || printf '[%s]\nenabled = false\n' "$part"
    done
}

# The simulated SNMP agents listed in $1 (one address a line: an agents file of snmpsim/agents.sh or
# snmpresponder.sh) as devices agent-0, agent-1… with SNMP on and ICMP off.
agents_as_devices() {
    awk '{ printf "agent-%d\t%s\tf\tt\n", NR - 1, $1 }' "$1" >"$work/devices.tsv"
    psql -c "\\copy devices (name, address, icmp, snmp) FROM '$work/devices.tsv'" >/dev/null
}

# Starts sotpd on $work/sotpd.toml as $pid, its log in $work/log, and waits (10 s at most) for a log
# line matching $1.
sotpd_start() {
    "$sotpd" run --config "$work/sotpd.toml" >"$work/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "$1" "$work/log" && break; sleep 0.1; done
}

# After sending: polls the count query $1 every 0.5 s until it reaches $2 or has not grown for 5 s (10
# minutes at most). Prints "COUNT SECONDS" (when the count last grew, in seconds from the call).
wait_landed() {
    local t0 rows last=-1 still=0 at
    t0=$(now); at=$t0
    for _ in $(seq 1200); do
        rows=$(psql -c "$1")
        ((rows >= $2)) && { at=$(now); break; }
        if ((rows == last)); then ((++still >= 10)) && break; else still=0 last=$rows at=$(now); fi
        sleep 0.5
    done
    echo "$rows $(echo "$at - $t0" | bc)"
}

now() { date +%s.%N; }

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The postmaster of this benchmark's instance (its backends are its descendants).
tsdb_pid() { head -1 "${SOTP_TSDB_ROOT:-/var/cache/sotp/trixie-tsdb}/var/lib/sotp/$SOTP_TSDB_INSTANCE/postmaster.pid"; }

# The process $1 and all its descendants, one pid per line.
tree_pids() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
        { pid = $1; sub(/^.*\) /, ""); parent[pid] = $2 }
        END {
            keep[root] = 1; grew = 1
            while (grew) { grew = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } }
            for (p in keep) if (p in parent) print p
        }'
}

# "PID TICKS" for the process $1 and each of its descendants, TICKS = utime + stime + cutime + cstime:
# a process that exited and was reaped (pmacct's SQL writers) is in its parent's cutime/cstime.
tree_ticks() {
    local p
    for p in $(tree_pids "$1"); do
        echo "$p $(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || echo 0)"
    done
}

# CPU ticks of the process $1 and all its descendants.
tree_cpu() { tree_ticks "$1" | awk '{ s += $2 } END { print s + 0 }'; }

# Busy and total jiffies of the whole machine (all CPUs), from /proc/stat.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
# Steal time (the hypervisor's), jiffies over all CPUs: on a shared VM it tells how noisy a run was.
steal_ticks() { awk '$1 == "cpu" { print $9 }' /proc/stat; }

# /proc/net/udp of the socket bound to 127.0.0.1:$1: "RX_QUEUE_BYTES DROPS".
udp_socket() {
    local hex q d
    hex=$(printf '0100007F:%04X' "$1")
    read -r q d < <(awk -v a="$hex" '$2 == a { split($5, q, ":"); print q[2], $13 }' /proc/net/udp) || return 0
    echo "$((16#$q)) $d"
}

# Where the CPU went while a daemon ($pid) was sent load: cpu_begin before, then cpu_end GEN_SECONDS
# (the generators' user + system seconds) prints "WINDOW_S DAEMON% DATABASE% GENERATORS% REST% STEAL%",
# each in % of one core over the window; DATABASE is the postmaster $db_pid and its backends.
cpu_begin() {
    read -r _busy0 _all0 < <(machine_ticks)
    _steal0=$(steal_ticks); _cpu0=$(tree_cpu "$pid"); _db0=$(tree_cpu "$db_pid"); _t0=$(now)
}
cpu_end() {
    local t1 cpu1 db1 busy1 all1 steal1 hz w
    t1=$(now); cpu1=$(tree_cpu "$pid"); db1=$(tree_cpu "$db_pid")
    read -r busy1 all1 < <(machine_ticks)
    steal1=$(steal_ticks); hz=$(getconf CLK_TCK)
    w=$(echo "$t1 - $_t0" | bc)
    local cpu db gen rest steal
    cpu=$(echo "scale=1; ($cpu1 - $_cpu0) * 100 / $hz / $w" | bc)
    db=$(echo "scale=1; ($db1 - $_db0) * 100 / $hz / $w" | bc)
    gen=$(echo "scale=1; $1 * 100 / $w" | bc)
    rest=$(echo "scale=1; ($busy1 - $_busy0) * 100 * $(nproc) / ($all1 - $_all0) - $cpu - $db - $gen" | bc)
    steal=$(echo "scale=1; ($steal1 - $_steal0) * 100 * $(nproc) / ($all1 - $_all0 + $steal1 - $_steal0)" | bc)
    echo "$w $cpu $db $gen $rest $steal"
}

# Benchmarks/sysloggen, built into $work. run_sysloggen PORT RATE SECONDS FIRST_SEQ sends RATE
# messages/s from GENERATORS processes (default 1; one generator tops out near 80k/s on this VM, the
# loopback's receive path running on the sender's CPU), RATE/GENERATORS each, their sequence numbers
# in consecutive ranges from FIRST_SEQ, at nice NICE (default 0), FORMAT (default mix). Prints
# "SENT LAST_SEQ CPU_SECONDS" (CPU: the generators' user + system); their JSON lines are in $work/gen.*.json.
build_sysloggen() { cc -O2 -I Benchmarks -o "$work/sysloggen" Benchmarks/sysloggen/sysloggen.c; }
run_sysloggen() {
    local port=$1 rate=$2 secs=$3 first=$4 n=${GENERATORS:-1} k stride each gp=()
    each=$((rate / n))
    stride=$((each * secs + each + 1))
    for ((k = 0; k < n; k++)); do
        ( TIMEFORMAT='%U %S'
          { time nice -n "${NICE:-0}" "$work/sysloggen" -m "${FORMAT:-mix}" -q $((first + k * stride)) "$port" "$each" "$secs" \
              >"$work/gen.$k.json"; } 2>"$work/gen.$k.time" ) &
        gp+=($!)
    done
    wait "${gp[@]}"
    local sent=0 last=0 cpu=0 m f u s
    for ((k = 0; k < n; k++)); do
        m=$(sed -E 's/.*"messages":([0-9]+).*/\1/' "$work/gen.$k.json")
        f=$(sed -E 's/.*"first_seq":([0-9]+).*/\1/' "$work/gen.$k.json")
        read -r u s <"$work/gen.$k.time"
        sent=$((sent + m))
        ((m > 0 && f + m - 1 > last)) && last=$((f + m - 1))
        cpu=$(echo "$cpu + $u + $s" | bc)
    done
    echo "$sent $last $cpu"
}
