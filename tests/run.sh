#!/usr/bin/env bash
# The test command (README). Installs and starts the real peers the integration tests talk
# to (OpenLDAP slapd and a Samba AD domain controller, from Debian's packages; tansu, a
# Kafka-protocol broker, built once with cargo and cached), runs the whole test suite, and
# stops the peers it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=tests/peers/peers.sh
$peers install
already_running=false
if $peers status; then already_running=true; fi
$peers start >/dev/null
# Leave servers that were running before alone; stop the ones this run started.
$already_running || trap '$peers stop' EXIT
cargo test --locked "$@"
