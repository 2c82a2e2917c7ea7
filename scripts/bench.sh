#!/usr/bin/env bash
# Every benchmark with its floor, measured in the same run, into one table:
# BENCHMARKS.md (and BENCHMARKS.json beside it) with the figure, the floor, their ratio,
# the command, the commit and the machine. Each bench script appends its rows to
# $TURNSTILE_BENCH_RESULTS (benches/common::result, or the drift script itself).
#
#   scripts/bench.sh              everything (about 40 minutes on 2 cores; peers started)
#   BENCH_ONLY="scim apply" scripts/bench.sh    a subset (the table keeps only those rows)
#
# Run it on a quiet machine: the ratios are only as good as the floor's run beside ours.
set -euo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp)
export TURNSTILE_BENCH_RESULTS="$results"
all="drift kafka apply scim reconcile correlate"
only="${BENCH_ONLY:-$all}"
commands=()
for b in $only; do
  case "$b" in
    drift) cmd="scripts/bench-drift.sh 100000 1500000" ;;
    kafka) cmd="scripts/bench-kafka.sh" ;;
    apply) cmd="scripts/bench-apply.sh" ;;
    scim) cmd="scripts/bench-scim.sh" ;;
    reconcile) cmd="scripts/bench-reconcile.sh" ;;
    correlate) cmd="scripts/bench-correlate.sh" ;;
    *) echo "bench.sh: no benchmark '$b' (one of: $all)" >&2; exit 2 ;;
  esac
  echo "== $cmd"
  before=$(wc -l < "$results")
  $cmd
  # Each row remembers the command that made it.
  python3 - "$results" "$before" "$cmd" <<'PY'
import json, sys
path, before, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(path).read().splitlines()
out = lines[:before] + [json.dumps({**json.loads(l), "command": cmd}) for l in lines[before:]]
open(path, "w").write("\n".join(out) + "\n")
PY
done

python3 - "$results" <<'PY'
import json, os, platform, subprocess, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
machine = f"{os.cpu_count()} cores, {cpu}, {mem} GiB, {platform.system()} {platform.release()}"
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
meta = {"commit": commit + (" (with uncommitted changes)" if dirty else ""), "machine": machine, "date": when}
json.dump({**meta, "results": rows}, open("BENCHMARKS.json", "w"), indent=2, ensure_ascii=False)
with open("BENCHMARKS.md", "w") as f:
    f.write("# Benchmarks\n\n")
    f.write(f"One run of `scripts/bench.sh` at commit {meta['commit']} on {when}; machine: {machine}. ")
    f.write("Each figure is beside its floor measured in the same run; the ratio is ours / floor ")
    f.write("(below 1 is better where lower is better, above 1 where higher is). ")
    f.write("The same rows as JSON: `BENCHMARKS.json`.\n\n")
    f.write("| benchmark | ours | floor | ratio | floor is | command |\n|---|---|---|---|---|---|\n")
    for r in rows:
        better = "lower is better" if r["lower_is_better"] else "higher is better"
        f.write(f"| {r['name']} | {r['figure']:g} {r['unit']} | {r['floor']:g} {r['unit']} | {r['ratio']:.2f} ({better}) | {r['floor_name']} | `{r.get('command', '')}` |\n")
print(open("BENCHMARKS.md").read())
PY
