#!/usr/bin/env bash
# What the gateway adds: the same load (wrk, fixed connections) against the booking service
# directly and through the gateway, in one run, on release builds. Writes a Markdown table to
# stdout. The load generator, both services, Redis, PostgreSQL and the broker share this machine.
#   scripts/bench-gateway.sh [duration-seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-20}"
CONNECTIONS="${2:-64}"
DEV=.dev/bench-gateway
mkdir -p "$DEV"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
scripts/dev.sh deps >&2
cargo build --quiet --release --bin booking --bin gateway --bin operator --bin devtoken >&2
target/release/devtoken --dir "$DEV/keys" keygen >/dev/null

SALE="bench-$(date +%s)"
cat >"$DEV/sale.yaml" <<YAML
saleId: $SALE
startsAt: "2026-01-01T00:00:00Z"
endsAt: "2030-12-31T23:59:59Z"
holdTtlSeconds: 3600
partitions: 3
zones:
  - { id: floor, seats: 1000000, priceMinor: 5000, currency: EUR, perUserCap: 100000 }
YAML
target/release/operator provision -f "$DEV/sale.yaml" >&2

export AUTH_JWKS_FILE="$DEV/keys/jwks.json" BOOKING_SALES="$SALE" RUST_LOG=warn
BOOKING_PORT=18083 BOOKING_RECORDER_GROUP="bench-rec-$SALE" BOOKING_CONFIRMER_GROUP="bench-conf-$SALE" \
  target/release/booking >"$DEV/booking.log" 2>&1 &
BOOKING=$!
GATEWAY_PORT=18080 GATEWAY_SALE_BOOKING_UPSTREAM=http://127.0.0.1:18083 GATEWAY_RATE_LIMITS="default=1000000/1000000" \
  GATEWAY_RATE_LIMIT_NAMESPACE="bench-$SALE" target/release/gateway >"$DEV/gateway.log" 2>&1 &
GATEWAY=$!
trap 'kill $BOOKING $GATEWAY 2>/dev/null; target/release/operator deprovision --sale "$SALE" >/dev/null 2>&1 || true' EXIT
for port in 18083 18080; do
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
done

# 200 buyers; each request picks the next buyer and a fresh Idempotency-Key.
for _ in $(seq 1 200); do target/release/devtoken --dir "$DEV/keys" mint --ttl 7200; done >"$DEV/tokens.txt"
cat >"$DEV/reserve.lua" <<LUA
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local tokens, n, prefix = {}, 0, tostring(os.time())
for line in io.lines("$DEV/tokens.txt") do tokens[#tokens + 1] = line end
request = function()
  n = n + 1
  return wrk.format("POST", "/api/v1/sales/$SALE/reservations", {
    ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. "-" .. id .. "-" .. n,
  }, '{"zone":"floor","quantity":1}')
end
LUA

run() { # name url script
  local out
  if [ -n "$3" ]; then out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$3" "$2"); else
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$2"); fi
  echo "$out" >"$DEV/$1.txt"
  local rps p50 p90 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p90=$(awk '$1=="90%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out"); non2xx=${non2xx:-0}
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p90" "$p99" "$non2xx"
}

echo "| run | requests/s | p50 | p90 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
run "availability, direct" "http://127.0.0.1:18083/api/v1/sales/$SALE/availability" ""
run "availability, via gateway" "http://127.0.0.1:18080/api/v1/sales/$SALE/availability" ""
run "reserve, direct" "http://127.0.0.1:18083" "$DEV/reserve.lua"
run "reserve, via gateway" "http://127.0.0.1:18080" "$DEV/reserve.lua"
