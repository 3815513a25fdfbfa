#!/usr/bin/env bash
# Syslog intake of the peer sotpd is compared with: rsyslog (Debian 12's 8.2302, imudp → ompgsql)
# writing every message as a row into a TimescaleDB instance of this benchmark's own, fed by
# Benchmarks/sysloggen (C, sendmmsg; RFC 5424 / RFC 3164 / Cisco mix, 159-299 bytes, a unique
# seq=NNNNNNNNNN in every message) at RATE messages/s for SECONDS to 127.0.0.1. One target after the
# other, each a fresh rsyslogd and a fresh table, the same stream (same sequence numbers) to each:
#   plain       a plain PostgreSQL table, no index
#   hypertable  sotpd's own `syslog` schema: a hypertable on time (6-hour chunks, TimescaleDB's
#               time DESC index) and the (source, time DESC) index of Sources/Sink/Migrations.swift
#   hypertable-time  the same hypertable with TimescaleDB's time DESC index only (not in "all"): how
#               much of the difference to plain is the second index
# All tables have sotpd's `syslog` columns (structured_data as text: rsyslog does not make JSON of
# it) plus `landed timestamptz DEFAULT clock_timestamp()`, so each row says when it was inserted.
#
# rsyslogd is a separate foreground instance this script starts and stops (-n -f CONF -i PIDFILE, its
# own work directory; never the system rsyslog): imudp on a free loopback port (its default batching:
# recvmmsg, 32 datagrams) with a socket buffer of RCVBUF, bound to a ruleset whose in-memory queue
# (LinkedList, QUEUE_SIZE messages, dequeue batches of BATCH) feeds one ompgsql action, which is what
# rsyslog offers for PostgreSQL: one INSERT statement per message, a transaction per dequeued batch.
# impstats writes rsyslog's own counters (queue full/discarded, action failures) to a file.
#
# After sending, the script waits (at most DRAIN_MAX s) until every message sent has landed or no row
# has landed for 5 s, and only then stops rsyslogd: its in-memory queue is lost at a stop.
# Per target one line: sent, landed (rows whose seq is in the range sent, distinct), landed while
# sending (landed <= the generator's end; as rows/s over the send window) and after (and how long the
# last one took), lost (sent - landed distinct), the kernel's drops on rsyslog's socket, rsyslog's CPU
# (utime + stime of all its threads) while sending and in total, and the database's; then commits per
# row (pg_stat_database) and rsyslog's queue counters. Run as root.
# Usage: Benchmarks/syslog-peers.sh [RATE] [SECONDS] [all | TARGET[,TARGET…]]   (all: plain,hypertable)
#        (env: RCVBUF bytes, QUEUE_SIZE, BATCH, WORKERS (ruleset queue worker threads, each its own
#         ompgsql connection), DRAIN_MAX seconds, FORMAT of sysloggen: mix 5424 3164 cisco,
#         NICE: run rsyslogd, the generator and this benchmark's PostgreSQL at that nice value, e.g.
#         -10 so that other work on a shared machine weighs less on the figures,
#         REF_ROWS: rows of the reference runs below, 0 for none, GENERATORS: sysloggen processes
#         sharing RATE, for rates one cannot send)
#
# Reference, per target, with rsyslogd stopped: the first REF_ROWS rows that landed, replayed into the
# emptied table by psql (one connection) (a) as the same kind of statements ompgsql sends, one INSERT
# per row and a transaction per BATCH rows, and (b) as one binary \copy. (a) is what one-INSERT-per-
# message can reach on this machine at that moment, without rsyslog; (b) what batching reaches.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-10000}
SECONDS_=${2:-30}
WHICH=${3:-all}
[[ $WHICH == all ]] && WHICH=plain,hypertable
targets=${WHICH//,/ }
for target in $targets; do
    case $target in
        plain | hypertable | hypertable-time) ;;
        *) echo "usage: $0 [RATE] [SECONDS] [all | plain,hypertable,hypertable-time]" >&2; exit 2 ;;
    esac
done
[[ $RATE =~ ^[0-9]+$ && $SECONDS_ =~ ^[0-9]+$ && $SECONDS_ -ge 1 && $SECONDS_ -le 600 ]] \
    || { echo "syslog-peers: RATE and SECONDS (1-600) are integers" >&2; exit 2; }
for tool in cc python3 rsyslogd bc ss; do
    command -v "$tool" >/dev/null || { echo "syslog-peers: $tool missing (scripts/setup installs rsyslog and rsyslog-pgsql)" >&2; exit 1; }
done
[[ -e /usr/lib/x86_64-linux-gnu/rsyslog/ompgsql.so || -n $(find /usr/lib -name ompgsql.so -print -quit 2>/dev/null) ]] \
    || { echo "syslog-peers: rsyslog's ompgsql missing (apt-get install rsyslog-pgsql, or scripts/setup)" >&2; exit 1; }

RCVBUF=${RCVBUF:-$((32 << 20))}   # what sotpd asks for on its UDP sockets
QUEUE_SIZE=${QUEUE_SIZE:-1000000}  # messages the ruleset queue holds (rsyslog's default: 50,000)
BATCH=${BATCH:-1024}              # queue.dequeueBatchSize: rsyslog's default for a ruleset queue
WORKERS=${WORKERS:-1}             # queue.workerThreads: rsyslog's default
DRAIN_MAX=${DRAIN_MAX:-300}
FORMAT=${FORMAT:-mix}
NICE=${NICE:-0}
REF_ROWS=${REF_ROWS:-50000}

source Benchmarks/daemon-bench.sh
bench_tsdb bench-rsyslog 55495
trap 'peer_stop; bench_cleanup' EXIT
build_sysloggen
db_pid=$(tsdb_pid)
hz=$(getconf CLK_TCK)
pw=$(cat "$(scripts/tsdb password-file)")
FIRST_SEQ=1000001  # the same stream for every target

# Stop rsyslogd ($pid) with SIGTERM, wait (at most 30 s), then SIGKILL.
peer_stop() {
    [[ -n ${pid:-} ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
}

# The benchmark's own PostgreSQL (postmaster and backends; new backends inherit the postmaster's).
if [[ $NICE != 0 ]]; then
    mapfile -t db_pids < <(tree_pids "$db_pid")
    renice -n "$NICE" -p "${db_pids[@]}" >/dev/null
fi
sql() { scripts/tsdb psql -qAt -F ' ' -c "$1"; }

create_table() {
    sql "DROP TABLE IF EXISTS syslog_peer" >/dev/null
    sql "CREATE TABLE syslog_peer (
        time             timestamptz NOT NULL,
        received_at      timestamptz NOT NULL,
        source           inet        NOT NULL,
        facility         int2,
        severity         int2,
        hostname         text,
        app_name         text,
        proc_id          text,
        msg_id           text,
        structured_data  text,
        message          text        NOT NULL,
        landed           timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
    if [[ $1 == hypertable* ]]; then
        sql "CREATE EXTENSION IF NOT EXISTS timescaledb" >/dev/null
        sql "SELECT create_hypertable('syslog_peer', by_range('time', INTERVAL '6 hours'))" >/dev/null
    fi
    if [[ $1 == hypertable ]]; then
        sql "CREATE INDEX syslog_peer_source_time_idx ON syslog_peer (source, time DESC)" >/dev/null
    fi
}

write_conf() {
    local port=$1 dir=$work/rsyslog
    rm -rf "$dir"; mkdir -p "$dir"
    (umask 077; cat >"$dir/rsyslog.conf") <<CONF
# syslog-peers.sh: an rsyslogd of its own, foreground, nothing of the system's configuration.
global(workDirectory="$dir" net.enableDNS="off")
module(load="impstats" interval="1" format="json" log.syslog="off" log.file="$dir/impstats.json" resetCounters="off")
module(load="imudp")
module(load="ompgsql")

template(name="sotp_syslog" type="list" option.stdsql="on") {
    constant(value="INSERT INTO syslog_peer (time, received_at, source, facility, severity, hostname, app_name, proc_id, msg_id, structured_data, message) VALUES ('")
    property(name="timereported" dateFormat="rfc3339")
    constant(value="', '")
    property(name="timegenerated" dateFormat="rfc3339")
    constant(value="', '")
    property(name="fromhost-ip")
    constant(value="', ")
    property(name="syslogfacility")
    constant(value=", ")
    property(name="syslogseverity")
    constant(value=", '")
    property(name="hostname")
    constant(value="', '")
    property(name="app-name")
    constant(value="', '")
    property(name="procid")
    constant(value="', '")
    property(name="msgid")
    constant(value="', '")
    property(name="structured-data")
    constant(value="', '")
    property(name="msg")
    constant(value="')")
}

ruleset(name="to_pgsql" queue.type="LinkedList" queue.size="$QUEUE_SIZE" queue.dequeueBatchSize="$BATCH"
        queue.workerThreads="$WORKERS") {
    action(type="ompgsql" name="pgsql" server="127.0.0.1" port="$SOTP_TSDB_PORT" db="sotp" user="sotp"
           pass="$pw" template="sotp_syslog")
}

input(type="imudp" address="127.0.0.1" port="$port" rcvBufSize="$RCVBUF" ruleset="to_pgsql")

# rsyslogd's own messages (the default ruleset has no input): to a file of the run.
action(type="omfile" file="$dir/rsyslogd.log")
CONF
}

run_target() {
    local target=$1 port dir=$work/rsyslog
    port=$(free_port)
    create_table "$target"
    write_conf "$port"
    rsyslogd -N1 -f "$dir/rsyslog.conf" >"$work/check.log" 2>&1 || { cat "$work/check.log" >&2; exit 1; }
    nice -n "$NICE" rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" >"$dir/stdout.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [[ -n $(udp_socket "$port") ]] && break; sleep 0.1; done
    [[ -n $(udp_socket "$port") ]] || { cat "$dir/stdout.log" "$dir/rsyslogd.log" >&2 2>/dev/null; echo "syslog-peers: rsyslogd did not bind" >&2; exit 1; }
    # One message ahead, so ompgsql has connected before the measured send (its first transaction).
    "$work/sysloggen" -n 1 -q 1 "$port" 1000 5 >/dev/null
    for _ in $(seq 100); do [[ $(sql "SELECT count(*) FROM syslog_peer") -ge 1 ]] && break; sleep 0.1; done
    # Commits in the database from here to the end, less this script's own queries (polls), are
    # rsyslog's transactions.
    local commits0 polls=0
    commits0=$(sql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'sotp'")
    local rcvbuf
    rcvbuf=$(ss -uamnH "sport = :$port" | grep -o 'rb[0-9]*' | head -1)

    local cpu0 cpu1 cpu2 db0 db1 db2 busy0 all0 busy1 all1 st0 st1 t0 t1 t2
    read -r busy0 all0 < <(machine_ticks); st0=$(steal_ticks)
    cpu0=$(tree_cpu "$pid"); db0=$(tree_cpu "$db_pid")
    t0=$(now)
    local sent last gen_secs
    read -r sent last gen_secs < <(run_sysloggen "$port" "$RATE" "$SECONDS_" "$FIRST_SEQ")
    t1=$(now)
    cpu1=$(tree_cpu "$pid"); db1=$(tree_cpu "$db_pid")
    read -r busy1 all1 < <(machine_ticks); st1=$(steal_ticks)

    # Drain: until all sent landed, or nothing landed for 5 s, at most DRAIN_MAX s.
    local rows prev=-1 still=0 drops rx
    for _ in $(seq "$DRAIN_MAX"); do
        rows=$(sql "SELECT count(*) FROM syslog_peer")
        polls=$((polls + 1))
        ((rows > sent)) && break  # the warm-up message is one row more
        if ((rows == prev)); then ((++still >= 5)) && break; else still=0 prev=$rows; fi
        sleep 1
    done
    t2=$(now)
    read -r rx drops < <(udp_socket "$port") || { rx='?'; drops='?'; }
    cpu2=$(tree_cpu "$pid"); db2=$(tree_cpu "$db_pid")
    peer_stop
    local commits1
    commits1=$(sql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'sotp'")

    # Landed rows of this stream: seq in [FIRST_SEQ, last], counted once each; landed by the end of the
    # send window or after; the last one's delay after that end.
    local landed distinct during after last_after dup total
    read -r landed distinct during after last_after total < <(sql "
        WITH r AS (SELECT substring(message FROM ' seq=([0-9]{10})') ::int8 AS seq, landed FROM syslog_peer)
        SELECT count(*) FILTER (WHERE seq BETWEEN $FIRST_SEQ AND $last),
               count(DISTINCT seq) FILTER (WHERE seq BETWEEN $FIRST_SEQ AND $last),
               count(*) FILTER (WHERE seq BETWEEN $FIRST_SEQ AND $last AND landed <= to_timestamp($t1)),
               count(*) FILTER (WHERE seq BETWEEN $FIRST_SEQ AND $last AND landed > to_timestamp($t1)),
               coalesce(round(extract(epoch FROM max(landed) - to_timestamp($t1))::numeric, 1), 0),
               count(*)
        FROM r")
    dup=$((landed - distinct))
    local lost=$((sent - distinct)) window
    window=$(echo "$t1 - $t0" | bc)
    local cpu_send cpu_all db_send db_all gen_cpu rest steal
    cpu_send=$(echo "scale=1; ($cpu1 - $cpu0) * 100 / $hz / $window" | bc)
    cpu_all=$(echo "scale=2; ($cpu2 - $cpu0) / $hz" | bc)
    db_send=$(echo "scale=1; ($db1 - $db0) * 100 / $hz / $window" | bc)
    db_all=$(echo "scale=2; ($db2 - $db0) / $hz" | bc)
    gen_cpu=$(echo "scale=1; $gen_secs * 100 / $window" | bc)
    rest=$(echo "scale=1; ($busy1 - $busy0) * 100 * $(nproc) / ($all1 - $all0) - $cpu_send - $db_send - $gen_cpu" | bc)
    steal=$(echo "scale=1; ($st1 - $st0) * 100 * $(nproc) / ($all1 - $all0 + $st1 - $st0)" | bc)
    echo "$target generator: $(cat "$work"/gen.*.json | tr '\n' ' ')" >&2
    echo "$target: rsyslog socket ${rcvbuf}, queue ${rx} bytes at stop; waited $(printf %.1f "$(echo "$t2 - $t1" | bc)") s after sending;" \
        "$((commits1 - commits0 - polls - 1)) commits for $landed rows; rows not of the stream $((total - landed)) (the warm-up message: 1)" >&2
    # rsyslog's own counters, last impstats sample: the ruleset queue and the action.
    grep -E '"name": ?"(to_pgsql|pgsql|imudp)' "$dir/impstats.json" 2>/dev/null | tail -n 4 \
        | sed -E 's/^[^{]*\{ *"name": ?"([^"]*)", ?"origin": ?"[^"]*", ?/    \1: /; s/ *\}$//' >&2 || true
    grep -vE "impstats|^$" "$dir/rsyslogd.log" 2>/dev/null | cut -c1-200 | sort | uniq -c | sort -rn | head -5 >&2 || true
    # Once sending has ended, rsyslog works off its queue as fast as it can: the rate after is its
    # capacity when the offered rate was above it (otherwise there is little left to work off).
    local after_rate=0
    [[ $(echo "$last_after > 0.5" | bc) == 1 ]] && after_rate=$(echo "$after / $last_after" | bc)
    printf '%-15s rate %d/s for %d s: sent %d, landed %d (%d while sending = %.0f rows/s, %d after at %d rows/s, the last %s s after), lost %d (%s%%), duplicates %d, kernel drops %s, rsyslogd CPU %s%% of one core while sending (%s s in all), database %s%% (%s s in all) (meanwhile generator %s%%, rest of the machine %s%%, steal %s%% of one core)\n' \
        "$target" "$RATE" "$SECONDS_" "$sent" "$distinct" "$during" "$(echo "$during / $window" | bc -l)" "$after" "$after_rate" "$last_after" \
        "$lost" "$(echo "scale=3; $lost * 100 / $sent" | bc)" "$dup" "$drops" "$cpu_send" "$cpu_all" "$db_send" "$db_all" "$gen_cpu" "$rest" "$steal"
    ((REF_ROWS > 0)) && reference "$target"
    sql "DROP TABLE syslog_peer" >/dev/null
    sql "CHECKPOINT" >/dev/null
}

reference() {
    local cols="time, received_at, source, facility, severity, hostname, app_name, proc_id, msg_id, structured_data, message"
    sql "SELECT format('INSERT INTO syslog_peer ($cols) VALUES (%L, %L, %L, %s, %s, %L, %L, %L, %L, %L, %L);',
            $cols) FROM (SELECT * FROM syslog_peer ORDER BY landed LIMIT $REF_ROWS) r" \
        | awk -v b="$BATCH" '(NR - 1) % b == 0 { if (NR > 1) print "COMMIT;"; print "BEGIN;" } { print } END { if (NR) print "COMMIT;" }' \
        >"$work/inserts.sql"
    local rows
    rows=$(grep -c '^INSERT' "$work/inserts.sql")
    scripts/tsdb psql -qAt -c "\\copy (SELECT $cols FROM syslog_peer ORDER BY landed LIMIT $REF_ROWS) TO '$work/rows.bin' (FORMAT binary)"
    local t0 t1 t2 t3
    sql "TRUNCATE syslog_peer" >/dev/null; sql "CHECKPOINT" >/dev/null
    t0=$(now)
    nice -n "$NICE" scripts/tsdb psql -qAt -v ON_ERROR_STOP=1 -f "$work/inserts.sql" >/dev/null
    t1=$(now)
    sql "TRUNCATE syslog_peer" >/dev/null; sql "CHECKPOINT" >/dev/null
    t2=$(now)
    nice -n "$NICE" scripts/tsdb psql -qAt -c "\\copy syslog_peer ($cols) FROM '$work/rows.bin' (FORMAT binary)"
    t3=$(now)
    printf '%-15s reference, psql alone, the first %d rows that landed: one INSERT per row (%d a transaction) %.0f rows/s; one binary \\copy %.0f rows/s\n' \
        "$1" "$rows" "$BATCH" "$(echo "$rows / ($t1 - $t0)" | bc -l)" "$(echo "$rows / ($t3 - $t2)" | bc -l)"
    rm -f "$work/inserts.sql" "$work/rows.bin"
}

echo "syslog-peers: $RATE messages/s ($FORMAT) for $SECONDS_ s to 127.0.0.1; rsyslogd $(rsyslogd -v | head -1 | awk '{ print $2 }'), rcvBufSize $RCVBUF, queue $QUEUE_SIZE, batch $BATCH, workers $WORKERS, nice $NICE; load $(cut -d' ' -f1-3 /proc/loadavg); net.core.rmem_max $(cat /proc/sys/net/core/rmem_max)" >&2
for target in $targets; do run_target "$target"; done
