#!/usr/bin/env bash
# Time and peak memory of `turnstile drift` for synthetic trusts of 100,000 and 1,500,000
# staff with five exports, plus the core benchmark (persons/s) and drift vs a raw CSV read.
#
#   scripts/bench-drift.sh            # both sizes
#   scripts/bench-drift.sh 100000     # one size
#
# Generated files are kept under bench-data/ (git-ignored) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100000 1500000}")
# shellcheck disable=SC2206
sizes=(${sizes[*]})
cargo build --release --locked --bins
for n in "${sizes[@]}"; do
  dir="bench-data/$n"
  if [ ! -f "$dir/esr-extract.csv" ]; then
    target/release/turnstile-synth --staff "$n" --seed 1 --today 2026-11-23 --out "$dir"
  fi
  echo "== $n staff: $(du -sh "$dir" | cut -f1) of CSV"
  exports=()
  for s in ad nhsmail emis systmone smartcard; do exports+=(--export "$s=$dir/exports/$s.csv"); done
  /usr/bin/time -v target/release/turnstile drift --policy examples/role-model.toml \
    --hr "$dir/esr-extract.csv" "${exports[@]}" --today 2026-11-23 --format json \
    --out "$dir/report.json" 2> "$dir/time.txt" || { cat "$dir/time.txt"; exit 1; }
  grep -E "drift on|Elapsed \(wall|Maximum resident" "$dir/time.txt"
done
echo "== core benchmark (one core)"
TURNSTILE_BENCH_DIR="bench-data/${sizes[0]}" cargo bench --locked --bench core
