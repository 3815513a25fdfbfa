#!/usr/bin/env bash
# Setup for the SNMP poller scale harness (Benchmarks/snmpsim/agents.sh, Benchmarks/snmp-peers.sh), on
# Debian 12 as root. Idempotent: run it again and it only checks.
#   apt:  python3-venv; snmp (net-snmp's snmpget/snmpbulkwalk: the checks and a peer);
#         prometheus-snmp-exporter (0.21, the other peer). Its system service is disabled and stopped,
#         so that nothing holds TCP 9116; snmp-peers.sh runs an instance of its own.
#   venv: /var/cache/sotp/snmpsim-venv (outside the repository), made from Debian's /usr/bin/python3,
#         with snmpsim and pysmi from PyPI at the versions checked here. snmpsim drops privileges to
#         nobody after binding its ports: an interpreter under /root (pyenv) could not load its modules
#         any more after the drop, Debian's python3 and a venv readable by all can.
# Env: VENV (default /var/cache/sotp/snmpsim-venv).
set -euo pipefail
VENV=${VENV:-/var/cache/sotp/snmpsim-venv}
# Checked together here (snmpsim 1.2.2 on pysnmp 7.1.30); agents.sh's launcher relies on how this
# pysnmp opens its sockets (asyncio tasks), so pysnmp and pyasn1 are pinned too.
PIP_PINS=(snmpsim==1.2.2 pysmi==2.0.0 pysnmp==7.1.30 pyasn1==0.6.5)
log() { printf 'snmpsim-setup: %s\n' "$*"; }
[[ $(id -u) == 0 ]] || { echo "snmpsim-setup: run as root" >&2; exit 1; }

# 1. Debian packages
missing=()
for p in python3-venv snmp prometheus-snmp-exporter curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null
    apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >/dev/null
else
    log "apt: python3-venv, snmp, prometheus-snmp-exporter, curl already installed"
fi
log "prometheus-snmp-exporter $(dpkg-query -W -f='${Version}' prometheus-snmp-exporter), net-snmp $(dpkg-query -W -f='${Version}' snmp)"

# 2. the packaged exporter service: off (enabled on install; started where systemd runs and
#    policy-rc.d allows it)
svc=prometheus-snmp-exporter
if [[ -d /run/systemd/system ]]; then
    if systemctl is-enabled --quiet "$svc" 2>/dev/null || systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl disable --now "$svc" >/dev/null 2>&1 || true
        log "systemd: disabled and stopped $svc.service"
    fi
    log "systemd: $svc.service is $(systemctl is-enabled "$svc" 2>/dev/null || true), $(systemctl is-active "$svc" 2>/dev/null || true)"
else
    # no systemd running (containers): systemctl still edits the unit links offline, update-rc.d
    # (which systemctl calls through systemd-sysv-install) the SysV links; stop a SysV-started one
    if [[ $(systemctl is-enabled "$svc" 2>/dev/null || true) == enabled ]]; then
        systemctl disable "$svc" >/dev/null 2>&1 || update-rc.d "$svc" disable >/dev/null 2>&1 || true
        log "no systemd running: disabled $svc (unit and SysV links)"
    fi
    if [[ -x /etc/init.d/$svc ]] && /etc/init.d/$svc status >/dev/null 2>&1; then
        /etc/init.d/$svc stop >/dev/null 2>&1 || true
        log "stopped the SysV-started $svc"
    fi
    state=$(systemctl is-enabled "$svc" 2>/dev/null) || true
    log "no systemd running: $svc is ${state:-unknown} (unit links)"
fi
if ss -Hltn 'sport = :9116' | grep -q .; then
    log "WARNING: TCP 9116 is still held: $(ss -Hltnp 'sport = :9116' | head -1)"
else
    log "TCP 9116: free"
fi

# 3. the venv, from Debian's python3
if [[ -f $VENV/pyvenv.cfg ]] && ! grep -qx 'home = /usr/bin' "$VENV/pyvenv.cfg"; then
    log "$VENV was made from another interpreter ($(grep '^home' "$VENV/pyvenv.cfg")): making it anew"
    rm -rf "$VENV"
fi
if [[ ! -x $VENV/bin/python ]]; then
    mkdir -p "$(dirname "$VENV")"
    /usr/bin/python3 -m venv "$VENV"
    log "made the venv $VENV from /usr/bin/python3 ($(/usr/bin/python3 --version))"
fi
need=0
have=$("$VENV/bin/python" -m pip freeze 2>/dev/null || true)
for pin in "${PIP_PINS[@]}"; do grep -qix "$pin" <<<"$have" || need=1; done
if ((need)); then
    log "pip install ${PIP_PINS[*]} (PyPI)"
    (cd / && "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_PINS[@]}")
else
    log "venv already has ${PIP_PINS[*]}"
fi

# 4. readable by nobody (the venv's own directories, and the way to it; not the rest of its parent)
chmod -R a+rX "$VENV"
d=$(dirname "$VENV")
while [[ $d != / ]]; do chmod o+x "$d"; d=$(dirname "$d"); done
if out=$(runuser -u nobody -g nogroup -- "$VENV/bin/python" -c \
    'import snmpsim, pysnmp, pysmi, pyasn1; print("snmpsim", snmpsim.__version__, "pysnmp", pysnmp.__version__, "pysmi", pysmi.__version__, "pyasn1", pyasn1.__version__)' 2>&1); then
    log "as nobody: $out"
else
    log "ERROR: nobody cannot load snmpsim from $VENV: $out"; exit 1
fi
log "snmpsim-command-responder: $VENV/bin/snmpsim-command-responder"
log "done; next: Benchmarks/snmpsim/agents.sh start 100 /tmp/sotp-agents"
