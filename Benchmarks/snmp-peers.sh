#!/usr/bin/env bash
# SNMP polling peers the sotp poller is compared with, against the simulated agents of
# Benchmarks/snmpsim/agents.sh (snmpsim, v2c, community "public", a 48-interface net-snmp Linux box):
#   snmpbulkwalk   net-snmp 5.9's snmpbulkwalk (Debian 12), per agent three walks, one process each:
#                  system (1.3.6.1.2.1.1), ifTable (1.3.6.1.2.1.2.2), ifXTable (1.3.6.1.2.1.31.1.1);
#                  -v2c -Cr$CR -t $TIMEOUT -r $RETRIES -On; PAR agents at a time
#   snmp_exporter  Debian 12's prometheus-snmp-exporter 0.21, an instance of this script's own on
#                  127.0.0.1:$EXPORTER_PORT (run as nobody), scraped as /snmp?target=ADDR&module=if_mib
#                  for every agent, PAR scrapes at a time (python3 urllib, one thread per slot)
# The same agents, one peer after the other, in the same run.
#
# Usage: Benchmarks/snmp-peers.sh N DIR [PEERS]
#   N      agents to poll: the first N lines of DIR/agents
#   DIR    the directory of Benchmarks/snmpsim/agents.sh. When no agents run from DIR, this script
#          starts N of them there (agents.sh start N DIR) and stops them at the end.
#   PEERS  snmpbulkwalk,snmp_exporter (default: both)
# env: PAR (default 8) agents polled at once; CR (25) max-repetitions, as snmp_exporter's default;
#      TIMEOUT (5) seconds per request and RETRIES (1) for snmpbulkwalk (snmp_exporter's module:
#      timeout 5s, retries 1 too); EXPORTER_PORT (19116); MAX_SECONDS (900) per peer: no new agent is
#      started after that; NICE (0) for the peers.
#
# Output, one line per peer (grep '^peer='):
#   peer=NAME agents=N answered=A oids=O wall_s=W cpu_s=C oids_per_s=O/W oids_per_cpu_s=O/C
#   snmpsim_cpu_s=S par=P
# answered: agents that gave every OID of the walks (counted against DIR/data/public.snmprec);
# oids: varbinds inside the walked subtrees that came back (snmpbulkwalk: the lines it printed for the
# subtree; snmp_exporter: its snmp_scrape_pdus_returned); cpu_s: user + system CPU of the peer's own
# processes (snmpbulkwalk: every snmpbulkwalk process, reaped by the helper: RUSAGE_CHILDREN;
# snmp_exporter: the exporter process, /proc/PID/stat, all threads) — not the helper's, not curl's;
# snmpsim_cpu_s: CPU the agents spent meanwhile: when it is close to wall_s x cores, snmpsim limits.
#
# What each peer fetches per agent (48 interfaces):
#   snmpbulkwalk  system 7 + ifTable 17 x 48 + ifXTable 16 x 48 = 1591 OIDs
#   snmp_exporter if_mib, as upstream's generator.yml defines it: sysUpTime (GET) + walk of
#                 interfaces (ifNumber + ifTable) + ifXTable = 1 + 1 + 816 + 768 = 1586 OIDs
# Debian ships /etc/prometheus/snmp.yml without modules (the MIBs are not free), so this script
# writes its own snmp.yml with the module if_mib: the same walks and lookups as upstream's (ifIndex to
# ifAlias, ifDescr, ifName), one metric per column, in numeric OIDs (no MIB needed).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-}
DIR=${2:-}
PEERS=${3:-snmpbulkwalk,snmp_exporter}
PAR=${PAR:-8}
CR=${CR:-25}
TIMEOUT=${TIMEOUT:-5}
RETRIES=${RETRIES:-1}
EXPORTER_PORT=${EXPORTER_PORT:-19116}
MAX_SECONDS=${MAX_SECONDS:-900}
NICE=${NICE:-0}
die() { echo "snmp-peers: $*" >&2; exit 1; }
[[ $N =~ ^[0-9]+$ && $N -ge 1 && -n $DIR ]] || die "usage: $0 N DIR [snmpbulkwalk,snmp_exporter]"
for v in PAR CR TIMEOUT RETRIES EXPORTER_PORT MAX_SECONDS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "$v: a positive integer"
done
((RETRIES >= 0 && CR <= 255 && EXPORTER_PORT <= 65535 && MAX_SECONDS <= 3600)) || die "CR <= 255, MAX_SECONDS <= 3600"
for p in ${PEERS//,/ }; do
    case $p in snmpbulkwalk | snmp_exporter) ;; *) die "unknown peer $p (snmpbulkwalk, snmp_exporter)" ;; esac
done
command -v snmpbulkwalk >/dev/null || die "snmpbulkwalk missing (apt-get install snmp)"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

# the agents: running from DIR, or started here
agents_alive() {
    local p
    [[ -f $DIR/pids ]] || return 1
    while read -r p; do
        [[ -r /proc/$p/cmdline ]] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qE "$DIR/(responder\.py|snmpresponder)" || return 1
    done <"$DIR/pids"
}
started_here=0
exporter_pid=
cleanup() {
    if [[ -n $exporter_pid ]] && kill -0 "$exporter_pid" 2>/dev/null; then
        kill -TERM "$exporter_pid" 2>/dev/null || true
        wait "$exporter_pid" 2>/dev/null || true
    fi
    ((started_here)) && Benchmarks/snmpsim/agents.sh stop "$DIR" || true
}
trap cleanup EXIT
if ! agents_alive; then
    echo "snmp-peers: no agents running from $DIR: starting $N" >&2
    Benchmarks/snmpsim/agents.sh start "$N" "$DIR" >&2
    started_here=1
fi
(($(wc -l <"$DIR/agents") >= N)) || die "$DIR/agents has fewer than $N agents"
W=$DIR/peers
mkdir -p "$W"
head -n "$N" "$DIR/agents" >"$W/targets"
snmpsim_ticks() {
    local p s=0
    while read -r p; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done <"$DIR/pids"
    echo "$s"
}
hz=$(getconf CLK_TCK)

# the helper: polls, counts, reports (python3, stdlib only)
cat >"$W/poll.py" <<'EOF'
import json, os, resource, subprocess, sys, threading, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

mode, targets_file, data_file, par, cr, timeout, retries, max_seconds, exporter = sys.argv[1:10]
par, cr, timeout, retries, max_seconds = int(par), int(cr), int(timeout), int(retries), float(max_seconds)
targets = [l.strip() for l in open(targets_file) if l.strip()]
oids = []
for line in open(data_file, encoding="iso-8859-1"):
    oids.append(tuple(int(x) for x in line.split("|", 1)[0].split(".")))

def under(prefix):
    p = tuple(int(x) for x in prefix.split("."))
    return sum(1 for o in oids if o[: len(p)] == p)

t_start = time.monotonic()
lock = threading.Lock()
answered = total = skipped = 0
failures = []

def out_of_time():
    # MAX_SECONDS are up: no new agent is polled, it counts as skipped (both peers)
    global skipped
    if time.monotonic() - t_start > max_seconds:
        with lock:
            skipped += 1
        return True
    return False

if mode == "snmpbulkwalk":
    walks = ["1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1"]
    want = {w: under(w) for w in walks}

    def poll(t):
        global answered, total
        if out_of_time():
            return
        got_all, n = True, 0
        for w in walks:
            try:
                r = subprocess.run(["snmpbulkwalk", "-v2c", "-c", "public", "-On", "-Cr%d" % cr,
                                    "-t", str(timeout), "-r", str(retries), t, w],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=max(60, (retries + 1) * timeout * 100))
                out, rc = r.stdout, r.returncode
            except subprocess.TimeoutExpired as e:
                out, rc = e.stdout or b"", -1
            pre = ("." + w + ".").encode()
            k = sum(1 for l in out.splitlines() if l.startswith(pre) and b"No more variables" not in l)
            n += k
            if rc != 0 or k != want[w]:
                got_all = False
                if len(failures) < 5:
                    failures.append("%s %s: rc=%s oids=%d/%d %s" % (t, w, rc, k, want[w],
                                    r.stderr.decode(errors="replace").strip()[:120] if rc != -1 else "killed"))
        with lock:
            total += n
            answered += got_all

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with ThreadPoolExecutor(par) as ex:
        list(ex.map(poll, targets))
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    expected = sum(want.values())
else:
    port, pid = exporter.split(":")
    hz = os.sysconf("SC_CLK_TCK")
    want = 1 + under("1.3.6.1.2.1.2") + under("1.3.6.1.2.1.31.1.1")  # sysUpTime.0, interfaces, ifXTable

    def ticks():
        with open("/proc/%s/stat" % pid) as f:
            s = f.read().rsplit(")", 1)[1].split()
        return int(s[11]) + int(s[12])

    def poll(t):
        global answered, total
        if out_of_time():
            return
        url = "http://127.0.0.1:%s/snmp?target=%s&module=if_mib" % (port, t)
        req = urllib.request.Request(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "120"})
        n, ok, err = 0, False, ""
        try:
            with urllib.request.urlopen(req, timeout=150) as resp:
                body = resp.read().decode(errors="replace")
                status = resp.status
            for line in body.splitlines():
                if line.startswith("snmp_scrape_pdus_returned "):
                    n = int(float(line.split()[1]))
            ok = status == 200 and n == want
            err = "status=%d" % status
        except Exception as e:  # HTTP 500 when the walk failed, timeouts
            err = str(e)[:160]
        with lock:
            total += n
            answered += ok
            if not ok and len(failures) < 5:
                failures.append("%s: oids=%d/%d %s" % (t, n, want, err))

    c0 = ticks()
    t0 = time.monotonic()
    with ThreadPoolExecutor(par) as ex:
        list(ex.map(poll, targets))
    wall = time.monotonic() - t0
    cpu = (ticks() - c0) / hz
    expected = want

for f in failures:
    print("snmp-peers: %s: %s" % (mode, f), file=sys.stderr)
if skipped:
    print("snmp-peers: %s: %d agents not polled (MAX_SECONDS %g reached)" % (mode, skipped, max_seconds),
          file=sys.stderr)
print(json.dumps({"agents": len(targets) - skipped, "answered": answered, "oids": total,
                  "expected_per_agent": expected, "wall_s": wall, "cpu_s": cpu}))
EOF

# snmp_exporter's module if_mib, in numeric OIDs (what the generator makes of upstream's if_mib)
write_exporter_config() {
    python3 - "$1" <<'EOF'
import sys
cols = [  # (name, oid, type)
    ("ifIndex", "1.3.6.1.2.1.2.2.1.1", "gauge"), ("ifDescr", None, None), ("ifType", "1.3.6.1.2.1.2.2.1.3", "gauge"),
    ("ifMtu", "1.3.6.1.2.1.2.2.1.4", "gauge"), ("ifSpeed", "1.3.6.1.2.1.2.2.1.5", "gauge"),
    ("ifPhysAddress", "1.3.6.1.2.1.2.2.1.6", "PhysAddress48"), ("ifAdminStatus", "1.3.6.1.2.1.2.2.1.7", "gauge"),
    ("ifOperStatus", "1.3.6.1.2.1.2.2.1.8", "gauge"), ("ifLastChange", "1.3.6.1.2.1.2.2.1.9", "gauge"),
    ("ifInOctets", "1.3.6.1.2.1.2.2.1.10", "counter"), ("ifInUcastPkts", "1.3.6.1.2.1.2.2.1.11", "counter"),
    ("ifInNUcastPkts", "1.3.6.1.2.1.2.2.1.12", "counter"), ("ifInDiscards", "1.3.6.1.2.1.2.2.1.13", "counter"),
    ("ifInErrors", "1.3.6.1.2.1.2.2.1.14", "counter"), ("ifInUnknownProtos", "1.3.6.1.2.1.2.2.1.15", "counter"),
    ("ifOutOctets", "1.3.6.1.2.1.2.2.1.16", "counter"), ("ifOutUcastPkts", "1.3.6.1.2.1.2.2.1.17", "counter"),
    ("ifOutNUcastPkts", "1.3.6.1.2.1.2.2.1.18", "counter"), ("ifOutDiscards", "1.3.6.1.2.1.2.2.1.19", "counter"),
    ("ifOutErrors", "1.3.6.1.2.1.2.2.1.20", "counter"), ("ifOutQLen", "1.3.6.1.2.1.2.2.1.21", "gauge"),
    ("ifSpecific", "1.3.6.1.2.1.2.2.1.22", "OctetString"),
    ("ifName", None, None), ("ifInMulticastPkts", "1.3.6.1.2.1.31.1.1.1.2", "counter"),
    ("ifInBroadcastPkts", "1.3.6.1.2.1.31.1.1.1.3", "counter"),
    ("ifOutMulticastPkts", "1.3.6.1.2.1.31.1.1.1.4", "counter"),
    ("ifOutBroadcastPkts", "1.3.6.1.2.1.31.1.1.1.5", "counter"),
    ("ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6", "counter"), ("ifHCInUcastPkts", "1.3.6.1.2.1.31.1.1.1.7", "counter"),
    ("ifHCInMulticastPkts", "1.3.6.1.2.1.31.1.1.1.8", "counter"),
    ("ifHCInBroadcastPkts", "1.3.6.1.2.1.31.1.1.1.9", "counter"),
    ("ifHCOutOctets", "1.3.6.1.2.1.31.1.1.1.10", "counter"), ("ifHCOutUcastPkts", "1.3.6.1.2.1.31.1.1.1.11", "counter"),
    ("ifHCOutMulticastPkts", "1.3.6.1.2.1.31.1.1.1.12", "counter"),
    ("ifHCOutBroadcastPkts", "1.3.6.1.2.1.31.1.1.1.13", "counter"),
    ("ifLinkUpDownTrapEnable", "1.3.6.1.2.1.31.1.1.1.14", "gauge"), ("ifHighSpeed", "1.3.6.1.2.1.31.1.1.1.15", "gauge"),
    ("ifPromiscuousMode", "1.3.6.1.2.1.31.1.1.1.16", "gauge"), ("ifConnectorPresent", "1.3.6.1.2.1.31.1.1.1.17", "gauge"),
    ("ifAlias", None, None), ("ifCounterDiscontinuityTime", "1.3.6.1.2.1.31.1.1.1.19", "gauge"),
]
lookups = [("ifAlias", "1.3.6.1.2.1.31.1.1.1.18"), ("ifDescr", "1.3.6.1.2.1.2.2.1.2"), ("ifName", "1.3.6.1.2.1.31.1.1.1.1")]
o = ["# written by Benchmarks/snmp-peers.sh: module if_mib (numeric OIDs), as upstream's generator.yml has it",
     "if_mib:", "  walk:", "  - 1.3.6.1.2.1.2", "  - 1.3.6.1.2.1.31.1.1", "  get:", "  - 1.3.6.1.2.1.1.3.0",
     "  metrics:",
     "  - name: sysUpTime", "    oid: 1.3.6.1.2.1.1.3", "    type: gauge", "    help: sysUpTime",
     "  - name: ifNumber", "    oid: 1.3.6.1.2.1.2.1", "    type: gauge", "    help: ifNumber"]
for name, oid, typ in cols:
    if oid is None:  # lookup columns: labels, not metrics (upstream's overrides: ignore)
        continue
    o += ["  - name: " + name, "    oid: " + oid, "    type: " + typ, "    help: " + name,
          "    indexes:", "    - labelname: ifIndex", "      type: gauge", "    lookups:"]
    for lname, loid in lookups:
        o += ["    - labels:", "      - ifIndex", "      labelname: " + lname, "      oid: " + loid,
              "      type: DisplayString"]
o += ["  version: 2", "  max_repetitions: %d" % 25, "  retries: 1", "  timeout: 5s", "  auth:", "    community: public"]
open(sys.argv[1], "w").write("\n".join(o) + "\n")
EOF
    sed -i "s/^  max_repetitions: 25$/  max_repetitions: $CR/; s/^  retries: 1$/  retries: $RETRIES/; s/^  timeout: 5s$/  timeout: ${TIMEOUT}s/" "$1"
}

report() { # peer json snmpsim_ticks
    python3 - "$1" "$2" "$3" "$hz" "$PAR" <<'EOF'
import json, sys
peer, j, st, hz, par = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
w, c, o = j["wall_s"], j["cpu_s"], j["oids"]
print("peer=%s agents=%d answered=%d oids=%d wall_s=%.2f cpu_s=%.2f oids_per_s=%.0f oids_per_cpu_s=%.0f "
      "snmpsim_cpu_s=%.2f par=%s oids_per_agent=%d"
      % (peer, j["agents"], j["answered"], o, w, c, o / w if w else 0, o / c if c else 0, st / hz, par,
         j["expected_per_agent"]))
EOF
}

for peer in ${PEERS//,/ }; do
    case $peer in
        snmpbulkwalk)
            s0=$(snmpsim_ticks)
            j=$(nice -n "$NICE" python3 "$W/poll.py" snmpbulkwalk "$W/targets" "$DIR/data/public.snmprec" \
                "$PAR" "$CR" "$TIMEOUT" "$RETRIES" "$MAX_SECONDS" -)
            s1=$(snmpsim_ticks)
            report snmpbulkwalk "$j" $((s1 - s0))
            ;;
        snmp_exporter)
            command -v prometheus-snmp-exporter >/dev/null ||
                die "prometheus-snmp-exporter missing (Benchmarks/snmpsim-setup.sh installs it)"
            ! ss -Hltn "sport = :$EXPORTER_PORT" | grep -q . || die "TCP port $EXPORTER_PORT is taken (EXPORTER_PORT=...)"
            write_exporter_config "$W/snmp.yml"
            chmod 755 "$W"; chmod 644 "$W/snmp.yml"
            prometheus-snmp-exporter --config.file="$W/snmp.yml" --dry-run >"$W/exporter-dry-run.log" 2>&1 ||
                { cat "$W/exporter-dry-run.log" >&2; die "snmp_exporter rejects $W/snmp.yml"; }
            nice -n "$NICE" setpriv --reuid=nobody --regid=nogroup --clear-groups \
                prometheus-snmp-exporter --config.file="$W/snmp.yml" \
                --web.listen-address="127.0.0.1:$EXPORTER_PORT" --log.level=warn \
                </dev/null >"$W/exporter.log" 2>&1 &
            exporter_pid=$!
            for _ in $(seq 100); do
                curl -fs -o /dev/null "http://127.0.0.1:$EXPORTER_PORT/metrics" && break
                kill -0 "$exporter_pid" 2>/dev/null || { cat "$W/exporter.log" >&2; die "snmp_exporter ended"; }
                sleep 0.1
            done
            s0=$(snmpsim_ticks)
            j=$(python3 "$W/poll.py" snmp_exporter "$W/targets" "$DIR/data/public.snmprec" \
                "$PAR" "$CR" "$TIMEOUT" "$RETRIES" "$MAX_SECONDS" "$EXPORTER_PORT:$exporter_pid")
            s1=$(snmpsim_ticks)
            report snmp_exporter "$j" $((s1 - s0))
            kill -TERM "$exporter_pid"
            wait "$exporter_pid" 2>/dev/null || true
            exporter_pid=
            ;;
    esac
done
