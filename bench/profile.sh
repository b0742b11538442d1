#!/usr/bin/env bash
# bench/profile.sh: profile a server during one bench mode; the top entries go to
# bench/results/profile-TARGET-MODE-TOOL.txt.
#
#   bench/profile.sh [--tool auto|perf|callgrind] [--seconds S] [--target certgate|mosquitto] MODE
#
# MODE: tls (full mTLS handshakes, no MQTT; certgate: its HTTPS port), tls-resumed, token
# (device tokens, keep-alive off; certgate only), autoreg (first connects of new devices
# through the token endpoint; certgate only), connect, connect-resumed, pubsub-q1, pubsub-q0
# (MQTT; certgate once serve has its MQTT listener).
#
# Tool: perf (`perf record -g` of the server process, `perf report` top entries) when the
# machine has hardware counters (`perf stat -e instructions true` counts something);
# otherwise valgrind --tool=callgrind on a short, gentle run (the server runs ~50x slower
# under callgrind, so the figures are instruction counts per operation, not times).
# `--tool perf` forces perf, which then samples the cpu-clock software event.
# Environment: CERTGATE_BIN, PYTHON as for bench/run.sh; work directory as run.sh's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-/usr/bin/python3}
tool=auto
secs=""
target=certgate
work="${TMPDIR:-/tmp}/certgate-bench"
mode=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --tool) tool=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --target) target=$2; shift ;;
    --work) work=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "profile.sh: unknown option '$1'" >&2; exit 2 ;;
    *) mode=$1 ;;
    esac
    shift
done
[[ -n "$mode" ]] || { echo "profile.sh: which mode? (see --help)" >&2; exit 2; }
[[ $target == certgate || $target == mosquitto ]] || { echo "profile.sh: --target certgate or mosquitto" >&2; exit 2; }

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

if [[ $tool == auto ]]; then
    tool=callgrind
    if command -v perf >/dev/null &&
        perf stat -x, -e instructions true 2>&1 | grep -Eq '^[0-9]+,'; then
        tool=perf
    fi
fi
case $tool in
perf) command -v perf >/dev/null || { echo "profile.sh: perf is not installed" >&2; exit 1; } ;;
callgrind) command -v valgrind >/dev/null || { echo "profile.sh: valgrind is not installed" >&2; exit 1; } ;;
*) echo "profile.sh: --tool auto, perf or callgrind" >&2; exit 2 ;;
esac
[[ -n "$secs" ]] || { [[ $tool == perf ]] && secs=10 || secs=20; }

bench_binary
ndev=2000
pki="$work/pki"
make_pki
prof="$work/profile"
mkdir -p "$prof" "$ROOT/bench/results"
out="$ROOT/bench/results/profile-$target-$mode-$tool.txt"

cleanup() {
    stop_mosquitto
    stop_certgate
}
trap cleanup EXIT

if [[ $tool == callgrind ]]; then
    rm -f "$prof"/callgrind.out.*
    SERVER_WRAP=(valgrind --tool=callgrind --callgrind-out-file="$prof/callgrind.out.%p"
                 --instr-atstart=no --dump-instr=no)
fi
if [[ $target == mosquitto ]]; then
    start_mosquitto
    PID=$MOSQ_PID
    A=$(mosq_args)
else
    start_certgate fresh
    PID=$CG_PID
    A=$(cg_args)
    if [[ "$CG_MQTT" == 0 && $mode != tls* && $mode != token && $mode != autoreg ]]; then
        echo "profile.sh: certgate has no MQTT listener yet: use tls, tls-resumed, token or autoreg" >&2
        exit 1
    fi
fi
# Gentle under callgrind: few in flight, long timeouts.
conc=32
extra=(--timeout 10000)
if [[ $tool == callgrind ]]; then
    conc=4
    extra=(--timeout 120000)
fi
tls_port=()
[[ $target == certgate ]] && tls_port=(--port "$CG_HTTPS")
case $mode in
tls) args=(connect $A "${tls_port[@]}" --handshake-only --concurrency $conc) ;;
tls-resumed) args=(connect $A "${tls_port[@]}" --handshake-only --resume --concurrency $conc) ;;
token) args=(token $A --concurrency $conc) ;;
autoreg) args=(token $A --once --concurrency $conc) ;;
connect) args=(connect $A --concurrency $conc) ;;
connect-resumed) args=(connect $A --resume --concurrency $conc) ;;
pubsub-q1) args=(pubsub $A --qos 1 --publishers 10 --subscribers 1) ;;
pubsub-q0) args=(pubsub $A --qos 0 --publishers 10 --subscribers 1) ;;
*) echo "profile.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
# Few devices to load; for resumption, ~2 per connection so each comes back with a fresh
# ticket.
if [[ $mode == *resumed ]]; then extra+=(--device-limit $((2 * conc))); else extra+=(--device-limit 2000); fi
if [[ $target == mosquitto && ( $mode == token || $mode == autoreg ) ]]; then
    echo "profile.sh: Mosquitto has no token endpoint" >&2
    exit 2
fi

log "profiling $target ($tool) during: certgate bench ${args[*]}"
json="$prof/bench.json"
if [[ $tool == perf ]]; then
    # Recorded for as long as the bench runs (stopped with SIGINT, which perf handles).
    perf record -e cpu-clock -g -p "$PID" -o "$prof/perf.data" -- sleep 3600 \
        >"$prof/perf.log" 2>&1 &
    perf_pid=$!
    "$BIN" bench "${args[@]}" "${extra[@]}" --seconds "$secs" --warmup 1 --json >"$json"
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" || true
else
    callgrind_control -i on "$PID" >/dev/null
    "$BIN" bench "${args[@]}" "${extra[@]}" --seconds "$secs" --warmup 0 --json >"$json"
    callgrind_control -i off "$PID" >/dev/null
fi
if [[ $target == mosquitto ]]; then stop_mosquitto; else stop_certgate; fi
# top FILE: the first 40 entries of a callgrind_annotate listing (awk stops by itself: a
# pipe into head would fail the script under pipefail).
top() {
    awk '/file:function/ {on = 1; getline; next} on && NF && n < 40 {print; n++} on && !NF {exit}' "$1"
}
ops=$("$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))["result"]
print(r.get("connects") or r.get("tokens") or r.get("delivered_in_window") or 0)' "$json")

{
    echo "# profile of $target during: certgate bench ${args[*]} ${extra[*]} --seconds $secs"
    echo "# tool: $tool; $(date '+%Y-%m-%d %H:%M %Z'); $(openssl version); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# operations in the measured window: $ops"
    if [[ $tool == perf ]]; then
        echo "# perf record -e cpu-clock -g -p PID; perf report --no-children (self time), top entries"
        echo
        perf report -i "$prof/perf.data" --no-children --sort dso,sym --percent-limit 0.7 \
            --stdio -g none 2>/dev/null | grep -v '^$' | awk 'n < 70 {print; n++}' || true
        echo
        echo "# by shared object"
        perf report -i "$prof/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
            grep '%' | awk 'n < 15 {print; n++}' || true
    else
        f=$(ls -t "$prof"/callgrind.out.* | head -1)
        callgrind_annotate --inclusive=no "$f" >"$prof/self.txt" 2>/dev/null || true
        callgrind_annotate --inclusive=yes "$f" >"$prof/inclusive.txt" 2>/dev/null || true
        total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' "$prof/self.txt")
        if [[ "$total" =~ ^[0-9]+$ && "$ops" -gt 0 ]]; then
            echo "# instructions (Ir) while collecting: $total = $((total / ops)) per operation"
        fi
        echo "# (libcrypto/libssl have no symbols on this system: their functions show as"
        echo "# addresses; certgate's and libc's are named)"
        echo
        echo "# callgrind_annotate: self (exclusive) cost, top entries"
        top "$prof/self.txt"
        echo
        echo "# inclusive cost, top entries"
        top "$prof/inclusive.txt"
    fi
} >"$out"
log "profile written to ${out#$ROOT/}"
