#!/usr/bin/env bash
# Install the Debian 12 packages certgate needs. `deps.sh` installs what building and
# running need; `deps.sh --test` adds what the test suites need. Runs apt-get update first
# and installs only what is missing. Uses sudo when not run as root.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libssl-dev openssl libevent-dev libjansson-dev
            libsqlite3-dev libargon2-dev ca-certificates)
test_pkgs=(clang libclang-rt-14-dev libcmocka-dev python3 python3-pytest python3-paho-mqtt
           python3-cryptography python3-requests mosquitto mosquitto-clients curl sqlite3
           procps)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=("${test_pkgs[@]}")
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
