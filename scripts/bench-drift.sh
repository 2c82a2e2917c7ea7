#!/usr/bin/env bash
# Time and peak memory of `turnstile drift` for synthetic trusts of 100,000 and 1,500,000
# staff with five exports, beside the floor a trust analyst would reach by hand: DuckDB
# (installed in a venv in ~/.cache/turnstile) loading the same CSVs and counting leavers
# still active, orphans and duplicates with a few joins, in the same run. Then the core
# benchmark (persons/s) and drift vs a raw CSV read.
#
#   scripts/bench-drift.sh            # both sizes
#   scripts/bench-drift.sh 100000     # one size
#   BENCH_ROUNDS=5 scripts/bench-drift.sh   # ours and DuckDB taken in turn five times
#   TURNSTILE_DRIFT_REFERENCE=/path/to/other/turnstile scripts/bench-drift.sh 100000
#       # also runs that binary (e.g. main's) on the same files and checks that the two
#       # reports are byte for byte the same (JSON and CSV), and that `feed esr` prints the
#       # same events from the extract (timed too)
#
# Generated files are kept under bench-data/ (git-ignored) and reused. The report's time
# is pinned (TURNSTILE_NOW) so that two runs can be compared byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100000 1500000}")
# shellcheck disable=SC2206
sizes=(${sizes[*]})
cache="${TURNSTILE_CACHE:-$HOME/.cache/turnstile}"
venv="$cache/venv-duckdb"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'duckdb>=1.1,<2'
fi
cargo build --release --locked --bins
export TURNSTILE_NOW=2026-11-23T12:00:00Z
wall() { grep -E "Elapsed \(wall" "$1" | awk '{print $NF}'; }
rss() { grep -E "Maximum resident" "$1" | awk '{print $NF}'; }
secs() { awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"; }
for n in "${sizes[@]}"; do
  dir="bench-data/$n"
  if [ ! -f "$dir/esr-extract.csv" ]; then
    target/release/turnstile-synth --staff "$n" --seed 1 --today 2026-11-23 --out "$dir"
  fi
  echo "== $n staff: $(du -shc "$dir/esr-extract.csv" "$dir/exports" | tail -1 | cut -f1) of CSV"
  exports=()
  for s in ad nhsmail emis systmone smartcard; do exports+=(--export "$s=$dir/exports/$s.csv"); done
  drift() {
    "$1" drift --policy examples/role-model.toml --hr "$dir/esr-extract.csv" "${exports[@]}" \
      --today 2026-11-23 --allow-shrink --format "$2" --out "$3"
  }
  # The same question by hand in DuckDB (all cores), on the same files.
  cat > "$dir/duckdb-query.py" <<'PY'
import sys, duckdb
d = sys.argv[1]
con = duckdb.connect()
con.execute(f"CREATE TABLE esr AS SELECT * FROM read_csv('{d}/esr-extract.csv', header=true, all_varchar=true)")
parts = " UNION ALL ".join(
    f"SELECT '{s}' AS system, \"Account\" AS account, \"Employee Number\" AS emp, \"Enabled\" AS enabled "
    f"FROM read_csv('{d}/exports/{s}.csv', header=true, all_varchar=true)"
    for s in ["ad", "nhsmail", "emis", "systmone", "smartcard"])
con.execute(f"CREATE TABLE acc AS {parts}")
rows = con.execute("""
WITH people AS (
  SELECT "Employee Number" AS emp,
         -- ESR writes dates DD/MM/YYYY; gone once every assignment's last day is past.
         bool_and(coalesce(try_strptime(nullif("Assignment End Date", ''), '%d/%m/%Y')
                           < TIMESTAMP '2026-11-23', false)) AS gone
  FROM esr GROUP BY 1),
enabled AS (SELECT * FROM acc WHERE lower(enabled) = 'true')
-- Smartcard positions are only revoked for leavers (the card goes with the person).
SELECT 'leaver_still_active', count(*) FROM enabled e JOIN people p USING (emp)
WHERE p.gone AND e.system <> 'smartcard'
UNION ALL
SELECT 'orphan_account', count(*) FROM enabled e ANTI JOIN people p USING (emp)
UNION ALL
SELECT 'duplicate_account', coalesce(sum(c), 0) FROM (
  SELECT system, emp, count(*) AS c FROM enabled e JOIN people p USING (emp)
  WHERE NOT p.gone GROUP BY 1, 2 HAVING count(*) > 1)
""").fetchall()
for name, count in rows:
    print(f"{name} {count}")
PY
  # Taken in turn, BENCH_ROUNDS times (default 3): a shared machine's noise moves one run
  # by a tenth; the medians are compared, and the largest peak of each is shown.
  ours=(); theirs=(); ours_rss=0; theirs_rss=0
  for _ in $(seq "${BENCH_ROUNDS:-3}"); do
    /usr/bin/time -v bash -c "$(declare -f drift); exports=(${exports[*]}); dir=$dir; drift target/release/turnstile json $dir/report.json" \
      2> "$dir/time.txt" || { cat "$dir/time.txt"; exit 1; }
    /usr/bin/time -v "$venv/bin/python" "$dir/duckdb-query.py" "$dir" > "$dir/duckdb.txt" 2> "$dir/duckdb-time.txt" \
      || { cat "$dir/duckdb-time.txt"; exit 1; }
    ours+=("$(secs "$(wall "$dir/time.txt")")"); theirs+=("$(secs "$(wall "$dir/duckdb-time.txt")")")
    ours_rss=$(( $(rss "$dir/time.txt") > ours_rss ? $(rss "$dir/time.txt") : ours_rss ))
    theirs_rss=$(( $(rss "$dir/duckdb-time.txt") > theirs_rss ? $(rss "$dir/duckdb-time.txt") : theirs_rss ))
  done
  grep -E "drift on" "$dir/time.txt" || true
  median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  ours_m=$(median "${ours[@]}"); theirs_m=$(median "${theirs[@]}")
  printf '  turnstile drift (every category): %6.2f s median wall (%s), %7d KB peak RSS\n' \
    "$ours_m" "${ours[*]}" "$ours_rss"
  printf '  DuckDB (leavers, orphans, dups):   %6.2f s median wall (%s), %7d KB peak RSS   (%s)\n' \
    "$theirs_m" "${theirs[*]}" "$theirs_rss" "$(tr '\n' ' ' < "$dir/duckdb.txt")"
  awk -v a="$ours_m" -v b="$theirs_m" \
    'BEGIN { printf "  turnstile / DuckDB median wall time: %.2f\n", a / b }'
  # Two rows of the benchmark table (scripts/bench.sh): time and peak memory.
  if [ -n "${TURNSTILE_BENCH_RESULTS:-}" ]; then
    awk -v n="$n" -v a="$ours_m" -v b="$theirs_m" -v ra="$ours_rss" -v rb="$theirs_rss" 'BEGIN {
      printf "{\"name\":\"drift, %d staff, five exports: time\",\"figure\":%.3f,\"floor\":%.3f,\"unit\":\"s\",\"floor_name\":\"DuckDB query over the same files\",\"ratio\":%.3f,\"lower_is_better\":true}\n", n, a, b, a / b
      printf "{\"name\":\"drift, %d staff, five exports: peak memory\",\"figure\":%.1f,\"floor\":%.1f,\"unit\":\"MB\",\"floor_name\":\"DuckDB query over the same files\",\"ratio\":%.3f,\"lower_is_better\":true}\n", n, ra / 1024, rb / 1024, ra / rb
    }' >> "$TURNSTILE_BENCH_RESULTS"
  fi
  if [ -n "${TURNSTILE_DRIFT_REFERENCE:-}" ]; then
    for f in json csv; do
      drift target/release/turnstile "$f" "$dir/ours.$f" 2>/dev/null
      /usr/bin/time -v bash -c "$(declare -f drift); exports=(${exports[*]}); dir=$dir; drift $TURNSTILE_DRIFT_REFERENCE $f $dir/reference.$f" \
        2> "$dir/reference-time.txt"
      cmp "$dir/ours.$f" "$dir/reference.$f"
    done
    printf '  reference binary: %8s wall, %7d KB peak RSS; reports identical (json, csv)\n' \
      "$(wall "$dir/reference-time.txt")" "$(rss "$dir/reference-time.txt")"
    # The ESR reader serves `feed esr` too: the same extract as HR events, both binaries.
    for who in ours reference; do
      bin=target/release/turnstile
      [ "$who" = reference ] && bin=$TURNSTILE_DRIFT_REFERENCE
      /usr/bin/time -v "$bin" feed esr "$dir/esr-extract.csv" > "$dir/feed-$who.jsonl" \
        2> "$dir/feed-$who-time.txt"
    done
    cmp "$dir/feed-ours.jsonl" "$dir/feed-reference.jsonl"
    printf '  feed esr (events printed): ours %s wall, %d KB; reference %s wall, %d KB; events identical\n' \
      "$(wall "$dir/feed-ours-time.txt")" "$(rss "$dir/feed-ours-time.txt")" \
      "$(wall "$dir/feed-reference-time.txt")" "$(rss "$dir/feed-reference-time.txt")"
  fi
done
echo "== core benchmark (one core)"
TURNSTILE_BENCH_DIR="bench-data/${sizes[0]}" cargo bench --locked --bench core
