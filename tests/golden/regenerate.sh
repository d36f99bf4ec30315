#!/bin/sh
# Rewrites tests/golden/expected/ from the current build: only in a commit that deliberately
# changes the model, and whose message says so (tests/golden/README.md).
# Usage: tests/golden/regenerate.sh [BUILD_DIR]   (default: build/release, built beforehand)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-"$root/build/release"}
SPSIM_GOLDEN_REGENERATE=1 "$build/tests/spsim_tests" --gtest_filter='Golden.*'
git -C "$root" status --short -- tests/golden/expected
