#!/usr/bin/env bash
# GET /api/v1/devices on `sotpd run` with N devices under wrk load (random pages of 100, and random single
# devices), next to the two floors measured in the same run: PostgreSQL answering the same page query
# (pgbench, same concurrency, the API's own SQL) and sotpd's HTTP server answering GET /healthz (no
# database, no token). The goal in the issue: p95 < 10 ms for the page.
# Usage: Benchmarks/api-devices.sh [N] [DURATION_S] [CONNECTIONS]      (defaults 10000 20 16)
# env: DB_CONNECTIONS (api.db_connections, default 2)
# Output, one line per scenario: "scenario= requests= errors= rps= p50_ms= p95_ms= p99_ms=".
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000} DUR=${2:-20} CONNS=${3:-16}
DB_CONNECTIONS=${DB_CONNECTIONS:-2}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
source Benchmarks/daemon-bench.sh
bench_start apibench 55445

token=$(openssl rand -hex 32)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
    only_parts
    cat <<TOML
[stats]
interval_s = 0
[api]
listen = "127.0.0.1:$port"
db_connections = $DB_CONNECTIONS
[[api_tokens]]
name = "bench"
role = "viewer"
token_sha256 = "$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
TOML
} | sotpd_config
# N devices on loopback addresses (nothing polls them: every part but the API is off), a quarter
# tagged, some with overrides, as an inventory has.
psql -c "INSERT INTO devices (name, address, tags, settings)
         SELECT 'device-' || i, ('127.' || (i >> 16) % 256 || '.' || (i >> 8) % 256 || '.' || i % 256)::inet,
                CASE WHEN i % 4 = 0 THEN ARRAY['core', 'site-' || i % 10] ELSE ARRAY['site-' || i % 10] END,
                CASE WHEN i % 3 = 0 THEN '{\"timeout_ms\": 800}'::jsonb ELSE '{}' END
         FROM generate_series(1, $N) i" >/dev/null
psql -c "ANALYZE devices" >/dev/null
sotpd_start "API listening"
grep -q "API listening" "$work/log" || { cat "$work/log"; exit 1; }

# wrk: a Lua script per scenario; each prints its line from wrk's own latency histogram.
report='done = function(s, latency, r)
  local e = s.errors.connect + s.errors.read + s.errors.write + s.errors.status + s.errors.timeout
  io.write(string.format("scenario=%s requests=%d errors=%d rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f\n",
    SCENARIO, s.requests, e, s.requests / (s.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end'
cat >"$work/page.lua" <<LUA
SCENARIO = "sotpd_page100"
wrk.headers["Authorization"] = "Bearer $token"
request = function() return wrk.format("GET", "/api/v1/devices?limit=100&after=" .. math.random(0, $N - 100)) end
$report
LUA
cat >"$work/one.lua" <<LUA
SCENARIO = "sotpd_one_device"
wrk.headers["Authorization"] = "Bearer $token"
request = function() return wrk.format("GET", "/api/v1/devices/" .. math.random(1, $N)) end
$report
LUA
cat >"$work/health.lua" <<LUA
SCENARIO = "sotpd_healthz"
$report
LUA
# The page query exactly as the API sends it (DeviceSQL.list), for pgbench.
sql=$(sed -n '/static let list = """/,/"""$/p' Sources/sotpd/APIDevices.swift | sed '1d;$d')
object=$(sed -n '/static let object = """/,/"""$/p' Sources/sotpd/APIDevices.swift | sed '1d;$d')
sql=${sql//\\(object)/$object}
sql=$(sed -e 's/\$1::int/:after::int/; s/\$2::int/100/g; s/(\$3::jsonb IS NULL OR [^)]*)))/true/; s/(\$4::boolean IS NULL OR [^)]*)/true/' <<<"$sql" | tr '\n' ' ')
printf '\\set after random(0, %d)\n%s;\n' "$((N - 100))" "$sql" >"$work/page.sql"

url=$(scripts/tsdb url)
pwfile=$(scripts/tsdb password-file)
# Warm up, then measure each in turn.
wrk -t2 -c"$CONNS" -d3s -s "$work/page.lua" "http://127.0.0.1:$port" >/dev/null
for s in page one health; do
    path=/; [[ $s == health ]] && path=/healthz
    wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$work/$s.lua" "http://127.0.0.1:$port$path" | grep '^scenario='
done
# pgbench logs every transaction's latency (µs, column 3); percentiles from that log.
(cd "$work" && PGPASSWORD=$(cat "$pwfile") pgbench -n -c "$CONNS" -j 2 -T "$DUR" -f page.sql -l --log-prefix=pgb "$url" >pgbench.out 2>&1) \
    || { cat "$work/pgbench.out"; exit 1; }
cat "$work"/pgb.* | awk -v dur="$DUR" '{ print $3 }' | sort -n | awk -v dur="$DUR" '
    { v[NR] = $1 } END {
        printf "scenario=postgres_page100 requests=%d errors=0 rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f\n",
            NR, NR / dur, v[int(NR * 0.50)] / 1000, v[int(NR * 0.95)] / 1000, v[int(NR * 0.99)] / 1000 }'
