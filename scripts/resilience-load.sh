#!/usr/bin/env bash
# Load test of demo-api's GET /api/v1/local_info (80 cities, round robin) with Redis killed at
# a third of the run and restarted at two thirds. Loopback only, bounded in time.
#
#   scripts/resilience-load.sh              # 30 s, 32 connections, 50 ms origin, release build
#   DURATION=6 PROFILE=debug scripts/resilience-load.sh   # the quick mode CI runs
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30}
CONCURRENCY=${CONCURRENCY:-32}
ORIGIN_MS=${ORIGIN_MS:-50}
PROFILE=${PROFILE:-release}

if [[ $PROFILE == release ]]; then
  cargo build --quiet --release -p demo-api -p loadgen
else
  cargo build --quiet -p demo-api -p loadgen
fi
bin="target/$PROFILE"

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

work=$(mktemp -d)
redis_port=$(free_port)
demo_port=$(free_port)
redis_start="redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile $work/redis.pid --logfile $work/redis.log"
cleanup() {
  [[ -n ${demo_pid:-} ]] && kill "$demo_pid" 2>/dev/null || true
  [[ -f $work/redis.pid ]] && kill -9 "$(cat "$work/redis.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

eval "$redis_start"
REDIS_URL="redis://127.0.0.1:$redis_port/0" PORT=$demo_port DATABASE_URL="sqlite://$work/demo.db" \
  DEMO_ORIGIN_LATENCY_MS=$ORIGIN_MS DEMO_SEED_EVENTS=100 RUST_LOG=warn \
  "$bin/demo-api" > "$work/demo.log" 2>&1 &
demo_pid=$!
# It listens once its database is migrated and seeded.
for _ in $(seq 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$demo_port") 2>/dev/null && break
  sleep 0.1
done

echo "demo-api ($PROFILE) on :$demo_port, redis on :$redis_port, origin latency $ORIGIN_MS ms"
"$bin/loadgen" \
  --url "http://127.0.0.1:$demo_port/api/v1/local_info?location_name={city}" \
  --cities demo-api/data/cities.csv \
  --duration "$DURATION" --concurrency "$CONCURRENCY" \
  --phases "redis up,redis killed,redis restarted" \
  --on-phase "kill -9 \$(cat $work/redis.pid)" \
  --on-phase "$redis_start" \
  --health "http://127.0.0.1:$demo_port/health" | tee "$work/report.txt"

# Zero non-2xx is the point of the exercise.
grep -q '^non-2xx in all: 0$' "$work/report.txt"
