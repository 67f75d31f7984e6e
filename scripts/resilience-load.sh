#!/usr/bin/env bash
# Load test of demo-api's GET /api/v1/local_info (80 cities, round robin) through five equal
# phases: Redis up, hung (SIGSTOP), resumed (SIGCONT), killed (kill -9), restarted. Loopback
# only, bounded in time.
#
#   scripts/resilience-load.sh              # 30 s, 32 connections, 50 ms origin, release build
#   DURATION=6 PROFILE=debug scripts/resilience-load.sh   # the quick mode CI runs
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-50}
CONCURRENCY=${CONCURRENCY:-32}
ORIGIN_MS=${ORIGIN_MS:-50}
PROFILE=${PROFILE:-release}

source scripts/lib/demo.sh
build_demo "$PROFILE"
start_redis
start_demo "$PROFILE" DEMO_ORIGIN_LATENCY_MS="$ORIGIN_MS"

echo "demo-api ($PROFILE) on :$demo_port, redis on :$redis_port, origin latency $ORIGIN_MS ms"
"target/$PROFILE/loadgen" \
  --url "http://127.0.0.1:$demo_port/api/v1/local_info?location_name={city}" \
  --cities demo-api/data/cities.csv \
  --duration "$DURATION" --concurrency "$CONCURRENCY" \
  --phases "redis up,redis hung,redis resumed,redis killed,redis restarted" \
  --on-phase "kill -STOP \$(cat $work/redis.pid)" \
  --on-phase "kill -CONT \$(cat $work/redis.pid)" \
  --on-phase "kill -9 \$(cat $work/redis.pid)" \
  --on-phase "$redis_start" \
  --health "http://127.0.0.1:$demo_port/health" | tee "$work/report.txt"

# Zero non-2xx is the point of the exercise.
grep -q '^non-2xx in all: 0$' "$work/report.txt"
