#!/bin/sh
# On a machine without a CUDA device spsim-microbench prints one line, "no CUDA device found: run
# this on a GPU node", exits 2 and writes nothing. On a GPU machine the check does not apply: 77
# (ctest SKIP_RETURN_CODE).
BIN="$1"; OUT="$2"
rm -f "$OUT"
if nvidia-smi -L >/dev/null 2>&1; then echo "a GPU is present: skipped"; exit 77; fi
"$BIN" memory -o "$OUT" -b 1M -e 2M >"$OUT.stdout" 2>"$OUT.stderr"
rc=$?
fail() { echo "FAIL: $1"; echo "stdout: $(cat "$OUT.stdout")"; echo "stderr: $(cat "$OUT.stderr")"; exit 1; }
[ "$rc" -eq 2 ] || fail "expected exit code 2, got $rc"
[ "$(cat "$OUT.stderr")" = "no CUDA device found: run this on a GPU node" ] || fail "stderr is not the one line"
[ "$(wc -l <"$OUT.stderr")" -eq 1 ] || fail "stderr is not exactly one line"
[ ! -s "$OUT.stdout" ] || fail "stdout is not empty"
[ ! -e "$OUT" ] || fail "$OUT was written"
rm -f "$OUT.stdout" "$OUT.stderr"
echo ok
