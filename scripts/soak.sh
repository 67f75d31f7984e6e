#!/usr/bin/env bash
# The soak: demo-api under load for DURATION seconds with KEYS made-up place names beside the
# 80 cities (half the requests each: hot names and a long tail), the L1 at 64 MiB, and Redis
# restarted twice (kill -9, then started again, empty) and frozen once (SIGSTOP for a tenth of
# the run, then SIGCONT) along the way. The run is cut in ten phases:
#
#   up, up, restarted, restarted, hung, resumed, resumed, restarted again, restarted again, after
#
# Files, in OUT (default target/soak): load.csv (loadgen: req/s, unexpected answers, p50/p99
# per INTERVAL), samples.csv (the demo's resident memory and tasks alive, Redis's clients, keys
# and memory, every INTERVAL), report.txt (loadgen's table per phase). The checks at the end:
# 0 unexpected answers (a city answered 2xx, a made-up name 404: anything else, a transport
# error included, counts), the demo's resident memory never above its baseline + the L1's
# 64 MiB + RSS_SLACK_MIB, and, once the load is over, its tasks and the cache's Redis clients
# back to their baseline (taken after a short warm-up).
#
#   scripts/soak.sh                               # 20 minutes, 1,000,000 names, release build
#   DURATION=30 PROFILE=debug scripts/soak.sh     # the quick mode CI runs
#   scripts/soak.sh --plot                        # then OUT/soak.png (python3 + matplotlib)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-1200}
KEYS=${KEYS:-1000000}
CONCURRENCY=${CONCURRENCY:-32}
ORIGIN_MS=${ORIGIN_MS:-5}
INTERVAL=${INTERVAL:-10}
PROFILE=${PROFILE:-release}
OUT=${OUT:-target/soak}
# What the process may hold beyond its baseline and a full L1: the allocator's slack, the L1's
# bookkeeping beside the bytes it counts, connection buffers under load.
RSS_SLACK_MIB=${RSS_SLACK_MIB:-32}
L1_MIB=64
plot=false
[[ ${1:-} == --plot ]] && plot=true

source scripts/lib/demo.sh
build_demo "$PROFILE"
start_redis
start_demo "$PROFILE" DEMO_ORIGIN_LATENCY_MS="$ORIGIN_MS" CACHED_JSON_L1="${L1_MIB}MiB"
mkdir -p "$OUT"
loadgen="target/$PROFILE/loadgen"
url="http://127.0.0.1:$demo_port/api/v1/local_info?location_name={city}"
cli() { timeout 2 "${REDIS_CLI_BIN:-redis-cli}" -p "$redis_port" "$@" 2>/dev/null; }

# One line of what the demo and Redis hold (empty fields when Redis is frozen): the demo's RSS
# in KiB, its tasks alive, Redis's clients other than this one, its keys, its memory in bytes.
sample() {
  local rss tasks clients keys memory
  rss=$(ps -o rss= -p "$demo_pid" | tr -d ' ')
  tasks=$(curl -sf --max-time 2 "http://127.0.0.1:$demo_port/metrics" |
    sed -n 's/^demo_tokio_tasks_alive \([0-9]*\)$/\1/p')
  clients=$(cli info clients | sed -n 's/^connected_clients:\([0-9]*\).*/\1/p')
  [[ -n $clients ]] && clients=$((clients - 1))
  keys=$(cli dbsize || true)
  memory=$(cli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
  echo "$rss,$tasks,$clients,$keys,$memory"
}

# The warm-up: every path taken once (cities, made-up names, the cache's connections opened),
# then the baseline, once what it started has ended.
"$loadgen" --url "$url" --cities demo-api/data/cities.csv --keys 1000 \
  --duration 3 --concurrency "$CONCURRENCY" >/dev/null
sleep 3
baseline=$(sample)
IFS=, read -r base_rss base_tasks base_clients _ _ <<<"$baseline"
echo "demo-api ($PROFILE) on :$demo_port, redis on :$redis_port; baseline after warm-up: RSS $((base_rss / 1024)) MiB, $base_tasks tasks alive, $base_clients Redis clients"

echo "seconds,rss_kib,tasks_alive,redis_clients,redis_keys,redis_used_memory" > "$OUT/samples.csv"
echo "0,$baseline" >> "$OUT/samples.csv"
started=$SECONDS
(
  while sleep "$INTERVAL"; do
    echo "$((SECONDS - started)),$(sample)" >> "$OUT/samples.csv"
  done
) &
sampler=$!

restart="kill -9 \$(cat $work/redis.pid); sleep 1; $redis_start"
"$loadgen" --url "$url" --cities demo-api/data/cities.csv --keys "$KEYS" \
  --duration "$DURATION" --concurrency "$CONCURRENCY" --max-requests 1000000000 \
  --csv "$OUT/load.csv" --interval "$INTERVAL" \
  --phases "up,up,restarted,restarted,hung,resumed,resumed,restarted again,restarted again,after" \
  --on-phase true --on-phase "$restart" --on-phase true \
  --on-phase "kill -STOP \$(cat $work/redis.pid)" --on-phase "kill -CONT \$(cat $work/redis.pid)" \
  --on-phase true --on-phase "$restart" --on-phase true --on-phase true \
  --health "http://127.0.0.1:$demo_port/health" | tee "$OUT/report.txt"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true

# After the load: what the run started has ended (a request's work, a refresh, a reconnection).
sleep 5
after=$(sample)
echo "$((SECONDS - started)),$after" >> "$OUT/samples.csv"
IFS=, read -r _ after_tasks after_clients _ _ <<<"$after"
max_rss=$(tail -n +2 "$OUT/samples.csv" | cut -d, -f2 | sort -n | tail -1)
bound=$((base_rss + (L1_MIB + RSS_SLACK_MIB) * 1024))
echo "after the load: $after_tasks tasks alive (baseline $base_tasks), $after_clients Redis clients (baseline $base_clients); highest RSS $((max_rss / 1024)) MiB (bound: baseline $((base_rss / 1024)) + L1 $L1_MIB + $RSS_SLACK_MIB MiB = $((bound / 1024)) MiB)"

failed=0
grep -q '^unexpected answers in all: 0$' "$OUT/report.txt" || { echo "FAIL: unexpected answers" >&2; failed=1; }
((max_rss <= bound)) || { echo "FAIL: resident memory above its bound" >&2; failed=1; }
((after_tasks <= base_tasks)) || { echo "FAIL: tasks left over" >&2; failed=1; }
((after_clients == base_clients)) || { echo "FAIL: Redis clients differ from the baseline" >&2; failed=1; }

if $plot; then
  python=python3
  if ! python3 -c 'import matplotlib' 2>/dev/null; then
    [[ -x target/plot-venv/bin/python ]] || python3 -m venv target/plot-venv
    target/plot-venv/bin/python -c 'import matplotlib' 2>/dev/null ||
      target/plot-venv/bin/pip install --quiet 'matplotlib>=3.8,<4'
    python=target/plot-venv/bin/python
  fi
  "$python" scripts/soak-plot.py "$OUT" "$DURATION"
fi
exit "$failed"
