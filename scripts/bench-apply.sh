#!/usr/bin/env bash
# The daemon closing the loop against the real peers, beside bare clients in the same run
# (benches/apply.rs): leaver published → AD account disabled on Samba, p50/p99 over 1,000
# leavers at a steady rate, beside a bare consumer's publish → receipt and a bare ldap3
# modify round trip; then a backlog of joiners applied to slapd beside a bare ldap3 loop.
#
#   scripts/bench-apply.sh
#   TURNSTILE_BENCH_LEAVERS=2000 TURNSTILE_BENCH_RATE=50 scripts/bench-apply.sh
#   TURNSTILE_BENCH_ONLY=throughput TURNSTILE_BENCH_EVENTS=5000 scripts/bench-apply.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tests/peers/peers.sh install
tests/peers/peers.sh start >/dev/null
cargo bench --locked --bench apply
