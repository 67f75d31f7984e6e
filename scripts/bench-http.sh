#!/usr/bin/env bash
# HTTP benchmark of demo-api's GET /api/v1/local_info on a cache HIT, against a hand-written
# Redis cache-aside handler in the same binary, and against the same answer with no cache.
# Loopback only; each row runs for DURATION seconds with wrk.
#
#   scripts/bench-http.sh                              # release build, 10 s per row
#   DURATION=1 PROFILE=debug scripts/bench-http.sh     # the quick mode CI runs
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-release}

if ! command -v wrk >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "wrk not found: installing Debian's wrk package"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is missing: install it (Debian: sudo apt-get install wrk)" >&2
    exit 1
  fi
fi

if [[ $PROFILE == release ]]; then
  cargo build --quiet --release -p demo-api
else
  cargo build --quiet -p demo-api
fi

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
cleanup() {
  [[ -n ${demo_pid:-} ]] && kill "$demo_pid" 2>/dev/null || true
  [[ -f $work/redis.pid ]] && kill -9 "$(cat "$work/redis.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log"
REDIS_URL="redis://127.0.0.1:$redis_port/0" PORT=$demo_port DATABASE_URL="sqlite://$work/demo.db" \
  DEMO_SEED_EVENTS=100 DEMO_BENCH_ROUTES=1 RUST_LOG=warn \
  "target/$PROFILE/demo-api" > "$work/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$demo_port") 2>/dev/null && break
  sleep 0.1
done

base="http://127.0.0.1:$demo_port"
rows=(
  "cached-json (#[cached_json], HIT)|$base/api/v1/local_info?location_name=Recife"
  "hand-written redis-rs GET (HIT)|$base/bench/local_info/manual?location_name=Recife"
  "no cache (geocoder, 400 ms)|$base/bench/local_info/uncached?location_name=Recife"
)
echo "demo-api ($PROFILE), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $(nproc) cores"
echo
echo "| route | req/s | p50 | p99 | vs hand-written |"
echo "|---|---|---|---|---|"
manual_rps=""
for row in "${rows[@]}"; do
  name=${row%%|*}
  url=${row#*|}
  # Warm: the first request is the miss that stores the value.
  wrk -t1 -c1 -d1s "$url" >/dev/null
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  [[ $name == hand-written* ]] && manual_rps=$rps
  echo "$name|$rps|$p50|$p99|${errors:-0}" >> "$work/rows"
done
while IFS='|' read -r name rps p50 p99 errors; do
  ratio=$(awk -v a="$rps" -v b="$manual_rps" 'BEGIN { printf "%.2fx", a / b }')
  note=""
  [[ $errors != 0 ]] && note=" ($errors non-2xx)"
  printf '| %s | %.0f | %s | %s | %s%s |\n' "$name" "$rps" "$p50" "$p99" "$ratio" "$note"
done < "$work/rows"
