#!/usr/bin/env bash
# Install what is missing (Debian 12), build, and run certgate on its embedded defaults:
# HTTPS on 8443, MQTT/TLS on 8883, data in ./certgate-data. The management tenant's admin
# password is printed once at the first start (or set CERTGATE_ADMIN_PASSWORD beforehand).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh release
exec ./build/src/cli/certgate serve "$@"
