"""The mutation figure over one or more cargo-mutants outcome files (scripts/mutants.sh):
the share of viable mutants caught, with the survivors judged equivalent in
src/core/mutants-equivalent.txt left out; fails below the threshold.

    python3 scripts/mutants-figure.py THRESHOLD LABEL OUTCOMES.json... [--recheck OUTCOMES.json]
    python3 scripts/mutants-figure.py --missed-re OUTCOMES.json...

With --recheck, the outcomes of a run of only some mutants (the survivors of shards kept
from an earlier tree of the core) replace those mutants' outcomes in the shards.
--missed-re prints one regular expression per missed mutant (not judged equivalent),
matching exactly its name as `cargo mutants --list` shows it, for `cargo mutants -F`.
"""
import json
import os
import re
import sys

args = sys.argv[1:]
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


def outcomes(path):
    """(full name, name without line and column, summary) of each mutant in one file."""
    for o in json.load(open(path))["outcomes"]:
        scenario = o["scenario"]
        if not isinstance(scenario, dict) or "Mutant" not in scenario:
            continue
        name = scenario["Mutant"]["name"]
        yield name, re.sub(r":\d+:\d+:", ":", name), o["summary"]


def regex_escape(text):
    # Only what the regex crate treats as special; it accepts any escaped punctuation.
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$#&-~" else c for c in text)


if args and args[0] == "--missed-re":
    for path in args[1:]:
        for name, text, summary in outcomes(path):
            if summary == "MissedMutant" and text not in equivalent:
                print("^" + regex_escape(name) + "$")
    sys.exit(0)

threshold, label, files = float(args[0]), args[1], args[2:]
recheck = {}
if "--recheck" in files:
    i = files.index("--recheck")
    for name, _, summary in outcomes(files[i + 1]):
        recheck[name] = summary
    files = files[:i] + files[i + 2:]
counts = {}
missed = []
missing = [f for f in files if not os.path.exists(f)]
for path in files:
    if path in missing:
        continue
    for name, text, summary in outcomes(path):
        summary = recheck.get(name, summary)
        if summary == "MissedMutant" and text in equivalent:
            summary = "Equivalent"
        counts[summary] = counts.get(summary, 0) + 1
        if summary == "MissedMutant":
            missed.append(text)
caught = counts.get("CaughtMutant", 0) + counts.get("Timeout", 0)
viable = caught + counts.get("MissedMutant", 0)
share = 100.0 * caught / viable if viable else 100.0
rechecked = f"; {len(recheck)} mutants run again on this tree (kept shards' survivors)" if recheck else ""
print(f"mutants ({label}): {caught} caught of {viable} viable = {share:.1f} % "
      f"(threshold {threshold} %); {counts.get('Equivalent', 0)} judged equivalent, "
      f"{counts.get('Unviable', 0)} unviable{rechecked}")
for m in missed:
    print(f"missed: {m}")
if missing:
    sys.exit(f"mutants: {len(missing)} shard(s) did not run: {', '.join(missing)}")
if share < threshold:
    sys.exit(f"mutants: {share:.1f} % caught is below the README's threshold of {threshold} %: "
             "add a test that catches the missed mutants above, or list one in "
             "src/core/mutants-equivalent.txt with the reason no test can tell it apart")
