#!/usr/bin/env bash
# Mutation testing of the pure core (issue 33): `cargo mutants -p turnstile-core` over
# every file of src/core, the share of viable mutants the tests catch printed, and a
# failure when it is below the threshold the README states.
#
#   scripts/mutants.sh            the whole core (weekly: about two hours on 2 cores)
#   scripts/mutants.sh 3/16       one shard (CI runs a fixed shard, MUTANTS_SHARD in .ci/run)
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

python3 - "$outcomes" src/core/mutants-equivalent.txt "$threshold" "${SHARD:-all}" <<'PY'
import json, re, sys
outcomes, equivalent_file, threshold, shard = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
equivalent = {}
for line in open(equivalent_file, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    what, _, why = line.partition(" # ")
    if not why.strip():
        sys.exit(f"{equivalent_file}: `{what}` has no reason after ` # `")
    equivalent[what.strip()] = why.strip()
data = json.load(open(outcomes))
counts = {}
missed = []
for o in data["outcomes"]:
    scenario = o["scenario"]
    if not isinstance(scenario, dict) or "Mutant" not in scenario:
        continue
    m = scenario["Mutant"]
    text = re.sub(r":\d+:\d+:", ":", m["name"])
    summary = o["summary"]
    if summary == "MissedMutant" and text in equivalent:
        summary = "Equivalent"
    counts[summary] = counts.get(summary, 0) + 1
    if summary == "MissedMutant":
        missed.append(text)
caught = counts.get("CaughtMutant", 0) + counts.get("Timeout", 0)
viable = caught + counts.get("MissedMutant", 0)
share = 100.0 * caught / viable if viable else 100.0
print(f"mutants (shard {shard}): {caught} caught of {viable} viable = {share:.1f} % "
      f"(threshold {threshold} %); {counts.get('Equivalent', 0)} judged equivalent, "
      f"{counts.get('Unviable', 0)} unviable")
for m in missed:
    print(f"missed: {m}")
if share < threshold:
    sys.exit(f"mutants: {share:.1f} % caught is below the README's threshold of {threshold} %: "
             "add a test that catches the missed mutants above, or list one in "
             "src/core/mutants-equivalent.txt with the reason no test can tell it apart")
PY
