#!/usr/bin/env bash
# Install the Debian 12 packages certgate needs. `deps.sh` installs what building and
# running need; `deps.sh --test` adds what the test suites need. Runs apt-get update first
# and installs only what is missing. Uses sudo when not run as root.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libssl-dev openssl libevent-dev libjansson-dev
            libsqlite3-dev libargon2-dev ca-certificates)
test_pkgs=(clang libclang-rt-14-dev libcmocka-dev python3 python3-pytest python3-paho-mqtt
           python3-cryptography python3-requests mosquitto mosquitto-clients curl jq sqlite3
           procps)
# The web UI's browser tests: Debian's Chromium (/usr/bin/chromium, driven by playwright-core
# from tests/web/package.json) and npm to install that. A machine whose Node.js came from
# elsewhere (NodeSource) has npm already; otherwise Debian's npm brings Debian's Node.js.
web_test_pkgs=(chromium)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=("${test_pkgs[@]}" "${web_test_pkgs[@]}")
    if ! command -v npm >/dev/null 2>&1; then
        pkgs+=(npm)
    fi
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get update"
"${sudo_cmd[@]}" apt-get update -qq
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "deps: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "deps: all packages present"
fi
if [[ "${1:-}" == "--test" ]]; then
    node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [[ "$node_major" -lt 20 ]]; then
        echo "deps: warning: Node.js $node_major is older than 20, which playwright-core (tests/web) needs"
    fi
fi
