#!/usr/bin/env bash
# HTTP benchmark of demo-api's GET /api/v1/local_info on a cache HIT, with its L1
# (CACHED_JSON_L1, a second demo-api process) and without, against a hand-written actix service
# in a process of its own (demo-api's `baseline` binary: one global ConnectionManager, GET +
# from_slice, as a new user writes it), hand-written handlers in the demo's binary (a Redis
# cache-aside; an in-memory map), the same answer with no cache, and cached-json with two
# tags (the price of tags on a HIT).
# Loopback only; each row runs for DURATION seconds with wrk.
#
# The machine's speed drifts between runs, so rows are interleaved: ROUNDS rounds of every row,
# reporting the median req/s per row and the median of the per-round ratios.
#
#   scripts/bench-http.sh                                    # release, 3 rounds of 5 s per row
#   ROUNDS=1 DURATION=1 PROFILE=debug scripts/bench-http.sh  # the quick mode CI runs
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-release}

source scripts/lib/demo.sh
build_demo "$PROFILE"
need_wrk
start_redis
start_demo "$PROFILE" DEMO_BENCH_ROUTES=1
base="http://127.0.0.1:$demo_port"
other_demo_pids=$demo_pid
demo_port=$(free_port)
start_demo "$PROFILE" CACHED_JSON_L1=64MiB CACHED_JSON_NAMESPACE=bench-l1
l1_base="http://127.0.0.1:$demo_port"
other_demo_pids="$other_demo_pids $demo_pid"
baseline_port=$(free_port)
env REDIS_URL="redis://127.0.0.1:$redis_port/0" PORT="$baseline_port" \
  "target/$PROFILE/baseline" > "$work/baseline.log" 2>&1 &
other_demo_pids="$other_demo_pids $!"
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$baseline_port") 2>/dev/null && break
  sleep 0.1
done
baseline_base="http://127.0.0.1:$baseline_port"

# Rows 1, 3, 5, 6 and 0 are what the five ratio columns divide by (0-based).
rows=(
  "cached-json (#[cached_json], HIT)|$base/api/v1/local_info?location_name=Recife"
  "hand-written, own process (ConnectionManager, HIT)|$baseline_base/api/v1/local_info?location_name=Recife"
  "cached-json with L1 (HIT-L1)|$l1_base/api/v1/local_info?location_name=Recife"
  "hand-written redis-rs GET in demo-api (HIT)|$base/bench/local_info/manual?location_name=Recife"
  "no cache (geocoder, 400 ms)|$base/bench/local_info/uncached?location_name=Recife"
  "hand-written in-memory map in demo-api (HIT)|$base/bench/local_info/memory?location_name=Recife"
  "hand-written, own process, the same HTTP work (GET+PTTL, bytes, ETag, max-age, Age; HIT)|$baseline_base/api/v1/local_info/http?location_name=Recife"
  "cached-json with 2 tags (tags(...), HIT)|$base/bench/local_info/tagged?location_name=Recife"
)
echo "demo-api ($PROFILE), wrk -t$THREADS -c$CONNECTIONS, $ROUNDS rounds x ${DURATION}s per row, interleaved, $(nproc) cores"
for row in "${rows[@]}"; do
  # Warm: the first request is the miss that stores the value (and the L1's copy is made).
  wrk -t1 -c1 -d1s "${row#*|}" >/dev/null
done
command -v curl >/dev/null && echo "X-Cache of the L1 row after warming: $(curl -s -o /dev/null -D - "${rows[2]#*|}" | awk -F': ' 'tolower($1) == "x-cache" {print $2}' | tr -d '\r')"
for round in $(seq "$ROUNDS"); do
  for i in "${!rows[@]}"; do
    url=${rows[$i]#*|}
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
    echo "$round $i $rps $p50 $p99 ${errors:-0}" >> "$work/samples"
  done
done

# Per row: median req/s, p50/p99 of the median round, total non-2xx, median ratio to row 1.
echo
echo "| route | req/s | p50 | p99 | vs own-process hand-written | vs in-binary hand-written | vs in-memory map | vs own-process, same HTTP work | vs cached-json untagged | non-2xx |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for i in "${!rows[@]}"; do
  name=${rows[$i]%%|*}
  awk -v row="$i" -v name="$name" '
    { rps[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5; errors[$2] += $6; rounds[$1] = 1 }
    END {
      n = 0
      for (r in rounds) { n++; mine[n] = rps[r, row]; own[n] = rps[r, row] / rps[r, 1]; ratio[n] = rps[r, row] / rps[r, 3]; memory[n] = rps[r, row] / rps[r, 5]; same[n] = rps[r, row] / rps[r, 6]; untagged[n] = rps[r, row] / rps[r, 0]; p50s[n] = p50[r, row]; p99s[n] = p99[r, row] }
      # insertion sorts: n is small
      for (a = 2; a <= n; a++) for (b = a; b > 1 && mine[b] < mine[b-1]; b--) { t = mine[b]; mine[b] = mine[b-1]; mine[b-1] = t; t = p50s[b]; p50s[b] = p50s[b-1]; p50s[b-1] = t; t = p99s[b]; p99s[b] = p99s[b-1]; p99s[b-1] = t }
      for (a = 2; a <= n; a++) for (b = a; b > 1 && ratio[b] < ratio[b-1]; b--) { t = ratio[b]; ratio[b] = ratio[b-1]; ratio[b-1] = t }
      for (a = 2; a <= n; a++) for (b = a; b > 1 && memory[b] < memory[b-1]; b--) { t = memory[b]; memory[b] = memory[b-1]; memory[b-1] = t }
      for (a = 2; a <= n; a++) for (b = a; b > 1 && own[b] < own[b-1]; b--) { t = own[b]; own[b] = own[b-1]; own[b-1] = t }
      for (a = 2; a <= n; a++) for (b = a; b > 1 && same[b] < same[b-1]; b--) { t = same[b]; same[b] = same[b-1]; same[b-1] = t }
      for (a = 2; a <= n; a++) for (b = a; b > 1 && untagged[b] < untagged[b-1]; b--) { t = untagged[b]; untagged[b] = untagged[b-1]; untagged[b-1] = t }
      m = int((n + 1) / 2)
      printf "| %s | %.0f | %s | %s | %.2fx | %.2fx | %.2fx | %.2fx | %.2fx | %d |\n", name, mine[m], p50s[m], p99s[m], own[m], ratio[m], memory[m], same[m], untagged[m], errors[row]
    }' "$work/samples"
done
