#!/usr/bin/env bash
# Installs the pinned Kafka-compatible broker (tansu, with its sqlite storage) once, outside the
# clone, so CI and later runs reuse it. Prints the binary's path.
set -euo pipefail
TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
BROKER_ROOT="${BROKER_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/booking-rush/tansu-$TANSU_VERSION}"
bin="$BROKER_ROOT/bin/tansu"
if [ ! -x "$bin" ]; then
  echo "installing tansu $TANSU_VERSION into $BROKER_ROOT (once; several minutes)" >&2
  cargo install tansu --locked --version "$TANSU_VERSION" \
    --no-default-features --features libsql,dynostore --root "$BROKER_ROOT" >&2
fi
echo "$bin"
