#!/usr/bin/env bash
# How evalgate copes with provider limits and faults: runs suites against bench/fake-openai with a
# request limit (R = 40/s, 20 ms latency), a token limit, or injected 429s and 500s, and prints a
# markdown table, one row per scenario.
#
#   bench/limits.sh [PATTERN...]      (default: all scenarios; else those whose name matches one
#                                      of the glob patterns, e.g. 'rps40-*-n400' 'faults-*')
#
# Columns: wall time; answered calls per second, sustained (between the server's first and last
# 200) and as a % of the limit; calls rejected per answered one (429s and 500s from the server's
# counters); errored cases (`.summary.errored` of the results file) and evalgate's exit code.
# Each evalgate run is capped at 600 s (`timeout`). A fault scenario's wall time is also given as
# a ratio to the same run without faults, which runs just before it.
# EVALGATE_BIN=PATH measures that binary instead of building this checkout's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build_bins
rps=40 latency=20

# scenario NAME CASES CONCURRENCY PROVIDER LIMIT_PER_S [SERVER_OPTION...]: one run, one row.
scenario() {
  local name=$1 n=$2 conc=$3 provider=$4 limit=$5; shift 5
  local dir="$work/${name%% *}" rc=0 start stats
  mkdir -p "$dir"
  start_server "$dir" "$latency" "$@"
  write_suite "$dir" "$n" "$port" "$provider"
  start=$EPOCHREALTIME
  timeout 600 "$EVALGATE_BIN" run -c "$dir/evalgate.toml" --cache off --concurrency "$conc" \
    --no-progress >"$dir/out" 2>"$dir/err" || rc=$?
  wall=$(python3 -c "print(f'{$EPOCHREALTIME - $start:.2f}')")
  stop_server
  stats=$(tail -1 "$server_out")
  python3 - "$name" "$n" "$conc" "$limit" "$wall" "${clean_wall:-}" "$rc" "$stats" \
    "$dir/.evalgate/results.json" <<'PY'
import json, sys
name, n, conc, limit, wall, clean, rc, stats, results = sys.argv[1:]
s, wall = json.loads(stats), float(wall)
rate = (s["ok"] - 1) / (s["last_ok_s"] - s["first_ok_s"]) if s["ok"] > 1 else 0
share = f"{100 * rate / float(limit):.0f}%" if limit != "-" else "-"
rejected = (s["requests"] - s["ok"]) / s["ok"] if s["ok"] else float("inf")
try:
    errored = json.load(open(results))["summary"]["errored"]
except (OSError, ValueError, KeyError):
    errored = "-"
exit_code = "timeout (600 s)" if rc == "124" else rc
ratio = f" ({wall / float(clean):.1f}× clean)" if clean else ""
print(f"| {name} | {n} | {conc} | {wall:.1f} s{ratio} | {rate:.1f} | {share} | {rejected:.2f} | {errored} | {exit_code} |")
PY
}

# The same N cases at CONCURRENCY without faults, then with 20% 429 (retry-after 1) + 10% 500.
faults() {
  clean_wall=
  scenario "clean-c$2-n$1" "$1" "$2" openai-compatible -
  clean_wall=$wall
  scenario "faults-c$2-n$1" "$1" "$2" openai-compatible - --fail-429 0.2 --fail-500 0.1
  clean_wall=
}

# Sets $tpm such that $rps requests/s fit: from the tokens the server counts per call of N
# cases, measured on an unlimited run of them.
calibrate_tpm() {
  local dir="$work/calibrate-$1"
  mkdir -p "$dir"
  start_server "$dir" 0
  write_suite "$dir" "$1" "$port"
  "$EVALGATE_BIN" run -c "$dir/evalgate.toml" --cache off --concurrency 50 --no-progress \
    >/dev/null 2>&1 || true
  stop_server
  tpm=$(tail -1 "$server_out" | python3 -c \
    "import json, sys; s = json.load(sys.stdin); print(round($rps * 60 * s['tokens'] / s['ok']))")
}

picks=("$@")
wanted() {
  local pick
  [ ${#picks[@]} -eq 0 ] && return 0
  # shellcheck disable=SC2053 # $pick is a glob pattern
  for pick in "${picks[@]}"; do [[ $1 == $pick ]] && return 0; done
  return 1
}

echo "| scenario | cases | concurrency | wall | answered/s | % of limit | rejected per answer | errored | exit |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for n in 400 4000; do
  for conc in 50 200; do
    name="rps$rps-openai-c$conc-n$n"
    wanted "$name" && scenario "$name" "$n" "$conc" openai-compatible "$rps" --rps "$rps"
  done
done
for n in 400 4000; do
  for conc in 50 200; do
    name="rps$rps-none-c$conc-n$n"
    wanted "$name" &&
      scenario "$name" "$n" "$conc" openai-compatible "$rps" --rps "$rps" --headers none
  done
done
wanted rps$rps-anthropic-c50-n400 &&
  scenario rps$rps-anthropic-c50-n400 400 50 anthropic "$rps" --rps "$rps" --headers anthropic
wanted tpm-c50-n400 && calibrate_tpm 400 &&
  scenario "tpm-c50-n400 (--tpm $tpm)" 400 50 openai-compatible "$rps" --tpm "$tpm"
wanted faults-c8-n2000 && faults 2000 8
wanted faults-c50-n2000 && faults 2000 50
exit 0
