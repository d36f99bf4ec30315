#!/bin/sh
# `mpirun -n 2 spsim sweep` against a one-process run: the same CSV, JSON and stdout bytes (so
# rank 1 printed nothing on stdout), no journal left, --resume of a one-process journal under
# mpirun gives the same bytes, and --jobs 2 under mpirun is one error line, exit non-zero.
# Usage: mpi_same_bytes.sh SPSIM MPIEXEC WORKDIR
set -u
spsim=$1
mpiexec=$2
dir=$3
rm -rf "$dir" && mkdir -p "$dir" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
mpi() { "$mpiexec" --allow-run-as-root --oversubscribe -n 2 "$@"; }
args="sweep --best --gpus 8,16 --seq 8K:32K --progress never"

# shellcheck disable=SC2086
"$spsim" $args -o "$dir/one" > "$dir/one.stdout" 2> "$dir/one.stderr" || fail "one-process run: $(cat "$dir/one.stderr")"
# shellcheck disable=SC2086
mpi "$spsim" $args -o "$dir/mpi" > "$dir/mpi.stdout" 2> "$dir/mpi.stderr" || fail "mpirun run: $(cat "$dir/mpi.stderr")"
cmp "$dir/one.csv" "$dir/mpi.csv" || fail "CSV differs"
cmp "$dir/one.json" "$dir/mpi.json" || fail "JSON differs"
cmp "$dir/one.stdout" "$dir/mpi.stdout" || fail "stdout differs (a rank other than 0 printed?)"
[ -s "$dir/one.stdout" ] || fail "no best-plan table on stdout"
[ ! -e "$dir/mpi.partial" ] || fail "journal left behind"
[ "$(grep -c '^wrote ' "$dir/mpi.stderr")" = 1 ] || fail "expected one 'wrote' line: $(cat "$dir/mpi.stderr")"

# A full one-process journal whose final write failed (PREFIX.csv is a folder), cut to 3 rows,
# then resumed by 2 ranks.
mkdir "$dir/res.csv"
# shellcheck disable=SC2086
"$spsim" $args -o "$dir/res" > /dev/null 2>&1 && fail "writing onto a folder should fail"
rmdir "$dir/res.csv"
head -n 4 "$dir/res.partial" > "$dir/res.cut" && mv "$dir/res.cut" "$dir/res.partial"
# shellcheck disable=SC2086
mpi "$spsim" $args -o "$dir/res" --resume > /dev/null 2> "$dir/res.stderr" || fail "resume under mpirun: $(cat "$dir/res.stderr")"
cmp "$dir/one.csv" "$dir/res.csv" || fail "resumed CSV differs"
cmp "$dir/one.json" "$dir/res.json" || fail "resumed JSON differs"

# --jobs with mpirun: one error line from rank 0, non-zero exit, nothing written.
# shellcheck disable=SC2086
mpi "$spsim" $args -o "$dir/jobs" --jobs 2 > "$dir/jobs.stdout" 2> "$dir/jobs.stderr" && fail "--jobs 2 under mpirun should fail"
[ "$(grep -c '^spsim: error: --jobs: cannot be combined with mpirun' "$dir/jobs.stderr")" = 1 ] ||
  fail "expected one --jobs error line: $(cat "$dir/jobs.stderr")"
[ ! -s "$dir/jobs.stdout" ] || fail "stdout not empty on error"
[ ! -e "$dir/jobs.csv" ] || fail "CSV written despite the error"
echo "ok"
