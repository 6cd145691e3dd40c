#!/usr/bin/env bash
# A/B of evalgate's overhead: this checkout against another commit, measured in the same
# session, runs interleaved (A B A B ...) so that a noisy machine slows both alike.
#
#   bench/ab.sh BASE_REV [RUNS=5] [N=10000] [LATENCY_MS=20] [CONCURRENCY=100]
#
# BASE_REV is built in a git work tree under target/ab/ (its own target folder, kept between
# runs so a second A/B does not rebuild it). Prints every run and, per side, the median and the
# range of wall time, CPU per case and peak RSS. BENCH_CACHED=1 compares fully cached re-runs
# (see bench/run.sh).
set -euo pipefail
base_rev=${1:?usage: bench/ab.sh BASE_REV [RUNS] [N] [LATENCY_MS] [CONCURRENCY]}
runs=${2:-5}; n=${3:-10000}; latency=${4:-20}; concurrency=${5:-100}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sha=$(git rev-parse --short "$base_rev")
tree="$root/target/ab/$sha"
if [ ! -d "$tree" ]; then
  git worktree add --detach "$tree" "$sha" >/dev/null
fi
echo "building A (base $sha) and B (this checkout, $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'))" >&2
CARGO_TARGET_DIR="$root/target/ab/target" cargo build --release -q --bin evalgate \
  --manifest-path "$tree/Cargo.toml"
cargo build --release -q --bin evalgate
base_bin="$root/target/ab/target/release/evalgate"
head_bin="$root/target/release/evalgate"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$runs"); do
  for side in A B; do
    bin=$base_bin; [ "$side" = B ] && bin=$head_bin
    line=$(EVALGATE_BIN="$bin" bash bench/run.sh "$n" "$latency" "$concurrency" | tr '\n' ' ')
    echo "$side run $i: $line"
    echo "$side $line" >>"$out"
  done
done

python3 - "$out" <<'PY'
import re, statistics, sys
rows = {"A": [], "B": []}
for line in open(sys.argv[1]):
    side = line.split()[0]
    get = lambda k: float(re.search(k + r"=([0-9.]+)", line).group(1))
    rows[side].append((get("wall"), get("cpu_per_case"), get("peak_rss")))
print()
print("side  runs  wall median (range)      cpu/case median (range)      peak RSS median (range)")
for side, name in (("A", "base"), ("B", "head")):
    r = rows[side]
    cols = []
    for i, unit, fmt in ((0, "s", "{:.2f}"), (1, "ms", "{:.3f}"), (2, "MB", "{:.1f}")):
        v = [x[i] for x in r]
        cols.append(f"{fmt.format(statistics.median(v))} {unit} ({fmt.format(min(v))}–{fmt.format(max(v))})")
    print(f"{side} {name:5} {len(r):3}   {cols[0]:24} {cols[1]:28} {cols[2]}")
a = statistics.median(x[1] for x in rows["A"]); b = statistics.median(x[1] for x in rows["B"])
print(f"\nCPU per case, head vs base: {b / a:.2f}x")
PY
