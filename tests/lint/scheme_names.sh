#!/bin/sh
# Fails when a quoted scheme name ("ulysses", "ring", "usp", "megatron-sp", "megatron-tp",
# "colai-sp") appears in src/ outside src/strategy/: commands, sweeps and searches read a scheme's
# traits (spsim/strategy.h), so a new scheme is one plug-in, not a hunt through ten files.
# Comment lines are skipped; scheme_names.allow lists the lines allowed, each with why.
# Usage: scheme_names.sh SOURCE_DIR
set -eu
root=${1:?usage: scheme_names.sh SOURCE_DIR}
allow="$(dirname "$0")/scheme_names.allow"
hits=$(cd "$root" && grep -rnE --include='*.cc' --include='*.h' \
         '"(ulysses|ring|usp|megatron-sp|megatron-tp|colai-sp)"' src | grep -v '^src/strategy/' |
       sed 's/^\([^:]*\):[0-9]*:[[:space:]]*/\1: /' | grep -v '^[^:]*: //' || true)
bad=$(printf '%s\n' "$hits" | grep -v -x -F -f "$allow" | grep -v '^$' || true)
if [ -n "$bad" ]; then
  echo "scheme names tested outside src/strategy/ (read StrategyTraits instead, or allow the line"
  echo "in tests/lint/scheme_names.allow with a comment saying why):"
  printf '%s\n' "$bad"
  exit 1
fi
echo "no scheme name outside src/strategy/ but the $(printf '%s\n' "$hits" | grep -c . || true) allowed lines"
