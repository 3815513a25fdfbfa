# shellcheck shell=bash
# Sourced by the daemon benchmarks (icmp-1m.sh, flow-intake.sh, flow-peers.sh) from the repository
# root: builds sotpd in release, starts a fresh TimescaleDB instance of the benchmark's own (name and
# port given), and on exit stops the daemon started as $pid, destroys the instance and removes $work.
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
