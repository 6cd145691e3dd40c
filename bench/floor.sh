#!/usr/bin/env bash
# The floor under bench/run.sh's wall time on this machine: the fake server answering N calls at
# the given concurrency to the fastest possible client (bench/fake-openai/src/bin/floor-client.rs,
# which only writes requests and reads responses). N x latency / concurrency assumes a server
# that answers in exactly LATENCY_MS and a free round trip; the floor is what this server and
# this machine's loopback actually allow, for evalgate and any other client alike.
#
#   bench/floor.sh [N=10000] [LATENCY_MS=20] [CONCURRENCY=100] [RUNS=3]
set -euo pipefail
n=${1:-10000}; latency=${2:-20}; concurrency=${3:-100}; runs=${4:-3}
EVALGATE_BIN=${EVALGATE_BIN:-none}  # the floor runs no evalgate
source "$(dirname "$0")/lib.sh"
build_bins
bound=$(python3 -c "print(f'{$n * $latency / 1000 / $concurrency:.2f}')")
for i in $(seq 1 "$runs"); do
  start_server "$work" "$latency"
  line=$("$target_dir/release/floor-client" "$port" "$n" "$concurrency")
  stop_server
  wall=${line#floor_wall=}; wall=${wall%%s *}
  echo "run $i: cases=$n latency=${latency}ms concurrency=$concurrency $line bound=${bound}s ratio=$(python3 -c "print(f'{$wall / $bound:.2f}')")x"
done
