#!/usr/bin/env bash
# Mutation testing of the pure core (issue 33): `cargo mutants -p turnstile-core` over
# every file of src/core, the share of viable mutants the tests catch printed, and a
# failure when it is below the threshold the README states.
#
#   scripts/mutants.sh            the whole core in one go (about two to three hours on 2 cores)
#   scripts/mutants.sh 3/16       one shard (CI runs a fixed shard, MUTANTS_SHARD in .ci/run)
#   scripts/mutants.sh --shards 48
#                                 the whole core as 48 shards, resumable: each shard's outcome
#                                 is kept with the list of mutants it was drawn from (the
#                                 core's code, not its tests), so the weekly run can be
#                                 stopped and taken up again. When only the core's tests have
#                                 changed since a shard ran, its caught mutants stay caught and
#                                 its survivors are run again on the current tree (one
#                                 `cargo mutants -F` run for all of them); the figure is over
#                                 every shard. A weakened test is not seen until the code
#                                 changes: CI's fixed shard runs whole on every commit, and
#                                 `rm -rf target/mutants/shards` starts the whole set afresh.
#
# Survivors judged equivalent (no test could tell them from the original) are listed in
# src/core/mutants-equivalent.txt, one per line as `cargo mutants` names them without the
# line and column, then ` # ` and the reason; they are left out of the figure. A missed
# mutant not listed there counts against it.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARD="${1:-}"
OUT="${MUTANTS_OUT:-target/mutants}"
mkdir -p "$OUT"
threshold=$(sed -n 's/.*mutation score threshold: \*\*\([0-9.]*\) %\*\*.*/\1/p' README.md | head -1)
[ -n "$threshold" ] || { echo "mutants.sh: README.md states no 'mutation score threshold: **N %**'" >&2; exit 2; }

if [ "$SHARD" = "--shards" ]; then
  n="${2:?--shards needs a count}"
  command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
  tree=$(git rev-parse HEAD:src/core)
  [ -z "$(git status --porcelain src/core)" ] || { echo "mutants.sh: src/core has uncommitted changes; commit them first (each shard is kept by the core's tree hash)" >&2; exit 2; }
  list=$(cargo mutants -p turnstile-core --list --colors never | sha256sum | cut -c1-16)
  files=()
  stale=()
  for k in $(seq 0 $((n - 1))); do
    dir="$OUT/shards/$k"
    if [ "$(cat "$dir/list" 2>/dev/null)" != "$list" ] || [ ! -f "$dir/mutants.out/outcomes.json" ]; then
      rm -rf "$dir"
      MUTANTS_OUT="$dir" scripts/mutants.sh "$k/$n" || true
      [ -f "$dir/mutants.out/outcomes.json" ] && { echo "$tree" > "$dir/tree"; echo "$list" > "$dir/list"; }
    elif [ "$(cat "$dir/tree")" != "$tree" ]; then
      stale+=("$dir/mutants.out/outcomes.json")
    fi
    files+=("$dir/mutants.out/outcomes.json")
  done
  recheck=()
  if [ ${#stale[@]} -gt 0 ]; then
    mapfile -t res < <(python3 scripts/mutants-figure.py --missed-re "${stale[@]}")
    if [ ${#res[@]} -gt 0 ]; then
      # cargo-mutants 27 lets its field-deletion mutants through any -F filter: they are
      # run again too (on this tree, so their outcomes are current; it only costs time).
      filters=()
      for re in "${res[@]}"; do filters+=(-F "$re"); done
      rm -rf "$OUT/recheck"
      PROPTEST_CASES="${PROPTEST_CASES:-64}" cargo mutants -p turnstile-core --no-shuffle --jobs 1 \
        --timeout-multiplier 3 --output "$OUT/recheck" --colors never "${filters[@]}" \
        >"$OUT/recheck.log" 2>&1 || true
      [ -f "$OUT/recheck/mutants.out/outcomes.json" ] || { tail -30 "$OUT/recheck.log" >&2; echo "mutants.sh: the survivors' run again did not run" >&2; exit 2; }
      recheck=(--recheck "$OUT/recheck/mutants.out/outcomes.json")
    fi
  fi
  exec python3 scripts/mutants-figure.py "$threshold" "all $n shards" "${files[@]}" "${recheck[@]}"
fi

command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants

# Fewer proptest cases per mutant (an invariant a mutant breaks fails in the first few):
# half the time per mutant.
export PROPTEST_CASES="${PROPTEST_CASES:-64}"
args=(-p turnstile-core --no-shuffle --jobs 1 --timeout-multiplier 3 --output "$OUT" --colors never)
[ -n "$SHARD" ] && args+=(--shard "$SHARD" --sharding round-robin)
# Its own exit status says only whether something was missed; the figure decides.
cargo mutants "${args[@]}" >"$OUT.log" 2>&1 || true
outcomes="$OUT/mutants.out/outcomes.json"
[ -f "$outcomes" ] || { tail -30 "$OUT.log" >&2; echo "mutants.sh: cargo mutants did not run" >&2; exit 2; }

python3 scripts/mutants-figure.py "$threshold" "${SHARD:-all}" "$outcomes"
