#!/usr/bin/env bash
# Backs a state store up, restores the backup somewhere else, and verifies the restored
# audit trail against the head the original printed (`audit --verify --expect-head`):
# what docs/operations.md tells a trust to do, run end to end. tests/it/ops.rs runs it.
#
#   scripts/backup-restore.sh sqlite|postgres WORKDIR
#
# TURNSTILE_BIN (default target/debug/turnstile) is the binary; postgres uses the test
# database (TURNSTILE_TEST_POSTGRES, default the local server's `test`), a schema of its
# own, and restores into a new database it drops afterwards.
set -euo pipefail
kind=$1
work=$2
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${TURNSTILE_BIN:-$top/target/debug/turnstile}
mkdir -p "$work"
cd "$work"

config() { # FILE STORE-SECTION
  printf '%s\n[policy]\npath = "%s/examples/role-model.toml"\n' "$2" "$top" > "$1"
  chmod 600 "$1"
}

head_of() { # CONFIG
  "$bin" audit --verify --config "$1" | sed -n 's/^head //p'
}

case "$kind" in
  sqlite)
    config original.toml "[store]
path = \"$work/state.db\""
    "$bin" feed trac "$top/examples/trac-starters.csv" --apply --config original.toml >/dev/null
    head=$(head_of original.toml)
    "$bin" backup --out "$work/backup.db" --config original.toml
    mkdir -p restored
    cp backup.db restored/state.db
    config restored.toml "[store]
path = \"$work/restored/state.db\""
    ;;
  postgres)
    url=${TURNSTILE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
    schema="ts_backup_$$_$(date +%s)"
    restore_db="ts_restore_$$_$(date +%s)"
    config original.toml "[store]
kind = \"postgres\"
url = \"$url\"
schema = \"$schema\""
    "$bin" feed trac "$top/examples/trac-starters.csv" --apply --config original.toml >/dev/null
    head=$(head_of original.toml)
    # The documented backup: pg_dump of the store's schema, custom format.
    pg_dump --dbname "$url" --schema "$schema" --format custom --file backup.dump
    psql "$url" -q -c "DROP SCHEMA $schema CASCADE" >/dev/null
    createdb --maintenance-db "$url" "$restore_db"
    trap 'dropdb --maintenance-db "$url" --if-exists "$restore_db" >/dev/null 2>&1 || true' EXIT
    restored_url=$(printf '%s' "$url" | sed -E "s#/[^/?]+(\\?|\$)#/$restore_db\\1#")
    pg_restore --dbname "$restored_url" --no-owner backup.dump
    config restored.toml "[store]
kind = \"postgres\"
url = \"$restored_url\"
schema = \"$schema\""
    ;;
  *)
    echo "usage: $0 sqlite|postgres WORKDIR" >&2
    exit 2
    ;;
esac

[ -n "$head" ] || { echo "the original trail printed no head" >&2; exit 1; }
"$bin" audit --verify --expect-head "$head" --config restored.toml
echo "restored trail verified against head $head"
