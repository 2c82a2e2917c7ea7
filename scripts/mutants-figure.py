"""The mutation figure over one or more cargo-mutants outcome files (scripts/mutants.sh):
the share of viable mutants caught, with the survivors judged equivalent in
src/core/mutants-equivalent.txt left out; fails below the threshold.

    python3 scripts/mutants-figure.py THRESHOLD LABEL OUTCOMES.json...
"""
import json
import os
import re
import sys

threshold, label, files = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
equivalent_file = os.path.join(os.path.dirname(__file__), "..", "src/core/mutants-equivalent.txt")
equivalent = {}
for line in open(equivalent_file, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    what, _, why = line.partition(" # ")
    if not why.strip():
        sys.exit(f"{equivalent_file}: `{what}` has no reason after ` # `")
    equivalent[what.strip()] = why.strip()
counts = {}
missed = []
missing = [f for f in files if not os.path.exists(f)]
for path in files:
    if path in missing:
        continue
    for o in json.load(open(path))["outcomes"]:
        scenario = o["scenario"]
        if not isinstance(scenario, dict) or "Mutant" not in scenario:
            continue
        text = re.sub(r":\d+:\d+:", ":", scenario["Mutant"]["name"])
        summary = o["summary"]
        if summary == "MissedMutant" and text in equivalent:
            summary = "Equivalent"
        counts[summary] = counts.get(summary, 0) + 1
        if summary == "MissedMutant":
            missed.append(text)
caught = counts.get("CaughtMutant", 0) + counts.get("Timeout", 0)
viable = caught + counts.get("MissedMutant", 0)
share = 100.0 * caught / viable if viable else 100.0
print(f"mutants ({label}): {caught} caught of {viable} viable = {share:.1f} % "
      f"(threshold {threshold} %); {counts.get('Equivalent', 0)} judged equivalent, "
      f"{counts.get('Unviable', 0)} unviable")
for m in missed:
    print(f"missed: {m}")
if missing:
    sys.exit(f"mutants: {len(missing)} shard(s) did not run: {', '.join(missing)}")
if share < threshold:
    sys.exit(f"mutants: {share:.1f} % caught is below the README's threshold of {threshold} %: "
             "add a test that catches the missed mutants above, or list one in "
             "src/core/mutants-equivalent.txt with the reason no test can tell it apart")
