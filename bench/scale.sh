#!/usr/bin/env bash
# How evalgate scales: wall time, CPU per call and peak RSS of `run`, `compare`, `merge` and
# `report` from 1,000 to 1,000,000 calls, against bench/fake-openai.
#
#   bench/scale.sh [SIZE...]      sizes from: 1k 10k 100k 1m (default: all four)
#
# Each size is CASES x MODELS x REPEATS calls, four models (so four cells), run with
# --cache off; the concurrency is the run's in all, a quarter of it per model. 100k is the
# nightly run of issue 10 (5,000 cases x 4 models x 5 repeats); 1m is the same suite with 50
# repeats:
#   1k   =   250 cases x 4 x 1,   20 ms latency, concurrency 100
#   10k  = 2,500 cases x 4 x 1,   20 ms latency, concurrency 100
#   100k = 5,000 cases x 4 x 5,   20 ms latency, concurrency 200
#   1m   = 5,000 cases x 4 x 50,   0 ms latency, concurrency 256
# What memory holds grows with the suite's cases (about 2.5 KB each: the dataset is loaded),
# not with the calls they make: 100k and 1m have the same 5,000 cases.
# Then: `compare` of the results file with itself, `report --junit --markdown` of it, and `merge`
# of the same suite run as two shards (`run --shard 1/2`, `--shard 2/2`). One row per command and
# size: wall, the bound (calls x latency / concurrency, for `run`), CPU per call, peak RSS.
# EVALGATE_BIN=PATH measures that binary instead of building this checkout's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
build_bins

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1k 10k 100k 1m)

# measure LABEL CALLS BOUND_S COMMAND...: runs COMMAND under GNU time, prints one row.
measure() {
  local label=$1 calls=$2 bound=$3; shift 3
  set +e
  /usr/bin/time -v -o "$work/time" "$@" >"$work/out" 2>"$work/err"
  local code=$?
  set -e
  # `run` and `merge` exit 0 or 1 (the gate's verdict); anything else is a failure.
  if [ "$code" -gt 1 ]; then
    echo "$label exited $code"; tail -5 "$work/err"; tail -5 "$work/out"; exit 1
  fi
  python3 - "$work/time" "$label" "$calls" "$bound" <<'PY'
import re, sys
path, label, calls, bound = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
t = open(path).read()
def field(name):
    return re.search(re.escape(name) + r": (.*)", t).group(1).strip()
parts = [float(p) for p in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
rss = int(field("Maximum resident set size (kbytes)")) / 1024
ratio = f"{wall / bound:.2f}x" if bound > 0 else "-"
print(f"| {label} | {calls:,} | {wall:.2f} s | {ratio} | {cpu / calls * 1000:.3f} ms | {rss:.1f} MB |")
PY
}

echo "| command | calls | wall | to the bound | CPU per call | peak RSS |"
echo "|---|---:|---:|---:|---:|---:|"
for size in "${sizes[@]}"; do
  case $size in
    1k) cases=250; repeats=1; latency=20; conc=100 ;;
    10k) cases=2500; repeats=1; latency=20; conc=100 ;;
    100k) cases=5000; repeats=5; latency=20; conc=200 ;;
    1m) cases=5000; repeats=50; latency=0; conc=256 ;;
    *) echo "unknown size $size (1k, 10k, 100k, 1m)"; exit 2 ;;
  esac
  calls=$((cases * 4 * repeats))
  dir="$work/$size"
  mkdir -p "$dir"
  stop_server
  start_server "$work" "$latency"
  BENCH_MODELS=4 BENCH_REPEATS=$repeats write_suite "$dir" "$cases" "$port"
  bound=$(python3 -c "print($calls * $latency / 1000 / $conc)")
  measure "run ($size)" "$calls" "$bound" "$EVALGATE_BIN" run -c "$dir/evalgate.toml" \
    --cache off --concurrency $((conc / 4)) --no-progress --results "$dir/results.json"
  ls -l "$dir/results.json" | awk '{printf "results file: %.1f MB\n", $5 / 1048576}' >&2
  measure "compare ($size)" "$calls" 0 "$EVALGATE_BIN" compare "$dir/results.json" "$dir/results.json"
  measure "report ($size)" "$calls" 0 "$EVALGATE_BIN" report "$dir/results.json" \
    --junit "$dir/junit.xml" --markdown "$dir/report.md"
  for i in 1 2; do
    "$EVALGATE_BIN" run -c "$dir/evalgate.toml" --cache off --concurrency $((conc / 4)) --no-progress \
      --shard "$i/2" --results "$dir/shard-$i.json" >/dev/null 2>&1 || [ $? -eq 1 ]
  done
  measure "merge ($size)" "$calls" 0 "$EVALGATE_BIN" merge "$dir/shard-1.json" "$dir/shard-2.json" \
    --results "$dir/merged.json"
  rm -rf "$dir"
done
