#!/usr/bin/env bash
# User-space instructions per request, server side, for the HTTP benchmark's routes: each
# server runs under valgrind's callgrind, and N requests of one route are counted between a
# zeroing and a dump of its counters. Instruction counts repeat run to run (wrk's req/s vary
# by +-20% on this 2-core VM), so this is how to see what a change to the hit path costs.
# Not a benchmark of speed: callgrind runs the servers ~50x slower, and it counts no kernel work.
#
#   scripts/callgrind-http.sh             # N=3000 requests per route, 8 connections
#   callgrind_annotate --inclusive=yes <dump>   # where a route's instructions go
#
# Dumps are kept in $OUT (default target/callgrind-http): cg.demo.* (routes of the demo
# without L1: memory, manual, cached), cg.l1.* (the demo with CACHED_JSON_L1), cg.baseline.*.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-3000}
OUT=${OUT:-target/callgrind-http}
command -v valgrind >/dev/null || { echo "valgrind is missing (Debian: apt-get install valgrind)" >&2; exit 1; }
cargo build --quiet --release -p demo-api -p loadgen
mkdir -p "$OUT"
rm -f "$OUT"/cg.*

source scripts/lib/demo.sh
start_redis
redis="redis://127.0.0.1:$redis_port/0"
under_callgrind() { # name port binary [VAR=value ...]
  local name=$1 port=$2 binary=$3
  shift 3
  env REDIS_URL="$redis" PORT="$port" DATABASE_URL="sqlite://$work/$name.db" DEMO_SEED_EVENTS=10 \
    RUST_LOG=warn "$@" valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$name" \
    "target/release/$binary" > "$work/$name.log" 2>&1 &
  other_demo_pids="${other_demo_pids:-} $!"
}
demo_port=$(free_port)
l1_port=$(free_port)
baseline_port=$(free_port)
under_callgrind demo "$demo_port" demo-api DEMO_BENCH_ROUTES=1
demo_pid_cg=$!
under_callgrind l1 "$l1_port" demo-api CACHED_JSON_L1=64MiB CACHED_JSON_NAMESPACE=l1
l1_pid_cg=$!
under_callgrind baseline "$baseline_port" baseline
baseline_pid_cg=$!
for port in $demo_port $l1_port $baseline_port; do
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
done

measure() { # label pid url
  local label=$1 pid=$2 url=$3
  # Warm: the miss that stores the value, the L1's copy, connections and allocator.
  target/release/loadgen --url "$url" --concurrency 8 --duration 120 --max-requests 500 >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  target/release/loadgen --url "$url" --concurrency 8 --duration 300 --max-requests "$N" >/dev/null
  callgrind_control -d "$label" "$pid" >/dev/null 2>&1
  local dump="" total
  for _ in $(seq 60); do
    dump=$(grep -lF "Trigger: dump $label" "$OUT"/cg.*.* 2>/dev/null | head -1) && [[ -n $dump ]] && break
    sleep 0.5
  done
  total=$(awk '/^summary:/ {print $2}' "$dump")
  printf '%-28s %8d instructions per request   (%s)\n' "$label" $((total / N)) "$dump"
}
query="?location_name=Recife"
echo "user-space instructions per request, $N requests per route (callgrind)"
measure "in-memory map, demo" "$demo_pid_cg" "http://127.0.0.1:$demo_port/bench/local_info/memory$query"
measure "hand-written GET, demo" "$demo_pid_cg" "http://127.0.0.1:$demo_port/bench/local_info/manual$query"
measure "cached-json, Redis HIT" "$demo_pid_cg" "http://127.0.0.1:$demo_port/api/v1/local_info$query"
measure "cached-json, L1 HIT" "$l1_pid_cg" "http://127.0.0.1:$l1_port/api/v1/local_info$query"
measure "hand-written, own process" "$baseline_pid_cg" "http://127.0.0.1:$baseline_port/api/v1/local_info$query"
