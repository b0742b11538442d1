#!/usr/bin/env bash
# Everything CI runs: install packages, build, unit tests, integration tests, the same two
# suites under ASan+UBSan, and a short run of every fuzz target.
# Environment: FUZZ_SECONDS (default 20), CHECK_SKIP_ASAN=1, CHECK_SKIP_FUZZ=1 for quick
# local runs (CI sets neither).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "=== check: $* ($(( $(date +%s) - start ))s)"; }

step "dependencies"
bash scripts/deps.sh --test

step "build (release, -Werror)"
bash scripts/build.sh release

step "unit tests"
ctest --test-dir build --output-on-failure -j "$(nproc)"

step "web UI test dependencies (npm ci --prefix tests/web)"
npm ci --prefix tests/web --no-audit --no-fund

step "integration tests"
CERTGATE_BIN="$PWD/build/src/cli/certgate" /usr/bin/python3 -m pytest -q -x tests/integration

step "bench smoke (every certgate bench mode for ~2 s; no thresholds)"
CERTGATE_BIN="$PWD/build/src/cli/certgate" bash bench/run.sh --smoke

if [[ "${CHECK_SKIP_ASAN:-0}" != 1 ]]; then
    step "build (ASan+UBSan)"
    bash scripts/build.sh asan
    step "unit tests under ASan+UBSan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
    step "integration tests under ASan+UBSan"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        CERTGATE_BIN="$PWD/build-asan/src/cli/certgate" CERTGATE_SANITIZED=1 \
        /usr/bin/python3 -m pytest -q -x tests/integration
fi

if [[ "${CHECK_SKIP_FUZZ:-0}" != 1 ]]; then
    step "fuzz targets"
    bash scripts/fuzz.sh
fi

step "all checks passed"
