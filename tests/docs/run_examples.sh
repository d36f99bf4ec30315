#!/bin/sh
# Every `spsim ...` example of README.md and docs/*.md (shell and console blocks) runs and exits 0,
# in document order, in one scratch folder (so `spsim plot out/sweep.json` finds the sweep before
# it). Skipped, with the reason printed: elided commands (`...`), placeholders for the user's own
# files (~/, all_gather_perf.log, my-cluster.json), synopses ([...]) and `bench des` (minutes;
# tests/engine covers the DES).
# Usage: tests/docs/run_examples.sh SPSIM_BINARY SOURCE_DIR
set -eu
spsim=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source_dir=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/spsim_examples_XXXXXX)
trap 'rm -rf "$work"' EXIT
ln -s "$source_dir/experiments" "$work/experiments"
ln -s "$source_dir/plots" "$work/plots"
ln -s "$source_dir/tests" "$work/tests"   # README launch examples read tests/data/launch/
/usr/bin/python3 - "$source_dir" > "$work/examples.txt" <<'PY'
import glob, os, sys
root = sys.argv[1]
files = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
for path in files:
    in_block, lang, pending = False, "", ""
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        text = line.rstrip("\n")
        if text.startswith("```"):
            in_block, lang = (not in_block), text[3:].strip()
            continue
        if not in_block or lang not in ("sh", "bash", "console", ""):
            continue
        text = text.strip()
        if text.startswith("$ "):
            text = text[2:]
        if pending:
            text, pending = pending + " " + text, ""
        if text.endswith("\\"):
            pending = text[:-1]
            continue
        if text.startswith("spsim "):
            command = text.split("  #")[0].split(" # ")[0].strip()
            print("%s:%d\t%s" % (os.path.relpath(path, root), number, command))
PY
failed=0
ran=0
while IFS="$(printf '\t')" read -r where command; do
  case "$command" in
    *"..."*|*"~/"*|*all_gather_perf.log*|*my-cluster.json*|*"["*|"spsim bench des"*)
      echo "skip $where: $command"
      continue ;;
  esac
  ran=$((ran + 1))
  args=${command#spsim }
  if ! (cd "$work" && eval "\"$spsim\" $args" >"$work/out.txt" 2>"$work/err.txt"); then
    echo "FAIL $where: $command" >&2
    cat "$work/err.txt" >&2
    failed=$((failed + 1))
  fi
done < "$work/examples.txt"
echo "$ran examples run, $failed failed"
[ "$failed" -eq 0 ]
