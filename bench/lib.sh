# What bench/run.sh and bench/limits.sh share: building, the fake server, the suite. Source it
# after `set -euo pipefail`; it moves to the repository root, makes a scratch folder $work and
# removes it (and stops the server) on exit.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
server=
trap 'stop_server; rm -rf "$work"' EXIT

# Builds the fake server and, unless EVALGATE_BIN names a binary to measure, this checkout's
# evalgate, both in release mode.
build_bins() {
  if [ -z "${EVALGATE_BIN:-}" ]; then
    cargo build --release -q --bin evalgate
    EVALGATE_BIN="$target_dir/release/evalgate"
  fi
  cargo build --release -q -p fake-openai
}

# start_server DIR LATENCY_MS [OPTION...]: starts the fake server on a free port, its stdout in
# DIR/server.out; sets $server (its pid) and $port.
start_server() {
  server_out=$1/server.out; shift
  "$target_dir/release/fake-openai" 0 "$@" >"$server_out" &
  server=$!
  for _ in $(seq 1 100); do [ -s "$server_out" ] && break; sleep 0.05; done
  port=$(head -1 "$server_out")
}

# Stops the server, which then writes its counters as the last line of $server_out (one JSON
# line; see bench/fake-openai/src/main.rs).
stop_server() {
  [ -n "$server" ] || return 0
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
}

# write_suite DIR N PORT [PROVIDER=openai-compatible|anthropic]: N cases and a suite with three
# checks (`contains`, `regex`, `length`) against the fake server, in DIR. BENCH_MODELS=M (default
# 1) declares M models of the same server, so the suite has M cells; BENCH_REPEATS=R (default 1)
# runs every case R times: N x M x R calls.
write_suite() {
  local dir=$1 n=$2 port=$3 provider=${4:-openai-compatible}
  local endpoint="base_url = \"http://127.0.0.1:$port/v1\""
  if [ "$provider" = anthropic ]; then
    export EVALGATE_BENCH_KEY=bench-dummy-key
    endpoint="base_url = \"http://127.0.0.1:$port\""$'\n''api_key_env = "EVALGATE_BENCH_KEY"'
  fi
  python3 - "$dir" "$n" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
with open(f"{work}/cases.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": f"case-{i:05d}", "vars": {"question": f"What is {i} + {i}?", "topic": "arithmetic"}, "expected": "42"}) + "\n")
PY
  cat >"$dir/evalgate.toml" <<TOML
[suite]
name = "bench"

[defaults]
temperature = 0
max_tokens = 16
repeats = ${BENCH_REPEATS:-1}

[models.fake]
provider = "$provider"
$endpoint
model = "bench"
price = { input_per_mtok = 0.15, output_per_mtok = 0.60 }
$(for m in $(seq 2 "${BENCH_MODELS:-1}"); do
  printf '\n[models.fake%s]\nprovider = "%s"\n%s\nmodel = "bench-%s"\nprice = { input_per_mtok = 0.15, output_per_mtok = 0.60 }\n' "$m" "$provider" "$endpoint" "$m"
done)

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
}
