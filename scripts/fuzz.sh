#!/usr/bin/env bash
# Run every libFuzzer target for a short time (FUZZ_SECONDS each, default 20) on its seed
# corpus. Builds build-fuzz/ first. A crash fails the script and leaves the input in
# tests/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-20}"
bash scripts/build.sh fuzz
mkdir -p tests/fuzz/artifacts
status=0
for exe in build-fuzz/tests/fuzz/fuzz_*; do
    [[ -x "$exe" ]] || continue
    name=$(basename "$exe")
    name=${name#fuzz_}
    corpus="tests/fuzz/corpus/$name"
    work=$(mktemp -d)
    seeds=()
    [[ -d "$corpus" ]] && seeds=("$corpus")
    echo "fuzz: $name for ${secs}s"
    if ! "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix=tests/fuzz/artifacts/"$name"- -print_final_stats=0 \
            "$work" "${seeds[@]}" >"$work.log" 2>&1; then
        echo "fuzz: $name FAILED"; tail -n 60 "$work.log"; status=1
    else
        grep -E "^#[0-9]+ +DONE" "$work.log" | tail -n 1 || true
    fi
    rm -rf "$work" "$work.log"
done
exit $status
