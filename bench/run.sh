#!/usr/bin/env bash
# Measures evalgate's overhead: N cases against a fake server with a fixed latency at a given
# concurrency. The lower bound on wall time is N x latency / concurrency.
#
#   bench/run.sh [N=10000] [LATENCY_MS=20] [CONCURRENCY=100]
#   BENCH_CACHED=1 bench/run.sh [N] ...    (a fully cached re-run, see below)
#
# Prints wall time, its ratio to the bound, peak RSS and CPU time per case (GNU time).
# EVALGATE_BIN=PATH measures that binary instead of building this checkout's (bench/ab.sh uses
# it to compare two commits in the same session).
# BENCH_CACHED=1 measures a fully cached re-run instead: a first run with `--cache rw` fills the
# response cache (not measured), then the same run again is measured, every call served from the
# cache. Its "bound" is the uncached one, for reference: a cached re-run should take a fraction.
set -euo pipefail
n=${1:-10000}; latency=${2:-20}; concurrency=${3:-100}
cached=${BENCH_CACHED:-}
cache_mode=off
[ -n "$cached" ] && cache_mode=rw
source "$(dirname "$0")/lib.sh"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
build_bins
start_server "$work" "$latency"
write_suite "$work" "$n" "$port"

if [ -n "$cached" ]; then
  "$EVALGATE_BIN" run -c "$work/evalgate.toml" --cache rw --concurrency "$concurrency" \
    --no-progress >"$work/out" 2>"$work/err" || {
    echo "evalgate (filling the cache) exited $?"; tail -20 "$work/err"; exit 1; }
fi
/usr/bin/time -v -o "$work/time" "$EVALGATE_BIN" run -c "$work/evalgate.toml" \
  --cache "$cache_mode" --concurrency "$concurrency" --no-progress >"$work/out" 2>"$work/err" || {
  echo "evalgate exited $?"; tail -20 "$work/err"; tail -20 "$work/out"; exit 1; }
if [ -n "$cached" ]; then
  hits=$(python3 -c "import json, sys; print(sum(r['cached'] for r in json.load(open(sys.argv[1]))['results']))" \
    "$work/.evalgate/results.json")
  [ "$hits" = "$n" ] || { echo "only $hits of $n calls were served from the cache"; exit 1; }
fi

python3 - "$work" "$n" "$latency" "$concurrency" "$cached" <<'PY'
import re, sys
work, n, latency, conc = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
cached = bool(sys.argv[5])
t = open(f"{work}/time").read()
def field(name):
    return re.search(re.escape(name) + r": (.*)", t).group(1).strip()
wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
rss_mb = int(field("Maximum resident set size (kbytes)")) / 1024
bound = n * latency / 1000 / conc
print(f"cases={n} latency={latency:.0f}ms concurrency={conc}" + (" cached re-run" if cached else ""))
print(f"wall={secs:.2f}s bound={bound:.2f}s ratio={secs / bound:.2f}x")
print(f"peak_rss={rss_mb:.1f}MB cpu={cpu:.2f}s cpu_per_case={cpu / n * 1000:.3f}ms")
PY
