#!/usr/bin/env bash
# Measures evalgate's overhead: N cases against a fake server with a fixed latency at a given
# concurrency. The lower bound on wall time is N x latency / concurrency.
#
#   bench/run.sh [N=10000] [LATENCY_MS=20] [CONCURRENCY=100]
#
# Prints wall time, its ratio to the bound, peak RSS and CPU time per case (GNU time).
# EVALGATE_BIN=PATH measures that binary instead of building this checkout's (bench/ab.sh uses
# it to compare two commits in the same session).
set -euo pipefail
n=${1:-10000}; latency=${2:-20}; concurrency=${3:-100}
source "$(dirname "$0")/lib.sh"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
build_bins
start_server "$work" "$latency"
write_suite "$work" "$n" "$port"

/usr/bin/time -v -o "$work/time" "$EVALGATE_BIN" run -c "$work/evalgate.toml" \
  --cache off --concurrency "$concurrency" --no-progress >"$work/out" 2>"$work/err" || {
  echo "evalgate exited $?"; tail -20 "$work/err"; tail -20 "$work/out"; exit 1; }

python3 - "$work" "$n" "$latency" "$concurrency" <<'PY'
import re, sys
work, n, latency, conc = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
t = open(f"{work}/time").read()
def field(name):
    return re.search(re.escape(name) + r": (.*)", t).group(1).strip()
wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
rss_mb = int(field("Maximum resident set size (kbytes)")) / 1024
bound = n * latency / 1000 / conc
print(f"cases={n} latency={latency:.0f}ms concurrency={conc}")
print(f"wall={secs:.2f}s bound={bound:.2f}s ratio={secs / bound:.2f}x")
print(f"peak_rss={rss_mb:.1f}MB cpu={cpu:.2f}s cpu_per_case={cpu / n * 1000:.3f}ms")
PY
