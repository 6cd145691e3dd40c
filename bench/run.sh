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
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [ -z "${EVALGATE_BIN:-}" ]; then
  cargo build --release -q --bin evalgate
  EVALGATE_BIN="$root/target/release/evalgate"
fi
cargo build --release -q --manifest-path bench/fake-openai/Cargo.toml --target-dir target
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

target/release/fake-openai 0 "$latency" >"$work/port" &
server=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")

python3 - "$work" "$n" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
with open(f"{work}/cases.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": f"case-{i:05d}", "vars": {"question": f"What is {i} + {i}?", "topic": "arithmetic"}, "expected": "42"}) + "\n")
PY
cat >"$work/evalgate.toml" <<TOML
[suite]
name = "bench"

[defaults]
temperature = 0
max_tokens = 16

[models.fake]
provider = "openai-compatible"
base_url = "http://127.0.0.1:$port/v1"
model = "bench"
price = { input_per_mtok = 0.15, output_per_mtok = 0.60 }

[prompts.ask]
system = "You are a careful calculator. Answer with the number only."
user = "Topic: {{ topic }}. {{ question }}"

[datasets.cases]
file = "cases.jsonl"

[[checks]]
type = "contains"
value = "{{ expected }}"

[[checks]]
type = "regex"
pattern = "\\\\d+"

[[checks]]
type = "length"
max = 200
TOML

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
