#!/usr/bin/env bash
# Install what is missing, build, and start certgate on its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh release
exec ./build/src/cli/certgate --help
