#!/usr/bin/env bash
# The daemon's throughput and latency against the real broker the tests use (tansu):
# starts the peers if needed, then runs `cargo bench --bench kafka`, which publishes a
# backlog, drains it with two bare rdkafka consumers and with `turnstile run` (release
# build), then publishes at a steady rate and times each event from publish to its
# recorded plan.
#
#   scripts/bench-kafka.sh                     # 10,000 events, latency at 100/s
#   TURNSTILE_BENCH_EVENTS=50000 TURNSTILE_BENCH_RATE=200 scripts/bench-kafka.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tests/peers/peers.sh install
tests/peers/peers.sh start >/dev/null
cargo bench --locked --bench kafka
