#!/usr/bin/env bash
# The crash test, as many times as asked: each run publishes a few thousand mixed HR
# events (joiners, movers, leavers, duplicates, out-of-order and invalid ones), SIGKILLs
# the daemon three times at random moments while they flow, restarts it each time, and
# checks every valid event's effect is in the store exactly once and every invalid one is
# in the dead-letter topic. Then the same against a real target: HR stories flow while the
# daemon applies them to slapd and is SIGKILLed at random moments; at the end the
# directory is what HR says and nothing is left due. The suite runs each 20 times; this
# runs more.
#
#   scripts/crash-test.sh 100          # 100 runs, seeds 1000..1099
#   scripts/crash-test.sh 100 5000     # seeds from 5000
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
seed=${2:-1000}
tests/peers/peers.sh install
tests/peers/peers.sh start >/dev/null
TURNSTILE_CRASH_RUNS=$runs TURNSTILE_TARGET_CRASH_RUNS=$runs TURNSTILE_CRASH_SEED=$seed \
  cargo test --locked --test it sigkill -- --nocapture --test-threads 1 2>&1 |
  grep -E '^crash run|^target crash run|crash runs|test result|panicked'
