#!/usr/bin/env bash
# Day one at scale: correlating 100,000 HR persons against 100,000 slapd accounts made by
# hand without employee numbers (`turnstile onboard`, then the first reconcile), beside a
# bare paged ldap3 search of the same directory in the same run; wall time and peak RSS
# (see benches/correlate.rs).
#
#   scripts/bench-correlate.sh                         # 100,000 people
#   TURNSTILE_BENCH_PEOPLE=20000 scripts/bench-correlate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tests/peers/peers.sh install
tests/peers/peers.sh start >/dev/null
cargo build --release --locked --bin turnstile
TURNSTILE_BIN="$PWD/target/release/turnstile" cargo bench --locked --bench correlate
