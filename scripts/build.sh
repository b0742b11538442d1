#!/usr/bin/env bash
# Configure and build one flavour of certgate into its own directory.
#   build.sh            -> build/        (RelWithDebInfo, -Werror)
#   build.sh asan       -> build-asan/   (AddressSanitizer + UndefinedBehaviorSanitizer)
#   build.sh fuzz       -> build-fuzz/   (clang, libFuzzer targets)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
jobs=$(nproc)
case "$flavour" in
release) dir=build; args=(-DCERTGATE_WERROR=ON) ;;
asan)    dir=build-asan; args=(-DCERTGATE_WERROR=ON -DCERTGATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
fuzz)    dir=build-fuzz; args=(-DCERTGATE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug) ;;
*) echo "build.sh: unknown flavour '$flavour' (release, asan, fuzz)" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${args[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
