#!/usr/bin/env bash
# The facade's public API, one item per line with its signature (scripts/public-api.py),
# compared with public-api.txt at the root, the API of the version being prepared (0.1.0:
# the first release). A line gone or changed is a breaking change (an item removed, an
# argument's type changed, `Send` lost...), a new line an addition, breaking only for a trait
# method without a default or a variant of an enum that is not `#[non_exhaustive]` (the
# reviewer's call: the listing does not mark them). The check fails on either and says which;
# a maintainer blesses the change with the version bump and the CHANGELOG.md entry it needs
# (semver: after 1.0 a breaking change is a new major version, before it a new minor one).
# Narrower than `cargo semver-checks` (which needs a released baseline and a build of its own).
#
#   scripts/public-api.sh          # fails, with the diff, if the API differs from the file
#   scripts/public-api.sh --bless  # writes the file from the code
#
# rustdoc's JSON output is unstable: RUSTC_BOOTSTRAP=1 lets the stable toolchain write it (as
# cargo-semver-checks and cargo-public-api do). Every feature is on, so gated items are listed.
set -euo pipefail
export LC_ALL=C  # comm compares as Python sorted: by code point
cd "$(dirname "$0")/.."

features=actix,axum,tls,testing,sentinel
for crate in cached-json-runtime cached-json; do
  RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet --locked -p "$crate" --lib --features "$features" \
    -- -Z unstable-options --output-format json 2>/dev/null
done
actual=$(python3 scripts/public-api.py target/doc/cached_json.json target/doc/cached_json_runtime.json)

if [[ "${1:-}" == --bless ]]; then
  printf '%s\n' "$actual" > public-api.txt
  echo "public-api.txt: $(wc -l < public-api.txt) lines"
else
  removed=$(comm -23 public-api.txt <(printf '%s\n' "$actual"))
  added=$(comm -13 public-api.txt <(printf '%s\n' "$actual"))
  [[ -z "$removed" ]] || printf 'BREAKING: gone or changed (a new minor version before 1.0, a new major after):\n%s\n' "$removed" | sed '2,$s/^/  - /' >&2
  [[ -z "$added" ]] || printf 'added (breaking if a trait method without a default, or a variant of an exhaustive enum):\n%s\n' "$added" | sed '2,$s/^/  + /' >&2
  if [[ -n "$removed$added" ]]; then
    echo "the public API changed: bump the version and say it in CHANGELOG.md as the change needs, then run scripts/public-api.sh --bless" >&2
    exit 1
  fi
fi
