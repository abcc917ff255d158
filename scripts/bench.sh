#!/usr/bin/env bash
# The standard benchmark (`make bench`): profile-guided release builds (scripts/pgo.sh; plain
# release builds with BENCH_PGO=0), a stack of its own on ports 1808x with
# login throttling and rate limits out of reach, then on this one machine:
#   0. an unreported warm-up: BENCH_WARMUP_SECONDS of reserves at BENCH_RATE (COST_RATE in cost
#      mode) through the gateway,
#      on a sale of its own with the same buyers, audited (connection pools, token caches, leases);
#   1. reserve through the gateway, open loop at BENCH_RATE for BENCH_SECONDS, audited;
#   2. the same straight at booking, audited;
#   3. a queued flash sale through the gateway: buyers join the sale's queue before it opens,
#      wait for admission by server-sent events and reserve with their pass, audited;
#   4. the HTTP ceiling: `loadgen serve` (a fixed body) under the same load tool;
#   5. the Redis ceiling: redis-benchmark calling booking's reserve function;
# and writes BENCHMARKS.md from the JSON reports in tests/load/results. Exits non-zero when a
# run fails or an audit says FAIL. Overrides: see the top of BENCHMARKS.md or README.md.
#
# `scripts/bench.sh cost` (`make bench-cost`) instead offers COST_RATE reserves/s (default 1500,
# below saturation) for BENCH_SECONDS, through the gateway and then straight at booking, and
# prints the CPU time each process (and the whole machine) spent per answered reservation during
# the run (not the set-up, audit or clean-up around it), read
# from /proc: what a change saves, steadier than throughput at saturation on a shared machine.
#
# `scripts/bench.sh train` runs steps 0-4 with the binaries in BENCH_BIN_DIR and keeps their
# reports in .dev/bench/train: the workload scripts/pgo.sh trains instrumented builds with.
set -euo pipefail
MODE="${1:-standard}"
cd "$(dirname "$0")/.."

DURATION="${BENCH_SECONDS:-60}"
RATE="${BENCH_RATE:-10000}"
COST_RATE="${COST_RATE:-1500}"
BUYERS="${BENCH_BUYERS:-1000}"
# The ceilings are offered more than the machine can answer, so they show its limit.
CEILING_RATE="${BENCH_CEILING_RATE:-$((RATE * 8 > 80000 ? RATE * 8 : 80000))}"
REDIS_REQUESTS="${BENCH_REDIS_REQUESTS:-200000}"
REDIS_CLIENTS="${BENCH_REDIS_CLIENTS:-50}"
THREADS="${BENCH_THREADS:-1}"
WARMUP="${BENCH_WARMUP_SECONDS:-5}"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "BENCH_WARMUP_SECONDS must be a whole number of seconds" >&2; exit 2; }
# The warm-up runs at the rate the measured runs offer.
WARMUP_RATE="$RATE"
if [ "$MODE" = cost ]; then WARMUP_RATE="$COST_RATE"; fi
QUEUE_BUYERS="${BENCH_QUEUE_BUYERS:-$BUYERS}"
QUEUE_RATE="${BENCH_QUEUE_RATE:-500}"
QUEUE_MAX_ACTIVE="${BENCH_QUEUE_MAX_ACTIVE:-200}"
IN_FLIGHT=()
[ -n "${BENCH_MAX_IN_FLIGHT:-}" ] && IN_FLIGHT=(--max-in-flight "$BENCH_MAX_IN_FLIGHT")

DEV=.dev/bench
RESULTS=tests/load/results
[ "$MODE" = train ] && RESULTS="$DEV/train"
LOGS="$DEV/logs"
mkdir -p "$LOGS" "$RESULTS"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

scripts/dev.sh deps >&2
# BENCH_BIN_DIR runs binaries built earlier (say, a copy of target/release from another commit)
# instead of building, so two builds can be measured one after the other on the same stack.
BIN="${BENCH_BIN_DIR:-target/release}"
BUILD="release builds"
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  say "using the binaries in $BIN"
  BUILD="the binaries in $BIN"
elif [ "$MODE" = train ]; then
  echo "scripts/bench.sh train runs the binaries in BENCH_BIN_DIR (see scripts/pgo.sh)" >&2; exit 2
elif [ "${BENCH_PGO:-1}" != 0 ]; then
  BIN=$(scripts/pgo.sh | tail -1)
  BUILD="profile-guided release builds by scripts/pgo.sh"
else
  say "building release binaries"
  cargo build --release --bin auth --bin booking --bin gateway --bin loadgen >&2
fi

PG_SERVER="${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
psql "$PG_SERVER/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'booking_rush_bench'" | grep -q 1 \
  || psql "$PG_SERVER/postgres" -qc 'CREATE DATABASE booking_rush_bench' >/dev/null

STAMP=$(date +%s)
GATEWAY_SALE="bench-gateway-$STAMP"
DIRECT_SALE="bench-direct-$STAMP"
QUEUED_SALE="bench-queued-$STAMP"
WARMUP_SALE="bench-warmup-$STAMP"
NO_LIMIT=1000000000
# Everything the services are started with, also written into BENCHMARKS.md.
STACK_ENV=(
  "DATABASE_URL=$PG_SERVER/booking_rush_bench"
  "RUST_LOG=warn"
  "AUTH_KEYS_DIR=$DEV/keys"
  "AUTH_JWKS_FILE=$DEV/keys/jwks.json"
  "AUTH_PORT=18081"
  "AUTH_MAX_ATTEMPTS_PER_IP=$NO_LIMIT"
  "AUTH_MAX_FAILURES_PER_ACCOUNT=$NO_LIMIT"
  "AUTH_ACCESS_TTL_SECONDS=14400"
  "AUTH_THROTTLE_NAMESPACE=bench"
  "BOOKING_PORT=18083"
  "BOOKING_SALES=$WARMUP_SALE,$GATEWAY_SALE,$DIRECT_SALE,$QUEUED_SALE"
  "BOOKING_RECORDER_GROUP=bench-recorder-$STAMP"
  "BOOKING_CONFIRMER_GROUP=bench-confirmer-$STAMP"
  "GATEWAY_PORT=18080"
  "GATEWAY_AUTH_UPSTREAM=http://127.0.0.1:18081"
  "GATEWAY_BOOKING_UPSTREAM=http://127.0.0.1:18083"
  "GATEWAY_SALE_BOOKING_UPSTREAM=http://127.0.0.1:18083"
  "GATEWAY_RATE_LIMITS=default=$NO_LIMIT/$NO_LIMIT,auth=$NO_LIMIT/$NO_LIMIT"
  "GATEWAY_RATE_LIMIT_NAMESPACE=bench-$STAMP"
)
export "${STACK_ENV[@]}"
cat >"$DEV/stack.txt" <<TXT
Services ($BUILD, one process each, all on 127.0.0.1), started by scripts/bench.sh with:
$(printf '  %s\n' "${STACK_ENV[@]}")
Login throttling (AUTH_MAX_*) and the gateway's rate limits (GATEWAY_RATE_LIMITS) are set out of
reach: the limiter still runs on every request and takes its leases from Redis, it never refuses
one. $( [ "$WARMUP" -gt 0 ] && echo "Before the measured runs, ${WARMUP} s of reserves at ${WARMUP_RATE}/s go through the gateway
to a sale of their own (bench-warmup-…, audited, not reported), from the same buyers: the processes,
their connection pools, token caches and rate-limit leases are warm, as they are when buyers have
browsed and queued through the gateway before a sale opens; how a cold stack starts is in the
notes." || echo "No warm-up ran (BENCH_WARMUP_SECONDS=0): the first run met a cold stack.")
Booking serves only the benchmark sales; their topics have one partition each (the
load tool's default, --partitions), as many as the one booking process that consumes them.
Each run provisions its sale and starts once booking has recorded the sale's configuration (the
load tool waits for it), so booking consumes the sale's topic from the first reservation on, as
it does for a sale provisioned before it opens.
Buyers are made through the gateway (register, login, me) and kept in $DEV/buyers.json while
their tokens live (AUTH_ACCESS_TTL_SECONDS).
Backing services: PostgreSQL ${PG_SERVER}, Redis ${REDIS_URL:-redis://127.0.0.1:6379}, broker ${KAFKA_BROKERS:-127.0.0.1:9092}
Fixed-body server: $BIN/loadgen --threads 2 serve --port 18090
Load tool: $BIN/loadgen --threads $THREADS (one process per run, runs one after another)
TXT

PIDS=()
stop() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
start() { # name command...
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  PIDS+=($!)
}
ready() { # name url
  for _ in $(seq 1 300); do
    curl -fsS --max-time 2 "$2" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 is not ready; last log lines:" >&2; tail -20 "$LOGS/$1.log" >&2; exit 1
}
for port in 18080 18081 18083 18090; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is taken; stop whatever runs there (a previous bench?) first" >&2; exit 1
  fi
done

say "starting the bench stack (logs in $LOGS)"
start auth "$BIN/auth"
ready auth http://127.0.0.1:18081/readyz
start booking "$BIN/booking"
start gateway "$BIN/gateway"
start serve "$BIN/loadgen" --threads 2 serve --port 18090
ready booking http://127.0.0.1:18083/readyz
ready gateway http://127.0.0.1:18080/readyz
ready serve http://127.0.0.1:18090/

if [ "$WARMUP" -gt 0 ]; then
  say "warm-up: $WARMUP_RATE reserves/s through the gateway for ${WARMUP}s (not reported; log in $LOGS/warm-up.log)"
  if ! "$BIN/loadgen" --threads "$THREADS" run sustained --name warm-up \
    --target http://127.0.0.1:18080 --sale-id "$WARMUP_SALE" --rate "$WARMUP_RATE" --duration "$WARMUP" \
    --buyers "$BUYERS" --buyers-file "$DEV/buyers.json" --auth http://127.0.0.1:18080 \
    --out "$DEV/warm-up" "${IN_FLIGHT[@]}" >"$LOGS/warm-up.log" 2>&1; then
    echo "the warm-up run failed; last log lines:" >&2; tail -20 "$LOGS/warm-up.log" >&2; exit 1
  fi
  grep -E "^warm-up: [0-9.]+ answers/s" "$LOGS/warm-up.log" >&2 || true
fi

if [ "$MODE" = cost ]; then
  cpu_ticks() { # pid... -> user+system clock ticks of those processes
    local total=0 pid
    for pid in "$@"; do
      [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
  }
  machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
  HZ=$(getconf CLK_TCK)
  mkdir -p "$DEV/cost"
  cost() { # name target sale
    local name=$1 target=$2 sale=$3 group
    local -A pids=([booking]="$(pgrep -x booking)" [gateway]="$(pgrep -x gateway)"
      [broker]="$(pgrep -x tansu || true)" [redis]="$(pgrep -x redis-server || true)"
      [postgres]="$(pgrep -x postgres | tr '\n' ' ')")
    snapshot() { # -> one "group ticks" line per process group, then the machine's
      for group in booking gateway broker redis postgres; do
        echo "$group $(cpu_ticks ${pids[$group]})"
      done
      # The load tool running the measurement (and the idle fixed-body server).
      echo "load $(cpu_ticks $(pgrep -x loadgen))"
      echo "machine $(machine_ticks)"
    }
    # The window is the measured run alone: from the load tool's line announcing the load to its
    # line counting the answers. Setting up the sale, the audit (which reads every key back) and
    # deleting the sale's keys afterwards are outside it, as is the recorder's lag behind the
    # last answer (under a second below saturation).
    rm -f "$DEV/cost/$name.start" "$DEV/cost/$name.end"
    say "$name: $COST_RATE reserves/s for ${DURATION}s"
    "$BIN/loadgen" --threads "$THREADS" run sustained --name "$name" --target "$target" \
      --sale-id "$sale" --rate "$COST_RATE" --duration "$DURATION" --buyers "$BUYERS" \
      --buyers-file "$DEV/buyers.json" --auth http://127.0.0.1:18080 --out "$DEV/cost" 2>&1 \
      | while IFS= read -r l; do
          case "$l" in
            "$name: $COST_RATE req/s for "*) snapshot > "$DEV/cost/$name.start" ;;
            "$name: "*" answered at "*) snapshot > "$DEV/cost/$name.end" ;;
          esac
          printf '%s\n' "$l"
        done | tee "$DEV/cost/$name.log" >&2
    if [ ! -s "$DEV/cost/$name.start" ] || [ ! -s "$DEV/cost/$name.end" ]; then
      echo "$name: the load tool did not announce its run's start and end; see $DEV/cost/$name.log" >&2
      exit 1
    fi
    local answered
    answered=$(grep -oE "^$name: [0-9]+ answered" "$DEV/cost/$name.log" | grep -oE '[0-9]+ ' | tr -d ' ')
    local line="$name: $answered answered; CPU µs per reservation, during the run:"
    for group in booking gateway broker redis postgres load machine; do
      local start end
      start=$(awk -v g="$group" '$1 == g {print $2}' "$DEV/cost/$name.start")
      end=$(awk -v g="$group" '$1 == g {print $2}' "$DEV/cost/$name.end")
      line+=" $group $(( (end - start) * 1000000 / HZ / answered ))"
    done
    echo "$line"
  }
  cost cost-gateway http://127.0.0.1:18080 "$GATEWAY_SALE"
  cost cost-direct http://127.0.0.1:18083 "$DIRECT_SALE"
  exit 0
fi

rm -f "$RESULTS"/*.json "$RESULTS"/*.md "$RESULTS"/*.svg
LOADGEN=("$BIN/loadgen" --threads "$THREADS")
FAILED=()
run() { # name command...
  local name=$1; shift
  say "$name"
  "$@" || FAILED+=("$name")
}
COMMON=(--rate "$RATE" --duration "$DURATION" --buyers "$BUYERS" --buyers-file "$DEV/buyers.json"
  --auth http://127.0.0.1:18080 --out "$RESULTS" "${IN_FLIGHT[@]}")
# Each reserve run also reads its server's own timing of the reservations from its /metrics.
run reserve-gateway "${LOADGEN[@]}" run sustained --name reserve-gateway --target http://127.0.0.1:18080 \
  --sale-id "$GATEWAY_SALE" --server-route '/{*path}' "${COMMON[@]}"
run reserve-direct "${LOADGEN[@]}" run sustained --name reserve-direct --target http://127.0.0.1:18083 \
  --sale-id "$DIRECT_SALE" --server-route '/api/v1/sales/{sale}/reservations' "${COMMON[@]}"
run queued-gateway "${LOADGEN[@]}" run queued --name queued-gateway --target http://127.0.0.1:18080 \
  --sale-id "$QUEUED_SALE" --buyers "$QUEUE_BUYERS" --admission-rate "$QUEUE_RATE" \
  --max-active "$QUEUE_MAX_ACTIVE" --buyers-file "$DEV/buyers.json" --auth http://127.0.0.1:18080 \
  --out "$RESULTS"
run ceiling-http "${LOADGEN[@]}" ceiling-http --target http://127.0.0.1:18090 --rate "$CEILING_RATE" \
  --duration "$DURATION" --out "$RESULTS" "${IN_FLIGHT[@]}"
if [ "$MODE" = train ]; then
  [ "${#FAILED[@]}" -eq 0 ] || { echo "training failed: ${FAILED[*]} (see the output above)" >&2; exit 1; }
  exit 0
fi
run ceiling-redis "${LOADGEN[@]}" ceiling-redis --requests "$REDIS_REQUESTS" --clients "$REDIS_CLIENTS" \
  --out "$RESULTS"

say "writing BENCHMARKS.md"
"${LOADGEN[@]}" summary --reports "$RESULTS" --link "$RESULTS" --stack "$DEV/stack.txt" \
  --notes tests/load/optimisations.md --out BENCHMARKS.md
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "failed: ${FAILED[*]} (see the output above and $RESULTS)" >&2
  exit 1
fi
