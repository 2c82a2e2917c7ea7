#!/usr/bin/env bash
# Peak memory of `drift` and `feed esr` on hostile inputs (issue: never lose a leaver):
#   - 2,000,000 copies of one employee's row (duplicate assignments);
#   - 2 GiB of NUL bytes (`head -c 2G /dev/zero`): one endless line.
# Each must end with a clear exit 2 (or a report) and a peak RSS under 500 MB, taken from
# `/usr/bin/time -v`. Prints one line per run; exits 1 if a run breaks either rule.
#
#   scripts/bounded-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin turnstile >/dev/null
bin=target/release/turnstile
dir=bench-data/hostile
mkdir -p "$dir"
header='Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Staff Group,Job Role,Organisation,Supervisor Employee Number,Assignment Status,Assignment Start Date,Assignment End Date'
row='40000001,40000001-1,Y,Amara,Okafor,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,40000009,Active Assignment,01/04/2019,'
if [ ! -f "$dir/one-employee.csv" ]; then
  awk -v h="$header" -v r="$row" 'BEGIN { print h; for (i = 0; i < 2000000; i++) print r }' \
    > "$dir/one-employee.csv"
fi
if [ ! -f "$dir/zeros.bin" ]; then head -c 2G /dev/zero > "$dir/zeros.bin"; fi
printf '%s\n' 'Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements' \
  'aokafor,40000001,Amara Okafor,true,,GG-AllStaff' > "$dir/ad.csv"
failed=0
run() {
  local name=$1; shift
  local start end code rss
  start=$(date +%s.%N)
  set +e
  /usr/bin/time -v "$bin" "$@" >/dev/null 2>"$dir/$name.err"
  code=$?
  set -e
  end=$(date +%s.%N)
  rss=$(awk '/Maximum resident set size/ {print $6}' "$dir/$name.err")
  local msg; msg=$(grep -m1 -E '^error:' "$dir/$name.err" | cut -c1-150)
  printf '%-28s exit %s  peak RSS %6d MB  %5.1f s  %s\n' "$name" "$code" $((rss / 1024)) \
    "$(echo "$end - $start" | bc)" "$msg"
  if [ $((rss / 1024)) -ge 500 ] || { [ "$code" != 0 ] && [ "$code" != 2 ]; }; then failed=1; fi
}
pol=(--policy examples/role-model.toml)
run "feed esr, 2M rows of one" feed esr "$dir/one-employee.csv" "${pol[@]}"
run "drift, 2M rows of one" drift --hr "$dir/one-employee.csv" --export "ad=$dir/ad.csv" "${pol[@]}"
run "feed esr, 2 GiB of NUL" feed esr "$dir/zeros.bin" "${pol[@]}"
run "drift, HR = 2 GiB of NUL" drift --hr "$dir/zeros.bin" --export "ad=$dir/ad.csv" "${pol[@]}"
run "drift, export = 2 GiB of NUL" drift --hr examples/esr-extract.csv --export "ad=$dir/zeros.bin" "${pol[@]}"
exit $failed
