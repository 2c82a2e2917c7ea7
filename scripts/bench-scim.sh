#!/usr/bin/env bash
# The SCIM connector against scim2-server beside a bare reqwest loop (benches/scim.rs):
# users created and disabled per second, both ways, in one run.
#
#   scripts/bench-scim.sh
#   TURNSTILE_BENCH_USERS=1000 scripts/bench-scim.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tests/peers/peers.sh install
tests/peers/peers.sh start >/dev/null
cargo bench --locked --bench scim
