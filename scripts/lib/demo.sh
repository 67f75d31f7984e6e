# Shared by the load scripts: a redis-server and a demo-api on free loopback ports, in a
# temporary folder, all removed on exit. Source it, then call `start_redis` and `start_demo`.
#
# Sets: work (the folder), redis_port, demo_port, redis_start (the command that starts the
# redis-server again, for scripts that kill it).

# need_wrk: wrk, installed from Debian's package when missing and we are root.
need_wrk() {
  command -v wrk >/dev/null 2>&1 && return
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "wrk not found: installing Debian's wrk package"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is missing: install it (Debian: sudo apt-get install wrk)" >&2
    exit 1
  fi
}

# build_demo PROFILE: demo-api and loadgen in that profile (release or debug). In debug, with
# every test target of the workspace: dependencies' features then unify as in `cargo test
# --workspace`, so what the tests built (in CI: just before) is used, not built again with
# other features (`-p demo-api` alone rebuilt tokio and what depends on it).
build_demo() {
  if [[ $1 == release ]]; then
    cargo build --quiet --locked --release -p demo-api -p loadgen
  else
    cargo build --quiet --locked --workspace --bins --tests
  fi
}

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
redis_command() {
  redis_start="redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile $work/redis.pid --logfile $work/redis.log"
}
redis_command

cleanup() {
  [[ -n ${demo_pid:-} ]] && kill "$demo_pid" 2>/dev/null || true
  for pid in ${other_demo_pids:-}; do kill "$pid" 2>/dev/null || true; done
  [[ -f $work/redis.pid ]] && kill -9 "$(cat "$work/redis.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_redis: the redis-server above, once it answers. A port found free can be taken before
# redis-server binds it (tests start servers of their own): then another port, up to 5 times.
start_redis() {
  local attempt
  for attempt in 1 2 3 4 5; do
    eval "$redis_start"
    for _ in $(seq 50); do
      "${REDIS_CLI_BIN:-redis-cli}" -p "$redis_port" ping >/dev/null 2>&1 && return 0
      sleep 0.1
    done
    echo "redis-server did not start on port $redis_port (attempt $attempt): $(tail -1 "$work/redis.log" 2>/dev/null)" >&2
    redis_port=$(free_port)
    redis_command
  done
  echo "redis-server would not start: see above" >&2
  exit 1
}

# start_demo PROFILE [VAR=value ...]: the demo-api binary of that profile against the Redis
# above; returns once it listens (after migrating and seeding its database).
start_demo() {
  local profile=$1
  shift
  env REDIS_URL="redis://127.0.0.1:$redis_port/0" PORT="$demo_port" \
    DATABASE_URL="sqlite://$work/demo.db" DEMO_SEED_EVENTS=100 RUST_LOG=warn "$@" \
    "target/$profile/demo-api" > "$work/demo.log" 2>&1 &
  demo_pid=$!
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$demo_port") 2>/dev/null && return
    sleep 0.1
  done
  echo "demo-api did not start:" >&2
  cat "$work/demo.log" >&2
  return 1
}
