#!/usr/bin/env bash
# bench/run.sh: certgate and Eclipse Mosquitto side by side, on this machine, in one run.
#
#   bench/run.sh                 full run: every mode against both servers, each figure 3
#                                times; medians and ratios written to docs/benchmarks.md
#   bench/run.sh --smoke         CI: every bench mode for ~2 s against certgate only (the
#                                MQTT modes against Mosquitto if a certgate build has no MQTT
#                                listener), no thresholds, no report; about 30 s
#
# Options: --repeats N (3), --seconds S (10), --hold N (19000),
#          --work DIR (${TMPDIR:-/tmp}/certgate-bench; the PKI is kept there and reused),
#          --only LIST (comma-separated: connect,tls,hold,pubsub,token,autoreg,admission:
#                       rerun those, keep the other results, rewrite the report),
#          --no-doc (keep docs/benchmarks.md unchanged; raw results are still written)
# A full run takes ~25 minutes on 2 CPUs (plus ~1 minute for a new 19,000-device PKI).
# Environment: CERTGATE_BIN (use this binary instead of building build-bench/),
#              PYTHON (default /usr/bin/python3).
#
# What it does: builds certgate (RelWithDebInfo, -Werror) into build-bench/, makes one
# device PKI with `certgate pki` (ECDSA P-256 root -> intermediate -> devices; devices send
# device + intermediate; the root is the trust anchor) and a server PKI of the same kind for
# Mosquitto, starts Mosquitto 2.0 (config in the work directory) and certgate (fresh data
# directory, fast password hashing, a tenant whose trusted root has auto-registration on),
# runs `certgate bench` against each, and writes the raw JSON of every run to
# bench/results/latest/ and the report (bench/report.py) to docs/benchmarks.md.
# Measurements are only as quiet as the machine: the report records the load average and
# each run's CPU use by other processes; rerun on an idle machine for clean medians.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-/usr/bin/python3}

smoke=0
repeats=3
secs=10
hold_n=19000
work="${TMPDIR:-/tmp}/certgate-bench"
only=""
write_doc=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    --smoke) smoke=1 ;;
    --repeats) repeats=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --hold) hold_n=$2; shift ;;
    --work) work=$2; shift ;;
    --only) only=$2; shift ;;
    --no-doc) write_doc=0 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
want() { [[ -z "$only" || ",$only," == *",$1,"* ]]; }

# ---- binary -------------------------------------------------------------------------
bench_binary

if [[ $smoke == 1 ]]; then
    work=$(mktemp -d /tmp/certgate-bench-smoke.XXXXXX)
    results="$work/results"
    ndev=40
    secs=2
    repeats=1
    hold_n=20
else
    results="$ROOT/bench/results/latest"
    ndev=$(( hold_n > 2000 ? hold_n : 2000 ))
fi
mkdir -p "$work" "$results"
if [[ -z "$only" ]]; then # with --only, the other tests' results stay for the report
    rm -f "$results"/*.json "$results"/*.err "$results"/commands.txt
fi

cleanup() {
    stop_mosquitto
    stop_certgate
    if [[ $smoke == 1 ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
pki="$work/pki"
make_pki

# bench NAME TARGET REP -- certgate bench arguments...: one run, its JSON in results/.
failures=0
bench() {
    local name=$1 target=$2 rep=$3; shift 4
    local out="$results/$name.$target.$rep.json"
    local serve=""
    if [[ $target == certgate ]]; then
        serve="	certgate serve --listen 127.0.0.1 --set fast_password_hashing=true --set admission_address_rate=0 ${CG_EXTRA:-}"
    fi
    # A rerun (--only) replaces the test's earlier line.
    if [[ -f "$results/commands.txt" ]]; then
        grep -v "^$name $target $rep " "$results/commands.txt" > "$results/commands.tmp" || true
        mv "$results/commands.tmp" "$results/commands.txt"
    fi
    echo "$name $target $rep certgate bench $*$serve" >> "$results/commands.txt"
    log "$name / $target / run $rep"
    if ! "$BIN" bench "$@" --json >"$out" 2>"$out.err"; then
        echo "run.sh: '$name' against $target failed:" >&2
        tail -3 "$out.err" >&2 || true
        failures=$((failures + 1))
    fi
    [[ -s "$out.err" ]] || rm -f "$out.err"
}

# ---- machine facts ----------------------------------------------------------------------
"$PYTHON" - "$results/meta.json" "$BIN" "$only" <<'EOF'
import json, os, platform, subprocess, sys, time
if sys.argv[3] and os.path.exists(sys.argv[1]):
    # --only: a partial rerun; the machine facts of the full run stay, the rerun is noted.
    m = json.load(open(sys.argv[1]))
    m.setdefault("reruns", []).append("%s at %s (load average %s)" % (
        sys.argv[3], time.strftime("%Y-%m-%d %H:%M %Z"),
        " ".join(open("/proc/loadavg").read().split()[:3])))
    json.dump(m, open(sys.argv[1], "w"), indent=1)
    sys.exit(0)
def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""
cpu = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
mem = ""
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal"):
        mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
os_name = ""
if os.path.exists("/etc/os-release"):
    for line in open("/etc/os-release"):
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip().strip('"')
mosq = out("sh", "-c", "mosquitto -h 2>&1 | head -1")
json.dump({
    "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    "cpu": cpu, "cpus": os.cpu_count(), "memory": mem, "os": os_name,
    "kernel": platform.release(),
    "openssl": out("openssl", "version"),
    "mosquitto": mosq,
    "gcc": out("sh", "-c", "gcc --version | head -1"),
    "certgate": out(sys.argv[2], "version"),
    "loadavg_start": open("/proc/loadavg").read().split()[:3],
    "nofile": out("sh", "-c", "ulimit -n"),
}, open(sys.argv[1], "w"), indent=1)
EOF
[[ -n "$only" && -f "$results/params.json" ]] ||
    echo "{\"smoke\": $smoke, \"repeats\": $repeats, \"seconds\": $secs, \"hold\": $hold_n, \"devices\": $ndev, \"work\": \"$work\"}" > "$results/params.json"

# ---- smoke: every mode once, briefly, certgate first ------------------------------------
if [[ $smoke == 1 ]]; then
    start_certgate fresh
    C=$(cg_args)
    S="--seconds $secs --warmup 0.5 --device-limit 20"
    bench verify certgate 1 -- verify --seconds 1
    bench register certgate 1 -- register --seconds 1 --threads 8
    bench token certgate 1 -- token $C $S --concurrency 4
    bench token-ka certgate 1 -- token $C $S --concurrency 4 --requests-per-connection 20
    bench autoreg-token certgate 1 -- token $C --seconds $secs --once --concurrency 4 --device-offset 20 --device-limit 20
    bench tls certgate 1 -- connect $C --port "$CG_HTTPS" $S --handshake-only --concurrency 4
    mq_target=certgate
    if [[ "$CG_MQTT" == 0 ]]; then
        if [[ $have_mosquitto == 0 ]]; then
            echo "run.sh: certgate has no MQTT listener yet and mosquitto is not installed: MQTT modes skipped" >&2
            mq_target=""
        else
            echo "run.sh: certgate's MQTT listener is not wired yet: the MQTT modes run against Mosquitto" >&2
            start_mosquitto
            mq_target=mosquitto
            C=$(mosq_args)
        fi
    fi
    if [[ -n "$mq_target" ]]; then
        bench connect $mq_target 1 -- connect $C $S --concurrency 4
        bench connect-resumed $mq_target 1 -- connect $C $S --concurrency 4 --resume
        bench connect-rate $mq_target 1 -- connect $C $S --rate 50
        bench hold $mq_target 1 -- hold $C --connections $hold_n --seconds 1 --settle 0.2
        bench pubsub-q1 $mq_target 1 -- pubsub $C $S --qos 1 --publishers 2 --subscribers 1 --drain 1
        bench pubsub-q0 $mq_target 1 -- pubsub $C $S --qos 0 --topic-mode fan-out --publishers 1 --subscribers 2 --rate 500 --drain 1
    fi
    # Every run must have produced valid JSON.
    for f in "$results"/*.json; do
        "$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" ||
            { echo "run.sh: $f is not valid JSON" >&2; failures=$((failures + 1)); }
    done
    if [[ $failures -gt 0 ]]; then
        echo "run.sh --smoke: $failures runs failed" >&2
        exit 1
    fi
    echo "run.sh --smoke: every bench mode ran ($(ls "$results"/*.json | grep -vc -e meta.json -e params.json) runs)"
    exit 0
fi

# ---- full run ------------------------------------------------------------------------------
[[ $have_mosquitto == 1 ]] || { echo "run.sh: mosquitto is not installed (scripts/deps.sh --test)" >&2; exit 1; }
log "results in $results"
start_mosquitto
start_certgate fresh
cg_mqtt_ready=1
if [[ "$CG_MQTT" == 0 ]]; then
    cg_mqtt_ready=0
    echo "certgate's MQTT listener is not wired into serve yet: MQTT figures for certgate are pending" >&2
fi
W="--seconds $secs --warmup 1 --device-limit 2000"
targets_mqtt="mosquitto"
[[ $cg_mqtt_ready == 1 ]] && targets_mqtt="mosquitto certgate"

for r in $(seq 1 "$repeats"); do
    for t in $targets_mqtt; do
        if [[ $t == mosquitto ]]; then A=$(mosq_args); else A=$(cg_args); fi
        if want connect; then
            bench connect-full $t "$r" -- connect $A $W --concurrency 32
            # 64 devices for 32 in flight: each comes back while its ticket is fresh.
            bench connect-resumed $t "$r" -- connect $A $W --concurrency 32 --resume --device-limit 64
        fi
        if want pubsub; then
            bench pubsub-q1-fanin $t "$r" -- pubsub $A $W --qos 1 --topic-mode fan-in --publishers 10 --subscribers 1
            bench pubsub-q0-fanin $t "$r" -- pubsub $A $W --qos 0 --topic-mode fan-in --publishers 10 --subscribers 1
            bench pubsub-q0-fanout $t "$r" -- pubsub $A $W --qos 0 --topic-mode fan-out --publishers 1 --subscribers 10
        fi
    done
    # The TLS handshake alone (no MQTT): Mosquitto's MQTT port and certgate's HTTPS port,
    # both with client certificates; comparable today, while certgate's MQTT is pending.
    if want tls; then
        bench tls-full mosquitto "$r" -- connect $(mosq_args) $W --concurrency 32 --handshake-only
        bench tls-full certgate "$r" -- connect $(cg_args) --port "$CG_HTTPS" $W --concurrency 32 --handshake-only
        bench tls-resumed mosquitto "$r" -- connect $(mosq_args) $W --concurrency 32 --handshake-only --resume --device-limit 64
        bench tls-resumed certgate "$r" -- connect $(cg_args) --port "$CG_HTTPS" $W --concurrency 32 --handshake-only --resume --device-limit 64
    fi
    if want token; then
        bench token-close certgate "$r" -- token $(cg_args) $W --concurrency 32
        bench token-keepalive certgate "$r" -- token $(cg_args) $W --concurrency 32 --requests-per-connection 100
    fi
done

# Memory per idle connection: each server restarted before each run.
if want hold; then
    for r in $(seq 1 "$repeats"); do
        stop_mosquitto; start_mosquitto; sleep 1
        bench hold mosquitto "$r" -- hold $(mosq_args) --connections "$hold_n" --ramp-rate 1000 --seconds "$secs"
        if [[ $cg_mqtt_ready == 1 ]]; then
            stop_certgate; start_certgate keep; sleep 1
            bench hold certgate "$r" -- hold $(cg_args) --connections "$hold_n" --ramp-rate 1000 --seconds "$secs"
        fi
    done
fi

# Auto-registrations per second with durable commits: a fresh certgate (empty registry)
# per run, every device connecting for the first time.
if want autoreg; then
    for r in $(seq 1 "$repeats"); do
        stop_certgate; start_certgate fresh
        bench autoreg-token certgate "$r" -- token $(cg_args) --once --seconds "$secs" --concurrency 64 --device-limit "$ndev"
        # The registration without TLS: what the registry and its durable commits sustain.
        bench register certgate "$r" -- register --seconds "$secs" --threads 64
        if [[ $cg_mqtt_ready == 1 ]]; then
            stop_certgate; start_certgate fresh
            bench autoreg-mqtt certgate "$r" -- connect $(cg_args) --once --seconds "$secs" --concurrency 64 --device-limit "$ndev"
        fi
    done
fi

# Admission control. Per repetition, on a freshly started certgate: the sustainable
# full-connect rate S (closed loop, 32 in flight, measured right before so that it reflects
# the machine's state at that moment), then 3 x S offered (open loop; up to 18,000 in
# flight, 5 s client timeout, so the whole 3 x S really reaches the server) with
# admission_connect_rate = S; the same with a listen backlog holding ~2.5 s of admitted
# connections (S x 2.5); and, for contrast, no rate limit and no practical cap on handshakes
# in progress. MQTT connects once serve has its MQTT listener, TLS handshakes on the HTTPS
# listener (same admission code) until then.
if want admission; then
    adm_test=connect
    [[ $cg_mqtt_ready == 0 ]] && adm_test=tls
    echo "{\"test\": \"$adm_test\"}" > "$results/admission.json"
    adm_args() { # after each start: the ports change
        if [[ $cg_mqtt_ready == 0 ]]; then echo --port "$CG_HTTPS" --handshake-only; fi
    }
    adm_rate() { # the closed-loop rate of admission-sustainable run $1
        "$PYTHON" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["result"]["connects_per_s"]))' \
            "$results/admission-sustainable.certgate.$1.json" 2>/dev/null || echo 0
    }
    open_loop=(--seconds "$secs" --warmup 2 --concurrency 18000 --timeout 5000 --device-limit "$ndev")
    for r in $(seq 1 "$repeats"); do
        stop_certgate; start_certgate keep
        bench admission-sustainable certgate "$r" -- connect $(cg_args) $(adm_args) $W --concurrency 32
        sust=$(adm_rate "$r")
        [[ "$sust" -gt 0 ]] || continue
        stop_certgate; start_certgate keep --set admission_connect_rate="$sust"
        bench admission-limited certgate "$r" -- connect $(cg_args) $(adm_args) --rate $((3 * sust)) "${open_loop[@]}"
        stop_certgate
        start_certgate keep --set admission_connect_rate="$sust" --set listen_backlog=$((sust * 5 / 2 > 16 ? sust * 5 / 2 : 16))
        bench admission-limited-backlog certgate "$r" -- connect $(cg_args) $(adm_args) --rate $((3 * sust)) "${open_loop[@]}"
        stop_certgate; start_certgate keep --set admission_handshakes=1000000
        bench admission-unlimited certgate "$r" -- connect $(cg_args) $(adm_args) --rate $((3 * sust)) "${open_loop[@]}"
    done
fi

stop_certgate
stop_mosquitto
[[ -n "$only" ]] || "$PYTHON" - "$results/meta.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
json.dump(m, open(sys.argv[1], "w"), indent=1)
EOF
cp "$work/mosquitto/mosquitto.conf" "$results/mosquitto.conf"
if [[ $write_doc == 1 ]]; then
    "$PYTHON" "$ROOT/bench/report.py" "$results" "$ROOT/docs/benchmarks.md"
    log "docs/benchmarks.md updated"
fi
if [[ $failures -gt 0 ]]; then
    echo "run.sh: $failures runs failed (see $results/*.err)" >&2
    exit 1
fi
