#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets, checks in src/fuzzing.rs) for SECONDS each
# (default 60; the issue-33 figure is `scripts/fuzz.sh 600`) with cargo-fuzz on the
# nightly toolchain, and prints one line per target: executions, corpus size, crashes.
#
# Sanitizer: none. Turnstile forbids unsafe code, so AddressSanitizer finds nothing the
# checks do not, at half the speed; the coverage instrumentation is kept.
#
# A crash is left in fuzz/artifacts/<target>/; copy it into tests/fixtures/fuzz/<target>/
# (the ordinary suite runs every file there, tests/it/fuzz.rs) and fix the code.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
TARGETS="${TARGETS:-$(ls fuzz/fuzz_targets | sed 's/\.rs$//')}"

rustup toolchain list | grep -q '^nightly' || { echo "fuzz.sh: needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

cargo +nightly fuzz build --fuzz-dir fuzz -s none -O >/dev/null

printf '%-12s %12s %10s %8s %7s\n' target executions exec/s corpus crashes
failed=0
for t in $TARGETS; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  before=$(ls "fuzz/artifacts/$t" | wc -l)
  log="fuzz/artifacts/$t.log"
  # -fork would use both cores; one process keeps the figures comparable between targets.
  cargo +nightly fuzz run --fuzz-dir fuzz -s none -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -max_len=8192 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || true
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  after=$(ls "fuzz/artifacts/$t" | wc -l)
  crashes=$((after - before))
  corpus=$(ls "fuzz/corpus/$t" | wc -l)
  printf '%-12s %12s %10s %8s %7s\n' "$t" "${runs:-?}" "${rate:-?}" "$corpus" "$crashes"
  if [ "$crashes" -gt 0 ] || [ -z "${runs:-}" ]; then
    failed=1
    grep -m1 -A3 'panicked\|ERROR: libFuzzer' "$log" >&2 || tail -5 "$log" >&2
  fi
done
exit "$failed"
