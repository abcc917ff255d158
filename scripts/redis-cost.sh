#!/usr/bin/env bash
# Redis's instructions per call of booking's reserve function, for each booking function library
# named on the command line (`booking_<hash>`; `redis-cli FUNCTION LIST LIBRARYNAME 'booking_*'`
# lists the versions loaded so far, each build of booking loading its own):
#
#   scripts/redis-cost.sh booking_0123456789abcdef booking_fedcba9876543210 ...
#
# Each library's code is read from the development Redis (REDIS_COST_SOURCE, default
# 127.0.0.1:6379) and loaded into a redis-server of its own, started fresh for that library under
# `valgrind --tool=callgrind` on REDIS_COST_PORT (default 6391). A hand-made sale is seeded, 500
# calls warm it up, and redis-benchmark makes REDIS_COST_CALLS calls (default 5000, 10
# connections, a fresh idempotency key and hold per call) between zeroing and dumping the
# counters. Instruction counts do not depend on what else the machine is doing, so two versions of
# the script can be told apart by less than run-to-run noise in calls per second would show.
set -euo pipefail
[ $# -gt 0 ] || { sed -n '2,14p' "$0"; exit 2; }
for tool in valgrind callgrind_control callgrind_annotate redis-server redis-benchmark; do
  command -v "$tool" > /dev/null || { echo "redis-cost: $tool not found (Debian: valgrind, redis-server, redis-tools)" >&2; exit 2; }
done
SOURCE="${REDIS_COST_SOURCE:-127.0.0.1:6379}"
PORT="${REDIS_COST_PORT:-6391}"
CALLS="${REDIS_COST_CALLS:-5000}"
OUT="$(mktemp -d)"
server=
# An early exit (a library that will not load, say) must not leave a server behind.
trap '[ -n "$server" ] && kill "$server" 2> /dev/null; rm -rf "$OUT"' EXIT
USER_ID=00000000-0000-7000-8000-00000000ce11

for library in "$@"; do
  redis-cli -h "${SOURCE%:*}" -p "${SOURCE##*:}" --json FUNCTION LIST LIBRARYNAME "$library" WITHCODE |
    python3 -c '
import json, sys
name = sys.argv[1]
found = [l for l in json.load(sys.stdin) if l["library_name"] == name]
if not found:
    sys.exit(f"no library {name} in Redis")
sys.stdout.write(found[0]["library_code"])' "$library" > "$OUT/code.lua"

  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.%p" \
    redis-server --port "$PORT" --save '' --appendonly no > "$OUT/server.log" 2>&1 &
  server=$!
  for _ in $(seq 120); do redis-cli -p "$PORT" ping > /dev/null 2>&1 && break; sleep 0.5; done
  r() { redis-cli -p "$PORT" "$@" > /dev/null; }
  r -x FUNCTION LOAD < "$OUT/code.lua"
  now=$(( $(date +%s) * 1000 ))
  P='sale:{cost}:'
  r HSET "${P}meta" opens_at_ms $((now - 60000)) closes_at_ms $((now + 86400000)) \
    hold_ttl_ms 600000 state active queue_enabled 0
  r HSET "${P}zone:z1" capacity 1000000000 available 1000000000 held 0 sold 0 \
    price_minor 5000 currency EUR per_user_cap 1000000000
  reserve() { # $1: calls, $2: key prefix
    redis-benchmark -p "$PORT" -n "$1" -c 10 -r 100000000 FCALL "${library}_reserve" 6 \
      "${P}meta" "${P}zone:z1" "${P}idem:$USER_ID:$2__rand_int__" "${P}userqty" "${P}expiries" \
      "${P}hold:$2__rand_int__" "$USER_ID" z1 1 z1:1 "$2__rand_int__" 86400000 > /dev/null
  }
  reserve 500 w
  callgrind_control -z "$server" > /dev/null 2>&1
  reserve "$CALLS" m
  callgrind_control -d "$server" > /dev/null 2>&1
  held=$(redis-cli -p "$PORT" HGET "${P}zone:z1" held)
  kill "$server"
  wait "$server" 2> /dev/null || true
  server=
  dump=$(ls "$OUT"/callgrind.*.1)
  total=$(callgrind_annotate "$dump" 2> /dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  # Random keys can repeat (a replay); nearly every call must still have made a hold.
  if [ "$held" -lt $(( (CALLS + 500) * 99 / 100 )) ]; then
    echo "$library: only $held seats held after $((CALLS + 500)) calls; the function did not reserve" >&2
    exit 1
  fi
  echo "$library: $(( total / CALLS )) instructions per reserve call ($total over $CALLS calls)"
  rm -f "$OUT"/callgrind.*
done
