#!/usr/bin/env bash
# The facade's public API, one item per line (scripts/public-api.py), compared with
# public-api.txt at the root: a change to what users can name is a visible diff in review.
#
#   scripts/public-api.sh          # fails, with the diff, if the API differs from the file
#   scripts/public-api.sh --bless  # writes the file from the code
#
# rustdoc's JSON output is unstable: RUSTC_BOOTSTRAP=1 lets the stable toolchain write it (as
# cargo-semver-checks and cargo-public-api do). Every feature is on, so gated items are listed.
set -euo pipefail
cd "$(dirname "$0")/.."

features=actix,axum,tls,testing
for crate in cached-json-runtime cached-json; do
  RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet --locked -p "$crate" --lib --features "$features" \
    -- -Z unstable-options --output-format json 2>/dev/null
done
actual=$(python3 scripts/public-api.py target/doc/cached_json.json target/doc/cached_json_runtime.json)

if [[ "${1:-}" == --bless ]]; then
  printf '%s\n' "$actual" > public-api.txt
  echo "public-api.txt: $(wc -l < public-api.txt) lines"
elif ! diff -u public-api.txt <(printf '%s\n' "$actual"); then
  echo "the public API changed: review the diff above, then run scripts/public-api.sh --bless" >&2
  exit 1
fi
