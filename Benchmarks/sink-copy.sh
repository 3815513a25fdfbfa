#!/usr/bin/env bash
# Sink COPY throughput next to psql's own `\copy … (FORMAT binary)`: the same 12-column flow-like rows
# into the same hypertable (1-hour chunks), alternating, ROUNDS times each; prints medians and the ratio.
#   Benchmarks/sink-copy.sh [ROWS] [ROUNDS]        (defaults 2000000 and 5)
# Both sides are timed from process start to exit (connect, COPY, commit; for sotpd also start-up,
# drain and shutdown). sotpd runs with its default sink settings unless SOTP_SINK_* says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup

ROWS=${1:-2000000}
ROUNDS=${2:-5}
TABLE=bench_flows
COLS="time, exporter, src_addr, dst_addr, src_port, dst_port, protocol, tcp_flags, packets, bytes, in_if, out_if"
BASE=1763683200000000   # fixed start (2025-11-21 00:00 UTC) so both sides write identical rows
WORK=$(mktemp -d /tmp/sotp-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

swift build -c release --product sotpd >/tmp/sotp-build.log 2>&1 \
    || { grep -E "error:" /tmp/sotp-build.log >&2; echo "sotp: build failed (full log: /tmp/sotp-build.log)" >&2; exit 1; }
BIN=$(swift build -c release --show-bin-path)/sotpd
cat > "$WORK/sotpd.toml" <<CFG
[sink]
spool_dir = "$WORK/spool"
[log]
level = "warning"
CFG
export SOTP_DATABASE_PASSWORD_FILE PGPASSWORD
PGPASSWORD=$(cat "$SOTP_DATABASE_PASSWORD_FILE")
PSQL=(psql -X -q -h 127.0.0.1 -p "${SOTP_TSDB_PORT:-55432}" -U sotp -d sotp -v ON_ERROR_STOP=1)

"$BIN" sink-load --config "$WORK/sotpd.toml" --rows "$ROWS" --base-micros "$BASE" --dump "$WORK/rows.copy"
"${PSQL[@]}" -c "DROP TABLE IF EXISTS $TABLE" >/dev/null
"$BIN" sink-load --config "$WORK/sotpd.toml" --rows 1 --table "$TABLE" --create >/dev/null
echo "rows per run: $ROWS ($(du -h "$WORK/rows.copy" | cut -f1) of binary COPY data), rounds: $ROUNDS" >&2

now() { date +%s.%N; }
# Each timed run starts from the same state: empty table, then a CHECKPOINT so that no run pays for the
# previous one's dirty pages. The order alternates between rounds.
fresh() { "${PSQL[@]}" -c "TRUNCATE $TABLE" -c "CHECKPOINT" >/dev/null; }
check() { n=$("${PSQL[@]}" -tA -c "SELECT count(*) FROM $TABLE"); [ "$n" = "$ROWS" ] || { echo "$1 stored $n rows, expected $ROWS" >&2; exit 1; }; }
run_psql() {
    fresh; local t0 t1; t0=$(now)
    "${PSQL[@]}" -c "\\copy $TABLE ($COLS) FROM '$WORK/rows.copy' WITH (FORMAT binary)"
    t1=$(now); check psql
    psql_rates+=("$(echo "$ROWS / ($t1 - $t0)" | bc -l)")
}
run_sotp() {
    fresh; local t0 t1; t0=$(now)
    "$BIN" sink-load --config "$WORK/sotpd.toml" --rows "$ROWS" --table "$TABLE" --base-micros "$BASE" >"$WORK/sotp.json"
    t1=$(now); check sotpd
    sotp_rates+=("$(echo "$ROWS / ($t1 - $t0)" | bc -l)")
}
psql_rates=() sotp_rates=()
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then run_psql; run_sotp; else run_sotp; run_psql; fi
    printf 'round %d: psql %.0f rows/s, sotpd %.0f rows/s\n' "$r" "${psql_rates[-1]}" "${sotp_rates[-1]}" >&2
done
"${PSQL[@]}" -c "DROP TABLE $TABLE" >/dev/null

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mp=$(median "${psql_rates[@]}") ms=$(median "${sotp_rates[@]}")
ratios=()
for i in "${!psql_rates[@]}"; do ratios+=("$(echo "${sotp_rates[$i]} / ${psql_rates[$i]}" | bc -l)"); done
printf 'median: psql \\copy %.0f rows/s, sotpd sink %.0f rows/s, ratio of medians %.2f, median of round ratios %.2f (writers=%s)\n' \
    "$mp" "$ms" "$(echo "$ms / $mp" | bc -l)" "$(median "${ratios[@]}")" "${SOTP_SINK_WRITERS:-2}"
