#!/bin/sh
# docs/img/*.png are the figures of the README's main job (command 1: spsim sweep --best --plot).
# Usage: tests/docs/regenerate_img.sh SPSIM_BINARY SOURCE_DIR [--check]
#   without --check: rewrites docs/img/ from this build;
#   with --check (the CTest docs.img_is_what_the_build_draws): exits 1 naming every figure that
#   differs, so a README figure can never be stale.
set -eu
spsim=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source_dir=$(cd "$2" && pwd)
mode=${3:-write}
work=$(mktemp -d /tmp/spsim_docs_img_XXXXXX)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && "$spsim" sweep --best -o out/sweep --plot out/plots >"$work/log" 2>&1); then
  cat "$work/log" >&2
  exit 1
fi
status=0
for name in throughput_vs_seq memory_vs_seq breakdown best_heatmap scaling; do
  if [ "$mode" = "--check" ]; then
    if ! cmp -s "$work/out/plots/$name.png" "$source_dir/docs/img/$name.png"; then
      echo "docs/img/$name.png is not what this build draws; run tests/docs/regenerate_img.sh build/release/spsim ." >&2
      status=1
    fi
  else
    cp "$work/out/plots/$name.png" "$source_dir/docs/img/$name.png"
  fi
done
exit $status
