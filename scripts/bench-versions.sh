#!/usr/bin/env bash
# Paired HTTP benchmark of two builds of demo-api: the working tree against git revision REV,
# on the cached routes' HIT (through Redis, and from the L1), each build in a process of its
# own on one Redis. Rows are interleaved, ROUNDS rounds of DURATION seconds each; each ratio is
# the median of the per-round ratios (new / old), because this 2-core machine's speed drifts.
# What a change to the hit path costs, in req/s.
#
#   REV=6d761e7 scripts/bench-versions.sh            # release, 7 rounds of 5 s per row
#   REV=HEAD~3 ROUNDS=9 DURATION=3 scripts/bench-versions.sh
#
# REV is built from a temporary `git worktree` into the shared target/ (registry crates are
# reused), its binary kept as target/versions/demo-api-<sha>.
set -euo pipefail
cd "$(dirname "$0")/.."

REV=${REV:?set REV to the git revision to compare with}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-7}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}

sha=$(git rev-parse --short "$REV")
old=target/versions/demo-api-$sha
if [[ ! -x $old ]]; then
  tree=$(mktemp -d)
  git worktree add --detach "$tree" "$sha" >/dev/null
  cargo build --quiet --release -p demo-api --manifest-path "$tree/Cargo.toml" --target-dir target
  mkdir -p target/versions
  cp target/release/demo-api "$old"
  git worktree remove --force "$tree"
fi
cargo build --quiet --release -p demo-api

source scripts/lib/demo.sh
need_wrk
start_redis
declare -A url
for build in old new; do
  binary=target/release/demo-api
  [[ $build == old ]] && binary=$old
  for mode in redis l1; do
    port=$(free_port)
    extra=()
    [[ $mode == l1 ]] && extra=(CACHED_JSON_L1=64MiB CACHED_JSON_NAMESPACE="$build-l1")
    [[ $mode == redis ]] && extra=(CACHED_JSON_NAMESPACE="$build")
    env REDIS_URL="redis://127.0.0.1:$redis_port/0" PORT="$port" \
      DATABASE_URL="sqlite://$work/$build-$mode.db" DEMO_SEED_EVENTS=10 RUST_LOG=warn \
      "${extra[@]}" "$binary" > "$work/$build-$mode.log" 2>&1 &
    other_demo_pids="${other_demo_pids:-} $!"
    for _ in $(seq 300); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    url[$build-$mode]="http://127.0.0.1:$port/api/v1/local_info?location_name=Recife"
  done
done
rows=(old-redis new-redis old-l1 new-l1)
echo "demo-api $sha (old) vs the working tree (new), release, wrk -t$THREADS -c$CONNECTIONS, $ROUNDS rounds x ${DURATION}s per row, interleaved, $(nproc) cores"
for row in "${rows[@]}"; do
  wrk -t1 -c1 -d1s "${url[$row]}" >/dev/null # the miss that stores the value, the L1's copy
done
for round in $(seq "$ROUNDS"); do
  for row in "${rows[@]}"; do
    rps=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "${url[$row]}" | awk '/^Requests\/sec:/ {print $2}')
    echo "$round $row $rps" >> "$work/samples"
  done
done
echo
echo "| route | old req/s (median) | new req/s (median) | new / old (median of rounds) | per round |"
echo "|---|---|---|---|---|"
for mode in redis l1; do
  awk -v mode="$mode" '
    { rps[$1, $2] = $3; rounds[$1] = 1 }
    function median(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j] < a[j-1]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return a[int((n + 1) / 2)]
    }
    END {
      n = 0; list = ""
      for (r = 1; (r in rounds); r++) {
        n++; o[n] = rps[r, "old-" mode]; w[n] = rps[r, "new-" mode]; q[n] = w[n] / o[n]
        list = list sprintf("%s%.3f", (n > 1 ? " " : ""), q[n])
      }
      printf "| %s HIT | %.0f | %.0f | %.3fx | %s |\n", (mode == "l1" ? "L1" : "Redis"), median(o, n), median(w, n), median(q, n), list
    }' "$work/samples"
done
