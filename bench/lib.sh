# bench/lib.sh: what bench/run.sh and bench/profile.sh share (sourced, not run).
#
# Expects: ROOT (the repository), PYTHON, work (the work directory); sets BIN, pki, ndev
# as documented below. Servers are started in the background and stopped by their own PIDs
# (MOSQ_PID, CG_PID), never by name.

log() { echo "=== bench: $* ($(date +%H:%M:%S))" >&2; }
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port [tries of 0.1 s]: until something accepts on 127.0.0.1:port
    for _ in $(seq 1 "${2:-100}"); do
        if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# bench_binary: BIN = $CERTGATE_BIN, or certgate built into build-bench/ (RelWithDebInfo:
# -O2 with symbols, for the profiles; -Werror).
bench_binary() {
    if [[ -n "${CERTGATE_BIN:-}" ]]; then
        BIN=$CERTGATE_BIN
    else
        log "building certgate (build-bench/, RelWithDebInfo, -Werror)"
        cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DCERTGATE_WERROR=ON -DCERTGATE_TESTS=OFF >/dev/null
        cmake --build "$ROOT/build-bench" -j "$(nproc)" --target certgate >/dev/null
        BIN="$ROOT/build-bench/src/cli/certgate"
    fi
    [[ -x "$BIN" ]] || { echo "bench: no certgate binary at $BIN" >&2; exit 1; }
}

# make_pki: the device PKI in $pki (kept between runs when it has >= $ndev devices):
# root.pem/key -> int.pem/key (pathlen 0) -> devices/dev-NNNNN.pem/.key ($ndev of them) with
# devices/chain.pem (the intermediate, sent after each device certificate); and the server
# PKI for Mosquitto: server-root.pem -> server.pem/key (localhost, 127.0.0.1). All ECDSA
# P-256, made with `certgate pki`.
make_pki() {
    local have=0
    if [[ -f "$pki/ok" ]]; then have=$(cat "$pki/ok"); fi
    if [[ $have -ge $ndev ]]; then
        log "reusing the PKI in $pki ($have devices)"
        return
    fi
    log "making the PKI: device root -> intermediate -> $ndev devices (ECDSA P-256)"
    rm -rf "$pki"
    mkdir -p "$pki/devices"
    (
        cd "$pki"
        "$BIN" pki ca --subject "CN=certgate bench device root,O=certgate bench" \
            --out-cert root.pem --out-key root.key >/dev/null
        "$BIN" pki intermediate --ca-cert root.pem --ca-key root.key --pathlen 0 \
            --subject "CN=certgate bench device CA,O=certgate bench" \
            --out-cert int.pem --out-key int.key >/dev/null
        # Four writers in parallel: `pki device` fsyncs every file.
        local per=$(( (ndev + 3) / 4 )) start=1 pids=()
        while [[ $start -le $ndev ]]; do
            local n=$(( ndev - start + 1 < per ? ndev - start + 1 : per ))
            "$BIN" pki device --ca-cert int.pem --ca-key int.key --prefix dev- --digits 5 \
                --start "$start" --count "$n" --out-dir devices >/dev/null &
            pids+=($!)
            start=$(( start + n ))
        done
        for p in "${pids[@]}"; do wait "$p"; done
        cp int.pem devices/chain.pem
        "$BIN" pki ca --subject "CN=certgate bench server root,O=certgate bench" \
            --out-cert server-root.pem --out-key server-root.key >/dev/null
        "$BIN" pki server-cert --ca-cert server-root.pem --ca-key server-root.key \
            --dns localhost --ip 127.0.0.1 --out-cert server.pem --out-key server.key >/dev/null
    )
    echo "$ndev" > "$pki/ok"
}

have_mosquitto=0
MOSQUITTO=""
if command -v mosquitto >/dev/null; then
    MOSQUITTO=$(command -v mosquitto)
elif [[ -x /usr/sbin/mosquitto ]]; then
    MOSQUITTO=/usr/sbin/mosquitto
fi
[[ -n "$MOSQUITTO" ]] && have_mosquitto=1

MOSQ_PID=""
CG_PID=""
SERVER_WRAP=() # a command put before the server (bench/profile.sh: valgrind)

# start_mosquitto: Mosquitto on a free port (MQ_PORT), config in $work/mosquitto/.
start_mosquitto() {
    MQ_PORT=$(free_port)
    mkdir -p "$work/mosquitto"
    # Comparable to certgate's defaults: mqtt_max_queued 1000, mqtt_max_inflight 32. Only
    # errors and warnings are logged (notices would log every connection).
    cat > "$work/mosquitto/mosquitto.conf" <<EOF
# written by bench/run.sh
per_listener_settings false
persistence false
log_dest stderr
log_type error
log_type warning
user $(id -un)
max_queued_messages 1000
max_inflight_messages 32
allow_anonymous false
listener $MQ_PORT 127.0.0.1
cafile $pki/root.pem
certfile $pki/server.pem
keyfile $pki/server.key
require_certificate true
use_identity_as_username true
set_tcp_nodelay true
EOF
    "${SERVER_WRAP[@]}" "$MOSQUITTO" -c "$work/mosquitto/mosquitto.conf" \
        2>>"$work/mosquitto/mosquitto.log" &
    MOSQ_PID=$!
    wait_port "$MQ_PORT" 600 ||
        { echo "bench: mosquitto did not start (see $work/mosquitto/mosquitto.log)" >&2; exit 1; }
}
stop_mosquitto() {
    if [[ -n "$MOSQ_PID" ]]; then
        kill "$MOSQ_PID" 2>/dev/null || true
        wait "$MOSQ_PID" 2>/dev/null || true
    fi
    MOSQ_PID=""
}

CG_ADMIN_PW="bench-admin-secret-1"
# start_certgate fresh|keep [--set k=v ...]: certgate on free ports (CG_HTTPS, CG_MQTT: 0
# while serve has no MQTT listener; CG_CA: its server CA). With fresh: a new data directory
# with a tenant whose trusted root (the device PKI's) has auto-registration on, and
# mqtt/acl.mode = open (bench/cgsetup.py).
start_certgate() {
    local how=$1; shift
    local data="$work/certgate-data"
    CG_EXTRA="$*" # the settings beyond the defaults below, for the report
    if [[ $how == fresh ]]; then rm -rf "$data"; fi
    : > "$work/certgate.out"
    CERTGATE_ADMIN_PASSWORD=$CG_ADMIN_PW "${SERVER_WRAP[@]}" "$BIN" serve --data-dir "$data" \
        --listen 127.0.0.1 --https-port 0 --mqtt-port 0 --set fast_password_hashing=true \
        --set admission_address_rate=0 "$@" >"$work/certgate.out" 2>>"$work/certgate.log" &
    CG_PID=$!
    local line=""
    for _ in $(seq 1 1200); do
        line=$(grep -m1 "certgate ready" "$work/certgate.out" || true)
        [[ -n "$line" ]] && break
        kill -0 "$CG_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$line" ]] || { echo "bench: certgate did not start (see $work/certgate.log)" >&2; exit 1; }
    CG_HTTPS=$(sed -E 's/.*https port ([0-9]+).*/\1/' <<<"$line")
    CG_MQTT=$(sed -E 's/.*mqtt port ([0-9]+).*/\1/' <<<"$line")
    CG_CA="$data/server-ca.pem"
    if [[ $how == fresh ]]; then
        "$PYTHON" "$ROOT/bench/cgsetup.py" --port "$CG_HTTPS" --ca "$CG_CA" \
            --admin-password "$CG_ADMIN_PW" --root "$pki/root.pem" --acl-open \
            --wait-https 120 >/dev/null
    fi
}
stop_certgate() {
    if [[ -n "$CG_PID" ]]; then
        kill "$CG_PID" 2>/dev/null || true
        wait "$CG_PID" 2>/dev/null || true
    fi
    CG_PID=""
}

# The target options of `certgate bench` for each server.
mosq_args() {
    echo --label mosquitto --port "$MQ_PORT" --cafile "$pki/server-root.pem" \
        --devices "$pki/devices" --server-pid "$MOSQ_PID"
}
cg_args() { # --port only when certgate has an MQTT listener
    local port=""
    [[ "$CG_MQTT" != 0 ]] && port="--port $CG_MQTT"
    echo --label certgate $port --https-port "$CG_HTTPS" --cafile "$CG_CA" \
        --devices "$pki/devices" --server-pid "$CG_PID"
}
