#!/usr/bin/env bash
# Build-speed benchmark for BENCHMARKS.md ("Breach filter"): on one
# generated 100-million-line HIBP file, in one run, compare
#   - the raw read rate of the file (dd with O_DIRECT, page cache bypassed),
#   - the fast builder into a full-size filter (2.0e9 hashes, 3.35 GiB),
#   - bloom/v3's Add one key at a time into the same full-size filter,
#   - the fast builder into a filter sized for the file (100M, 171 MiB),
# and print the ratios. Big files go to $BENCH_DIR (default /tmp), never
# the repository, and are deleted at the end.
#
#   bash breach/bench/run.sh [LINES]      # from the module root; LINES default 100000000
set -euo pipefail
lines=${1:-100000000}
dir=${BENCH_DIR:-/tmp}/breach-bench.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/bench" ./breach/bench
in="$dir/hibp.txt"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "generating $lines lines..."
"$dir/bench" -gen "$lines" -file "$in"
bytes=$(stat -c %s "$in")
echo "input: $lines lines, $bytes bytes ($(awk -v b="$bytes" -v n="$lines" 'BEGIN{printf "%.1f", b/n}') bytes/line)"

drop() { dd if="$1" iflag=nocache count=0 status=none; }   # drop this file from the page cache

drop "$in"
dd_out=$(dd if="$in" of=/dev/null bs=4M iflag=direct 2>&1 | tail -1)
dd_bps=$(echo "$dd_out" | awk '{for(i=1;i<=NF;i++) if($i=="copied,") {print $1/$(i+1); exit}}')
dd_lps=$(awk -v b="$dd_bps" -v s="$bytes" -v n="$lines" 'BEGIN{printf "%.0f", b/(s/n)}')
echo "dd iflag=direct: $dd_out -> $dd_lps lines/s"

field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k {print $2}'; }

drop "$in"
fast=$("$dir/bench" -file "$in" -out "$dir/full.bloom" -expected 2000000000)
echo "fast, full-size filter:    $fast"
rm -f "$dir/full.bloom"

drop "$in"
one=$("$dir/bench" -file "$in" -out "$dir/one.bloom" -expected 2000000000 -one-at-a-time)
echo "one-at-a-time, full-size:  $one"
rm -f "$dir/one.bloom"

drop "$in"
small=$("$dir/bench" -file "$in" -out "$dir/small.bloom" -expected "$lines")
echo "fast, 100M-sized filter:   $small"
rm -f "$dir/small.bloom"

awk -v f="$(field "$fast" hashes_per_s)" -v fi="$(field "$fast" insert_hashes_per_s)" \
    -v o="$(field "$one" hashes_per_s)" -v oi="$(field "$one" insert_hashes_per_s)" -v d="$dd_lps" 'BEGIN{
  printf "ratios (full-size filter): fast/one-at-a-time = %.2fx (insert phase %.2fx); fast/dd = %.2f (insert phase %.2f); one-at-a-time/dd = %.2f\n", f/o, fi/oi, f/d, fi/d, o/d
  printf "full corpus (2.0e9 hashes) at the fast insert rate: %.1f min\n", 2e9/fi/60 }'
