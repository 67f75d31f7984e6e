#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, lints, unit, integration (against
# real redis-server processes the tests start themselves), trybuild and doc tests, a user's
# crate outside the workspace, and the benchmarks and load tests in quick mode.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's time is printed when the next begins, and all of them at the end (or where a
# stage failed), so a slow stage is seen in CI's log.
stage_name="set-up" stage_began=$SECONDS stage_times=()
stage() {
  stage_times+=("$(printf '%5d s  %s' $((SECONDS - stage_began)) "$stage_name")")
  stage_name=$1 stage_began=$SECONDS
  echo "==> $stage_name"
}
stage_report() {
  local status=$?
  stage_times+=("$(printf '%5d s  %s' $((SECONDS - stage_began)) "$stage_name")")
  [[ $status == 0 ]] || stage_times[-1]+="  (failed)"
  echo "stage times (total $SECONDS s):"
  printf '  %s\n' "${stage_times[@]}"
  [[ -z "${cleanup:-}" ]] || rm -f "$cleanup"
}
trap stage_report EXIT

# The tests start their own redis-server processes: make sure the binary is there.
if [[ -z "${REDIS_SERVER_BIN:-}" ]] && ! command -v redis-server >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server not found: installing Debian's redis-server package"
    apt-get update -qq
    # Only the binary is needed; do not let the package start a system service.
    policy=/usr/sbin/policy-rc.d
    [[ -e $policy ]] || { printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && cleanup=$policy; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: install it (Debian: sudo apt-get install redis-server) or set REDIS_SERVER_BIN" >&2
    exit 1
  fi
fi
echo "using $(${REDIS_SERVER_BIN:-redis-server} --version | head -1)"

# The TLS tests make their certificates with the openssl command (the code itself uses rustls).
if ! command -v openssl >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "openssl not found: installing Debian's openssl package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  else
    echo "openssl is missing: install it (Debian: sudo apt-get install openssl)" >&2
    exit 1
  fi
fi

# The Cluster tests join their nodes with redis-cli (Debian's redis-tools, which redis-server
# depends on).
if ! command -v "${REDIS_CLI_BIN:-redis-cli}" >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-cli not found: installing Debian's redis-tools package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools >/dev/null
  else
    echo "redis-cli is missing: install it (Debian: sudo apt-get install redis-tools) or set REDIS_CLI_BIN" >&2
    exit 1
  fi
fi

stage "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# No two modules of the runtime or the macro import each other (at any level).
python3 scripts/module-cycles.py cached-json-runtime/src
python3 scripts/module-cycles.py cached-json-macro/src

stage "docs (warnings denied) and semver check (public API)"
# The published crates' docs build without a warning (broken links included), and the facade's
# public API, signatures included, is the one in public-api.txt: a change fails, its lines gone
# or changed (breaking) told apart from those added (scripts/public-api.sh).
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --locked --no-deps \
  -p cached-json -p cached-json-runtime -p cached-json-macro --features tls,actix,axum,testing,sentinel
scripts/public-api.sh
stage "package verification"
# The three published crates make packages (sources, README, licenses, changelog) that build
# on their own: cargo packages them together, each verified against the others' packages.
# (Cargo verifies the facade against the other two unpacked from a local registry of its own,
# and reuses what it unpacked before for the same version: drop that first, or the facade is
# checked against an earlier run's sources.)
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/cached-json-*
cargo package --quiet --locked -p cached-json-macro -p cached-json-runtime -p cached-json --allow-dirty
stage "README example and workspace tests"
# README's complete example is examples/tokio_plain.rs (after its opening comment), which runs
# below: the README cannot drift from code that compiles.
diff -u <(awk '/^```rust$/ { inside = 1; next } inside && /^```$/ { exit } inside' README.md) \
  <(grep -v '^//!' examples/tokio_plain.rs | sed '/./,$!d') \
  || { echo "README.md's example differs from examples/tokio_plain.rs" >&2; exit 1; }
# Everything is built here with the current toolchain (every test, example and binary). Every
# test runs but the facade's integration tests (tests/*.rs), which run once, on the MSRV with
# every feature (a stage below): a second run here took 150 s for the same code. Here: every
# crate's unit and doc tests, the demo's end-to-end tests over HTTP, the trybuild cases (the
# other packages' test targets, read from `cargo metadata`). Selecting targets, not packages,
# keeps dependencies' features as `--workspace` unifies them: nothing is built again.
cargo test --workspace --locked --no-run
other_tests=$(cargo metadata --locked --no-deps --format-version 1 | python3 -c '
import json, sys
packages = json.load(sys.stdin)["packages"]
tests = lambda p: [t["name"] for t in p["targets"] if "test" in t["kind"]]
facade = {n for p in packages if p["name"] == "cached-json" for n in tests(p)}
others = [n for p in packages if p["name"] != "cached-json" for n in tests(p)]
clash = facade.intersection(others)
if clash:
    sys.exit(f"test targets named as one of the facade tests: {sorted(clash)}")
print(" ".join("--test " + n for n in others))')
# shellcheck disable=SC2086 # one word per flag
cargo test --workspace --locked --lib --bins $other_tests
cargo test --workspace --locked --doc
stage "external crates"
# Users' crates outside the workspace: one depending on the facade alone, one on the facade
# renamed and re-exported (`crate = "..."`).
cargo run --quiet --manifest-path tests/external-crate/Cargo.toml --target-dir target
cargo run --quiet --manifest-path tests/external-renamed/Cargo.toml --target-dir target

stage "MSRV: every test of the library, every feature"
# The MSRV (`rust-version` in Cargo.toml: the newest any dependency of the published crates
# needs, with every feature; actix-web's 1.89), on that toolchain (installed if missing) with
# the committed lockfile: the facade and the runtime with every feature (tls, actix, axum,
# testing, sentinel) build, and all their tests pass: unit, integration (every tests/*.rs: the
# axum app over real HTTP, the test kit's examples, Redis Sentinel with the master killed under
# load, the Cluster, TLS, faults...) and doc tests. (The benchmarks and the trybuild cases are
# packages of their own: criterion and the `cached` crate need newer compilers, and compiler
# messages differ between versions.)
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
rustup run "$msrv" rustc --version >/dev/null 2>&1 || rustup toolchain install "$msrv" --profile minimal
cargo "+$msrv" test --locked -p cached-json -p cached-json-runtime --all-features

stage "lints with every optional feature"
# The feature-gated code linted by the current toolchain, selected with the whole workspace:
# dependencies' features then unify as in the stages above, and what was checked there is not
# checked again (the facade selected alone made tokio, redis and what depends on them build
# again).
features=cached-json/tls,cached-json/actix,cached-json/axum,cached-json/testing,cached-json/sentinel
cargo clippy --locked --workspace --all-targets --features "$features" -- -D warnings

stage "soaks (quick), example"
# The soaks, quick: the long runs' load and checks for a few seconds (their figures come from
# long runs: RESILIENCE.md). The library's (examples/soak.rs), and the demo's over HTTP with
# Redis restarted twice and frozen once (scripts/soak.sh).
# (The examples as `cargo test --workspace` built them: `cargo run --example` selects the
# default members only, whose dependencies' features differ, and rebuilt tokio and what is on
# it.)
cargo build --quiet --locked --workspace --examples --tests
target/debug/examples/soak 6
DURATION=30 KEYS=20000 PROFILE=debug OUT=target/soak-quick scripts/soak.sh

# The copyable example runs (on the in-process store: no Redis needed).
CACHED_JSON_STORE=memory target/debug/examples/tokio_plain

stage "benchmarks and load tests (quick)"
# The benchmarks in quick mode: they must build and run; their figures come from full runs
# (BENCHMARKS.md, RESILIENCE.md).
cargo test --locked --workspace --benches
ROUNDS=1 DURATION=1 PROFILE=debug scripts/bench-http.sh
DURATION=6 PROFILE=debug scripts/resilience-load.sh
