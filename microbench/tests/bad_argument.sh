#!/bin/sh
# Argument errors come before any GPU work: one line naming the flag, exit code 1; --help exits 0.
BIN="$1"
err=$("$BIN" collectives -o x.json --ops broadcast 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: expected 1, got $rc: $err"; exit 1; }
case "$err" in
  'spsim-microbench: --ops: unknown value "broadcast"; use '*) ;;
  *) echo "FAIL: unexpected stderr: $err"; exit 1 ;;
esac
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "FAIL: not one line: $err"; exit 1; }
err=$("$BIN" gemm -o x.json 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: gemm without --model: rc $rc"; exit 1; }
case "$err" in 'spsim-microbench: --model: '*) ;; *) echo "FAIL: $err"; exit 1 ;; esac
# Shapes the model cannot take are argument errors on any machine, GPU or not.
err=$("$BIN" attention --model llama-3-8b --tp 3 -o x.json 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: attention --tp 3: rc $rc: $err"; exit 1; }
case "$err" in 'spsim-microbench: --tp: 3 does not split llama-3-8b'*) ;; *) echo "FAIL: $err"; exit 1 ;; esac
"$BIN" --help | grep -q "usage: spsim-microbench" || { echo "FAIL: --help"; exit 1; }
[ ! -e x.json ] || { echo "FAIL: x.json written"; exit 1; }
echo ok
