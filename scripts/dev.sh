#!/usr/bin/env bash
# The local stack on loopback: PostgreSQL, Redis and the Kafka-compatible broker (started only
# where nothing answers yet), then the services and the demo sale.
#   scripts/dev.sh deps   backing services only (what the tests need)
#   scripts/dev.sh up     backing services, services, demo sale; returns once all are ready
#   scripts/dev.sh down   stops whatever this script started
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEV="$ROOT/.dev"
PIDS="$DEV/pids"
LOGS="$DEV/logs"
mkdir -p "$PIDS" "$LOGS"

PG_PORT=5432
REDIS_PORT=6379
BROKER_PORT=9092
GATEWAY_PORT=8080
AUTH_PORT=8081
TICKET_PORT=8082
BOOKING_PORT=8083
PAYMENT_PORT=8084
PSP_PORT=8085
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/booking_rush}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:$BROKER_PORT}"
export AUTH_JWKS_FILE="${AUTH_JWKS_FILE:-$DEV/keys/jwks.json}"
# The server part of DATABASE_URL: its maintenance database creates ours, and tests create theirs.
PG_SERVER="${DATABASE_URL%/*}"
export TEST_PG_SERVER="${TEST_PG_SERVER:-$PG_SERVER}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port name seconds
  for _ in $(seq 1 $(($3 * 10))); do answers "$1" && return 0; sleep 0.1; done
  echo "$2 did not come up on port $1; see $LOGS" >&2; return 1
}
alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }
apt_install() {
  command -v apt-get >/dev/null || { echo "install $* and retry" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if ! answers $PG_PORT; then
    say "starting PostgreSQL (data in .dev/postgres)"
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
    local bin; bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
    mkdir -p "$DEV/postgres"; chown postgres "$DEV/postgres" 2>/dev/null || true
    local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    [ -f "$DEV/postgres/PG_VERSION" ] || "${as[@]}" "$bin/initdb" -D "$DEV/postgres" -U postgres --auth=trust >/dev/null
    "${as[@]}" "$bin/pg_ctl" -D "$DEV/postgres" -l "$LOGS/postgres.log" -w \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k /tmp" start >/dev/null
    touch "$PIDS/postgres.started"
  fi
  wait_port $PG_PORT PostgreSQL 30
  local db="${DATABASE_URL##*/}"; db="${db%%\?*}"
  if ! psql "$PG_SERVER/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    psql "$PG_SERVER/postgres" -qc "CREATE DATABASE \"$db\"" >/dev/null
  fi
}

ensure_redis() {
  answers $REDIS_PORT && return 0
  say "starting Redis (data in .dev/redis)"
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$DEV/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --dir "$DEV/redis" \
    --appendonly yes --logfile "$LOGS/redis.log" --pidfile "$PIDS/redis.pid" >/dev/null
  wait_port $REDIS_PORT Redis 15
}

ensure_broker() {
  answers $BROKER_PORT && return 0
  local tansu; tansu=$(scripts/install-broker.sh)
  say "starting the tansu broker (data in .dev/tansu)"
  mkdir -p "$DEV/tansu"
  # tansu reads a sqlite:// path relative to its working directory.
  (cd "$ROOT" && env -u OTEL_EXPORTER_OTLP_ENDPOINT nohup "$tansu" broker \
    --listener-url "tcp://127.0.0.1:$BROKER_PORT" --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" \
    --storage-engine "sqlite://.dev/tansu/tansu.db" >"$LOGS/broker.log" 2>&1 </dev/null &
   echo $! >"$PIDS/broker.pid")
  wait_port $BROKER_PORT broker 30
}

deps() {
  ensure_postgres
  ensure_redis
  ensure_broker
}

start_service() { # name port [binary and arguments, default target/debug/<name>]
  local name=$1 port=$2; shift 2
  [ $# -gt 0 ] || set -- "target/debug/$name"
  if alive "$name" && answers "$port"; then return 0; fi
  answers "$port" && { echo "port $port is taken by something else; stop it first" >&2; exit 1; }
  nohup "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

wait_ready() { # name port
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return 0
    alive "$1" || { echo "$1 exited; last log lines:" >&2; tail -20 "$LOGS/$1.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$1 is not ready after 30 s; see $LOGS/$1.log" >&2; exit 1
}

# The PSP simulator's API key and webhook secret, made once per checkout and never committed;
# payment and the simulator both read them from .dev/psp/.
psp_secrets() {
  mkdir -p "$DEV/psp"
  local name
  for name in api-key webhook-secret; do
    [ -s "$DEV/psp/$name" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DEV/psp/$name"; chmod 600 "$DEV/psp/$name"; }
  done
}

up() {
  deps
  say "building the services"
  cargo build --quiet --bins
  target/debug/devtoken keygen >/dev/null
  psp_secrets
  say "seeding the demo catalog (venue, event and show of the demo sale)"
  target/debug/ticket seed-demo -f operator/examples/demo-sale.yaml >>"$LOGS/ticket-seed.log" 2>&1 \
    || { tail -5 "$LOGS/ticket-seed.log" >&2; exit 1; }
  start_service ticket $TICKET_PORT
  wait_ready ticket $TICKET_PORT
  say "provisioning the demo sale (checked against its show in the catalog)"
  CATALOG_URL="http://127.0.0.1:$TICKET_PORT" target/debug/operator provision -f operator/examples/demo-sale.yaml >>"$LOGS/provision.log" 2>&1 \
    || { tail -5 "$LOGS/provision.log" >&2; exit 1; }
  start_service auth $AUTH_PORT
  start_service booking $BOOKING_PORT
  start_service psp-simulator $PSP_PORT target/debug/payment psp-simulator
  start_service payment $PAYMENT_PORT
  start_service gateway $GATEWAY_PORT
  wait_ready auth $AUTH_PORT
  wait_ready booking $BOOKING_PORT
  wait_ready psp-simulator $PSP_PORT
  wait_ready payment $PAYMENT_PORT
  wait_ready gateway $GATEWAY_PORT
  cat <<MSG

Booking Rush is running (logs in .dev/logs, stop with: make dev-down)
  gateway      http://127.0.0.1:$GATEWAY_PORT   (the entry point: /api/v1/...)
  auth         http://127.0.0.1:$AUTH_PORT   (/api/v1/auth/..., /.well-known/jwks.json)
  ticket       http://127.0.0.1:$TICKET_PORT   (/api/v1/events, /venues, /shows, /catalog)
  booking      http://127.0.0.1:$BOOKING_PORT   (/readyz /metrics)
  payment      http://127.0.0.1:$PAYMENT_PORT   (/readyz /metrics; webhook from the PSP)
  PSP          http://127.0.0.1:$PSP_PORT   (the built-in simulator; keys in .dev/psp)
  PostgreSQL   127.0.0.1:$PG_PORT  database booking_rush
  Redis        127.0.0.1:$REDIS_PORT
  Kafka        127.0.0.1:$BROKER_PORT (tansu, data in .dev/tansu)
  demo event   curl http://127.0.0.1:$GATEWAY_PORT/api/v1/events/demo-night   (its show is the demo sale)
  demo sale    zones floor, balcony, vip: curl http://127.0.0.1:$GATEWAY_PORT/api/v1/sales/demo/availability
  a buyer      see "A buyer's flow" in README.md
MSG
}

stop_pid() {
  local name=$1
  if alive "$name"; then
    kill "$(cat "$PIDS/$name.pid")" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$name" || break; sleep 0.1; done
    alive "$name" && kill -9 "$(cat "$PIDS/$name.pid")" 2>/dev/null || true
    say "stopped $name"
  fi
  rm -f "$PIDS/$name.pid"
}

down() {
  stop_pid gateway
  stop_pid payment
  stop_pid psp-simulator
  stop_pid booking
  stop_pid ticket
  stop_pid auth
  stop_deps
}

stop_deps() {
  stop_pid broker
  stop_pid redis
  if [ -f "$PIDS/postgres.started" ]; then
    local bin; bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")
    local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$bin/pg_ctl" -D "$DEV/postgres" -m fast stop >/dev/null 2>&1 || true
    rm -f "$PIDS/postgres.started"
    say "stopped PostgreSQL"
  fi
}

case "${1:-}" in
  deps) deps ;;
  up) up ;;
  down) down ;;
  stop-deps) stop_deps ;;
  *) echo "usage: $0 deps|up|down|stop-deps" >&2; exit 2 ;;
esac
